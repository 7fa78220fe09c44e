#!/usr/bin/env bash
# Prints runcred's benchmarks next to the baseline measured in the same run,
# with the ratio (runcred rate / baseline rate; 1.0 = no overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run='^$' -bench='^(BenchmarkBareSign|BenchmarkMintHTTP|BenchmarkMintParts)$' -benchtime="${BENCHTIME:-3s}" -count="${COUNT:-1}" ./internal/daemon/ | tee "$out"
go test -run='^$' -bench='^Benchmark(BrokerJWTLogin|BareJWTVerify|BrokerAppRoleLogin|BrokerKVRead|BareHTTPHealth|BrokerAWSCreds|BareAssumeRole)$' \
	-benchtime="${BROKER_BENCHTIME:-2s}" -count="${COUNT:-1}" ./internal/daemon/ | tee -a "$out"
# The baselines once more, after everything they are compared with: how far
# the two runs of one baseline differ is how noisy the machine was meanwhile.
go test -run='^$' -bench='^Benchmark(BareSign|BareJWTVerify|BareHTTPHealth|BareAssumeRole)$' \
	-benchtime="${BROKER_BENCHTIME:-2s}" -count="${COUNT:-1}" ./internal/daemon/ | sed 's/^BenchmarkBare/BenchmarkAgainBare/' | tee -a "$out"
go test -run='^$' -bench='^BenchmarkIdleFollowers$' -benchtime=1x -count="${COUNT:-1}" ./internal/web/ | tee -a "$out"
go test -run='^$' -bench='^BenchmarkRunPage50k$' -benchtime="${WEB_BENCHTIME:-10x}" -count="${COUNT:-1}" ./internal/web/ | tee -a "$out"
echo
echo "== web UI: the run page of a 50,000-line plan log (target < 1 s) vs reading that log from the database"
awk '/^BenchmarkRunPage50k\// { printf "%-50s %10.1f ms\n", $1, $3 / 1e6 }' "$out"
echo "== web UI: 50 browsers following a waiting run's live stream (target < 5% of one core)"
grep '^BenchmarkIdleFollowers' "$out" | sed 's/^/   /' 
echo
echo "== token minting: HTTP API vs bare RS256 signing (target ratio >= 0.85)"
awk '
/^BenchmarkBareSign\/c[0-9]+/ { split($1, a, /[\/-]/); bare[a[2]] += $3; nb[a[2]]++ }
/^BenchmarkMintHTTP\/c[0-9]+/ { split($1, a, /[\/-]/); mint[a[2]] += $3; nm[a[2]]++ }
/^BenchmarkAgainBareSign\/c[0-9]+/ { split($1, a, /[\/-]/); again[a[2]] += $3; na[a[2]]++ }
function spread(x, y) { return x < y ? (y - x) / x * 100 : (x - y) / y * 100 }
END {
	printf "%-5s %14s %14s %8s %14s %9s\n", "conc", "bare tok/s", "http tok/s", "ratio", "bare again", "spread"
	for (c in bare) {
		b = 1e9 / (bare[c] / nb[c]); m = 1e9 / (mint[c] / nm[c])
		if (c in again) {
			g = 1e9 / (again[c] / na[c])
			printf "%-5s %14.0f %14.0f %8.2f %14.0f %8.0f%%\n", c, b, m, m / b, g, spread(b, g)
		} else {
			printf "%-5s %14.0f %14.0f %8.2f\n", c, b, m, m / b
		}
	}
}' "$out"
echo "   bare again: the same signing benchmark run after the broker's; spread: how far the two runs differ"
echo
echo "== broker: operations per second and latency, against a baseline from the same run"
echo "   jwt login vs bare signature verify; AppRole login vs jwt login; KV v2 read vs unaudited sys/health; AWS creds vs direct AssumeRole to MinIO"
awk '
function row(op, base, c) {
	if (!((op, c) in ns) || !((base, c) in ns)) return
	r = ns[base, c] / ns[op, c]
	line = sprintf("%-18s %-4s %10.0f %6s %6s %14.0f %8.3f", op, c, 1e9 / ns[op, c], p50[op, c], p99[op, c], 1e9 / ns[base, c], r)
	if (("Again" base, c) in ns) {
		x = ns[base, c]; y = ns["Again" base, c]
		line = line sprintf(" %14.0f %8.0f%%", 1e9 / y, spread(x, y))
	}
	print line
}
function spread(x, y) { return x < y ? (y - x) / x * 100 : (x - y) / y * 100 }
/^Benchmark(BrokerJWTLogin|BareJWTVerify|BrokerAppRoleLogin|BrokerKVRead|BareHTTPHealth|BrokerAWSCreds|BareAssumeRole|AgainBareJWTVerify|AgainBareHTTPHealth|AgainBareAssumeRole)\/c[0-9]+/ {
	split($1, a, /[\/-]/); name = substr(a[1], 10); c = a[2]
	ns[name, c] = $3
	for (i = 4; i < NF; i++) { if ($(i+1) == "p50-µs") p50[name, c] = $i; if ($(i+1) == "p99-µs") p99[name, c] = $i }
}
END {
	printf "%-18s %-4s %10s %6s %6s %14s %8s %14s %9s\n", "operation", "conc", "ops/s", "p50µs", "p99µs", "baseline ops/s", "ratio", "again ops/s", "spread"
	split("c1 c8", cs, " ")
	for (i = 1; i <= 2; i++) {
		row("BrokerJWTLogin", "BareJWTVerify", cs[i]); row("BrokerAppRoleLogin", "BrokerJWTLogin", cs[i]); row("BrokerKVRead", "BareHTTPHealth", cs[i]); row("BrokerAWSCreds", "BareAssumeRole", cs[i])
	}
}' "$out"
echo "   again ops/s: the bare baseline run once more after the broker's benchmarks; spread: how far its two runs differ"
go test -run='^$' -bench='^BenchmarkSandboxStart$' -benchtime="${SANDBOX_BENCHTIME:-100x}" -count="${COUNT:-1}" ./internal/agent/phase/ | tee -a "$out"
go test -run='^$' -bench='^BenchmarkPlanPhase$' -benchtime="${PLAN_BENCHTIME:-10x}" -count="${COUNT:-1}" ./internal/agent/phase/ | tee -a "$out"
go test -run='^$' -bench='^Benchmark(BarePlan|ManagedPlan|ManagedPlanAWSDirect|PlanPaired|PlanBreakdown|AWSDirectExchange)$' \
	-benchtime="${PLAN_BENCHTIME:-10x}" -count="${COUNT:-1}" -timeout=30m ./internal/agent/ | tee -a "$out"
