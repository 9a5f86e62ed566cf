/* fuzz_mdes.c: stepupd's MDES request path (daemon/mdes), from the bytes
 * MDES could send to what the rules decide:
 *
 *   first byte % 9 picks the mode, the rest is the input:
 *     0-4  a request body of operation (0..4): JSON, the spec's field
 *          table (spec.c), and for authorizeService / requestActivation-
 *          Methods its encryptedPayload decrypted with the test key
 *          (crypto.c), opened (facts.c), turned into facts and decided
 *          by rules/mdes.rules, the answer rendered (answer.c);
 *     5    a decrypted payload: encrypted with the test public key first
 *          (so the fuzzer reaches the payload's own checks), then the
 *          same path;
 *     6-8  a request body of operations 5..7 (validateActivationCode,
 *          getAccountInformation: decrypted, opened and answered
 *          encrypted for the test Mastercard key (account_info.c), with
 *          the facts of a known and of an unknown card;
 *          notifySuspiciousEvents).
 *
 * Invariants: no crash, no leak (ASan), and no answer or error text
 * holding the card number of the payload. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stepup/stepup.h>

#include "../daemon/mdes/account_info.h"
#include "../daemon/mdes/answer.h"
#include "../daemon/mdes/config.h"
#include "../daemon/mdes/crypto.h"
#include "../daemon/mdes/facts.h"
#include "../daemon/mdes/spec.h"

#ifndef FUZZ_DATA
#error "FUZZ_DATA must name tests/data/mdes"
#endif
#ifndef FUZZ_MDES_RULES
#error "FUZZ_MDES_RULES must name rules/mdes.rules"
#endif

static mdes_keyring *keys;
static stepup_engine *engine;
static mdes_cfg cfg;

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_mdes: invariant failed: %s\n", what);
	abort();
}

static void init(void)
{
	char err[512], path[256], dir[] = "/tmp/fuzz_mdes.XXXXXX";
	stepup_ruleset *rs = NULL;
	if (!mkdtemp(dir))
		fail("mkdtemp");
	/* The private key must be 0600: a copy. */
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	FILE *in = fopen(FUZZ_DATA "/issuer-key.pem", "r"), *out = fopen(path, "w");
	char buf[8192];
	size_t n = in ? fread(buf, 1, sizeof(buf), in) : 0;
	if (!in || !out || fwrite(buf, 1, n, out) != n)
		fail("copy the key");
	fclose(in);
	fclose(out);
	chmod(path, 0600);
	keys = mdes_keyring_new();
	if (mdes_keyring_add_file(keys, path, NULL, NULL, err, sizeof(err)) != 0)
		fail(err);
	unlink(path);
	rmdir(dir);
	if (stepup_ruleset_load(FUZZ_MDES_RULES, &rs, err, sizeof(err)) != STEPUP_OK ||
	    stepup_engine_new(rs, NULL, &engine, err, sizeof(err)) != STEPUP_OK)
		fail(err);
	stepup_ruleset_unref(rs);
	cfg.keys = keys;
	cfg.mastercard = mdes_pubkey_load(FUZZ_DATA "/mastercard-pub.pem", NULL, err, sizeof(err));
	cfg.mastercard_oaep = (char *)"SHA512";
	if (!cfg.mastercard)
		fail(err);
	mdes_wipe_init();
}

