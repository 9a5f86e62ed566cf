/* test_sign.c: signed bundles (engine/bundle_sign.c, engine/trusted.c):
 * key pairs, signing, verifying, and loading under a signing policy.
 *
 * A bundle that was changed after signing, signed by a key not trusted, or
 * not signed at all where a signature is required must be refused with a
 * message naming the file; a good one loads and names its signer. Every
 * byte of a signed bundle is covered: a flip anywhere is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

static char dir[64];
static char key1[128], pub1[128], key2[128], pub2[128];
static char fp1[STEPUP_FINGERPRINT_SIZE], fp2[STEPUP_FINGERPRINT_SIZE];

static void path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static int setup(void **state)
{
	char err[512];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/stepup-sign-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	path(key1, sizeof(key1), "k1");
	path(pub1, sizeof(pub1), "k1.pub");
	path(key2, sizeof(key2), "k2");
	path(pub2, sizeof(pub2), "k2.pub");
	if (stepup_key_generate(key1, pub1, fp1, err, sizeof(err)) != STEPUP_OK ||
	    stepup_key_generate(key2, pub2, fp2, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "keygen: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint8_t *default_bundle(size_t *len)
{
	stepup_ruleset *rs = NULL;
	void *data = NULL;
	char err[512];
	if (stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)) != STEPUP_OK)
		fail_msg("%s", err);
	assert_int_equal(stepup_ruleset_serialize(rs, &data, len), STEPUP_OK);
	stepup_ruleset_unref(rs);
	return data;
}

static uint8_t *signed_bundle(const char *key, size_t *len)
{
	size_t blen;
	uint8_t *b = default_bundle(&blen);
	void *out = NULL;
	char err[512];
	if (stepup_bundle_sign(b, blen, key, &out, len, NULL, err, sizeof(err)) != STEPUP_OK)
		fail_msg("sign: %s", err);
	free(b);
	return out;
}

static void write_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static stepup_keyring *ring(const char *pub)
{
	stepup_keyring *k = stepup_keyring_new();
	char err[512];
	assert_non_null(k);
	if (pub && stepup_keyring_add_file(k, pub, err, sizeof(err)) != STEPUP_OK)
		fail_msg("%s", err);
	return k;
}

/* Load p under the policy; the status, the message in err. */
static int load(const char *p, const stepup_keyring *k, unsigned flags, char *fp, char *err, size_t errlen)
{
	stepup_ruleset *rs = NULL;
	int rc = stepup_ruleset_load_trusted(p, NULL, flags, k, &rs, fp, err, errlen);
	assert_true((rc == STEPUP_OK) == (rs != NULL));
	stepup_ruleset_unref(rs);
	return rc;
}

