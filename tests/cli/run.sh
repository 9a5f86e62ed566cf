#!/bin/bash
# tests/cli/run.sh: end-to-end tests of the `stepup` command line.
#
# Run by `make check` with STEPUP (the built binary) and SRCDIR (the source
# tree) in the environment; by hand:
#   STEPUP=$PWD/stepup SRCDIR=/path/to/src bash tests/cli/run.sh
# Prints one line per check ("ok - ...", "FAIL - ...", "skip - ..."), ends
# with "N passed, M failed", and exits 1 if any check failed.
set -u

STEPUP=${STEPUP:-}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ -z "$STEPUP" ] || [ ! -x "$STEPUP" ]; then
	echo "tests/cli/run.sh: set STEPUP to the stepup binary (got '${STEPUP}')" >&2
	exit 99
fi

RULES=$SRCDIR/rules/default.rules
CONFIG=$SRCDIR/rules/issuer.example.json
DATA=$SRCDIR/tests/cli

T=$(mktemp -d "${TMPDIR:-/tmp}/stepup-cli.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
trap 'exit 99' HUP INT TERM

passed=0
failed=0
skipped=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL - $1"
	shift
	for why in "$@"; do echo "    $why"; done
}
skip() { skipped=$((skipped + 1)); echo "skip - $1"; }
# check DESC CONDITION-COMMAND... : ok when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else bad "$desc" "rc=$rc" "stderr: $(head -c 600 "$T/err")"; fi
}

# run ARGS... : run stepup, stdout to $T/out, stderr to $T/err, status to $rc.
# Standard input comes from the caller.
run() {
	"$STEPUP" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}
