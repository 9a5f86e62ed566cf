/* otp_sms_http.c: the reference OTP_SMS channel (issue 3): renders the
 * OTP message from a per-language template and posts it to an HTTP SMS
 * gateway with libcurl. See plugins/otp_sms_http/README.md.
 *
 * One libcurl easy handle per call (no shared connection state, so any
 * number of threads may call at once); CURLOPT_NOSIGNAL because calls come
 * from several threads and libcurl's alarm()-based DNS timeout is not
 * thread-safe. The configuration is read-only after init(); the only
 * shared mutable state is the circuit breaker, under a mutex.
 *
 * PII: the destination, the OTP and the message text never reach
 * host->log() or ctx->err. Neither does the gateway's answer (gateways
 * like to echo the number back) nor libcurl's error buffer (it quotes the
 * URL, which may carry an API key): reasons are our own fixed texts plus
 * curl_easy_strerror(), which is generic. */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <stepup/plugin.h>

#define SMS_NAME "otp_sms_http"
#define SMS_VERSION "1.0.0"
/* Whatever the host's deadline says, one call never blocks longer. */
#define SMS_MAX_CALL_MS 60000
#define SMS_MAX_TEMPLATE 1600 /* ten concatenated SMS parts */
#define SMS_MAX_TEXT 1600
#define SMS_MAX_OTP 32

enum { AUTH_NONE, AUTH_BASIC, AUTH_HEADER };
enum { FMT_JSON, FMT_FORM };
enum { V_OTP, V_PAN_SUFFIX, V_EXPIRY, V_ISSUER, V_COUNT };
static const char *const var_names[V_COUNT] = { "otp", "pan_suffix", "expiry_minutes", "issuer" };

typedef struct sms_template {
	char *lang;
	char *text;
} sms_template;

typedef struct sms_pair {
	char *name, *value;
} sms_pair;

typedef struct sms_state {
	const stepup_host_api *host;
	void *host_ctx;
	int curl_ready;
	/* transport */
	char *url;
	char *host_name; /* for log lines: never the full URL (it may hold a key) */
	int allow_http;
	char *proxy;
	char *ca_file;
	int auth;
	char *user, *password; /* AUTH_BASIC */
	char *auth_header;     /* AUTH_HEADER: "Name: value" (bearer too) */
	/* request */
	int format;
	char *f_to, *f_text, *f_from;
	char *sender;
	size_t nextra;
	sms_pair *extra;
	/* messages */
	char *issuer;
	size_t ntemplates;
	sms_template *templates;
	const sms_template *def;
	/* delivery rules */
	size_t nprefixes;
	char **prefixes;
	unsigned cb_failures;     /* 0: no circuit breaker */
	unsigned cb_open_seconds;
	pthread_mutex_t mu;       /* guards the two fields below */
	unsigned failures;        /* consecutive */
	int64_t open_until_ms;    /* host clock; 0 when closed */
} sms_state;

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
	int n = snprintf(ctx->err, ctx->errlen, SMS_NAME ": ");
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void logf_(const sms_state *st, int level, const char *fmt, ...)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), SMS_NAME ": ");
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

