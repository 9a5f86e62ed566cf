/* test_mdes.c: Mastercard MDES end to end (issue 12).
 *
 * A real stepupd on 127.0.0.1 serving rules/mdes.rules (`schema mdes`)
 * with the test key pairs of tests/data/mdes, the account_file plugin on
 * the demo accounts, the reference SMS and e-mail channels, the case store
 * and its webhook, all pointed at loopback receivers of this process
 * (tests/servers). Requests are encrypted as Mastercard does (the CLI's
 * code, daemon/mdes/crypto.c).
 *
 *   - authorizeService -> YELLOW with activation methods ->
 *     deliverActivationCode reaches the SMS gateway with the code, in
 *     Japanese, within the gateway's limit in UCS-2 parts ->
 *     notifyServiceActivated -> the webhook once (again: still once);
 *   - the same with the e-mail channel in Japanese (RFC 2047 subject,
 *     UTF-8 body);
 *   - a repeated requestId answers the first answer again;
 *   - spec errors for bad input, never quoting it;
 *   - codes the issuer makes: deliverActivationCode without a code sends
 *     one (the same one again), validateActivationCode checks it with the
 *     case's attempt limit, idempotent by requestId;
 *   - getAccountInformation: the account's status (and balance) encrypted
 *     for Mastercard's key, decrypted here;
 *   - notifySuspiciousEvents: recorded on the token's case, the webhook
 *     once, counted, no device identifier kept;
 *   - requestActivationMethods without the OTP methods once the case has
 *     had its sends;
 *   - the three answers to a failing account data source (DECLINED,
 *     ERROR, DECIDE with account.lookup == FAILED), on a second daemon;
 *   - our request examples of every operation and field
 *     (tests/data/mdes/requests), and with STEPUP_MDES_SPEC_DIR the spec
 *     documents' own, accepted (tests/mdes/spec.py);
 *   - every answer of this run validated against our JSON Schemas
 *     (tests/data/mdes/responses.schema.json), and with
 *     STEPUP_MDES_SPEC_DIR against the documents' too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../daemon/mdes/crypto.h"
#include "../../engine/util.h"
#include "harness.h"
#include "http_sink.h"
#include "smtp_sink.h"

#ifndef BUILDDIR
#error "BUILDDIR must name the build tree"
#endif

#define DATA SRCDIR "/tests/data/mdes/"
#define PYTHON "/usr/bin/python3"
#define SMS_LIMIT 2  /* the gateway's limit in SMS parts (max_segments) */
#define CODE_LEN 8   /* digits of the codes the issuer makes here */

static hd D;
static http_sink *sms, *hook;
static smtp_sink *smtp;
static char answers[256];   /* every answer: {"op", "status", "body"} lines */
static unsigned seq;
static mdes_keyring *mastercard;  /* Mastercard's private key: decrypts answers */
static char codes[16][CODE_LEN + 1];  /* codes the issuer made: kept nowhere */
static size_t ncodes;

/* ---- set up ------------------------------------------------------------------- */

static int copy_file(const char *from, const char *to, mode_t mode)
{
	size_t n;
	char *text = hd_slurp(from, &n);
	if (!text)
		return -1;
	int rc = hd_write(to, text);
	free(text);
	return rc < 0 ? -1 : chmod(to, mode);
}