# The paired plan again with the agent's sandbox off: the difference between
# the two paired ratios is what the sandbox costs inside a real plan.
RUNCRED_BENCH_ISOLATION=none go test -run='^$' -bench='^BenchmarkPlanPaired$' -benchtime="${PLAN_BENCHTIME:-10x}" -count="${COUNT:-1}" \
	-timeout=30m ./internal/agent/ | sed 's/^BenchmarkPlanPaired-/BenchmarkPlanPairedNoSandbox-/' | tee -a "$out"
echo
echo "== plan wall time: runcred-managed plan vs bare tofu init + plan + show -json, same run (target ratio <= 1.05)"
echo "   configuration: 1 provider (hashicorp/random, filesystem mirror), 9 resources to add (4 random_*, 5 terraform_data),"
echo "   5 variables (1 sensitive), local backend, no cloud credentials. bare: fresh dir, copy, TF_CLI_CONFIG_FILE with the mirror."
echo "   managed: plan-only run created with go-tfe until its planned_and_finished timestamp; the status is read when the server"
echo "   signals a change (every 1 s at most), so the benchmark's own reads do not take CPU from OpenTofu."
awk '
/^Benchmark(BarePlan|ManagedPlan|ManagedPlanAWSDirect|PlanPaired|PlanPairedNoSandbox|PlanBreakdown|AWSDirectExchange\/[a-z]+|SandboxStart\/[a-z]+|PlanPhase)-[0-9]+ / {
	name = $1; sub(/-[0-9]+$/, "", name); name = substr(name, 10)
	n[name]++; v[name, "ns"] += $3
	for (i = 4; i < NF; i++) if ($(i+1) ~ /-ms$|ratio$/) v[name, $(i+1)] += $i
}
function g(name, m) { return (name in n) ? v[name, m] / n[name] : 0 }
END {
	bare = g("BarePlan", "ns") / 1e6; fin = g("ManagedPlan", "finished-ms"); pol = g("ManagedPlan", "ns") / 1e6
	printf "%-44s %9s %11s %7s\n", "measurement", "bare ms", "managed ms", "ratio"
	if (bare > 0) {
		printf "%-44s %9.1f %11.1f %7.3f\n", "separate benchmarks (BarePlan, ManagedPlan)", bare, fin, fin / bare
		printf "%-44s %9s %11.1f %7.3f\n", "  managed as a status read saw it", "", pol, pol / bare
	}
	pb = g("PlanPaired", "bare-ms"); pm = g("PlanPaired", "managed-ms")
	if (pb > 0) printf "%-44s %9.1f %11.1f %7.3f   (median of per-pair ratios %.3f)\n", "paired, interleaved (PlanPaired)", pb, pm, pm / pb, g("PlanPaired", "median-ratio")
	nb = g("PlanPairedNoSandbox", "bare-ms"); nm = g("PlanPairedNoSandbox", "managed-ms")
	if (nb > 0) printf "%-44s %9.1f %11.1f %7.3f   (median of per-pair ratios %.3f)\n", "  the same with the sandbox off", nb, nm, nm / nb, g("PlanPairedNoSandbox", "median-ratio")
	if (pb > 0 && nb > 0) printf "the sandbox inside the plan (paired ratio with it less without, times the bare plan): %+.1f ms per plan, %+.1f%% of the bare plan\n", (pm / pb - nm / nb) * pb, 100 * (pm / pb - nm / nb)
	printf "agent claims by long poll (the default, 20 s); claim wait plan_queued -> planning %.1f ms\n", g("ManagedPlan", "queued-ms")
	sb = g("SandboxStart/sandbox", "ns") / 1e6; sn = g("SandboxStart/bare", "ns") / 1e6
	if (sb > 0) printf "the run sandbox (bubblewrap, in the managed plan): %.1f ms per sandbox started (a child started bare: %.1f ms); a phase starts one for its OpenTofu commands (and one per hook): %.1f%% of the bare plan\n", sb - sn, sn, (bare > 0 ? 100 * (sb - sn) / bare : 0)
	if ("PlanPhase" in n) printf "  a whole plan phase without / with it, alternating (PlanPhase): %.1f / %.1f ms, %+.1f ms\n", g("PlanPhase", "bare-ms"), g("PlanPhase", "sandbox-ms"), g("PlanPhase", "cost-ms")
	B = "PlanBreakdown"
	if (B in n) {
		print ""
		print "where the managed time goes (PlanBreakdown: paired again, tofu timed inside the agent through a wrapper, without the sandbox; ms per plan)"
		printf "  %-44s %9s %9s %8s\n", "", "bare", "managed", "delta"
		printf "  %-44s %9.1f %9.1f %+8.1f\n", "total (managed includes the wrapper)", g(B, "bare-ms"), g(B, "managed-ms"), g(B, "managed-ms") - g(B, "bare-ms")
		printf "  %-44s %9s %9.1f %+8.1f\n", "claim wait (long poll)", "", g(B, "queued-ms"), g(B, "queued-ms")
		split("init plan show", st, " ")
		for (i = 1; i <= 3; i++)
			printf "  %-44s %9.1f %9.1f %+8.1f\n", "tofu " st[i], g(B, "bare-" st[i] "-ms"), g(B, "managed-" st[i] "-ms"), g(B, "managed-" st[i] "-ms") - g(B, "bare-" st[i] "-ms")
		printf "  %-44s %9.1f %9.1f %+8.1f\n", "own work: copy+rm (bare), agent less tofu", g(B, "bare-copy-ms") + g(B, "bare-rm-ms"), g(B, "agent-other-ms"), g(B, "agent-other-ms") - g(B, "bare-copy-ms") - g(B, "bare-rm-ms")
		printf "  %-44s %9s %9.1f\n", "  of which job API calls", "", g(B, "api-ms")
		printf "  %-44s %9s %9.1f %+8.1f\n", "run creation and hand-off to the agent", "", g(B, "handoff-ms"), g(B, "handoff-ms")
		printf "  (tracing wrapper cost %.1f ms per plan, measured and taken out of the agent row)\n", g(B, "wrapper-ms")
	}
	print ""
	print "== credential exchange, AWS direct credentials (not in the ratio above)"
	aws = g("ManagedPlanAWSDirect", "finished-ms")
	if (aws > 0 && fin > 0) printf "  %-66s %+8.1f ms\n", "managed plan with TFC_AWS_PROVIDER_AUTH minus without (noisy)", aws - fin
	printf "  %-66s %8.2f ms\n", "  its mint call to the job API (agent-side timing)", g("ManagedPlanAWSDirect", "api-identity-ms")
	printf "  %-66s %8.2f ms\n", "creds.Prepare: mint over the job API + token files, then Close", g("AWSDirectExchange/prepare", "ns") / 1e6
	printf "  %-66s %8.2f ms\n", "AssumeRoleWithWebIdentity at MinIO (the AWS SDK in tofu does it)", g("AWSDirectExchange/sts", "ns") / 1e6
}' "$out"
go test -run='^$' -bench='^BenchmarkPolicySet$' -benchtime="${POLICY_BENCHTIME:-10x}" -count="${COUNT:-1}" ./internal/policy/ | tee -a "$out"
echo
echo "== policy check: built-in library + 20 rules over every resource change, on generated plans (targets 50 ms at 1k, 1 s at 15k, ratio <= 1.2)"
echo "   runcred: Engine.EvaluateSet; bare: OPA's rego on the same modules and the same converted input; paired and interleaved, medians"
awk '
/^BenchmarkPolicySet\/paired-[0-9]+/ {
	split($1, a, /[\/-]/); n = a[3]
	for (i = 4; i < NF; i++) {
		if ($(i+1) == "runcred-ms") r[n] = $i; if ($(i+1) == "bare-ms") b[n] = $i; if ($(i+1) == "ratio") q[n] = $i
		if ($(i+1) == "runcred-cpu-ms") rc[n] = $i; if ($(i+1) == "bare-cpu-ms") bc[n] = $i; if ($(i+1) == "peak-rss-MiB") m[n] = $i
	}
}
/^BenchmarkPolicySet\/input-[0-9]+/ { split($1, a, /[\/-]/); in_ms[a[3]] = $3 / 1e6 }
END {
	printf "%-10s %11s %9s %7s %15s %13s %9s %14s %13s\n", "resources", "runcred ms", "bare ms", "ratio", "runcred CPU ms", "bare CPU ms", "CPU ratio", "input once ms", "peak RSS MiB"
	split("1000 15000", ns, " ")
	for (i = 1; i <= 2; i++) { n = ns[i]; if (n in r) printf "%-10s %11.1f %9.1f %7.3f %15.1f %13.1f %9.3f %14.1f %13.0f\n", n, r[n], b[n], q[n], rc[n], bc[n], rc[n] / bc[n], in_ms[n], m[n] }
}' "$out"
go test -run='^$' -bench='^BenchmarkCLIPlan$' -benchtime="${CLI_BENCHTIME:-6x}" -count="${COUNT:-1}" ./internal/agent/ | tee -a "$out"
echo
echo "== CLI-driven plan: tofu plan through the cloud block (run on an agent, log streamed back) vs bare tofu plan, same run, paired (target ratio <= 1.15)"
echo "   the plan benchmark's configuration and variables plus 2,500 terraform_data instances (a bare plan of about 1 s); both directories"
echo "   initialized beforehand; the agent also runs init and show -json, as every run does. OpenTofu's cloud backend"
echo "   waits 500 ms before it first checks the upload and 1 s before it first checks the run, whatever the server: 1.5 s the ratio cannot lose."
awk '
/^BenchmarkCLIPlan-[0-9]+ / { for (i = 4; i < NF; i++) { if ($(i+1) == "bare-ms") b = $i; if ($(i+1) == "cloud-ms") c = $i; if ($(i+1) == "median-ratio") m = $i } }
END { if (b > 0) printf "%-12s %12s %8s %14s\n%-12.1f %12.1f %8.3f %14.3f\n", "bare ms", "cloud ms", "ratio", "median ratio", b, c, c / b, m }' "$out"
go test -run='^$' -bench='^BenchmarkLeases100k$' -benchtime=1x -count="${COUNT:-1}" -timeout=30m ./internal/broker/ | tee -a "$out"
echo
echo "== 100,000 live leases: revoke-prefix of all, then expiry of 100,000 due (targets <= 2 s and <= 10 s, RSS <= 300 MB)"
echo "   leases written straight to the store; the engine's upstream revocation only counts its calls, so the time is runcred's own"
echo "   (claim, unseal, audit, delete); the calls are counted apart. RSS is the benchmark process's peak (VmHWM of /proc/self/status:"
echo "   server, client and bulk insert together, an upper bound of the server's); heap is runtime.MemStats.HeapSys at the end."
echo "   CPU s is the benchmark process's CPU time in each (on PostgreSQL without the database server's). A drain claims the next page"
echo "   while it settles the last, on both cores, so the CPU time can exceed the wall time."
awk '
/^BenchmarkLeases100k\/[a-z]+-[0-9]+ / {
	split($1, a, /[\/-]/); db = a[2]
	for (i = 4; i < NF; i++) v[db, $(i+1)] = $i
	dbs[db] = 1
}
END {
	printf "%-9s %17s %10s %10s %14s %12s %14s %8s %8s\n", "database", "revoke-prefix s", "expiry s", "targets", "CPU s", "statements", "upstream calls", "RSS MB", "heap MB"
	for (db in dbs) printf "%-9s %17.2f %10.2f %10s %14s %12s %14d %8.0f %8.0f\n", db, v[db, "revoke-prefix-s"], v[db, "expiry-s"], "2 / 10", sprintf("%.2f / %.2f", v[db, "revoke-prefix-cpu-s"], v[db, "expiry-cpu-s"]), (v[db, "revoke-stmts"] + 0) "+" (v[db, "expiry-stmts"] + 0), v[db, "upstream-calls"], v[db, "rss-MB"], v[db, "heap-MB"]
}' "$out"
