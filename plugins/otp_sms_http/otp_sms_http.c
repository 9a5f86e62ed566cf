/* otp_sms_http.c: the reference OTP_SMS channel (issue 3): renders the
 * OTP message from a per-language template and posts it to an HTTP SMS
 * gateway with libcurl. See plugins/otp_sms_http/README.md.
 *
 * What is shared with the other reference plugins (configuration helpers,
 * templates, the HTTP POST, the circuit breaker) is in plugins/common;
 * this file holds what is SMS: E.164 destinations and prefixes, the
 * request's fields as JSON or a form.
 *
 * The configuration is read-only after init(); the only shared mutable
 * state is the circuit breaker (plugin_breaker.h). One libcurl handle per
 * call (plugin_curl.h).
 *
 * PII: the destination, the OTP and the message text never reach
 * host->log() or ctx->err. Neither does the gateway's answer (gateways
 * like to echo the number back) nor libcurl's error buffer (it quotes the
 * URL, which may carry an API key): reasons are our own fixed texts plus
 * curl_easy_strerror(), which is generic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <stepup/plugin.h>

#include "plugin_breaker.h"
#include "plugin_config.h"
#include "plugin_curl.h"
#include "plugin_http.h"
#include "plugin_otp.h"
#include "plugin_template.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define SMS_NAME "otp_sms_http"
#define SMS_VERSION "1.0.0"
#define SMS_MAX_TEMPLATE 1600 /* ten concatenated SMS parts */
#define SMS_MAX_TEXT 1600

enum { FMT_JSON, FMT_FORM };

typedef struct sms_template {
	char *lang; /* first: see spc_lang_pick() */
	char *text;
} sms_template;
_Static_assert(offsetof(sms_template, lang) == 0, "spc_lang_* want lang first");

typedef struct sms_pair {
	char *name, *value;
} sms_pair;

typedef struct sms_state {
	spc_plugin base; /* first: see spc_curl_state_new() */
	spc_http http; /* url, auth, proxy, ca_file */
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
	unsigned max_segments; /* the gateway's limit in SMS parts, 0: none */
	spc_strlist prefixes;
	spc_breaker breaker;
} sms_state;
_Static_assert(offsetof(sms_state, base) == 0, "spc_curl_state_new wants base first");

/* ---- validation of values --------------------------------------------------- */

/* A form/JSON field name: 1-64 of [A-Za-z0-9_.-]. */
static int is_field_name(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!spc_is_alpha(s[n]) && !spc_is_digit(s[n]) && s[n] != '_' && s[n] != '.' && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64;
}

/* ---- configuration -------------------------------------------------------------- */

