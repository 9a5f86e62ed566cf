/* config.c: the "mdes" section (config.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "facts.h"

typedef struct P {
	char *err;
	size_t errlen;
	const char *base_dir;
} P;

static int bad(P *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(P *p, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(p->err, p->errlen, "mdes.");
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *resolve(P *p, const char *path)
{
	char *out;
	if (path[0] == '/')
		return strdup(path);
	return asprintf(&out, "%s/%s", p->base_dir, path) < 0 ? NULL : out;
}

static const char *const decline_codes[] = {
	"LOST", "EXPIRED", "RESTRICTED", "SEC_VIOLATION", "CRYPTO_FAIL", "UNACCEPTABLE_PIN",
	"EXCEEDS_PIN_TRIES", "STOLEN", "INVAL_CARD", "CLOSED_ACCOUNT", "INVAL_ACCT", "INVAL_PIN",
	"RCVR_NOTPERM", "SNDR_NOTPERM", "EXCEEDS_CNT", "DO_NOT_HONOR", NULL,
};

int mdes_decline_code_known(const char *code)
{
	for (size_t i = 0; decline_codes[i]; i++)
		if (strcmp(code, decline_codes[i]) == 0)
			return 1;
	return 0;
}

static int get_uint(P *p, json_t *obj, const char *key, const char *path, unsigned lo, unsigned hi,
                    unsigned *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return bad(p, "%s: must be an integer from %u to %u", path, lo, hi);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int only_keys(P *p, json_t *obj, const char *where, const char *const *keys)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		size_t i;
		for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
			;
		if (!keys[i])
			return bad(p, "%s%sunknown key \"%s\"", where, where[0] ? ": " : "", k);
	}
	return 0;
}

/* "/mdes", "/issuer/mdes/v1": segments of [A-Za-z0-9._-], no trailing '/'. */
static int good_base(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 64 || s[0] != '/' || s[n - 1] == '/')
		return 0;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (c == '/' ? s[i - 1] == '/'
		             : !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		                 c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int good_path(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int parse_keys(P *p, json_t *v, mdes_cfg *c)
{
	static const char *const keys[] = { "file", "certificate", "fingerprint", NULL };
	size_t i;
	json_t *k;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return bad(p, "keys: must be a non-empty array of {\"file\": \"key.pem\"}");
	json_array_foreach(v, i, k) {
		char where[32], why[512];
		const char *file = json_string_value(k), *cert = NULL, *fp = NULL;
		snprintf(where, sizeof(where), "keys[%zu]", i);
		if (json_is_object(k)) {
			if (only_keys(p, k, where, keys) < 0)
				return -1;
			file = json_string_value(json_object_get(k, "file"));
			json_t *cv = json_object_get(k, "certificate"), *fv = json_object_get(k, "fingerprint");
			if ((cv && !json_is_string(cv)) || (fv && !json_is_string(fv)))
				return bad(p, "%s: certificate and fingerprint are strings", where);
			cert = json_string_value(cv);
			fp = json_string_value(fv);
		}
		if (!file || !file[0])
			return bad(p, "%s: must be a key file, or {\"file\": \"key.pem\"}", where);
		char *fpath = resolve(p, file), *cpath = cert ? resolve(p, cert) : NULL;
		int rc = fpath && (!cert || cpath)
		                 ? mdes_keyring_add_file(c->keys, fpath, cpath, fp, why, sizeof(why))
		                 : (snprintf(why, sizeof(why), "out of memory"), -1);
		free(fpath);
		free(cpath);
		if (rc < 0)
			return bad(p, "%s: %s", where, why);
	}
	return 0;
}

static int parse_reasons(P *p, json_t *v, mdes_cfg *c)
{
	const char *rule;
	json_t *code;
	if (!json_is_object(v))
		return bad(p, "decline_reasons: must be an object of rule name -> declineReasonCode");
	if (!(c->reasons = calloc(json_object_size(v) + 1, sizeof(*c->reasons))))
		return bad(p, "out of memory");
	json_object_foreach(v, rule, code) {
		if (!json_is_string(code) || !mdes_decline_code_known(json_string_value(code)))
			return bad(p, "decline_reasons.%s: must be one of MDES's codes (LOST, STOLEN, "
			           "CLOSED_ACCOUNT, DO_NOT_HONOR...)", rule);
		mdes_reason *r = &c->reasons[c->nreasons++];
		if (!(r->rule = strdup(rule)) || !(r->code = strdup(json_string_value(code))))
			return bad(p, "out of memory");
	}
	return 0;
}

static int parse_map(P *p, json_t *v, mdes_cfg *c)
{
	const char *to;
	json_t *e;
	if (!json_is_object(v) || json_object_size(v) == 0)
		return bad(p, "facts_map: must be an object of field -> MDES field");
	if (!(c->map = calloc(json_object_size(v), sizeof(*c->map))))
		return bad(p, "out of memory");
	json_object_foreach(v, to, e) {
		static const char *const keys[] = { "from", "as", "value", NULL };
		char where[160];
		mdes_map_entry *m = &c->map[c->nmap++];
		snprintf(where, sizeof(where), "facts_map.%s", to);
		if (!good_path(to))
			return bad(p, "%s: not a field path", where);
		if (!(m->to = strdup(to)))
			return bad(p, "out of memory");
		const char *from = json_string_value(e);
		if (json_is_object(e)) {
			if (only_keys(p, e, where, keys) < 0)
				return -1;
			json_t *val = json_object_get(e, "value");
			from = json_string_value(json_object_get(e, "from"));
			if (val && from)
				return bad(p, "%s: either \"from\" or \"value\"", where);
			if (val) {
				m->value = json_incref(val);
				continue;
			}
			const char *as = json_string_value(json_object_get(e, "as"));
			if (json_object_get(e, "as") && !as)
				return bad(p, "%s.as: must be \"int\", \"string\" or \"bool\"", where);
			if (as)
				m->as = strcmp(as, "int") == 0 ? MDES_AS_INT : strcmp(as, "string") == 0 ? MDES_AS_STRING
				        : strcmp(as, "bool") == 0 ? MDES_AS_BOOL : -1;
			if (m->as < 0)
				return bad(p, "%s.as: must be \"int\", \"string\" or \"bool\"", where);
		}
		if (!from || !good_path(from))
			return bad(p, "%s: must be an MDES field path, or {\"from\": PATH, \"as\": \"int\"}, "
			           "or {\"value\": CONSTANT}", where);
		if (!(m->from = strdup(from)))
			return bad(p, "out of memory");
	}
	return 0;
}

/* "mastercard_key": {"file": "mastercard.pem", "fingerprint": "...", "oaep_hash": "SHA512"} */
static int parse_mastercard(P *p, json_t *v, mdes_cfg *c)
{
	static const char *const keys[] = { "file", "fingerprint", "oaep_hash", NULL };
	char why[512];
	if (!json_is_object(v))
		return bad(p, "mastercard_key: must be {\"file\": \"mastercard.pem\"}");
	if (only_keys(p, v, "mastercard_key", keys) < 0)
		return -1;
	const char *file = json_string_value(json_object_get(v, "file"));
	json_t *fv = json_object_get(v, "fingerprint"), *ov = json_object_get(v, "oaep_hash");
	if (!file || !file[0])
		return bad(p, "mastercard_key.file: required (Mastercard's public key or certificate, PEM)");
	if ((fv && !json_is_string(fv)) || (ov && !json_is_string(ov)))
		return bad(p, "mastercard_key: fingerprint and oaep_hash are strings");
	const char *oaep = ov ? json_string_value(ov) : "SHA512";
	if (strcmp(oaep, "SHA256") != 0 && strcmp(oaep, "SHA512") != 0)
		return bad(p, "mastercard_key.oaep_hash: must be \"SHA256\" or \"SHA512\"");
	char *path = resolve(p, file);
	if (!path)
		return bad(p, "out of memory");
	c->mastercard = mdes_pubkey_load(path, json_string_value(fv), why, sizeof(why));
	free(path);
	if (!c->mastercard)
		return bad(p, "mastercard_key: %s", why);
	/* encryptedKey is at most 512 hex digits: a 2048-bit RSA key. */
	if (mdes_pubkey_bits(c->mastercard) != 2048)
		return bad(p, "mastercard_key: a key of %d bits; MDES's encryptedKey fits a 2048-bit RSA key",
		           mdes_pubkey_bits(c->mastercard));
	if (!(c->mastercard_oaep = strdup(oaep)))
		return bad(p, "out of memory");
	return 0;
}

int mdes_cfg_parse(json_t *v, const char *base_dir, mdes_cfg **out, char *err, size_t errlen)
{
	static const char *const keys[] = { "base_path", "keys", "on_account_failure", "decline_reasons",
		"idempotency", "activation_code_ttl_seconds", "facts_map", "mastercard_key", NULL };
	P p = { err, errlen, base_dir };
	mdes_cfg *c = calloc(1, sizeof(*c));
	json_t *j;

	*out = NULL;
	/* Decrypted card data goes through jansson: from the first "mdes"
	 * section on (the boot configuration, read before any thread
	 * starts), every block jansson frees is wiped first. */
	mdes_wipe_init();
	if (!c || !(c->keys = mdes_keyring_new())) {
		mdes_cfg_free(c);
		snprintf(err, errlen, "mdes: out of memory");
		return -1;
	}
	c->replay_entries = 10000;
	c->replay_ttl_seconds = 900;
	c->code_ttl_seconds = 1800;
	if (!json_is_object(v)) {
		bad(&p, "the section must be an object");
		goto fail;
	}
	if (only_keys(&p, v, "", keys) < 0)
		goto fail;
	j = json_object_get(v, "base_path");
	if (j && (!json_is_string(j) || !good_base(json_string_value(j)))) {
		bad(&p, "base_path: must be a path like \"/mdes\" (letters, digits, . _ -, no trailing /)");
		goto fail;
	}
	if (!(c->base_path = strdup(j ? json_string_value(j) : "/mdes"))) {
		bad(&p, "out of memory");
		goto fail;
	}
	if (!(j = json_object_get(v, "keys"))) {
		bad(&p, "keys: missing (the issuer's RSA private keys, PEM files of mode 0600)");
		goto fail;
	}
	if (parse_keys(&p, j, c) < 0)
		goto fail;
	if ((j = json_object_get(v, "on_account_failure"))) {
		const char *s = json_string_value(j);
		c->on_account_failure = !s ? -1 : strcmp(s, "DECLINED") == 0 ? MDES_FAIL_DECLINE
		                        : strcmp(s, "ERROR") == 0           ? MDES_FAIL_ERROR
		                        : strcmp(s, "DECIDE") == 0          ? MDES_FAIL_DECIDE : -1;
		if (c->on_account_failure < 0) {
			bad(&p, "on_account_failure: must be \"DECLINED\", \"ERROR\" or \"DECIDE\"");
			goto fail;
		}
	}
	if ((j = json_object_get(v, "decline_reasons")) && parse_reasons(&p, j, c) < 0)
		goto fail;
	if ((j = json_object_get(v, "idempotency"))) {
		static const char *const ik[] = { "entries", "ttl_seconds", NULL };
		if (!json_is_object(j)) {
			bad(&p, "idempotency: must be an object");
			goto fail;
		}
		if (only_keys(&p, j, "idempotency", ik) < 0 ||
		    get_uint(&p, j, "entries", "idempotency.entries", 16, 10000000, &c->replay_entries) < 0 ||
		    get_uint(&p, j, "ttl_seconds", "idempotency.ttl_seconds", 1, 86400, &c->replay_ttl_seconds) < 0)
			goto fail;
	}
	if (get_uint(&p, v, "activation_code_ttl_seconds", "activation_code_ttl_seconds", 30, 86400,
	             &c->code_ttl_seconds) < 0)
		goto fail;
	if ((j = json_object_get(v, "facts_map")) && parse_map(&p, j, c) < 0)
		goto fail;
	if ((j = json_object_get(v, "mastercard_key")) && parse_mastercard(&p, j, c) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	mdes_cfg_free(c);
	return -1;
}

void mdes_cfg_free(mdes_cfg *c)
{
	if (!c)
		return;
	free(c->base_path);
	mdes_keyring_free(c->keys);
	for (size_t i = 0; i < c->nreasons; i++) {
		free(c->reasons[i].rule);
		free(c->reasons[i].code);
	}
	free(c->reasons);
	for (size_t i = 0; i < c->nmap; i++) {
		free(c->map[i].to);
		free(c->map[i].from);
		json_decref(c->map[i].value);
	}
	free(c->map);
	mdes_pubkey_free(c->mastercard);
	free(c->mastercard_oaep);
	free(c);
}

int mdes_cfg_restart_differs(const mdes_cfg *a, const mdes_cfg *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a->base_path, b->base_path) != 0 || a->replay_entries != b->replay_entries ||
	       a->replay_ttl_seconds != b->replay_ttl_seconds;
}