static int setup(void **state)
{
	char err[256], p[512], *extra = NULL;
	(void)state;
	if (http_sink_start(NULL, 0, &sms, err, sizeof(err)) < 0 || http_sink_start(NULL, 0, &hook, err, sizeof(err)) < 0 ||
	    smtp_sink_start(NULL, 0, &smtp, err, sizeof(err)) < 0 || hd_init(&D) < 0)
		return -1;
	char *rules = hd_slurp(SRCDIR "/rules/mdes.rules", NULL);
	if (!rules || hd_write(D.rules, rules) < 0)
		return -1;
	free(rules);
	snprintf(p, sizeof(p), "%s/issuer-key.pem", D.dir);
	if (copy_file(DATA "issuer-key.pem", p, 0600) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/issuer-key-2.pem", D.dir);
	if (copy_file(DATA "issuer-key-2.pem", p, 0600) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/account-key", D.dir);
	if (copy_file(DATA "account-key", p, 0600) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/activation-code-key", D.dir);
	if (copy_file(DATA "activation-code-key", p, 0600) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/mastercard-key.pem", D.dir);
	if (copy_file(DATA "mastercard-key.pem", p, 0600) < 0 || !(mastercard = mdes_keyring_new()) ||
	    mdes_keyring_add_file(mastercard, p, NULL, NULL, err, sizeof(err)) < 0)
		return -1;
	snprintf(answers, sizeof(answers), "%s/answers.jsonl", D.dir);
	int n = asprintf(&extra,
		"\"mdes\": {\"keys\": [{\"file\": \"issuer-key.pem\"}, {\"file\": \"issuer-key-2.pem\"}],"
		"  \"mastercard_key\": {\"file\": \"" DATA "mastercard-pub.pem\"},"
		"  \"decline_reasons\": {\"card_lost\": \"LOST\", \"wrong_csc\": \"DO_NOT_HONOR\"}},\n"
		"  \"plugins\": {\"path\": [\"" BUILDDIR "/plugins/.libs\"], \"timeout_ms\": 4000,"
		"  \"account_source\": \"accounts\", \"load\": ["
		"{\"name\": \"accounts\", \"module\": \"account_file\", \"isolation\": \"inline\", \"config\": {"
		"  \"file\": \"" DATA "accounts.json\", \"key_file\": \"%s/account-key\"}},"
		"{\"name\": \"cs\", \"module\": \"cs_router\", \"isolation\": \"inline\", \"config\": {"
		"  \"default\": {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\"}}},"
		"{\"name\": \"sms\", \"module\": \"otp_sms_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/sms\", \"allow_http\": true, \"issuer_name\": \"テスト銀行\","
		"  \"max_segments\": %d, \"templates\": {"
		"   \"en\": \"{otp} is your {issuer} code for the card ending {pan_suffix}.\","
		"   \"ja\": \"{issuer}の認証コードは{otp}です。カード末尾{pan_suffix}をウォレットに追加します。有効期限{expiry_minutes}分。\"}}},"
		"{\"name\": \"email\", \"module\": \"otp_email_smtp\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"no-reply@testbank.example\","
		"  \"issuer_name\": \"テスト銀行\", \"templates\": {"
		"   \"en\": {\"subject\": \"Your {issuer} code\", \"body\": \"Your code is {otp}.\\n\"},"
		"   \"ja\": {\"subject\": \"{issuer} 認証コードのお知らせ\","
		"            \"body\": \"認証コードは {otp} です。\\nカード末尾{pan_suffix}をウォレットに追加します。\\n\"}}}}],"
		"  \"methods\": {\"OTP_SMS\": \"sms\", \"OTP_EMAIL\": \"email\", \"CUSTOMER_SERVICE\": \"cs\"}},\n"
		"  \"cases\": {\"path\": \"%s/cases.db\", \"ttl_seconds\": 900, \"max_otp_sends\": 3,"
		"   \"sweep_interval_ms\": 100, \"busy_timeout_ms\": 2000,"
		"   \"activation_codes\": {\"key_file\": \"activation-code-key\", \"length\": %d, \"max_attempts\": 3},"
		"   \"webhook\": {\"url\": \"http://127.0.0.1:%u/hooks\", \"secret\": \"mdes-webhook-secret\","
		"     \"timeout_ms\": 2000, \"backoff_ms\": 50, \"max_backoff_ms\": 200, \"max_attempts\": 20},"
		"   \"notify_end_user\": {\"enabled\": true, \"method\": [\"OTP_SMS\", \"OTP_EMAIL\"], \"templates\": {"
		"     \"en\": \"Your card ending {pan_suffix} was added to {wallet}.\","
		"     \"ja\": \"カード末尾{pan_suffix}が{wallet}に追加されました。\"}}}",
		D.dir, (unsigned)http_sink_port(sms), SMS_LIMIT, (unsigned)smtp_sink_port(smtp), D.dir, CODE_LEN,
		(unsigned)http_sink_port(hook));
	if (n < 0 || hd_write_default_config(&D, "info", NULL, extra) < 0)
		return -1;
	free(extra);
	return hd_start_reporting(&D, "stepupd did not start");
}

static int teardown(void **state)
{
	char why[3300];
	(void)state;
	int rc = hd_stop_checked(&D, why, sizeof(why));
	if (rc != 0)
		fprintf(stderr, "%s\n", why);
	hd_rmdir(&D);
	mdes_keyring_free(mastercard);
	http_sink_stop(sms);
	http_sink_stop(hook);
	smtp_sink_stop(smtp);
	return rc;
}

/* ---- requests ------------------------------------------------------------------- */

/* The encryptedPayload (JSON object) of a payload for the first test key. */
static json_t *encrypted(json_t *payload, const char *oaep)
{
	char *plain = json_dumps(payload, JSON_COMPACT), *out = NULL, err[256];
	mdes_encrypt_opts o = { oaep, 1, 0, 128, NULL };
	if (mdes_encrypt(DATA "issuer-pub.pem", plain, strlen(plain), &o, &out, err, sizeof(err)) < 0)
		fail_msg("encrypt: %s", err);
	free(plain);
	json_t *j = json_loads(out, 0, NULL);
	free(out);
	return j;
}

static json_t *payload_of(const char *pan, const char *csc, const char *month, const char *year)
{
	char until[32];
	time_t t = time(NULL) + 1800;
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	json_t *card = json_pack("{s:s, s:s, s:s}", "accountNumber", pan, "expiryMonth", month, "expiryYear", year);
	if (csc)
		json_object_set_new(card, "securityCode", json_string(csc));
	return json_pack("{s:s, s:s, s:o, s:{s:s, s:s}}", "source", "ACCOUNT_ADDED_MANUALLY",
	                 "dataValidUntilTimestamp", until, "cardAccountData", card, "accountHolderData",
	                 "accountHolderName", "Hanako Yamada", "accountHolderEmailAddress", "hanako@wallet.example");
}

/* tests/data/mdes/authorize-request.json with requestId, correlationId,
 * the wallet's recommendation and an encrypted payload for pan. */
static json_t *authorize(const char *request_id, const char *correlation, const char *recommended,
                         const char *pan, const char *csc, const char *month, const char *year)
{
	json_error_t e;
	json_t *r = json_load_file(DATA "authorize-request.json", 0, &e);
	assert_non_null(r);
	json_object_set_new(r, "requestId", json_string(request_id));
	json_object_set_new(r, "correlationId", json_string(correlation));
	json_object_set_new(json_object_get(r, "walletProviderDecisioningInfo"), "recommendedDecision",
	                    json_string(recommended));
	json_object_set_new(r, "deviceAcceptLanguage", json_string("jpn"));
	json_t *p = payload_of(pan, csc, month, year);
	json_object_set_new(json_object_get(r, "fundingAccountInfo"), "encryptedPayload", encrypted(p, "SHA256"));
	json_decref(p);
	return r;
}

/* One line of the answers file, for tests/mdes/spec.py validate. */
static void record(const char *op, int status, json_t *body)
{
	FILE *f = fopen(answers, "a");
	assert_non_null(f);
	json_t *rec = json_pack("{s:s, s:i, s:O}", "op", op, "status", status, "body", body);
	char *line = json_dumps(rec, JSON_COMPACT);
	fprintf(f, "%s\n", line);
	fclose(f);
	free(line);
	json_decref(rec);
}

/* POST body to <base>/op of daemon d; the answer is recorded for the
 * schema check. */
static json_t *post_to(hd *d, const char *op, json_t *body, long want, hresp *raw)
{
	char path[128], *text = json_dumps(body, JSON_COMPACT);
	hresp r;
	snprintf(path, sizeof(path), "/mdes/%s", op);
	hd_http(d, NULL, "POST", path, "application/json", text, strlen(text), NULL, &r);
	free(text);
	json_t *j = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
	if (!j)
		fail_msg("%s: not JSON (HTTP %ld): %s", op, r.status, r.body ? r.body : "");
	record(op, (int)r.status, j);
	if (want && r.status != want)
		fail_msg("%s: HTTP %ld, wanted %ld: %s", op, r.status, want, r.body);
	if (strstr(r.body, "5555555555554444") || strstr(r.body, "4111111111111111") || strstr(r.body, "6011111111111117"))
		fail_msg("%s: the answer holds a card number: %s", op, r.body);
	if (raw)
		*raw = r;
	else
		hresp_free(&r);
	return j;
}

static json_t *post(const char *op, json_t *body, long want, hresp *raw)
{
	return post_to(&D, op, body, want, raw);
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long metric(const char *series)
{
	return hd_metric(&D, series);
}

/* Wait (hang guard only) until a metric reaches v. */
static void wait_metric(const char *series, long long v)
{
	for (int i = 0; i < 400 && metric(series) < v; i++)
		hd_sleep_ms(25);
	assert_true(metric(series) >= v);
}

static json_t *deliver(const char *correlation, const char *token, const char *type, const char *code)
{
	char until[32], id[32];
	time_t t = time(NULL) + 600;
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t));
	snprintf(id, sizeof(id), "dac-%u", ++seq);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:[s]}", "requestId", id, "tokenUniqueReference",
	                 token, "correlationId", correlation, "activationCode", code, "expirationDateTime", until,
	                 "activationMethod", "type", type, "value", "masked", "reasonCodes", "ADD_CARD");
}

static json_t *activated(const char *correlation, const char *token, const char *language)
{
	char id[32];
	snprintf(id, sizeof(id), "nsa-%u", ++seq);
	json_t *b = json_pack(
		"{s:s, s:[s], s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}}}", "requestId", id,
		"services", "DIGITIZATION", "correlationId", correlation, "tokenRequestorId", "50100000001", "tokenType",
		"CLOUD", "accountPanSuffix", "1117", "serviceRequestDateTime", "2027-03-01T09:10:00.000+01:00",
		"tokenActivatedDateTime", "2027-03-01T09:12:30.500+01:00", "decision", "REQUIRE_ADDITIONAL_AUTHENTICATION",
		"fundingAccountInfo", "tokenUniqueReference", token, "encryptedPayload", "encryptedData",
		"00112233445566778899aabbccddeeff", "publicKeyFingerprint",
		"98ab869319dc7f58778c153beb52eed0ee716e53841cadbc046338bc3ca58725", "encryptedKey",
		"00112233445566778899aabbccddeeff");
	if (language)
		json_object_set_new(b, "consumerLanguage", json_string(language));
	return b;
}

/* The webhooks received for a token (by its digital_card_id). */
static size_t hooks_for(const char *token)
{
	size_t n = 0;
	for (size_t i = 0; i < http_sink_count(hook); i++) {
		const http_sink_request *r = http_sink_get(hook, i);
		if (r && strstr(r->body, token))
			n++;
	}
	return n;
}

/* notifyServiceActivated for the provisioning: the webhook goes, once. */
static void activate_once(const char *correlation, const char *token)
{
	json_t *nsa = activated(correlation, token, NULL);
	json_decref(post("notifyServiceActivated", nsa, 200, NULL));
	json_decref(nsa);
	for (int i = 0; i < 200 && hooks_for(token) < 1; i++)
		hd_sleep_ms(25);
	assert_int_equal(hooks_for(token), 1);
}

/* UTF-16 code units of UTF-8 text. */
static size_t ucs2_units(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			n += *p >= 0xf0 ? 2 : 1;
	return n;
}

/* ---- the flows ------------------------------------------------------------------ */

static void test_sms_flow(void **state)
{
	(void)state;
	const char *token = "DWSPMC000000000132d72d4fcb2f4136a0530000000sms01";
	json_t *req = authorize("as-sms-1", "CORRSMS00001", "REQUIRE_ADDITIONAL_AUTHENTICATION", "6011111111111117",
	                        "789", "03", "30");
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "tokenUniqueReference", json_string(token));
	json_t *a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "REQUIRE_ADDITIONAL_AUTHENTICATION");
	assert_string_equal(jstr(a, "cvcResponse"), "MATCH");
	json_t *ms = json_object_get(a, "activationMethods");
	assert_int_equal(json_array_size(ms), 2);
	assert_string_equal(jstr(json_array_get(ms, 0), "type"), "TEXT_TO_CARDHOLDER_NUMBER");
	assert_null(strstr(jstr(json_array_get(ms, 0), "value"), "12345678"));
	assert_non_null(strstr(jstr(json_array_get(ms, 0), "value"), "5678"));
	assert_string_equal(jstr(json_array_get(ms, 1), "type"), "CARDHOLDER_TO_CALL_MANNED_NUMBER");
	assert_string_equal(jstr(json_array_get(ms, 1), "value"), "+1-800-555-0100");
	json_decref(a);
	json_decref(req);

	/* The code goes to the phone on file, in Japanese, within the limit. */
	size_t before = http_sink_count(sms);
	json_t *dac = deliver("CORRSMS00001", token, "TEXT_TO_CARDHOLDER_NUMBER", "428913");
	json_decref(post("deliverActivationCode", dac, 200, NULL));
	json_decref(dac);
	assert_true(http_sink_wait(sms, before + 1, 5000));
	const http_sink_request *r = http_sink_get(sms, before);
	json_t *msg = json_loads(r->body, 0, NULL);
	assert_string_equal(jstr(msg, "to"), "+819012345678");
	const char *text = jstr(msg, "text");
	assert_non_null(strstr(text, "428913"));
	assert_non_null(strstr(text, "テスト銀行の認証コード"));
	assert_non_null(strstr(text, "1117"));
	size_t units = ucs2_units(text);
	size_t parts = units <= 70 ? 1 : (units + 66) / 67;
	assert_true(units > 0 && parts <= SMS_LIMIT);
	json_decref(msg);

	/* Activated: the webhook once, the end user told in Japanese. */
	json_t *nsa = activated("CORRSMS00001", token, NULL);
	json_decref(post("notifyServiceActivated", nsa, 200, NULL));
	wait_metric("stepupd_mdes_activations_total{result=\"activated\"}", 1);
	for (int i = 0; i < 200 && hooks_for(token) < 1; i++)
		hd_sleep_ms(25);
	assert_int_equal(hooks_for(token), 1);
	json_t *w = json_loads(http_sink_get(hook, 0)->body, 0, NULL);
	assert_string_equal(jstr(w, "status"), "ACTIVATED");
	assert_string_equal(jstr(w, "method"), "OTP_SMS");
	json_decref(w);
	assert_true(http_sink_wait(sms, before + 2, 5000));
	msg = json_loads(http_sink_get(sms, before + 1)->body, 0, NULL);
	assert_non_null(strstr(jstr(msg, "text"), "カード末尾1117が"));
	json_decref(msg);
	/* Again: acknowledged, nothing sent twice. */
	json_decref(post("notifyServiceActivated", nsa, 200, NULL));
	json_decref(nsa);
	wait_metric("stepupd_mdes_activations_total{result=\"already_activated\"}", 1);
	/* The outbox has nothing more to send: the webhook stays one. */
	wait_metric("stepupd_notifications_total{result=\"delivered\"}", 2);
	wait_metric("stepupd_notifications_pending", 0);
	hd_sleep_ms(200);
	assert_int_equal(hooks_for(token), 1);
	assert_int_equal(http_sink_count(sms), before + 2);
}

