/* test_mdes_crypto.c: MDES field-level encryption (daemon/mdes/crypto.c)
 * and the payload's checks (daemon/mdes/facts.c): each way Mastercard may
 * encrypt (OAEP SHA-256 and SHA-512, PKCS#1 v1.5, with and without an IV,
 * GCM), keys found by fingerprint (rotation, certificate, stated), and
 * each way a payload goes wrong (wrong fingerprint, truncated hex, bad
 * padding, a wrong OAEP hash, an expired payload, a key file others can
 * read). Encrypted with the CLI's code (mdes_encrypt) against the test key
 * pairs of tests/data/mdes; the private keys are copied to 0600 files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../daemon/mdes/crypto.h"
#include "../../daemon/mdes/facts.h"
#include "util.h"

#define DATA SRCDIR "/tests/data/mdes/"
#define PLAIN "{\"cardAccountData\":{\"accountNumber\":\"5555555555554444\",\"expiryMonth\":\"12\"," \
              "\"expiryYear\":\"30\",\"securityCode\":\"123\"},\"source\":\"ACCOUNT_ON_FILE\"}"

static char dir[64], key1[128], key2[128];

/* A private key of tests/data/mdes copied to a file of `mode`. */
static void copy_key(const char *name, const char *to, mode_t mode)
{
	char from[512], buf[8192];
	snprintf(from, sizeof(from), DATA "%s", name);
	FILE *in = fopen(from, "r");
	assert_non_null(in);
	size_t n = fread(buf, 1, sizeof(buf), in);
	fclose(in);
	FILE *out = fopen(to, "w");
	assert_non_null(out);
	assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(out);
	assert_int_equal(chmod(to, mode), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_mdes_crypto.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(key1, sizeof(key1), "%s/key1.pem", dir);
	snprintf(key2, sizeof(key2), "%s/key2.pem", dir);
	copy_key("issuer-key.pem", key1, 0600);
	copy_key("issuer-key-2.pem", key2, 0600);
	return 0;
}

static int teardown(void **state)
{
	char p[160];
	(void)state;
	snprintf(p, sizeof(p), "%s/key1.pem", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/key2.pem", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/open.pem", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

static mdes_keyring *ring(int both)
{
	char err[512];
	mdes_keyring *kr = mdes_keyring_new();
	assert_non_null(kr);
	if (mdes_keyring_add_file(kr, key1, NULL, NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (both && mdes_keyring_add_file(kr, key2, DATA "issuer-cert-2.pem", NULL, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return kr;
}

/* An encryptedPayload object of plain for pub with o. */
static json_t *encrypt_for(const char *pub, const char *plain, const mdes_encrypt_opts *o)
{
	char *out = NULL, err[256];
	if (mdes_encrypt(pub, plain, strlen(plain), o, &out, err, sizeof(err)) != 0)
		fail_msg("encrypt: %s", err);
	json_t *j = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(j);
	return j;
}

static mdes_payload fields(json_t *p)
{
	mdes_payload pl = {
		json_string_value(json_object_get(p, "encryptedData")),
		json_string_value(json_object_get(p, "encryptedKey")),
		json_string_value(json_object_get(p, "publicKeyFingerprint")),
		json_string_value(json_object_get(p, "oaepHashingAlgorithm")),
		json_string_value(json_object_get(p, "iv")),
		json_string_value(json_object_get(p, "algorithmCipherMode")),
		json_string_value(json_object_get(p, "tag")),
		json_string_value(json_object_get(p, "aad")),
	};
	return pl;
}

/* Decrypt p with kr: the status, and the plaintext equal to PLAIN on success. */
static int decrypt_status(mdes_keyring *kr, json_t *p, const char **field)
{
	char *plain = NULL, why[256];
	size_t len = 0;
	const char *f = NULL;
	mdes_payload pl = fields(p);
	int st = mdes_decrypt(kr, &pl, &plain, &len, &f, why, sizeof(why));
	if (st == MDES_C_OK) {
		assert_int_equal(len, strlen(PLAIN));
		assert_memory_equal(plain, PLAIN, len);
		mdes_plain_free(plain, len);
	} else {
		assert_null(plain);
		/* Reasons name fields, never quote a value. */
		assert_null(strstr(why, "5555"));
	}
	if (field)
		*field = f;
	return st;
}

static void roundtrip(const char *oaep, int iv, int gcm, unsigned bits)
{
	mdes_keyring *kr = ring(0);
	mdes_encrypt_opts o = { oaep, iv, gcm, bits, NULL };
	json_t *p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	assert_true(iv ? json_object_get(p, "iv") != NULL : json_object_get(p, "iv") == NULL);
	assert_true(oaep ? json_object_get(p, "oaepHashingAlgorithm") != NULL
	                 : json_object_get(p, "oaepHashingAlgorithm") == NULL);
	assert_int_equal(decrypt_status(kr, p, NULL), MDES_C_OK);
	json_decref(p);
	mdes_keyring_free(kr);
}

static void test_oaep_sha256(void **s) { (void)s; roundtrip("SHA256", 1, 0, 128); }
static void test_oaep_sha512(void **s) { (void)s; roundtrip("SHA512", 1, 0, 256); }
static void test_pkcs1_v15(void **s) { (void)s; roundtrip(NULL, 1, 0, 128); }
static void test_zero_iv(void **s) { (void)s; roundtrip("SHA256", 0, 0, 128); }
static void test_pkcs1_zero_iv(void **s) { (void)s; roundtrip(NULL, 0, 0, 256); }
static void test_gcm(void **s) { (void)s; roundtrip("SHA512", 1, 1, 256); }

/* Two keys: each payload is decrypted with the key its fingerprint names,
 * whichever fingerprint Mastercard uses for it. */
static void test_rotation(void **s)
{
	(void)s;
	mdes_keyring *kr = ring(1);
	mdes_encrypt_opts o = { "SHA256", 1, 0, 128, NULL };
	json_t *p1 = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	json_t *p2 = encrypt_for(DATA "issuer-pub-2.pem", PLAIN, &o);
	assert_int_equal(mdes_keyring_count(kr), 2);
	assert_string_equal(json_string_value(json_object_get(p1, "publicKeyFingerprint")),
	                    mdes_keyring_fingerprint(kr, 0));
	assert_int_equal(decrypt_status(kr, p1, NULL), MDES_C_OK);
	assert_int_equal(decrypt_status(kr, p2, NULL), MDES_C_OK);
	/* Upper-case hex names the same key. */
	char up[80];
	snprintf(up, sizeof(up), "%s", mdes_keyring_fingerprint(kr, 1));
	for (char *c = up; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c -= 32;
	json_object_set_new(p2, "publicKeyFingerprint", json_string(up));
	assert_int_equal(decrypt_status(kr, p2, NULL), MDES_C_OK);
	json_decref(p2);
	/* The certificate's fingerprint (its DER's SHA-256), as some
	 * Mastercard libraries compute it. */
	char cert_fp[65];
	FILE *f = fopen(DATA "issuer-cert-2.pem", "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	unsigned char *der = NULL, md[32];
	unsigned n = 0;
	int dl = i2d_X509(x, &der);
	EVP_Digest(der, (size_t)dl, md, &n, EVP_sha256(), NULL);
	mdes_hex(md, 32, cert_fp);
	OPENSSL_free(der);
	X509_free(x);
	mdes_encrypt_opts oc = { "SHA256", 1, 0, 128, cert_fp };
	p2 = encrypt_for(DATA "issuer-cert-2.pem", PLAIN, &oc);
	assert_int_equal(decrypt_status(kr, p2, NULL), MDES_C_OK);
	/* The key it names decrypts, not the other one: key 2 alone fails. */
	mdes_keyring *only1 = ring(0);
	const char *field;
	assert_int_equal(decrypt_status(only1, p2, &field), MDES_C_UNKNOWN_KEY);
	assert_string_equal(field, "publicKeyFingerprint");
	mdes_keyring_free(only1);
	json_decref(p1);
	json_decref(p2);
	mdes_keyring_free(kr);
}

static void test_wrong_fingerprint(void **s)
{
	(void)s;
	mdes_keyring *kr = ring(1);
	mdes_encrypt_opts o = { "SHA256", 1, 0, 128, "0123456789abcdef0123456789abcdef01234567" };
	json_t *p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	const char *field;
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_UNKNOWN_KEY);
	assert_string_equal(field, "publicKeyFingerprint");
	json_decref(p);
	/* Right fingerprint, wrong key behind it: the AES key does not unwrap. */
	mdes_encrypt_opts o2 = { "SHA256", 1, 0, 128, mdes_keyring_fingerprint(kr, 1) };
	p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o2);
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_KEY);
	assert_string_equal(field, "encryptedKey");
	json_decref(p);
	mdes_keyring_free(kr);
}

static void test_wrong_oaep_hash(void **s)
{
	(void)s;
	mdes_keyring *kr = ring(0);
	mdes_encrypt_opts o = { "SHA512", 1, 0, 128, NULL };
	json_t *p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	json_object_set_new(p, "oaepHashingAlgorithm", json_string("SHA256"));
	assert_int_equal(decrypt_status(kr, p, NULL), MDES_C_BAD_KEY);
	json_object_set_new(p, "oaepHashingAlgorithm", json_string("MD5"));
	assert_int_equal(decrypt_status(kr, p, NULL), MDES_C_BAD_VALUE);
	json_decref(p);
	mdes_keyring_free(kr);
}

/* encryptedData cut short: an odd number of digits, then a whole number
 * of bytes that is not a whole number of blocks, then not hex at all. */
static void test_truncated_hex(void **s)
{
	(void)s;
	mdes_keyring *kr = ring(0);
	mdes_encrypt_opts o = { "SHA256", 1, 0, 128, NULL };
	json_t *p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	char *data = strdup(json_string_value(json_object_get(p, "encryptedData")));
	const char *field;
	size_t n = strlen(data);
	data[n - 1] = '\0';
	json_object_set_new(p, "encryptedData", json_string(data));
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_FORMAT);
	assert_string_equal(field, "encryptedData");
	data[n - 2] = '\0';
	json_object_set_new(p, "encryptedData", json_string(data));
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_FORMAT);
	data[0] = 'g';
	json_object_set_new(p, "encryptedData", json_string(data));
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_FORMAT);
	free(data);
	/* The key and the IV too. */
	json_decref(p);
	p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	json_object_set_new(p, "iv", json_string("0011"));
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_FORMAT);
	assert_string_equal(field, "iv");
	json_decref(p);
	p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
	char *k = strdup(json_string_value(json_object_get(p, "encryptedKey")));
	k[strlen(k) - 2] = '\0';
	json_object_set_new(p, "encryptedKey", json_string(k));
	assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_KEY);
	free(k);
	json_decref(p);
	mdes_keyring_free(kr);
}

/* A flipped byte in the last block breaks the PKCS#7 padding (CBC) or the
 * tag (GCM); a wrong IV leaves a CBC payload that decrypts to garbage
 * JSON, refused when parsed. */
static void test_bad_padding(void **s)
{
	(void)s;
	mdes_keyring *kr = ring(0);
	for (int gcm = 0; gcm < 2; gcm++) {
		mdes_encrypt_opts o = { "SHA256", 1, gcm, 128, NULL };
		json_t *p = encrypt_for(DATA "issuer-pub.pem", PLAIN, &o);
		char *data = strdup(json_string_value(json_object_get(p, "encryptedData")));
		size_t n = strlen(data);
		/* The high bit of the last byte of the second-to-last block
		 * (CBC: the padding byte becomes 128 or more, never valid
		 * padding; GCM: any change breaks the tag). */
		size_t at = gcm ? n - 1 : n - 34;
		static const char hex[] = "0123456789abcdef";
		int v = data[at] <= '9' ? data[at] - '0' : (data[at] | 0x20) - 'a' + 10;
		data[at] = hex[v ^ 8];
		json_object_set_new(p, "encryptedData", json_string(data));
		const char *field;
		assert_int_equal(decrypt_status(kr, p, &field), MDES_C_BAD_DATA);
		assert_string_equal(field, "encryptedData");
		free(data);
		json_decref(p);
	}
	mdes_keyring_free(kr);
}

static void test_key_file_mode(void **s)
{
	(void)s;
	char open_key[160], err[512];
	snprintf(open_key, sizeof(open_key), "%s/open.pem", dir);
	copy_key("issuer-key.pem", open_key, 0644);
	mdes_keyring *kr = mdes_keyring_new();
	assert_int_equal(mdes_keyring_add_file(kr, open_key, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, open_key));
	assert_non_null(strstr(err, "chmod 600"));
	/* A public key is no private key. */
	assert_int_equal(mdes_keyring_add_file(kr, DATA "issuer-pub.pem", NULL, NULL, err, sizeof(err)), -1);
	/* The same key twice: one fingerprint cannot name two keys. */
	assert_int_equal(mdes_keyring_add_file(kr, key1, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(mdes_keyring_add_file(kr, key1, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already another key's"));
	/* A certificate of another key is refused. */
	assert_int_equal(mdes_keyring_add_file(kr, key2, DATA "issuer-cert-2.pem", NULL, err, sizeof(err)), 0);
	mdes_keyring_free(kr);
	kr = mdes_keyring_new();
	assert_int_equal(mdes_keyring_add_file(kr, key1, DATA "issuer-cert-2.pem", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not for the key"));
	mdes_keyring_free(kr);
}

static int open_payload(const char *plain, int64_t now, mdes_card *c, char *why, size_t whylen)
{
	const char *code;
	char field[128];
	return mdes_payload_open(plain, strlen(plain), "r1", now, c, &code, field, sizeof(field), why, whylen);
}

static void test_expired(void **s)
{
	(void)s;
	mdes_card c;
	char why[256];
	const char *code;
	char field[128];
	const char *in = "{\"dataValidUntilTimestamp\":\"2026-07-04T12:09:56.123-07:00\","
	                 "\"cardAccountData\":{\"accountNumber\":\"5555555555554444\"}}";
	int64_t valid = su_parse_time("2026-07-04T19:09:56Z");
	assert_int_equal(valid, su_parse_time("2026-07-04T12:09:56.123-07:00"));
	assert_int_equal(open_payload(in, valid - 10, &c, why, sizeof(why)), 0);
	assert_string_equal(c.card.pan, "5555555555554444");
	mdes_payload_close(&c);
	assert_int_equal(mdes_payload_open(in, strlen(in), "r1", valid + 1, &c, &code, field, sizeof(field), why,
	                                   sizeof(why)), -1);
	assert_string_equal(code, "INVALID_FIELD_VALUE");
	assert_non_null(strstr(why, "dataValidUntilTimestamp has passed"));
	assert_null(strstr(why, "5555"));
	/* No card number, a malformed time, not JSON: named, never quoted. */
	assert_int_equal(open_payload("{\"cardAccountData\":{}}", 0, &c, why, sizeof(why)), -1);
	assert_int_equal(open_payload("{\"dataValidUntilTimestamp\":\"soon\",\"cardAccountData\":{}}", 0, &c,
	                              why, sizeof(why)), -1);
	assert_int_equal(open_payload("5555555555554444", 0, &c, why, sizeof(why)), -1);
	assert_null(strstr(why, "5555"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oaep_sha256),   cmocka_unit_test(test_oaep_sha512),
		cmocka_unit_test(test_pkcs1_v15),     cmocka_unit_test(test_zero_iv),
		cmocka_unit_test(test_pkcs1_zero_iv), cmocka_unit_test(test_gcm),
		cmocka_unit_test(test_rotation),      cmocka_unit_test(test_wrong_fingerprint),
		cmocka_unit_test(test_wrong_oaep_hash), cmocka_unit_test(test_truncated_hex),
		cmocka_unit_test(test_bad_padding),   cmocka_unit_test(test_key_file_mode),
		cmocka_unit_test(test_expired),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
