#!/bin/bash
# bench/daemon/mdes.sh: MDES authorizeService (decrypt + look up + decide +
# respond) beside /v1/decisions, on ONE stepupd in the same run: the
# default rules decide both, MDES's facts through the mapping of
# docs/mdes.md, the account_file plugin on the demo accounts (inline), the
# test RSA-2048 key; no case store, no decision log (the decision itself
# and its protocol, as bench/daemon/run.sh measures /v1/decisions).
#
#   make bench-mdes                      (builds what it needs, then runs this)
#   bench/daemon/mdes.sh --builddir B [--duration S] [--connections N] [--threads N]
#                        [--rounds N] [--requests N]
#
# Each round measures both endpoints, one after the other, after a
# warm-up; reported: the best throughput of the rounds (other load only
# slows a round down) and the median p50/p99.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$PWD
duration=10 connections=32 threads=2 rounds=3 nreq=200
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$2; shift 2 ;;
	--srcdir) srcdir=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--connections) connections=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--requests) nreq=$2; shift 2 ;;
	*) echo "usage: $0 [--builddir B] [--duration S] [--connections N] [--threads N] [--rounds N] [--requests N]" >&2
	   exit 2 ;;
	esac
done
command -v wrk >/dev/null || { echo "mdes.sh: wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }
work=$(mktemp -d /tmp/stepupd-bench-mdes.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
data=$srcdir/tests/data/mdes
cp "$data/issuer-key.pem" "$data/account-key" "$work/" && chmod 600 "$work/issuer-key.pem" "$work/account-key"

# Requests: /v1/decisions as bench/daemon/run.sh sends them; MDES ones,
# each with its own payload encrypted for the test key (OAEP SHA-256).
"$builddir/bench/daemon/gen_requests" 2000 42 > "$work/decisions.jsonl"
pans=(5555555555554444 4111111111111111 6011111111111117 5105105105105100)
for i in $(seq "$nreq"); do
	pan=${pans[$((i % 4))]}
	printf '{"source":"ACCOUNT_ADDED_MANUALLY","cardAccountData":{"accountNumber":"%s","expiryMonth":"12","expiryYear":"30","securityCode":"123"}}' "$pan" > "$work/p.json"
	"$builddir/stepup" mdes encrypt --key "$data/issuer-pub.pem" --valid-for 86400 \
		--request "$data/authorize-request.json" "$work/p.json" | tr -d '\n ' >> "$work/mdes.jsonl"
	echo >> "$work/mdes.jsonl"
done

cat > "$work/stepupd.json" <<JSON
{ "listen": "127.0.0.1:0", "rules": "$srcdir/rules/default.rules", "log": {"level": "warn"},
  "issuer": {"app_id": "com.examplebank.mobile",
             "customer_service": {"standard": "+1-800-555-0100", "fraud": "+1-800-555-0199"}},
  "plugins": {"path": ["$builddir/plugins/.libs"], "account_source": "accounts", "load": [
    {"name": "accounts", "module": "account_file", "isolation": "inline",
     "config": {"file": "$data/accounts.json", "key_file": "$work/account-key"}}]},
  "mdes": {"keys": [{"file": "$work/issuer-key.pem"}], "facts_map": {
    "request_id": "requestId", "tsp": {"value": "MDES"}, "token_requestor.id": "tokenRequestorId",
    "card.pan": "cardAccountData.accountNumber", "card.state": "account.state",
    "card.csc_result": "account.csc_result", "card.active_tokens": {"from": "activeTokenCount", "as": "int"},
    "end_user.phone": "account.phone", "end_user.email": "account.email",
    "end_user.language": "cardholder.language", "wallet.phone_suffix": "mobileNumberSuffix",
    "wallet.device_score": {"from": "walletProviderDecisioningInfo.deviceScore", "as": "int"},
    "wallet.account_score": {"from": "walletProviderDecisioningInfo.accountScore", "as": "int"},
    "wallet.recommended_decision": "walletProviderDecisioningInfo.recommendedDecision",
    "wallet.reason_codes": "walletProviderDecisioningInfo.recommendationReasons"}} }
JSON

"$builddir/stepupd" -c "$work/stepupd.json" --port-file "$work/port" 2>"$work/server.log" &
pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "mdes.sh: stepupd did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
port=$(cat "$work/port")

measure() {  # measure SCRIPT FILE SECONDS
	wrk -t"$threads" -c"$connections" -d"$3"s --timeout 5s -s "$srcdir/bench/daemon/$1" \
		"http://127.0.0.1:$port" -- "$work/$2" 0 | grep '^RESULT'
}
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<< "$1"; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "stepupd MDES benchmark: $(nproc) CPUs, wrk -t$threads -c$connections, keep-alive, ${duration}s per endpoint, $rounds rounds"
echo "round  endpoint                 req/s   p50 ms  p99 ms  errors"
declare -A best p50s p99s
for r in $(seq "$rounds"); do
	for e in decisions mdes; do
		script=post.lua file=decisions.jsonl name="/v1/decisions"
		[ $e = mdes ] && script=post_mdes.lua file=mdes.jsonl name="/mdes/authorizeService"
		measure "$script" "$file" 2 >/dev/null
		res=$(measure "$script" "$file" "$duration")
		n=$(field "$res" requests) us=$(field "$res" duration_us)
		rps=$(( n * 1000000 / us ))
		bad=$(( $(field "$res" socket_errors) + $(field "$res" non2xx) ))
		printf '%-6s %-22s %7d  %7.2f %7.2f  %d\n' "$r" "$name" "$rps" \
			"$(awk -v u="$(field "$res" p50_us)" 'BEGIN{print u/1000}')" \
			"$(awk -v u="$(field "$res" p99_us)" 'BEGIN{print u/1000}')" "$bad"
		[ "${best[$e]:-0}" -lt "$rps" ] && best[$e]=$rps
		p50s[$e]="${p50s[$e]:-} $(field "$res" p50_us)"
		p99s[$e]="${p99s[$e]:-} $(field "$res" p99_us)"
	done
done
echo
for e in decisions mdes; do
	name="/v1/decisions"; [ $e = mdes ] && name="/mdes/authorizeService"
	printf 'best %-22s %7d req/s, median p50 %.2f ms, p99 %.2f ms\n' "$name" "${best[$e]}" \
		"$(awk -v u="$(median ${p50s[$e]})" 'BEGIN{print u/1000}')" \
		"$(awk -v u="$(median ${p99s[$e]})" 'BEGIN{print u/1000}')"
done
awk -v a="${best[mdes]}" -v b="${best[decisions]}" 'BEGIN { printf "authorizeService / decisions: %.3f of the throughput\n", a / b }'