/* Base64 of an RFC 2047 "B" encoded word's text, decoded (malloc'd). */
static char *decode_words(const char *h)
{
	char *out = calloc(1, strlen(h) + 1);
	size_t n = 0;
	const char *p = h;
	while ((p = strstr(p, "=?UTF-8?B?"))) {
		p += 10;
		const char *e = strstr(p, "?=");
		assert_non_null(e);
		unsigned char buf[512];
		int k = EVP_DecodeBlock(buf, (const unsigned char *)p, (int)(e - p));
		assert_true(k >= 0);
		while (k > 0 && e - p >= 1 && p[e - p - 1] == '=' && buf[k - 1] == 0) {
			k--;
			e--;
		}
		memcpy(out + n, buf, (size_t)k);
		n += (size_t)k;
		p = strstr(p, "?=") + 2;
	}
	return out;
}

/* Quoted-printable decoded (malloc'd). */
static char *decode_qp(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n')
			s += 3;
		else if (s[0] == '=' && s[1] && s[2]) {
			unsigned v;
			sscanf(s + 1, "%2x", &v);
			*o++ = (char)v;
			s += 3;
		} else
			*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static void test_email_japanese(void **state)
{
	(void)state;
	const char *token = "DWSPMC000000000132d72d4fcb2f4136a053000000mail01";
	/* An account with no language on file: deviceAcceptLanguage "jpn"
	 * (ISO 639-3) picks the "ja" templates. */
	json_t *req = authorize("as-mail-1", "CORRMAIL0001", "REQUIRE_ADDITIONAL_AUTHENTICATION",
	                        "5454545454545454", "555", "01", "31");
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "tokenUniqueReference", json_string(token));
	json_t *a = post("authorizeService", req, 200, NULL);
	json_decref(req);
	assert_string_equal(jstr(a, "decision"), "REQUIRE_ADDITIONAL_AUTHENTICATION");
	json_t *m0 = json_array_get(json_object_get(a, "activationMethods"), 0);
	assert_string_equal(jstr(m0, "type"), "EMAIL_TO_CARDHOLDER_ADDRESS");
	assert_string_equal(jstr(m0, "value"), "ta*********@example.jp");
	json_decref(a);

	size_t before = smtp_sink_count(smtp);
	json_t *dac = deliver("CORRMAIL0001", token, "EMAIL_TO_CARDHOLDER_ADDRESS", "A1B2C3D4");
	json_decref(post("deliverActivationCode", dac, 200, NULL));
	json_decref(dac);
	assert_true(smtp_sink_wait(smtp, before + 1, 5000));
	const smtp_sink_message *m = smtp_sink_get(smtp, before);
	assert_string_equal(m->rcpt[0], "taro.suzuki@example.jp");
	char *subject = smtp_sink_header(m, "Subject");
	assert_non_null(strstr(subject, "=?UTF-8?B?"));
	char *decoded = decode_words(subject);
	assert_string_equal(decoded, "テスト銀行 認証コードのお知らせ");
	free(decoded);
	free(subject);
	char *ct = smtp_sink_header(m, "Content-Type");
	assert_non_null(strstr(ct, "charset=UTF-8"));
	free(ct);
	char *body = decode_qp(smtp_sink_body(m));
	assert_non_null(strstr(body, "認証コードは A1B2C3D4 です。"));
	assert_non_null(strstr(body, "カード末尾5454を"));
	free(body);

	activate_once("CORRMAIL0001", token);
	/* The end user hears in Japanese, by e-mail (no phone on file). */
	assert_true(smtp_sink_wait(smtp, before + 2, 5000));
	body = decode_qp(smtp_sink_body(smtp_sink_get(smtp, before + 1)));
	assert_non_null(strstr(body, "カード末尾5454が"));
	free(body);
}

static void test_repeated_request(void **state)
{
	(void)state;
	hresp r1, r2;
	long long replayed = metric("stepupd_mdes_replayed_total");
	json_t *req = authorize("as-repeat-1", "CORRREPEAT01", "REQUIRE_ADDITIONAL_AUTHENTICATION",
	                        "5555555555554444", "123", "12", "30");
	json_decref(post("authorizeService", req, 200, &r1));
	json_decref(post("authorizeService", req, 200, &r2));
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	assert_int_equal(metric("stepupd_mdes_replayed_total"), replayed + 1);
	hresp_free(&r1);
	hresp_free(&r2);
	/* A new requestId is a new decision. */
	json_object_set_new(req, "requestId", json_string("as-repeat-2"));
	json_t *a = post("authorizeService", req, 200, NULL);
	json_decref(req);
	json_decref(a);
	assert_int_equal(metric("stepupd_mdes_replayed_total"), replayed + 1);
}

