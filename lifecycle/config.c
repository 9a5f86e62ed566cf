/* config.c: the "cases" section. Strict like the issuer settings: an
 * unknown key is an error, because a misspelt "max_otp_sends" silently
 * falling back to the default is worse than a refusal at start. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stepup/stepup.h>

#include "config.h"
#include "util.h"

#define MAX_SECRET_BYTES 4096

typedef struct P {
	char *err;
	size_t errlen;
	const char *base_dir;
} P;

static int bad(P *p, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(P *p, const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	su_set_err(p->err, p->errlen, "cases.%s: %s", key, msg);
	return STEPUP_ECONFIG;
}

/* Every key of obj must be in `known` (NULL-terminated). */
static int only_keys(P *p, json_t *obj, const char *prefix, const char *const *known)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		int ok = 0;
		for (size_t i = 0; known[i]; i++)
			ok |= strcmp(k, known[i]) == 0;
		if (!ok) {
			char key[160];
			snprintf(key, sizeof(key), "%s%s", prefix, k);
			return bad(p, key, "unknown key");
		}
	}
	return STEPUP_OK;
}

static int get_uint(P *p, json_t *obj, const char *key, const char *path, unsigned min,
                    unsigned max, unsigned *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return STEPUP_OK;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return bad(p, path, "must be an integer from %u to %u", min, max);
	*out = (unsigned)json_integer_value(v);
	return STEPUP_OK;
}

static int get_bool(P *p, json_t *obj, const char *key, const char *path, int *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return STEPUP_OK;
	if (!json_is_boolean(v))
		return bad(p, path, "must be true or false");
	*out = json_is_true(v);
	return STEPUP_OK;
}

static int get_str(P *p, json_t *obj, const char *key, const char *path, char **out)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return STEPUP_OK;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return bad(p, path, "must be a non-empty string");
	free(*out);
	if (!(*out = strdup(json_string_value(v))))
		return STEPUP_ENOMEM;
	return STEPUP_OK;
}

/* A path from the configuration, resolved from base_dir when relative. */
static char *resolve(P *p, const char *path)
{
	char *out = NULL;
	if (path[0] == '/' || !p->base_dir || !p->base_dir[0])
		return strdup(path);
	if (asprintf(&out, "%s/%s", p->base_dir, path) < 0)
		return NULL;
	return out;
}

static int read_secret(P *p, const char *file, char **out)
{
	char *path = resolve(p, file), *text = NULL, why[512];
	size_t len = 0;
	int rc;

	if (!path)
		return STEPUP_ENOMEM;
	/* The one reader of secret files: never blocks, a regular file,
	 * bounded, read in one allocation. */
	rc = su_read_secret_file(path, MAX_SECRET_BYTES, 0, &text, &len, why, sizeof(why));
	free(path);
	if (rc == STEPUP_ENOMEM)
		return rc;
	if (rc == STEPUP_ETOOBIG)
		return bad(p, "webhook.secret_file", "larger than 4096 bytes");
	if (rc != STEPUP_OK) {
		su_set_err(p->err, p->errlen, "cases.webhook.secret_file: %s", why);
		return rc;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len == 0 || strlen(text) != len) {
		explicit_bzero(text, len);
		free(text);
		return bad(p, "webhook.secret_file", "empty or not text");
	}
	*out = text;
	return STEPUP_OK;
}

static int parse_retry(P *p, json_t *obj, const char *prefix, su_retry *r)
{
	char k1[64], k2[64], k3[64];
	int rc;
	snprintf(k1, sizeof(k1), "%smax_attempts", prefix);
	snprintf(k2, sizeof(k2), "%sbackoff_ms", prefix);
	snprintf(k3, sizeof(k3), "%smax_backoff_ms", prefix);
	if ((rc = get_uint(p, obj, "max_attempts", k1, 1, 1000, &r->max_attempts)) ||
	    (rc = get_uint(p, obj, "backoff_ms", k2, 10, 3600000, &r->backoff_ms)) ||
	    (rc = get_uint(p, obj, "max_backoff_ms", k3, 10, 86400000, &r->max_backoff_ms)))
		return rc;
	if (r->max_backoff_ms < r->backoff_ms)
		return bad(p, k3, "must be at least backoff_ms");
	return STEPUP_OK;
}

