/* inapp_http.c: the reference IN_APP plugin (issue 3). It describes the
 * issuer's app for the response, tells the issuer backend over HTTP that
 * an in-app authentication is pending (start), and checks the proof the
 * backend sends back once the holder approved or declined in the app
 * (verify): HMAC-SHA256 under a key shared with the backend. See
 * plugins/inapp_http/README.md.
 *
 * One libcurl easy handle per start() (CURLOPT_NOSIGNAL: calls come from
 * several threads); the configuration is read-only after init(), so every
 * call is safe from any number of threads.
 *
 * PII: the request summary handed to start() goes to the backend as is
 * and nowhere else: never to host->log() or ctx->err. Proof contents are
 * not logged either; reasons are fixed texts. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stepup/plugin.h>

#define IAP_NAME "inapp_http"
#define IAP_VERSION "1.0.0"
#define IAP_MAX_CALL_MS 60000
#define IAP_MIN_KEY 32 /* bytes: HMAC-SHA256 wants a key as long as its output */
#define IAP_MAX_KEY 256
#define IAP_MAX_ID 128
#define IAP_MAC_LEN 32

enum { AUTH_NONE, AUTH_BASIC, AUTH_HEADER };

typedef struct iap_name {
	char *lang, *name;
} iap_name;

typedef struct iap_state {
	const stepup_host_api *host;
	void *host_ctx;
	int curl_ready;
	char *url, *host_name, *proxy, *ca_file;
	int allow_http;
	int auth;
	char *user, *password, *auth_header;
	int sign_requests;
	unsigned char key[IAP_MAX_KEY];
	size_t keylen;
	char *app_id, *app_name, *deep_link;
	size_t nnames;
	iap_name *names;
} iap_state;

/* ---- small helpers ------------------------------------------------------------ */

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int ctx_ok(const stepup_call_ctx *ctx)
{
	return ctx && ctx->size >= offsetof(stepup_call_ctx, errlen) + sizeof(ctx->errlen);
}

__attribute__((format(printf, 2, 3)))
static void ctx_err(const stepup_call_ctx *ctx, const char *fmt, ...)
{
	if (!ctx_ok(ctx) || !ctx->err || !ctx->errlen)
		return;
	int n = snprintf(ctx->err, ctx->errlen, IAP_NAME ": ");
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void logf_(const iap_state *st, int level, const char *fmt, ...)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), IAP_NAME ": ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	st->host->log(st->host_ctx, level, msg);
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int same_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static int is_language(const char *s)
{
	size_t n = 0;
	while (is_alpha(s[n]))
		n++;
	if (n < 2 || n > 3)
		return 0;
	s += n;
	while (*s == '-') {
		s++;
		n = 0;
		while (is_alpha(s[n]) || is_digit(s[n]))
			n++;
		if (n < 1 || n > 8)
			return 0;
		s += n;
	}
	return *s == '\0';
}

