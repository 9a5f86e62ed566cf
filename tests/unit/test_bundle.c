/* test_bundle.c: compiled rulesets as bundles (engine/bundle.c), the
 * program verifier that guards loading (engine/program.c) and the
 * disassembler.
 *
 * A bundle may come from anywhere: every malformed one must be refused
 * with a status and a message, never trusted, never crash the loader, and
 * a bundle that passes must be safe to evaluate. The format (bundle.c):
 *   0 magic(8) | 8 version(4) | 12 reserved(4) | 16 body length(8) |
 *   24 SHA-256 of the body(32) | 56 body ... | code | trailer(14)
 * The code section is ncode records of 11 bytes (op, a, cmp, c:u32,
 * atom:u32), followed by merchant policy (1), policy set (1), max_tri (4),
 * max_val (4) and an import count (4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "program.h"  /* internal: struct layout and opcodes, for crafting */

#define HEADER 56u
#define TRAILER 14u
#define INSN 12u  /* format 3: op, slot (16 bits), cmp, constant, atom */

/* ---- fixtures ------------------------------------------------------------ */

static stepup_ruleset *compile_ok(const char *src)
{
	char *diags = NULL;
	stepup_ruleset *rs = th_compile("t.rules", src, &diags);
	if (!rs)
		fail_msg("rules do not compile:\n%s", diags);
	free(diags);
	return rs;
}

static stepup_ruleset *load_default(void)
{
	stepup_ruleset *rs = NULL;
	char err[512];
	if (stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)) != STEPUP_OK)
		fail_msg("default rules: %s", err);
	return rs;
}

