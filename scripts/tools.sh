#!/usr/bin/env bash
# Installs the pinned test peers (MinIO, mc, OpenTofu and the providers runs
# use) into a per-version cache outside the clone and links them into
# .tools/bin, so a fresh clone reuses earlier builds. Providers are laid out
# as a filesystem mirror in .tools/providers, so `tofu init` works offline.
# Usage: scripts/tools.sh [bwrap] [chromium] [minio] [mc] [tofu] [terraform] [providers] [gremlins]
# (no argument: everything the tests need; gremlins is for `make mutate`).
# bwrap is bubblewrap, the agent's run sandbox: a system package, installed
# with apt-get when it is missing; so is chromium, the browser the web UI's
# tests drive.
#
# The real hashicorp/vault and hashicorp/tfe providers cannot be built from
# the Go module proxy alone (each needs one module it refuses), so they are
# built from their upstream release archives with the build.sh kept beside
# them, in the folder RUNCRED_PROVIDER_SOURCES names (default: a `shared/providers`
# folder beside the clone).
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
TOFU_VERSION=v1.6.3
# Terraform 1.5.7 is the last MPL release, and the last that `go install` builds.
TERRAFORM_VERSION=v1.5.7
# The random provider's code after 3.9.0, under its old module path; it is
# registered in the mirror as 3.9.1.
RANDOM_MODULE_VERSION=v1.3.2-0.20260824155315-e1092b0cfc07 RANDOM_VERSION=3.9.1
TIME_VERSION=0.14.2
GREMLINS_VERSION=v0.6.0
VAULT_PROVIDER_VERSION=5.11.0
TFE_PROVIDER_VERSION=0.80.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${RUNCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runcred-tools}
bin="$root/.tools/bin"
sources=${RUNCRED_PROVIDER_SOURCES:-$root/../shared/providers}
mkdir -p "$bin" "$cache"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# One build at a time per cache: two clones building the same version would
# share its temporary directory.
exec 9>"$cache/.lock"
flock 9

# install NAME MODULE VERSION: build once per version into the cache, link into .tools/bin.
install() {
	local name=$1 module=$2 version=$3
	local dir="$cache/$name/$version"
	if [ ! -x "$dir/$name" ]; then
		echo "tools: building $name $version (first time only; cached in $dir)" >&2
		mkdir -p "$dir.tmp"
		GOBIN="$dir.tmp" go install "$module@$version"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	ln -sfn "$dir/$name" "$bin/$name"
}

# provider NAME MODULE MODULE_VERSION VERSION: build the provider and place it
# in the mirror under both registries (real directories: OpenTofu does not
# follow a symlinked registry directory).
provider() {
	local name=$1 module=$2 modver=$3 version=$4
	local dir="$cache/terraform-provider-$name/$modver"
	if [ ! -x "$dir/terraform-provider-$name" ]; then
		echo "tools: building provider $name $version (first time only; cached in $dir)" >&2
		mkdir -p "$dir.tmp"
		GOBIN="$dir.tmp" go install "$module@$modver"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	mirror "$name" "$version" "$dir/terraform-provider-$name"
}

# mirror NAME VERSION FILE: place a provider binary in the filesystem mirror
# under both registries (real directories and hard links: OpenTofu does not
# follow a symlinked registry directory).
mirror() {
	local name=$1 version=$2 file=$3
	for reg in registry.opentofu.org registry.terraform.io; do
		local to="$root/.tools/providers/$reg/hashicorp/$name/$version/linux_amd64"
		mkdir -p "$to"
		ln -f "$file" "$to/terraform-provider-${name}_v$version" 2>/dev/null ||
			cp -f "$file" "$to/terraform-provider-${name}_v$version"
	done
}

# release NAME VERSION: build a provider from its release sources once per
# version into the cache, and place it in the mirror.
release() {
	local name=$1 version=$2
	local dir="$cache/terraform-provider-$name/$version"
	if [ ! -x "$dir/terraform-provider-$name" ]; then
		if [ ! -x "$sources/build.sh" ] || [ ! -f "$sources/terraform-provider-$name-$version.tar.gz" ]; then
			cat >&2 <<MSG
tools: cannot build terraform-provider-$name $version: $sources/build.sh and
  $sources/terraform-provider-$name-$version.tar.gz are needed.
  Put the provider's release source archive (git archive of hashicorp/terraform-provider-$name
  at v$version) and its build script there, or set RUNCRED_PROVIDER_SOURCES to the folder
  holding them. (With internet access the same version is on the public registries,
  but the tests install providers only from the offline mirror.)
MSG
			exit 1
		fi
		echo "tools: building provider $name $version from its release sources (first time only; cached in $dir)" >&2
		rm -rf "$dir.tmp"
		got=$("$sources/build.sh" "$name" "$dir.tmp")
		if [ "$got" != "$version" ]; then
			echo "tools: $sources/build.sh built $name $got, want $version" >&2
			exit 1
		fi
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
	fi
	mirror "$name" "$version" "$dir/terraform-provider-$name"
}

# bwrap: the agent runs every phase in a bubblewrap sandbox (Linux).
install_bwrap() {
	[ "$(uname -s)" = Linux ] || return 0
	command -v bwrap >/dev/null && return 0
	echo "tools: installing bubblewrap (Debian package) for the agent's run sandbox" >&2
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y bubblewrap || { $sudo apt-get update && $sudo apt-get install -y bubblewrap; }
}

# chromium: the web UI's browser tests drive Debian's chromium (headless).
install_chromium() {
	[ "$(uname -s)" = Linux ] || return 0
	command -v chromium >/dev/null && return 0
	echo "tools: installing chromium (Debian package) for the web UI's browser tests" >&2
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y chromium || { $sudo apt-get update && $sudo apt-get install -y chromium; }
}

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(bwrap chromium minio mc tofu terraform providers)
for t in "${want[@]}"; do
	case "$t" in
	bwrap) install_bwrap ;;
	chromium) install_chromium ;;
	minio) install minio github.com/minio/minio "$MINIO_VERSION" ;;
	mc) install mc github.com/minio/mc "$MC_VERSION" ;;
	tofu) install tofu github.com/opentofu/opentofu/cmd/tofu "$TOFU_VERSION" ;;
	terraform) install terraform github.com/hashicorp/terraform "$TERRAFORM_VERSION" ;;
	gremlins) install gremlins github.com/go-gremlins/gremlins/cmd/gremlins "$GREMLINS_VERSION" ;;
	providers)
		provider random github.com/terraform-providers/terraform-provider-random "$RANDOM_MODULE_VERSION" "$RANDOM_VERSION"
		provider time github.com/hashicorp/terraform-provider-time "v$TIME_VERSION" "$TIME_VERSION"
		release vault "$VAULT_PROVIDER_VERSION"
		release tfe "$TFE_PROVIDER_VERSION"
		;;
	*) echo "tools: unknown tool $t" >&2; exit 2 ;;
	esac
done
