/* facts.c: the facts of an MDES decision (facts.h). */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../../engine/util.h"
#include "facts.h"

/* The MDES schema's paths this adapter knows (rules/schema/mdes.rules). */
#define P_PAYLOAD_PARENT "fundingAccountInfo"
#define P_PAYLOAD "encryptedPayload"
#define P_CARD "cardAccountData"
#define P_PAN "accountNumber"
#define P_EXP_MONTH "expiryMonth"
#define P_EXP_YEAR "expiryYear"
#define P_CSC "securityCode"
#define P_VALID_UNTIL "dataValidUntilTimestamp"
#define P_ACCOUNT "account"
#define P_LOOKUP "lookup"
#define P_CSC_RESULT "csc_result"
#define P_ACCOUNT_LANGUAGE "language"
#define P_CARDHOLDER "cardholder"
#define P_DEVICE_LANGUAGE "deviceAcceptLanguage"

/* ---- wiping allocator --------------------------------------------------------- */

static void wipe_free(void *p)
{
	if (p) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

static void wipe_once(void)
{
	json_set_alloc_funcs(malloc, wipe_free);
}

void mdes_wipe_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, wipe_once);
}

/* ---- the payload ---------------------------------------------------------------- */

static int digits(const char *s, size_t lo, size_t hi)
{
	size_t n = s ? strlen(s) : 0;
	if (n < lo || n > hi)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int fail(const char **code, const char *c, char *field, size_t fieldlen, const char *f, char *why,
                size_t whylen, const char *msg)
{
	*code = c;
	snprintf(field, fieldlen, "%s", f);
	snprintf(why, whylen, "%s%s%s", f, f[0] ? " " : "", msg);
	return -1;
}

int mdes_payload_open(const char *plain, size_t len, const char *request_id, int64_t now_s,
                      mdes_card *c, const char **code, char *field, size_t fieldlen, char *why,
                      size_t whylen)
{
	memset(c, 0, sizeof(*c));
	/* No error text from jansson: it may quote the plaintext. */
	c->data = json_loadb(plain, len, JSON_REJECT_DUPLICATES, NULL);
	if (!c->data || !json_is_object(c->data)) {
		mdes_payload_close(c);
		return fail(code, "INVALID_FIELD_VALUE", field, fieldlen, "encryptedData", why, whylen,
		            "does not decrypt to a JSON object");
	}
	json_t *valid = json_object_get(c->data, P_VALID_UNTIL);
	if (valid) {
		int64_t t = su_parse_time(json_string_value(valid));
		if (t < 0) {
			mdes_payload_close(c);
			return fail(code, "INVALID_FIELD_FORMAT", field, fieldlen, "encryptedData." P_VALID_UNTIL,
			            why, whylen, "must be an ISO 8601 time (YYYY-MM-DDThh:mm:ss[.sss]Z or +hh:mm)");
		}
		if (t < now_s) {
			mdes_payload_close(c);
			return fail(code, "INVALID_FIELD_VALUE", field, fieldlen, "encryptedData." P_VALID_UNTIL,
			            why, whylen, "has passed: the payload is no longer valid");
		}
	}
	json_t *card = json_object_get(c->data, P_CARD);
	if (!json_is_object(card)) {
		mdes_payload_close(c);
		return fail(code, "MISSING_REQUIRED_FIELD", field, fieldlen, "encryptedData." P_CARD, why, whylen,
		            "is required");
	}
	const char *pan = json_string_value(json_object_get(card, P_PAN));
	if (!pan) {
		mdes_payload_close(c);
		return fail(code, "MISSING_REQUIRED_FIELD", field, fieldlen, "encryptedData." P_CARD "." P_PAN, why,
		            whylen, "is required");
	}
	if (!digits(pan, 9, 19)) {
		mdes_payload_close(c);
		return fail(code, "INVALID_FIELD_FORMAT", field, fieldlen, "encryptedData." P_CARD "." P_PAN, why,
		            whylen, "must be 9 to 19 digits");
	}
	const char *m = json_string_value(json_object_get(card, P_EXP_MONTH));
	const char *y = json_string_value(json_object_get(card, P_EXP_YEAR));
	const char *csc = json_string_value(json_object_get(card, P_CSC));
	if ((json_object_get(card, P_EXP_MONTH) && !digits(m, 2, 2)) ||
	    (json_object_get(card, P_EXP_YEAR) && !digits(y, 2, 4)) ||
	    (json_object_get(card, P_CSC) && !digits(csc, 3, 4))) {
		const char *f = json_object_get(card, P_CSC) && !digits(csc, 3, 4) ? "encryptedData." P_CARD "." P_CSC
		                : json_object_get(card, P_EXP_YEAR) && !digits(y, 2, 4)
		                        ? "encryptedData." P_CARD "." P_EXP_YEAR
		                        : "encryptedData." P_CARD "." P_EXP_MONTH;
		mdes_payload_close(c);
		return fail(code, "INVALID_FIELD_FORMAT", field, fieldlen, f, why, whylen, "must be digits");
	}
	c->card.pan = pan;
	c->card.expiry_month = m;
	c->card.expiry_year = y;
	c->card.csc = csc;
	c->card.request_id = request_id;
	c->has_csc = csc != NULL;
	return 0;
}

void mdes_payload_close(mdes_card *c)
{
	json_decref(c->data);
	memset(c, 0, sizeof(*c));
}

/* ---- the facts document --------------------------------------------------------- */

/* Deep-merge src into dst: objects merge, anything else replaces. */
static int merge(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v) {
		json_t *d = json_object_get(dst, k);
		if (json_is_object(d) && json_is_object(v)) {
			if (merge(d, v) < 0)
				return -1;
		} else if (json_object_set(dst, k, v) < 0) {
			return -1;
		}
	}
	return 0;
}

