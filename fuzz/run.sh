#!/bin/bash
# fuzz/run.sh [SECONDS] [TARGET]: build and run the libFuzzer targets.
#
#   SECONDS  fuzzing time per target (default 600). 0 = build, then replay
#            the seeds and fuzz/regressions/ once without fuzzing (a quick
#            regression run; exits non-zero if any input crashes).
#   TARGET   compile | fmt | request | lifecycle | facts | mdes | index | all (default all;
#            run one after the other)
#
# Environment:
#   FUZZ_BUILD  build/work directory (default ${TMPDIR:-/tmp}/stepup-fuzz).
#               Objects, the working corpora (kept between runs), logs and
#               crash artifacts go there, never into the source tree.
#   CC          clang (default clang)
#   FUZZ_JOBS   libFuzzer -jobs/-workers (default 1)
#   FUZZ_CFLAGS extra compiler flags, e.g. -fno-sanitize=nonnull-attribute to
#               fuzz past a known UBSan report while it is being fixed
#
# The library is compiled straight from dsl/*.c and engine/*.c plus the
# bison/flex outputs (generated into $FUZZ_BUILD/gen), with
# -fsanitize=fuzzer,address,undefined -g -O1, and linked with jansson and
# libcrypto; fuzz_lifecycle adds lifecycle/*.c with SQLite and libcurl, and
# its fake channel plugin (fuzz_lifecycle.c built with -DFUZZ_CHANNEL). See
# fuzz/README.md.
set -u

SECONDS_PER_TARGET=${1:-600}
TARGET=${2:-all}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FUZZ_BUILD:-${TMPDIR:-/tmp}/stepup-fuzz}
CC=${CC:-clang}
JOBS=${FUZZ_JOBS:-1}

usage="usage: $0 [SECONDS] [compile|fmt|request|lifecycle|facts|mdes|index|all]"
case "$SECONDS_PER_TARGET" in *[!0-9]*|'') echo "$usage" >&2; exit 2 ;; esac
case "$TARGET" in
compile|fmt|request|lifecycle|facts|mdes|index) TARGETS=$TARGET ;;
all) TARGETS="compile fmt request lifecycle facts mdes index" ;;
*) echo "$usage" >&2; exit 2 ;;
esac

die() { echo "fuzz/run.sh: $*" >&2; exit 2; }
command -v "$CC" >/dev/null || die "$CC not found (clang with libFuzzer is required)"
command -v bison >/dev/null || die "bison not found"
command -v flex >/dev/null || die "flex not found"

mkdir -p "$BUILD/gen" "$BUILD/obj" || die "cannot create $BUILD"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 $SAN ${FUZZ_CFLAGS:-}"
INC="-I$SRC/include -I$SRC/engine -I$SRC/dsl -I$BUILD/gen"
LIBS="-ljansson -lcrypto -lffi -ldl -lpthread -lm"

# ---- build -----------------------------------------------------------------
echo "== building in $BUILD"
bison -Wall -Wno-yacc --defines="$BUILD/gen/parser.h" -o "$BUILD/gen/parser.c" "$SRC/dsl/parser.y" ||
	die "bison failed"
flex --header-file="$BUILD/gen/lexer.h" -o "$BUILD/gen/lexer.c" "$SRC/dsl/lexer.l" || die "flex failed"
sh "$SRC/tools/embed-schema.sh" "$SRC/rules/schema/tokenization.rules" "$BUILD/gen/schema_text.c" ||
	die "embedding the default schema failed"
sh "$SRC/tools/embed-schema.sh" "$SRC/rules/schema/mdes.rules" "$BUILD/gen/schema_mdes_text.c" su_schema_mdes ||
	die "embedding the MDES schema failed"

