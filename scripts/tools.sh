#!/usr/bin/env bash
# Installs the pinned test peers (MinIO, mc) into a per-version cache outside the
# clone and links them into .tools/bin, so a fresh clone reuses earlier builds.
# Usage: scripts/tools.sh [minio] [mc] ...   (no argument: everything)
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${RUNCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runcred-tools}
bin="$root/.tools/bin"
mkdir -p "$bin"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

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

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(minio mc)
for t in "${want[@]}"; do
	case "$t" in
	minio) install minio github.com/minio/minio "$MINIO_VERSION" ;;
	mc) install mc github.com/minio/mc "$MC_VERSION" ;;
	*) echo "tools: unknown tool $t" >&2; exit 2 ;;
	esac
done
