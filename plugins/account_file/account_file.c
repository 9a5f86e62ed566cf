/* account_file.c: an account data source (plugin ABI 1.2) reading the
 * issuer's facts about cards from a local file, for demos and tests. See
 * plugins/account_file/README.md.
 *
 * The file never holds a card number in clear: accounts are keyed by
 * HMAC-SHA-256(key, PAN) in hex, the CVC2 is kept as HMAC-SHA-256(key,
 * PAN ":" CVC2), the key lives in a file of its own readable by its owner
 * only, and a file holding a card number anywhere is refused at load
 * (the host's card-number policy, host->card_number_find). `stepup mdes
 * account-file` writes such a file.
 *
 *   {"format": "stepup-accounts/1",
 *    "accounts": {"<hmac hex>": {"expiry": "1228", "csc_hmac": "<hmac hex>",
 *                                "facts": {"account": {"state": "ACTIVE", ...}}}}}
 *
 * lookup: the facts of the card, plus csc_result and expiry_result (MATCH,
 * INVALID, ABSENT) under the object `result_object` (default "account");
 * REJECTED for a card the file does not hold. Read-only after init():
 * calls are safe from any number of threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stepup/error.h>
#include <stepup/plugin.h>

#include "../../engine/util.h"
#include "plugin_config.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define AF_NAME "account_file"
#define AF_VERSION "1.0.0"
#define AF_MAX_FILE (64u << 20)
#define AF_MIN_KEY 16
#define AF_MAX_KEY 128

typedef struct af_state {
	spc_plugin base;
	unsigned char key[AF_MAX_KEY];
	size_t keylen;
	json_t *accounts;  /* hmac hex -> entry */
	char *result_object;
} af_state;


/* The whole file, if it is a regular file of at most max bytes; with
 * `secret`, only when its owner alone can read it (libstepup's helper for
 * files holding secrets, linked into this module and hidden in it). */
static char *slurp(const char *path, size_t max, int secret, size_t *len, char *err, size_t errlen)
{
	char *text = NULL;
	return su_read_secret_file(path, max, secret, &text, len, err, errlen) == STEPUP_OK ? text : NULL;
}

/* The key: hex text in a file of mode 0600. */
static int read_key(af_state *st, const char *path, char *err, size_t errlen)
{
	return su_read_hex_key(path, st->key, AF_MIN_KEY, AF_MAX_KEY, &st->keylen, err, errlen) == STEPUP_OK ? 0 : -1;
}

/* Whether text holds a card number by the host's policy, but for a '+'
 * followed by fewer than 15 digits: a phone number (docs/pci.md). */
static int holds_card(const stepup_host_api *host, const char *text, size_t len)
{
	size_t off = 0, a, b;
	while (off < len && host->card_number_find(text + off, len - off, &a, &b)) {
		size_t digits = 0;
		for (size_t i = off + a; i < off + b; i++)
			digits += text[i] >= '0' && text[i] <= '9';
		if (!(off + a > 0 && text[off + a - 1] == '+' && digits < 15))
			return 1;
		off += b;
	}
	return 0;
}

static int read_accounts(af_state *st, const char *path, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = slurp(path, AF_MAX_FILE, 0, &len, err, errlen);
	json_error_t je;
	if (!text)
		return -1;
	if (holds_card(st->base.host, text, len)) {
		free(text);
		spc_set_err(err, errlen, "%s: holds a card number in clear: refused (accounts are keyed by a keyed "
			    "hash of the card number; see stepup mdes account-file)", path);
		return -1;
	}
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root) {
		spc_set_err(err, errlen, "%s: not valid JSON (line %d)", path, je.line);
		return -1;
	}
	const char *format = json_string_value(json_object_get(root, "format"));
	json_t *acc = json_object_get(root, "accounts");
	if (!format || strcmp(format, "stepup-accounts/1") != 0 || !json_is_object(acc)) {
		json_decref(root);
		spc_set_err(err, errlen, "%s: not a stepup-accounts/1 file ({\"format\": \"stepup-accounts/1\", "
			    "\"accounts\": {...}})", path);
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(acc, k, v) {
		size_t n = strlen(k);
		int ok = n == 64 && json_is_object(v) && json_is_object(json_object_get(v, "facts"));
		for (size_t i = 0; ok && i < n; i++)
			ok = su_hexval((unsigned char)k[i]) >= 0;
		if (!ok) {
			json_decref(root);
			spc_set_err(err, errlen, "%s: accounts: each key is a 64-digit HMAC-SHA-256 and each value an "
				    "object with \"facts\"", path);
			return -1;
		}
	}
	st->accounts = json_incref(acc);
	json_decref(root);
	return 0;
}

static void state_free(af_state *st)
{
	if (!st)
		return;
	OPENSSL_cleanse(st->key, sizeof(st->key));
	json_decref(st->accounts);
	free(st->result_object);
	free(st);
}