static int parse_webhook(P *p, json_t *w, su_lc_config *c)
{
	static const char *const known[] = { "url", "secret", "secret_file", "headers", "ca_file",
		                             "timeout_ms", "max_attempts", "backoff_ms",
		                             "max_backoff_ms", NULL };
	int rc;

	if (!json_is_object(w))
		return bad(p, "webhook", "must be an object");
	if ((rc = only_keys(p, w, "webhook.", known)))
		return rc;
	if (!json_object_get(w, "url"))
		return bad(p, "webhook.url", "is required");
	if ((rc = get_str(p, w, "url", "webhook.url", &c->webhook.url)))
		return rc;
	if (strncasecmp(c->webhook.url, "http://", 7) != 0 &&
	    strncasecmp(c->webhook.url, "https://", 8) != 0)
		return bad(p, "webhook.url", "must be an http:// or https:// URL");
	if (json_object_get(w, "secret") && json_object_get(w, "secret_file"))
		return bad(p, "webhook.secret", "give secret or secret_file, not both");
	if ((rc = get_str(p, w, "secret", "webhook.secret", &c->webhook.secret)))
		return rc;
	if (json_object_get(w, "secret_file")) {
		char *file = NULL;
		if ((rc = get_str(p, w, "secret_file", "webhook.secret_file", &file)))
			return rc;
		rc = read_secret(p, file, &c->webhook.secret);
		free(file);
		if (rc)
			return rc;
	}
	if (json_object_get(w, "ca_file")) {
		char *file = NULL;
		if ((rc = get_str(p, w, "ca_file", "webhook.ca_file", &file)))
			return rc;
		c->webhook.ca_file = resolve(p, file);
		free(file);
		if (!c->webhook.ca_file)
			return STEPUP_ENOMEM;
	}
	json_t *h = json_object_get(w, "headers");
	if (h) {
		const char *k;
		json_t *v;
		size_t n = 0;
		if (!json_is_object(h))
			return bad(p, "webhook.headers", "must be an object of strings");
		if (!(c->webhook.headers = calloc(json_object_size(h) + 1, sizeof(char *))))
			return STEPUP_ENOMEM;
		json_object_foreach(h, k, v) {
			/* Header injection through the config is still a broken
			 * request; refuse CR/LF and names curl would mangle. */
			if (!json_is_string(v) || strpbrk(json_string_value(v), "\r\n") || !k[0] ||
			    strpbrk(k, " :\r\n\t"))
				return bad(p, "webhook.headers", "names must be tokens and values one-line strings");
			if (asprintf(&c->webhook.headers[n], "%s: %s", k, json_string_value(v)) < 0)
				return STEPUP_ENOMEM;
			n++;
		}
	}
	if ((rc = get_uint(p, w, "timeout_ms", "webhook.timeout_ms", 100, 120000,
	                   &c->webhook.timeout_ms)))
		return rc;
	return parse_retry(p, w, "webhook.", &c->webhook.retry);
}

static int method_of(const char *s)
{
	if (strcmp(s, "OTP_SMS") == 0)
		return STEPUP_OTP_SMS;
	if (strcmp(s, "OTP_EMAIL") == 0)
		return STEPUP_OTP_EMAIL;
	return -1;
}

/* Placeholders a template may use; anything else in braces is a typo. */
static int check_template(const char *t)
{
	for (const char *s = strchr(t, '{'); s; s = strchr(s + 1, '{'))
		if (strncmp(s, "{pan_suffix}", 12) != 0 && strncmp(s, "{wallet}", 8) != 0)
			return -1;
	return 0;
}