/* A growable string; on allocation failure it stays "failed" (oom). */
typedef struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_adds(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* ---- validation of values --------------------------------------------------- */

/* E.164: "+", a non-zero digit, 7 to 15 digits in all, nothing else. */
static int is_e164(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	size_t n = 0;
	for (s++; *s; s++, n++)
		if (!is_digit(*s))
			return 0;
	return n >= 7 && n <= 15;
}

/* "+" and 1 to 14 digits: a country calling code or a longer prefix. */
static int is_prefix(const char *s)
{
	if (s[0] != '+' || !s[1])
		return 0;
	size_t n = 0;
	for (s++; *s; s++, n++)
		if (!is_digit(*s))
			return 0;
	return n <= 14;
}

/* A BCP 47 tag: a 2-3 letter primary subtag, then "-" subtags of 1-8
 * letters or digits. */
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

/* One line of text: no control characters (UTF-8 is guaranteed by the
 * JSON parser). */
static int is_line(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Text that may span lines: tabs and newlines allowed, other controls
 * not. */
static int is_text(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r' && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

/* A form/JSON field name: 1-64 of [A-Za-z0-9_.-]. */
static int is_field_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!is_alpha(s[n]) && !is_digit(s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64;
}

/* An HTTP header name (RFC 9110 token). */
static int is_header_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!is_alpha(*s) && !is_digit(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/* Valid UTF-8 of at most max bytes (no NUL by construction). */
static int is_utf8(const char *s, size_t max)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (k == 9 || (k == 1 && c < 0xc2) || (k == 3 && c > 0xf4))
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((p[j] & 0xc0) != 0x80)
				return 0;
		p += k + 1;
		n += k + 1;
		if (n > max)
			return 0;
	}
	return 1;
}

/* ---- templates ---------------------------------------------------------------- */

/* Walk a template: literal runs and {placeholders}; "{{" and "}}" are
 * literal braces. With vals == NULL, only check: 0, or -1 with why.
 * *uses gets a bit per placeholder met. */
static int tpl_walk(const char *t, const char *const *vals, sbuf *out, unsigned *uses, char *why,
		    size_t whylen)
{
	if (uses)
		*uses = 0;
	while (*t) {
		if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
			if (out)
				sb_add(out, t, 1);
			t += 2;
			continue;
		}
		if (*t == '}') {
			set_err(why, whylen, "stray '}' (write '}}' for a literal brace)");
			return -1;
		}
		if (*t != '{') {
			const char *e = t;
			while (*e && *e != '{' && *e != '}')
				e++;
			if (out)
				sb_add(out, t, (size_t)(e - t));
			t = e;
			continue;
		}
		const char *close = strchr(t, '}');
		if (!close) {
			set_err(why, whylen, "unclosed '{' (write '{{' for a literal brace)");
			return -1;
		}
		size_t n = (size_t)(close - t - 1);
		int v;
		for (v = 0; v < V_COUNT; v++)
			if (strlen(var_names[v]) == n && memcmp(var_names[v], t + 1, n) == 0)
				break;
		if (v == V_COUNT) {
			set_err(why, whylen,
				"unknown placeholder '{%.*s}' (expected {otp}, {pan_suffix}, "
				"{expiry_minutes}, {issuer})",
				n > 32 ? 32 : (int)n, t + 1);
			return -1;
		}
		if (uses)
			*uses |= 1u << v;
		if (out && vals)
			sb_adds(out, vals[v]);
		t = close + 1;
	}
	return 0;
}

/* The template for `language`: exact tag, then its primary subtag, then
 * the default. */
static const sms_template *pick_template(const sms_state *st, const char *language)
{
	if (language && *language) {
		for (size_t k = 0; k < st->ntemplates; k++)
			if (same_ci(st->templates[k].lang, language))
				return &st->templates[k];
		size_t n = strcspn(language, "-_");
		for (size_t k = 0; k < st->ntemplates; k++) {
			const char *l = st->templates[k].lang;
			if (strlen(l) == n && strncasecmp(l, language, n) == 0)
				return &st->templates[k];
		}
	}
	return st->def;
}

/* ---- configuration -------------------------------------------------------------- */

/* "<where>.<key>" or "<key>". */
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

/* String `key` of obj into *out (malloc'd; NULL when absent and not
 * required), checked by `check` (may be NULL) and described as `what`. */
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

static int cfg_bool(json_t *obj, const char *where, const char *key, int *out, char *err,
		    size_t errlen)
{
	char path[128];
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		set_err(err, errlen, "%s: must be true or false", key_path(path, sizeof(path), where, key));
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int cfg_uint(json_t *obj, const char *where, const char *key, unsigned lo, unsigned hi,
		    unsigned *out, char *err, size_t errlen)
{
	char path[128];
	key_path(path, sizeof(path), where, key);
	json_t *v = json_object_get(obj, key);
	if (!v) {
		set_err(err, errlen, "%s: missing", path);
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		set_err(err, errlen, "%s: must be an integer from %u to %u", path, lo, hi);
		return -1;
	}
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int cfg_object(json_t *root, const char *key, json_t **out, char *err, size_t errlen)
{
	*out = json_object_get(root, key);
	if (*out && !json_is_object(*out)) {
		set_err(err, errlen, "%s: must be an object", key);
		return -1;
	}
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

/* url, allow_http: the scheme, host and the absence of credentials. */
static int cfg_url(json_t *root, sms_state *st, char *err, size_t errlen)
{
	if (cfg_bool(root, NULL, "allow_http", &st->allow_http, err, errlen) != 0 ||
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

static int cfg_auth(json_t *root, sms_state *st, char *err, size_t errlen)
{
	json_t *a;
	if (cfg_object(root, "auth", &a, err, errlen) != 0)
		return -1;
	if (!a)
		return 0;
	char *type = NULL;
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
		char *token = NULL;
		st->auth = AUTH_HEADER;
		if (cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    cfg_string(a, "auth", "token", 1, is_line, "non-empty text without controls", &token,
			       err, errlen) != 0)
			goto out;
		int n = asprintf(&st->auth_header, "Authorization: Bearer %s", token);
		free(token);
		if (n < 0) {
			st->auth_header = NULL;
			set_err(err, errlen, "out of memory");
			goto out;
		}
	} else if (strcmp(type, "header") == 0) {
		static const char *const keys[] = { "type", "name", "value", NULL };
		char *name = NULL, *value = NULL;
		st->auth = AUTH_HEADER;
		if (cfg_only_keys(a, "auth", keys, err, errlen) != 0 ||
		    cfg_string(a, "auth", "name", 1, is_header_name, "an HTTP header name like \"X-Api-Key\"",
			       &name, err, errlen) != 0 ||
		    cfg_string(a, "auth", "value", 1, is_line, "non-empty text without controls", &value,
			       err, errlen) != 0) {
			free(name);
			goto out;
		}
		int n = asprintf(&st->auth_header, "%s: %s", name, value);
		free(name);
		free(value);
		if (n < 0) {
			st->auth_header = NULL;
			set_err(err, errlen, "out of memory");
			goto out;
		}
	} else {
		set_err(err, errlen, "auth.type: must be \"basic\", \"bearer\" or \"header\"");
		goto out;
	}
	rc = 0;
out:
	free(type);
	return rc;
}

static int cfg_request(json_t *root, sms_state *st, char *err, size_t errlen)
{
	char *format = NULL;
	if (cfg_string(root, NULL, "format", 0, is_any, "a string", &format, err, errlen) != 0)
		return -1;
	if (format && strcmp(format, "json") != 0 && strcmp(format, "form") != 0) {
		free(format);
		set_err(err, errlen, "format: must be \"json\" or \"form\"");
		return -1;
	}
	st->format = format && strcmp(format, "form") == 0 ? FMT_FORM : FMT_JSON;
	free(format);

	json_t *f;
	if (cfg_object(root, "fields", &f, err, errlen) != 0)
		return -1;
	if (f) {
		static const char *const keys[] = { "to", "text", "from", NULL };
		const char *what = "a field name of 1 to 64 letters, digits, '_', '.', '-'";
		if (cfg_only_keys(f, "fields", keys, err, errlen) != 0 ||
		    cfg_string(f, "fields", "to", 0, is_field_name, what, &st->f_to, err, errlen) != 0 ||
		    cfg_string(f, "fields", "text", 0, is_field_name, what, &st->f_text, err, errlen) != 0 ||
		    cfg_string(f, "fields", "from", 0, is_field_name, what, &st->f_from, err, errlen) != 0)
			return -1;
	}
	if ((!st->f_to && !(st->f_to = dup_str("to"))) || (!st->f_text && !(st->f_text = dup_str("text"))) ||
	    (!st->f_from && !(st->f_from = dup_str("from")))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (strcmp(st->f_to, st->f_text) == 0 || strcmp(st->f_to, st->f_from) == 0 ||
	    strcmp(st->f_text, st->f_from) == 0) {
		set_err(err, errlen, "fields: 'to', 'text' and 'from' must be three different names");
		return -1;
	}
	if (cfg_string(root, NULL, "sender", 0, is_line, "non-empty text without controls", &st->sender,
		       err, errlen) != 0)
		return -1;

	json_t *x;
	if (cfg_object(root, "extra_fields", &x, err, errlen) != 0)
		return -1;
	if (x && json_object_size(x)) {
		if (!(st->extra = calloc(json_object_size(x), sizeof(*st->extra)))) {
			set_err(err, errlen, "out of memory");
			return -1;
		}
		const char *key;
		json_t *v;
		json_object_foreach(x, key, v)
		{
			if (!is_field_name(key)) {
				set_err(err, errlen, "extra_fields: '%.64s' is not a field name of 1 to 64 "
					"letters, digits, '_', '.', '-'", key);
				return -1;
			}
			if (strcmp(key, st->f_to) == 0 || strcmp(key, st->f_text) == 0 ||
			    (strcmp(key, st->f_from) == 0)) {
				set_err(err, errlen, "extra_fields.%s: collides with a message field", key);
				return -1;
			}
			sms_pair *p = &st->extra[st->nextra];
			if (cfg_string(x, "extra_fields", key, 1, is_line, "non-empty text without controls",
				       &p->value, err, errlen) != 0)
				return -1;
			st->nextra++;
			if (!(p->name = dup_str(key))) {
				set_err(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

static int cfg_templates(json_t *root, sms_state *st, char *err, size_t errlen)
{
	if (cfg_string(root, NULL, "issuer_name", 0, is_line, "non-empty text without controls",
		       &st->issuer, err, errlen) != 0)
		return -1;
	char *def = NULL;
	if (cfg_string(root, NULL, "default_language", 0, is_language,
		       "a language tag like \"en\" or \"pt-BR\"", &def, err, errlen) != 0)
		return -1;
	json_t *t = json_object_get(root, "templates");
	int rc = -1;
	if (!t) {
		set_err(err, errlen, "templates: missing");
		goto out;
	}
	if (!json_is_object(t) || json_object_size(t) == 0) {
		set_err(err, errlen, "templates: must be an object of language -> template");
		goto out;
	}
	if (!(st->templates = calloc(json_object_size(t), sizeof(*st->templates)))) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(t, key, v)
	{
		if (!is_language(key)) {
			set_err(err, errlen, "templates: '%.32s' is not a language tag like \"en\" or \"pt-BR\"",
				key);
			goto out;
		}
		for (size_t k = 0; k < st->ntemplates; k++)
			if (same_ci(st->templates[k].lang, key)) {
				set_err(err, errlen, "templates: '%.32s' given twice", key);
				goto out;
			}
		sms_template *tp = &st->templates[st->ntemplates];
		if (cfg_string(t, "templates", key, 1, is_text, "non-empty text", &tp->text, err, errlen) != 0)
			goto out;
		st->ntemplates++;
		if (!(tp->lang = dup_str(key))) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
		char why[160];
		unsigned uses;
		if (tpl_walk(tp->text, NULL, NULL, &uses, why, sizeof(why)) != 0) {
			set_err(err, errlen, "templates.%s: %s", key, why);
			goto out;
		}
		if (!(uses & (1u << V_OTP))) {
			set_err(err, errlen, "templates.%s: must contain {otp}", key);
			goto out;
		}
		if ((uses & (1u << V_ISSUER)) && !st->issuer) {
			set_err(err, errlen, "templates.%s: uses {issuer} but issuer_name is not set", key);
			goto out;
		}
		if (strlen(tp->text) > SMS_MAX_TEMPLATE) {
			set_err(err, errlen, "templates.%s: longer than %d bytes", key, SMS_MAX_TEMPLATE);
			goto out;
		}
	}
	const char *want = def ? def : "en";
	for (size_t k = 0; k < st->ntemplates && !st->def; k++)
		if (same_ci(st->templates[k].lang, want))
			st->def = &st->templates[k];
	if (!st->def) {
		if (def)
			set_err(err, errlen, "default_language: no template for '%s'", def);
		else
			set_err(err, errlen, "templates: no template for the default language 'en' "
				"(add one or set default_language)");
		goto out;
	}
	rc = 0;
out:
	free(def);
	return rc;
}

static int cfg_delivery(json_t *root, sms_state *st, char *err, size_t errlen)
{
	json_t *p = json_object_get(root, "allowed_prefixes");
	if (p) {
		if (!json_is_array(p) || json_array_size(p) == 0) {
			set_err(err, errlen, "allowed_prefixes: must be a non-empty array of prefixes like \"+44\"");
			return -1;
		}
		if (!(st->prefixes = calloc(json_array_size(p), sizeof(*st->prefixes)))) {
			set_err(err, errlen, "out of memory");
			return -1;
		}
		for (size_t k = 0; k < json_array_size(p); k++) {
			json_t *v = json_array_get(p, k);
			if (!json_is_string(v) || !is_prefix(json_string_value(v))) {
				set_err(err, errlen, "allowed_prefixes[%zu]: must be a prefix like \"+44\"", k);
				return -1;
			}
			if (!(st->prefixes[k] = dup_str(json_string_value(v)))) {
				set_err(err, errlen, "out of memory");
				return -1;
			}
			st->nprefixes++;
		}
	}
	json_t *cb;
	if (cfg_object(root, "circuit_breaker", &cb, err, errlen) != 0)
		return -1;
	if (cb) {
		static const char *const keys[] = { "failures", "open_seconds", NULL };
		if (cfg_only_keys(cb, "circuit_breaker", keys, err, errlen) != 0 ||
		    cfg_uint(cb, "circuit_breaker", "failures", 1, 1000, &st->cb_failures, err, errlen) != 0 ||
		    cfg_uint(cb, "circuit_breaker", "open_seconds", 1, 86400, &st->cb_open_seconds, err,
			     errlen) != 0)
			return -1;
	}
	if (cfg_string(root, NULL, "proxy", 0, is_line, "a proxy URL", &st->proxy, err, errlen) != 0 ||
	    cfg_string(root, NULL, "ca_file", 0, is_path, "an absolute path", &st->ca_file, err, errlen) != 0)
		return -1;
	if (st->ca_file && access(st->ca_file, R_OK) != 0) {
		set_err(err, errlen, "ca_file: cannot read '%.128s'", st->ca_file);
		return -1;
	}
	return 0;
}

static int parse_config(const char *config_json, sms_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "allow_http", "auth", "format", "fields",
					    "sender", "extra_fields", "issuer_name", "default_language",
					    "templates", "allowed_prefixes", "circuit_breaker", "proxy",
					    "ca_file", NULL };
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
	    cfg_auth(root, st, err, errlen) != 0 || cfg_request(root, st, err, errlen) != 0 ||
	    cfg_templates(root, st, err, errlen) != 0 || cfg_delivery(root, st, err, errlen) != 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- init / fini ------------------------------------------------------------------ */

static void state_free(sms_state *st)
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
	free(st->f_to);
	free(st->f_text);
	free(st->f_from);
	free(st->sender);
	for (size_t k = 0; k < st->nextra; k++) {
		free(st->extra[k].name);
		free(st->extra[k].value);
	}
	free(st->extra);
	free(st->issuer);
	for (size_t k = 0; k < st->ntemplates; k++) {
		free(st->templates[k].lang);
		free(st->templates[k].text);
	}
	free(st->templates);
	for (size_t k = 0; k < st->nprefixes; k++)
		free(st->prefixes[k]);
	free(st->prefixes);
	pthread_mutex_destroy(&st->mu);
	if (st->curl_ready)
		curl_global_cleanup();
	free(st);
}

static int sms_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	if (!host || !state || host->size < offsetof(stepup_host_api, now_ms) + sizeof(host->now_ms) ||
	    !host->alloc || !host->free || !host->log || !host->now_ms) {
		set_err(err, errlen, "incomplete host API");
		return STEPUP_PLUGIN_EINVAL;
	}
	*state = NULL;
	/* jansson seeds its hash function lazily; do it now, before calls
	 * may run on several threads. */
	json_object_seed(0);
	sms_state *st = calloc(1, sizeof(*st));
	if (!st) {
		set_err(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	st->host = host;
	st->host_ctx = host_ctx;
	pthread_mutex_init(&st->mu, NULL);
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
	logf_(st, STEPUP_PLUGIN_LOG_INFO, "ready: %s to host %s, %zu template(s), default language %s%s",
	      st->format == FMT_FORM ? "form" : "json", st->host_name, st->ntemplates, st->def->lang,
	      st->cb_failures ? ", circuit breaker on" : "");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void sms_fini(void *state)
{
	state_free(state);
}

/* ---- circuit breaker ----------------------------------------------------------------- */

/* 1 when open (calls refused) at `now`. After the open period calls go
 * through again ("half-open"): the failure count is still at the limit,
 * so the next failure opens the circuit again at once, and a success
 * closes it. */
static int breaker_open(sms_state *st, int64_t now)
{
	if (!st->cb_failures)
		return 0;
	pthread_mutex_lock(&st->mu);
	int open = st->open_until_ms && now < st->open_until_ms;
	pthread_mutex_unlock(&st->mu);
	return open;
}

static void breaker_record(sms_state *st, int failed)
{
	if (!st->cb_failures)
		return;
	int opened = 0;
	pthread_mutex_lock(&st->mu);
	if (!failed) {
		st->failures = 0;
		st->open_until_ms = 0;
	} else if (++st->failures >= st->cb_failures) {
		st->open_until_ms = st->host->now_ms() + (int64_t)st->cb_open_seconds * 1000;
		opened = 1;
	}
	unsigned n = st->failures;
	pthread_mutex_unlock(&st->mu);
	if (opened)
		logf_(st, STEPUP_PLUGIN_LOG_WARNING, "circuit open for %u s after %u consecutive failures",
		      st->cb_open_seconds, n);
}

/* ---- the HTTP call ---------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int form_add(sbuf *b, CURL *h, const char *name, const char *value)
{
	char *n = curl_easy_escape(h, name, 0), *v = curl_easy_escape(h, value, 0);
	if (!n || !v) {
		curl_free(n);
		curl_free(v);
		return -1;
	}
	if (b->len)
		sb_adds(b, "&");
	sb_adds(b, n);
	sb_adds(b, "=");
	sb_adds(b, v);
	curl_free(n);
	curl_free(v);
	return b->oom ? -1 : 0;
}

/* The request body, malloc'd; NULL on allocation failure. */
static char *build_body(const sms_state *st, CURL *h, const char *to, const char *text)
{
	if (st->format == FMT_FORM) {
		sbuf b = { 0 };
		int bad = form_add(&b, h, st->f_to, to) || form_add(&b, h, st->f_text, text) ||
			  (st->sender && form_add(&b, h, st->f_from, st->sender));
		for (size_t k = 0; k < st->nextra && !bad; k++)
			bad = form_add(&b, h, st->extra[k].name, st->extra[k].value);
		if (bad) {
			free(b.p);
			return NULL;
		}
		return b.p ? b.p : dup_str("");
	}
	json_t *o = json_object();
	int bad = !o || json_object_set_new(o, st->f_to, json_string(to)) ||
		  json_object_set_new(o, st->f_text, json_string(text)) ||
		  (st->sender && json_object_set_new(o, st->f_from, json_string(st->sender)));
	for (size_t k = 0; k < st->nextra && !bad; k++)
		bad = json_object_set_new(o, st->extra[k].name, json_string(st->extra[k].value));
	char *body = bad ? NULL : json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: string form, the bitmask is deprecated */
#define SET_PROTOCOLS(h, allow_http) \
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, (allow_http) ? "http,https" : "https")
#else
#define SET_PROTOCOLS(h, allow_http) \
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, \
			 (long)((allow_http) ? CURLPROTO_HTTP | CURLPROTO_HTTPS : CURLPROTO_HTTPS))
#endif

/* Post `text` to `to` under the deadline; returns a STEPUP_PLUGIN_*
 * status with the reason in ctx->err. */
static int post_sms(sms_state *st, const stepup_call_ctx *ctx, const char *to, const char *text)
{
	int64_t start = st->host->now_ms();
	if (breaker_open(st, start)) {
		ctx_err(ctx, "circuit open after %u consecutive gateway failures", st->cb_failures);
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	int64_t left = ctx->deadline_ms - start;
	if (left <= 0) {
		ctx_err(ctx, "deadline passed before sending");
		return STEPUP_PLUGIN_TIMEOUT;
	}
	if (left > SMS_MAX_CALL_MS)
		left = SMS_MAX_CALL_MS;

	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL, *tmp;
	char *body = NULL;
	int rc = STEPUP_PLUGIN_ERROR, systemic = 0;
	if (!h || !(body = build_body(st, h, to, text))) {
		ctx_err(ctx, "out of memory");
		goto out;
	}
	static const char *const fixed_json[] = { "Content-Type: application/json",
						  "Accept: application/json", "Expect:", NULL };
	static const char *const fixed_form[] = { "Content-Type: application/x-www-form-urlencoded",
						  "Expect:", NULL };
	for (const char *const *p = st->format == FMT_FORM ? fixed_form : fixed_json; *p; p++) {
		if (!(tmp = curl_slist_append(hdrs, *p)))
			goto oom;
		hdrs = tmp;
	}
	if (st->auth_header) {
		if (!(tmp = curl_slist_append(hdrs, st->auth_header)))
			goto oom;
		hdrs = tmp;
	}

	curl_easy_setopt(h, CURLOPT_URL, st->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	/* A redirect could send the OTP elsewhere: never follow one. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	SET_PROTOCOLS(h, st->allow_http);
	/* No proxy unless configured: the environment must not reroute OTPs. */
	curl_easy_setopt(h, CURLOPT_PROXY, st->proxy ? st->proxy : "");
	if (st->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, st->ca_file);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "stepup-" SMS_NAME "/" SMS_VERSION);
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
		snprintf(why, sizeof(why), "no answer from the gateway within the deadline (%lld ms)",
			 (long long)left);
		rc = STEPUP_PLUGIN_TIMEOUT;
		systemic = 1;
	} else if (cc != CURLE_OK) {
		snprintf(why, sizeof(why), "gateway unreachable: %s", curl_easy_strerror(cc));
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else if (status >= 200 && status < 300) {
		rc = STEPUP_PLUGIN_OK;
	} else if (status >= 300 && status < 400) {
		snprintf(why, sizeof(why), "gateway answered HTTP %ld (redirects are not followed)", status);
	} else if (status == 401 || status == 403) {
		snprintf(why, sizeof(why), "gateway refused the credentials (HTTP %ld)", status);
		systemic = 1;
	} else if (status == 408 || status == 429 || status >= 500) {
		snprintf(why, sizeof(why), "gateway answered HTTP %ld", status);
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else {
		snprintf(why, sizeof(why), "gateway answered HTTP %ld", status);
	}
	if (rc == STEPUP_PLUGIN_OK) {
		logf_(st, STEPUP_PLUGIN_LOG_DEBUG, "sent (HTTP %ld, %lld ms)", status, (long long)took);
	} else {
		ctx_err(ctx, "%s", why);
		logf_(st, STEPUP_PLUGIN_LOG_WARNING, "send failed after %lld ms: %s", (long long)took, why);
	}
	/* Only failures that say something about the gateway count; a 400 for
	 * one odd message does not. */
	if (rc == STEPUP_PLUGIN_OK || systemic)
		breaker_record(st, rc != STEPUP_PLUGIN_OK);
	goto out;
oom:
	ctx_err(ctx, "out of memory");
out:
	curl_slist_free_all(hdrs);
	if (body) /* it holds the OTP */
		explicit_bzero(body, strlen(body));
	free(body);
	curl_easy_cleanup(h);
	return rc;
}

/* ---- the interface -------------------------------------------------------------------- */

/* 0 if `to` may be served, else a status with the reason in ctx->err. */
static int check_destination(const sms_state *st, const stepup_call_ctx *ctx, const char *to,
			     int bad_syntax_status)
{
	if (!is_e164(to)) {
		ctx_err(ctx, "destination is not an E.164 number");
		return bad_syntax_status;
	}
	if (st->nprefixes) {
		size_t k;
		for (k = 0; k < st->nprefixes; k++)
			if (strncmp(to, st->prefixes[k], strlen(st->prefixes[k])) == 0)
				break;
		if (k == st->nprefixes) {
			ctx_err(ctx, "destination country is not in allowed_prefixes");
			return STEPUP_PLUGIN_UNAVAILABLE;
		}
	}
	return STEPUP_PLUGIN_OK;
}

static int sms_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	sms_state *st = state;
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (destination) {
		int rc = check_destination(st, ctx, destination, STEPUP_PLUGIN_UNAVAILABLE);
		if (rc != STEPUP_PLUGIN_OK)
			return rc;
	}
	if (breaker_open(st, st->host->now_ms())) {
		ctx_err(ctx, "circuit open after %u consecutive gateway failures", st->cb_failures);
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	return STEPUP_PLUGIN_OK;
}

static int valid_otp(const char *otp)
{
	size_t n = 0;
	for (; otp[n]; n++)
		if ((unsigned char)otp[n] <= 0x20 || (unsigned char)otp[n] >= 0x7f)
			return 0;
	return n >= 1 && n <= SMS_MAX_OTP;
}

static int valid_suffix(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!is_digit(s[n]))
			return 0;
	return n <= 8;
}

static int sms_deliver_otp(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	sms_state *st = state;
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!msg || msg->size < offsetof(stepup_otp_message, language) + sizeof(msg->language) ||
	    !msg->destination || !msg->otp) {
		ctx_err(ctx, "incomplete OTP message");
		return STEPUP_PLUGIN_EINVAL;
	}
	int rc = check_destination(st, ctx, msg->destination, STEPUP_PLUGIN_EINVAL);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (!valid_otp(msg->otp)) {
		ctx_err(ctx, "the OTP must be 1 to %d printable ASCII characters", SMS_MAX_OTP);
		return STEPUP_PLUGIN_EINVAL;
	}
	const char *suffix = msg->pan_suffix ? msg->pan_suffix : "";
	if (!valid_suffix(suffix)) {
		ctx_err(ctx, "pan_suffix must be at most 8 digits");
		return STEPUP_PLUGIN_EINVAL;
	}
	int64_t left = (int64_t)msg->expires_at - (int64_t)time(NULL);
	if (left <= 0) {
		ctx_err(ctx, "the OTP has already expired");
		return STEPUP_PLUGIN_EINVAL;
	}
	char minutes[24];
	snprintf(minutes, sizeof(minutes), "%lld", (long long)((left + 59) / 60));

	const sms_template *t = pick_template(st, msg->language);
	const char *vals[V_COUNT] = { msg->otp, suffix, minutes, st->issuer ? st->issuer : "" };
	sbuf text = { 0 };
	tpl_walk(t->text, vals, &text, NULL, NULL, 0);
	if (text.oom || !text.p) {
		free(text.p);
		ctx_err(ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	logf_(st, STEPUP_PLUGIN_LOG_DEBUG, "OTP message in '%s' for language '%.16s'", t->lang,
	      msg->language && is_language(msg->language) ? msg->language : "");
	rc = post_sms(st, ctx, msg->destination, text.p);
	/* The rendered text holds the OTP: do not leave it in freed memory. */
	explicit_bzero(text.p, text.len);
	free(text.p);
	return rc;
}

static int sms_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language)
{
	sms_state *st = state;
	(void)language; /* the host localised the text already */
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!destination || !text) {
		ctx_err(ctx, "no destination or no text");
		return STEPUP_PLUGIN_EINVAL;
	}
	int rc = check_destination(st, ctx, destination, STEPUP_PLUGIN_EINVAL);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (!*text || !is_utf8(text, SMS_MAX_TEXT)) {
		ctx_err(ctx, "text must be 1 to %d bytes of UTF-8", SMS_MAX_TEXT);
		return STEPUP_PLUGIN_EINVAL;
	}
	return post_sms(st, ctx, destination, text);
}

static const stepup_otp_channel sms_otp = {
	.size = sizeof(stepup_otp_channel),
	.can_deliver = sms_can_deliver,
	.deliver_otp = sms_deliver_otp,
	.notify = sms_notify,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "otp_sms_http",
	.version = SMS_VERSION,
	.init = sms_init,
	.fini = sms_fini,
	.functions = NULL,
	.otp = &sms_otp,
};