static int cfg_request(json_t *root, sms_state *st, char *err, size_t errlen)
{
	char *format = NULL;
	if (spc_cfg_string(root, NULL, "format", 0, spc_is_any, "a string", &format, err, errlen) != 0)
		return -1;
	if (format && strcmp(format, "json") != 0 && strcmp(format, "form") != 0) {
		free(format);
		spc_set_err(err, errlen, "format: must be \"json\" or \"form\"");
		return -1;
	}
	st->format = format && strcmp(format, "form") == 0 ? FMT_FORM : FMT_JSON;
	free(format);

	json_t *f;
	if (spc_cfg_object(root, "fields", &f, err, errlen) != 0)
		return -1;
	if (f) {
		static const char *const keys[] = { "to", "text", "from", NULL };
		const char *what = "a field name of 1 to 64 letters, digits, '_', '.', '-'";
		if (spc_cfg_only_keys(f, "fields", keys, err, errlen) != 0 ||
		    spc_cfg_string(f, "fields", "to", 0, is_field_name, what, &st->f_to, err, errlen) != 0 ||
		    spc_cfg_string(f, "fields", "text", 0, is_field_name, what, &st->f_text, err, errlen) != 0 ||
		    spc_cfg_string(f, "fields", "from", 0, is_field_name, what, &st->f_from, err, errlen) != 0)
			return -1;
	}
	if ((!st->f_to && !(st->f_to = spc_strdup("to"))) ||
	    (!st->f_text && !(st->f_text = spc_strdup("text"))) ||
	    (!st->f_from && !(st->f_from = spc_strdup("from")))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	if (strcmp(st->f_to, st->f_text) == 0 || strcmp(st->f_to, st->f_from) == 0 ||
	    strcmp(st->f_text, st->f_from) == 0) {
		spc_set_err(err, errlen, "fields: 'to', 'text' and 'from' must be three different names");
		return -1;
	}
	if (spc_cfg_string(root, NULL, "sender", 0, spc_is_line, "non-empty text without controls",
			   &st->sender, err, errlen) != 0)
		return -1;

	json_t *x;
	if (spc_cfg_object(root, "extra_fields", &x, err, errlen) != 0)
		return -1;
	if (x && json_object_size(x)) {
		if (!(st->extra = calloc(json_object_size(x), sizeof(*st->extra)))) {
			spc_set_err(err, errlen, "out of memory");
			return -1;
		}
		const char *key;
		json_t *v;
		json_object_foreach(x, key, v)
		{
			if (!is_field_name(key)) {
				spc_set_err(err, errlen, "extra_fields: '%.64s' is not a field name of 1 to 64 "
					    "letters, digits, '_', '.', '-'", key);
				return -1;
			}
			if (strcmp(key, st->f_to) == 0 || strcmp(key, st->f_text) == 0 ||
			    (strcmp(key, st->f_from) == 0)) {
				spc_set_err(err, errlen, "extra_fields.%s: collides with a message field", key);
				return -1;
			}
			sms_pair *p = &st->extra[st->nextra];
			if (spc_cfg_string(x, "extra_fields", key, 1, spc_is_line, "non-empty text without controls",
					   &p->value, err, errlen) != 0)
				return -1;
			st->nextra++;
			if (!(p->name = spc_strdup(key))) {
				spc_set_err(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

/* templates.<lang>: one string. */
static int cfg_template(void *arg, json_t *obj, const char *lang, void *item, char *err, size_t errlen)
{
	const sms_state *st = arg;
	sms_template *tp = item;
	if (spc_cfg_string(obj, "templates", lang, 1, spc_is_text, "non-empty text", &tp->text, err, errlen) != 0 ||
	    spc_otp_template_check(lang, NULL, tp->text, 1, 0, st->issuer != NULL, err, errlen) != 0)
		return -1;
	if (strlen(tp->text) > SMS_MAX_TEMPLATE) {
		spc_set_err(err, errlen, "templates.%s: longer than %d bytes", lang, SMS_MAX_TEMPLATE);
		return -1;
	}
	return 0;
}

static int cfg_templates(json_t *root, sms_state *st, char *err, size_t errlen)
{
	char *def = NULL;
	json_t *t;
	int rc = -1;
	if (spc_cfg_string(root, NULL, "issuer_name", 0, spc_is_line, "non-empty text without controls",
			   &st->issuer, err, errlen) != 0 ||
	    spc_cfg_string(root, NULL, "default_language", 0, spc_is_language,
			   "a language tag like \"en\" or \"pt-BR\"", &def, err, errlen) != 0 ||
	    spc_cfg_nonempty_object(root, "templates", "an object of language -> template", &t, err, errlen) != 0)
		goto out;
	if (!(st->templates = calloc(json_object_size(t), sizeof(*st->templates)))) {
		spc_set_err(err, errlen, "out of memory");
		goto out;
	}
	if (spc_cfg_lang_variants(t, "templates", "en", st->templates, sizeof(*st->templates), &st->ntemplates,
				  cfg_template, st, err, errlen) == 0 &&
	    (st->def = spc_lang_default(st->templates, st->ntemplates, sizeof(*st->templates), def, err, errlen)))
		rc = 0;
out:
	free(def);
	return rc;
}

static int cfg_prefixes(json_t *root, sms_state *st, char *err, size_t errlen)
{
	return spc_cfg_strings(root, NULL, "allowed_prefixes", 0, spc_is_e164_prefix, "a prefix like \"+44\"",
			       "prefixes like \"+44\"", &st->prefixes, err, errlen);
}

static int parse_config(const char *config_json, sms_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "allow_http", "auth", "format", "fields",
					    "sender", "extra_fields", "issuer_name", "default_language",
					    "templates", "allowed_prefixes", "circuit_breaker", "proxy",
					    "ca_file", "max_segments", NULL };
	json_t *root = spc_cfg_load(config_json, err, errlen);
	if (!root)
		return -1;
	int rc = -1;
	if (spc_cfg_only_keys(root, NULL, keys, err, errlen) == 0 &&
	    spc_http_configure(root, &st->http, err, errlen) == 0 && cfg_request(root, st, err, errlen) == 0 &&
	    cfg_templates(root, st, err, errlen) == 0 && cfg_prefixes(root, st, err, errlen) == 0 &&
	    spc_breaker_configure(root, &st->breaker, err, errlen) == 0 &&
	    (!json_object_get(root, "max_segments") ||
	     spc_cfg_uint(root, NULL, "max_segments", 1, 255, &st->max_segments, err, errlen) == 0) &&
	    spc_http_configure_transport(root, &st->http, err, errlen) == 0)
		rc = 0;
	json_decref(root);
	return rc;
}

/* ---- init / fini ------------------------------------------------------------------ */

static void state_free(sms_state *st)
{
	if (!st)
		return;
	spc_http_free(&st->http);
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
	spc_strlist_free(&st->prefixes);
	spc_breaker_destroy(&st->breaker);
	spc_curl_state_free(&st->base);
}

static int sms_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	int rc;
	sms_state *st = spc_curl_state_new(&stepup_plugin, host, host_ctx, state, sizeof(*st), &rc, err, errlen);
	if (!st)
		return rc;
	spc_breaker_init(&st->breaker);
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: %s to host %s, %zu template(s), default language %s%s",
		st->format == FMT_FORM ? "form" : "json", st->http.host_name, st->ntemplates, st->def->lang,
		st->breaker.failures ? ", circuit breaker on" : "");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void sms_fini(void *state)
{
	state_free(state);
}

/* ---- the HTTP call ---------------------------------------------------------------------- */

static int form_add(spc_buf *b, CURL *h, const char *name, const char *value)
{
	char *n = curl_easy_escape(h, name, 0), *v = curl_easy_escape(h, value, 0);
	if (!n || !v) {
		curl_free(n);
		curl_free(v);
		return -1;
	}
	if (b->len)
		spc_buf_adds(b, "&");
	spc_buf_adds(b, n);
	spc_buf_adds(b, "=");
	spc_buf_adds(b, v);
	curl_free(n);
	curl_free(v);
	return b->oom ? -1 : 0;
}

/* The request body, malloc'd; NULL on allocation failure. */
static char *build_body(const sms_state *st, CURL *h, const char *to, const char *text)
{
	if (st->format == FMT_FORM) {
		spc_buf b = { 0 };
		int bad = form_add(&b, h, st->f_to, to) || form_add(&b, h, st->f_text, text) ||
			  (st->sender && form_add(&b, h, st->f_from, st->sender));
		for (size_t k = 0; k < st->nextra && !bad; k++)
			bad = form_add(&b, h, st->extra[k].name, st->extra[k].value);
		if (bad) {
			spc_buf_wipe(&b);
			return NULL;
		}
		return b.p ? b.p : spc_strdup("");
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

/* Post `text` to `to` under the deadline; returns a STEPUP_PLUGIN_*
 * status with the reason in ctx->err. */
static int post_sms(sms_state *st, const stepup_call_ctx *ctx, const char *to, const char *text)
{
	int64_t start = st->base.host->now_ms(), left;
	if (spc_breaker_refuses(&st->breaker, &st->base, ctx, start, "gateway"))
		return STEPUP_PLUGIN_UNAVAILABLE;
	int rc = spc_curl_budget(SMS_NAME, ctx, start, &left);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	CURL *h = curl_easy_init();
	char *body = NULL;
	rc = STEPUP_PLUGIN_ERROR;
	if (!h || !(body = build_body(st, h, to, text))) {
		spc_ctx_err(SMS_NAME, ctx, "out of memory");
		goto out;
	}
	int form = st->format == FMT_FORM;
	const char *headers[] = { form ? "Content-Type: application/x-www-form-urlencoded"
				       : "Content-Type: application/json",
				  form ? NULL : "Accept: application/json", "Expect:", st->http.auth_header };
	spc_http_post post = { "gateway", "sent", "send failed", headers, sizeof(headers) / sizeof(*headers),
			      body, start, left };
	int systemic;
	rc = spc_http_send(&st->base, &st->http, h, ctx, &post, &systemic);
	/* Only failures that say something about the gateway count; a 400 for
	 * one odd message does not. */
	if (rc == STEPUP_PLUGIN_OK || systemic)
		spc_breaker_record(&st->breaker, &st->base, rc != STEPUP_PLUGIN_OK);
out:
	if (body) /* it holds the OTP */
		explicit_bzero(body, strlen(body));
	free(body);
	curl_easy_cleanup(h);
	return rc;
}

/* ---- message length ---------------------------------------------------------------------
 * An SMS carries 160 characters of the GSM 7-bit alphabet (153 a part once
 * split, the rest is the concatenation header), or 70 UCS-2 characters
 * (67 a part) as soon as one character is outside it: Japanese, emoji,
 * most accents. Characters of the GSM extension table take two septets,
 * characters outside the Basic Multilingual Plane two UCS-2 units. */

/* GSM 03.38 basic set beyond ASCII letters and digits, as code points. */
static int gsm_basic(uint32_t c)
{
	static const uint32_t extra[] = { '@', 0xA3, '$', 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, '\n', 0xD8, 0xF8,
		'\r', 0xC5, 0xE5, 0x394, '_', 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6,
		0xDF, 0xC9, ' ', '!', '"', '#', 0xA4, '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', ':', ';',
		'<', '=', '>', '?', 0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF, 0xE4, 0xF6, 0xF1, 0xFC, 0xE0 };
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (extra[i] == c)
			return 1;
	return 0;
}

static int gsm_extension(uint32_t c)
{
	return c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~' || c == ']' || c == '|' ||
	       c == 0x20AC || c == '\f';
}

/* The SMS parts text needs; *ucs2 says which alphabet it takes. */
static unsigned sms_segments(const char *text, int *ucs2)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t septets = 0, units = 0;
	int gsm = 1;
	while (*p) {
		uint32_t c = *p;
		int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		c = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
		for (int k = 1; k < n && p[k]; k++)
			c = c << 6 | (p[k] & 0x3F);
		p += n;
		units += c > 0xFFFF ? 2 : 1;
		if (gsm_basic(c))
			septets++;
		else if (gsm_extension(c))
			septets += 2;
		else
			gsm = 0;
	}
	*ucs2 = !gsm;
	if (gsm)
		return septets <= 160 ? 1 : (unsigned)((septets + 152) / 153);
	return units <= 70 ? 1 : (unsigned)((units + 66) / 67);
}

/* 0 if text fits the gateway's limit, else EINVAL with the count (never
 * the text) in ctx->err. */
static int check_length(const sms_state *st, const stepup_call_ctx *ctx, const char *text)
{
	int ucs2;
	unsigned n = sms_segments(text, &ucs2);
	spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "message of %u SMS part%s (%s)", n, n == 1 ? "" : "s",
		ucs2 ? "UCS-2, 70 characters a part" : "GSM 7-bit, 160 characters a part");
	if (st->max_segments && n > st->max_segments) {
		spc_ctx_err(SMS_NAME, ctx, "the message needs %u SMS parts (%s), over the gateway's limit of %u "
			    "(max_segments)", n, ucs2 ? "UCS-2: 70 characters, 67 once split" : "GSM 7-bit",
			    st->max_segments);
		return STEPUP_PLUGIN_EINVAL;
	}
	return STEPUP_PLUGIN_OK;
}

/* ---- the interface -------------------------------------------------------------------- */

/* 0 if `to` may be served, else a status with the reason in ctx->err. */
static int check_destination(const sms_state *st, const stepup_call_ctx *ctx, const char *to,
			     int bad_syntax_status)
{
	if (!spc_is_e164(to)) {
		spc_ctx_err(SMS_NAME, ctx, "destination is not an E.164 number");
		return bad_syntax_status;
	}
	if (!spc_has_prefix(to, st->prefixes.v, st->prefixes.n)) {
		spc_ctx_err(SMS_NAME, ctx, "destination country is not in allowed_prefixes");
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	return STEPUP_PLUGIN_OK;
}

static int sms_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	sms_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (destination) {
		int rc = check_destination(st, ctx, destination, STEPUP_PLUGIN_UNAVAILABLE);
		if (rc != STEPUP_PLUGIN_OK)
			return rc;
	}
	if (spc_breaker_refuses(&st->breaker, &st->base, ctx, st->base.host->now_ms(), "gateway"))
		return STEPUP_PLUGIN_UNAVAILABLE;
	return STEPUP_PLUGIN_OK;
}

static int sms_deliver_otp(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	sms_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	int rc = spc_otp_message_ok(SMS_NAME, ctx, msg);
	if (rc == STEPUP_PLUGIN_OK)
		rc = check_destination(st, ctx, msg->destination, STEPUP_PLUGIN_EINVAL);
	spc_otp_vars vars;
	if (rc == STEPUP_PLUGIN_OK)
		rc = spc_otp_vars_set(SMS_NAME, ctx, msg, st->issuer, &vars);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	const sms_template *t = spc_lang_pick(st->templates, st->ntemplates, sizeof(*st->templates),
					      msg->language);
	if (!t)
		t = st->def;
	spc_buf text = { 0 };
	if (spc_otp_render(t->text, &vars, &text) != 0 || !text.p) {
		spc_buf_wipe(&text);
		spc_ctx_err(SMS_NAME, ctx, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "OTP message in '%s' for language '%.16s'", t->lang,
		msg->language && spc_is_language(msg->language) ? msg->language : "");
	rc = check_length(st, ctx, text.p);
	if (rc == STEPUP_PLUGIN_OK)
		rc = post_sms(st, ctx, msg->destination, text.p);
	/* The rendered text holds the OTP: do not leave it in freed memory. */
	spc_buf_wipe(&text);
	return rc;
}

static int sms_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language)
{
	sms_state *st = state;
	(void)language; /* the host localised the text already */
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!destination || !text) {
		spc_ctx_err(SMS_NAME, ctx, "no destination or no text");
		return STEPUP_PLUGIN_EINVAL;
	}
	int rc = check_destination(st, ctx, destination, STEPUP_PLUGIN_EINVAL);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (!*text || !spc_is_utf8(text, SMS_MAX_TEXT)) {
		spc_ctx_err(SMS_NAME, ctx, "text must be 1 to %d bytes of UTF-8", SMS_MAX_TEXT);
		return STEPUP_PLUGIN_EINVAL;
	}
	if ((rc = check_length(st, ctx, text)) != STEPUP_PLUGIN_OK)
		return rc;
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
	.name = SMS_NAME,
	.version = SMS_VERSION,
	.init = sms_init,
	.fini = sms_fini,
	.functions = NULL,
	.otp = &sms_otp,
};