static int parse_end_user(P *p, json_t *n, su_lc_config *c)
{
	static const char *const known[] = { "enabled", "method", "default_language", "templates",
		                             "wallet_names", "max_attempts", "backoff_ms",
		                             "max_backoff_ms", NULL };
	int rc;
	json_t *v;

	if (!json_is_object(n))
		return bad(p, "notify_end_user", "must be an object");
	if ((rc = only_keys(p, n, "notify_end_user.", known)) ||
	    (rc = get_bool(p, n, "enabled", "notify_end_user.enabled", &c->end_user.enabled)) ||
	    (rc = get_str(p, n, "default_language", "notify_end_user.default_language",
	                  &c->end_user.default_language)))
		return rc;
	if ((v = json_object_get(n, "method"))) {
		c->end_user.methods[0] = c->end_user.methods[1] = -1;
		if (json_is_string(v)) {
			if ((c->end_user.methods[0] = method_of(json_string_value(v))) < 0)
				return bad(p, "notify_end_user.method", "must be OTP_SMS or OTP_EMAIL");
		} else if (json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= 2) {
			for (size_t i = 0; i < json_array_size(v); i++) {
				json_t *m = json_array_get(v, i);
				int k = json_is_string(m) ? method_of(json_string_value(m)) : -1;
				if (k < 0 || (i == 1 && k == c->end_user.methods[0]))
					return bad(p, "notify_end_user.method",
					           "must be OTP_SMS, OTP_EMAIL or a list of both");
				c->end_user.methods[i] = k;
			}
		} else
			return bad(p, "notify_end_user.method", "must be OTP_SMS, OTP_EMAIL or a list of both");
	}
	if ((v = json_object_get(n, "templates"))) {
		const char *k;
		json_t *t;
		if (!json_is_object(v) || json_object_size(v) == 0)
			return bad(p, "notify_end_user.templates", "must be an object: language -> text");
		if (!(c->end_user.templates = calloc(json_object_size(v), sizeof(su_template))))
			return STEPUP_ENOMEM;
		json_object_foreach(v, k, t) {
			su_template *tp = &c->end_user.templates[c->end_user.ntemplates];
			char key[96];
			snprintf(key, sizeof(key), "notify_end_user.templates.%s", k);
			if (!k[0] || strlen(k) > 35)
				return bad(p, key, "a language tag is 1 to 35 characters");
			if (!json_is_string(t) || json_string_length(t) == 0)
				return bad(p, key, "must be a non-empty string");
			if (check_template(json_string_value(t)) < 0)
				return bad(p, key, "unknown placeholder (known: {pan_suffix}, {wallet})");
			c->end_user.ntemplates++;
			if (!(tp->language = strdup(k)) || !(tp->text = strdup(json_string_value(t))))
				return STEPUP_ENOMEM;
		}
	}
	if ((v = json_object_get(n, "wallet_names"))) {
		const char *k;
		json_t *t;
		if (!json_is_object(v))
			return bad(p, "notify_end_user.wallet_names", "must be an object of strings");
		if (!(c->end_user.wallet_names = calloc(json_object_size(v) + 1, sizeof(su_name))))
			return STEPUP_ENOMEM;
		json_object_foreach(v, k, t) {
			su_name *np = &c->end_user.wallet_names[c->end_user.nwallet_names];
			if (!json_is_string(t) || json_string_length(t) == 0)
				return bad(p, "notify_end_user.wallet_names", "must be an object of strings");
			c->end_user.nwallet_names++;
			if (!(np->key = strdup(k)) || !(np->value = strdup(json_string_value(t))))
				return STEPUP_ENOMEM;
		}
	}
	if (c->end_user.enabled && !c->end_user.ntemplates)
		return bad(p, "notify_end_user.templates", "required when enabled");
	if (c->end_user.enabled && !su_lc_template(c, c->end_user.default_language))
		return bad(p, "notify_end_user.default_language", "has no template");
	return parse_retry(p, n, "notify_end_user.", &c->end_user.retry);
}

