/* account_http.c: an account data source (plugin ABI 1.2) asking the
 * issuer's backend over HTTPS. See plugins/account_http/README.md.
 *
 * One POST per lookup, JSON:
 *     {"pan": "...", "expiry_month": "12", "expiry_year": "28",
 *      "csc": "123", "request_id": "..."}
 * signed with HMAC-SHA-256 under a key shared with the backend:
 *     X-Stepup-Timestamp: <Unix seconds>
 *     X-Stepup-Signature: sha256=<hex of HMAC(key, timestamp "." body)>
 * so the backend can refuse a forged or replayed lookup. The answer:
 *     200 with a JSON object: the facts, nested as the schema's fields
 *     404: the issuer does not know the card (REJECTED: an answer)
 *     anything else: a failure (the host answers as configured).
 * The whole call gives up at the host's deadline. TLS: the CA bundle
 * (ca_file), a client certificate for mutual TLS (client_cert,
 * client_key; the key file readable by its owner only), no proxy unless
 * configured, no redirects, https only unless allow_http.
 *
 * PII: the card data goes in the body to the backend and nowhere else;
 * the body is wiped after the call, never logged; the answer is never
 * quoted in reasons (it may echo data). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stepup/plugin.h>

#include "plugin_config.h"
#include "plugin_curl.h"
#include "plugin_http.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define AH_NAME "account_http"
#define AH_VERSION "1.0.0"
#define AH_MIN_KEY 32
#define AH_MAX_KEY 256
#define AH_MAX_ANSWER 65536

typedef struct ah_state {
	spc_plugin base; /* first: see spc_curl_state_new() */
	spc_http http;   /* url, auth, proxy, ca_file */
	unsigned char key[AH_MAX_KEY];
	size_t keylen;
	char *client_cert, *client_key;
} ah_state;
_Static_assert(offsetof(ah_state, base) == 0, "spc_curl_state_new wants base first");

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int is_hex_key(const char *s)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 < AH_MIN_KEY || n / 2 > AH_MAX_KEY)
		return 0;
	for (; *s; s++)
		if (hexval((unsigned char)*s) < 0)
			return 0;
	return 1;
}

static void state_free(ah_state *st)
{
	if (!st)
		return;
	OPENSSL_cleanse(st->key, sizeof(st->key));
	spc_http_free(&st->http);
	free(st->client_cert);
	free(st->client_key);
	spc_curl_state_free(&st->base);
}

static int parse_config(const char *config_json, ah_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "allow_http", "auth", "hmac_key_hex", "client_cert",
					    "client_key", "proxy", "ca_file", NULL };
	char *hex = NULL;
	int rc = -1;
	json_t *root = spc_cfg_load(config_json, err, errlen);
	if (!root)
		return -1;
	if (spc_cfg_only_keys(root, NULL, keys, err, errlen) || spc_http_configure(root, &st->http, err, errlen) ||
	    spc_cfg_string(root, NULL, "hmac_key_hex", 1, is_hex_key, "32 to 256 bytes as hex", &hex, err, errlen) ||
	    spc_cfg_string(root, NULL, "client_cert", 0, spc_is_path, "an absolute path", &st->client_cert, err,
			   errlen) ||
	    spc_cfg_string(root, NULL, "client_key", 0, spc_is_path, "an absolute path", &st->client_key, err,
			   errlen) ||
	    spc_http_configure_transport(root, &st->http, err, errlen))
		goto out;
	if (!st->client_cert != !st->client_key) {
		spc_set_err(err, errlen, "client_cert and client_key go together");
		goto out;
	}
	struct stat sb;
	if (st->client_key && (stat(st->client_key, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077))) {
		spc_set_err(err, errlen, "client_key: %s must be a file readable by its owner only (chmod 600)",
			    st->client_key);
		goto out;
	}
	for (size_t i = 0; hex[i]; i += 2)
		st->key[st->keylen++] = (unsigned char)(hexval((unsigned char)hex[i]) << 4 | hexval((unsigned char)hex[i + 1]));
	rc = 0;
out:
	if (hex) {
		OPENSSL_cleanse(hex, strlen(hex));
		free(hex);
	}
	json_decref(root);
	return rc;
}

static int ah_init(const stepup_host_api *host, void *host_ctx, const char *config_json, void **state,
		   char *err, size_t errlen)
{
	int rc;
	ah_state *st = spc_curl_state_new(&stepup_plugin, host, host_ctx, state, sizeof(*st), &rc, err, errlen);
	if (!st)
		return rc;
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: backend %s%s", st->http.host_name,
		st->client_cert ? ", client certificate" : "");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void ah_fini(void *state)
{
	state_free(state);
}

/* The answer's body, up to AH_MAX_ANSWER bytes. */
typedef struct answer {
	spc_buf b;
	int too_big;
} answer;

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	answer *a = arg;
	if (a->b.len + size * n > AH_MAX_ANSWER) {
		a->too_big = 1;
		return 0;
	}
	spc_buf_add(&a->b, ptr, size * n);
	return a->b.oom ? 0 : size * n;
}

