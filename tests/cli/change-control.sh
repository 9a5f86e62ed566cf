# tests/cli/change-control.sh: stepup diff, replay's refusals, keygen and
# signed bundles (docs/change-control.md). Sourced by tests/cli/run.sh,
# whose helpers (run, check, ok, bad, $T...) it uses.

# The candidate: the default rules with a threshold lowered, a score band
# widened, a step-up's `only` dropped and a method condition added; so
# every kind of change shows.
sed -e 's/let MAX_TOKENS       = 10/let MAX_TOKENS       = 8/' \
    -e 's/or wallet.phone_score <= 2/or wallet.phone_score <= 3/' \
    -e 's/then step_up only CUSTOMER_SERVICE line FRAUD/then step_up line FRAUD/' \
    -e 's/^method IN_APP           when end_user.app_enrolled$/method IN_APP           when end_user.app_enrolled and wallet.device_score >= 4/' \
    "$RULES" >"$T/candidate.rules"
if cmp -s "$RULES" "$T/candidate.rules"; then
	bad "diff: the candidate differs from the default rules (the sed patterns no longer match)"
fi
awk -v N=10000 -v SEED=7 -f "$DATA/gen-requests.awk" >"$T/requests10k.jsonl"

# ---- diff ----------------------------------------------------------------
run diff --rules "$RULES" --candidate "$T/candidate.rules" --config "$CONFIG" --json "$T/requests10k.jsonl"
check "diff --json exits 0" rc_is 0
cp "$T/out" "$T/diff.json"
if python3 -c 'import sys' 2>/dev/null; then
	if python3 - "$T/diff.json" >"$T/diff-check" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ts = d["transitions"]
assert d["requests"] == 10000, d["requests"]
assert d["changed"] > 0
total = sum(t["count"] for t in ts)
assert total == d["changed"], (total, d["changed"])
kinds = {t["kind"] for t in ts}
assert {"outcome", "methods", "reasons"} <= kinds, kinds
labels = {t["label"] for t in ts}
assert "GREEN\u2192YELLOW" in labels and "GREEN\u2192RED" in labels, labels
rules = {(r["rule"], r["change"]): r["count"] for r in d["rules"]}
assert rules.get(("wallet_score_risky", "added"), 0) > 0, rules
assert rules.get(("too_many_tokens", "added"), 0) > 0, rules
assert rules.get(("suspicious_device", "effect_changed"), 0) > 0, rules
for t in ts:
    assert 0 < len(t["examples"]) <= 3
    for e in t["examples"]:
        assert e["request_id"].startswith("req-")
print("changed", d["changed"], "in", len(ts), "transitions")
PY
	then
		ok "diff over 10,000 requests: the transitions add up to \"changed\" ($(cat "$T/diff-check"))"
	else
		bad "diff over 10,000 requests: the transitions add up to \"changed\"" "$(cat "$T/diff-check")"
	fi
else
	skip "diff --json checks (no python3)"
fi
# The same sum with nothing but the shell, so the check cannot be skipped.
changed=$(sed -n 's/^{"requests":[0-9]*,"changed":\([0-9]*\),.*/\1/p' "$T/diff.json")
sum=$(grep -o '"kind":"[a-z]*","label":"[^"]*","count":[0-9]*' "$T/diff.json" | sed 's/.*"count"://' |
	awk '{ s += $1 } END { print s + 0 }')
if [ -n "$changed" ] && [ "$changed" -gt 0 ] && [ "$changed" -eq "$sum" ]; then
	ok "diff --json: transitions sum to changed ($sum)"
else
	bad "diff --json: transitions sum to changed" "changed=$changed sum=$sum"
fi
check "diff output never quotes request data" bash -c '! grep -q -e 4111111111111111 -e +1415 -e example.com "$1"' _ "$T/diff.json"

run diff --rules "$RULES" --candidate "$T/candidate.rules" --config "$CONFIG" "$T/requests10k.jsonl"
check "diff (text) counts the changed decisions" out_has "10000 requests, $changed decisions change"
check "diff (text) lists transitions, rules and examples" \
	bash -c 'grep -q "GREEN→YELLOW" "$1" && grep -q "wallet_score_risky *fires only in the candidate" "$1" && grep -q "^examples:" "$1"' _ "$T/out"