rc_is() { [ "$rc" -eq "$1" ]; }
# A refusal: non-zero, but not killed by a signal (no crash, no abort).
refused() { [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; }
out_has() { grep -q -e "$1" "$T/out"; }
err_has() { grep -q -e "$1" "$T/err"; }
out_lacks() { ! grep -q -e "$1" "$T/out"; }
lines_of() { wc -l <"$1" | tr -d ' '; }
# Responses without their decision_id (random per decision).
strip_ids() { sed -e 's/"decision_id":"[^"]*",\{0,1\}//' "$1"; }

cd "$T" || exit 99
one0='{"request_id":"x","channel":"XPAY_WALLET"}'

# ---- check ----------------------------------------------------------------
run check "$RULES"
check "check rules/default.rules exits 0" rc_is 0
check "check reports the ruleset as ok" out_has 'ok: ruleset "issuer-default"'

cp "$DATA/errors3.rules" "$T/errors3.rules"
run check errors3.rules
check "check on a file with errors exits 1" rc_is 1
check "errors are reported as file:line:col: error:" \
	grep -qE '^errors3\.rules:[0-9]+:[0-9]+: error: ' "$T/err"
check "a diagnostic quotes its source line" grep -q '^ *when card\.stat != ACTIVE$' "$T/err"
check "a diagnostic has a caret line under the span" grep -qE '^ +\^~*$' "$T/err"
check "the caret is under the offending token" \
	bash -c 'grep -A2 "errors3.rules:8:8: error:" "$1" | tail -1 | grep -qx "         ^~~~~~~~~"' _ "$T/err"
n=$(grep -c ': error: ' "$T/err")
if [ "$n" -eq 3 ]; then ok "three independent errors give three error lines"; else bad "three independent errors give three error lines" "got $n:" "$(cat "$T/err")"; fi
check "each error is at its own line" bash -c '
	grep -q "^errors3.rules:8:[0-9]*: error: unknown field" "$1" &&
	grep -q "^errors3.rules:12:[0-9]*: error: cannot compare" "$1" &&
	grep -q "^errors3.rules:17:[0-9]*: error: undefined method" "$1"' _ "$T/err"
check "check ends with an error count" err_has '^errors3.rules: 3 errors$'

run check "$DATA/only-line.rules"
check "a syntax error after 'step_up only X line' is reported, not a crash" \
	bash -c '[ "$1" -eq 1 ] && grep -q "only-line.rules:5:1: error: syntax error" "$2"' _ "$rc" "$T/err"

run check "$T/no-such-file.rules"
check "check on a missing file fails with a message" bash -c '[ "$1" -eq 1 ] && grep -q "no-such-file.rules" "$2"' _ "$rc" "$T/err"
run check
check "check without a file is a usage error (exit 2)" rc_is 2

# ---- fail closed: rulesets with no rules (issue 9) ---------------------------
# An emptied file would approve every request: every command refuses it with
# the library's message unless --allow-empty is given.
EMPTY_MSG='the ruleset has no rules: it would approve every request'
: >"$T/empty0.rules"
printf '  \n\t\n\n' >"$T/empty-blank.rules"
printf '# all rules were here\n  # and here\n' >"$T/empty-comments.rules"
printf 'ruleset "only-constants"\nlet MAX = 3\nmethod OTP_SMS always\n' >"$T/empty-decls.rules"
for f in empty0 empty-blank empty-comments empty-decls; do
	run check "$T/$f.rules"
	if [ "$rc" -eq 1 ] && err_has "$EMPTY_MSG" && out_lacks ': ok:'; then
		ok "check refuses $f.rules (exit 1, the library's message)"
	else
		bad "check refuses $f.rules (exit 1, the library's message)" "rc=$rc" "stdout: $(head -c 300 "$T/out")" \
			"stderr: $(head -c 300 "$T/err")"
	fi
done
run check --allow-empty "$T/empty-comments.rules"
check "check --allow-empty accepts a comment-only file" bash -c '[ "$1" -eq 0 ] && grep -q ": ok: .* 0 rules" "$2"' _ "$rc" "$T/out"
run compile "$T/empty0.rules" -o "$T/empty.bundle"
check "compile refuses an empty file and writes nothing" \
	bash -c '[ "$1" -eq 1 ] && [ ! -e "$2" ] && grep -q "$3" "$4"' _ "$rc" "$T/empty.bundle" "$EMPTY_MSG" "$T/err"
run compile --allow-empty "$T/empty0.rules" -o "$T/empty.bundle"
check "compile --allow-empty writes an empty bundle" bash -c '[ "$1" -eq 0 ] && [ -s "$2" ]' _ "$rc" "$T/empty.bundle"
closed='{"request_id":"closed-1","channel":"XPAY_WALLET","card":{"state":"CLOSED"}}'
for rules in "$T/empty-blank.rules" "$T/empty.bundle"; do
	run eval --rules "$rules" <<<"$closed"
	check "eval refuses $(basename "$rules") and decides nothing" \
		bash -c '[ "$1" -eq 2 ] && [ ! -s "$2" ] && grep -q "no rules" "$3"' _ "$rc" "$T/out" "$T/err"
	run eval --allow-empty --rules "$rules" <<<"$closed"
	check "eval --allow-empty on $(basename "$rules") decides (GREEN: nothing fires)" \
		bash -c '[ "$1" -eq 0 ] && grep -q "\"decision\":\"GREEN\"" "$2"' _ "$rc" "$T/out"
	run explain --rules "$rules" <<<"$closed"
	check "explain refuses $(basename "$rules")" bash -c '[ "$1" -eq 2 ] && grep -q "no rules" "$2"' _ "$rc" "$T/err"
	run explain --allow-empty --rules "$rules" <<<"$closed"
	check "explain --allow-empty on $(basename "$rules")" rc_is 0
	printf '{"name":"closed","request":%s,"expect":{"decision":"GREEN"}}\n' "$closed" >"$T/empty.tests.jsonl"
	run test --rules "$rules" "$T/empty.tests.jsonl"
	check "test refuses $(basename "$rules")" bash -c '[ "$1" -eq 2 ] && grep -q "no rules" "$2"' _ "$rc" "$T/err"
	run test --allow-empty --rules "$rules" "$T/empty.tests.jsonl"
	check "test --allow-empty on $(basename "$rules")" bash -c '[ "$1" -eq 0 ] && grep -q "^1 passed, 0 failed" "$2"' _ "$rc" "$T/out"
done

# ---- special files: a FIFO nobody writes fails at once (issue 9) ----------------
# timeout is only a hang guard: each command must return immediately.
if mkfifo "$T/rules.fifo" 2>/dev/null; then
	for cmd in check eval explain; do
		if [ "$cmd" = check ]; then
			timeout 30 "$STEPUP" check "$T/rules.fifo" >"$T/out" 2>"$T/err" </dev/null
		else
			timeout 30 "$STEPUP" "$cmd" --rules "$T/rules.fifo" >"$T/out" 2>"$T/err" <<<"$one0"
		fi
		rc=$?
		check "$cmd on a FIFO fails at once: not a regular file" \
			bash -c '[ "$1" -ne 0 ] && [ "$1" -lt 124 ] && grep -q "rules.fifo: .*not a regular file" "$2"' _ "$rc" "$T/err"
	done
	timeout 30 "$STEPUP" eval --rules "$RULES" --config "$T/rules.fifo" >"$T/out" 2>"$T/err" <<<"$one0"
	rc=$?
	check "a FIFO as settings fails at once" \
		bash -c '[ "$1" -eq 2 ] && grep -q "rules.fifo: not a regular file" "$2"' _ "$rc" "$T/err"
else
	skip "special files: mkfifo failed"
fi

# ---- compile ----------------------------------------------------------------
run compile "$RULES" -o "$T/default.bundle"
check "compile exits 0" rc_is 0
check "compile writes a bundle file" test -s "$T/default.bundle"
check "the bundle starts with its magic" bash -c '[ "$(head -c 7 "$1")" = STEPUPB ]' _ "$T/default.bundle"
check "compile leaves no temporary file behind" test ! -e "$T/default.bundle.tmp"
run compile errors3.rules -o "$T/bad.bundle"
check "compile of a file with errors exits 1 and writes nothing" \
	bash -c '[ "$1" -eq 1 ] && [ ! -e "$2" ]' _ "$rc" "$T/bad.bundle"

# ---- eval: bundle and source agree -------------------------------------------
run eval --rules "$RULES" --config "$CONFIG" "$DATA/requests.jsonl"
check "eval with the source exits 0" rc_is 0
cp "$T/out" "$T/from-source.jsonl"
run eval --rules "$T/default.bundle" --config "$CONFIG" "$DATA/requests.jsonl"
check "eval with the bundle exits 0" rc_is 0
cp "$T/out" "$T/from-bundle.jsonl"
nreq=$(grep -c . "$DATA/requests.jsonl")
check "eval writes one response per request" bash -c '[ "$(wc -l <"$1")" -eq "$2" ]' _ "$T/from-source.jsonl" "$nreq"
if cmp -s <(strip_ids "$T/from-source.jsonl") <(strip_ids "$T/from-bundle.jsonl"); then
	ok "eval with the bundle and with the source gives the same decisions"
else
	bad "eval with the bundle and with the source gives the same decisions" \
		"$(diff <(strip_ids "$T/from-source.jsonl") <(strip_ids "$T/from-bundle.jsonl") | head -10)"
fi
check "responses carry decisions" bash -c 'grep -q "\"decision\":\"YELLOW\"" "$1" && grep -q "\"decision\":\"RED\"" "$1" && grep -q "\"decision\":\"GREEN\"" "$1"' _ "$T/from-source.jsonl"
run eval --explain --rules "$RULES" --config "$CONFIG" "$DATA/requests.jsonl"
cp "$T/out" "$T/explain-source.jsonl"
run eval --explain --rules "$T/default.bundle" --config "$CONFIG" "$DATA/requests.jsonl"
if cmp -s <(strip_ids "$T/explain-source.jsonl") <(strip_ids "$T/out"); then
	ok "--explain output is the same from the bundle and the source"
else
	bad "--explain output is the same from the bundle and the source" \
		"$(diff <(strip_ids "$T/explain-source.jsonl") <(strip_ids "$T/out") | head -6)"
fi

# ---- damaged bundles ------------------------------------------------------------
size=$(wc -c <"$T/default.bundle" | tr -d ' ')
one='{"request_id":"x","channel":"XPAY_WALLET"}'
for cut in 4 40 100 $((size / 2)) $((size - 1)); do
	head -c "$cut" "$T/default.bundle" >"$T/trunc.bundle"
	run eval --rules "$T/trunc.bundle" <<<"$one"
	if refused && err_has 'truncated\|not a stepup bundle\|bundle'; then
		ok "a bundle truncated to $cut bytes is refused with a message (rc=$rc)"
	else
		bad "a bundle truncated to $cut bytes is refused with a message" "rc=$rc" "stderr: $(head -c 300 "$T/err")"
	fi
done
check "the truncation message says so" bash -c 'head -c 100 "$1" >"$2" && "$3" eval --rules "$2" </dev/null 2>&1 | grep -q truncated' _ \
	"$T/default.bundle" "$T/t100.bundle" "$STEPUP"

# flip BUNDLE OFFSET: invert one byte of a copy of the bundle.
flip() {
	cp "$T/default.bundle" "$T/flip.bundle"
	local b
	b=$(od -An -tu1 -j "$1" -N1 "$T/default.bundle" | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - b)))" | dd of="$T/flip.bundle" bs=1 seek="$1" conv=notrunc 2>/dev/null
}
for off in 8 16 30 60 $((size / 2)) $((size - 1)); do
	flip "$off"
	if cmp -s "$T/flip.bundle" "$T/default.bundle"; then
		bad "flipping byte $off changes the bundle" "the copy is unchanged"
		continue
	fi
	run eval --rules "$T/flip.bundle" <<<"$one"
	if refused && [ -s "$T/err" ] && ! out_has decision; then
		ok "a bundle with byte $off flipped is refused: $(head -1 "$T/err" | cut -c1-90)"
	else
		bad "a bundle with byte $off flipped is refused with a message" "rc=$rc" "stderr: $(head -c 300 "$T/err")" "stdout: $(head -c 200 "$T/out")"
	fi
