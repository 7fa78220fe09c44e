#!/usr/bin/env bash
# Mutation testing of the packages where a mutant that survives the tests is
# a security hole: each is mutated by gremlins (pinned, built once into the
# tools cache by scripts/tools.sh), and the run fails when a package's test
# efficacy (killed / (killed + lived)) is under 90% or its mutator coverage
# under 85%. Slow (every mutant rebuilds and reruns the package's tests), so
# not part of `make test`.
# Usage: scripts/mutate.sh [package ...]   (no argument: the list below)
# A package is a directory such as internal/token; dir:file mutates only that
# file of the directory (the package's tests still all run).
set -euo pipefail

MIN_EFFICACY=90
MIN_COVERAGE=85
packages=(
	internal/broker/acl
	internal/token
	internal/seal
	internal/audit
	internal/identity
	internal/broker/auth/jwt
	internal/broker/auth/approle
	internal/agent/phase:redact.go
	internal/agent:unpack.go
)

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/tools.sh gremlins
# -count=1: gremlins times each mutant against its first, unmutated test
# run; a cached result would make that run instant and every mutant time out.
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false -count=1"
# gremlins runs the tests in a copy of the module that lacks .tools (its
# entries are links): the tests find the peers here instead. Without it a
# test that needs OpenTofu fails on every mutant, and every mutant "dies".
export RUNCRED_TOOLS_DIR="$root/.tools"
gremlins="$root/.tools/bin/gremlins"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

[ $# -gt 0 ] && packages=("$@")
failed=0
summary=()
for p in "${packages[@]}"; do
	dir=${p%%:*} only=
	[ "$dir" != "$p" ] && only=${p#*:}
	[ -d "$dir" ] || { echo "mutate: no package directory $dir" >&2; exit 2; }
	# gremlins mutates every file under dir (subpackages too); exclude all
	# but the file asked for. Its exclusion paths are relative to dir.
	exclude=()
	if [ -n "$only" ]; then
		[ -f "$dir/$only" ] || { echo "mutate: no file $dir/$only" >&2; exit 2; }
		while read -r f; do
			[ "$f" = "$only" ] || exclude+=(-E "^$(printf '%s' "$f" | sed 's/[.]/[.]/g')\$")
		done < <(cd "$dir" && find . -name '*.go' ! -name '*_test.go' | sed 's|^\./||')
	fi
	json="$out/$(echo "$p" | tr '/:' '__').json"
	echo "mutate: $p"
	# One worker. A mutant's tests may take 3 times (MUTATE_TIMEOUT_COEFFICIENT)
	# as long as the unmutated run; a timed-out mutant counts neither way, so
	# on a busy machine raise it rather than lose mutants to timeouts.
	"$gremlins" unleash --workers 1 --timeout-coefficient "${MUTATE_TIMEOUT_COEFFICIENT:-3}" "${exclude[@]}" -o "$json" "./$dir" |
		tee "$json.log" | grep --line-buffered -E 'LIVED|NOT COVERED|TIMED OUT|Killed|Lived|Not covered|efficacy|coverage' || true
	[ -s "$json" ] || { echo "mutate: gremlins wrote no report for $p" >&2; exit 1; }
	timedout=$(grep -c 'TIMED OUT' "$json.log" || true)
	line=$(awk -v p="$p" -v to="$timedout" -v me="$MIN_EFFICACY" -v mc="$MIN_COVERAGE" '
		function field(k,  m) { return match($0, "\"" k "\":[-0-9.eE+]+") ? substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0 : -1 }
		{
			e = field("test_efficacy"); c = field("mutations_coverage")
			printf "%s efficacy %.2f%% coverage %.2f%% (killed %d, lived %d, not covered %d, timed out %d)", p, e, c,
				field("mutants_killed"), field("mutants_lived"), field("mutants_not_covered"), to
			if (field("mutants_total") <= 0 || e < me || c < mc) printf "  FAIL (want efficacy >= %d%%, coverage >= %d%%)", me, mc
		}' "$json")
	case "$line" in *FAIL*) failed=1 ;; esac
	summary+=("$line")
done
echo
printf 'mutate: %s\n' "${summary[@]}"
exit $failed
