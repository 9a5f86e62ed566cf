#!/bin/bash
# tests/mdes/worked_example.sh: docs/mdes.md's worked example ("Try it",
# the sh blocks between <!-- worked-example:begin --> and :end), run as
# written, in a copy of the files it uses laid out as a fresh clone leaves
# them: every file mode 0644 (git keeps no modes; the private keys too),
# build/ the build tree. Only the ports change (8080, 9101-9103 of
# daemon/stepupd.mdes.example.json and of the commands), to free ones:
# other tests may run beside this one.
#
# Run by `make check` with STEPUP and SRCDIR in the environment; by hand:
#   STEPUP=$PWD/stepup SRCDIR=/path/to/src bash tests/mdes/worked_example.sh
# Exit status 0, 1 (a check failed: what the commands printed follows),
# 77 (skipped: no curl or python3), 99 (could not set up).
set -u

STEPUP=${STEPUP:-}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -x "$STEPUP" ] || { echo "worked_example.sh: set STEPUP to the built stepup" >&2; exit 99; }
BUILDDIR=$(cd "$(dirname "$STEPUP")" && pwd)
command -v curl >/dev/null && command -v python3 >/dev/null || { echo "skip: needs curl and python3"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/stepup-worked.XXXXXX") || exit 99
clone=$T/clone
cleanup() {
	[ -d "$clone" ] && (cd "$clone" && bash tools/mdes-demo.sh stop >/dev/null 2>&1)
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

# The files of the example, as a clone has them.
umask 022
mkdir -p "$clone/daemon" "$clone/tools" "$clone/rules" "$clone/tests/data" || exit 99
cp -r "$SRCDIR/tests/data/mdes" "$clone/tests/data/" &&
	cp "$SRCDIR/daemon/stepupd.mdes.example.json" "$clone/daemon/" &&
	cp "$SRCDIR/tools/mdes-demo.sh" "$clone/tools/" &&
	cp "$SRCDIR/rules/mdes.rules" "$clone/rules/" &&
	ln -s "$BUILDDIR" "$clone/build" || exit 99
find "$clone/tests" "$clone/daemon" "$clone/rules" -type f -exec chmod 644 {} + && chmod 755 "$clone/tools/mdes-demo.sh" || exit 99

# Four free ports, in place of the example's.
read -r p0 p1 p2 p3 < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss:
    s.close()') || exit 99
ports="s/:8080/:$p0/g; s/:9101/:$p1/g; s/:9102/:$p2/g; s/:9103/:$p3/g"
sed -i "$ports" "$clone/daemon/stepupd.mdes.example.json" || exit 99

# The commands of the doc, as written (ports aside).
awk '/<!-- worked-example:begin -->/ { on = 1; next } /<!-- worked-example:end -->/ { on = 0 }
     on && /^```sh$/ { sh = 1; next } sh && /^```$/ { sh = 0; next } sh' "$SRCDIR/docs/mdes.md" |
	sed "$ports" >"$T/example.sh"
[ "$(grep -c . "$T/example.sh")" -gt 10 ] || { echo "worked_example.sh: no worked example in docs/mdes.md" >&2; exit 99; }

(cd "$clone" && bash "$T/example.sh") >"$T/out" 2>"$T/err"
rc=$?

failed=0
check() {  # check DESC COMMAND...
	local desc=$1
	shift
	if "$@"; then echo "ok - $desc"; else echo "FAIL - $desc"; failed=1; fi
}
# What the doc shows, and what it says happened.
check "the commands ran (exit status $rc)" [ "$rc" -eq 0 ]
check "the keys were 0644 in the clone, the demo's copies 0600" \
	bash -c '[ "$(stat -c %a "$1/tests/data/mdes/issuer-key.pem")" = 644 ] && [ "$(stat -c %a "$1/mdes-demo/issuer-key.pem")" = 600 ]' _ "$clone"
check "authorizeService: a step-up with the SMS, the e-mail and the call centre" \
	grep -q '"decision":"REQUIRE_ADDITIONAL_AUTHENTICATION","activationMethods":\[{"type":"TEXT_TO_CARDHOLDER_NUMBER","value":"+1 \*\*\* \*\*\* 1234"}' "$T/out"
check "the CVC2 matched at the issuer" grep -q '"cvcResponse":"MATCH"' "$T/out"
check "deliverActivationCode: Mastercard's code reached the SMS gateway" \
	grep -q '"text":"K7M2Q9 is your Example Bank code to add your card ending 4444' "$T/out"
for _ in $(seq 100); do grep -q case.activated "$clone"/mdes-demo/hook/*.http 2>/dev/null && break; sleep 0.1; done
check "notifyServiceActivated: the webhook says case.activated" \
	bash -c 'grep -q "\"event\":\"case.activated\"" "$1"/mdes-demo/hook/*.http' _ "$clone"
check "the code the issuer made was checked: SUCCESS" grep -q '"result":"SUCCESS"' "$T/out"
check "no card number in what was printed" bash -c '! grep -q 5555555555554444 "$1"' _ "$T/out"
check "stepupd stopped" bash -c '[ ! -f "$1/mdes-demo/pids" ]' _ "$clone"
if [ "$failed" -ne 0 ]; then
	echo "--- the commands"; cat "$T/example.sh"
	echo "--- their output"; cat "$T/out"
	echo "--- their errors"; cat "$T/err"
	echo "--- stepupd's log"; tail -20 "$clone/mdes-demo/stepupd.log" 2>/dev/null
	exit 1
fi
echo "docs/mdes.md's worked example runs from a fresh clone"