done
flip $((size / 2))
run eval --rules "$T/flip.bundle" <<<"$one"
check "a corrupted body is reported as corrupted" err_has 'corrupt'
flip 8
run eval --rules "$T/flip.bundle" <<<"$one"
check "a foreign format version is reported as such" err_has 'version'
flip 0
run eval --rules "$T/flip.bundle" <<<"$one"
check "a bundle with a damaged magic is refused without a crash" refused
for cmd in explain test; do
	flip $((size / 2))
	if [ "$cmd" = test ]; then run test --rules "$T/flip.bundle" "$DATA/fail.tests.jsonl"; else run explain --rules "$T/flip.bundle" <<<"$one"; fi
	check "stepup $cmd refuses a corrupted bundle" refused
done

# ---- eval: JSON-lines stream ------------------------------------------------------
cat >"$T/stream.jsonl" <<'EOF'
{"request_id":"s-1","channel":"XPAY_WALLET","card":{"state":"ACTIVE"}}

{"request_id":"s-2","channel":"XPAY_WALLET","wallet":{"device_score":"4"}}
   
{"request_id":"s-3","channel":"XPAY_WALLET","card":{"state":"CLOSED"}}
EOF
run eval --rules "$RULES" --config "$CONFIG" "$T/stream.jsonl"
cp "$T/out" "$T/stream.out"
check "a stream with a bad request exits non-zero" bash -c '[ "$1" -ne 0 ] && [ "$1" -lt 128 ]' _ "$rc"
check "blank lines are skipped: 3 requests give 3 output lines" bash -c '[ "$(wc -l <"$1")" -eq 3 ]' _ "$T/stream.out"
check "outputs are in input order" bash -c '
	sed -n 1p "$1" | grep -q "\"request_id\":\"s-1\"" &&
	sed -n 2p "$1" | grep -q "\"request_id\":\"s-2\"" &&
	sed -n 3p "$1" | grep -q "\"request_id\":\"s-3\""' _ "$T/stream.out"