static uint8_t *serialize(const stepup_ruleset *rs, size_t *len)
{
	void *data = NULL;
	assert_int_equal(stepup_ruleset_serialize(rs, &data, len), STEPUP_OK);
	assert_non_null(data);
	assert_true(*len > HEADER + TRAILER);
	return data;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Recompute the body digest, as someone crafting a bundle would. */
static void fix_digest(uint8_t *b, size_t len)
{
	unsigned n = 0;
	assert_int_equal(EVP_Digest(b + HEADER, len - HEADER, b + 24, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
}

/* Offset of the first code record, checked against the stored count. */
static size_t code_offset(const uint8_t *b, size_t len, uint32_t ncode)
{
	size_t off = len - TRAILER - (size_t)INSN * ncode;
	assert_true(off >= HEADER + 4);
	assert_int_equal(get32(b + off - 4), ncode);
	return off;
}

/* Load and throw away; returns the status, err receives the message. */
static int try_load(const uint8_t *b, size_t len, char *err, size_t errlen)
{
	stepup_ruleset *rs = (stepup_ruleset *)(uintptr_t)1;
	err[0] = '\0';
	int rc = stepup_ruleset_load_bundle(b, len, &rs, err, errlen);
	if (rc == STEPUP_OK) {
		assert_non_null(rs);
		stepup_ruleset_unref(rs);
	} else {
		assert_null(rs);
	}
	return rc;
}

/* The response without its decision_id (which differs between calls). */
static char *strip_id(const char *json)
{
	char *s = strdup(json ? json : "");
	char *p = strstr(s, "\"decision_id\":\"");
	assert_non_null(s);
	if (p) {
		char *q = strchr(p + 15, '"');
		assert_non_null(q);
		memmove(p, q + 1, strlen(q + 1) + 1);
	}
	return s;
}

static const char *const sample_patches[] = {
	"{}",
	"{\"card\":{\"state\":\"SUSPENDED\"}}",
	"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}",
	"{\"wallet\":{\"device_suspicious\":true,\"reason_codes\":[\"HIGH_RISK\"]}}",
	"{\"wallet\":{\"phone_suffix\":\"9876\",\"device_score\":2}}",
	"{\"card\":null}",
	"{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\"}}",
	"{\"wallet\":{\"reason_codes\":[\"ACCOUNT_TOO_NEW\",\"DEVICE_BOUND_ELSEWHERE\"]},\"end_user\":{\"otp_exhausted\":true}}",
	"{\"card\":{\"active_tokens\":12,\"csc_failures_24h\":5},\"end_user\":{\"app_enrolled\":false}}",
};

/* Same decisions, same responses (but for decision_id), on every sample. */
static void expect_same_decisions(stepup_ruleset *a, stepup_ruleset *b)
{
	stepup_engine *ea = NULL, *eb = NULL;
	char err[256];
	assert_int_equal(stepup_engine_new(a, th_settings_full, &ea, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_engine_new(b, th_settings_full, &eb, err, sizeof(err)), STEPUP_OK);
	for (size_t i = 0; i < sizeof(sample_patches) / sizeof(sample_patches[0]); i++) {
		th_result ra = th_decide_patched(ea, sample_patches[i]);
		th_result rb = th_decide_patched(eb, sample_patches[i]);
		assert_int_equal(ra.rc, STEPUP_OK);
		assert_int_equal(rb.rc, STEPUP_OK);
		assert_int_equal(ra.outcome, rb.outcome);
		assert_int_equal(ra.nfired, rb.nfired);
		for (size_t k = 0; k < ra.nfired; k++)
			assert_string_equal(ra.fired[k], rb.fired[k]);
		assert_int_equal(ra.nmethods, rb.nmethods);
		for (size_t k = 0; k < ra.nmethods; k++)
			assert_int_equal(ra.methods[k], rb.methods[k]);
		assert_int_equal(ra.line, rb.line);
		char *ja = strip_id(ra.json), *jb = strip_id(rb.json);
		assert_string_equal(ja, jb);
		free(ja);
		free(jb);
		th_result_free(&ra);
		th_result_free(&rb);
	}
	stepup_engine_free(ea);
	stepup_engine_free(eb);
}

/* ---- round trips ----------------------------------------------------------- */

static void round_trip_default_rules(void **state)
{
	(void)state;
	stepup_ruleset *rs = load_default(), *back = NULL;
	size_t len, len2;
	char err[256];
	uint8_t *b = serialize(rs, &len);

	assert_memory_equal(b, "STEPUPB\x1a", 8);
	assert_int_equal(get32(b + 8), 4);
	assert_int_equal(get32(b + 12), 0);
	assert_int_equal(get32(b + 16), len - HEADER);
	assert_int_equal(get32(b + 20), 0);

	assert_int_equal(stepup_ruleset_load_bundle(b, len, &back, err, sizeof(err)), STEPUP_OK);
	assert_non_null(back);
	assert_string_equal(stepup_ruleset_name(back), stepup_ruleset_name(rs));
	assert_string_equal(stepup_ruleset_name(back), "issuer-default");
	assert_string_equal(stepup_ruleset_revision(back), stepup_ruleset_revision(rs));
	assert_int_equal(stepup_ruleset_rule_count(back), stepup_ruleset_rule_count(rs));
	assert_true(stepup_ruleset_rule_count(back) >= 10);

	/* Serialising is deterministic and loading loses nothing. */
	uint8_t *b2 = serialize(back, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(b, b2, len);
	char *d1 = stepup_ruleset_disassemble(rs), *d2 = stepup_ruleset_disassemble(back);
	assert_non_null(d1);
	assert_non_null(d2);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);

	expect_same_decisions(rs, back);
	free(b);
	free(b2);
	stepup_ruleset_unref(back);
	stepup_ruleset_unref(rs);
}

/* Every construct (tests/dsl/ok/all-constructs.rules), including quoted
 * reason codes the request decoder must still recognise after loading. */
static void round_trip_all_constructs(void **state)
{
	(void)state;
	stepup_ruleset *rs = NULL, *back = NULL;
	char err[512];
	size_t len;
	if (stepup_ruleset_load(SRCDIR "/tests/dsl/ok/all-constructs.rules", &rs, err, sizeof(err)) != STEPUP_OK)
		fail_msg("%s", err);
	uint8_t *b = serialize(rs, &len);
	assert_int_equal(stepup_ruleset_load_bundle(b, len, &back, err, sizeof(err)), STEPUP_OK);
	char *d1 = stepup_ruleset_disassemble(rs), *d2 = stepup_ruleset_disassemble(back);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	expect_same_decisions(rs, back);

	/* A network code only a quoted name in the rules knows. */
	stepup_engine *e = NULL;
	assert_int_equal(stepup_engine_new(back, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	assert_true(th_fires(e, "{\"wallet\":{\"reason_codes\":[\"NETWORK_NEW_CODE\"]}}", "reasons"));
	assert_false(th_fires(e, "{\"wallet\":{\"reason_codes\":[\"SOME_OTHER_CODE\"]}}", "reasons"));
	stepup_engine_free(e);
	free(b);
	stepup_ruleset_unref(back);
	stepup_ruleset_unref(rs);
}

static void save_and_load_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-bundle-XXXXXX", path[256], tmp[300], err[512];
	stepup_ruleset *rs = load_default(), *back = NULL;
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/default.bundle", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	assert_int_equal(stepup_ruleset_save(rs, path, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_not_equal(stat(tmp, &st), 0);  /* written beside, then renamed */

	/* stepup_ruleset_load recognises a bundle by its magic. */
	assert_int_equal(stepup_ruleset_load(path, &back, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_ruleset_revision(back), stepup_ruleset_revision(rs));
	assert_int_equal(stepup_ruleset_rule_count(back), stepup_ruleset_rule_count(rs));
	expect_same_decisions(rs, back);
	stepup_ruleset_unref(back);
	back = NULL;

	/* A damaged file is refused with its path in the message. */
	{
		size_t len;
		uint8_t *b = serialize(rs, &len);
		b[len - 20] ^= 0x40;
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(b, 1, len, f), len);
		fclose(f);
		free(b);
		assert_int_equal(stepup_ruleset_load(path, &back, err, sizeof(err)), STEPUP_EBUNDLE);
		assert_null(back);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, "checksum"));
	}

	/* Unwritable destination: EIO naming the path, nothing left behind. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/x.bundle", dir);
	err[0] = '\0';
	assert_int_equal(stepup_ruleset_save(rs, bad, err, sizeof(err)), STEPUP_EIO);
	assert_non_null(strstr(err, bad));

	/* Missing file. */
	snprintf(bad, sizeof(bad), "%s/missing.bundle", dir);
	assert_int_equal(stepup_ruleset_load(bad, &back, err, sizeof(err)), STEPUP_EIO);
	assert_null(back);
	assert_non_null(strstr(err, bad));

	remove(path);
	assert_int_equal(rmdir(dir), 0);
	stepup_ruleset_unref(rs);
}

/* Fail closed: a bundle with no rules (made with the explicit opt-in) is
 * refused by every load unless the loader opts in too, from memory and
 * from a file; whitespace-only and comment-only sources likewise. */
static void empty_rulesets_fail_closed(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-empty-XXXXXX", path[256], err[512];
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL, *back = NULL;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(stepup_compiler_set_flags(c, STEPUP_LOAD_ALLOW_EMPTY), STEPUP_OK);
	assert_int_equal(stepup_compiler_add_source(c, "e.rules", "# emptied\n", 10), STEPUP_OK);
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_OK);
	stepup_compiler_free(c);

	size_t len;
	uint8_t *b = serialize(rs, &len);
	err[0] = '\0';
	assert_int_equal(stepup_ruleset_load_bundle(b, len, &back, err, sizeof(err)), STEPUP_ECOMPILE);
	assert_null(back);
	assert_non_null(strstr(err, "no rules"));
	assert_int_equal(stepup_ruleset_load_bundle_flags(b, len, STEPUP_LOAD_ALLOW_EMPTY, &back, err, sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(stepup_ruleset_rule_count(back), 0);
	stepup_ruleset_unref(back);
	back = NULL;
	free(b);

	snprintf(path, sizeof(path), "%s/empty.bundle", dir);
	assert_int_equal(stepup_ruleset_save(rs, path, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_ruleset_load(path, &back, err, sizeof(err)), STEPUP_ECOMPILE);
	assert_null(back);
	assert_non_null(strstr(err, path));
	assert_int_equal(stepup_ruleset_load_flags(path, NULL, STEPUP_LOAD_ALLOW_EMPTY, &back, err, sizeof(err)),
	                 STEPUP_OK);
	stepup_ruleset_unref(back);
	back = NULL;
	remove(path);

	static const char *const sources[] = { "", "   \n\n", "# a comment\n# another" };
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		snprintf(path, sizeof(path), "%s/empty.rules", dir);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(sources[i], f);
		fclose(f);
		assert_int_equal(stepup_ruleset_load(path, &back, err, sizeof(err)), STEPUP_ECOMPILE);
		assert_null(back);
		assert_non_null(strstr(err, "no rules"));
		remove(path);
	}
	assert_int_equal(rmdir(dir), 0);
	stepup_ruleset_unref(rs);
}

/* Rules counted by outcome (the reload guards of stepupd compare them). */
static void outcome_counts(void **state)
{
	(void)state;
	stepup_ruleset *rs = load_default();
	size_t r = stepup_ruleset_outcome_count(rs, STEPUP_RED), y = stepup_ruleset_outcome_count(rs, STEPUP_YELLOW),
	       g = stepup_ruleset_outcome_count(rs, STEPUP_GREEN);
	assert_true(r > 0 && y > 0);
	assert_int_equal(r + y + g, stepup_ruleset_rule_count(rs));
	assert_int_equal(stepup_ruleset_outcome_count(NULL, STEPUP_RED), 0);
	stepup_ruleset_unref(rs);
}

static int is_revision(const char *r)
{
	if (strncmp(r, "sha256:", 7) != 0 || strlen(r) != 71)
		return 0;
	for (const char *p = r + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static void revision_tracks_source(void **state)
{
	(void)state;
	const char *src = "ruleset \"rev\"\nrule a when card.state == CLOSED then decline\n";
	const char *src_same = "ruleset \"rev\"\nrule a when card.state == CLOSED then decline\n";
	const char *src_space = "ruleset \"rev\"\nrule a when card.state == CLOSED then  decline\n";
	const char *src_comment = "ruleset \"rev\"\nrule a when card.state == CLOSED then decline\n# x\n";
	stepup_ruleset *a = compile_ok(src), *a2 = compile_ok(src_same), *b = compile_ok(src_space),
	               *c = compile_ok(src_comment);
	const char *ra = stepup_ruleset_revision(a);
	if (!is_revision(ra))
		fail_msg("revision '%s' is not sha256:<64 hex>", ra);
	assert_true(is_revision(stepup_ruleset_revision(b)));
	assert_string_equal(ra, stepup_ruleset_revision(a2));
	assert_string_not_equal(ra, stepup_ruleset_revision(b));
	assert_string_not_equal(ra, stepup_ruleset_revision(c));
	assert_string_not_equal(stepup_ruleset_revision(b), stepup_ruleset_revision(c));

	/* A bundle carries the revision of its sources. */
	size_t len;
	uint8_t *bb = serialize(a, &len);
	stepup_ruleset *back = NULL;
	char err[256];
	assert_int_equal(stepup_ruleset_load_bundle(bb, len, &back, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_ruleset_revision(back), ra);
	free(bb);
	stepup_ruleset_unref(back);

	/* Splitting the same text differently across files changes it too. */
	stepup_compiler *k = stepup_compiler_new();
	stepup_ruleset *d = NULL;
	assert_int_equal(stepup_compiler_add_source(k, "x.rules", src, 14), STEPUP_OK);
	assert_int_equal(stepup_compiler_add_source(k, "y.rules", src + 14, strlen(src) - 14), STEPUP_OK);
	assert_int_equal(stepup_compiler_compile(k, &d), STEPUP_OK);
	assert_string_not_equal(stepup_ruleset_revision(d), ra);
	stepup_ruleset_unref(d);
	stepup_compiler_free(k);

	stepup_ruleset_unref(a);
	stepup_ruleset_unref(a2);
	stepup_ruleset_unref(b);
	stepup_ruleset_unref(c);
}

/* ---- refusals -------------------------------------------------------------- */

static void refuses_empty_and_foreign_data(void **state)
{
	(void)state;
	char err[256];
	stepup_ruleset *rs = NULL;
	static const char rules_text[] = "rule a when card.state == CLOSED then decline\n";

	assert_int_equal(try_load((const uint8_t *)"", 0, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "not a stepup bundle"));
	assert_int_equal(stepup_ruleset_load_bundle(NULL, 0, &rs, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_null(rs);
	assert_int_equal(try_load((const uint8_t *)rules_text, sizeof(rules_text) - 1, err, sizeof(err)),
	                 STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "bad magic"));
	assert_int_equal(try_load((const uint8_t *)"STEPUPB", 7, err, sizeof(err)), STEPUP_EBUNDLE);
	{
		uint8_t other[64];
		memset(other, 0, sizeof(other));
		memcpy(other, "STEPUPB\x1b", 8);  /* the right letters, wrong last byte */
		assert_int_equal(try_load(other, sizeof(other), err, sizeof(err)), STEPUP_EBUNDLE);
	}
	assert_non_null(strstr(err, "bad magic"));
	assert_int_equal(stepup_ruleset_load_bundle("", 0, NULL, err, sizeof(err)), STEPUP_EINVAL);

	/* A NULL or zero-length error buffer is allowed. */
	assert_int_equal(stepup_ruleset_load_bundle("xx", 2, &rs, NULL, 0), STEPUP_EBUNDLE);
	assert_int_equal(stepup_ruleset_load_bundle("xx", 2, &rs, err, 0), STEPUP_EBUNDLE);

	/* A tiny error buffer is truncated, NUL-terminated. */
	char small[8];
	memset(small, 'X', sizeof(small));
	assert_int_equal(stepup_ruleset_load_bundle("xx", 2, &rs, small, sizeof(small)), STEPUP_EBUNDLE);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void refuses_every_truncation(void **state)
{
	(void)state;
	stepup_ruleset *rs = load_default();
	size_t len;
	char err[256];
	uint8_t *b = serialize(rs, &len);

	for (size_t n = 0; n < len; n++) {
		/* A private copy of exactly n bytes, so valgrind sees any overread. */
		uint8_t *p = malloc(n ? n : 1);
		assert_non_null(p);
		memcpy(p, b, n);
		int rc = try_load(p, n, err, sizeof(err));
		free(p);
		if (rc != STEPUP_EBUNDLE || !err[0])
			fail_msg("prefix of %zu/%zu bytes: rc=%d err='%s'", n, len, rc, err);
		if (n >= HEADER && !strstr(err, "truncated"))
			fail_msg("prefix of %zu/%zu bytes: message '%s' does not say truncated", n, len, err);
	}
	free(b);
	stepup_ruleset_unref(rs);
}

static void refuses_bit_flips(void **state)
{
	(void)state;
	stepup_ruleset *rs = load_default();
	size_t len;
	char err[256];
	uint8_t *b = serialize(rs, &len);

	for (size_t i = 0; i < len; i++) {
		if (i >= 12 && i < 16)
			continue;  /* reserved: see reserved_header_bytes_are_checked */
		/* Every bit of the header, one bit (rotating) of each body byte. */
		for (unsigned bit = 0; bit < 8; bit++) {
			if (i >= HEADER && bit != i % 8)
				continue;
			b[i] ^= (uint8_t)(1u << bit);
			int rc = try_load(b, len, err, sizeof(err));
			b[i] ^= (uint8_t)(1u << bit);
			/* A version byte flipped to an older format this build
			 * reads (1 or 2) is a malformed body; from format 4, one
			 * flipped bit never gives 3, whose layout is the same. */
			uint32_t v = i >= 8 && i < 12 ? get32(b + 8) ^ (1u << (8 * (i - 8) + bit)) : 0;
			int older = i >= 8 && i < 12 && v >= 1 && v <= 2;
			int want = i >= 8 && i < 12 && !older ? STEPUP_EVERSION : STEPUP_EBUNDLE;
			if (rc != want)
				fail_msg("flip of bit %u at byte %zu/%zu: rc=%d (want %d) err='%s'", bit, i, len, rc, want, err);
			const char *why = i < 8 ? "bad magic" : older ? "malformed" : i < 12 ? "version" : i < 24 ? "bundle" : "checksum";
			if (!strstr(err, why))
				fail_msg("flip of bit %u at byte %zu: message '%s' lacks '%s'", bit, i, err, why);
		}
	}
	/* The pristine copy still loads. */
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_OK);
	free(b);
	stepup_ruleset_unref(rs);
}

/* The header says "reserved, 0" and the checksum only covers the body: a
 * bundle whose reserved bytes are not zero was damaged (or written by a
 * format this build does not know) and must not load silently. */
static void reserved_header_bytes_are_checked(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	size_t len;
	char err[256], report[1024] = "";
	uint8_t *b = serialize(rs, &len);
	stepup_ruleset_unref(rs);
	for (size_t i = 12; i < 16; i++) {
		b[i] ^= 0x01;
		int rc = try_load(b, len, err, sizeof(err));
		b[i] ^= 0x01;
		if (rc == STEPUP_OK)
			snprintf(report + strlen(report), sizeof(report) - strlen(report),
			         "flipping bit 0 of reserved byte %zu: bundle loads (rc=0)\n", i);
	}
	free(b);
	if (report[0])
		fail_msg("%s", report);
}

static void refuses_other_versions(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	size_t len;
	char err[256];
	uint8_t *b = serialize(rs, &len);
	static const struct { uint32_t v; const char *text; } cases[] = {
		{ 5, "version 5" }, { 0, "version 0" }, { 0xffffffffu, "version 4294967295" }, { 0x100, "version 256" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put32(b + 8, cases[i].v);
		assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EVERSION);
		if (!strstr(err, cases[i].text) || !strstr(err, "versions 1 to 4"))
			fail_msg("version %u: message '%s' should name both versions", cases[i].v, err);
	}
	/* The version is checked before the length: a short foreign-version
	 * header is still reported as a version problem. */
	put32(b + 8, 5);
	assert_int_equal(try_load(b, HEADER, err, sizeof(err)), STEPUP_EVERSION);
	/* Format 4 has the layout of format 3 (its new opcodes aside). */
	put32(b + 8, 3);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_OK);
	put32(b + 8, 4);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_OK);
	/* A format 3 body read as format 2 or 1 is malformed, not misread. */
	put32(b + 8, 2);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	put32(b + 8, 1);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	free(b);
	stepup_ruleset_unref(rs);
}

static void refuses_trailing_garbage(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	size_t len;
	char err[256];
	uint8_t *b = serialize(rs, &len);
	uint8_t *big = calloc(1, len + 100);
	assert_non_null(big);
	memcpy(big, b, len);

	assert_int_equal(try_load(big, len + 1, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "trailing"));
	assert_int_equal(try_load(big, len + 100, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "100 bytes of trailing data"));

	/* Garbage covered by the length and the digest: the body parser notices. */
	put32(big + 16, (uint32_t)(len + 7 - HEADER));
	fix_digest(big, len + 7);
	assert_int_equal(try_load(big, len + 7, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "malformed"));

	/* A body length larger than the data. */
	put32(big + 16, (uint32_t)(len - HEADER + 1));
	assert_int_equal(try_load(big, len, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "truncated"));
	put32(big + 16, 0);
	put32(big + 20, 1);
	assert_int_equal(try_load(big, len, err, sizeof(err)), STEPUP_EBUNDLE);
	free(big);
	free(b);
	stepup_ruleset_unref(rs);
}

/* Issue 9: lengths are 64-bit and printed whole. A header claiming a body
 * of 5 GiB (over 2^32) on a short buffer names the real figure. */
static void lengths_over_4gib_printed_whole(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	size_t len;
	char err[256], want[256];
	uint8_t *b = serialize(rs, &len);
	uint64_t body = UINT64_C(5) << 30;  /* 5368709120 */
	put32(b + 16, (uint32_t)body);
	put32(b + 20, (uint32_t)(body >> 32));
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	snprintf(want, sizeof(want), "bundle truncated: body has %zu of 5368709120 bytes", len - HEADER);
	assert_string_equal(err, want);
	/* 2^32 + 10: the old (unsigned) cast printed 10. */
	body = (UINT64_C(1) << 32) + 10;
	put32(b + 16, (uint32_t)body);
	put32(b + 20, (uint32_t)(body >> 32));
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	snprintf(want, sizeof(want), "bundle truncated: body has %zu of 4294967306 bytes", len - HEADER);
	assert_string_equal(err, want);
	/* A claimed length that spells a card number is not repeated. */
	body = UINT64_C(4111111111111111);
	put32(b + 16, (uint32_t)body);
	put32(b + 20, (uint32_t)(body >> 32));
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	snprintf(want, sizeof(want), "bundle truncated: body has %zu of [card number] bytes", len - HEADER);
	assert_string_equal(err, want);
	free(b);
	stepup_ruleset_unref(rs);
}

/* Offset of the only occurrence of `needle` in b. */
static size_t find_bytes(const uint8_t *b, size_t len, const void *needle, size_t n)
{
	const uint8_t *p = memmem(b, len, needle, n);
	assert_non_null(p);
	assert_null(memmem(p + 1, len - (size_t)(p + 1 - b), needle, n));
	return (size_t)(p - b);
}

/* A crafted bundle cannot bring a card number or invalid UTF-8 into
 * responses, explain output or a disassembly: the verifier refuses every
 * string and integer constant that would (docs/pci.md). */
static void verifier_refuses_card_numbers_and_bad_utf8(void **state)
{
	(void)state;
	/* 4111111111111110 fails Luhn: it compiles; one digit more makes it
	 * the test Visa number. */
	stepup_ruleset *rs = compile_ok("ruleset \"bank caf\xc3\xa9\"\n"
	                                "rule a \"call 4111 1111 1111 1110\" when length(token_requestor.id) == 4111111111111110 "
	                                "then decline\n");
	size_t len, at;
	char err[256];
	uint8_t *orig = serialize(rs, &len), *b = malloc(len);
	assert_non_null(b);
	stepup_ruleset_unref(rs);

	memcpy(b, orig, len);
	at = find_bytes(b, len, "4111 1111 1111 1110", 19);
	b[at + 18] = '1';
	fix_digest(b, len);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "bundle rejected by the verifier: string "));
	assert_non_null(strstr(err, " holds a card number"));
	assert_false(stepup_card_number_find(err, strlen(err), NULL, NULL));

	memcpy(b, orig, len);
	at = find_bytes(b, len, "caf\xc3\xa9", 5);
	b[at + 4] = '(';  /* \xc3 then not a continuation byte */
	fix_digest(b, len);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, " is not valid UTF-8"));

	memcpy(b, orig, len);
	uint8_t le[8];
	uint64_t v = UINT64_C(4111111111111110);
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	at = find_bytes(b, len, le, 8);
	b[at] = (uint8_t)(b[at] + 1);  /* ...110 -> ...111 */
	fix_digest(b, len);
	assert_int_equal(try_load(b, len, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, " is a card number"));

	/* Untouched, it loads. */
	assert_int_equal(try_load(orig, len, err, sizeof(err)), STEPUP_OK);
	free(b);
	free(orig);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_bundle: a library call blocked on a FIFO\n";
	ssize_t n = write(2, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

/* Issue 9: a rules path that blocks on open() wedged the daemon. Every
 * file the library reads is opened without blocking and refused unless it
 * is a regular file: a FIFO nobody writes, a device, a directory. The
 * alarm is only a hang guard: each call must return at once. */
static void special_files_refused_without_blocking(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-fifo-XXXXXX", fifo[256], want[300], err[512], tmp[320];
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/rules.fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	void (*old)(int) = signal(SIGALRM, on_alarm);
	alarm(30);

	const char *paths[] = { fifo, "/dev/null", dir };
	for (size_t i = 0; i < TH_N(paths); i++) {
		stepup_ruleset *rs = NULL;
		stepup_engine *e = NULL;
		snprintf(want, sizeof(want), "%s: not a regular file", paths[i]);

		assert_int_equal(stepup_ruleset_load(paths[i], &rs, err, sizeof(err)), STEPUP_EIO);
		assert_null(rs);
		assert_string_equal(err, want);
		assert_int_equal(stepup_ruleset_load_flags(paths[i], NULL, STEPUP_LOAD_ALLOW_EMPTY, &rs, err,
		                                           sizeof(err)), STEPUP_EIO);
		assert_string_equal(err, want);

		stepup_compiler *c = stepup_compiler_new();
		assert_int_equal(stepup_compiler_add_file(c, paths[i]), STEPUP_EIO);
		assert_string_equal(stepup_compiler_diag(c, 0)->file, paths[i]);
		assert_string_equal(stepup_compiler_diag(c, 0)->message, "not a regular file");
		stepup_compiler_free(c);

		rs = compile_ok("rule a when card.state == CLOSED then decline\n");
		assert_int_equal(stepup_engine_new_from_file(rs, paths[i], &e, err, sizeof(err)), STEPUP_ECONFIG);
		assert_null(e);
		assert_string_equal(err, want);
		stepup_ruleset_unref(rs);
	}
	/* Saving: a FIFO planted at the temporary path fails, and stays. */
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	char out[300];
	snprintf(out, sizeof(out), "%s/out.bundle", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	assert_int_equal(stepup_ruleset_save(rs, out, err, sizeof(err)), STEPUP_EIO);
	struct stat st;
	assert_int_equal(stat(tmp, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_not_equal(stat(out, &st), 0);
	stepup_ruleset_unref(rs);

	alarm(0);
	signal(SIGALRM, old);
	unlink(tmp);
	unlink(fifo);
	assert_int_equal(rmdir(dir), 0);
}

/* The file is read once: a bundle and a source both load from one read
 * (nothing to observe from outside but the results), and a file that
 * is not readable names the reason. */
static void load_reads_sources_and_bundles(void **state)
{
	(void)state;
	char dir[] = "/tmp/stepup-test-load-XXXXXX", src[256], bun[256], err[512];
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/r.rules", dir);
	snprintf(bun, sizeof(bun), "%s/r.bundle", dir);
	FILE *f = fopen(src, "w");
	assert_non_null(f);
	fputs("ruleset \"file\"\nrule a when card.state == CLOSED then decline\n", f);
	fclose(f);
	stepup_ruleset *a = NULL, *b = NULL;
	assert_int_equal(stepup_ruleset_load(src, &a, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_ruleset_save(a, bun, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_ruleset_load(bun, &b, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_ruleset_revision(a), stepup_ruleset_revision(b));
	stepup_ruleset_unref(a);
	stepup_ruleset_unref(b);
	/* A 7-byte file that starts like the magic is a (bad) source. */
	f = fopen(src, "w");
	fputs("STEPUPB", f);
	fclose(f);
	assert_int_equal(stepup_ruleset_load(src, &a, err, sizeof(err)), STEPUP_ECOMPILE);
	assert_non_null(strstr(err, src));
	unlink(src);
	unlink(bun);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- corrupted bodies with a valid checksum ------------------------------- */

typedef struct crafted {
	uint8_t *b;
	size_t len;
	size_t code;       /* offset of the first instruction */
	uint32_t ncode;
	su_insn *insn;     /* the compiled program's code, for finding ops */
} crafted;

static crafted craft(const char *src)
{
	crafted c;
	stepup_ruleset *rs = compile_ok(src);
	c.b = serialize(rs, &c.len);
	c.ncode = rs->ncode;
	c.code = code_offset(c.b, c.len, c.ncode);
	c.insn = malloc(sizeof(su_insn) * c.ncode);
	assert_non_null(c.insn);
	memcpy(c.insn, rs->code, sizeof(su_insn) * c.ncode);
	stepup_ruleset_unref(rs);
	return c;
}

static void craft_free(crafted *c)
{
	free(c->b);
	free(c->insn);
}

static uint32_t find_op(const crafted *c, unsigned op, uint32_t from)
{
	for (uint32_t i = from; i < c->ncode; i++)
		if (c->insn[i].op == op)
			return i;
	fail_msg("opcode %s not in the compiled program", su_op_names[op]);
	return 0;
}

static uint8_t *at_insn(crafted *c, uint32_t pc)
{
	return c->b + c->code + (size_t)INSN * pc;
}

/* Load c after fix_digest; expect a refusal naming the verifier or body. */
static void expect_refused(crafted *c, const char *what)
{
	char err[256];
	fix_digest(c->b, c->len);
	int rc = try_load(c->b, c->len, err, sizeof(err));
	if (rc != STEPUP_EBUNDLE)
		fail_msg("%s: loaded (rc=%d), expected STEPUP_EBUNDLE", what, rc);
	if (!strstr(err, "verifier") && !strstr(err, "malformed"))
		fail_msg("%s: message '%s'", what, err);
}

static const char *const small_rules =
	"method IN_APP when end_user.app_enrolled\n"
	"method OTP_SMS always\n"
	"rule a \"desc\" when card.state == CLOSED and card.active_tokens > 3 then decline\n"
	"rule b when end_user.language in {\"fr\", \"de\"} or wallet.device_suspicious then step_up only OTP_SMS\n";

static void refuses_corrupted_code_and_tables(void **state)
{
	(void)state;
	crafted c;
	uint32_t pc;

	/* Each case starts again from a pristine bundle. */
	c = craft(small_rules);
	pc = find_op(&c, SU_OP_JF, 0);
	put32(at_insn(&c, pc) + 4, pc);  /* jump to itself */
	expect_refused(&c, "JF to itself");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_JF, 0);
	put32(at_insn(&c, pc) + 4, 0);  /* backwards */
	expect_refused(&c, "JF backwards");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_JT, 0);
	put32(at_insn(&c, pc) + 4, c.ncode + 5);  /* past the code */
	expect_refused(&c, "JT past the code");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_JT, 0);
	put32(at_insn(&c, pc) + 4, find_op(&c, SU_OP_END, pc) + 1);  /* into the next condition */
	expect_refused(&c, "JT past its END");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_BOOL, 0);
	at_insn(&c, pc)[1] = 7;  /* slot 7 is card.state, an enum */
	expect_refused(&c, "BOOL on an enum slot");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_BOOL, 0);
	at_insn(&c, pc)[1] = 200;  /* no such slot */
	expect_refused(&c, "BOOL on slot 200");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_ENUM_IN, 0);
	put32(at_insn(&c, pc) + 4, 1000);  /* mask index */
	expect_refused(&c, "ENUM_IN mask out of range");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_INT_CMP, 0);
	at_insn(&c, pc)[3] = 6;  /* comparison operator */
	expect_refused(&c, "INT_CMP with cmp 6");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_STR_IN, 0);
	put32(at_insn(&c, pc) + 4, 99);  /* set index */
	expect_refused(&c, "STR_IN set out of range");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_AND, 0);
	at_insn(&c, pc)[0] = 0xff;  /* no such opcode */
	expect_refused(&c, "opcode 0xff");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_END, 0);
	at_insn(&c, pc)[0] = SU_OP_NOT;  /* the condition never ends */
	expect_refused(&c, "END replaced");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_AND, 0);
	at_insn(&c, pc)[0] = SU_OP_NOT;  /* leaves two results */
	expect_refused(&c, "AND replaced by NOT");
	craft_free(&c);

	c = craft(small_rules);
	pc = find_op(&c, SU_OP_INT_CMP, 0);
	put32(at_insn(&c, pc) + 8, 5000);  /* explain atom */
	expect_refused(&c, "atom out of range");
	craft_free(&c);

	/* Trailer: merchant policy, stack sizes, imports. */
	c = craft(small_rules);
	c.b[c.len - TRAILER] = STEPUP_YELLOW;
	expect_refused(&c, "merchant policy YELLOW");
	craft_free(&c);

	c = craft(small_rules);
	put32(c.b + c.len - 12, 0);  /* max_tri */
	expect_refused(&c, "max_tri 0");
	craft_free(&c);

	c = craft(small_rules);
	put32(c.b + c.len - 12, 100000);
	expect_refused(&c, "max_tri 100000");
	craft_free(&c);

	c = craft(small_rules);
	put32(c.b + c.len - 4, 1);  /* one import, with no record after the count */
	expect_refused(&c, "plugin imports");
	craft_free(&c);

	/* Tables at the start of the body. */
	c = craft(small_rules);
	put32(c.b + HEADER, 0xffffffffu);  /* string table length */
	expect_refused(&c, "huge string table");
	craft_free(&c);

	c = craft(small_rules);
	{
		uint32_t tl = get32(c.b + HEADER);
		c.b[HEADER + 4 + tl - 1] = 'x';  /* unterminated string table */
	}
	expect_refused(&c, "unterminated string table");
	craft_free(&c);

	c = craft(small_rules);
	{
		uint32_t tl = get32(c.b + HEADER);
		put32(c.b + HEADER + 4 + tl, 0x7fffffffu);  /* number of strings */
	}
	expect_refused(&c, "huge string count");
	craft_free(&c);

	c = craft(small_rules);
	{
		uint32_t tl = get32(c.b + HEADER);
		put32(c.b + HEADER + 4 + tl + 4, tl + 10);  /* first string's offset */
	}
	expect_refused(&c, "string out of bounds");
	craft_free(&c);

	c = craft(small_rules);
	{
		uint32_t tl = get32(c.b + HEADER), ns = get32(c.b + HEADER + 4 + tl);
		put32(c.b + HEADER + 4 + tl + 4 + 8 * ns, 12345);  /* ruleset name index */
	}
	expect_refused(&c, "ruleset name out of range");
	craft_free(&c);
}