run diff --rules "$RULES" --candidate "$RULES" --config "$CONFIG" --json "$T/requests10k.jsonl"
check "diff of a ruleset with itself: nothing changes" out_has '"changed":0,'
printf '%s\n' '{"request_id":"only-new","wallet":{"device_score":9}}' '{"request_id":"ok"}' >"$T/two.jsonl"
run diff --rules "$RULES" --candidate "$RULES" --json "$T/two.jsonl"
check "diff: a request both refuse is counted apart" out_has '"refused_by_both":1'
run diff --rules "$RULES" "$T/two.jsonl"
check "diff without --candidate: usage, exit 2" bash -c '[ "$1" -eq 2 ] && grep -q "usage: stepup diff" "$2"' _ "$rc" "$T/err"
run diff --rules "$RULES" --candidate "$T/nope.rules" "$T/two.jsonl"
check "diff with a missing candidate names it, exit 2" bash -c '[ "$1" -eq 2 ] && grep -q "nope.rules" "$2"' _ "$rc" "$T/err"

# ---- replay: logs it cannot replay ---------------------------------------
printf '%s\n' '{"time":"t","decision_id":"d","request_id":"r","ruleset":"issuer-default","revision":"sha256:x","decision":"GREEN","methods":[],"rules":[],"latency_us":3}' \
	'not json' '{"time":"t","gap":{"lost":12,"reason":"x","since":"t"}}' >"$T/plain.log"
run replay --candidate "$T/candidate.rules" --json "$T/plain.log"
check "replay of a log without facts: nothing replayed, each reason counted" \
	bash -c 'grep -q "\"replayed\":0" "$1" && grep -q "\"no_facts\":1" "$1" && grep -q "\"unreadable_lines\":1" "$1" && grep -q "\"lost_in_gaps\":12" "$1"' _ "$T/out"
run replay --candidate "$T/candidate.rules"
check "replay without a log: usage, exit 2" rc_is 2

# ---- keygen and signed bundles --------------------------------------------
run keygen "$T/release.key"
check "keygen writes a key pair" bash -c '[ "$1" -eq 0 ] && [ -f "$2" ] && [ -f "$2.pub" ] && grep -q "fingerprint ed25519:" "$3"' _ "$rc" "$T/release.key" "$T/out"
check "keygen's private key is mode 0600" bash -c '[ "$(stat -c %a "$1")" = 600 ]' _ "$T/release.key"
run keygen "$T/release.key"
check "keygen never overwrites a key" bash -c 'refused_() { [ "$1" -ne 0 ] && [ "$1" -lt 128 ]; }; refused_ "$1" && grep -q "release.key" "$2"' _ "$rc" "$T/err"
run compile "$RULES" -o "$T/signed.bundle" --sign "$T/release.key"
check "compile --sign writes a signed bundle" bash -c '[ "$1" -eq 0 ] && grep -q "signed .* by ed25519:" "$2"' _ "$rc" "$T/err"
run compile "$RULES" -o "$T/plain.bundle"
check "a signed bundle is the bundle and a 112-byte trailer" \
	bash -c '[ $(( $(stat -c %s "$1") - $(stat -c %s "$2") )) -eq 112 ] && cmp -s -n "$(stat -c %s "$2")" "$1" "$2"' _ "$T/signed.bundle" "$T/plain.bundle"
run eval --rules "$T/signed.bundle" --config "$CONFIG" "$SRCDIR/tests/data/sample-request.json"
strip_ids "$T/out" >"$T/signed.out"
run eval --rules "$T/plain.bundle" --config "$CONFIG" "$SRCDIR/tests/data/sample-request.json"
strip_ids "$T/out" >"$T/plain.out"
check "a signed bundle decides as the unsigned one" cmp -s "$T/signed.out" "$T/plain.out"
cp "$T/release.key" "$T/open.key"
chmod 644 "$T/open.key"
run compile "$RULES" -o "$T/x.bundle" --sign "$T/open.key"
check "compile --sign refuses a key others can read, naming it" \
	bash -c '[ "$1" -ne 0 ] && [ "$1" -lt 128 ] && grep -q "open.key.*chmod 600" "$2" && [ ! -e "$3" ]' _ "$rc" "$T/err" "$T/x.bundle"
run compile "$RULES" -o "$T/x.bundle" --sign "$T/release.key.pub"
check "compile --sign refuses a public key" bash -c '[ "$1" -ne 0 ] && grep -q "public key" "$2"' _ "$rc" "$T/err"
