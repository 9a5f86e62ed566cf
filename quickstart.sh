#!/bin/bash
# quickstart.sh: set up a fresh Debian 12 machine and run stepup.
#
#   ./quickstart.sh demo   install dependencies, build, decide a sample request
#   ./quickstart.sh mdes-demo
#                          install dependencies, build, then run docs/mdes.md's
#                          worked example: stepupd answering Mastercard MDES on
#                          the test keys (copied to mdes-demo/ with mode 0600 by
#                          tools/mdes-demo.sh), a step-up, a code, an activation
#   ./quickstart.sh test   install dependencies, run every test: a normal build
#                          (make check), the same tests under valgrind, and again
#                          in a -fsanitize=address,undefined build
#
# Builds happen out of tree in build/ and build-asan/. Installing packages
# needs root (or sudo); set STEPUP_SKIP_APT=1 to skip that step.
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Debian packages the build and the tests need, one per line (shared with .ci/run).
mapfile -t DEPS < .ci/packages.txt

install_deps() {
	[ "${STEPUP_SKIP_APT:-0}" = 1 ] && return 0
	local missing=()
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	echo "==> installing: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

bootstrap() {
	[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
}

build() {  # build DIR [configure args...]
	local dir=$1; shift
	mkdir -p "$dir"
	( cd "$dir"
	  [ -f Makefile ] || "$top/configure" -q "$@"
	  make -j"$(nproc)" >/dev/null )
}

# The daemon on the shipped default rules, with the reference customer-service
# router built in the tree, on a free loopback port: one decision over HTTP,
# readiness, a few metrics, then a graceful stop.
demo_daemon() {
	local port
	demo_dir=$(mktemp -d)
	demo_pid=
	trap '[ -n "${demo_pid:-}" ] && kill "$demo_pid" 2>/dev/null; rm -rf "${demo_dir:-/nonexistent}"' EXIT
	cat >"$demo_dir/stepupd.json" <<JSON
{
  "listen": "127.0.0.1:0",
  "rules": "$top/rules/default.rules",
  "decision_log": { "path": "$demo_dir/decisions.log" },
  "log": { "level": "info" },
  "plugins": {
    "path": ["$top/build/plugins/.libs"],
    "load": [ { "module": "cs_router", "name": "cs", "trusted": true, "isolation": "inline",
                "config": { "default": { "standard": "+1-800-555-0100", "fraud": "+1-800-555-0199",
                                         "hours": "24/7" } } } ],
    "methods": { "CUSTOMER_SERVICE": "cs" }
  },
  "issuer": { "name": "Example Bank", "app_id": "com.examplebank.mobile" }
}
JSON
	echo "==> stepupd --check-config"
	build/stepupd -c "$demo_dir/stepupd.json" --check-config
	echo "==> stepupd on the default rules and the cs_router plugin"
	build/stepupd -c "$demo_dir/stepupd.json" --port-file "$demo_dir/port" 2>"$demo_dir/stderr.log" &
	demo_pid=$!
	for _ in $(seq 50); do [ -s "$demo_dir/port" ] && break; sleep 0.1; done
	port=$(cat "$demo_dir/port")
	echo "==> GET http://127.0.0.1:$port/health/ready"
	curl -sS "http://127.0.0.1:$port/health/ready"; echo
	echo "==> POST http://127.0.0.1:$port/v1/decisions (tests/data/sample-request.json)"
	curl -sS -H 'Content-Type: application/json' --data-binary @tests/data/sample-request.json \
		"http://127.0.0.1:$port/v1/decisions"; echo
	echo "==> GET /metrics (decisions)"
	curl -sS "http://127.0.0.1:$port/metrics" | grep -E '^stepupd_decisions_total' || true
	kill -TERM "$demo_pid"
	wait "$demo_pid" || true
	demo_pid=
	echo "==> decision log (no card data, no contact data)"
	cat "$demo_dir/decisions.log"
}

# docs/mdes.md's worked example, command by command (tests/mdes/worked_example.sh
# runs the same commands in make check).
mdes_demo() {
	awk '/<!-- worked-example:begin -->/ { on = 1; next } /<!-- worked-example:end -->/ { on = 0 }
	     on && /^```sh$/ { sh = 1; next } sh && /^```$/ { sh = 0; next } sh' docs/mdes.md >build/mdes-demo.sh
	trap 'tools/mdes-demo.sh stop' EXIT
	bash -x build/mdes-demo.sh
	echo
	echo "==> what the receivers got is in mdes-demo/ (sms, mail, hook); tools/mdes-demo.sh start serves it again"
}

case "${1:-demo}" in
mdes-demo)
	install_deps
	bootstrap
	build build
	mdes_demo
	;;
demo)
	install_deps
	bootstrap
	build build
	echo "==> stepup check rules/default.rules"
	build/stepup check rules/default.rules
	echo "==> a sample request through the default policy"
	build/stepup eval --rules rules/default.rules --config rules/issuer.example.json \
		tests/data/sample-request.json
	echo "==> why that decision"
	build/stepup explain --rules rules/default.rules --config rules/issuer.example.json \
		tests/data/sample-request.json
	demo_daemon
	;;
test)
	install_deps
	bootstrap
	echo "==> build and make check"
	build build
	make -C build -j"$(nproc)" check || { cat build/test-suite.log 2>/dev/null | tail -50; exit 1; }
	echo "==> unit tests under valgrind"
	make -C build check-valgrind
	echo "==> sanitizer build (address, undefined) and make check"
	build build-asan --enable-sanitizers
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -C build-asan -j"$(nproc)" check || { cat build-asan/test-suite.log 2>/dev/null | tail -50; exit 1; }
	# One closing line for people and CI: individual cmocka test cases and
	# CLI checks of both builds, from the automake logs.
	passed=0 failed=0
	for log in build/tests/unit/*.log build-asan/tests/unit/*.log \
		build/tests/daemon/*.log build-asan/tests/daemon/*.log; do
		case $log in *.valgrind.log) continue ;; esac
		# A binary may run several cmocka groups: add them all up.
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | awk '{s += $1} END {print s + 0}')
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
		passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
	done
	for log in build/tests/cli/run.sh.log build-asan/tests/cli/run.sh.log; do
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		passed=$((passed + ${line%% passed*}))
		f=${line#*passed, }; failed=$((failed + ${f%% failed*}))
	done
	echo "==> all tests passed (normal build, valgrind, ASan+UBSan build)"
	echo "$passed passed, $failed failed"
	;;
*)
	echo "usage: $0 [demo|mdes-demo|test]" >&2
	exit 2
	;;
esac
