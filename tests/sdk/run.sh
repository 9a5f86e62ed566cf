#!/bin/sh
# tests/sdk/run.sh: a plugin built outside the tree against the installed
# SDK only (issue 11). Installs this build into a scratch DESTDIR, builds
# the installed example plugin (docs/examples/plugin: prefix_guard) there
# with its own Makefile and `pkg-config stepup-plugin`, then loads it with
# the stepup CLI: its rule function decides, its configuration errors name
# the key. Also checks that the pieces an operator and an integrator look
# for are installed: pluginsdir in stepup.pc, the plugin host, the SDK
# headers, the docs, the example configurations, the systemd unit.
# Run by `make check` from the build directory (STEPUP, SRCDIR set).
set -u
B=$(pwd)
: "${STEPUP:=$B/stepup}"
: "${MAKE:=make}"
T=$(mktemp -d "${TMPDIR:-/tmp}/stepup-sdk.XXXXXX") || exit 99
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
fails=0
ok() { echo "ok - $1"; }
not_ok() { echo "FAIL - $1"; fails=$((fails + 1)); }
check() { what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

DEST=$T/root
if ! (unset MAKEFLAGS MFLAGS; $MAKE -C "$B" install DESTDIR="$DEST") >"$T/install.log" 2>&1; then
	tail -20 "$T/install.log"
	echo "FAIL - make install DESTDIR=$DEST"
	exit 1
fi
ok "make install DESTDIR=..."

prefix=$(sed -n 's/^prefix=//p' "$B/stepup.pc")
pcdir=$(dirname "$(find "$DEST" -name stepup-plugin.pc | head -1)")
check "stepup-plugin.pc is installed" test -f "$pcdir/stepup-plugin.pc"
PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PKG_CONFIG_SYSROOT_DIR=$DEST
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# pkgconf puts the sysroot in front of variables, pkg-config does not.
in_dest() { case "$1" in "$DEST"*) echo "$1" ;; *) echo "$DEST$1" ;; esac; }
pluginsdir=$(pkg-config --variable=pluginsdir stepup)
check "stepup.pc has pluginsdir (where the reference plugins are)" \
	test -n "$pluginsdir" -a -f "$(in_dest "$pluginsdir")/cs_router.so"
check "stepup-plugin.pc has pluginsdir too" test "$(pkg-config --variable=pluginsdir stepup-plugin)" = "$pluginsdir"
host=$(pkg-config --variable=pluginhost stepup)
check "the plugin host is installed where stepup.pc says" test -x "$(in_dest "$host")"
check "the SDK headers are installed" test -f "$DEST$prefix/include/stepup/sdk/plugin_config.h"
check "libstepup-plugin.a is installed" sh -c "ls '$DEST'$prefix/lib*/libstepup-plugin.a >/dev/null 2>&1"
docdir=$(dirname "$(find "$DEST" -path '*/doc/stepup/plugins.md' | head -1)")
check "the docs are installed" test -f "$docdir/plugins.md" -a -f "$docdir/operations.md"
check "the example configurations are installed" test -f "$docdir/examples/stepupd.example.json" \
	-a -f "$docdir/examples/otp_sms_http.example.json"
unit=$(find "$DEST" -name stepupd.service | head -1)
check "the systemd unit is installed, with this prefix" grep -q "^ExecStart=$prefix/sbin/stepupd " "$unit"

# The example, out of the tree: only what was installed.
cp -r "$docdir/examples/plugin" "$T/ex"
chmod 0755 "$T/ex"
if (cd "$T/ex" && unset MAKEFLAGS MFLAGS && $MAKE CFLAGS="-O2 -Wall -Wextra -Werror") >"$T/build.log" 2>&1; then
	ok "the example plugin builds with pkg-config stepup-plugin"
else
	cat "$T/build.log"
	not_ok "the example plugin builds with pkg-config stepup-plugin"
fi
chmod 0644 "$T/ex/prefix_guard.so" 2>/dev/null
lines=$(awk '/config: begin/{on=1; next} /config: end/{on=0} on' "$T/ex/prefix_guard.c" | wc -l)
check "its configuration reading is under 20 lines ($lines)" test "$lines" -lt 20
check "it exports one symbol" sh -c "nm -D --defined-only '$T/ex/prefix_guard.so' | awk '{print \$3}' | grep -qx stepup_plugin && [ \$(nm -D --defined-only '$T/ex/prefix_guard.so' | wc -l) -eq 1 ]"

cat >"$T/policy.rules" <<'RULES'
ruleset "sdk"
method OTP_SMS          when end_user.phone is present
method CUSTOMER_SERVICE always

rule sms_abroad "SMS cannot reach the holder"
  when end_user.phone is present and not prefix_guard.allowed(end_user.phone)
  then step_up only CUSTOMER_SERVICE
RULES
cfg() {
	printf '{"issuer":{"customer_service":{"standard":"+1-800-555-0100"}},"plugins":{"load":[{"module":"%s","config":%s}],"methods":{"OTP_SMS":"prefix_guard"}}}\n' \
		"$T/ex/prefix_guard.so" "$1" >"$2"
}
cfg '{"relay":"+442071838750","text":"{otp} is your code","allowed_prefixes":["+44","+33"]}' "$T/good.json"
printf '{"request_id":"uk","end_user":{"phone":"+447700900123"}}\n{"request_id":"us","end_user":{"phone":"+14155551234"}}\n' >"$T/req.jsonl"
"$STEPUP" eval --rules "$T/policy.rules" --config "$T/good.json" "$T/req.jsonl" >"$T/out" 2>"$T/err"
check "stepup eval runs the plugin's rule function" \
	sh -c "grep '\"request_id\":\"uk\"' '$T/out' | grep -q '\"decision\":\"GREEN\"' && grep '\"request_id\":\"us\"' '$T/out' | grep -q '\"rule\":\"sms_abroad\"'"
check "... and logs nothing with PII" sh -c "! grep -q '7700900123\|5551234' '$T/err'"
cfg '{"relay":"020 7183 8750","text":"{otp}"}' "$T/bad1.json"
"$STEPUP" check --plugins "$T/bad1.json" "$T/policy.rules" >"$T/out" 2>"$T/err"
check "a bad value is refused, naming the key" grep -q 'init failed: relay: must be an E.164 number ("+" and 7 to 15 digits)' "$T/err"
cfg '{"relay":"+442071838750","text":"{otp}","colour":"red"}' "$T/bad2.json"
"$STEPUP" check --plugins "$T/bad2.json" "$T/policy.rules" >"$T/out" 2>"$T/err"
check "an unknown key is refused" grep -q "init failed: unknown key 'colour'" "$T/err"
cfg '{"relay":"+442071838750","text":"{otp}","allowed_prefixes":["44"]}' "$T/bad3.json"
"$STEPUP" check --plugins "$T/bad3.json" "$T/policy.rules" >"$T/out" 2>"$T/err"
check "a bad prefix is refused, with its index" grep -q 'init failed: allowed_prefixes\[0\]: must be a prefix like "+44"' "$T/err"
cfg '{"text":"{otp}"}' "$T/bad4.json"
"$STEPUP" check --plugins "$T/bad4.json" "$T/policy.rules" >"$T/out" 2>"$T/err"
check "a missing key is refused" grep -q 'init failed: relay: missing' "$T/err"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
exit 0