static void test_outcomes(void **state)
{
	(void)state;
	/* APPROVED, with the CVC2 matched at the issuer. */
	json_t *req = authorize("as-green-1", "CORRGREEN001", "APPROVED", "5555555555554444", "123", "12", "30");
	json_t *a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "APPROVED");
	assert_string_equal(jstr(a, "cvcResponse"), "MATCH");
	assert_null(json_object_get(a, "activationMethods"));
	json_decref(a);
	json_decref(req);
	/* A wrong CVC2: DECLINED, INVALID, the rule's reason code. */
	req = authorize("as-red-1", "CORRRED00001", "APPROVED", "5555555555554444", "999", "12", "30");
	a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "DECLINED");
	assert_string_equal(jstr(a, "cvcResponse"), "INVALID");
	assert_string_equal(jstr(a, "declineReasonCode"), "DO_NOT_HONOR");
	json_decref(a);
	json_decref(req);
	/* A lost card. */
	req = authorize("as-red-2", "CORRRED00002", "APPROVED", "378282246310005", "1234", "11", "28");
	a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "DECLINED");
	assert_string_equal(jstr(a, "declineReasonCode"), "LOST");
	json_decref(a);
	json_decref(req);
	/* A card the issuer does not know. */
	req = authorize("as-red-3", "CORRRED00003", "APPROVED", "5105105105105100", NULL, "01", "31");
	json_t *p = payload_of("2223000048400011", NULL, "01", "31");
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "encryptedPayload", encrypted(p, NULL));
	json_decref(p);
	a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "DECLINED");
	assert_null(json_object_get(a, "cvcResponse"));
	json_decref(a);
	json_decref(req);
	/* requestActivationMethods on a pending case: its methods. */
	req = authorize("ram-1", "CORRSMS00001", "REQUIRE_ADDITIONAL_AUTHENTICATION", "5555555555554444", "123",
	                "12", "30");
	a = post("requestActivationMethods", req, 200, NULL);
	assert_true(json_is_array(json_object_get(a, "activationMethods")));
	json_decref(a);
	json_decref(req);
}

/* Each refusal: the spec's error body, the field named, nothing quoted. */
static void expect_error(json_t *req, const char *op, long status, const char *code, const char *field)
{
	json_t *a = post(op, req, status, NULL);
	assert_non_null(jstr(a, "responseId"));
	if (strcmp(jstr(a, "errorCode"), code) != 0)
		fail_msg("errorCode %s, wanted %s (%s)", jstr(a, "errorCode"), code, jstr(a, "errorDescription"));
	if (field && !strstr(jstr(a, "errorDescription"), field))
		fail_msg("errorDescription does not name %s: %s", field, jstr(a, "errorDescription"));
	json_decref(a);
}

static void test_errors(void **state)
{
	(void)state;
	json_t *req = authorize("as-err-1", "CORRERR00001", "APPROVED", "5555555555554444", "123", "12", "30");
	json_t *ep = json_object_get(json_object_get(req, "fundingAccountInfo"), "encryptedPayload");
	json_t *saved = json_deep_copy(ep);
	json_object_set_new(ep, "publicKeyFingerprint", json_string("0123456789abcdef0123456789abcdef01234567"));
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_VALUE", "publicKeyFingerprint");
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "encryptedPayload", json_deep_copy(saved));
	ep = json_object_get(json_object_get(req, "fundingAccountInfo"), "encryptedPayload");
	char *data = strdup(jstr(ep, "encryptedData"));
	data[strlen(data) - 3] = '\0';
	json_object_set_new(ep, "encryptedData", json_string(data));
	free(data);
	json_object_set_new(req, "requestId", json_string("as-err-2"));
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_FORMAT", "encryptedData");
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "encryptedPayload", json_deep_copy(saved));
	json_object_set_new(req, "requestId", json_string("as-err-3"));
	json_object_set_new(json_object_get(json_object_get(req, "fundingAccountInfo"), "encryptedPayload"),
	                    "oaepHashingAlgorithm", json_string("SHA512"));
	expect_error(req, "authorizeService", 400, "CRYPTOGRAPHY_ERROR", "encryptedKey");
	json_decref(saved);
	json_decref(req);
	/* Expired payload. */
	req = authorize("as-err-4", "CORRERR00004", "APPROVED", "5555555555554444", "123", "12", "30");
	json_t *p = payload_of("5555555555554444", "123", "12", "30");
	json_object_set_new(p, "dataValidUntilTimestamp", json_string("2020-01-01T00:00:00Z"));
	json_object_set_new(json_object_get(req, "fundingAccountInfo"), "encryptedPayload", encrypted(p, "SHA512"));
	json_decref(p);
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_VALUE", "dataValidUntilTimestamp");
	/* Missing, too long, not a string, a card number in clear. */
	json_object_del(req, "correlationId");
	json_object_set_new(req, "requestId", json_string("as-err-5"));
	expect_error(req, "authorizeService", 400, "MISSING_REQUIRED_FIELD", "correlationId");
	json_object_set_new(req, "correlationId", json_string("THIS-IS-FAR-TOO-LONG"));
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_LENGTH", "correlationId");
	json_object_set_new(req, "correlationId", json_integer(12));
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_FORMAT", "correlationId");
	json_object_set_new(req, "correlationId", json_string("C1"));
	json_object_set_new(json_object_get(req, "deviceInfo"), "deviceName", json_string("5555 5555 5555 4444"));
	expect_error(req, "authorizeService", 400, "INVALID_FIELD_VALUE", "deviceInfo.deviceName");
	json_decref(req);
	/* Not JSON. */
	hresp r;
	hd_http(&D, NULL, "POST", "/mdes/authorizeService", "application/json", "{\"requestId\": 4111111111111111",
	        30, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "INVALID_JSON"));
	assert_null(strstr(r.body, "4111"));
	FILE *f = fopen(answers, "a");
	fprintf(f, "{\"op\":\"authorizeService\",\"status\":400,\"body\":%s}\n", r.body);
	fclose(f);
	hresp_free(&r);
	/* A code for a provisioning nobody knows; a method no code goes by. */
	json_t *dac = deliver("UNKNOWNCORR1", "DWSPMC0000000001", "TEXT_TO_CARDHOLDER_NUMBER", "123456");
	expect_error(dac, "deliverActivationCode", 404, "CASE_NOT_FOUND", NULL);
	json_decref(dac);
	dac = deliver("CORRSMS00001", "DWSPMC0000000001", "CARDHOLDER_TO_CALL_MANNED_NUMBER", "123456");
	expect_error(dac, "deliverActivationCode", 400, "INVALID_FIELD_VALUE", "activationMethod.type");
	json_decref(dac);
}

/* ---- codes the issuer makes ----------------------------------------------------------- */

/* The first run of CODE_LEN digits in text (a message the channel got),
 * remembered: no file of the daemon may hold it (test_no_card_data_kept). */
static void code_in(const char *text, char out[CODE_LEN + 1])
{
	out[0] = '\0';
	for (const char *p = text; *p; p++) {
		size_t n = strspn(p, "0123456789");
		if (n == CODE_LEN) {
			memcpy(out, p, CODE_LEN);
			out[CODE_LEN] = '\0';
			break;
		}
		if (n)
			p += n - 1;
	}
	if (!out[0])
		fail_msg("no %d-digit code in \"%s\"", CODE_LEN, text);
	if (ncodes < sizeof(codes) / sizeof(codes[0]))
		snprintf(codes[ncodes++], sizeof(codes[0]), "%s", out);
}

/* deliverActivationCode without activationCode: the issuer makes it. */
static json_t *deliver_issuer(const char *correlation, const char *token, const char *type)
{
	char id[32];
	snprintf(id, sizeof(id), "dac-%u", ++seq);
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:[s]}", "requestId", id, "tokenUniqueReference", token,
	                 "correlationId", correlation, "activationMethod", "type", type, "value", "masked",
	                 "reasonCodes", "ADD_CARD");
}

/* authorizeService for a step-up, the provisioning of token (may be
 * NULL); its answer's responseId (the decision id) into id (may be NULL). */
