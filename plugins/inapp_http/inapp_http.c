/* inapp_http.c: the reference IN_APP plugin (issue 3). It describes the
 * issuer's app for the response, tells the issuer backend over HTTP that
 * an in-app authentication is pending (start), and checks the proof the
 * backend sends back once the holder approved or declined in the app
 * (verify): HMAC-SHA256 under a key shared with the backend. See
 * plugins/inapp_http/README.md.
 *
 * The endpoint's configuration and the POST are plugins/common's
 * (plugin_http.h), shared with otp_sms_http; this file holds the app
 * description, the notification body and the HMAC proofs. One libcurl
 * handle per start(); the configuration is read-only after init(), so
 * every call is safe from any number of threads.
 *
 * PII: the request summary handed to start() goes to the backend as is
 * and nowhere else: never to host->log() or ctx->err. Proof contents are
 * not logged either; reasons are fixed texts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stepup/plugin.h>

#include "plugin_config.h"
#include "plugin_curl.h"
#include "plugin_http.h"
#include "plugin_template.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define IAP_NAME "inapp_http"
#define IAP_VERSION "1.0.0"
#define IAP_MIN_KEY 32 /* bytes: HMAC-SHA256 wants a key as long as its output */
#define IAP_MAX_KEY 256
#define IAP_MAX_ID 128
#define IAP_MAC_LEN 32

typedef struct iap_name {
	char *lang; /* first: see spc_lang_pick() */
	char *name;
} iap_name;
_Static_assert(offsetof(iap_name, lang) == 0, "spc_lang_* want lang first");

typedef struct iap_state {
	spc_plugin base; /* first: see spc_curl_state_new() */
	spc_http http; /* url, auth, proxy, ca_file */
	int sign_requests;
	unsigned char key[IAP_MAX_KEY];
	size_t keylen;
	char *app_id, *app_name, *deep_link;
	size_t nnames;
	iap_name *names;
} iap_state;
_Static_assert(offsetof(iap_state, base) == 0, "spc_curl_state_new wants base first");

/* ---- values ------------------------------------------------------------------- */

static int is_app_id(const char *s)
{
	return spc_is_token(s, 128);
}

static int is_deep_link(const char *s)
{
	return spc_is_token(s, 512) && strchr(s, ':');
}

