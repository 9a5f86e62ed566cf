/* codes.c: activation codes the issuer makes (include/stepup/lifecycle.h,
 * "Codes the issuer makes"; MDES Deliver Activation Code without a code,
 * then Validate Activation Code).
 *
 *   nonce  16 random bytes (the CSPRNG), hex, kept with the case
 *   code   `length` digits drawn from HMAC-SHA-256(key, "stepup/code" 0
 *          decision id 0 nonce [0 counter]), rejecting bytes >= 250 so each
 *          digit is uniform
 *   hash   HMAC-SHA-256(key, "stepup/code-check" 0 decision id 0 code), hex,
 *          kept with the case; a try is compared by its hash
 *
 * The nonce (not the code) is kept so that a repeated delivery sends the
 * same code, as MDES wants; without the key neither it nor the hash tells
 * the code, and the hash binds the code to its case. The code exists only
 * in this file's buffers and the channel call, and is wiped after. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "lc.h"
#include "util.h"

#define MAX_CODE 16

static int mac(const su_lc_config *cfg, const char *label, const char *id, const char *text,
               unsigned counter, unsigned char out[32])
{
	unsigned char msg[256];
	unsigned int n = 0;
	size_t l = strlen(label) + 1, i = strlen(id) + 1, t = strlen(text);
	if (l + i + t + 2 > sizeof(msg))
		return -1;
	memcpy(msg, label, l);
	memcpy(msg + l, id, i);
	memcpy(msg + l + i, text, t);
	size_t len = l + i + t;
	if (counter) {
		msg[len++] = 0;
		msg[len++] = (unsigned char)counter;
	}
	int ok = HMAC(EVP_sha256(), cfg->codes.key, (int)cfg->codes.keylen, msg, len, out, &n) != NULL && n == 32;
	OPENSSL_cleanse(msg, sizeof(msg));
	return ok ? 0 : -1;
}

/* The code of (id, nonce): cfg->codes.length digits into code. */
static int derive(const su_lc_config *cfg, const char *id, const char *nonce, char code[MAX_CODE + 1])
{
	unsigned char md[32];
	unsigned n = 0;
	for (unsigned counter = 0; n < cfg->codes.length && counter < 16; counter++) {
		if (mac(cfg, "stepup/code", id, nonce, counter, md) < 0)
			return -1;
		for (size_t i = 0; i < sizeof(md) && n < cfg->codes.length; i++)
			if (md[i] < 250)
				code[n++] = (char)('0' + md[i] % 10);
	}
	OPENSSL_cleanse(md, sizeof(md));
	code[n] = '\0';
	return n == cfg->codes.length ? 0 : -1;
}

static int check_hash(const su_lc_config *cfg, const char *id, const char *code, char out[65])
{
	unsigned char md[32];
	if (mac(cfg, "stepup/code-check", id, code, 0, md) < 0)
		return -1;
	su_hex(md, sizeof(md), out);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int stepup_cases_deliver_code(stepup_cases *c, const char *id, stepup_method m, int64_t expires_at,
                              const char *reason, char **out, size_t *outlen, int *http_status)
{
	unsigned char r[SU_CODE_NONCE_HEX / 2];
	char nonce[SU_CODE_NONCE_HEX + 1], code[MAX_CODE + 1] = "", hash[65];
	su_case cur;
	int rc;

	if (!c || !id || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	if (!c->cfg.codes.enabled)
		return STEPUP_ESTATE;
	if (!su_lc_ref_ok(id, SU_DECISION_ID_MAX))
		return STEPUP_EINVAL;
	memset(&cur, 0, sizeof(cur));
	if (RAND_bytes(r, sizeof(r)) != 1)
		return STEPUP_EIO;
	su_hex(r, sizeof(r), nonce);
	if (derive(&c->cfg, id, nonce, code) < 0 || check_hash(&c->cfg, id, code, hash) < 0) {
		rc = STEPUP_ENOMEM;
		goto out;
	}
	/* The code exists before it is sent: a code that reached the
	 * cardholder can always be checked. A live one is kept as it is. */
	int64_t now = su_lc_now_ms();
	rc = c->store->ops->set_code(c->store, id, nonce, hash, expires_at * 1000, c->cfg.codes.max_attempts, now,
	                             &cur);
	if (rc == STEPUP_EIO) {
		su_lc_store_failed(c, rc, "set activation code");
	} else if (rc == STEPUP_OK && strcmp(cur.code_nonce, nonce) != 0) {
		/* Asked again: the same code, its expiry unchanged. */
		if (derive(&c->cfg, id, cur.code_nonce, code) < 0) {
			rc = STEPUP_ENOMEM;
			goto out;
		}
		expires_at = cur.code_expires_ms / 1000;
		su_lc_log(c, STEPUP_LOG_INFO, "case %s: the activation code is sent again", id);
	} else if (rc == STEPUP_OK) {
		su_lc_log(c, STEPUP_LOG_INFO, "case %s: an activation code made (%u digits)", id, c->cfg.codes.length);
	}
	/* Not found, closed, due or a store failure: the delivery's own
	 * answers (404, 409, 410, 503) say so, and nothing is sent. */
	rc = su_lc_deliver(c, id, m, code, expires_at, reason, out, outlen, http_status);
out:
	OPENSSL_cleanse(code, sizeof(code));
	OPENSSL_cleanse(nonce, sizeof(nonce));
	OPENSSL_cleanse(r, sizeof(r));
	explicit_bzero(&cur, sizeof(cur));
	return rc;
}

int stepup_cases_check_code(stepup_cases *c, const char *id, const char *code, stepup_code_result *result,
                            unsigned *attempts, char *err, size_t errlen)
{
	char hash[65];
	su_code_try t = SU_CODE_VOID;
	unsigned n = 0;

	if (!c || !id || !code || !result)
		return STEPUP_EINVAL;
	*result = STEPUP_CODE_EXPIRED;
	if (attempts)
		*attempts = 0;
	if (!c->cfg.codes.enabled) {
		su_set_err(err, errlen, "the issuer makes no activation codes (no cases.activation_codes)");
		return STEPUP_ESTATE;
	}
	if (!su_lc_ref_ok(id, SU_DECISION_ID_MAX) || strlen(code) > 64) {
		su_set_err(err, errlen, "a bad decision id or code");
		return STEPUP_EINVAL;
	}
	if (check_hash(&c->cfg, id, code, hash) < 0)
		return STEPUP_ENOMEM;
	int rc = c->store->ops->try_code(c->store, id, hash, c->cfg.codes.max_attempts, su_lc_now_ms(), &t, &n);
	if (rc != STEPUP_OK) {
		if (rc == STEPUP_EIO)
			su_lc_store_failed(c, rc, "check activation code");
		if (rc == STEPUP_ENOTFOUND)
			su_set_err(err, errlen, "no case %s", id);
		else
			su_set_err(err, errlen, "the case store is unavailable");
		return rc;
	}
	static const stepup_code_result map[] = { STEPUP_CODE_SUCCESS, STEPUP_CODE_INCORRECT,
		                                  STEPUP_CODE_RETRIES_EXCEEDED, STEPUP_CODE_EXPIRED };
	static const char *const said[] = { "right", "wrong", "wrong, the last try", "void" };
	*result = map[t];
	if (attempts)
		*attempts = n;
	su_lc_log(c, STEPUP_LOG_INFO, "case %s: activation code tried: %s (%u of %u wrong)", id, said[t], n,
	          c->cfg.codes.max_attempts);
	return STEPUP_OK;
}