static void provision(const char *request_id, const char *correlation, const char *pan, const char *csc,
                      const char *month, const char *year, const char *token, char id[65])
{
	json_t *req = authorize(request_id, correlation, "REQUIRE_ADDITIONAL_AUTHENTICATION", pan, csc, month, year);
	if (token)
		json_object_set_new(json_object_get(req, "fundingAccountInfo"), "tokenUniqueReference", json_string(token));
	json_t *a = post("authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "REQUIRE_ADDITIONAL_AUTHENTICATION");
	if (id)
		snprintf(id, 65, "%s", jstr(a, "responseId"));
	json_decref(a);
	json_decref(req);
}

/* deliverActivationCode of `dac` (stolen), expecting 200. */
static void deliver_ok(json_t *dac)
{
	json_decref(post("deliverActivationCode", dac, 200, NULL));
	json_decref(dac);
}

static json_t *validate_req(const char *request_id, const char *correlation, const char *token, const char *code)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "requestId", request_id, "tokenUniqueReference", token,
	                 "correlationId", correlation, "activationCode", code);
}

/* POST validateActivationCode; its result. */
static const char *validate_code(const char *request_id, const char *correlation, const char *token,
                                 const char *code, char out[64])
{
	json_t *req = validate_req(request_id, correlation, token, code);
	json_t *a = post("validateActivationCode", req, 200, NULL);
	snprintf(out, 64, "%s", jstr(a, "result"));
	json_decref(a);
	json_decref(req);
	return out;
}

static void test_issuer_code(void **state)
{
	(void)state;
	const char *token = "DWSPMC0000000000000000000000000000000000000000c001";
	char code[CODE_LEN + 1], again[CODE_LEN + 1], res[64];
	long long sent = metric("stepupd_mdes_issuer_codes_sent_total");
	provision("as-code-1", "CORRCODE0001", "6011111111111117", "789", "03", "30", token, NULL);

	/* The issuer makes the code and texts it, in Japanese. */
	size_t before = http_sink_count(sms);
	deliver_ok(deliver_issuer("CORRCODE0001", token, "TEXT_TO_CARDHOLDER_NUMBER"));
	assert_true(http_sink_wait(sms, before + 1, 5000));
	json_t *msg = json_loads(http_sink_get(sms, before)->body, 0, NULL);
	assert_string_equal(jstr(msg, "to"), "+819012345678");
	assert_non_null(strstr(jstr(msg, "text"), "テスト銀行の認証コードは"));
	code_in(jstr(msg, "text"), code);
	json_decref(msg);
	/* Asked again: the same code, not a new one. */
	deliver_ok(deliver_issuer("CORRCODE0001", token, "TEXT_TO_CARDHOLDER_NUMBER"));
	assert_true(http_sink_wait(sms, before + 2, 5000));
	msg = json_loads(http_sink_get(sms, before + 1)->body, 0, NULL);
	code_in(jstr(msg, "text"), again);
	json_decref(msg);
	assert_string_equal(again, code);
	assert_int_equal(metric("stepupd_mdes_issuer_codes_sent_total"), sent + 2);

	/* A wrong code, then the right one; its answer again for a repeated
	 * requestId; the code is used up for a new one. */
	char wrong[CODE_LEN + 1];
	snprintf(wrong, sizeof(wrong), "%s", code);
	wrong[0] = wrong[0] == '9' ? '0' : (char)(wrong[0] + 1);
	assert_string_equal(validate_code("vac-1", "CORRCODE0001", token, wrong, res), "INCORRECT_CODE");
	long long replayed = metric("stepupd_mdes_replayed_total");
	hresp r1, r2;
	json_t *v = validate_req("vac-2", "CORRCODE0001", token, code);
	json_t *a1 = post("validateActivationCode", v, 200, &r1), *a2 = post("validateActivationCode", v, 200, &r2);
	assert_string_equal(jstr(a1, "result"), "SUCCESS");
	assert_int_equal(r1.len, r2.len);
	assert_memory_equal(r1.body, r2.body, r1.len);
	assert_int_equal(metric("stepupd_mdes_replayed_total"), replayed + 1);
	hresp_free(&r1);
	hresp_free(&r2);
	json_decref(a1);
	json_decref(a2);
	json_decref(v);
	assert_string_equal(validate_code("vac-3", "CORRCODE0001", token, code, res), "EXPIRED_CODE");
	assert_true(metric("stepupd_mdes_code_validations_total{result=\"SUCCESS\"}") >= 1);
	assert_true(metric("stepupd_mdes_code_validations_total{result=\"INCORRECT_CODE\"}") >= 1);

	/* MDES activates the token: the case closes, the webhook goes once. */
	activate_once("CORRCODE0001", token);
	/* A code for a provisioning nobody knows. */
	json_t *bad = validate_req("vac-4", "UNKNOWNCORR2", "DWSPMC0000000000000000000000000000000000000000c0ff", code);
	json_t *e = post("validateActivationCode", bad, 404, NULL);
	assert_string_equal(jstr(e, "errorCode"), "CASE_NOT_FOUND");
	json_decref(e);
	json_decref(bad);
}

/* max_attempts wrong codes void it, even for the right one after. */
static void test_issuer_code_tries(void **state)
{
	(void)state;
	const char *token = "DWSPMC0000000000000000000000000000000000000000c002";
	char code[CODE_LEN + 1], res[64], id[32];
	provision("as-code-2", "CORRCODE0002", "5555555555554444", "123", "12", "30", token, NULL);
	size_t before = smtp_sink_count(smtp);
	deliver_ok(deliver_issuer("CORRCODE0002", token, "EMAIL_TO_CARDHOLDER_ADDRESS"));
	assert_true(smtp_sink_wait(smtp, before + 1, 5000));
	char *body = decode_qp(smtp_sink_body(smtp_sink_get(smtp, before)));
	assert_string_equal(smtp_sink_get(smtp, before)->rcpt[0], "jane.doe@example.com");
	code_in(body, code);
	free(body);
	static const char *const want[] = { "INCORRECT_CODE", "INCORRECT_CODE", "INCORRECT_CODE_RETRIES_EXCEEDED" };
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "vac-t%d", i);
		assert_string_equal(validate_code(id, "CORRCODE0002", token, "00000000", res), want[i]);
	}
	assert_string_equal(validate_code("vac-t3", "CORRCODE0002", token, code, res), "EXPIRED_CODE");
}

/* ---- getAccountInformation ---------------------------------------------------------- */

/* The decrypted encryptedPayload of an answer (recorded for the schema
 * check), or a failed test. */
static json_t *decrypt_answer(json_t *answer)
{
	json_t *ep = json_object_get(answer, "encryptedPayload");
	mdes_payload pl = { jstr(ep, "encryptedData"), jstr(ep, "encryptedKey"), jstr(ep, "publicKeyFingerprint"),
		            jstr(ep, "oaepHashingAlgorithm"), jstr(ep, "iv"), NULL, NULL, NULL };
	char *plain = NULL, why[256];
	size_t len = 0;
	const char *f;
	if (mdes_decrypt(mastercard, &pl, &plain, &len, &f, why, sizeof(why)) != MDES_C_OK)
		fail_msg("the answer does not decrypt with Mastercard's key: %s %s", f, why);
	json_t *j = json_loadb(plain, len, 0, NULL);
	assert_non_null(j);
	assert_null(strstr(plain, "5555555555554444"));
	mdes_plain_free(plain, len);
	record("getAccountInformation.encryptedData", 200, j);
	return j;
}

static json_t *account_info(const char *pan, const char *month, const char *year)
{
	char id[32];
	snprintf(id, sizeof(id), "gai-%u", ++seq);
	json_t *p = payload_of(pan, NULL, month, year);
	json_t *req = json_pack("{s:s, s:{s:s, s:o}}", "requestId", id, "fundingAccountInfo", "panUniqueReference",
	                        "FWSPMC0000000000000000000000000000000000000000b001", "encryptedPayload",
	                        encrypted(p, "SHA512"));
	json_decref(p);
	json_t *a = post("getAccountInformation", req, 200, NULL);
	json_decref(req);
	/* Nothing in clear but the responseId. */
	assert_int_equal(json_object_size(a), 2);
	assert_non_null(jstr(a, "responseId"));
	json_t *data = decrypt_answer(a);
	json_decref(a);
	return data;
}