static int is_line(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Printable ASCII without blanks, 1 to max bytes. */
static int is_token(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n >= 1 && n <= max;
}

static int is_app_id(const char *s)
{
	return is_token(s, 128);
}

static int is_deep_link(const char *s)
{
	return is_token(s, 512) && strchr(s, ':');
}

static int is_app_name(const char *s)
{
	return is_line(s) && strlen(s) <= 64;
}

static int is_header_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!is_alpha(*s) && !is_digit(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
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

static const char *key_path(char *buf, size_t len, const char *where, const char *key)
{
	if (where)
		snprintf(buf, len, "%s.%s", where, key);
	else
		snprintf(buf, len, "%s", key);
	return buf;
}

static int cfg_only_keys(json_t *obj, const char *where, const char *const *keys, char *err,
			 size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		size_t k = 0;
		while (keys[k] && strcmp(keys[k], key) != 0)
			k++;
		if (!keys[k]) {
			if (where)
				set_err(err, errlen, "%s: unknown key '%.64s'", where, key);
			else
				set_err(err, errlen, "unknown key '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

static int cfg_string(json_t *obj, const char *where, const char *key, int required,
		      int (*check)(const char *), const char *what, char **out, char *err, size_t errlen)
{
	char path[128];
	key_path(path, sizeof(path), where, key);
	json_t *v = json_object_get(obj, key);
	if (!v) {
		if (required) {
			set_err(err, errlen, "%s: missing", path);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		set_err(err, errlen, "%s: must be a string", path);
		return -1;
	}
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || (check && !check(s))) {
		set_err(err, errlen, "%s: must be %s", path, what);
		return -1;
	}
	if (!(*out = dup_str(s))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int cfg_bool(json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		set_err(err, errlen, "%s: must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int is_any(const char *s)
{
	return *s != '\0';
}

static int is_path(const char *s)
{
	return s[0] == '/' && is_line(s);
}

static int cfg_url(json_t *root, iap_state *st, char *err, size_t errlen)
{
	if (cfg_bool(root, "allow_http", &st->allow_http, err, errlen) != 0 ||
	    cfg_string(root, NULL, "url", 1, is_line, "a URL", &st->url, err, errlen) != 0)
		return -1;
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	int rc = -1;
	if (!u) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, st->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		set_err(err, errlen, "url: must be an absolute http(s) URL");
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && !(st->allow_http && strcmp(scheme, "http") == 0)) {
		set_err(err, errlen, "%s",
			strcmp(scheme, "http") == 0
				? "url: http:// needs \"allow_http\": true (https:// is expected)"
				: "url: must be an https:// URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		set_err(err, errlen, "url: must not carry credentials (use \"auth\")");
		goto out;
	}
	if (!(st->host_name = dup_str(host))) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/* "Name: value" into *out (malloc'd). */
static int make_header(const char *name, const char *sep, const char *value, char **out, char *err,
		       size_t errlen)
{
	size_t n = strlen(name) + strlen(sep) + strlen(value) + 1;
	if (!(*out = malloc(n))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	snprintf(*out, n, "%s%s%s", name, sep, value);
	return 0;
}

static int cfg_auth(json_t *root, iap_state *st, char *err, size_t errlen)
{
	json_t *a = json_object_get(root, "auth");
	if (!a)
		return 0;
	if (!json_is_object(a)) {
		set_err(err, errlen, "auth: must be an object");
		return -1;
	}
	char *type = NULL, *x = NULL, *y = NULL;
	int rc = -1;
	if (cfg_string(a, "auth", "type", 1, is_any, "a string", &type, err, errlen) != 0)
		return -1;
	if (strcmp(type, "basic") == 0) {
		static const char *const keys[] = { "type", "user", "password", NULL };
		st->auth = AUTH_BASIC;
		if (cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    cfg_string(a, "auth", "user", 1, is_line, "non-empty text without ':' or controls",
			       &st->user, err, errlen) != 0 ||
		    cfg_string(a, "auth", "password", 1, is_line, "non-empty text without controls",
			       &st->password, err, errlen) != 0)
			goto out;
		if (strchr(st->user, ':')) {
			set_err(err, errlen, "auth.user: must be non-empty text without ':' or controls");
			goto out;
		}
	} else if (strcmp(type, "bearer") == 0) {
		static const char *const keys[] = { "type", "token", NULL };
		st->auth = AUTH_HEADER;
		if (cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    cfg_string(a, "auth", "token", 1, is_line, "non-empty text without controls", &x, err,
			       errlen) != 0 ||
		    make_header("Authorization: Bearer", " ", x, &st->auth_header, err, errlen) != 0)
			goto out;
	} else if (strcmp(type, "header") == 0) {
		static const char *const keys[] = { "type", "name", "value", NULL };
		st->auth = AUTH_HEADER;
		if (cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    cfg_string(a, "auth", "name", 1, is_header_name, "an HTTP header name like \"X-Api-Key\"",
			       &x, err, errlen) != 0 ||
		    cfg_string(a, "auth", "value", 1, is_line, "non-empty text without controls", &y, err,
			       errlen) != 0 ||
		    make_header(x, ": ", y, &st->auth_header, err, errlen) != 0)
			goto out;
	} else {
		set_err(err, errlen, "auth.type: must be \"basic\", \"bearer\" or \"header\"");
		goto out;
	}
	rc = 0;
out:
	free(type);
	free(x);
	free(y);
	return rc;
}

static int cfg_key(json_t *root, iap_state *st, char *err, size_t errlen)
{
	json_t *hex = json_object_get(root, "hmac_key_hex"), *b64 = json_object_get(root, "hmac_key_base64");
	if (!hex == !b64) {
		set_err(err, errlen, "%s", hex ? "hmac_key_hex and hmac_key_base64: give only one"
					       : "hmac_key_hex or hmac_key_base64: missing");
		return -1;
	}
	const char *name = hex ? "hmac_key_hex" : "hmac_key_base64";
	json_t *v = hex ? hex : b64;
	if (!json_is_string(v)) {
		set_err(err, errlen, "%s: must be a string", name);
		return -1;
	}
	long n = hex ? hex_decode(json_string_value(v), st->key, sizeof(st->key))
		     : b64_decode(json_string_value(v), st->key, sizeof(st->key));
	if (n < 0) {
		set_err(err, errlen, "%s: must be %s of at most %d bytes", name,
			hex ? "hex digits" : "base64", IAP_MAX_KEY);
		return -1;
	}
	if (n < IAP_MIN_KEY) {
		set_err(err, errlen, "%s: the key must be at least %d bytes (it has %ld)", name, IAP_MIN_KEY, n);
		return -1;
	}
	st->keylen = (size_t)n;
	st->sign_requests = 1;
	return cfg_bool(root, "sign_requests", &st->sign_requests, err, errlen);
}

static int cfg_app(json_t *root, iap_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "app_id", "name", "names", "deep_link", NULL };
	json_t *a = json_object_get(root, "app");
	if (!a) {
		set_err(err, errlen, "app: missing");
		return -1;
	}
	if (!json_is_object(a)) {
		set_err(err, errlen, "app: must be an object");
		return -1;
	}
	const char *name_what = "1 to 64 bytes of text without controls";
	if (cfg_only_keys(a, "app", keys, err, errlen) != 0 ||
	    cfg_string(a, "app", "app_id", 1, is_app_id, "1 to 128 printable ASCII characters without blanks",
		       &st->app_id, err, errlen) != 0 ||
	    cfg_string(a, "app", "name", 1, is_app_name, name_what, &st->app_name, err, errlen) != 0 ||
	    cfg_string(a, "app", "deep_link", 0, is_deep_link,
		       "a URI like \"bankapp://activate\" (printable ASCII, no blanks, at most 512)",
		       &st->deep_link, err, errlen) != 0)
		return -1;
	json_t *names = json_object_get(a, "names");
	if (!names)
		return 0;
	if (!json_is_object(names)) {
		set_err(err, errlen, "app.names: must be an object of language -> name");
		return -1;
	}
	if (json_object_size(names) && !(st->names = calloc(json_object_size(names), sizeof(*st->names)))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach(names, key, v)
	{
		if (!is_language(key)) {
			set_err(err, errlen, "app.names: '%.32s' is not a language tag like \"fr\" or \"pt-BR\"",
				key);
			return -1;
		}
		for (size_t k = 0; k < st->nnames; k++)
			if (same_ci(st->names[k].lang, key)) {
				set_err(err, errlen, "app.names: '%.32s' given twice", key);
				return -1;
			}
		iap_name *n = &st->names[st->nnames];
		if (cfg_string(names, "app.names", key, 1, is_app_name, name_what, &n->name, err, errlen) != 0)
			return -1;
		st->nnames++;
		if (!(n->lang = dup_str(key))) {
			set_err(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int parse_config(const char *config_json, iap_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "allow_http", "auth", "proxy", "ca_file", "app",
					    "hmac_key_hex", "hmac_key_base64", "sign_requests", NULL };
	json_error_t jerr;
	json_t *root = json_loads(config_json ? config_json : "", JSON_REJECT_DUPLICATES, &jerr);
	int rc = -1;
	if (!root) {
		set_err(err, errlen, "configuration is not valid JSON (line %d, column %d): %.120s",
			jerr.line, jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		set_err(err, errlen, "configuration must be a JSON object");
		goto out;
	}
	if (cfg_only_keys(root, NULL, keys, err, errlen) != 0 || cfg_url(root, st, err, errlen) != 0 ||
	    cfg_auth(root, st, err, errlen) != 0 || cfg_app(root, st, err, errlen) != 0 ||
	    cfg_key(root, st, err, errlen) != 0 ||
	    cfg_string(root, NULL, "proxy", 0, is_line, "a proxy URL", &st->proxy, err, errlen) != 0 ||
	    cfg_string(root, NULL, "ca_file", 0, is_path, "an absolute path", &st->ca_file, err, errlen) != 0)
		goto out;
	if (st->ca_file && access(st->ca_file, R_OK) != 0) {
		set_err(err, errlen, "ca_file: cannot read '%.128s'", st->ca_file);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- init / fini ------------------------------------------------------------------------ */

static void state_free(iap_state *st)
{
	if (!st)
		return;
	free(st->url);
	free(st->host_name);
	free(st->proxy);
	free(st->ca_file);
	free(st->user);
	free(st->password);
	free(st->auth_header);
	free(st->app_id);
	free(st->app_name);
	free(st->deep_link);
	for (size_t k = 0; k < st->nnames; k++) {
		free(st->names[k].lang);
		free(st->names[k].name);
	}
	free(st->names);
	OPENSSL_cleanse(st->key, sizeof(st->key));
	if (st->curl_ready)
		curl_global_cleanup();
	free(st);
}

static int iap_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	if (!host || !state || host->size < offsetof(stepup_host_api, now_ms) + sizeof(host->now_ms) ||
	    !host->alloc || !host->free || !host->log || !host->now_ms) {
		set_err(err, errlen, "incomplete host API");
		return STEPUP_PLUGIN_EINVAL;
	}
	*state = NULL;
	json_object_seed(0); /* before calls may run on several threads */
	iap_state *st = calloc(1, sizeof(*st));
	if (!st) {
		set_err(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	st->host = host;
	st->host_ctx = host_ctx;
	/* libcurl counts init/cleanup pairs, so this pairs with the cleanup in
	 * fini(). plugin.h keeps init() apart from calls on this instance
	 * only: a host loading a new plugin set while the old one still sends
	 * relies on libcurl >= 7.84 making global init thread-safe
	 * (CURL_VERSION_THREADSAFE). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		set_err(err, errlen, "libcurl initialisation failed");
		state_free(st);
		return STEPUP_PLUGIN_ERROR;
	}
	st->curl_ready = 1;
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	logf_(st, STEPUP_PLUGIN_LOG_INFO, "ready: app %s, backend host %s, %zu localised name(s)%s",
	      st->app_id, st->host_name, st->nnames, st->sign_requests ? ", signed requests" : "");
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
	if (language && *language) {
		for (size_t k = 0; k < st->nnames; k++)
			if (same_ci(st->names[k].lang, language))
				return st->names[k].name;
		size_t n = strcspn(language, "-_");
		for (size_t k = 0; k < st->nnames; k++)
			if (strlen(st->names[k].lang) == n && strncasecmp(st->names[k].lang, language, n) == 0)
				return st->names[k].name;
	}
	return st->app_name;
}

static int iap_describe(void *state, const stepup_call_ctx *ctx, const char *language,
			char **app_json)
{
	iap_state *st = state;
	if (!st || !ctx_ok(ctx) || !app_json) {
		ctx_err(ctx, "no state or no output");
		return STEPUP_PLUGIN_EINVAL;
	}
	*app_json = NULL;
	json_t *o = json_object();
	int bad = !o || json_object_set_new(o, "app_id", json_string(st->app_id)) ||
		  json_object_set_new(o, "app_name", json_string(app_name_for(st, language))) ||
		  (st->deep_link && json_object_set_new(o, "deep_link", json_string(st->deep_link)));
	char *text = bad ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char *out = text ? st->host->alloc(strlen(text) + 1) : NULL;
	if (!out) {
		free(text);
		ctx_err(ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	memcpy(out, text, strlen(text) + 1);
	free(text);
	*app_json = out;
	return STEPUP_PLUGIN_OK;
}

/* ---- start ------------------------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: string form, the bitmask is deprecated */
#define SET_PROTOCOLS(h, allow_http) \
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, (allow_http) ? "http,https" : "https")
#else
#define SET_PROTOCOLS(h, allow_http) \
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, \
			 (long)((allow_http) ? CURLPROTO_HTTP | CURLPROTO_HTTPS : CURLPROTO_HTTPS))
#endif

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
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!req || req->size < offsetof(stepup_inapp_request, expires_at) + sizeof(req->expires_at) ||
	    !req->decision_id || !is_token(req->decision_id, IAP_MAX_ID)) {
		ctx_err(ctx, "no decision id, or not 1 to %d printable characters", IAP_MAX_ID);
		return STEPUP_PLUGIN_EINVAL;
	}
	if (req->language && *req->language && !is_language(req->language)) {
		ctx_err(ctx, "the language is not a language tag");
		return STEPUP_PLUGIN_EINVAL;
	}
	const char *request_json = req->request_json ? req->request_json : "null";
	json_t *probe = json_loads(request_json, JSON_DECODE_ANY, NULL);
	if (!probe) {
		/* No parser message: it would quote the request. */
		ctx_err(ctx, "the request summary is not valid JSON");
		return STEPUP_PLUGIN_EINVAL;
	}
	json_decref(probe);

	int64_t start = st->host->now_ms();
	int64_t left = ctx->deadline_ms - start;
	if (left <= 0) {
		ctx_err(ctx, "deadline passed before sending");
		return STEPUP_PLUGIN_TIMEOUT;
	}
	if (left > IAP_MAX_CALL_MS)
		left = IAP_MAX_CALL_MS;

	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL, *tmp;
	char *body = build_notification(req, request_json);
	int rc = STEPUP_PLUGIN_ERROR;
	if (!h || !body) {
		ctx_err(ctx, "out of memory");
		goto out;
	}
	char sig[48 + 2 * EVP_MAX_MD_SIZE] = "";
	if (st->sign_requests) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned maclen = 0;
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		if (!HMAC(EVP_sha256(), st->key, (int)st->keylen, (const unsigned char *)body, strlen(body), mac,
			  &maclen)) {
			ctx_err(ctx, "HMAC failed");
			goto out;
		}
		hex_encode(mac, maclen, hex);
		snprintf(sig, sizeof(sig), "X-Stepup-Signature: sha256=%s", hex);
	}
	const char *fixed[] = { "Content-Type: application/json", "Accept: application/json", "Expect:",
				st->auth_header, sig[0] ? sig : NULL };
	for (size_t k = 0; k < sizeof(fixed) / sizeof(*fixed); k++) {
		if (!fixed[k])
			continue;
		if (!(tmp = curl_slist_append(hdrs, fixed[k]))) {
			ctx_err(ctx, "out of memory");
			goto out;
		}
		hdrs = tmp;
	}
	curl_easy_setopt(h, CURLOPT_URL, st->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	/* A redirect could carry the request summary elsewhere: never follow. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	SET_PROTOCOLS(h, st->allow_http);
	curl_easy_setopt(h, CURLOPT_PROXY, st->proxy ? st->proxy : "");
	if (st->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, st->ca_file);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "stepup-" IAP_NAME "/" IAP_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (st->auth == AUTH_BASIC) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, st->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, st->password);
	}

	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	int64_t took = st->host->now_ms() - start;
	char why[160] = "";
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, sizeof(why), "no answer from the backend within the deadline (%lld ms)",
			 (long long)left);
		rc = STEPUP_PLUGIN_TIMEOUT;
	} else if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "backend unreachable: %s", curl_easy_strerror(cc));
		rc = STEPUP_PLUGIN_UNAVAILABLE;
	} else if (status >= 200 && status < 300) {
		rc = STEPUP_PLUGIN_OK;
	} else if (status >= 300 && status < 400) {
		snprintf(why, sizeof(why), "backend answered HTTP %ld (redirects are not followed)", status);
	} else if (status == 401 || status == 403) {
		snprintf(why, sizeof(why), "backend refused the credentials (HTTP %ld)", status);
	} else if (status == 408 || status == 429 || status >= 500) {
		snprintf(why, sizeof(why), "backend answered HTTP %ld", status);
		rc = STEPUP_PLUGIN_UNAVAILABLE;
	} else {
		snprintf(why, sizeof(why), "backend answered HTTP %ld", status);
	}
	if (rc == STEPUP_PLUGIN_OK) {
		logf_(st, STEPUP_PLUGIN_LOG_DEBUG, "start sent (HTTP %ld, %lld ms)", status, (long long)took);
	} else {
		ctx_err(ctx, "%s", why);
		logf_(st, STEPUP_PLUGIN_LOG_WARNING, "start failed after %lld ms: %s", (long long)took, why);
	}
out:
	curl_slist_free_all(hdrs);
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
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!decision_id || !*decision_id) {
		ctx_err(ctx, "no decision id");
		return STEPUP_PLUGIN_EINVAL;
	}
	json_t *proof = proof_json ? json_loads(proof_json, 0, NULL) : NULL;
	int rc = STEPUP_PLUGIN_EINVAL;
	const char *why = NULL;
	if (!proof) {
		/* No parser message: it would quote the proof. */
		ctx_err(ctx, "the proof is not valid JSON");
		goto out;
	}
	if (!json_is_object(proof)) {
		ctx_err(ctx, "the proof is not a JSON object");
		goto out;
	}
	const char *id = proof_string(proof, "decision_id");
	const char *result = proof_string(proof, "result");
	const char *mac_hex = proof_string(proof, "hmac");
	if (!id || !result || !mac_hex) {
		ctx_err(ctx, "the proof needs string members decision_id, result and hmac");
		goto out;
	}
	if (strcmp(result, "APPROVED") != 0 && strcmp(result, "DECLINED") != 0) {
		ctx_err(ctx, "the proof's result must be APPROVED or DECLINED");
		goto out;
	}
	unsigned char given[IAP_MAC_LEN];
	if (strlen(mac_hex) != 2 * IAP_MAC_LEN || hex_decode(mac_hex, given, sizeof(given)) != IAP_MAC_LEN) {
		ctx_err(ctx, "the proof's hmac must be %d hex digits", 2 * IAP_MAC_LEN);
		goto out;
	}

	/* The MAC covers decision_id "|" result; the result is one of two
	 * fixed words, so the last '|' splits the text unambiguously. */
	size_t idlen = strlen(id), rlen = strlen(result);
	unsigned char *msg = malloc(idlen + 1 + rlen);
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned wantlen = 0;
	if (!msg) {
		ctx_err(ctx, "out of memory");
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
		ctx_err(ctx, "HMAC failed");
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
		ctx_err(ctx, "proof rejected: %s", why);
		logf_(st, STEPUP_PLUGIN_LOG_INFO, "proof rejected: %s", why);
	} else {
		logf_(st, STEPUP_PLUGIN_LOG_INFO, "proof accepted");
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
	.name = "inapp_http",
	.version = IAP_VERSION,
	.init = iap_init,
	.fini = iap_fini,
	.functions = NULL,
	.inapp = &iap_inapp,
};