static const char *str_at(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* getAccountInformation's answer for the decrypted plain: never the card
 * number, in clear or in the error text. */
static void account_info(const char *plain, size_t len)
{
	static const char facts[] = "{\"account\":{\"state\":\"ACTIVE\",\"balance\":{\"amount\":\"12.50\","
	                            "\"currency\":\"EUR\",\"at\":\"2027-03-01T09:00:00Z\"}}}";
	mdes_card c;
	const char *code;
	char field[160], why[320], err[256];
	if (mdes_payload_open(plain, len, "r", (int64_t)time(NULL), &c, &code, field, sizeof(field), why,
	                      sizeof(why)) != 0)
		return;
	for (int found = 0; found < 2; found++) {
		dbuf b = { 0 };
		if (mdes_account_info_answer(&b, &cfg, "rsp_X", found ? facts : NULL,
		                             found ? MDES_ACCOUNT_FOUND : MDES_ACCOUNT_NOT_FOUND, err, sizeof(err)) == 0 &&
		    strlen(c.card.pan) >= 12 && strstr(b.s, c.card.pan))
			fail("an account information answer holds the card number");
		dbuf_free(&b);
	}
	mdes_payload_close(&c);
}

/* Decide root (an authorizeService) with the decrypted plain. */
static void decide(json_t *root, const char *plain, size_t len)
{
	mdes_card c;
	const char *code;
	char field[160], why[320], *facts = NULL;
	size_t flen = 0;
	if (mdes_payload_open(plain, len, "r", (int64_t)time(NULL), &c, &code, field, sizeof(field), why,
	                      sizeof(why)) != 0) {
		if (strstr(why, "5555555555554444"))
			fail("a payload error quotes the card number");
		return;
	}
	/* The facts a plugin would give: none (an unknown card). */
	if (mdes_facts_build(&cfg, root, &c, NULL, MDES_ACCOUNT_NOT_FOUND, &facts, &flen) == 0) {
		stepup_request *r = stepup_request_new();
		stepup_decision *d = stepup_decision_new();
		char err[256];
		if (stepup_request_parse(r, engine, facts, flen, err, sizeof(err)) == STEPUP_OK &&
		    stepup_decide(engine, r, d, 0) == STEPUP_OK) {
			dbuf b = { 0 };
			mdes_as_answer a = { "dcs_X", json_object_get(root, "services"),
			                     mdes_cvc_response(&c, NULL, MDES_ACCOUNT_NOT_FOUND) };
			mdes_authorize_answer(&b, &cfg, engine, r, d, &a);
			if (b.s && strstr(b.s, c.card.pan) && strlen(c.card.pan) >= 12)
				fail("an answer holds the card number");
			dbuf_free(&b);
		}
		stepup_request_free(r);
		stepup_decision_free(d);
		mdes_facts_free(facts, flen);
	}
	mdes_payload_close(&c);
}

static void request(mdes_op op, const char *text, size_t len)
{
	const char *code;
	char field[160], why[320];
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	if (mdes_spec_check(op, root, &code, field, sizeof(field), why, sizeof(why)) != 0 ||
	    (op != MDES_OP_AUTHORIZE && op != MDES_OP_METHODS && op != MDES_OP_ACCOUNT_INFO)) {
		json_decref(root);
		return;
	}
	json_t *p = json_object_get(json_object_get(root, "fundingAccountInfo"), "encryptedPayload");
	mdes_payload pl = { str_at(p, "encryptedData"), str_at(p, "encryptedKey"), str_at(p, "publicKeyFingerprint"),
		            str_at(p, "oaepHashingAlgorithm"), str_at(p, "iv"), str_at(p, "algorithmCipherMode"),
		            str_at(p, "tag"), str_at(p, "aad") };
	char *plain = NULL;
	size_t plen = 0;
	const char *f;
	if (mdes_decrypt(keys, &pl, &plain, &plen, &f, why, sizeof(why)) == MDES_C_OK) {
		if (op == MDES_OP_ACCOUNT_INFO)
			account_info(plain, plen);
		else
			decide(root, plain, plen);
		mdes_plain_free(plain, plen);
	}
	json_decref(root);
}

static const char base_request[] =
	"{\"requestId\":\"r1\",\"services\":[\"DIGITIZATION\"],\"correlationId\":\"C1\",\"tokenType\":\"CLOUD\","
	"\"deviceInfo\":{\"formFactor\":\"PHONE\"},\"walletProviderDecisioningInfo\":{\"deviceScore\":\"2\"},"
	"\"fundingAccountInfo\":{\"encryptedPayload\":{\"encryptedData\":\"00112233445566778899aabbccddeeff\","
	"\"publicKeyFingerprint\":\"00112233445566778899aabbccddeeff\",\"encryptedKey\":"
	"\"00112233445566778899aabbccddeeff\"}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!engine)
		init();
	if (size < 1 || size > 65536)
		return 0;
	unsigned mode = data[0] % 9;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	if (mode != 5) {
		request((mdes_op)(mode < 5 ? mode : mode - 1), in, n);
		return 0;
	}
	/* A payload as MDES would encrypt it: round-tripped through the
	 * cipher so the fuzzer reaches what the plaintext decides. */
	char *plain = malloc(n + 1), *enc = NULL, err[256];
	memcpy(plain, in, n);
	plain[n] = '\0';
	mdes_encrypt_opts o = { "SHA256", 1, 0, 128, NULL };
	if (strlen(plain) == n &&
	    mdes_encrypt(FUZZ_DATA "/issuer-pub.pem", plain, n, &o, &enc, err, sizeof(err)) == 0) {
		json_t *root = json_loads(base_request, 0, NULL), *ep = json_loads(enc, 0, NULL);
		json_object_set_new(json_object_get(root, "fundingAccountInfo"), "encryptedPayload", ep);
		char *text = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		request(MDES_OP_AUTHORIZE, text, strlen(text));
		free(text);
	}
	free(enc);
	free(plain);
	return 0;
}