static void test_account_information(void **state)
{
	(void)state;
	json_t *d = account_info("5555555555554444", "12", "30");
	assert_string_equal(jstr(d, "accountStatus"), "ACTIVE");
	json_t *b = json_object_get(d, "balanceInformation");
	assert_string_equal(jstr(b, "amount"), "1520.75");
	assert_string_equal(jstr(b, "currencyCode"), "USD");
	assert_string_equal(jstr(b, "balanceDateTime"), "2027-03-01T09:00:00Z");
	/* Valid for the next 30 minutes. */
	int64_t until = su_parse_time(jstr(d, "dataValidUntilTimestamp")), now = (int64_t)time(NULL);
	assert_true(until > now + 1500 && until <= now + 1800);
	json_decref(d);
	/* A lost card: CANCELLED, no balance. An unknown card: INVALID. */
	d = account_info("378282246310005", "11", "28");
	assert_string_equal(jstr(d, "accountStatus"), "CANCELLED");
	assert_null(json_object_get(d, "balanceInformation"));
	json_decref(d);
	d = account_info("2223000048400011", "01", "31");
	assert_string_equal(jstr(d, "accountStatus"), "INVALID");
	json_decref(d);
}

/* ---- notifySuspiciousEvents ------------------------------------------------------------- */

static json_t *suspicious_req(const char *request_id, const char *token, int as_array)
{
	json_t *ev = json_pack("{s:s, s:{s:[s,s], s:[s]}, s:{s:[s]}}", "eventName", "REPLENISH", "walletAtcStatus",
	                       "usedForContactless", "0031", "0032", "unusedDiscarded", "0033", "systemAtcStatus",
	                       "atcNotFound", "0034");
	json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "requestId", request_id, "tokenUniqueReference", token,
	                      "paymentAppInstanceId", "pai-device-identifier-42", "status", "ACTIVE");
	if (as_array)
		json_object_set_new(r, "events", json_pack("[o, {s:s}]", ev, "eventName", "REPLENISH"));
	else
		json_object_set_new(r, "events", ev);
	return r;
}

static const http_sink_request *hook_with_key(const char *key)
{
	for (size_t i = 0; i < http_sink_count(hook); i++) {
		const char *k = http_sink_header(http_sink_get(hook, i), "Idempotency-Key");
		if (k && strcmp(k, key) == 0)
			return http_sink_get(hook, i);
	}
	return NULL;
}

static size_t hooks_with_key(const char *key)
{
	size_t n = 0;
	for (size_t i = 0; i < http_sink_count(hook); i++) {
		const char *k = http_sink_header(http_sink_get(hook, i), "Idempotency-Key");
		n += k && strcmp(k, key) == 0;
	}
	return n;
}

static void test_suspicious_events(void **state)
{
	(void)state;
	const char *token = "DWSPMC0000000000000000000000000000000000000000e001";
	long long counted = metric("stepupd_mdes_suspicious_events_total{event=\"REPLENISH\"}");
	char id[65];
	provision("as-susp-1", "CORRSUSP0001", "5555555555554444", "123", "12", "30", token, id);

	/* Reported twice (MDES retries): acknowledged both times, told once. */
	json_t *nse = suspicious_req("nse-1", token, 0);
	json_decref(post("notifySuspiciousEvents", nse, 200, NULL));
	json_decref(post("notifySuspiciousEvents", nse, 200, NULL));
	json_decref(nse);
	for (int i = 0; i < 200 && !hook_with_key("token.suspicious_event.nse-1"); i++)
		hd_sleep_ms(25);
	wait_metric("stepupd_notifications_pending", 0);
	assert_int_equal(hooks_with_key("token.suspicious_event.nse-1"), 1);
	const http_sink_request *w = hook_with_key("token.suspicious_event.nse-1");
	assert_string_equal(http_sink_header(w, "X-Stepup-Event"), "token.suspicious_event");
	json_t *b = json_loads(w->body, 0, NULL);
	assert_string_equal(jstr(b, "decision_id"), id);
	json_t *details = json_object_get(b, "details");
	assert_string_equal(jstr(details, "tokenUniqueReference"), token);
	assert_string_equal(jstr(details, "status"), "ACTIVE");
	assert_string_equal(jstr(json_array_get(json_object_get(details, "events"), 0), "eventName"), "REPLENISH");
	json_decref(b);
	/* The device's identifier is kept nowhere. */
	assert_null(strstr(w->body, "pai-device-identifier-42"));
	assert_true(metric("stepupd_mdes_suspicious_events_total{event=\"REPLENISH\"}") >= counted + 2);

	/* Recorded on the case. */
	char path[128];
	hresp r;
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	hd_http(&D, NULL, "GET", path, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	json_t *cs = json_loads(r.body, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(cs, "token_events")), 1);
	json_decref(cs);
	hresp_free(&r);

	/* 2.0.33's array of events; a token without a case. */
	nse = suspicious_req("nse-2", token, 1);
	json_decref(post("notifySuspiciousEvents", nse, 200, NULL));
	json_decref(nse);
	nse = suspicious_req("nse-3", "DWSPMC0000000000000000000000000000000000000000e0ff", 0);
	json_decref(post("notifySuspiciousEvents", nse, 200, NULL));
	json_decref(nse);
	for (int i = 0; i < 200 && !hook_with_key("token.suspicious_event.nse-3"); i++)
		hd_sleep_ms(25);
	w = hook_with_key("token.suspicious_event.nse-3");
	assert_non_null(w);
	b = json_loads(w->body, 0, NULL);
	assert_true(json_is_null(json_object_get(b, "decision_id")));
	json_decref(b);
	/* The decision log has the event, not the device. */
	assert_int_equal(hd_wait_for(D.declog, "\"operation\":\"notifySuspiciousEvents\",\"request_id\":\"nse-3\"", 5000), 1);
	char *dl = hd_slurp(D.declog, NULL);
	assert_null(strstr(dl, "pai-device-identifier-42"));
	free(dl);
}

/* ---- requestActivationMethods at the send limit ----------------------------------------- */

static json_t *methods_of(const char *request_id, const char *correlation)
{
	json_t *req = authorize(request_id, correlation, "REQUIRE_ADDITIONAL_AUTHENTICATION", "5555555555554444", "123",
	                        "12", "30");
	json_t *a = post("requestActivationMethods", req, 200, NULL);
	json_decref(req);
	json_t *ms = json_incref(json_object_get(a, "activationMethods"));
	json_decref(a);
	return ms;
}

static int offers(json_t *ms, const char *type)
{
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) if (strcmp(jstr(m, "type"), type) == 0) return 1;
	return 0;
}

static void test_methods_after_send_limit(void **state)
{
	(void)state;
	const char *token = "DWSPMC0000000000000000000000000000000000000000f001";
	provision("as-limit-1", "CORRLIMIT001", "5555555555554444", "123", "12", "30", NULL, NULL);
	json_t *ms = methods_of("ram-limit-1", "CORRLIMIT001");
	assert_true(offers(ms, "TEXT_TO_CARDHOLDER_NUMBER") && offers(ms, "EMAIL_TO_CARDHOLDER_ADDRESS"));
	assert_true(offers(ms, "CARDHOLDER_TO_CALL_MANNED_NUMBER"));
	json_decref(ms);
	/* cases.max_otp_sends (3) codes, then no more. */
	for (int i = 0; i < 3; i++)
		deliver_ok(deliver("CORRLIMIT001", token, i % 2 ? "EMAIL_TO_CARDHOLDER_ADDRESS" : "TEXT_TO_CARDHOLDER_NUMBER",
		                   "K7M2Q9X4"));
	json_t *dac = deliver("CORRLIMIT001", token, "TEXT_TO_CARDHOLDER_NUMBER", "K7M2Q9X4");
	json_t *e = post("deliverActivationCode", dac, 429, NULL);
	assert_string_equal(jstr(e, "errorCode"), "LIMIT_EXCEEDED");
	json_decref(e);
	json_decref(dac);
	/* Asked for the methods again: only the call centre is left. */
	ms = methods_of("ram-limit-2", "CORRLIMIT001");
	assert_int_equal(json_array_size(ms), 1);
	assert_string_equal(jstr(json_array_get(ms, 0), "type"), "CARDHOLDER_TO_CALL_MANNED_NUMBER");
	json_decref(ms);
}

