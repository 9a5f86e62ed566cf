#!/bin/sh
# tests/layers/check.sh: the library's files call only files of lower
# layers (docs/architecture.md, "Layers"): no dependency circle can come
# back unnoticed. Reads the undefined and defined symbols of the built
# objects with nm; run by `make check` from the build directory.
set -u
BUILD=${BUILDDIR:-.}
TABLE=${SRCDIR:-.}/tests/layers/layers.txt
objs=$(ls "$BUILD"/engine/.libs/libstepup_core_la-*.o "$BUILD"/dsl/.libs/libstepup_core_la-*.o 2>/dev/null)
if [ -z "$objs" ]; then
	echo "tests/layers/check.sh: no objects under $BUILD (build first)" >&2
	exit 99
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
for o in $objs; do
	f=$(basename "$o" .o | sed 's/^libstepup_core_la-//')
	nm "$o" | awk -v f="$f" '$1 == "U" { print "U", f, $2 } $2 ~ /^[TDBR]$/ { print "D", f, $3 }'
done >"$tmp/syms"
# An embedder of stepup_decide() links neither SQLite nor libcurl: the
# lifecycle is a library of its own (libstepup-lifecycle).
so=$BUILD/.libs/libstepup.so
needed_bad=0
if [ -f "$so" ]; then
	if objdump -p "$so" | grep -E 'NEEDED +lib(sqlite3|curl)' >/dev/null; then
		echo "FAIL - libstepup.so needs $(objdump -p "$so" | awk '/NEEDED +lib(sqlite3|curl)/ {print $2}' | tr '\n' ' ')"
		needed_bad=1
	else
		echo "ok - libstepup.so needs neither SQLite nor libcurl"
	fi
fi
awk -v table="$TABLE" '
BEGIN {
	while ((getline line < table) > 0) {
		if (line ~ /^#/ || line ~ /^[ \t]*$/) continue
		n = split(line, w, /[ \t]+/)
		for (i = 2; i <= n; i++) if (w[i] != "") layer[w[i]] = w[1] + 0
	}
}
$1 == "D" { def[$3] = $2; next }
$1 == "U" { use[++nu] = $2 " " $3 }
END {
	bad = 0
	for (i = 1; i <= nu; i++) {
		split(use[i], u, " ")
		f = u[1]; sym = u[2]
		if (!(sym in def) || def[sym] == f) continue
		g = def[sym]
		if (!(f in layer)) { printf "FAIL - %s has no layer in tests/layers/layers.txt\n", f; bad = 1; layer[f] = -1; continue }
		if (!(g in layer)) { printf "FAIL - %s has no layer in tests/layers/layers.txt\n", g; bad = 1; layer[g] = -1; continue }
		if (layer[g] >= layer[f]) {
			printf "FAIL - %s (layer %d) calls %s of %s (layer %d)\n", f, layer[f], sym, g, layer[g]
			bad = 1
		}
	}
	if (!bad) print "ok - every file of libstepup calls only files of lower layers"
	exit bad
}' "$tmp/syms" || exit 1
exit $needed_bad