/* "activation_codes": {"key_file": "code-key", "length": 6, "max_attempts": 3} */
static int parse_codes(P *p, json_t *a, su_lc_config *c)
{
	static const char *const known[] = { "key_file", "length", "max_attempts", NULL };
	char *file = NULL, *path = NULL;
	int rc;

	if (!json_is_object(a))
		return bad(p, "activation_codes", "must be an object");
	if ((rc = only_keys(p, a, "activation_codes.", known)))
		return rc;
	if (!json_object_get(a, "key_file"))
		return bad(p, "activation_codes.key_file", "is required (an HMAC key, hex, in a file of mode 0600)");
	if ((rc = get_str(p, a, "key_file", "activation_codes.key_file", &file)))
		return rc;
	if (!(path = resolve(p, file))) {
		free(file);
		return STEPUP_ENOMEM;
	}
	free(file);
	char why[512];
	rc = su_read_hex_key(path, c->codes.key, 16, sizeof(c->codes.key), &c->codes.keylen, why, sizeof(why));
	free(path);
	if (rc != STEPUP_OK) {
		su_set_err(p->err, p->errlen, "cases.activation_codes.key_file: %s", why);
		return rc == STEPUP_ENOMEM ? rc : rc == STEPUP_EIO ? STEPUP_EIO : STEPUP_ECONFIG;
	}
	if ((rc = get_uint(p, a, "length", "activation_codes.length", 4, 16, &c->codes.length)) ||
	    (rc = get_uint(p, a, "max_attempts", "activation_codes.max_attempts", 1, 10, &c->codes.max_attempts)))
		return rc;
	c->codes.enabled = 1;
	return STEPUP_OK;
}

static void defaults(su_lc_config *c)
{
	static const su_retry r = { 25, 1000, 300000 };
	memset(c, 0, sizeof(*c));
	c->ttl_seconds = 900;
	c->max_otp_sends = 3;
	c->busy_timeout_ms = 5000;
	c->sweep_interval_ms = 1000;
	c->retention_days = 30;
	c->background = 1;
	c->webhook.timeout_ms = 5000;
	c->webhook.retry = r;
	c->end_user.methods[0] = STEPUP_OTP_SMS;
	c->end_user.methods[1] = STEPUP_OTP_EMAIL;
	c->end_user.retry = r;
	c->end_user.retry.max_attempts = 5;
	c->inapp_retry = r;
	c->inapp_retry.max_attempts = 5;
	c->codes.length = 6;
	c->codes.max_attempts = 3;
}

int su_lc_config_parse(const char *config_json, const char *base_dir, su_lc_config *c,
                       char *err, size_t errlen)
{
	static const char *const known[] = { "store", "path", "ttl_seconds", "max_otp_sends",
		                             "synchronous", "busy_timeout_ms", "sweep_interval_ms",
		                             "retention_days", "background", "webhook",
		                             "notify_end_user", "activation_codes", NULL };
	P p = { err, errlen, base_dir };
	json_error_t je;
	json_t *root, *s, *v;
	int rc;

	defaults(c);
	if (!config_json) {
		su_set_err(err, errlen, "no configuration");
		return STEPUP_ENOTFOUND;
	}
	if (!(root = json_loads(config_json, JSON_REJECT_DUPLICATES, &je))) {
		su_set_err(err, errlen, "configuration: %s (line %d)", je.text, je.line);
		return STEPUP_ECONFIG;
	}
	if (!(s = json_object_get(root, "cases"))) {
		su_set_err(err, errlen, "no \"cases\" section");
		rc = STEPUP_ENOTFOUND;
		goto out;
	}
	if (!json_is_object(s)) {
		su_set_err(err, errlen, "cases: must be an object");
		rc = STEPUP_ECONFIG;
		goto out;
	}
	if ((rc = only_keys(&p, s, "", known)))
		goto out;
	if ((v = json_object_get(s, "store")) &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "sqlite") != 0)) {
		rc = bad(&p, "store", "must be \"sqlite\"");
		goto out;
	}
	if (!json_object_get(s, "path")) {
		rc = bad(&p, "path", "is required (the database file)");
		goto out;
	}
	char *path = NULL;
	if ((rc = get_str(&p, s, "path", "path", &path)))
		goto out;
	c->path = resolve(&p, path);
	free(path);
	if (!c->path) {
		rc = STEPUP_ENOMEM;
		goto out;
	}
	if ((v = json_object_get(s, "synchronous"))) {
		const char *t = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(t, "full") != 0 && strcmp(t, "normal") != 0) {
			rc = bad(&p, "synchronous", "must be \"normal\" or \"full\"");
			goto out;
		}
		c->synchronous_full = strcmp(t, "full") == 0;
	}
	if ((rc = get_uint(&p, s, "ttl_seconds", "ttl_seconds", 1, 30 * 86400, &c->ttl_seconds)) ||
	    (rc = get_uint(&p, s, "max_otp_sends", "max_otp_sends", 1, 100, &c->max_otp_sends)) ||
	    (rc = get_uint(&p, s, "busy_timeout_ms", "busy_timeout_ms", 0, 600000,
	                   &c->busy_timeout_ms)) ||
	    (rc = get_uint(&p, s, "sweep_interval_ms", "sweep_interval_ms", 50, 3600000,
	                   &c->sweep_interval_ms)) ||
	    (rc = get_uint(&p, s, "retention_days", "retention_days", 0, 3650, &c->retention_days)) ||
	    (rc = get_bool(&p, s, "background", "background", &c->background)))
		goto out;
	if ((v = json_object_get(s, "webhook")) && (rc = parse_webhook(&p, v, c)))
		goto out;
	if (!c->end_user.default_language && !(c->end_user.default_language = strdup("en"))) {
		rc = STEPUP_ENOMEM;
		goto out;
	}
	if ((v = json_object_get(s, "notify_end_user")) && (rc = parse_end_user(&p, v, c)))
		goto out;
	if ((v = json_object_get(s, "activation_codes")) && (rc = parse_codes(&p, v, c)))
		goto out;
	rc = STEPUP_OK;