/* ---- a failing account data source ------------------------------------------------------- */

/* A second daemon whose account data source (account_http) always gets a
 * 503 from the issuer's backend: the three configured answers. */
static hd D2;
static http_sink *backend;

static const char failure_rules[] =
	"ruleset \"failure-modes\"\n"
	"schema mdes\n"
	"method CUSTOMER_SERVICE always\n"
	"rule account_source_down \"The issuer's account data could not be read\"\n"
	"  when account.lookup == FAILED\n"
	"  then decline\n";

static void d2_config(const char *mode)
{
	char *extra = NULL, p[512];
	snprintf(p, sizeof(p), "%s", mode ? mode : "");
	assert_true(asprintf(&extra,
		"\"mdes\": {\"keys\": [{\"file\": \"issuer-key.pem\"}]%s%s%s,"
		"  \"decline_reasons\": {\"account_source_down\": \"DO_NOT_HONOR\"}},\n"
		"  \"plugins\": {\"path\": [\"" BUILDDIR "/plugins/.libs\"], \"timeout_ms\": 2000,"
		"  \"account_source\": \"accounts\", \"load\": ["
		"{\"name\": \"accounts\", \"module\": \"account_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/accounts\", \"allow_http\": true,"
		"  \"hmac_key_hex\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}]}",
		mode ? ", \"on_account_failure\": \"" : "", p, mode ? "\"" : "", (unsigned)http_sink_port(backend)) > 0);
	assert_int_equal(hd_write_default_config(&D2, "info", NULL, extra), 0);
	free(extra);
}

static void d2_reload(void)
{
	hresp r;
	hd_http(&D2, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	if (r.status != 200)
		fail_msg("reload: HTTP %ld %s", r.status, r.body ? r.body : "");
	hresp_free(&r);
}

static void test_account_failure_modes(void **state)
{
	(void)state;
	char err[256], p[512];
	http_sink_reply down = { .status = 503, .body = "{\"error\":\"down\"}" };
	assert_int_equal(http_sink_start(NULL, 0, &backend, err, sizeof(err)), 0);
	http_sink_set_reply(backend, &down);
	assert_int_equal(hd_init(&D2), 0);
	assert_int_equal(hd_write(D2.rules, failure_rules), 0);
	snprintf(p, sizeof(p), "%s/issuer-key.pem", D2.dir);
	assert_int_equal(copy_file(DATA "issuer-key.pem", p, 0600), 0);

	/* DECLINED (the default): fail closed, no rule consulted. */
	d2_config(NULL);
	assert_int_equal(hd_start_reporting(&D2, "the second stepupd did not start"), 0);
	json_t *req = authorize("as-fail-1", "CORRFAIL0001", "APPROVED", "5555555555554444", "123", "12", "30");
	json_t *a = post_to(&D2, "authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "DECLINED");
	assert_null(json_object_get(a, "declineReasonCode"));
	assert_string_equal(jstr(a, "cvcResponse"), "NOT_PROCESSED");
	json_decref(a);
	assert_true(http_sink_count(backend) >= 1);  /* the backend was asked */
	/* ERROR: an error answer, MDES stands in. */
	d2_config("ERROR");
	d2_reload();
	json_object_set_new(req, "requestId", json_string("as-fail-2"));
	a = post_to(&D2, "authorizeService", req, 503, NULL);
	assert_string_equal(jstr(a, "errorCode"), "SERVICE_UNAVAILABLE");
	json_decref(a);
	/* DECIDE: the rules see account.lookup == FAILED. */
	d2_config("DECIDE");
	d2_reload();
	json_object_set_new(req, "requestId", json_string("as-fail-3"));
	a = post_to(&D2, "authorizeService", req, 200, NULL);
	assert_string_equal(jstr(a, "decision"), "DECLINED");
	assert_string_equal(jstr(a, "declineReasonCode"), "DO_NOT_HONOR");
	json_decref(a);
	json_decref(req);
	assert_int_equal(hd_wait_for(D2.declog, "\"account\":\"FAILED\",\"methods\":[],\"rules\":[\"account_source_down\"]",
	                             5000), 1);
	assert_int_equal(hd_metric(&D2, "stepupd_mdes_account_lookups_total{result=\"FAILED\"}"), 3);
	char why[3300];
	int rc = hd_stop_checked(&D2, why, sizeof(why));
	if (rc != 0)
		fprintf(stderr, "%s\n", why);
	assert_int_equal(rc, 0);
	hd_rmdir(&D2);
	http_sink_stop(backend);
}

/* No head-of-line blocking through MDES (issue 11's rule): while the
 * issuer's account backend holds 4 authorizeService lookups (the gate of
 * an http_sink: no clock), 200 decisions on /v1/decisions are answered on
 * the daemon's 2 HTTP threads, and the 4 are still waiting; opened, they
 * are answered too. */
struct held_as {
	pthread_t t;
	char id[24];
	long status;
};

static void *held_authorize(void *arg)
{
	struct held_as *h = arg;
	json_t *req = authorize(h->id, "CORRHELD0001", "APPROVED", "5555555555554444", "123", "12", "30");
	char *text = json_dumps(req, JSON_COMPACT);
	hresp r;
	hd_http(&D2, NULL, "POST", "/mdes/authorizeService", "application/json", text, strlen(text), NULL, &r);
	__atomic_store_n(&h->status, r.curl_rc == 0 ? r.status : -1, __ATOMIC_RELEASE);
	hresp_free(&r);
	free(text);
	json_decref(req);
	return NULL;
}

static void test_no_head_of_line_blocking(void **state)
{
	(void)state;
	char err[256], p[512];
	http_sink_reply held = { .status = 200, .body = "{\"card\":{\"state\":\"ACTIVE\"}}", .hold = 1 };
	assert_int_equal(http_sink_start(NULL, 0, &backend, err, sizeof(err)), 0);
	http_sink_set_reply(backend, &held);
	assert_int_equal(hd_init(&D2), 0);
	assert_int_equal(hd_write(D2.rules, failure_rules), 0);
	snprintf(p, sizeof(p), "%s/issuer-key.pem", D2.dir);
	assert_int_equal(copy_file(DATA "issuer-key.pem", p, 0600), 0);
	d2_config(NULL);
	assert_int_equal(hd_start_reporting(&D2, "the second stepupd did not start"), 0);

	struct held_as h[4];
	memset(h, 0, sizeof(h));
	for (int k = 0; k < 4; k++) {
		snprintf(h[k].id, sizeof(h[k].id), "as-held-%d", k);
		assert_int_equal(pthread_create(&h[k].t, NULL, held_authorize, &h[k]), 0);
	}
	/* The backend has the first lookup (it serves one at a time); the
	 * daemon has all 4 requests. */
	assert_true(http_sink_wait(backend, 1, 30000));
	for (long long end = hd_now_ms() + 30000;
	     hd_metric(&D2, "stepupd_decision_pool_requests{state=\"running\"}") < 4 && hd_now_ms() < end;)
		hd_sleep_ms(5);
	assert_int_equal(hd_metric(&D2, "stepupd_decision_pool_requests{state=\"running\"}"), 4);
	hclient *c = hc_new();
	for (int i = 0; i < 200; i++) {
		hresp r;
		const char *g = "{\"requestId\":\"green-1\"}";
		hd_http(&D2, c, "POST", "/v1/decisions", "application/json", g, strlen(g), NULL, &r);
		assert_int_equal(r.status, 200);
		hresp_free(&r);
	}
	hc_free(c);
	for (int k = 0; k < 4; k++)
		assert_int_equal(__atomic_load_n(&h[k].status, __ATOMIC_ACQUIRE), 0);  /* still held */
	assert_int_equal(hd_metric(&D2, "stepupd_decision_pool_requests{state=\"running\"}"), 4);
	http_sink_release(backend);
	for (int k = 0; k < 4; k++) {
		pthread_join(h[k].t, NULL);
		assert_int_equal(h[k].status, 200);
	}
	char why[3300];
	int rc = hd_stop_checked(&D2, why, sizeof(why));
	if (rc != 0)
		fprintf(stderr, "%s\n", why);
	assert_int_equal(rc, 0);
	hd_rmdir(&D2);
	http_sink_stop(backend);
}

/* ---- our examples, and the spec's ------------------------------------------------------ */

/* A provisioning pending a step-up, under a correlationId of its own. */
static const char *fresh_case(char corr[16])
{
	char rid[32];
	snprintf(corr, 16, "CSPEC%07u", ++seq);
	snprintf(rid, sizeof(rid), "as-%s", corr);
	provision(rid, corr, "5555555555554444", "123", "12", "30", NULL, NULL);
	return corr;
}

/* The example's encryptedPayload replaced by a real one, encrypted the
 * way its fields say (hash, IV, GCM). */
static void real_payload(json_t *body)
{
	json_t *fai = json_object_get(body, "fundingAccountInfo"), *ep = json_object_get(fai, "encryptedPayload");
	const char *oaep = jstr(ep, "oaepHashingAlgorithm"), *mode = jstr(ep, "algorithmCipherMode");
	mdes_encrypt_opts o = { oaep && strcmp(oaep, "SHA256") == 0 ? "SHA256" : oaep ? "SHA512" : NULL,
		                json_object_get(ep, "iv") != NULL, mode && strcmp(mode, "GCM") == 0, 128, NULL };
	json_t *p = payload_of("5555555555554444", "123", "12", "30");
	char *plain = json_dumps(p, JSON_COMPACT), *out = NULL, err[256];
	if (mdes_encrypt(DATA "issuer-pub.pem", plain, strlen(plain), &o, &out, err, sizeof(err)) < 0)
		fail_msg("encrypt: %s", err);
	json_object_set_new(fai, "encryptedPayload", json_loads(out, 0, NULL));
	free(out);
	free(plain);
	json_decref(p);
}

/* Our request examples of every operation and field, and with
 * STEPUP_MDES_SPEC_DIR the spec documents' own: each accepted (200, no
 * errorCode). */
static void test_spec_requests(void **state)
{
	(void)state;
	char line[65536], corr[16] = "";
	FILE *f = popen(PYTHON " " SRCDIR "/tests/mdes/spec.py requests", "r");
	assert_non_null(f);
	unsigned n = 0, ours = 0;
	while (fgets(line, sizeof(line), f)) {
		json_t *c = json_loads(line, 0, NULL), *b = json_object_get(c, "body");
		const char *op = jstr(c, "op"), *src = jstr(c, "source");
		char id[64];
		snprintf(id, sizeof(id), "spec-%u", ++n);
		ours += strcmp(src, "ours") == 0;
		json_object_set_new(b, "requestId", json_string(id));
		if (!strcmp(op, "deliverActivationCode") || !strcmp(op, "validateActivationCode") ||
		    !strcmp(op, "notifyServiceActivated") || !strcmp(op, "requestActivationMethods") || !corr[0])
			fresh_case(corr);
		if (json_object_get(b, "correlationId"))
			json_object_set_new(b, "correlationId", json_string(corr));
		if (!strcmp(op, "authorizeService") || !strcmp(op, "requestActivationMethods") ||
		    !strcmp(op, "getAccountInformation"))
			real_payload(b);
		if (!strcmp(op, "deliverActivationCode")) {
			/* To the case's channels, with a code they carry. */
			json_t *am = json_object_get(b, "activationMethod");
			const char *t = jstr(am, "type");
			if (!t || (strcmp(t, "TEXT_TO_CARDHOLDER_NUMBER") && strcmp(t, "EMAIL_TO_CARDHOLDER_ADDRESS")))
				json_object_set_new(am, "type", json_string("TEXT_TO_CARDHOLDER_NUMBER"));
			if (json_object_get(b, "activationCode"))
				json_object_set_new(b, "activationCode", json_string("K7M2Q9X4"));
			if (json_object_get(b, "expirationDateTime")) {
				char until[32];
				time_t t2 = time(NULL) + 600;
				strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&t2));
				json_object_set_new(b, "expirationDateTime", json_string(until));
			}
		}
		json_t *a = post(op, b, 0, NULL);
		if (json_object_get(a, "errorCode"))
			fail_msg("%s %s (%s) refused: %s %s", op, jstr(c, "name"), src, jstr(a, "errorCode"),
			         jstr(a, "errorDescription"));
		if (!strcmp(op, "getAccountInformation"))
			json_decref(decrypt_answer(a));
		json_decref(a);
		json_decref(c);
	}
	assert_int_equal(pclose(f), 0);
	/* Every operation, every field of ours (spec.py checks the fields). */
	assert_true(ours >= 21);
	fprintf(stderr, "# %u requests sent, %u of them our examples%s\n", n, ours,
	        getenv("STEPUP_MDES_SPEC_DIR") ? ", the rest the spec documents'" : "");
}