static int is_app_name(const char *s)
{
	return spc_is_line(s) && strlen(s) <= 64;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = spc_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Hex text into out (at most max bytes): the length, or -1. */
static long hex_decode(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t k = 0; k < n; k += 2) {
		int hi = hexval((unsigned char)s[k]), lo = hexval((unsigned char)s[k + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[k / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe base64, padding optional: the length, or -1. */
static long b64_decode(const char *s, unsigned char *out, size_t max)
{
	size_t n = strlen(s), o = 0;
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1 || strlen(s) - n > 2)
		return -1;
	unsigned acc = 0;
	int bits = 0;
	for (size_t k = 0; k < n; k++) {
		int v = b64val((unsigned char)s[k]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t k = 0; k < n; k++) {
		out[2 * k] = hex[p[k] >> 4];
		out[2 * k + 1] = hex[p[k] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- configuration ------------------------------------------------------------------ */

static int cfg_key(json_t *root, iap_state *st, char *err, size_t errlen)
{
	json_t *hex = json_object_get(root, "hmac_key_hex"), *b64 = json_object_get(root, "hmac_key_base64");
	if (!hex == !b64) {
		spc_set_err(err, errlen, "%s", hex ? "hmac_key_hex and hmac_key_base64: give only one"
						   : "hmac_key_hex or hmac_key_base64: missing");
		return -1;
	}
	const char *name = hex ? "hmac_key_hex" : "hmac_key_base64";
	json_t *v = hex ? hex : b64;
	if (!json_is_string(v)) {
		spc_set_err(err, errlen, "%s: must be a string", name);
		return -1;
	}
	long n = hex ? hex_decode(json_string_value(v), st->key, sizeof(st->key))
		     : b64_decode(json_string_value(v), st->key, sizeof(st->key));
	if (n < 0) {
		spc_set_err(err, errlen, "%s: must be %s of at most %d bytes", name,
			    hex ? "hex digits" : "base64", IAP_MAX_KEY);
		return -1;
	}
	if (n < IAP_MIN_KEY) {
		spc_set_err(err, errlen, "%s: the key must be at least %d bytes (it has %ld)", name, IAP_MIN_KEY,
			    n);
		return -1;
	}
	st->keylen = (size_t)n;
	st->sign_requests = 1;
	return spc_cfg_bool(root, NULL, "sign_requests", &st->sign_requests, err, errlen);
}

static const char *const name_what = "1 to 64 bytes of text without controls";

/* app.names.<lang>: one name. */
static int cfg_name(void *arg, json_t *obj, const char *lang, void *item, char *err, size_t errlen)
{
	(void)arg;
	iap_name *n = item;
	return spc_cfg_string(obj, "app.names", lang, 1, is_app_name, name_what, &n->name, err, errlen);
}

static int cfg_app(json_t *root, iap_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "app_id", "name", "names", "deep_link", NULL };
	json_t *a;
	if (spc_cfg_object(root, "app", &a, err, errlen) != 0)
		return -1;
	if (!a) {
		spc_set_err(err, errlen, "app: missing");
		return -1;
	}
	if (spc_cfg_only_keys(a, "app", keys, err, errlen) != 0 ||
	    spc_cfg_string(a, "app", "app_id", 1, is_app_id,
			   "1 to 128 printable ASCII characters without blanks", &st->app_id, err, errlen) != 0 ||
	    spc_cfg_string(a, "app", "name", 1, is_app_name, name_what, &st->app_name, err, errlen) != 0 ||
	    spc_cfg_string(a, "app", "deep_link", 0, is_deep_link,
			   "a URI like \"bankapp://activate\" (printable ASCII, no blanks, at most 512)",
			   &st->deep_link, err, errlen) != 0)
		return -1;
	json_t *names = json_object_get(a, "names");
	if (!names)
		return 0;
	if (!json_is_object(names)) {
		spc_set_err(err, errlen, "app.names: must be an object of language -> name");
		return -1;
	}
	if (json_object_size(names) && !(st->names = calloc(json_object_size(names), sizeof(*st->names)))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	return spc_cfg_lang_variants(names, "app.names", "fr", st->names, sizeof(*st->names), &st->nnames,
				     cfg_name, NULL, err, errlen);
}

static int parse_config(const char *config_json, iap_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "allow_http", "auth", "proxy", "ca_file", "app",
					    "hmac_key_hex", "hmac_key_base64", "sign_requests", NULL };
	json_t *root = spc_cfg_load(config_json, err, errlen);
	if (!root)
		return -1;
	int rc = -1;
	if (spc_cfg_only_keys(root, NULL, keys, err, errlen) == 0 &&
	    spc_http_configure(root, &st->http, err, errlen) == 0 && cfg_app(root, st, err, errlen) == 0 &&
	    cfg_key(root, st, err, errlen) == 0 && spc_http_configure_transport(root, &st->http, err, errlen) == 0)
		rc = 0;
	json_decref(root);
	return rc;
}

/* ---- init / fini ------------------------------------------------------------------------ */

static void state_free(iap_state *st)
{
	if (!st)
		return;
	spc_http_free(&st->http);
	free(st->app_id);
	free(st->app_name);
	free(st->deep_link);
	for (size_t k = 0; k < st->nnames; k++) {
		free(st->names[k].lang);
		free(st->names[k].name);
	}
	free(st->names);
	OPENSSL_cleanse(st->key, sizeof(st->key));
	spc_curl_state_free(&st->base);
}

static int iap_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	int rc;
	iap_state *st = spc_curl_state_new(&stepup_plugin, host, host_ctx, state, sizeof(*st), &rc, err, errlen);
	if (!st)
		return rc;
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: app %s, backend host %s, %zu localised name(s)%s",
		st->app_id, st->http.host_name, st->nnames, st->sign_requests ? ", signed requests" : "");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void iap_fini(void *state)
{
	state_free(state);
}

/* ---- describe ------------------------------------------------------------------------------- */

static const char *app_name_for(const iap_state *st, const char *language)
{
	const iap_name *n = spc_lang_pick(st->names, st->nnames, sizeof(*st->names), language);
	return n ? n->name : st->app_name;
}

static int iap_describe(void *state, const stepup_call_ctx *ctx, const char *language,
			char **app_json)
{
	iap_state *st = state;
	if (!st || !spc_ctx_ok(ctx) || !app_json) {
		spc_ctx_err(IAP_NAME, ctx, "no state or no output");
		return STEPUP_PLUGIN_EINVAL;
	}
	*app_json = NULL;
	json_t *o = json_object();
	int bad = !o || json_object_set_new(o, "app_id", json_string(st->app_id)) ||
		  json_object_set_new(o, "app_name", json_string(app_name_for(st, language))) ||
		  (st->deep_link && json_object_set_new(o, "deep_link", json_string(st->deep_link)));
	char *text = bad ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *out = text ? spc_host_strdup(st->base.host, text) : NULL;
	free(text);
	if (!out) {
		spc_ctx_err(IAP_NAME, ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	*app_json = out;
	return STEPUP_PLUGIN_OK;
}

/* ---- start ------------------------------------------------------------------------------------- */

/* A JSON string literal for s (malloc'd), or NULL if s is not UTF-8. */
static char *json_quote(const char *s)
{
	json_t *v = json_string(s);
	char *q = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	json_decref(v);
	return q;
}

/* The notification body: the request summary is spliced in as the text
 * it came as (checked to be one JSON value), so the backend gets exactly
 * what the engine saw, number formats included. */
static char *build_notification(const stepup_inapp_request *req, const char *request_json)
{
	char *id = json_quote(req->decision_id);
	char *lang = json_quote(req->language ? req->language : "");
	char *body = NULL;
	if (id && lang) {
		size_t n = strlen(id) + strlen(lang) + strlen(request_json) + 96;
		if ((body = malloc(n)))
			snprintf(body, n, "{\"decision_id\":%s,\"language\":%s,\"expires_at\":%lld,\"request\":%s}",
				 id, lang, (long long)req->expires_at, request_json);
	}
	free(id);
	free(lang);
	return body;
}

static int iap_start(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req)
{
	iap_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!req || req->size < offsetof(stepup_inapp_request, expires_at) + sizeof(req->expires_at) ||
	    !req->decision_id || !spc_is_token(req->decision_id, IAP_MAX_ID)) {
		spc_ctx_err(IAP_NAME, ctx, "no decision id, or not 1 to %d printable characters", IAP_MAX_ID);
		return STEPUP_PLUGIN_EINVAL;
	}
	if (req->language && *req->language && !spc_is_language(req->language)) {
		spc_ctx_err(IAP_NAME, ctx, "the language is not a language tag");
		return STEPUP_PLUGIN_EINVAL;
	}
	const char *request_json = req->request_json ? req->request_json : "null";
	json_t *probe = json_loads(request_json, JSON_DECODE_ANY, NULL);
	if (!probe) {
		/* No parser message: it would quote the request. */
		spc_ctx_err(IAP_NAME, ctx, "the request summary is not valid JSON");
		return STEPUP_PLUGIN_EINVAL;
	}
	json_decref(probe);

	int64_t start = st->base.host->now_ms(), left;
	int rc = spc_curl_budget(IAP_NAME, ctx, start, &left);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	CURL *h = curl_easy_init();
	char *body = build_notification(req, request_json);
	rc = STEPUP_PLUGIN_ERROR;
	if (!h || !body) {
		spc_ctx_err(IAP_NAME, ctx, "out of memory");
		goto out;
	}
	char sig[48 + 2 * EVP_MAX_MD_SIZE] = "";
	if (st->sign_requests) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned maclen = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		if (!HMAC(EVP_sha256(), st->key, (int)st->keylen, (const unsigned char *)body, strlen(body), mac,
			  &maclen)) {
			spc_ctx_err(IAP_NAME, ctx, "HMAC failed");
			goto out;
		}
		hex_encode(mac, maclen, hex);
		snprintf(sig, sizeof(sig), "X-Stepup-Signature: sha256=%s", hex);
	}
	const char *headers[] = { "Content-Type: application/json", "Accept: application/json", "Expect:",
				  st->http.auth_header, sig[0] ? sig : NULL };
	spc_http_post post = { "backend", "start sent", "start failed", headers, sizeof(headers) / sizeof(*headers),
			      body, start, left };
	rc = spc_http_send(&st->base, &st->http, h, ctx, &post, NULL);
out:
	free(body);
	curl_easy_cleanup(h);
	return rc;
}

/* ---- verify --------------------------------------------------------------------------------- */

/* A string member of the proof, or NULL if absent, not a string or with
 * an embedded NUL. */
static const char *proof_string(json_t *proof, const char *key)
{
	json_t *v = json_object_get(proof, key);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static int iap_verify(void *state, const stepup_call_ctx *ctx, const char *decision_id,
		      const char *proof_json)
{
	iap_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!decision_id || !*decision_id) {
		spc_ctx_err(IAP_NAME, ctx, "no decision id");
		return STEPUP_PLUGIN_EINVAL;
	}
	json_t *proof = proof_json ? json_loads(proof_json, 0, NULL) : NULL;
	int rc = STEPUP_PLUGIN_EINVAL;
	const char *why = NULL;
	if (!proof) {
		/* No parser message: it would quote the proof. */
		spc_ctx_err(IAP_NAME, ctx, "the proof is not valid JSON");
		goto out;
	}
	if (!json_is_object(proof)) {
		spc_ctx_err(IAP_NAME, ctx, "the proof is not a JSON object");
		goto out;
	}
	const char *id = proof_string(proof, "decision_id");
	const char *result = proof_string(proof, "result");
	const char *mac_hex = proof_string(proof, "hmac");
	if (!id || !result || !mac_hex) {
		spc_ctx_err(IAP_NAME, ctx, "the proof needs string members decision_id, result and hmac");
		goto out;
	}
	if (strcmp(result, "APPROVED") != 0 && strcmp(result, "DECLINED") != 0) {
		spc_ctx_err(IAP_NAME, ctx, "the proof's result must be APPROVED or DECLINED");
		goto out;
	}
	unsigned char given[IAP_MAC_LEN];
	if (strlen(mac_hex) != 2 * IAP_MAC_LEN || hex_decode(mac_hex, given, sizeof(given)) != IAP_MAC_LEN) {
		spc_ctx_err(IAP_NAME, ctx, "the proof's hmac must be %d hex digits", 2 * IAP_MAC_LEN);
		goto out;
	}

	/* The MAC covers decision_id "|" result; the result is one of two
	 * fixed words, so the last '|' splits the text unambiguously. */
	size_t idlen = strlen(id), rlen = strlen(result);
	unsigned char *msg = malloc(idlen + 1 + rlen);
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned wantlen = 0;
	if (!msg) {
		spc_ctx_err(IAP_NAME, ctx, "out of memory");
		rc = STEPUP_PLUGIN_ERROR;
		goto out;
	}
	memcpy(msg, id, idlen);
	msg[idlen] = '|';
	memcpy(msg + idlen + 1, result, rlen);
	const unsigned char *ok = HMAC(EVP_sha256(), st->key, (int)st->keylen, msg, idlen + 1 + rlen, want,
				       &wantlen);
	free(msg);
	if (!ok || wantlen != IAP_MAC_LEN) {
		spc_ctx_err(IAP_NAME, ctx, "HMAC failed");
		rc = STEPUP_PLUGIN_ERROR;
		goto out;
	}
	rc = STEPUP_PLUGIN_REJECTED;
	if (CRYPTO_memcmp(given, want, IAP_MAC_LEN) != 0)
		why = "hmac mismatch";
	else if (strcmp(id, decision_id) != 0)
		why = "the proof is for another decision";
	else
		rc = STEPUP_PLUGIN_OK;  /* authentic: its result, APPROVED or DECLINED, is the host's to act on */
	OPENSSL_cleanse(want, sizeof(want));
	if (why) {
		spc_ctx_err(IAP_NAME, ctx, "proof rejected: %s", why);
		spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "proof rejected: %s", why);
	} else {
		spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "proof accepted");
	}
out:
	json_decref(proof);
	return rc;
}

static const stepup_inapp iap_inapp = {
	.size = sizeof(stepup_inapp),
	.describe = iap_describe,
	.start = iap_start,
	.verify = iap_verify,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = IAP_NAME,
	.version = IAP_VERSION,
	.init = iap_init,
	.fini = iap_fini,
	.functions = NULL,
	.inapp = &iap_inapp,
};