/* The verifier must prove the value stack too: V_CMP reads its operands as
 * the type it names, so comparing integers "as strings" would read an
 * integer as a pointer. */
static void verifier_rejects_value_type_confusion(void **state)
{
	(void)state;
	/* (length against a constant is one fused test: compare two values) */
	crafted c = craft("rule a when length(end_user.phone) == card.active_tokens then decline\n");
	uint32_t pc = find_op(&c, SU_OP_V_CMP, 0);
	assert_int_equal(at_insn(&c, pc)[1], SU_T_INT);
	at_insn(&c, pc)[1] = SU_T_STRING;
	fix_digest(c.b, c.len);
	char err[256];
	int rc = try_load(c.b, c.len, err, sizeof(err));
	craft_free(&c);
	if (rc == STEPUP_OK)
		fail_msg("a V_CMP on two integers relabelled as a string comparison passes the verifier");
	assert_int_equal(rc, STEPUP_EBUNDLE);
}

/* STR_IN indexes setitems by a set's range; an integer set's range indexes
 * the integer table instead. The verifier checks ranges against the larger
 * of the two tables, so a string test pointed at an integer set would read
 * past setitems. */
static void verifier_rejects_string_test_on_int_set(void **state)
{
	(void)state;
	char src[1024];
	size_t n = (size_t)snprintf(src, sizeof(src), "rule ints when card.active_tokens in {");
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "%s%d", i ? "," : "", i + 100);
	snprintf(src + n, sizeof(src) - n, "} then decline\nrule strs when end_user.language in {\"fr\"} then decline\n");
	crafted c = craft(src);
	uint32_t pc = find_op(&c, SU_OP_STR_IN, 0);
	assert_int_equal(get32(at_insn(&c, pc) + 4), 1);
	put32(at_insn(&c, pc) + 4, 0);  /* the integer set */
	fix_digest(c.b, c.len);
	char err[256];
	int rc = try_load(c.b, c.len, err, sizeof(err));
	craft_free(&c);
	if (rc == STEPUP_OK)
		fail_msg("STR_IN on an integer set (60 items, 1 string set item) passes the verifier");
	assert_int_equal(rc, STEPUP_EBUNDLE);
}