check "the bad request gives an error object naming the field" bash -c '
	sed -n 2p "$1" | grep -q "\"error\":{\"code\":\"bad_request\"" &&
	sed -n 2p "$1" | grep -q "\"field\":\"wallet.device_score\""' _ "$T/stream.out"
check "the requests around it are decided" bash -c '
	sed -n 1p "$1" | grep -q "\"decision\":\"GREEN\"" && sed -n 3p "$1" | grep -q "\"decision\":\"RED\""' _ "$T/stream.out"
check "the bad line is reported on stderr with its line number" err_has 'line 3'
check "every output line is valid JSON" bash -c '
	command -v python3 >/dev/null || exit 0
	python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$1"' _ "$T/stream.out"

run eval --rules "$RULES" --config "$CONFIG" <"$T/stream.jsonl"
check "eval reads standard input by default" bash -c '[ "$(strip_ids() { sed -e "s/\"decision_id\":\"[^\"]*\",\{0,1\}//" "$1"; }; strip_ids "$1")" = "$(sed -e "s/\"decision_id\":\"[^\"]*\",\{0,1\}//" "$2")" ]' _ "$T/out" "$T/stream.out"
run eval --rules "$RULES" --config "$CONFIG" - <"$T/stream.jsonl"
check "eval reads standard input for '-'" bash -c '[ "$(wc -l <"$1")" -eq 3 ]' _ "$T/out"
printf '%s\r\n' '{"request_id":"crlf-1"}' '{"request_id":"crlf-2"}' >"$T/crlf.jsonl"
run eval --rules "$RULES" "$T/crlf.jsonl"
check "CRLF line ends are accepted" bash -c '[ "$1" -eq 0 ] && [ "$(wc -l <"$2")" -eq 2 ]' _ "$rc" "$T/out"
printf '%s' '{"request_id":"no-newline"}' >"$T/nonl.jsonl"
run eval --rules "$RULES" "$T/nonl.jsonl"
check "a last line without a newline is decided" out_has '"request_id":"no-newline"'
run eval --rules "$RULES" </dev/null
check "empty input: exit 0, no output" bash -c '[ "$1" -eq 0 ] && [ ! -s "$2" ]' _ "$rc" "$T/out"
run eval --rules "$RULES" "$T/missing.jsonl"
check "a missing input file is refused (exit 2)" rc_is 2
run eval --rules errors3.rules <<<"$one"
check "eval with rules that do not compile exits 2 with diagnostics" bash -c '[ "$1" -eq 2 ] && grep -q ": error: " "$2"' _ "$rc" "$T/err"
run eval --rules "$RULES" --config "$DATA/errors3.rules" <<<"$one"
check "eval with unreadable settings is refused" refused
run eval <<<"$one"
check "eval without --rules is a usage error (exit 2)" rc_is 2

