#!/usr/bin/env bash
# Records the plans under ../plans with the real OpenTofu from
# scripts/tools.sh and the stand-in aws and vault providers (standin/):
# `tofu init`, `tofu plan -out`, `tofu show -json` of each configuration in
# configs/. Run from anywhere; needs Go and .tools/bin/tofu.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
tofu=${TOFU:-$root/.tools/bin/tofu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOWORK=off
(cd "$here/standin" && go build -o "$work/standin" .)
for p in aws:5.99.0 vault:5.11.0; do
	name=${p%%:*} version=${p#*:}
	to="$work/mirror/registry.opentofu.org/hashicorp/$name/$version/linux_amd64"
	mkdir -p "$to"
	cp "$work/standin" "$to/terraform-provider-${name}_v$version"
done
cat >"$work/tofurc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.opentofu.org/hashicorp/*"]
  }
  direct {
    exclude = ["registry.opentofu.org/hashicorp/*"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$work/tofurc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
mkdir -p "$here/../plans"
for dir in "$here"/configs/*/; do
	name=$(basename "$dir")
	cp -r "$dir" "$work/$name"
	(cd "$work/$name" && "$tofu" init -input=false -no-color >/dev/null &&
		"$tofu" plan -input=false -no-color -out=plan.bin >/dev/null &&
		"$tofu" show -json plan.bin) | python3 -m json.tool --indent 1 >"$here/../plans/$name.json"
	echo "recorded plans/$name.json"
done
