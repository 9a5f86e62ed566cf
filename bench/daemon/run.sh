#!/bin/bash
# bench/daemon/run.sh: stepupd over HTTP on loopback under wrk, against a
# do-nothing libmicrohttpd server started the same way (the ceiling of the
# HTTP layer), with and without the decision log, and with a candidate in
# shadow mode (docs/change-control.md). See bench/daemon/README.md.
#
#   make bench-daemon                      (builds what it needs, then runs this)
#   bench/daemon/run.sh --builddir B [--duration S] [--connections N]
#                       [--threads N] [--rounds N] [--requests N] [--pause MS]
#
# Each round runs the three servers one after the other, each as a fresh
# process: a warm-up, then
#   1. saturation: every connection sends its next request as soon as the
#      answer is in (keep-alive); gives the throughput, and the latency at
#      that throughput;
#   2. equal load: every connection pauses --pause ms after each answer, so
#      all three servers get about the same request rate, well under their
#      capacity; gives the latency of a request, not of a queue.
# Noise from other processes hits the three alike. Reported per server:
# the best throughput of all rounds (other load can only make a round
# slower), and the median over rounds of each latency percentile. The
# targets of issue 4 are judged on the saturation run: throughput ratios,
# and the p99 ratio.
set -euo pipefail

me=run.sh
duration=10 connections=64 threads=2 rounds=5 nreq=2000 warmup=2 pause=1
# shellcheck source=bench/daemon/lib.sh
. "$(dirname "$0")/lib.sh"
bench_options "$@"
for f in "$builddir/stepupd" "$builddir/bench/daemon/mhd_ceiling" "$builddir/bench/daemon/gen_requests"; do
	[ -x "$f" ] || { echo "run.sh: $f missing: run 'make bench-daemon' in the build directory" >&2; exit 2; }
done
bench_workdir stepupd-bench

"$builddir/bench/daemon/gen_requests" "$nreq" 42 > "$work/requests.jsonl"
issuer='"issuer": {"app_id": "com.examplebank.mobile", "customer_service":
            {"standard": "+1-800-555-0100", "fraud": "+1-800-555-0199"}}'
# The shipped defaults (threads, limits) but for the log level: "warn"
# makes explicit that nothing is logged per request.
cat > "$work/plain.json" <<JSON
{ "listen": "127.0.0.1:0", "rules": "$srcdir/rules/default.rules",
  "log": {"level": "warn"}, $issuer }
JSON
cat > "$work/declog.json" <<JSON
{ "listen": "127.0.0.1:0", "rules": "$srcdir/rules/default.rules",
  "decision_log": {"path": "$work/decisions.log"},
  "log": {"level": "warn"}, $issuer }
JSON

# Shadow mode: the candidate is the default rules with a threshold moved,
# so it decides every request again and diverges on some.
sed -e 's/let MAX_TOKENS       = 10/let MAX_TOKENS       = 8/' "$srcdir/rules/default.rules" > "$work/candidate.rules"
cat > "$work/shadow.json" <<JSON
{ "listen": "127.0.0.1:0", "rules": "$srcdir/rules/default.rules",
  "shadow": {"rules": "$work/candidate.rules"},
  "log": {"level": "warn"}, $issuer }
JSON

start() {  # start KIND: sets pid and port
	case $1 in
	ceiling) start_server "$1" "$builddir/bench/daemon/mhd_ceiling" --port-file "$work/port" ;;
	stepupd) start_server "$1" "$builddir/stepupd" -c "$work/plain.json" --port-file "$work/port" ;;
	stepupd+log) start_server "$1" "$builddir/stepupd" -c "$work/declog.json" --port-file "$work/port" ;;
	stepupd+shadow) start_server "$1" "$builddir/stepupd" -c "$work/shadow.json" --port-file "$work/port" ;;
	esac
}

kinds=(ceiling stepupd stepupd+log stepupd+shadow)
shadow_made=0 shadow_skipped=0
declare -A best sat50 sat99 sat999 eq50 eq99 eq999 eqrps errs
echo "stepupd benchmark: $(nproc) CPUs, wrk -t$threads -c$connections, keep-alive, $nreq generated" \
     "requests, $rounds rounds; saturation ${duration}s, equal load (pause ${pause} ms) $(( duration / 2 ))s"
