/* test_plugin_loader.c: engine/plugin_loader.c against the fake plugins
 * built in tests/plugins/: every refusal with its exact message, the
 * search path, and a libffi round trip per type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stepup/error.h>
#include <stepup/stepup.h>

#include "plugin_loader.h"

/* The host's ABI as its refusals print it ("1.2"), from the header. */
#define XSTR_(x) #x
#define XSTR(x) XSTR_(x)
#define HOST_ABI XSTR(STEPUP_PLUGIN_ABI_MAJOR) "." XSTR(STEPUP_PLUGIN_ABI_MINOR)

#ifndef PLUGIN_DIR
#error "PLUGIN_DIR must name the directory of the built fake plugins"
#endif

static const char *const search_path[] = { "/nonexistent/stepup", PLUGIN_DIR, NULL };

/* Load `name` expecting failure with status `want_rc` and message
 * "<PLUGIN_DIR>/<name>.so: <want>". */
static void check_refused(const char *name, int want_rc, const char *want)
{
	char err[512], full[512];
	su_plugin *p = (su_plugin *)&p; /* must be reset to NULL */
	int rc = su_plugin_load(name, search_path, NULL, &p, err, sizeof(err));
	snprintf(full, sizeof(full), "%s/%s.so: %s", PLUGIN_DIR, name, want);
	assert_int_equal(rc, want_rc);
	assert_null(p);
	assert_string_equal(err, full);
}

static void test_wrong_major(void **unused)
{
	(void)unused;
	check_refused("wrong_major", STEPUP_EVERSION, "plugin ABI major 2 is not supported (host " HOST_ABI ")");
}

static void test_newer_minor(void **unused)
{
	(void)unused;
	/* The fake claims the host's minor + 3 (tests/plugins/newer_minor.c). */
	char want[128];
	snprintf(want, sizeof(want), "plugin ABI minor %d is newer than the host's (" HOST_ABI ")",
		 STEPUP_PLUGIN_ABI_MINOR + 3);
	check_refused("newer_minor", STEPUP_EVERSION, want);
}

static void test_no_symbol(void **unused)
{
	(void)unused;
	check_refused("nosym", STEPUP_EPLUGIN, "no 'stepup_plugin' symbol");
}

static void test_bad_signature(void **unused)
{
	(void)unused;
	check_refused("badsig", STEPUP_EPLUGIN, "function 'geo.distance': bad signature 'sx->i'");
}

static void test_incomplete_interface(void **unused)
{
	(void)unused;
	check_refused("badiface", STEPUP_EPLUGIN, "OTP channel interface is incomplete");
}