static int af_init(const stepup_host_api *host, void *host_ctx, const char *config_json, void **state,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "file", "key_file", "result_object", NULL };
	char *file = NULL, *key_file = NULL;
	json_t *root = NULL;
	af_state *st = NULL;
	int rc = STEPUP_PLUGIN_EINVAL;

	if (state)
		*state = NULL;
	if (!state || !spc_host_ok(host, 0) ||
	    host->size < offsetof(stepup_host_api, card_number_find) + sizeof(host->card_number_find) ||
	    !host->card_number_find) {
		spc_set_err(err, errlen, "incomplete host API (needs 1.1: card_number_find)");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!(st = calloc(1, sizeof(*st)))) {
		spc_set_err(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	st->base = (spc_plugin){ stepup_plugin.name, stepup_plugin.version, host, host_ctx };
	if (!(root = spc_cfg_load(config_json, err, errlen)) || spc_cfg_only_keys(root, NULL, keys, err, errlen) ||
	    spc_cfg_string(root, NULL, "file", 1, spc_is_line, "a path", &file, err, errlen) ||
	    spc_cfg_string(root, NULL, "key_file", 1, spc_is_line, "a path", &key_file, err, errlen) ||
	    spc_cfg_string(root, NULL, "result_object", 0, spc_is_line, "a field name", &st->result_object, err,
			   errlen))
		goto out;
	if ((!st->result_object && !(st->result_object = spc_strdup("account"))) ||
	    read_key(st, key_file, err, errlen) < 0 || read_accounts(st, file, err, errlen) < 0)
		goto out;
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: %zu accounts", json_object_size(st->accounts));
	*state = st;
	st = NULL;
	rc = STEPUP_PLUGIN_OK;
out:
	json_decref(root);
	free(file);
	free(key_file);
	state_free(st);
	return rc;
}

static void af_fini(void *state)
{
	state_free(state);
}

/* HMAC-SHA-256(key, a [":" b]) as lower-case hex. */
static int mac_hex(const af_state *st, const char *a, const char *b, char out[65])
{
	static const char h[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char msg[64];
	int len = snprintf(msg, sizeof(msg), "%s%s%s", a, b ? ":" : "", b ? b : "");
	int ok = len > 0 && (size_t)len < sizeof(msg) &&
		 HMAC(EVP_sha256(), st->key, (int)st->keylen, (const unsigned char *)msg, (size_t)len, md, &n) &&
		 n == 32;
	for (unsigned i = 0; ok && i < n; i++) {
		out[2 * i] = h[md[i] >> 4];
		out[2 * i + 1] = h[md[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(msg, sizeof(msg));
	OPENSSL_cleanse(md, sizeof(md));
	return ok ? 0 : -1;
}

static int ct_same(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static int af_lookup(void *state, const stepup_call_ctx *ctx, const stepup_account_query *q, char **facts_json)
{
	af_state *st = state;
	char key[65], mac[65];
	if (!st || !spc_ctx_ok(ctx) || !q || !q->pan || !facts_json) {
		spc_ctx_err(AF_NAME, ctx, "bad arguments");
		return STEPUP_PLUGIN_EINVAL;
	}
	*facts_json = NULL;
	if (mac_hex(st, q->pan, NULL, key) < 0) {
		spc_ctx_err(AF_NAME, ctx, "HMAC failed");
		return STEPUP_PLUGIN_ERROR;
	}
	json_t *e = json_object_get(st->accounts, key);
	if (!e)
		return STEPUP_PLUGIN_REJECTED;
	json_t *facts = json_deep_copy(json_object_get(e, "facts"));
	json_t *obj = facts ? json_object_get(facts, st->result_object) : NULL;
	if (facts && !json_is_object(obj)) {
		obj = json_object();
		json_object_set_new(facts, st->result_object, obj);
	}
	const char *csc = "ABSENT", *exp = "ABSENT";
	const char *want = json_string_value(json_object_get(e, "csc_hmac"));
	if (q->csc && q->csc[0])
		csc = !want ? "NOT_PROCESSED"
		      : mac_hex(st, q->pan, q->csc, mac) == 0 && ct_same(mac, want) ? "MATCH" : "INVALID";
	const char *expiry = json_string_value(json_object_get(e, "expiry"));
	if (q->expiry_month && q->expiry_month[0] && q->expiry_year && q->expiry_year[0]) {
		char got[8];
		const char *y = q->expiry_year;
		snprintf(got, sizeof(got), "%.2s%.2s", q->expiry_month, strlen(y) == 4 ? y + 2 : y);
		exp = !expiry ? "NOT_PROCESSED" : strcmp(got, expiry) == 0 ? "MATCH" : "INVALID";
	}
	char *out = NULL;
	if (obj) {
		json_object_set_new(obj, "csc_result", json_string(csc));
		json_object_set_new(obj, "expiry_result", json_string(exp));
		out = json_dumps(facts, JSON_COMPACT);
	}
	json_decref(facts);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!out || !(*facts_json = spc_host_strdup(st->base.host, out))) {
		free(out);
		spc_ctx_err(AF_NAME, ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	free(out);
	return STEPUP_PLUGIN_OK;
}

static const stepup_account_source af_account = {
	.size = sizeof(stepup_account_source),
	.lookup = af_lookup,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = AF_NAME,
	.version = AF_VERSION,
	.init = af_init,
	.fini = af_fini,
	.account = &af_account,
};