/* A forward jump that skips a value push leaves the value stack deeper on
 * one path than on the other; the verifier only compares the tri stack at
 * jump targets, so the evaluator could pop below its value stack. */
static void verifier_rejects_value_stack_mismatch_at_jump(void **state)
{
	(void)state;
	crafted c = craft("rule a when end_user.app_enrolled and length(end_user.phone) > card.active_tokens then decline\n");
	uint32_t jf = find_op(&c, SU_OP_JF, 0), call = find_op(&c, SU_OP_V_CALL, 0);
	assert_true(call > jf + 1);
	assert_int_equal(c.insn[jf + 1].op, SU_OP_V_FIELD);
	put32(at_insn(&c, jf) + 3, call);  /* skip the V_FIELD that feeds the call */
	fix_digest(c.b, c.len);
	char err[256];
	int rc = try_load(c.b, c.len, err, sizeof(err));
	craft_free(&c);
	if (rc == STEPUP_OK)
		fail_msg("a JF that skips a value push (value stack 0 vs 1 at its target) passes the verifier");
	assert_int_equal(rc, STEPUP_EBUNDLE);
}

/* ---- fuzzing ----------------------------------------------------------------- */

static const char *const fuzz_rules =
	"ruleset \"fuzz\"\n"
	"method IN_APP when end_user.app_enrolled\n"
	"method OTP_SMS when end_user.phone is present and not end_user.otp_exhausted\n"
	"method CUSTOMER_SERVICE always\n"
	"rule r1 \"d\" when card.state != ACTIVE or card.capture_method in {MANUAL, CAMERA} then decline\n"
	"rule r2 when card.active_tokens >= 3 and wallet.device_score < 2.5 then step_up only OTP_SMS line FRAUD\n"
	"rule r3 when end_user.language == \"fr\" or wallet.device_country in {\"US\", \"CA\"} then approve\n"
	"rule r4 when not ends_with(end_user.phone, wallet.phone_suffix) and length(end_user.email) > 3 then step_up\n"
	"rule r5 when wallet.reason_codes has any of {HIGH_RISK, \"NEW_CODE\"} or wallet.reason_codes has all of {LOW_DEVICE_SCORE} then step_up\n"
	"rule r6 when card.pan_suffix == wallet.phone_suffix or starts_with(end_user.email, \"ja\") then approve\n"
	"rule r7 when length(card.csc) is absent and card.active_tokens in {1, 2, 3} then approve\n"
	"rule r8 when true and end_user.app_enrolled == false then approve\n"
	"on channel ECOM_MERCHANT step_up becomes approve\n";

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* What the fuzzer is doing, for a crash report. */
static char fuzz_where[256];
static void (*cmocka_segv)(int);
static void fuzz_on_signal(int sig)
{
	ssize_t w = write(2, fuzz_where, strlen(fuzz_where));
	(void)w;
	signal(sig, cmocka_segv);
	raise(sig);
}

