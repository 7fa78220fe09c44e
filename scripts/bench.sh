#!/usr/bin/env bash
# Prints runcred's benchmarks next to the baseline measured in the same run,
# with the ratio (runcred rate / baseline rate; 1.0 = no overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run='^$' -bench='^(BenchmarkBareSign|BenchmarkMintHTTP|BenchmarkMintParts)$' -benchtime="${BENCHTIME:-3s}" -count="${COUNT:-1}" ./internal/daemon/ | tee "$out"
echo
echo "== token minting: HTTP API vs bare RS256 signing (target ratio >= 0.80)"
awk '
/^BenchmarkBareSign\/c[0-9]+/ { split($1, a, /[\/-]/); bare[a[2]] += $3; nb[a[2]]++ }
/^BenchmarkMintHTTP\/c[0-9]+/ { split($1, a, /[\/-]/); mint[a[2]] += $3; nm[a[2]]++ }
END {
	printf "%-5s %14s %14s %8s\n", "conc", "bare tok/s", "http tok/s", "ratio"
	for (c in bare) {
		b = 1e9 / (bare[c] / nb[c]); m = 1e9 / (mint[c] / nm[c])
		printf "%-5s %14.0f %14.0f %8.2f\n", c, b, m, m / b
	}
}' "$out"