OBJS=()
for f in "$SRC"/dsl/*.c "$SRC"/engine/*.c "$BUILD/gen/parser.c" "$BUILD/gen/lexer.c" "$BUILD/gen/schema_text.c" "$BUILD/gen/schema_mdes_text.c"; do
	o="$BUILD/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
	"$CC" $CFLAGS -fsanitize=fuzzer-no-link $INC -c "$f" -o "$o" || die "compiling $f failed"
	OBJS+=("$o")
done
# What the targets share (fuzz/common.c), then the targets themselves.
"$CC" $CFLAGS -fsanitize=fuzzer-no-link $INC -c "$SRC/fuzz/common.c" -o "$BUILD/obj/fuzz_common.o" ||
	die "compiling fuzz/common.c failed"
for t in compile fmt request facts; do
	"$CC" $CFLAGS -fsanitize=fuzzer $INC \
		-DFUZZ_RULES="\"$SRC/rules/default.rules\"" -DFUZZ_SETTINGS="\"$SRC/rules/issuer.example.json\"" \
		"$SRC/fuzz/fuzz_$t.c" "$BUILD/obj/fuzz_common.o" "${OBJS[@]}" $LIBS -o "$BUILD/fuzz_$t" ||
		die "linking fuzz_$t failed"
done
# The index target: a differential check over internal headers
# (fuzz/index_diff.c, shared with tests/unit/test_index.c).
"$CC" $CFLAGS -fsanitize=fuzzer $INC "$SRC/fuzz/fuzz_index.c" "$SRC/fuzz/index_diff.c" "$BUILD/obj/fuzz_common.o" \
	"${OBJS[@]}" $LIBS -o "$BUILD/fuzz_index" || die "linking fuzz_index failed"
# The lifecycle target: lifecycle/*.c on top, SQLite and libcurl, and its
# fake channel as a plugin in $BUILD (plain, like any plugin the host
# dlopen()s; it records nothing itself, it hands what it gets to the target).
LC_OBJS=()
for f in "$SRC"/lifecycle/*.c; do
	o="$BUILD/obj/lifecycle_$(basename "$f" .c).o"
	"$CC" $CFLAGS -fsanitize=fuzzer-no-link $INC -I"$SRC/lifecycle" -c "$f" -o "$o" || die "compiling $f failed"
	LC_OBJS+=("$o")
done
"$CC" -std=c11 -D_GNU_SOURCE -g -O1 -fPIC -shared -fvisibility=hidden -I"$SRC/include" -DFUZZ_CHANNEL \
	"$SRC/fuzz/fuzz_lifecycle.c" -o "$BUILD/fuzz_lifecycle_channel.so" || die "building the fake channel failed"
"$CC" $CFLAGS -fsanitize=fuzzer $INC \
	-DFUZZ_RULES="\"$SRC/rules/default.rules\"" -DFUZZ_SETTINGS="\"$SRC/rules/issuer.example.json\"" \
	-DFUZZ_REQUEST="\"$SRC/tests/data/sample-request.json\"" -DFUZZ_CHANNEL_DIR="\"$BUILD\"" \
	"$SRC/fuzz/fuzz_lifecycle.c" "$BUILD/obj/fuzz_common.o" "${LC_OBJS[@]}" "${OBJS[@]}" \
	$LIBS -lsqlite3 -lcurl -o "$BUILD/fuzz_lifecycle" || die "linking fuzz_lifecycle failed"

# The MDES target: stepupd's daemon/mdes files that read what MDES sends
# (fuzz/fuzz_mdes.c), on the library.
MDES_OBJS=()
for f in "$SRC"/daemon/mdes/spec.c "$SRC"/daemon/mdes/spec_table.c "$SRC"/daemon/mdes/crypto.c \
	"$SRC"/daemon/mdes/facts.c "$SRC"/daemon/mdes/answer.c "$SRC"/daemon/mdes/account_info.c \
	"$SRC"/daemon/util.c; do
	o="$BUILD/obj/mdes_$(basename "$f" .c).o"
	"$CC" $CFLAGS -fsanitize=fuzzer-no-link $INC -c "$f" -o "$o" || die "compiling $f failed"
	MDES_OBJS+=("$o")
done
"$CC" $CFLAGS -fsanitize=fuzzer $INC -DFUZZ_DATA="\"$SRC/tests/data/mdes\"" \
	-DFUZZ_MDES_RULES="\"$SRC/rules/mdes.rules\"" "$SRC/fuzz/fuzz_mdes.c" "${MDES_OBJS[@]}" "${OBJS[@]}" \
	$LIBS -o "$BUILD/fuzz_mdes" || die "linking fuzz_mdes failed"

# A small helper that compiles rule files to bundles, to seed the bundle
# mode of fuzz_compile (inputs starting with the bundle magic).
cat >"$BUILD/gen/mkbundle.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <stepup/stepup.h>
int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		stepup_compiler *c = stepup_compiler_new();
		stepup_ruleset *rs = NULL;
		char err[256];
		stepup_compiler_add_file(c, argv[i]);
		if (stepup_compiler_compile(c, &rs) == 0)
			stepup_ruleset_save(rs, argv[i + 1], err, sizeof(err));
		stepup_ruleset_unref(rs);
		stepup_compiler_free(c);
	}
	return 0;
}
EOF
"$CC" $CFLAGS $INC "$BUILD/gen/mkbundle.c" "${OBJS[@]}" $LIBS -o "$BUILD/mkbundle" || die "linking mkbundle failed"

# ---- corpora ---------------------------------------------------------------
# Working corpora live in $BUILD/corpus-<target> and grow across runs; the
# checked-in seeds and regression inputs are copied in every time.
seed() {
	local t=$1 dir=$BUILD/corpus-$1
	mkdir -p "$dir" "$BUILD/seeds-$t"
	rm -f "$BUILD/seeds-$t"/*
	[ -d "$SRC/fuzz/corpus/$t" ] && cp "$SRC/fuzz/corpus/$t"/* "$BUILD/seeds-$t/" 2>/dev/null
	if [ -d "$SRC/fuzz/regressions" ]; then
		for f in "$SRC/fuzz/regressions/$t"-*; do
			[ -f "$f" ] && cp "$f" "$BUILD/seeds-$t/"
		done
	fi
	# The facts writer decodes requests first: the request seeds are its.
	[ "$t" = facts ] && cp "$SRC/fuzz/corpus/request"/* "$BUILD/seeds-$t/" 2>/dev/null
	if [ "$t" = fmt ]; then
		# Every rules file of the tree, broken ones too (they must be refused).
		local k=0
		while IFS= read -r f; do
			k=$((k + 1))
			cp "$f" "$BUILD/seeds-$t/tree-$k-$(basename "$f")"
		done < <(find "$SRC/rules" "$SRC/tests" "$SRC/fuzz/corpus/compile" -name '*.rules' -type f | sort)
	elif [ "$t" = compile ]; then
		local args=()
		for f in "$SRC"/rules/*.rules "$SRC"/fuzz/corpus/compile/*.rules; do
			[ -f "$f" ] || continue
			cp "$f" "$BUILD/seeds-$t/src-$(basename "$f")"
			args+=("$f" "$BUILD/seeds-$t/bundle-$(basename "$f" .rules)")
		done
		"$BUILD/mkbundle" "${args[@]}" 2>"$BUILD/mkbundle.log" ||
			echo "fuzz/run.sh: making seed bundles failed; see $BUILD/mkbundle.log" >&2
	elif [ "$t" = request ]; then
		# One request per seed file from the analyst tests, when there are any.
		if [ -s "$SRC/rules/default.tests.jsonl" ] && command -v python3 >/dev/null; then
			python3 - "$SRC/rules/default.tests.jsonl" "$BUILD/seeds-$t" <<'EOF'
import json, sys
# The test file format of docs/language.md §12.1: objects one after the
# other ('#' lines between them), a "base" request the cases change.
def merge(t, p):
    if not isinstance(p, dict):
        return p
    t = dict(t) if isinstance(t, dict) else {}
    for k, v in p.items():
        if v is None:
            t.pop(k, None)
        else:
            t[k] = merge(t.get(k), v)
    return t
text = "".join(l for l in open(sys.argv[1]) if not l.lstrip().startswith('#'))
dec, pos, base, n = json.JSONDecoder(), 0, None, 0
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    try:
        obj, pos = dec.raw_decode(text, pos)
    except ValueError:
        break
    if not isinstance(obj, dict):
        continue
    if "base" in obj:
        base = obj["base"]
        continue
    if "expect" not in obj:
        continue
    req = merge(base, obj["request"]) if base is not None and "request" in obj else obj.get("request", base)
    if req is None:
        continue
    n += 1
    with open("%s/tests-%03d.json" % (sys.argv[2], n), "w") as f:
        f.write(json.dumps(req))
EOF
		fi
	fi
	cp "$BUILD/seeds-$t"/* "$dir/" 2>/dev/null
}

# ---- run -------------------------------------------------------------------
# fuzz_lifecycle keeps its per-input database in $TMPDIR; a crashing run
# cannot remove it, so keep it in the build directory.
mkdir -p "$BUILD/tmp"
export TMPDIR="$BUILD/tmp"
count_artifacts() { ls "$1" 2>/dev/null | grep -cvE '\.(min|log)$'; }
status=0
for t in $TARGETS; do
	seed "$t"
	bin=$BUILD/fuzz_$t
	art=$BUILD/artifacts/$t
	mkdir -p "$art"
	case $t in compile|fmt|index) maxlen=4096 ;; request|lifecycle|facts|mdes) maxlen=8192 ;; esac
	dict=()
	[ -f "$SRC/fuzz/corpus/$t.dict" ] && dict=(-dict="$SRC/fuzz/corpus/$t.dict")
	# fmt reads the rule language: the compile dictionary serves it too.
	[ "$t" = fmt ] && dict=(-dict="$SRC/fuzz/corpus/compile.dict")
	[ "$t" = facts ] && dict=(-dict="$SRC/fuzz/corpus/request.dict")

	if [ "$SECONDS_PER_TARGET" = 0 ]; then
		echo "== $t: replaying seeds and regressions"
		# Regressions one by one, so each is named; then every seed.
		for f in "$SRC/fuzz/regressions/$t"-*; do
			[ -f "$f" ] || continue
			if (cd "$BUILD" && "$bin" -artifact_prefix="$BUILD/replay-" "$f") >"$BUILD/replay-$t.log" 2>&1; then
				echo "ok   $f"
			else
				echo "FAIL $f: $(grep -m1 -E 'ERROR: |invariant failed|SUMMARY' "$BUILD/replay-$t.log")"
				status=1
			fi
		done
		if (cd "$BUILD" && "$bin" -runs=0 -artifact_prefix="$BUILD/replay-" "$BUILD/seeds-$t") >"$BUILD/replay-$t.log" 2>&1; then
			echo "ok   $(ls "$BUILD/seeds-$t" | wc -l) seeds"
		else
			echo "FAIL: $t: a seed crashes; see $BUILD/replay-$t.log" >&2
			status=1
		fi
		continue
	fi

	echo "== $t: fuzzing for $SECONDS_PER_TARGET s (max_len $maxlen), artifacts in $art"
	log=$BUILD/fuzz-$t.log
	# Bugs already reported and not fixed yet, stepped around while fuzzing
	# (names known to avoid() in fuzz/fuzz_compile.c), e.g.
	# STEPUP_FUZZ_AVOID=only-line fuzz/run.sh. Their reproducers still run
	# in replay mode. None at the moment: only-line was fixed in 8447709.
	export STEPUP_FUZZ_AVOID=${STEPUP_FUZZ_AVOID-}
	: >"$log"
	start=$(date +%s)
	round=0
	execs=0
	first=$(count_artifacts "$art")
	# libFuzzer stops at the first crash; start again with the time left, so
	# a crash does not end the run. Each round's log is appended to $log.
	while :; do
		left=$((SECONDS_PER_TARGET - ($(date +%s) - start)))
		[ "$left" -ge 5 ] || break
		round=$((round + 1))
		before=$(count_artifacts "$art")
		(cd "$BUILD" && "$bin" -max_len=$maxlen -max_total_time="$left" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 -jobs="$JOBS" -workers="$JOBS" \
			-artifact_prefix="$art/" "${dict[@]}" "$BUILD/corpus-$t" >"$BUILD/fuzz-$t-round.log" 2>&1)
		rc=$?
		# With -jobs the fuzzing itself logs to fuzz-<n>.log in the cwd.
		# (The parent echoes the job log into its own output, so only the
		# job logs are kept and counted.)
		found_jl=0
		for jl in "$BUILD"/fuzz-[0-9]*.log; do
			[ -f "$jl" ] || continue
			found_jl=1
			n=$(grep -hoE 'stat::number_of_executed_units: [0-9]+' "$jl" | awk '{s += $2} END {print s + 0}')
			execs=$((execs + n))
			{ echo "---- round $round ($jl): $n executions"; cat "$jl"; } >>"$log"
			rm -f "$jl"
		done
		if [ "$found_jl" = 0 ]; then
			n=$(grep -hoE 'stat::number_of_executed_units: [0-9]+' "$BUILD/fuzz-$t-round.log" | awk '{s += $2} END {print s + 0}')
			execs=$((execs + n))
			cat "$BUILD/fuzz-$t-round.log" >>"$log"
		fi
		if grep -qE '^(==[0-9]+==ERROR|SUMMARY|.*Test unit written)' "$log"; then
			status=1
		fi
		[ "$rc" -eq 0 ] && break
		if [ "$(count_artifacts "$art")" -eq "$before" ]; then
			echo "fuzz/run.sh: fuzz_$t stopped (rc=$rc) without writing an artifact; see $log" >&2
			tail -5 "$log" >&2
			status=2
			break
		fi
	done
	crashes=$(($(count_artifacts "$art") - first))
	echo "== $t: $round round(s), $execs executions in $(( $(date +%s) - start )) s, $crashes new artifact(s) in $art"
	echo "   corpus: $(ls "$BUILD/corpus-$t" | wc -l) inputs; log: $log"
done

# Minimize what was found (reproducers stay in the build dir; copy the ones
# worth keeping to fuzz/regressions/<target>-<name>).
if [ "$SECONDS_PER_TARGET" != 0 ]; then
	for t in $TARGETS; do
		for a in "$BUILD/artifacts/$t"/crash-* "$BUILD/artifacts/$t"/leak-* "$BUILD/artifacts/$t"/timeout-* "$BUILD/artifacts/$t"/oom-*; do
			[ -f "$a" ] || continue
			case "$a" in *.min) continue ;; esac
			[ -f "$a.min" ] && continue
			"$BUILD/fuzz_$t" -minimize_crash=1 -runs=20000 -max_total_time=60 \
				-exact_artifact_path="$a.min" "$a" >"$a.minimize.log" 2>&1
			[ -f "$a.min" ] && echo "minimized: $a.min ($(wc -c <"$a.min") bytes)"
		done
	done
fi
exit $status