static void fuzz_corrupted_bodies(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok(fuzz_rules);
	size_t len;
	uint8_t *orig = serialize(rs, &len);
	size_t code = code_offset(orig, len, rs->ncode);
	stepup_ruleset_unref(rs);
	uint8_t *b = malloc(len);
	assert_non_null(b);
	stepup_request *req = stepup_request_new();
	stepup_decision *dec = stepup_decision_new();
	char *request = NULL;
	size_t loaded = 0, refused = 0;
	{
		/* One sample request that touches most fields. */
		const char *r = "{\"request_id\":\"f1\",\"tsp\":\"MDES\",\"channel\":\"XPAY_WALLET\","
		                "\"card\":{\"state\":\"ACTIVE\",\"capture_method\":\"MANUAL\",\"active_tokens\":3,"
		                "\"pan_suffix\":\"1234\"},"
		                "\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane@example.com\","
		                "\"app_enrolled\":true,\"language\":\"fr\",\"otp_exhausted\":false},"
		                "\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":2,\"device_country\":\"US\","
		                "\"reason_codes\":[\"HIGH_RISK\",\"NEW_CODE\",\"LOW_DEVICE_SCORE\"]}}";
		request = strdup(r);
	}
	rng_state = 0x5eed5eedcafef00dULL;
	cmocka_segv = signal(SIGSEGV, fuzz_on_signal);
	void (*cmocka_bus)(int) = signal(SIGBUS, fuzz_on_signal);

	for (int it = 0; it < 2000; it++) {
		memcpy(b, orig, len);
		int nmut = 1 + (int)(rnd() % 3);
		size_t pos = 0;
		for (int m = 0; m < nmut; m++) {
			/* Two thirds in the code section, the rest anywhere in the body. */
			if (rnd() % 3)
				pos = code + (size_t)(rnd() % (len - TRAILER - code));
			else
				pos = HEADER + (size_t)(rnd() % (len - HEADER));
			switch (rnd() % 5) {
			case 0: b[pos] ^= (uint8_t)(1u << (rnd() % 8)); break;
			case 1: b[pos] = (uint8_t)rnd(); break;
			case 2: b[pos] = (uint8_t)(rnd() % 8); break;
			case 3: b[pos] = 0xff; break;
			default:
				if (pos + 4 <= len)
					put32(b + pos, (uint32_t)(rnd() % 64));
			}
		}
		fix_digest(b, len);
		snprintf(fuzz_where, sizeof(fuzz_where),
		         "\nfuzz_corrupted_bodies: crashed at iteration %d (%d mutation(s), last at byte %zu, code at %zu)\n",
		         it, nmut, pos, code);
		stepup_ruleset *got = NULL;
		char err[256] = "";
		int rc = stepup_ruleset_load_bundle(b, len, &got, err, sizeof(err));
		if (rc != STEPUP_OK) {
			if (got || !err[0] || (rc != STEPUP_EBUNDLE && rc != STEPUP_EVERSION))
				fail_msg("iteration %d: rc=%d err='%s'", it, rc, err);
			refused++;
			continue;
		}
		loaded++;
		/* It passed: it must be safe to use. */
		char *dis = stepup_ruleset_disassemble(got);
		assert_non_null(dis);
		free(dis);
		stepup_engine *e = NULL;
		char eerr[256];
		if (stepup_engine_new(got, th_settings_full, &e, eerr, sizeof(eerr)) == STEPUP_OK) {
			const char *out = NULL;
			size_t outlen = 0;
			stepup_decide_json(e, req, dec, request, strlen(request), STEPUP_DECIDE_EXPLAIN, &out, &outlen);
			stepup_decide_json(e, req, dec, request, strlen(request), 0, &out, &outlen);
			stepup_engine_free(e);
		}
		stepup_ruleset_unref(got);
	}
	signal(SIGSEGV, cmocka_segv);
	signal(SIGBUS, cmocka_bus);
	print_message("fuzz: %zu corrupted bundles refused, %zu passed the verifier and ran\n", refused, loaded);
	assert_true(refused > 0);
	free(request);
	stepup_request_free(req);
	stepup_decision_free(dec);
	free(b);
	free(orig);
}