out:
	json_decref(root);
	if (rc != STEPUP_OK)
		su_lc_config_free(c);
	return rc;
}

void su_lc_config_free(su_lc_config *c)
{
	free(c->path);
	free(c->webhook.url);
	if (c->webhook.secret) {
		explicit_bzero(c->webhook.secret, strlen(c->webhook.secret));
		free(c->webhook.secret);
	}
	for (size_t i = 0; c->webhook.headers && c->webhook.headers[i]; i++)
		free(c->webhook.headers[i]);
	free(c->webhook.headers);
	free(c->webhook.ca_file);
	free(c->end_user.default_language);
	for (size_t i = 0; i < c->end_user.ntemplates; i++) {
		free(c->end_user.templates[i].language);
		free(c->end_user.templates[i].text);
	}
	free(c->end_user.templates);
	for (size_t i = 0; i < c->end_user.nwallet_names; i++) {
		free(c->end_user.wallet_names[i].key);
		free(c->end_user.wallet_names[i].value);
	}
	free(c->end_user.wallet_names);
	explicit_bzero(c->codes.key, sizeof(c->codes.key));
	memset(c, 0, sizeof(*c));
}

static const char *find_template(const su_lc_config *c, const char *lang, size_t n)
{
	for (size_t i = 0; i < c->end_user.ntemplates; i++)
		if (strlen(c->end_user.templates[i].language) == n &&
		    strncasecmp(c->end_user.templates[i].language, lang, n) == 0)
			return c->end_user.templates[i].text;
	return NULL;
}

const char *su_lc_template(const su_lc_config *c, const char *language)
{
	const char *t;
	char norm[64];
	language = su_lc_language(language, norm, sizeof(norm));
	if (language[0]) {
		if ((t = find_template(c, language, strlen(language))))
			return t;
		size_t primary = strcspn(language, "-_");
		if (primary < strlen(language) && (t = find_template(c, language, primary)))
			return t;
	}
	const char *d = c->end_user.default_language;
	return d ? find_template(c, d, strlen(d)) : NULL;
}

const char *su_lc_wallet_name(const su_lc_config *c, const char *tr_name)
{
	static const su_name known[] = {
		{ "APPLE_PAY", "Apple Pay" },     { "GOOGLE_PAY", "Google Pay" },
		{ "ANDROID_PAY", "Google Pay" },  { "SAMSUNG_PAY", "Samsung Pay" },
		{ "GARMIN_PAY", "Garmin Pay" },   { "FITBIT_PAY", "Fitbit Pay" },
		{ "MICROSOFT_PAY", "Microsoft Pay" }, { "PAYPAL", "PayPal" },
		{ "CLICK_TO_PAY", "Click to Pay" },
	};
	if (!tr_name || !tr_name[0])
		return "your wallet";
	for (size_t i = 0; i < c->end_user.nwallet_names; i++)
		if (strcmp(c->end_user.wallet_names[i].key, tr_name) == 0)
			return c->end_user.wallet_names[i].value;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].key, tr_name) == 0)
			return known[i].value;
	return tr_name;
}