/* Every answer of this run, valid by our schemas (and the spec's, with
 * STEPUP_MDES_SPEC_DIR). */
static void test_answers_validate(void **state)
{
	(void)state;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), PYTHON " " SRCDIR "/tests/mdes/spec.py validate %s", answers);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The daemon's own files: no card number, no CVC2 context. */
static void test_no_card_data_kept(void **state)
{
	(void)state;
	char db[256], wal[256];
	snprintf(db, sizeof(db), "%s/cases.db", D.dir);
	snprintf(wal, sizeof(wal), "%s/cases.db-wal", D.dir);
	const char *files[] = { D.stderr_log, D.declog, db, wal };
	/* The card numbers, and the account holder's data of the payloads. */
	const char *pans[] = { "5555555555554444", "4111111111111111", "6011111111111117", "378282246310005",
		"Hanako Yamada", "hanako@wallet.example" };
	for (size_t i = 0; i < 4; i++) {
		size_t len = 0;
		char *t = hd_slurp(files[i], &len);
		if (!t && i >= 2)
			continue;  /* no -wal after a checkpoint */
		assert_non_null(t);
		for (size_t k = 0; k < sizeof(pans) / sizeof(pans[0]); k++)
			if (memmem(t, len, pans[k], strlen(pans[k])))
				fail_msg("%s holds %s", files[i], pans[k]);
		/* The codes the issuer made: sent, kept nowhere. */
		for (size_t k = 0; k < ncodes; k++)
			if (memmem(t, len, codes[k], strlen(codes[k])))
				fail_msg("%s holds the activation code %s", files[i], codes[k]);
		free(t);
	}
	for (size_t i = 0; i < http_sink_count(sms); i++)
		for (size_t k = 0; k < sizeof(pans) / sizeof(pans[0]); k++)
			assert_null(strstr(http_sink_get(sms, i)->body, pans[k]));
	for (size_t i = 0; i < smtp_sink_count(smtp); i++)
		for (size_t k = 0; k < sizeof(pans) / sizeof(pans[0]); k++)
			assert_null(strstr(smtp_sink_get(smtp, i)->data, pans[k]));
	for (size_t i = 0; i < http_sink_count(hook); i++)
		for (size_t k = 0; k < sizeof(pans) / sizeof(pans[0]); k++)
			assert_null(strstr(http_sink_get(hook, i)->body, pans[k]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sms_flow),      cmocka_unit_test(test_email_japanese),
		cmocka_unit_test(test_repeated_request), cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_errors),        cmocka_unit_test(test_issuer_code),
		cmocka_unit_test(test_issuer_code_tries), cmocka_unit_test(test_account_information),
		cmocka_unit_test(test_suspicious_events), cmocka_unit_test(test_methods_after_send_limit),
		cmocka_unit_test(test_account_failure_modes),
		cmocka_unit_test(test_no_head_of_line_blocking), cmocka_unit_test(test_spec_requests),
		cmocka_unit_test(test_answers_validate), cmocka_unit_test(test_no_card_data_kept),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