/* ---- verifier and disassembler on real programs ----------------------------- */

static void compiled_programs_verify(void **state)
{
	(void)state;
	char why[200];
	stepup_ruleset *rs = load_default();
	assert_int_equal(su_program_verify(rs, why, sizeof(why)), 0);
	stepup_ruleset_unref(rs);
	rs = compile_ok(fuzz_rules);
	assert_int_equal(su_program_verify(rs, why, sizeof(why)), 0);
	stepup_ruleset_unref(rs);
}

static void disassembly_names_rules(void **state)
{
	(void)state;
	stepup_ruleset *rs = load_default();
	char *d = stepup_ruleset_disassemble(rs);
	assert_non_null(d);
	assert_non_null(strstr(d, "ruleset \"issuer-default\" sha256:"));
	assert_non_null(strstr(d, stepup_ruleset_revision(rs)));
	assert_non_null(strstr(d, "method IN_APP\n"));
	assert_non_null(strstr(d, "method CUSTOMER_SERVICE\n"));
	assert_non_null(strstr(d, "merchant policy: step_up becomes approve"));
	static const char *const names[] = {
		"rule card_unknown (default.rules:", "rule card_not_active (default.rules:",
		"rule phone_mismatch (default.rules:", "rule missing_csc (default.rules:",
		"rule suspicious_device (default.rules:",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strstr(d, names[i]))
			fail_msg("disassembly lacks '%s':\n%s", names[i], d);
	/* One "rule " line per rule. */
	size_t n = 0;
	for (const char *p = d; (p = strstr(p, "\nrule ")); p++)
		n++;
	assert_int_equal(n, stepup_ruleset_rule_count(rs));
	assert_non_null(strstr(d, "allowed=0x8 line FRAUD"));
	free(d);
	stepup_ruleset_unref(rs);

	rs = compile_ok("rule only_rule when card.state == CLOSED then decline\n");
	d = stepup_ruleset_disassemble(rs);
	assert_non_null(strstr(d, "ruleset \"unnamed\""));
	assert_non_null(strstr(d, "rule only_rule (t.rules:1) decline\n"));
	assert_non_null(strstr(d, "ENUM_IN"));
	assert_non_null(strstr(d, "card.state"));
	assert_non_null(strstr(d, "(default)"));
	free(d);
	stepup_ruleset_unref(rs);
	assert_null(stepup_ruleset_disassemble(NULL));
}

