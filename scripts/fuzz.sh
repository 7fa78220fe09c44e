#!/usr/bin/env bash
# Runs every go fuzz target in the module for the given time each (default 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-5s}
export GOTOOLCHAIN=local
grep -rl --include='*_test.go' '^func Fuzz' internal | sort | while read -r f; do
	pkg=./$(dirname "$f")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "fuzz: $pkg $fn ($t)"
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$t" "$pkg" >/tmp/runcred-fuzz.$$ 2>&1 || { cat /tmp/runcred-fuzz.$$; rm -f /tmp/runcred-fuzz.$$; exit 1; }
	done
done
rm -f /tmp/runcred-fuzz.$$
echo "fuzz: all targets passed"
