#!/bin/bash
# tools/mdes-demo.sh: stepupd answering Mastercard MDES on the test keys,
# from a fresh clone (docs/mdes.md, "Try it"). Run from the repository's
# root after building into build/ (./quickstart.sh demo builds).
#
#   tools/mdes-demo.sh keys    the test keys copied to mdes-demo/ with mode 0600
#                              (git keeps no file modes, and stepupd refuses a
#                              private key that others can read)
#   tools/mdes-demo.sh start   keys, then the SMS gateway, mail server and
#                              webhook receivers (build/tests/servers/sinkd,
#                              writing what they get to mdes-demo/sms, mail,
#                              hook) and stepupd on daemon/stepupd.mdes.example.json,
#                              in the background; waits until it is ready
#   tools/mdes-demo.sh stop    stops them (mdes-demo/ stays, to look at)
#   tools/mdes-demo.sh clean   stop, and mdes-demo/ removed
#
# Ports and files are the example configuration's: stepupd on the port
# of its "listen", the receivers on those of its plugin URLs and webhook.
# STEPUP_BUILD names another build directory (default build).
set -euo pipefail

build=${STEPUP_BUILD:-build}
config=daemon/stepupd.mdes.example.json
demo=mdes-demo
data=tests/data/mdes
me=tools/mdes-demo.sh

[ -f "$config" ] && [ -d "$data" ] || { echo "$me: run it from the repository's root" >&2; exit 2; }

keys() {
	# Our own directory, readable by us only, and the secrets in it 0600.
	mkdir -p "$demo"
	chmod 700 "$demo"
	for f in issuer-key.pem account-key activation-code-key; do
		install -m 600 "$data/$f" "$demo/$f"
	done
}

# The port of URL-ish text in the configuration after `key`.
port_of() {  # port_of PATTERN
	grep -o "$1" "$config" | head -1 | sed 's/.*:\([0-9]*\).*/\1/'
}

stop() {
	[ -f "$demo/pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done <"$demo/pids"
	while read -r pid; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	done <"$demo/pids"
	rm -f "$demo/pids"
}

start() {
	for f in "$build/stepupd" "$build/stepup" "$build/tests/servers/sinkd" "$build/plugins/.libs/account_file.so"; do
		[ -e "$f" ] || { echo "$me: $f missing: build first (./quickstart.sh demo, or make in $build)" >&2; exit 2; }
	done
	stop
	keys
	local listen sms smtp hook
	listen=$(port_of '"listen": *"127.0.0.1:[0-9]*"')
	sms=$(port_of 'http://127.0.0.1:[0-9]*/sms')
	smtp=$(port_of 'smtp://127.0.0.1:[0-9]*')
	hook=$(port_of 'http://127.0.0.1:[0-9]*/hooks')
	rm -rf "$demo/sms" "$demo/mail" "$demo/hook" "$demo/cases.db"* "$demo/decisions.log"
	mkdir -p "$demo/sms" "$demo/mail" "$demo/hook"
	"$build/tests/servers/sinkd" http --port "$sms" --out "$demo/sms" 2>>"$demo/sinks.log" &
	echo $! >>"$demo/pids"
	"$build/tests/servers/sinkd" smtp --port "$smtp" --out "$demo/mail" 2>>"$demo/sinks.log" &
	echo $! >>"$demo/pids"
	"$build/tests/servers/sinkd" http --port "$hook" --out "$demo/hook" 2>>"$demo/sinks.log" &
	echo $! >>"$demo/pids"
	"$build/stepupd" -c "$config" 2>"$demo/stepupd.log" &
	echo $! >>"$demo/pids"
	for _ in $(seq 200); do
		curl -sf "http://127.0.0.1:$listen/health/ready" >/dev/null 2>&1 && {
			echo "stepupd serves MDES on http://127.0.0.1:$listen/mdes (log: $demo/stepupd.log)"
			return 0
		}
		sleep 0.05
	done
	echo "$me: stepupd did not become ready:" >&2
	tail -5 "$demo/stepupd.log" >&2
	stop
	exit 1
}

case ${1:-} in
keys) keys ;;
start) start ;;
stop) stop ;;
clean) stop; rm -rf "$demo" ;;
*) echo "usage: $me keys|start|stop|clean" >&2; exit 2 ;;
esac