static void refcounting(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok("rule a when card.state == CLOSED then decline\n");
	assert_ptr_equal(stepup_ruleset_ref(rs), rs);
	stepup_engine *e = NULL;
	char err[256];
	assert_int_equal(stepup_engine_new(rs, NULL, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	stepup_ruleset_unref(rs);
	/* The engine's own reference keeps it alive. */
	assert_string_equal(stepup_ruleset_name(stepup_engine_ruleset(e)), "unnamed");
	th_result r = th_decide_patched(e, "{\"card\":{\"state\":\"CLOSED\"}}");
	assert_int_equal(r.outcome, STEPUP_RED);
	th_result_free(&r);
	stepup_engine_free(e);
	assert_null(stepup_ruleset_ref(NULL));
	stepup_ruleset_unref(NULL);
	void *data = NULL;
	size_t len = 0;
	assert_int_equal(stepup_ruleset_serialize(NULL, &data, &len), STEPUP_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_default_rules),
		cmocka_unit_test(round_trip_all_constructs),
		cmocka_unit_test(save_and_load_file),
		cmocka_unit_test(empty_rulesets_fail_closed),
		cmocka_unit_test(outcome_counts),
		cmocka_unit_test(revision_tracks_source),
		cmocka_unit_test(refuses_empty_and_foreign_data),
		cmocka_unit_test(refuses_every_truncation),
		cmocka_unit_test(refuses_bit_flips),
		cmocka_unit_test(reserved_header_bytes_are_checked),
		cmocka_unit_test(refuses_other_versions),
		cmocka_unit_test(refuses_trailing_garbage),
		cmocka_unit_test(refuses_corrupted_code_and_tables),
		cmocka_unit_test(verifier_rejects_value_type_confusion),
		cmocka_unit_test(verifier_rejects_string_test_on_int_set),
		cmocka_unit_test(verifier_rejects_value_stack_mismatch_at_jump),
		cmocka_unit_test(fuzz_corrupted_bodies),
		cmocka_unit_test(compiled_programs_verify),
		cmocka_unit_test(disassembly_names_rules),
		cmocka_unit_test(refcounting),
		cmocka_unit_test(lengths_over_4gib_printed_whole),
		cmocka_unit_test(verifier_refuses_card_numbers_and_bad_utf8),
		cmocka_unit_test(special_files_refused_without_blocking),
		cmocka_unit_test(load_reads_sources_and_bundles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