/* The signature header of body at time ts. */
static int sign(const ah_state *st, const char *ts, const char *body, char *out, size_t size)
{
	static const char h[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t tl = strlen(ts), bl = strlen(body);
	char *msg = malloc(tl + 1 + bl);
	int ok = msg != NULL;
	if (ok) {
		memcpy(msg, ts, tl);
		msg[tl] = '.';
		memcpy(msg + tl + 1, body, bl);
		ok = HMAC(EVP_sha256(), st->key, (int)st->keylen, (const unsigned char *)msg, tl + 1 + bl, md, &n) != NULL;
		OPENSSL_cleanse(msg, tl + 1 + bl);
		free(msg);
	}
	if (!ok || size < 20 + 2 * n)
		return -1;
	size_t k = (size_t)snprintf(out, size, "X-Stepup-Signature: sha256=");
	for (unsigned i = 0; i < n; i++) {
		out[k++] = h[md[i] >> 4];
		out[k++] = h[md[i] & 15];
	}
	out[k] = '\0';
	return 0;
}

static char *query_body(const stepup_account_query *q)
{
	json_t *o = json_object();
	json_object_set_new(o, "pan", json_string(q->pan));
	if (q->expiry_month && q->expiry_month[0])
		json_object_set_new(o, "expiry_month", json_string(q->expiry_month));
	if (q->expiry_year && q->expiry_year[0])
		json_object_set_new(o, "expiry_year", json_string(q->expiry_year));
	if (q->csc && q->csc[0])
		json_object_set_new(o, "csc", json_string(q->csc));
	if (q->request_id && q->request_id[0])
		json_object_set_new(o, "request_id", json_string(q->request_id));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int ah_lookup(void *state, const stepup_call_ctx *ctx, const stepup_account_query *q, char **facts_json)
{
	ah_state *st = state;
	if (!st || !spc_ctx_ok(ctx) || !q || !q->pan || !facts_json) {
		spc_ctx_err(AH_NAME, ctx, "bad arguments");
		return STEPUP_PLUGIN_EINVAL;
	}
	*facts_json = NULL;
	int64_t start = st->base.host->now_ms(), left;
	int rc = spc_curl_budget(AH_NAME, ctx, start, &left);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	CURL *h = curl_easy_init();
	char *body = query_body(q), ts[32], tshdr[64], sig[160];
	struct curl_slist *hdrs = NULL;
	answer a = { { 0 }, 0 };
	rc = STEPUP_PLUGIN_ERROR;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	snprintf(tshdr, sizeof(tshdr), "X-Stepup-Timestamp: %s", ts);
	if (!h || !body || sign(st, ts, body, sig, sizeof(sig)) < 0) {
		spc_ctx_err(AH_NAME, ctx, "out of memory");
		goto out;
	}
	const char *headers[] = { "Content-Type: application/json", "Accept: application/json", "Expect:", tshdr,
				  sig, st->http.auth_header };
	for (size_t k = 0; k < sizeof(headers) / sizeof(*headers); k++) {
		struct curl_slist *t = NULL;
		if (headers[k] && !(t = curl_slist_append(hdrs, headers[k]))) {
			spc_ctx_err(AH_NAME, ctx, "out of memory");
			goto out;
		} else if (headers[k]) {
			hdrs = t;
		}
	}
	spc_curl_setup(h, st->http.url, left, st->http.allow_http ? "http,https" : "https", st->http.proxy,
		       st->http.ca_file);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "stepup-" AH_NAME "/" AH_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	if (st->client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, st->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, st->client_key);
	}
	if (st->http.auth == SPC_AUTH_BASIC) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, st->http.user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, st->http.password);
	}
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	int64_t took = st->base.host->now_ms() - start;
	char why[160] = "";
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, sizeof(why), "no answer from the backend within the deadline (%lld ms)", (long long)left);
		rc = STEPUP_PLUGIN_TIMEOUT;
	} else if (a.too_big) {
		snprintf(why, sizeof(why), "the backend's answer is larger than %d bytes", AH_MAX_ANSWER);
	} else if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "backend unreachable: %s", curl_easy_strerror(cc));
		rc = STEPUP_PLUGIN_UNAVAILABLE;
	} else if (status == 404) {
		rc = STEPUP_PLUGIN_REJECTED;
	} else if (status == 200) {
		json_t *facts = a.b.p ? json_loads(a.b.p, JSON_REJECT_DUPLICATES, NULL) : NULL;
		char *out = json_is_object(facts) ? json_dumps(facts, JSON_COMPACT) : NULL;
		json_decref(facts);
		if (!out)
			snprintf(why, sizeof(why), "the backend's answer is not a JSON object");
		else if (!(*facts_json = spc_host_strdup(st->base.host, out)))
			snprintf(why, sizeof(why), "out of memory");
		else
			rc = STEPUP_PLUGIN_OK;
		free(out);
	} else {
		snprintf(why, sizeof(why), "backend answered HTTP %ld", status);
		rc = status >= 500 || status == 429 || status == 408 ? STEPUP_PLUGIN_UNAVAILABLE : STEPUP_PLUGIN_ERROR;
	}
	if (why[0])
		spc_report_failure(&st->base, ctx, "lookup failed", took, why);
	else
		spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "lookup answered (HTTP %ld, %lld ms)", status, (long long)took);
out:
	if (body) {
		OPENSSL_cleanse(body, strlen(body));
		free(body);
	}
	spc_buf_wipe(&a.b);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return rc;
}

static const stepup_account_source ah_account = {
	.size = sizeof(stepup_account_source),
	.lookup = ah_lookup,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = AH_NAME,
	.version = AH_VERSION,
	.init = ah_init,
	.fini = ah_fini,
	.account = &ah_account,
};