static void test_init_fails(void **unused)
{
	(void)unused;
	char err[512], want[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load(PLUGIN_DIR "/good.so", NULL, "{\"fail\": true}", &p, err, sizeof(err));
	assert_int_equal(rc, STEPUP_EPLUGIN);
	assert_null(p);
	snprintf(want, sizeof(want), "%s/good.so: init failed: configuration asks to fail", PLUGIN_DIR);
	assert_string_equal(err, want);
}

static void test_missing(void **unused)
{
	(void)unused;
	char err[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load("absent", search_path, NULL, &p, err, sizeof(err));
	assert_int_equal(rc, STEPUP_ENOTFOUND);
	assert_null(p);
	assert_string_equal(err, "absent: not found in the plugin search path");

	rc = su_plugin_load("/nonexistent/absent.so", NULL, NULL, &p, err, sizeof(err));
	assert_int_equal(rc, STEPUP_ENOTFOUND);
	assert_string_equal(err, "/nonexistent/absent.so: no such file");

	/* No search path at all: a bare name is not found. */
	rc = su_plugin_load("good", NULL, NULL, &p, err, sizeof(err));
	assert_int_equal(rc, STEPUP_ENOTFOUND);
	assert_string_equal(err, "good: not found in the plugin search path");
}

static void test_not_a_shared_object(void **unused)
{
	(void)unused;
	char err[PATH_MAX + 512], want[PATH_MAX + 64];
	su_plugin *p = NULL;
	/* A file that exists but is not ELF: dlopen's reason is appended.
	 * SRCDIR may be "<build>/..": a module path may not hold "..". */
	char path[PATH_MAX];
	assert_non_null(realpath(SRCDIR "/tests/plugins/good.c", path));
	int rc = su_plugin_load(path, NULL, NULL, &p, err, sizeof(err));
	assert_int_equal(rc, STEPUP_EPLUGIN);
	assert_null(p);
	snprintf(want, sizeof(want), "%s: cannot load: ", path);
	assert_memory_equal(err, want, strlen(want));
	assert_true(strlen(err) > strlen(want));
}

static void test_bad_signatures(void **unused)
{
	(void)unused;
	static const char *const bad[] = { "", "i", "->", "i->", "x->i", "i->ii", "i-i", "i->x",
					   "iiiiiiiii->i", "s,s->b", NULL };
	static const char *const good[] = { "->i", "iiiiiiii->s", "sdbi->b", NULL };
	char args[STEPUP_PLUGIN_MAX_ARGS + 1], ret;
	for (size_t k = 0; bad[k]; k++)
		if (su_plugin_parse_signature(bad[k], args, &ret) == 0)
			fail_msg("signature '%s' accepted", bad[k]);
	assert_int_equal(su_plugin_parse_signature(NULL, args, &ret), -1);
	for (size_t k = 0; good[k]; k++)
		if (su_plugin_parse_signature(good[k], args, &ret) != 0)
			fail_msg("signature '%s' refused", good[k]);
	assert_int_equal(su_plugin_parse_signature("sdbi->b", args, &ret), 0);
	assert_string_equal(args, "sdbi");
	assert_int_equal(ret, 'b');
}

/* ---- module names and who may write the file (issue 9) -------------------- */

static unsigned fn_index(const su_plugin *p, const char *name)
{
	int k = su_plugin_find(p, name);
	if (k < 0)
		fail_msg("no function '%s'", name);
	return (unsigned)k;
}

/* Copy `from` to `to` with `mode`. */
static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_int_equal(chmod(to, mode), 0);
}

/* Load expecting success (then unload). */
static void expect_loads(const char *name, const char *const *sp)
{
	char err[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load(name, sp, NULL, &p, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("%s: refused (%d): %s", name, rc, err);
	su_plugin_unload(p);
}

/* Load expecting a refusal with status rc and exactly the message want. */
static void expect_refused(const char *name, const char *const *sp, int want_rc, const char *want)
{
	char err[512];
	su_plugin *p = (su_plugin *)&p;
	int rc = su_plugin_load(name, sp, NULL, &p, err, sizeof(err));
	if (rc != want_rc || strcmp(err, want) != 0)
		fail_msg("%s: rc %d '%s'; expected rc %d '%s'", name, rc, err, want_rc, want);
	assert_null(p);
}

/* A module is a plain name on the search path or a path without "..". */
static void test_module_names(void **state)
{
	(void)state;
	static const char *const bad_names[] = { "..", "go od", "good;", "go..od", "", "g\xc3\xa9", NULL };
	char want[256];
	for (size_t k = 0; bad_names[k]; k++) {
		if (!bad_names[k][0])
			continue;  /* the empty name is refused before (EINVAL "no name given") */
		snprintf(want, sizeof(want), "%s: not a plain module name ([A-Za-z0-9_.-], no '..') nor a path",
			 bad_names[k]);
		expect_refused(bad_names[k], search_path, STEPUP_EINVAL, want);
	}
	static const char *const dotdot[] = { "../good.so", PLUGIN_DIR "/../.libs/good.so", "a/../good.so",
					       "a/..", NULL };
	for (size_t k = 0; dotdot[k]; k++) {
		snprintf(want, sizeof(want), "%s: a module path may not contain '..'", dotdot[k]);
		expect_refused(dotdot[k], NULL, STEPUP_EINVAL, want);
	}
	/* Names with dots and dashes are plain; "..x" is a file name, not a
	 * component. */
	assert_int_equal(su_plugin_check_module("geo-v2.1_x", NULL, 0), STEPUP_OK);
	assert_int_equal(su_plugin_check_module("/opt/a..b/x.so", NULL, 0), STEPUP_OK);
	assert_int_equal(su_plugin_check_module("/opt/x/..", NULL, 0), STEPUP_EINVAL);
}

/* With a search path, a module path must lead inside it (after symbolic
 * links); without one, any checked path loads. */
static void test_path_stays_inside_search_path(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-inside-XXXXXX", lib[256], out[300], link[300], want[700];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(lib, sizeof(lib), "%s/lib", dir);
	snprintf(out, sizeof(out), "%s/elsewhere.so", dir);
	snprintf(link, sizeof(link), "%s/lib/link.so", dir);
	assert_int_equal(mkdir(lib, 0755), 0);
	char good[300];
	snprintf(good, sizeof(good), "%s/good.so", lib);
	copy_file(PLUGIN_DIR "/good.so", good, 0644);
	copy_file(PLUGIN_DIR "/good.so", out, 0644);
	assert_int_equal(symlink(out, link), 0);
	const char *const sp[] = { lib, NULL };

	expect_loads(good, sp);
	expect_loads("good", sp);
	snprintf(want, sizeof(want), "%s: outside the plugin search path", out);
	expect_refused(out, sp, STEPUP_EPLUGIN, want);
	snprintf(want, sizeof(want), "%s: outside the plugin search path", link);
	expect_refused(link, sp, STEPUP_EPLUGIN, want);
	expect_loads(out, NULL);  /* no search path configured */

	unlink(link);
	unlink(out);
	unlink(good);
	rmdir(lib);
	assert_int_equal(rmdir(dir), 0);
}

/* Issue 9: a world-writable plugin .so or directory was loaded silently.
 * The file and the directories above it must be owned by root or the euid
 * and writable by nobody else; sticky directories may be shared. */
static void test_writable_modules_refused(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-perm-XXXXXX", sub[256], so[300], want[700];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/plugins", dir);
	snprintf(so, sizeof(so), "%s/good.so", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	copy_file(PLUGIN_DIR "/good.so", so, 0644);
	const char *const sp[] = { sub, NULL };

	expect_loads(so, NULL);
	expect_loads("good", sp);

	assert_int_equal(chmod(so, 0666), 0);
	snprintf(want, sizeof(want), "%s: refused: the file is writable by others (mode 0666)", so);
	expect_refused(so, NULL, STEPUP_EPLUGIN, want);
	expect_refused("good", sp, STEPUP_EPLUGIN, want);  /* found on the path: refused, not skipped */
	assert_int_equal(chmod(so, 0664), 0);  /* our own group may write */
	expect_loads(so, NULL);
	assert_int_equal(chmod(so, 0644), 0);

	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(want, sizeof(want), "%s: refused: directory %s is writable by others (mode 0777)", so, sub);
	expect_refused(so, NULL, STEPUP_EPLUGIN, want);
	assert_int_equal(chmod(sub, 01777), 0);  /* sticky, like /tmp */
	expect_loads(so, NULL);
	assert_int_equal(chmod(sub, 0755), 0);

	/* A directory further up counts too. */
	assert_int_equal(chmod(dir, 0757), 0);
	snprintf(want, sizeof(want), "%s: refused: directory %s is writable by others (mode 0757)", so, dir);
	expect_refused(so, NULL, STEPUP_EPLUGIN, want);
	assert_int_equal(chmod(dir, 0755), 0);

	/* A link in a trusted folder to a file in an untrusted one. */
	char bad[300], link[300];
	snprintf(bad, sizeof(bad), "%s/open", dir);
	assert_int_equal(mkdir(bad, 0755), 0);
	assert_int_equal(chmod(bad, 0777), 0);
	snprintf(link, sizeof(link), "%s/open/good.so", dir);
	copy_file(PLUGIN_DIR "/good.so", link, 0644);
	unlink(so);
	assert_int_equal(symlink(link, so), 0);
	snprintf(want, sizeof(want), "%s: refused: directory %s is writable by others (mode 0777)", so, bad);
	expect_refused(so, NULL, STEPUP_EPLUGIN, want);
	unlink(so);
	copy_file(PLUGIN_DIR "/good.so", so, 0644);

	/* Owners and groups other than ours: only root can make those. */
	if (geteuid() == 0) {
		assert_int_equal(chown(so, 0, 4242), 0);
		assert_int_equal(chmod(so, 0664), 0);
		snprintf(want, sizeof(want), "%s: refused: the file is writable by group 4242 (mode 0664)", so);
		expect_refused(so, NULL, STEPUP_EPLUGIN, want);
		assert_int_equal(chmod(so, 0644), 0);
		expect_loads(so, NULL);  /* read-only for that group: fine */
		assert_int_equal(chown(so, 4242, 0), 0);
		snprintf(want, sizeof(want), "%s: refused: the file is owned by uid 4242, not root or uid 0", so);
		expect_refused(so, NULL, STEPUP_EPLUGIN, want);
		assert_int_equal(chown(so, 0, 0), 0);
		assert_int_equal(chown(sub, 4242, 0), 0);
		snprintf(want, sizeof(want), "%s: refused: directory %s is owned by uid 4242, not root or uid 0", so,
			 sub);
		expect_refused(so, NULL, STEPUP_EPLUGIN, want);
		assert_int_equal(chown(sub, 0, 0), 0);
	} else {
		print_message("not root: owner and group cases skipped\n");
	}
	expect_loads(so, NULL);

	unlink(so);
	unlink(link);
	rmdir(bad);
	rmdir(sub);
	assert_int_equal(rmdir(dir), 0);
}

/* ABI 1.1: plugins get the host's card-number policy; 1.0 plugins still
 * load. */
static void test_host_card_number_find(void **state)
{
	(void)state;
	char err[512];
	su_plugin *p = NULL;
	assert_int_equal(su_plugin_load("cardcheck", search_path, NULL, &p, err, sizeof(err)), STEPUP_OK);
	unsigned start = fn_index(p, "start"), end = fn_index(p, "end");
	static const struct {
		const char *text;
		int64_t start, end;
	} cases[] = {
		{ "call me, 4111 1111 1111 1111!", 9, 28 },
		{ "DWSPMC4111111111111111", 6, 22 },
		{ "ref 1733529600123456789", -1, -1 },  /* a ns timestamp */
		{ "5412751234561234", -1, -1 },         /* fails Luhn */
		{ "", -1, -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		su_plugin_arg a[1] = { { .s = (char *)cases[i].text } }, r;
		assert_int_equal(su_plugin_call(p, start, a, &r), STEPUP_OK);
		if (r.i != cases[i].start)
			fail_msg("start('%s') = %lld", cases[i].text, (long long)r.i);
		assert_int_equal(su_plugin_call(p, end, a, &r), STEPUP_OK);
		if (r.i != cases[i].end)
			fail_msg("end('%s') = %lld", cases[i].text, (long long)r.i);
		/* The same answer as the host's own. */
		size_t s = 0, e = 0;
		int hit = stepup_card_number_find(cases[i].text, strlen(cases[i].text), &s, &e);
		assert_int_equal(hit, cases[i].start >= 0);
	}
	su_plugin_unload(p);
	expect_loads("old_minor", search_path);
}

/* ---- the good plugin ------------------------------------------------------ */

static int setup_good(void **state)
{
	char err[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load("good", search_path, "{\"base\": 100}", &p, err, sizeof(err));
	if (rc != STEPUP_OK) {
		print_error("load good: %s\n", err);
		return -1;
	}
	*state = p;
	return 0;
}

static int teardown_good(void **state)
{
	su_plugin_unload(*state);
	return 0;
}

static unsigned fn(const su_plugin *p, const char *name)
{
	int k = su_plugin_find(p, name);
	if (k < 0)
		fail_msg("no function '%s'", name);
	return (unsigned)k;
}

static void test_good_descriptor(void **state)
{
	const su_plugin *p = *state;
	char want[512];
	snprintf(want, sizeof(want), "%s/good.so", PLUGIN_DIR);
	assert_string_equal(su_plugin_path(p), want);
	assert_string_equal(su_plugin_name(p), "good");
	assert_string_equal(su_plugin_version(p), "0.1.0");
	assert_int_equal(su_plugin_nfunctions(p), 10);
	assert_int_equal(su_plugin_find(p, "missing"), -1);
	unsigned k = fn(p, "sum4");
	assert_string_equal(su_plugin_fn_name(p, k), "sum4");
	assert_string_equal(su_plugin_fn_args(p, k), "dddd");
	assert_int_equal(su_plugin_fn_ret(p, k), 'd');
	assert_null(su_plugin_fn_name(p, 99));
	assert_null(su_plugin_desc(p)->otp);
	assert_null(su_plugin_desc(p)->inapp);
	assert_non_null(su_plugin_desc(p)->cs);
}

static void test_call_int(void **state)
{
	const su_plugin *p = *state;
	su_plugin_arg a[2] = { { .i = 40 }, { .i = INT64_C(1) << 40 } }, r;
	assert_int_equal(su_plugin_call(p, fn(p, "add"), a, &r), STEPUP_OK);
	/* base 100 comes from the config given to init */
	assert_true(r.i == 140 + (INT64_C(1) << 40));
	assert_int_equal(su_plugin_call(p, fn(p, "answer"), NULL, &r), STEPUP_OK);
	assert_int_equal(r.i, 42);
	su_plugin_arg s[1] = { { .s = "hello" } };
	assert_int_equal(su_plugin_call(p, fn(p, "length"), s, &r), STEPUP_OK);
	assert_int_equal(r.i, 5);
}

static void test_call_double(void **state)
{
	const su_plugin *p = *state;
	su_plugin_arg a[4] = { { .d = 1.5 }, { .d = 2.25 }, { .d = -0.75 }, { .d = 10.0 } }, r;
	assert_int_equal(su_plugin_call(p, fn(p, "half"), a, &r), STEPUP_OK);
	assert_true(r.d == 0.75);
	assert_int_equal(su_plugin_call(p, fn(p, "sum4"), a, &r), STEPUP_OK);
	assert_true(r.d == 13.0);
}

static void test_call_bool(void **state)
{
	const su_plugin *p = *state;
	su_plugin_arg r;
	su_plugin_arg even[1] = { { .i = 10 } }, odd[1] = { { .i = -7 } };
	assert_int_equal(su_plugin_call(p, fn(p, "is_even"), even, &r), STEPUP_OK);
	assert_int_equal(r.b, 1);
	assert_int_equal(su_plugin_call(p, fn(p, "is_even"), odd, &r), STEPUP_OK);
	assert_int_equal(r.b, 0);
	su_plugin_arg tt[2] = { { .b = 1 }, { .b = 1 } }, tf[2] = { { .b = 1 }, { .b = 0 } };
	assert_int_equal(su_plugin_call(p, fn(p, "both"), tt, &r), STEPUP_OK);
	assert_int_equal(r.b, 1);
	assert_int_equal(su_plugin_call(p, fn(p, "both"), tf, &r), STEPUP_OK);
	assert_int_equal(r.b, 0);
}

static void test_call_string(void **state)
{
	const su_plugin *p = *state;
	su_plugin_arg r;
	su_plugin_arg one[1] = { { .s = "Paris 75001" } };
	assert_int_equal(su_plugin_call(p, fn(p, "upper"), one, &r), STEPUP_OK);
	assert_string_equal(r.s, "PARIS 75001");
	free(r.s);
	su_plugin_arg two[2] = { { .s = "step" }, { .s = "up" } };
	assert_int_equal(su_plugin_call(p, fn(p, "concat"), two, &r), STEPUP_OK);
	assert_string_equal(r.s, "stepup");
	free(r.s);
	/* NULL result: "undefined" */
	assert_int_equal(su_plugin_call(p, fn(p, "nothing"), one, &r), STEPUP_OK);
	assert_null(r.s);
	/* a NULL string argument is refused before the call */
	su_plugin_arg null_arg[1] = { { .s = NULL } };
	assert_int_equal(su_plugin_call(p, fn(p, "upper"), null_arg, &r), STEPUP_EINVAL);
	assert_int_equal(su_plugin_call(p, 99, one, &r), STEPUP_EINVAL);
}

static void test_cs_route(void **state)
{
	const su_plugin *p = *state;
	const stepup_cs_router *cs = su_plugin_desc(p)->cs;
	char err[128] = "";
	stepup_call_ctx ctx = { sizeof(ctx), 200, 0, err, sizeof(err) };
	/* deadline far ahead */
	ctx.deadline_ms = INT64_MAX;
	stepup_cs_route route = { NULL, NULL };
	assert_int_equal(cs->route(su_plugin_state(p), &ctx, "{}", STEPUP_CS_LINE_FRAUD, &route),
			 STEPUP_PLUGIN_OK);
	assert_string_equal(route.number, "+33100000002");
	assert_string_equal(route.hours, "Mon-Fri 08:00-20:00");
	free(route.number);
	free(route.hours);
	/* deadline already passed */
	ctx.deadline_ms = 0;
	assert_int_equal(cs->route(su_plugin_state(p), &ctx, "{}", STEPUP_CS_LINE_STANDARD, &route),
			 STEPUP_PLUGIN_TIMEOUT);
	assert_string_equal(err, "deadline passed");
}

int main(void)
{
	const struct CMUnitTest refusals[] = {
		cmocka_unit_test(test_wrong_major),
		cmocka_unit_test(test_newer_minor),
		cmocka_unit_test(test_no_symbol),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_incomplete_interface),
		cmocka_unit_test(test_init_fails),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_not_a_shared_object),
		cmocka_unit_test(test_bad_signatures),
		cmocka_unit_test(test_module_names),
		cmocka_unit_test(test_path_stays_inside_search_path),
		cmocka_unit_test(test_writable_modules_refused),
		cmocka_unit_test(test_host_card_number_find),
	};
	const struct CMUnitTest good[] = {
		cmocka_unit_test(test_good_descriptor),
		cmocka_unit_test(test_call_int),
		cmocka_unit_test(test_call_double),
		cmocka_unit_test(test_call_bool),
		cmocka_unit_test(test_call_string),
		cmocka_unit_test(test_cs_route),
	};
	int failed = cmocka_run_group_tests_name("plugin loader: refusals", refusals, NULL, NULL);
	failed += cmocka_run_group_tests_name("plugin loader: good plugin", good, setup_good,
					      teardown_good);
	return failed;
}
