# bench/daemon/lib.sh: what the daemon benchmarks share (run.sh, mdes.sh):
# their options, the scratch directory, starting and stopping a server on
# a free loopback port, one wrk measurement with post.lua, and the
# arithmetic of the reports. Sourced, not run.
#
# Set before sourcing: `me` (the script's name, for messages) and the
# defaults of duration connections threads rounds nreq pause; then
# `bench_options "$@"` parses the common flags into them.

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=$PWD

bench_options() {
	while [ $# -gt 0 ]; do
		case $1 in
		--builddir) builddir=$2; shift 2 ;;
		--srcdir) srcdir=$2; shift 2 ;;
		--duration) duration=$2; shift 2 ;;
		--connections) connections=$2; shift 2 ;;
		--threads) threads=$2; shift 2 ;;
		--rounds) rounds=$2; shift 2 ;;
		--requests) nreq=$2; shift 2 ;;
		--pause) pause=$2; shift 2 ;;
		*) echo "usage: $me [--builddir B] [--srcdir S] [--duration SECONDS] [--connections N]" \
		        "[--threads N] [--rounds N] [--requests N] [--pause MS]" >&2; exit 2 ;;
		esac
	done
	command -v wrk >/dev/null || { echo "$me: wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }
}

# A scratch directory in $work, removed (and the server stopped) on exit.
bench_workdir() {  # bench_workdir NAME
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	pid=
	trap bench_cleanup EXIT
}

bench_cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}

# Start COMMAND..., which must write its port to $work/port (--port-file);
# sets pid and port. Its stderr goes to $work/server.log.
start_server() {  # start_server NAME COMMAND...
	local name=$1; shift
	rm -f "$work/port"
	"$@" 2>>"$work/server.log" &
	pid=$!
	for _ in $(seq 200); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	[ -s "$work/port" ] || { echo "$me: $name did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
	port=$(cat "$work/port")
}

stop_server() {
	kill "$pid"
	wait "$pid" || { echo "$me: server exited with status $?" >&2; cat "$work/server.log" >&2; exit 1; }
	pid=
}

# One wrk run of post.lua; prints its RESULT line.
measure() {  # measure SECONDS FILE PAUSE_MS [PATH [fresh-ids]]
	local secs=$1; shift
	wrk -t"$threads" -c"$connections" -d"$secs"s --timeout 5s -s "$srcdir/bench/daemon/post.lua" \
		"http://127.0.0.1:$port" -- "$@" | grep '^RESULT'
}

field() {  # field RESULT_LINE NAME
	sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<< "$1"
}

ms() {  # microseconds -> milliseconds, 2 decimals
	awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'
}

median() {  # median of the numbers in $@
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