static json_t *object_at(json_t *root, const char *key)
{
	json_t *o = json_object_get(root, key);
	if (json_is_object(o))
		return o;
	o = json_object();
	if (!o || json_object_set_new(root, key, o) < 0)
		return NULL;
	return o;
}

/* The value at a dotted path, or NULL. */
static json_t *get_path(json_t *root, const char *path)
{
	char seg[129];
	json_t *cur = root;
	while (cur && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		cur = json_object_get(cur, seg);
		path += n + (path[n] == '.');
	}
	return cur;
}

static int set_path(json_t *root, const char *path, json_t *v)
{
	char seg[129];
	json_t *cur = root;
	for (;;) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(seg)) {
			json_decref(v);
			return -1;
		}
		memcpy(seg, path, n);
		seg[n] = '\0';
		if (!path[n])
			return json_object_set_new(cur, seg, v);
		if (!(cur = object_at(cur, seg))) {
			json_decref(v);
			return -1;
		}
		path += n + 1;
	}
}

static json_t *convert(json_t *v, int as)
{
	char buf[64];
	switch (as) {
	case MDES_AS_INT:
		if (json_is_integer(v))
			return json_incref(v);
		if (json_is_string(v)) {
			char *end;
			long long n = strtoll(json_string_value(v), &end, 10);
			if (*json_string_value(v) && !*end)
				return json_integer(n);
		}
		return NULL;
	case MDES_AS_STRING:
		if (json_is_string(v))
			return json_incref(v);
		if (json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
			return json_string(buf);
		}
		return NULL;
	case MDES_AS_BOOL:
		if (json_is_boolean(v))
			return json_incref(v);
		if (json_is_string(v))
			return strcmp(json_string_value(v), "true") == 0 ? json_true()
			       : strcmp(json_string_value(v), "false") == 0 ? json_false() : NULL;
		return NULL;
	default:
		return json_incref(v);
	}
}

/* The document of another schema, from the MDES facts: facts_map. */
static json_t *mapped(const mdes_cfg *cfg, json_t *mdes)
{
	json_t *out = json_object();
	for (size_t i = 0; out && i < cfg->nmap; i++) {
		const mdes_map_entry *m = &cfg->map[i];
		json_t *v = m->value ? json_incref(m->value) : convert(get_path(mdes, m->from), m->as);
		if (v && set_path(out, m->to, v) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static const char *const lookup_names[] = { "FOUND", "NOT_FOUND", "FAILED" };

int mdes_facts_build(const mdes_cfg *cfg, json_t *request, const mdes_card *c, const char *account_json,
                     int lookup, char **out, size_t *outlen)
{
	json_t *doc = json_deep_copy(request), *acct = NULL, *fin;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (!doc)
		return -1;
	/* The ciphertext is no fact; what it held is, at the top level. */
	if ((fin = json_object_get(doc, P_PAYLOAD_PARENT)) && json_is_object(fin))
		json_object_del(fin, P_PAYLOAD);
	if (c && merge(doc, c->data) < 0)
		goto out;
	if (account_json && (acct = json_loads(account_json, JSON_REJECT_DUPLICATES, NULL)) &&
	    json_is_object(acct) && merge(doc, acct) < 0)
		goto out;
	json_t *a = object_at(doc, P_ACCOUNT);
	if (!a || json_object_set_new(a, P_LOOKUP, json_string(lookup_names[lookup])) < 0)
		goto out;
	/* The language messages use: the issuer's, else the device's. */
	json_t *lang = json_object_get(a, P_ACCOUNT_LANGUAGE);
	if (!json_is_string(lang))
		lang = json_object_get(doc, P_DEVICE_LANGUAGE);
	if (json_is_string(lang)) {
		json_t *ch = object_at(doc, P_CARDHOLDER);
		if (!ch || json_object_set(ch, P_ACCOUNT_LANGUAGE, lang) < 0)
			goto out;
	}
	if (cfg->map) {
		json_t *m = mapped(cfg, doc);
		json_decref(doc);
		if (!(doc = m))
			goto out;
	}
	size_t need = json_dumpb(doc, NULL, 0, JSON_COMPACT);
	if (!need || !(*out = malloc(need + 1)))
		goto out;
	*outlen = json_dumpb(doc, *out, need, JSON_COMPACT);
	(*out)[*outlen] = '\0';
	rc = 0;
out:
	json_decref(acct);
	json_decref(doc);
	return rc;
}

void mdes_facts_free(char *facts, size_t len)
{
	if (facts) {
		OPENSSL_cleanse(facts, len);
		free(facts);
	}
}

const char *mdes_cvc_response(const mdes_card *c, const char *account_json, int lookup)
{
	if (!c || !c->has_csc)
		return NULL;
	if (lookup != MDES_ACCOUNT_FOUND || !account_json)
		return "NOT_PROCESSED";
	json_t *acct = json_loads(account_json, 0, NULL);
	const char *r = json_string_value(json_object_get(json_object_get(acct, P_ACCOUNT), P_CSC_RESULT));
	const char *out = r && strcmp(r, "MATCH") == 0 ? "MATCH" : r && strcmp(r, "INVALID") == 0 ? "INVALID"
	                                                                                         : "NOT_PROCESSED";
	json_decref(acct);
	return out;
}
