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

me=mdes.sh
duration=10 connections=32 threads=2 rounds=3 nreq=200 pause=0
# shellcheck source=bench/daemon/lib.sh
. "$(dirname "$0")/lib.sh"
bench_options "$@"
bench_workdir stepupd-bench-mdes
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

start_server stepupd "$builddir/stepupd" -c "$work/stepupd.json" --port-file "$work/port"

echo "stepupd MDES benchmark: $(nproc) CPUs, wrk -t$threads -c$connections, keep-alive, ${duration}s per endpoint, $rounds rounds"
echo "round  endpoint                 req/s   p50 ms  p99 ms  errors"
declare -A best p50s p99s
for r in $(seq "$rounds"); do
	for e in decisions mdes; do
		args=("$work/decisions.jsonl" "$pause") name="/v1/decisions"
		[ $e = mdes ] && args=("$work/mdes.jsonl" "$pause" /mdes/authorizeService fresh-ids) name="/mdes/authorizeService"
		measure 2 "${args[@]}" >/dev/null
		res=$(measure "$duration" "${args[@]}")
		n=$(field "$res" requests) us=$(field "$res" duration_us)
		rps=$(( n * 1000000 / us ))
		bad=$(( $(field "$res" socket_errors) + $(field "$res" non2xx) ))
		printf '%-6s %-22s %7d  %7s %7s  %d\n' "$r" "$name" "$rps" \
			"$(ms "$(field "$res" p50_us)")" "$(ms "$(field "$res" p99_us)")" "$bad"
		[ "${best[$e]:-0}" -lt "$rps" ] && best[$e]=$rps
		p50s[$e]="${p50s[$e]:-} $(field "$res" p50_us)"
		p99s[$e]="${p99s[$e]:-} $(field "$res" p99_us)"
	done
done
echo
for e in decisions mdes; do
	name="/v1/decisions"; [ $e = mdes ] && name="/mdes/authorizeService"
	# shellcheck disable=SC2086
	printf 'best %-22s %7d req/s, median p50 %s ms, p99 %s ms\n' "$name" "${best[$e]}" \
		"$(ms "$(median ${p50s[$e]})")" "$(ms "$(median ${p99s[$e]})")"
done
awk -v a="${best[mdes]}" -v b="${best[decisions]}" 'BEGIN { printf "authorizeService / decisions: %.3f of the throughput\n", a / b }'
