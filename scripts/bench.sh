#!/usr/bin/env bash
# Prints runcred's benchmarks next to the baseline measured in the same run,
# with the ratio (runcred rate / baseline rate; 1.0 = no overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run='^$' -bench='^(BenchmarkBareSign|BenchmarkMintHTTP|BenchmarkMintParts)$' -benchtime="${BENCHTIME:-3s}" -count="${COUNT:-1}" ./internal/daemon/ | tee "$out"
go test -run='^$' -bench='^Benchmark(BrokerJWTLogin|BareJWTVerify|BrokerKVRead|BareHTTPHealth|BrokerAWSCreds|BareAssumeRole)$' \
	-benchtime="${BROKER_BENCHTIME:-2s}" -count="${COUNT:-1}" ./internal/daemon/ | tee -a "$out"
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
echo
echo "== broker: operations per second and latency, against a baseline from the same run"
echo "   jwt login vs bare signature verify; KV v2 read vs unaudited sys/health; AWS creds vs direct AssumeRole to MinIO"
awk '
function row(op, base, c) {
	if (!((op, c) in ns) || !((base, c) in ns)) return
	r = ns[base, c] / ns[op, c]
	printf "%-14s %-4s %10.0f %6s %6s %14.0f %8.3f\n", op, c, 1e9 / ns[op, c], p50[op, c], p99[op, c], 1e9 / ns[base, c], r
}
/^Benchmark(BrokerJWTLogin|BareJWTVerify|BrokerKVRead|BareHTTPHealth|BrokerAWSCreds|BareAssumeRole)\/c[0-9]+/ {
	split($1, a, /[\/-]/); name = substr(a[1], 10); c = a[2]
	ns[name, c] = $3
	for (i = 4; i < NF; i++) { if ($(i+1) == "p50-µs") p50[name, c] = $i; if ($(i+1) == "p99-µs") p99[name, c] = $i }
}
END {
	printf "%-14s %-4s %10s %6s %6s %14s %8s\n", "operation", "conc", "ops/s", "p50µs", "p99µs", "baseline ops/s", "ratio"
	split("c1 c8", cs, " ")
	for (i = 1; i <= 2; i++) {
		row("BrokerJWTLogin", "BareJWTVerify", cs[i]); row("BrokerKVRead", "BareHTTPHealth", cs[i]); row("BrokerAWSCreds", "BareAssumeRole", cs[i])
	}
}' "$out"