# ---- --explain and explain ------------------------------------------------------------
run eval --rules "$RULES" --config "$CONFIG" --explain <<<"$one"
check "--explain adds \"explain\"" out_has '"explain":'
run eval --rules "$RULES" --config "$CONFIG" <<<"$one"
check "without --explain there is no \"explain\"" out_lacks '"explain"'

head -1 "$DATA/requests.jsonl" >"$T/one.json"
run explain --rules "$RULES" --config "$CONFIG" "$T/one.json"
check "explain exits 0" rc_is 0
missing=""
for r in $(sed -n 's/^rule \([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$RULES"); do
	grep -q "[[:space:]]${r}[[:space:]]" "$T/out" || missing="$missing $r"
done
if [ -z "$missing" ] && [ "$(grep -c '^rule ' "$RULES")" -gt 0 ]; then
	ok "explain lists every rule of default.rules"
else
	bad "explain lists every rule of default.rules" "missing:$missing"
fi
check "explain says what decided each rule" out_has 'decided by'
check "explain marks the fired rules" out_has 'FIRED'
check "explain prints the decision" out_has 'YELLOW'
run explain --rules "$RULES" --config "$CONFIG" <"$T/one.json"
check "explain reads standard input" bash -c '[ "$1" -eq 0 ] && grep -q "decided by" "$2"' _ "$rc" "$T/out"
run explain --rules "$RULES" --json <"$T/one.json"
check "explain --json prints the response with \"explain\"" out_has '"explain":'
run explain --rules "$RULES" <<<'{"request_id":"e-bad","card":{"state":"NOPE"}}'
check "explain of a bad request exits 1 and names the field" bash -c '[ "$1" -eq 1 ] && grep -q "card.state" "$2"' _ "$rc" "$T/err"

# ---- test ----------------------------------------------------------------------------
TESTS=$SRCDIR/rules/default.tests.jsonl
if [ -s "$TESTS" ] && grep -q '[^[:space:]]' "$TESTS"; then
	run test --rules "$RULES" --config "$CONFIG" "$TESTS"
	check "stepup test rules/default.tests.jsonl exits 0" rc_is 0
	[ "$rc" -eq 0 ] || grep '^FAIL' "$T/out" | head -5 | sed 's/^/    /'
	check "stepup test prints its tally" out_has ' passed, 0 failed$'
	run test --rules "$T/default.bundle" --config "$CONFIG" "$TESTS"
	check "the analyst tests also pass against the bundle" rc_is 0
else
	skip "stepup test rules/default.tests.jsonl (file missing or empty; written by another engineer)"
fi
run test --rules "$RULES" --config "$CONFIG" "$DATA/fail.tests.jsonl"
check "a failing test file exits 1" rc_is 1
check "the failing case is named" out_has '^FAIL .*deliberately wrong expectation'
check "the tally counts the pass and the failure" out_has '^1 passed, 1 failed$'
run test --rules "$RULES" "$T/missing.tests.jsonl"
check "a missing test file counts as a failure" rc_is 1

# ---- canary: secrets and contact data never come out ----------------------------------
PAN=4111111111111111
canary() { # the request of the canary, with $1 spliced into "card" and $2 into the top level
	printf '{"request_id":"canary","channel":"XPAY_WALLET","card":{"pan":"%s","csc":"123","state":"ACTIVE","capture_method":"MANUAL"%s},"end_user":{"phone":"+14155551234","email":"jane.doe@example.com","app_enrolled":true,"otp_exhausted":false},"wallet":{"phone_suffix":"0000","reason_codes":["ACCOUNT_TOO_NEW"]}%s}\n' \
		"$PAN" "${1:-}" "${2:-}"
}
{
	canary                                            # valid: YELLOW, masked contacts
	canary ',"active_tokens":"two"'                   # wrong type next to the secrets
	canary ',"csc_result":"WRONG"'                    # bad enum value
	canary '' ',"wallet":{"device_score":"4"}'        # wrong type after them (duplicate key too)
	canary | sed 's/"csc":"123"/"csc":123/'           # the CSC itself of the wrong type
	canary | sed 's/"pan":"[0-9]*"/"pan":"4111111111111111x"/'  # a PAN that is not a card number
	canary | sed 's/"phone":"[^"]*"/"phone":14155551234/'      # phone of the wrong type
	canary | sed 's/"email":"[^"]*"/"email":"jane.doe@"/'      # email that is not an address
	canary | sed 's/"request_id":"canary"/"request_id":"4111111111111111"/'  # PAN as request_id
	canary | head -c 150; echo                        # truncated JSON, cut inside end_user
	canary | sed 's/"end_user"/"end_user":{"nested":{"pan":"4111111111111111"}},"x"/'  # unknown fields
} >"$T/canary.jsonl"
ncanary=$(lines_of "$T/canary.jsonl")
: >"$T/canary.all"
run eval --rules "$RULES" --config "$CONFIG" "$T/canary.jsonl"
cat "$T/out" "$T/err" >>"$T/canary.all"
check "canary: eval answers every canary line" bash -c '[ "$(wc -l <"$1")" -eq "$2" ]' _ "$T/out" "$ncanary"
check "canary: the valid request is decided and the error path ran" bash -c '
	head -1 "$1" | grep -q "\"decision\":\"YELLOW\"" && [ "$(grep -c "\"error\":" "$1")" -ge 8 ]' _ "$T/out"
check "canary: contact data is masked in the offer" bash -c 'head -1 "$1" | grep -q "\*\*\*"' _ "$T/out"
run eval --explain --rules "$RULES" --config "$CONFIG" "$T/canary.jsonl"
cat "$T/out" "$T/err" >>"$T/canary.all"
run eval --explain --rules "$T/default.bundle" --config "$CONFIG" <"$T/canary.jsonl"
cat "$T/out" "$T/err" >>"$T/canary.all"
canary | run explain --rules "$RULES" --config "$CONFIG"
cat "$T/out" "$T/err" >>"$T/canary.all"
canary ',"active_tokens":"two"' | run explain --rules "$RULES" --config "$CONFIG"
cat "$T/out" "$T/err" >>"$T/canary.all"
canary | head -c 150 | run explain --rules "$RULES" --config "$CONFIG" --json
cat "$T/out" "$T/err" >>"$T/canary.all"
while IFS= read -r line; do
	printf '{"name":"canary case","request":%s,"expect":{"decision":"GREEN","fired":[],"methods":["OTP_SMS"]}}\n' "$line"
done <"$T/canary.jsonl" >"$T/canary.tests.jsonl"
run test -v --rules "$RULES" --config "$CONFIG" "$T/canary.tests.jsonl"
cat "$T/out" "$T/err" >>"$T/canary.all"
check "canary: the test runner saw the cases fail" bash -c '[ "$1" -eq 1 ] && grep -q "^FAIL" "$2"' _ "$rc" "$T/out"
for secret in "$PAN" 4155551234 jane.doe; do
	if grep -q -e "$secret" "$T/canary.all"; then
		bad "canary: '$secret' appears nowhere in stdout or stderr" "$(grep -e "$secret" "$T/canary.all" | head -3 | cut -c1-300)"
	else
		ok "canary: '$secret' appears nowhere in stdout or stderr"
	fi
done
check "canary: no raw CSC in any output" bash -c '! grep -q "\"csc\"" "$1"' _ "$T/canary.all"

# ---- command line --------------------------------------------------------------------
run frobnicate
check "an unknown command exits 2" rc_is 2
check "an unknown command is named on stderr" err_has "frobnicate"
run
check "no command is a usage error (exit 2)" rc_is 2
run version
check "version prints the version" bash -c '[ "$1" -eq 0 ] && grep -q "^stepup [0-9]" "$2"' _ "$rc" "$T/out"
run --help
check "--help prints the usage on stdout" bash -c '[ "$1" -eq 0 ] && grep -q "usage: stepup" "$2"' _ "$rc" "$T/out"
run compile "$RULES" --bogus -o x
check "compile with an unknown option exits 2" rc_is 2

# ---- plugins: rule functions (plugins/geo) ------------------------------------------
# GEO_PLUGIN_DIR: the folder of the built geo.so (set by make check).
if [ -n "${GEO_PLUGIN_DIR:-}" ] && [ -f "$GEO_PLUGIN_DIR/geo.so" ]; then
	cat >"$T/geo.rules" <<'RULES'
ruleset "geo-cli"
method OTP_SMS          when end_user.phone is present
method CUSTOMER_SERVICE always

rule risky_country "The device is in a high-risk country"
  when geo.country_risk(wallet.device_country) >= 50
  then step_up only CUSTOMER_SERVICE line FRAUD
RULES
	printf '{"plugins":{"path":["%s"],"load":[{"module":"geo","isolation":"inline","config":%s}]}}\n' \
		"$GEO_PLUGIN_DIR" "$(cat "$SRCDIR/plugins/geo/geo.example.json")" >"$T/plugins.json"
	# One file for both: issuer settings and plugins.
	printf '{"issuer":{"customer_service":{"standard":"+1-800-555-0100","fraud":"+1-800-555-0199"}},%s\n' \
		"$(tail -c +2 "$T/plugins.json")" >"$T/both.json"
	printf '{"request_id":"g1","wallet":{"device_country":"NG"}}\n{"request_id":"g2","wallet":{"device_country":"US"}}\n' \
		>"$T/geo.jsonl"

	run check "$T/geo.rules"
	check "check without plugins refuses a plugin call" rc_is 1
	check "... at file:line:col" err_has "geo.rules:6:8: error: unknown function 'geo.country_risk' (no loaded plugin provides it)"
	run check --plugins "$T/plugins.json" "$T/geo.rules"
	check "check --plugins accepts the plugin call" rc_is 0
	sed -e 's/country_risk(wallet.device_country)/country_risk(card.active_tokens)/' "$T/geo.rules" >"$T/geo-bad.rules"
	run check --plugins "$T/plugins.json" "$T/geo-bad.rules"
	check "check --plugins types the arguments" \
		bash -c '[ "$1" -eq 1 ] && grep -q "geo-bad.rules:6:25: error: argument 1 of geo.country_risk: expected string, got integer" "$2"' _ "$rc" "$T/err"
	run check --plugins "$T/nonexistent.json" "$T/geo.rules"
	check "check --plugins with a missing file exits 2" rc_is 2
	run compile --plugins "$T/plugins.json" "$T/geo.rules" -o "$T/geo.bundle" -S
	check "compile --plugins writes a bundle" rc_is 0
	check "compile -S lists the imports" out_has "^import 0: geo.country_risk(s->i)$"
	check "compile -S shows the call" out_has "V_PCALL *geo.country_risk/1 (s->i)"

	run eval --rules "$T/geo.bundle" --config "$T/both.json" "$T/geo.jsonl"
	check "eval: plugins from the --config file" \
		bash -c '[ "$1" -eq 0 ] && [ "$(grep -c "\"decision\":\"YELLOW\".*\"line\":\"FRAUD\".*risky_country" "$2")" -eq 1 ] &&
			grep -q "\"request_id\":\"g2\".*\"decision\":\"GREEN\"" "$2"' _ "$rc" "$T/out"
	run eval --rules "$T/geo.rules" --config "$CONFIG" --plugins "$T/plugins.json" "$T/geo.jsonl"
	check "eval: sources with --plugins" bash -c '[ "$1" -eq 0 ] && grep -q "risky_country" "$2"' _ "$rc" "$T/out"
	run eval --rules "$T/geo.bundle" --config "$CONFIG" "$T/geo.jsonl"
	check "eval: a bundle importing functions without plugins is refused" rc_is 2
	check "... naming the import" err_has "ruleset imports geo.country_risk(s->i): no plugins are loaded"
	head -1 "$T/geo.jsonl" >"$T/g1.json"
	run explain --rules "$T/geo.bundle" --config "$T/both.json" "$T/g1.json"
	check "explain quotes the call and its value" \
		bash -c '[ "$1" -eq 0 ] && grep -q "TRUE *geo.country_risk(wallet.device_country) >= 50" "$2"' _ "$rc" "$T/out"
	printf '{"name":"risky","request":{"request_id":"t1","wallet":{"device_country":"NG"}},"expect":{"decision":"YELLOW","fired":["risky_country"],"line":"FRAUD"}}\n' \
		>"$T/geo.tests.jsonl"
	run test --rules "$T/geo.rules" --config "$T/both.json" "$T/geo.tests.jsonl"
	check "test: rule tests with plugin calls" bash -c '[ "$1" -eq 0 ] && grep -q "^1 passed, 0 failed" "$2"' _ "$rc" "$T/out"
else
	skip "plugins: GEO_PLUGIN_DIR has no geo.so"
fi

# ---- the same decisions as the release before the schema became data -------
# tests/data/legacy holds 1,205 requests and what stepup 0.1.0 (bundle
# format 2, the schema in C) answered on them, byte for byte but the
# decision ids: the default rules, a ruleset quoting codes of its own, and
# explain output; and the bundles it wrote, which must still decide so.
LEG=$SRCDIR/tests/data/legacy
norm_ids() { sed -E 's/"decision_id":"dcs_[0-9A-Z]{16}"/"decision_id":"dcs_X"/' "$1"; }
for pair in "$RULES:default" "$LEG/default.v2.bundle:default" "$LEG/v2.rules:v2" "$LEG/v2.bundle:v2"; do
	src=${pair%:*}
	run eval --rules "$src" --config "$CONFIG" "$LEG/requests.jsonl"
	norm_ids "$T/out" >"$T/norm"
	if cmp -s "$T/norm" "$LEG/${pair##*:}.expected.jsonl"; then
		ok "$(basename "$src"): the same 1,205 answers as stepup 0.1.0"
	else
		bad "$(basename "$src"): answers differ from stepup 0.1.0" \
			"$(diff "$LEG/${pair##*:}.expected.jsonl" "$T/norm" | head -6 | cut -c1-300)"
	fi
done
head -60 "$LEG/requests.jsonl" >"$T/r60.jsonl"
run eval --explain --rules "$RULES" --config "$CONFIG" "$T/r60.jsonl"
norm_ids "$T/out" >"$T/norm"
check "explain output: the same as stepup 0.1.0's on 60 requests" cmp -s "$T/norm" "$LEG/default.explain.expected.jsonl"

# ---- the schema: fields declared in the language (docs/schema.md) ------------
run test --rules "$DATA/schema/age.rules" --config "$CONFIG" "$DATA/schema/age.tests.jsonl"
check "a declared field: stepup test proves the rule fires at 29 days, not at 30" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^3 passed, 0 failed$" "$2"' _ "$rc" "$T/out"
printf '{"request_id":"bad","wallet":{"account_age_days":"abc"}}\n' >"$T/abc.json"
run eval --rules "$DATA/schema/age.rules" "$T/abc.json"
check "a declared field: \"abc\" for an int is a 400 naming the field" \
	bash -c '[ "$1" -eq 1 ] && grep -q "\"field\":\"wallet.account_age_days\"" "$2"' _ "$rc" "$T/out"
run schema
check "stepup schema lists the default fields with roles" \
	bash -c '[ "$1" -eq 0 ] && grep -q "^card.bin  *string" "$2" && grep -q "role contact OTP_SMS" "$2"' _ "$rc" "$T/out"
run schema --rules "$DATA/schema/age.rules" --json
check "stepup schema --json is JSON with the declared field" \
	bash -c '[ "$1" -eq 0 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert any(f[\"path\"]==\"wallet.account_age_days\" for f in d[\"fields\"])" "$2"' _ "$rc" "$T/out"
# docs/language.md §6 carries the table stepup schema prints from the
# default schema file: regenerate it with `make update-schema-docs`.
run schema --format markdown
awk '/<!-- schema:begin/{on=1; next} /<!-- schema:end/{on=0} on' "$SRCDIR/docs/language.md" >"$T/doc-table.md"
if cmp -s "$T/out" "$T/doc-table.md"; then
	ok "docs/language.md's field table is the default schema's (rules/schema/tokenization.rules)"
else
	bad "docs/language.md's field table is stale: run make update-schema-docs" "$(diff "$T/doc-table.md" "$T/out" | head -20)"
fi

# ---- the minimal plugin of docs/plugins.md, built as the docs say ----------
# The walkthrough's code is compiled from the page itself, so the page
# cannot drift from the ABI.
awk '/^\/\* mini.c: /,/^};$/' "$SRCDIR/docs/plugins.md" >"$T/mini.c"
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
	-I"$SRCDIR/include" "$T/mini.c" -o "$T/mini.so" 2>"$T/err"; then
	ok "the minimal plugin of docs/plugins.md builds with -Wall -Wextra -Werror"
	printf '{"issuer":{"customer_service":{"standard":"+1-800-555-0100"}},"plugins":{"load":[{"module":"%s/mini.so"}],"methods":{"OTP_SMS":"mini"}}}\n' \
		"$T" >"$T/mini.json"
	sed 's/+14155551234/+33612345678/' "$SRCDIR/tests/data/sample-request.json" >"$T/fr.json"
	run eval --rules "$RULES" --config "$T/mini.json" "$T/fr.json"
	check "minimal plugin: a +33 number keeps OTP_SMS" \
		bash -c '[ "$1" -eq 0 ] && grep -q "\"type\":\"OTP_SMS\",\"value\":\"+33 \*\*\* \*\*\* 5678\"" "$2"' _ "$rc" "$T/out"
	run eval --rules "$RULES" --config "$T/mini.json" "$SRCDIR/tests/data/sample-request.json"
	check "minimal plugin: a +1 number loses OTP_SMS, the rest stays" \
		bash -c '[ "$1" -eq 0 ] && ! grep -q OTP_SMS "$2" && grep -q "\"type\":\"OTP_EMAIL\"" "$2"' _ "$rc" "$T/out"
	run explain --json --rules "$RULES" --config "$T/mini.json" "$SRCDIR/tests/data/sample-request.json"
	check "minimal plugin: explain names the plugin that dropped OTP_SMS" \
		out_has '"plugin":"mini: can_deliver: unavailable"'
else
	bad "the minimal plugin of docs/plugins.md builds" "$(head -c 600 "$T/err")"
fi

# ---- change control: diff, replay, signed bundles (issue 13) --------------
. "$DATA/change-control.sh"

echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