echo "                        ------ saturation ------------------   -- equal load ----------------"
echo "round  server            req/s  p50 ms  p99 ms  p99.9 ms   req/s  p50 ms  p99 ms  p99.9 ms"
for r in $(seq "$rounds"); do
	for k in "${kinds[@]}"; do
		start "$k"
		measure "$warmup" "$work/requests.jsonl" 0 > /dev/null
		sat=$(measure "$duration" "$work/requests.jsonl" 0)
		eq=$(measure $(( duration / 2 )) "$work/requests.jsonl" "$pause")
		if [ "$k" = stepupd+shadow ]; then
			# Shadow decisions made and skipped (a full queue) in the round.
			m=$(curl -s "http://127.0.0.1:$port/metrics")
			shadow_made=$(( shadow_made + $(sed -n 's/^stepupd_shadow_decisions_total{result="[a-z]*"} //p' <<< "$m" | awk '{ s += $1 } END { print s + 0 }') ))
			shadow_skipped=$(( shadow_skipped + $(sed -n 's/^stepupd_shadow_skipped_total{reason="queue_full"} //p' <<< "$m") ))
		fi
		stop_server
		rps=$(( $(field "$sat" requests) * 1000000 / $(field "$sat" duration_us) ))
		erps=$(( $(field "$eq" requests) * 1000000 / $(field "$eq" duration_us) ))
		e=$(( $(field "$sat" socket_errors) + $(field "$sat" non2xx) + $(field "$eq" socket_errors) + $(field "$eq" non2xx) ))
		printf "%5d  %-14s %8d %7s %7s %9s %7d %7s %7s %9s\n" "$r" "$k" "$rps" \
			"$(ms "$(field "$sat" p50_us)")" "$(ms "$(field "$sat" p99_us)")" "$(ms "$(field "$sat" p999_us)")" \
			"$erps" "$(ms "$(field "$eq" p50_us)")" "$(ms "$(field "$eq" p99_us)")" "$(ms "$(field "$eq" p999_us)")"
		[ "${best[$k]:-0}" -ge "$rps" ] || best[$k]=$rps
		sat50[$k]+=" $(field "$sat" p50_us)"; sat99[$k]+=" $(field "$sat" p99_us)"; sat999[$k]+=" $(field "$sat" p999_us)"
		eq50[$k]+=" $(field "$eq" p50_us)"; eq99[$k]+=" $(field "$eq" p99_us)"; eq999[$k]+=" $(field "$eq" p999_us)"
		eqrps[$k]+=" $erps"; errs[$k]=$(( ${errs[$k]:-0} + e ))
	done
done
lines=$(wc -l < "$work/decisions.log")

echo
echo "summary: best throughput, median latencies over the rounds"
echo "server            req/s  p50 ms  p99 ms  p99.9 ms   req/s  p50 ms  p99 ms  p99.9 ms  failed"
declare -A s99 e99
for k in "${kinds[@]}"; do
	# shellcheck disable=SC2086
	s99[$k]=$(median ${sat99[$k]}); e99[$k]=$(median ${eq99[$k]})
	# shellcheck disable=SC2086
	printf "%-14s %8d %7s %7s %9s %7d %7s %7s %9s %7d\n" "$k" "${best[$k]}" \
		"$(ms "$(median ${sat50[$k]})")" "$(ms "${s99[$k]}")" "$(ms "$(median ${sat999[$k]})")" \
		"$(median ${eqrps[$k]})" "$(ms "$(median ${eq50[$k]})")" "$(ms "${e99[$k]}")" \
		"$(ms "$(median ${eq999[$k]})")" "${errs[$k]}"
done

ratio() {  # ratio A B TARGET ge|le|info
	awk -v a="$1" -v b="$2" -v t="$3" -v op="$4" 'BEGIN {
		r = a / b
		if (op == "info") { printf "%5.2f  (for information)\n", r; exit }
		ok = (op == "ge") ? r >= t : r <= t
		printf "%5.2f  (target %s %.2f)  %s\n", r, op == "ge" ? ">=" : "<=", t, ok ? "PASS" : "FAIL" }'
}
echo
echo "stepupd throughput / ceiling                 $(ratio "${best[stepupd]}" "${best[ceiling]}" 0.70 ge)"
echo "stepupd p99 / ceiling p99, saturation        $(ratio "${s99[stepupd]}" "${s99[ceiling]}" 1.50 le)"
echo "stepupd+log throughput / ceiling             $(ratio "${best[stepupd+log]}" "${best[ceiling]}" 0.60 ge)"
echo "stepupd+log p99 / ceiling p99, saturation    $(ratio "${s99[stepupd+log]}" "${s99[ceiling]}" 1.50 info)"
echo "stepupd p99 / ceiling p99, equal load        $(ratio "${e99[stepupd]}" "${e99[ceiling]}" 1.50 info)"
echo "stepupd+shadow throughput / stepupd        $(ratio "${best[stepupd+shadow]}" "${best[stepupd]}" 0.75 ge)"
echo "decision log lines written: $lines; failed requests: stepupd ${errs[stepupd]}, stepupd+log ${errs[stepupd+log]}, stepupd+shadow ${errs[stepupd+shadow]}"
echo "shadow decisions made: $shadow_made, skipped with the queue full: $shadow_skipped"