static void test_keygen(void **state)
{
	(void)state;
	struct stat st;
	char err[512], fp[STEPUP_FINGERPRINT_SIZE];
	assert_int_equal(stat(key1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(strncmp(fp1, "ed25519:", 8), 0);
	assert_int_equal(strlen(fp1), 40);
	assert_string_not_equal(fp1, fp2);
	/* Never over an existing key. */
	assert_int_not_equal(stepup_key_generate(key1, pub1, fp, err, sizeof(err)), STEPUP_OK);
	assert_non_null(strstr(err, key1));
	/* The keyring names the key the same way. */
	stepup_keyring *k = ring(pub1);
	assert_int_equal(stepup_keyring_count(k), 1);
	assert_string_equal(stepup_keyring_fingerprint(k, 0), fp1);
	stepup_keyring_free(k);
}

static void test_signed_loads(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = signed_bundle(key1, &len);
	char p[160], fp[STEPUP_FINGERPRINT_SIZE], err[512];
	stepup_keyring *k = ring(pub1);
	path(p, sizeof(p), "good.bundle");
	write_file(p, b, len);
	assert_int_equal(stepup_bundle_verify(b, len, k, fp, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(fp, fp1);
	assert_int_equal(load(p, k, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(fp, fp1);
	/* Every loader accepts a signed bundle (the trailer is ignored). */
	stepup_ruleset *rs = NULL;
	assert_int_equal(stepup_ruleset_load(p, &rs, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	assert_int_equal(stepup_ruleset_load_bundle(b, len, &rs, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	/* Signed again by another key: the old signature is replaced. */
	void *again = NULL;
	size_t alen;
	assert_int_equal(stepup_bundle_sign(b, len, key2, &again, &alen, fp, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(alen, len);
	assert_string_equal(fp, fp2);
	stepup_keyring *k2 = ring(pub2);
	assert_int_equal(stepup_bundle_verify(again, alen, k2, fp, err, sizeof(err)), STEPUP_OK);
	free(again);
	stepup_keyring_free(k2);
	stepup_keyring_free(k);
	free(b);
}

static void test_unsigned(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = default_bundle(&len);
	char p[160], fp[STEPUP_FINGERPRINT_SIZE], err[512];
	stepup_keyring *k = ring(pub1);
	path(p, sizeof(p), "unsigned.bundle");
	write_file(p, b, len);
	assert_int_equal(stepup_bundle_verify(b, len, k, fp, err, sizeof(err)), STEPUP_ENOTFOUND);
	/* Required: refused, naming the file. */
	assert_int_equal(load(p, k, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "not signed"));
	/* Not required: it loads, no signer. */
	assert_int_equal(load(p, k, 0, fp, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(fp, "");
	/* Rule sources are never signed: refused when a signature is. */
	assert_int_equal(load(SRCDIR "/rules/default.rules", k, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)),
	                 STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "default.rules"));
	assert_int_equal(load(SRCDIR "/rules/default.rules", k, 0, fp, err, sizeof(err)), STEPUP_OK);
	stepup_keyring_free(k);
	free(b);
}

static void test_wrong_key(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = signed_bundle(key2, &len);
	char p[160], fp[STEPUP_FINGERPRINT_SIZE], err[512];
	stepup_keyring *k = ring(pub1);
	path(p, sizeof(p), "other.bundle");
	write_file(p, b, len);
	assert_int_equal(load(p, k, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, fp2));
	assert_non_null(strstr(err, "not a trusted key"));
	/* Even when signatures are not required: a signature that does not
	 * check out is refused whenever a key is trusted. */
	assert_int_equal(load(p, k, 0, fp, err, sizeof(err)), STEPUP_EBUNDLE);
	/* No key trusted, none required: signatures are not checked. */
	stepup_keyring *none = ring(NULL);
	assert_int_equal(load(p, none, 0, fp, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(load(p, NULL, 0, fp, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(load(p, none, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)), STEPUP_EBUNDLE);
	stepup_keyring_free(none);
	stepup_keyring_free(k);
	free(b);
}

/* One flipped bit at every byte of a signed bundle: refused each time,
 * never loaded with a signer. */
static void test_every_byte(void **state)
{
	(void)state;
	size_t len;
	uint8_t *b = signed_bundle(key1, &len);
	char fp[STEPUP_FINGERPRINT_SIZE], err[512];
	stepup_keyring *k = ring(pub1);
	size_t step = th_under_valgrind() ? 97 : 1;
	for (size_t i = 0; i < len; i += step) {
		b[i] ^= 0x20;
		int rc = stepup_bundle_verify(b, len, k, fp, err, sizeof(err));
		if (rc == STEPUP_OK)
			fail_msg("a bundle with byte %zu flipped verifies", i);
		b[i] ^= 0x20;
	}
	/* And through the loader, a flip in the body, in the signature and in
	 * the key id. */
	size_t at[] = { 100, len - 30, len - 80 };
	char p[160];
	path(p, sizeof(p), "flipped.bundle");
	for (size_t i = 0; i < TH_N(at); i++) {
		b[at[i]] ^= 1;
		write_file(p, b, len);
		assert_int_equal(load(p, k, STEPUP_LOAD_SIGNED, fp, err, sizeof(err)), STEPUP_EBUNDLE);
		assert_non_null(strstr(err, p));
		b[at[i]] ^= 1;
	}
	b[100] ^= 1;
	write_file(p, b, len);
	assert_int_equal(load(p, k, 0, fp, err, sizeof(err)), STEPUP_EBUNDLE);
	assert_non_null(strstr(err, "does not verify"));
	stepup_keyring_free(k);
	free(b);
}

static void test_bad_keys(void **state)
{
	(void)state;
	char err[512], p[160];
	void *out = NULL;
	size_t outlen, len;
	uint8_t *b = default_bundle(&len);
	stepup_keyring *k = stepup_keyring_new();

	/* A private key others can read is refused, naming the file. */
	path(p, sizeof(p), "open.key");
	char *text = NULL;
	FILE *f = fopen(key1, "r");
	assert_non_null(f);
	text = calloc(1, 4096);
	size_t n = fread(text, 1, 4095, f);
	fclose(f);
	write_file(p, text, n);
	chmod(p, 0644);
	assert_int_equal(stepup_bundle_sign(b, len, p, &out, &outlen, NULL, err, sizeof(err)), STEPUP_ECONFIG);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, "chmod 600"));
	free(text);
	/* The public key does not sign; the private one is not trusted. */
	assert_int_not_equal(stepup_bundle_sign(b, len, pub1, &out, &outlen, NULL, err, sizeof(err)), STEPUP_OK);
	assert_non_null(strstr(err, "public key"));
	assert_int_equal(stepup_keyring_add_file(k, key1, err, sizeof(err)), STEPUP_ECONFIG);
	assert_non_null(strstr(err, "private key"));
	/* Not a key, not there, not Ed25519. */
	assert_int_equal(stepup_keyring_add_file(k, SRCDIR "/rules/default.rules", err, sizeof(err)),
	                 STEPUP_ECONFIG);
	assert_non_null(strstr(err, "default.rules"));
	assert_int_equal(stepup_keyring_add_file(k, "/nonexistent/k.pub", err, sizeof(err)), STEPUP_EIO);
	assert_non_null(strstr(err, "/nonexistent/k.pub"));
	path(p, sizeof(p), "rsa.pub");
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 2>/dev/null | "
	         "openssl pkey -pubout -out %s 2>/dev/null", p);
	if (system(cmd) == 0) {
		assert_int_equal(stepup_keyring_add_file(k, p, err, sizeof(err)), STEPUP_ECONFIG);
		assert_non_null(strstr(err, "Ed25519"));
	}
	/* Only bundles are signed. */
	assert_int_equal(stepup_bundle_sign("ruleset \"x\"", 11, key1, &out, &outlen, NULL, err, sizeof(err)),
	                 STEPUP_EBUNDLE);
	assert_int_equal(stepup_keyring_count(k), 0);
	stepup_keyring_free(k);
	free(b);
}

/* A key made by the openssl command line, as docs/change-control.md says,
 * works the same. */
static void test_openssl_keys(void **state)
{
	(void)state;
	char key[160], pub[160], cmd[1024], err[512], fp[STEPUP_FINGERPRINT_SIZE];
	path(key, sizeof(key), "ossl.key");
	path(pub, sizeof(pub), "ossl.pub");
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ed25519 -out %s 2>/dev/null && chmod 600 %s && "
	         "openssl pkey -in %s -pubout -out %s 2>/dev/null", key, key, key, pub);
	if (system(cmd) != 0)
		skip();
	size_t len, slen;
	uint8_t *b = default_bundle(&len);
	void *s = NULL;
	assert_int_equal(stepup_bundle_sign(b, len, key, &s, &slen, NULL, err, sizeof(err)), STEPUP_OK);
	stepup_keyring *k = ring(pub);
	assert_int_equal(stepup_bundle_verify(s, slen, k, fp, err, sizeof(err)), STEPUP_OK);
	assert_string_equal(fp, stepup_keyring_fingerprint(k, 0));
	stepup_keyring_free(k);
	free(s);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen),
		cmocka_unit_test(test_signed_loads),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_openssl_keys),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
