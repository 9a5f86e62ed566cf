/* otp_email_smtp.c: the reference OTP_EMAIL channel (issue 3): renders
 * the OTP e-mail from per-language subject and body templates and submits
 * it over SMTP with libcurl. See plugins/otp_email_smtp/README.md.
 *
 * The message is built here, complete: RFC 5322 headers (Date, From, To,
 * Subject, Message-ID, MIME-Version, Content-Type, Content-Transfer-
 * Encoding, Auto-Submitted), CRLF line ends, non-ASCII header text as RFC
 * 2047 encoded words, the body quoted-printable (or 8bit). libcurl does the
 * SMTP dialogue, including dot-stuffing and the final ".".
 *
 * What it shares with the other reference plugins (configuration helpers,
 * templates and languages, deadlines, the circuit breaker) is in
 * plugins/common; this file holds what is e-mail: addresses, the message
 * and the SMTP call. One easy handle per call (plugin_curl.h); the
 * configuration is read-only after init(); the circuit breaker is the
 * only shared mutable state (plugin_breaker.h).
 *
 * PII: addresses, the OTP and the message never reach host->log() or
 * ctx->err, nor does libcurl's error buffer (servers quote addresses in
 * their replies); reasons are fixed texts, SMTP reply codes and
 * curl_easy_strerror(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <stepup/plugin.h>

#include "plugin_breaker.h"
#include "plugin_config.h"
#include "plugin_curl.h"
#include "plugin_otp.h"
#include "plugin_template.h"
#include "plugin_text.h"
#include "plugin_util.h"

#define EML_NAME "otp_email_smtp"
#define EML_VERSION "1.0.0"
#define EML_MAX_TEMPLATE 16384
#define EML_MAX_TEXT 65536
#define EML_MAX_SUBJECT 200
#define EML_MAX_NAME 64
#define LINE_BUDGET 76 /* header and QP line length we aim for (RFC 5322: 78) */

enum { TLS_STARTTLS, TLS_IMPLICIT, TLS_NONE };
enum { CTE_QP, CTE_8BIT };

typedef struct eml_template {
	char *lang; /* first: see spc_lang_pick() */
	char *subject, *body, *notify_subject; /* notify_subject may be NULL */
} eml_template;
_Static_assert(offsetof(eml_template, lang) == 0, "spc_lang_* want lang first");

typedef struct eml_state {
	spc_plugin base; /* first: see spc_curl_state_new() */
	char *url;
	char *host_name; /* for log lines */
	int tls;
	char *user, *password;
	char *ca_file;
	char *from, *from_name, *msgid_domain;
	int cte;
	char *issuer;
	size_t ntemplates;
	eml_template *templates;
	const eml_template *def;
	spc_breaker breaker;
} eml_state;
_Static_assert(offsetof(eml_state, base) == 0, "spc_curl_state_new wants base first");

/* ---- validation of values ------------------------------------------------------- */

static int is_atext(int c)
{
	return spc_is_alpha(c) || spc_is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* addr-spec restricted to what a holder's address looks like: a dot-atom
 * local part (no quoted strings) of at most 64 bytes, '@', a domain of
 * two or more LDH labels (no address literals), 254 bytes in all, ASCII
 * only (no SMTPUTF8). */
static int is_address(const char *s)
{
	if (!s)
		return 0;
	const char *at = strchr(s, '@');
	if (!at || strchr(at + 1, '@'))
		return 0;
	size_t local = (size_t)(at - s);
	if (local < 1 || local > 64 || strlen(s) > 254)
		return 0;
	for (size_t k = 0; k < local; k++) {
		if (s[k] == '.') {
			if (k == 0 || k == local - 1 || s[k + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[k])) {
			return 0;
		}
	}
	const char *d = at + 1;
	size_t labels = 0;
	int tld_alpha = 0;
	for (;;) {
		size_t n = 0;
		tld_alpha = 0;
		while (spc_is_alpha(d[n]) || spc_is_digit(d[n]) || d[n] == '-') {
			tld_alpha |= spc_is_alpha(d[n]);
			n++;
		}
		if (n < 1 || n > 63 || d[0] == '-' || d[n - 1] == '-')
			return 0;
		labels++;
		d += n;
		if (*d == '\0')
			break;
		if (*d != '.')
			return 0;
		d++;
	}
	return labels >= 2 && tld_alpha;
}

static int is_name(const char *s)
{
	return spc_is_line(s) && strlen(s) <= EML_MAX_NAME;
}

static int is_domain(const char *s)
{
	char probe[300];
	if (strlen(s) > 250)
		return 0;
	snprintf(probe, sizeof(probe), "x@%s", s);
	return is_address(probe);
}

/* ---- message building --------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_add(spc_buf *b, const unsigned char *p, size_t n)
{
	for (size_t k = 0; k < n; k += 3) {
		unsigned v = (unsigned)p[k] << 16 | (k + 1 < n ? (unsigned)p[k + 1] << 8 : 0) |
			     (k + 2 < n ? p[k + 2] : 0);
		char q[4] = { b64chars[v >> 18 & 63], b64chars[v >> 12 & 63],
			      k + 1 < n ? b64chars[v >> 6 & 63] : '=', k + 2 < n ? b64chars[v & 63] : '=' };
		spc_buf_add(b, q, 4);
	}
}

static int needs_encoding(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 1;
	return 0;
}

/* Length of the longest prefix of s, at most max bytes, that does not cut
 * a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Append header text `s` after `used` columns already on the line:
 * printable ASCII as is, folded at spaces; anything else as RFC 2047
 * "B" encoded words of whole characters, one per folded line. Returns the
 * column the last line ends at. */
static size_t header_text(spc_buf *b, const char *s, size_t used)
{
	size_t len = strlen(s);
	if (!needs_encoding(s) && !strstr(s, "=?")) {
		size_t col = used;
		while (*s) {
			size_t w = strcspn(s + 1, " ") + 1; /* a word with its leading blank */
			if (col + w > LINE_BUDGET && col > used && *s == ' ') {
				spc_buf_adds(b, "\r\n");
				col = 0;
			}
			spc_buf_add(b, s, w);
			col += w;
			s += w;
		}
		return col;
	}
	int first = 1;
	size_t col = used;
	while (len) {
		/* "=?UTF-8?B?" + base64 + "?=": 12 columns of overhead */
		size_t room = LINE_BUDGET - (first ? used : 1) - 12;
		size_t n = utf8_cut(s, len, room / 4 * 3);
		if (n == 0) /* cannot happen with room >= 8, but never loop */
			n = len < 4 ? len : 4;
		if (!first)
			spc_buf_adds(b, "\r\n ");
		spc_buf_adds(b, "=?UTF-8?B?");
		b64_add(b, (const unsigned char *)s, n);
		spc_buf_adds(b, "?=");
		col = (first ? used : 1) + 12 + (n + 2) / 3 * 4;
		s += n;
		len -= n;
		first = 0;
	}
	return col;
}

/* The display name as a phrase: atoms as is, other ASCII as a quoted
 * string, non-ASCII as encoded words. Returns the column reached. */
static size_t header_phrase(spc_buf *b, const char *name, size_t used)
{
	int plain = 1, ascii = !needs_encoding(name) && !strstr(name, "=?");
	for (const char *p = name; *p; p++)
		if (!is_atext((unsigned char)*p) && *p != ' ')
			plain = 0;
	if (plain && ascii) {
		spc_buf_adds(b, name);
		return used + strlen(name);
	}
	if (!ascii)
		return header_text(b, name, used);
	size_t col = used + 2;
	spc_buf_addc(b, '"');
	for (const char *p = name; *p; p++, col++) {
		if (*p == '"' || *p == '\\') {
			spc_buf_addc(b, '\\');
			col++;
		}
		spc_buf_addc(b, *p);
	}
	spc_buf_addc(b, '"');
	return col;
}

/* Text with any line ends into CRLF lines: each line passed to emit(). */
typedef void (*line_fn)(spc_buf *out, const char *line, size_t len);

static size_t for_each_line(const char *s, spc_buf *out, line_fn emit)
{
	size_t longest = 0;
	while (*s) {
		size_t n = strcspn(s, "\r\n");
		emit(out, s, n);
		if (n > longest)
			longest = n;
		s += n;
		if (*s == '\r' && s[1] == '\n')
			s += 2;
		else if (*s)
			s++;
	}
	return longest;
}

static void line_8bit(spc_buf *out, const char *line, size_t len)
{
	spc_buf_add(out, line, len);
	spc_buf_adds(out, "\r\n");
}

/* RFC 2045 quoted-printable, encoded lines of at most 76 columns. */
static void line_qp(spc_buf *out, const char *line, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)line[k];
		int last = k + 1 == len;
		char tok[3];
		size_t tl;
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
			tok[0] = (char)c;
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		}
		/* Room for the token plus a possible soft break "=" after it. */
		if (col + tl > (last ? LINE_BUDGET : LINE_BUDGET - 1)) {
			spc_buf_adds(out, "=\r\n");
			col = 0;
		}
		spc_buf_add(out, tok, tl);
		col += tl;
	}
	spc_buf_adds(out, "\r\n");
}

static void add_date(spc_buf *b)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char d[64];
	/* Fixed English names: strftime's %a/%b follow the locale. */
	snprintf(d, sizeof(d), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	spc_buf_adds(b, d);
}

static void add_message_id(spc_buf *b, const char *domain)
{
	unsigned char r[12];
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet (early boot): unique enough from the clock. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		for (size_t k = 0; k < sizeof(r); k++)
			r[k] = (unsigned char)(v >> (8 * (k % 8)) ^ (uintptr_t)&r >> k);
	}
	char id[64];
	size_t n = 0;
	for (size_t k = 0; k < sizeof(r); k++)
		n += (size_t)snprintf(id + n, sizeof(id) - n, "%02x", r[k]);
	spc_buf_adds(b, "Message-ID: <");
	spc_buf_add(b, id, n);
	spc_buf_addc(b, '.');
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	spc_buf_adds(b, t);
	spc_buf_addc(b, '@');
	spc_buf_adds(b, domain);
	spc_buf_adds(b, ">\r\n");
}

/* The whole message into *out; -1 if a line of an 8bit body is too long
 * (RFC 5322: 998) or memory ran out. */
static int build_message(const eml_state *st, const char *to, const char *subject, const char *body,
			 spc_buf *out)
{
	add_date(out);
	spc_buf_adds(out, "From: ");
	if (st->from_name) {
		size_t col = header_phrase(out, st->from_name, 6);
		/* " <address>" on its own folded line when it would not fit */
		spc_buf_adds(out, col + 3 + strlen(st->from) > LINE_BUDGET ? "\r\n <" : " <");
	}
	spc_buf_adds(out, st->from);
	spc_buf_adds(out, st->from_name ? ">\r\n" : "\r\n");
	spc_buf_adds(out, "To: ");
	spc_buf_adds(out, to);
	spc_buf_adds(out, "\r\nSubject: ");
	header_text(out, subject, 9);
	spc_buf_adds(out, "\r\n");
	add_message_id(out, st->msgid_domain);
	spc_buf_adds(out, "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=UTF-8\r\n");
	spc_buf_adds(out, st->cte == CTE_QP ? "Content-Transfer-Encoding: quoted-printable\r\n"
				       : "Content-Transfer-Encoding: 8bit\r\n");
	/* RFC 3834: tells auto-responders not to answer. */
	spc_buf_adds(out, "Auto-Submitted: auto-generated\r\n\r\n");
	size_t longest = for_each_line(body, out, st->cte == CTE_QP ? line_qp : line_8bit);
	if (st->cte == CTE_8BIT && longest > 998)
		return -1;
	return out->oom ? -1 : 0;
}

/* ---- configuration ------------------------------------------------------------------ */

static int cfg_server(json_t *root, eml_state *st, char *err, size_t errlen)
{
	if (spc_cfg_string(root, NULL, "url", 1, spc_is_line, "a URL", &st->url, err, errlen) != 0)
		return -1;
	char *scheme = NULL, *tls = NULL;
	int has_user = 0, rc = -1;
	int split = spc_url_split(st->url, &scheme, &st->host_name, &has_user);
	if (split == SPC_URL_NOMEM) {
		spc_set_err(err, errlen, "out of memory");
		goto out;
	}
	if (split != SPC_URL_OK || (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)) {
		spc_set_err(err, errlen, "url: must be an smtp:// or smtps:// URL");
		goto out;
	}
	if (has_user) {
		spc_set_err(err, errlen, "url: must not carry credentials (use \"login\")");
		goto out;
	}
	int smtps = strcmp(scheme, "smtps") == 0;
	if (spc_cfg_string(root, NULL, "tls", 0, spc_is_line, "a string", &tls, err, errlen) != 0)
		goto out;
	if (!tls)
		st->tls = smtps ? TLS_IMPLICIT : TLS_STARTTLS;
	else if (strcmp(tls, "starttls") == 0 && !smtps)
		st->tls = TLS_STARTTLS;
	else if (strcmp(tls, "none") == 0 && !smtps)
		st->tls = TLS_NONE;
	else if (strcmp(tls, "implicit") == 0 && smtps)
		st->tls = TLS_IMPLICIT;
	else {
		spc_set_err(err, errlen, "%s",
			    smtps ? "tls: must be \"implicit\" with smtps://"
				  : "tls: must be \"starttls\" or \"none\" with smtp:// (use smtps:// for implicit TLS)");
		goto out;
	}
	rc = 0;
out:
	free(tls);
	free(scheme);
	return rc;
}

static int cfg_login(json_t *root, eml_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "user", "password", NULL };
	int insecure = 0;
	json_t *l;
	if (spc_cfg_bool(root, NULL, "allow_insecure_login", &insecure, err, errlen) != 0 ||
	    spc_cfg_object(root, "login", &l, err, errlen) != 0)
		return -1;
	if (!l)
		return 0;
	if (spc_cfg_only_keys(l, "login", keys, err, errlen) != 0 ||
	    spc_cfg_string(l, "login", "user", 1, spc_is_line, "non-empty text without controls", &st->user,
			   err, errlen) != 0 ||
	    spc_cfg_string(l, "login", "password", 1, spc_is_line, "non-empty text without controls",
			   &st->password, err, errlen) != 0)
		return -1;
	if (st->tls == TLS_NONE && !insecure) {
		spc_set_err(err, errlen, "login: refused over a connection without TLS "
			    "(set \"allow_insecure_login\": true to allow it)");
		return -1;
	}
	return 0;
}

static int cfg_sender(json_t *root, eml_state *st, char *err, size_t errlen)
{
	if (spc_cfg_string(root, NULL, "from", 1, is_address, "an e-mail address like \"otp@bank.example\"",
			   &st->from, err, errlen) != 0 ||
	    spc_cfg_string(root, NULL, "from_name", 0, is_name, "1 to 64 bytes of text without controls",
			   &st->from_name, err, errlen) != 0 ||
	    spc_cfg_string(root, NULL, "message_id_domain", 0, is_domain,
			   "a domain name like \"bank.example\"", &st->msgid_domain, err, errlen) != 0)
		return -1;
	if (!st->msgid_domain && !(st->msgid_domain = spc_strdup(strchr(st->from, '@') + 1))) {
		spc_set_err(err, errlen, "out of memory");
		return -1;
	}
	char *cte = NULL;
	if (spc_cfg_string(root, NULL, "transfer_encoding", 0, spc_is_line, "a string", &cte, err, errlen) != 0)
		return -1;
	if (cte && strcmp(cte, "quoted-printable") != 0 && strcmp(cte, "8bit") != 0) {
		free(cte);
		spc_set_err(err, errlen, "transfer_encoding: must be \"quoted-printable\" or \"8bit\"");
		return -1;
	}
	st->cte = cte && strcmp(cte, "8bit") == 0 ? CTE_8BIT : CTE_QP;
	free(cte);
	return 0;
}

static int is_subject(const char *s)
{
	return spc_is_line(s) && strlen(s) <= EML_MAX_SUBJECT;
}

static int is_body(const char *s)
{
	return spc_is_text(s) && strlen(s) <= EML_MAX_TEMPLATE;
}

/* templates.<lang>: {subject, body, notify_subject?}. */
static int cfg_template(void *arg, json_t *obj, const char *lang, void *item, char *err, size_t errlen)
{
	static const char *const keys[] = { "subject", "body", "notify_subject", NULL };
	const eml_state *st = arg;
	eml_template *tp = item;
	const char *line = "one line of at most 200 bytes";
	json_t *v = json_object_get(obj, lang);
	char where[64];
	snprintf(where, sizeof(where), "templates.%s", lang);
	if (!json_is_object(v)) {
		spc_set_err(err, errlen, "%s: must be an object with subject and body", where);
		return -1;
	}
	if (spc_cfg_only_keys(v, where, keys, err, errlen) != 0 ||
	    spc_cfg_string(v, where, "subject", 1, is_subject, line, &tp->subject, err, errlen) != 0 ||
	    spc_cfg_string(v, where, "body", 1, is_body, "non-empty text of at most 16384 bytes", &tp->body,
			   err, errlen) != 0 ||
	    spc_cfg_string(v, where, "notify_subject", 0, is_subject, line, &tp->notify_subject, err,
			   errlen) != 0)
		return -1;
	int issuer = st->issuer != NULL;
	if (spc_otp_template_check(lang, "subject", tp->subject, 0, 1, issuer, err, errlen) != 0 ||
	    spc_otp_template_check(lang, "body", tp->body, 1, 0, issuer, err, errlen) != 0)
		return -1;
	/* A notification subject has no OTP to show: plain text. */
	if (tp->notify_subject && (strchr(tp->notify_subject, '{') || strchr(tp->notify_subject, '}'))) {
		spc_set_err(err, errlen, "%s.notify_subject: takes no placeholders", where);
		return -1;
	}
	return 0;
}

static int cfg_templates(json_t *root, eml_state *st, char *err, size_t errlen)
{
	char *def = NULL;
	json_t *t;
	int rc = -1;
	if (spc_cfg_string(root, NULL, "issuer_name", 0, is_name, "1 to 64 bytes of text without controls",
			   &st->issuer, err, errlen) != 0 ||
	    spc_cfg_string(root, NULL, "default_language", 0, spc_is_language,
			   "a language tag like \"en\" or \"pt-BR\"", &def, err, errlen) != 0 ||
	    spc_cfg_nonempty_object(root, "templates", "an object of language -> {subject, body}", &t, err,
				    errlen) != 0)
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

static int parse_config(const char *config_json, eml_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "tls", "login", "allow_insecure_login", "from",
					    "from_name", "message_id_domain", "transfer_encoding",
					    "issuer_name", "default_language", "templates",
					    "circuit_breaker", "ca_file", NULL };
	json_t *root = spc_cfg_load(config_json, err, errlen);
	if (!root)
		return -1;
	int rc = -1;
	if (spc_cfg_only_keys(root, NULL, keys, err, errlen) == 0 && cfg_server(root, st, err, errlen) == 0 &&
	    cfg_login(root, st, err, errlen) == 0 && cfg_sender(root, st, err, errlen) == 0 &&
	    cfg_templates(root, st, err, errlen) == 0 &&
	    spc_breaker_configure(root, &st->breaker, err, errlen) == 0 &&
	    spc_cfg_ca_file(root, &st->ca_file, err, errlen) == 0)
		rc = 0;
	json_decref(root);
	return rc;
}

/* ---- init / fini ---------------------------------------------------------------------- */

static void state_free(eml_state *st)
{
	if (!st)
		return;
	free(st->url);
	free(st->host_name);
	free(st->user);
	free(st->password);
	free(st->ca_file);
	free(st->from);
	free(st->from_name);
	free(st->msgid_domain);
	free(st->issuer);
	for (size_t k = 0; k < st->ntemplates; k++) {
		free(st->templates[k].lang);
		free(st->templates[k].subject);
		free(st->templates[k].body);
		free(st->templates[k].notify_subject);
	}
	free(st->templates);
	spc_breaker_destroy(&st->breaker);
	spc_curl_state_free(&st->base);
}

static int eml_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	int rc;
	eml_state *st = spc_curl_state_new(&stepup_plugin, host, host_ctx, state, sizeof(*st), &rc, err, errlen);
	if (!st)
		return rc;
	spc_breaker_init(&st->breaker);
	if (parse_config(config_json, st, err, errlen) != 0) {
		state_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	static const char *const tls_names[] = { "STARTTLS", "implicit TLS", "no TLS" };
	spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: host %s with %s%s, %zu template(s), default language %s",
		st->host_name, tls_names[st->tls], st->user ? " and login" : "", st->ntemplates, st->def->lang);
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void eml_fini(void *state)
{
	state_free(state);
}

/* ---- the SMTP call ------------------------------------------------------------------------ */

typedef struct reader {
	const char *p;
	size_t left;
} reader;

static size_t read_cb(char *dst, size_t size, size_t n, void *arg)
{
	reader *r = arg;
	size_t k = size * n < r->left ? size * n : r->left;
	memcpy(dst, r->p, k);
	r->p += k;
	r->left -= k;
	return k;
}

/* "<addr>", malloc'd. */
static char *angle(const char *addr)
{
	size_t n = strlen(addr);
	char *p = malloc(n + 3);
	if (p) {
		p[0] = '<';
		memcpy(p + 1, addr, n);
		memcpy(p + 1 + n, ">", 2);
	}
	return p;
}

static int send_mail(eml_state *st, const stepup_call_ctx *ctx, const char *to, const char *message,
		     size_t len)
{
	int64_t start = st->base.host->now_ms(), left;
	if (spc_breaker_refuses(&st->breaker, &st->base, ctx, start, "server"))
		return STEPUP_PLUGIN_UNAVAILABLE;
	int rc = spc_curl_budget(EML_NAME, ctx, start, &left);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	CURL *h = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	char *from = NULL, *rcpt_path = NULL;
	int systemic = 0;
	rc = STEPUP_PLUGIN_ERROR;
	if (!h || !(from = angle(st->from)) || !(rcpt_path = angle(to)) ||
	    !(rcpt = curl_slist_append(NULL, rcpt_path))) {
		spc_ctx_err(EML_NAME, ctx, "out of memory");
		goto out;
	}
	reader rd = { message, len };
	/* No proxy, whatever the environment says: the message goes to the
	 * configured server only. */
	spc_curl_setup(h, st->url, left, st->tls == TLS_IMPLICIT ? "smtps" : "smtp", NULL, st->ca_file);
	if (st->tls == TLS_STARTTLS)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (st->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, st->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, st->password);
	}
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &rd);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);

	CURLcode cc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	int64_t took = st->base.host->now_ms() - start;
	char why[160] = "";
	if (cc == CURLE_OK) {
		rc = STEPUP_PLUGIN_OK;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, sizeof(why), "no answer from the server within the deadline (%lld ms)",
			 (long long)left);
		rc = STEPUP_PLUGIN_TIMEOUT;
		systemic = 1;
	} else if (cc == CURLE_USE_SSL_FAILED) {
		snprintf(why, sizeof(why), "server does not offer STARTTLS");
		systemic = 1;
	} else if (cc == CURLE_LOGIN_DENIED) {
		snprintf(why, sizeof(why), "server refused the login (SMTP %ld)", code);
		systemic = 1;
	} else if (code >= 400 && code < 500) {
		snprintf(why, sizeof(why), "server answered SMTP %ld (temporary failure)", code);
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else if (code >= 500) {
		snprintf(why, sizeof(why), "server answered SMTP %ld", code);
	} else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
		   cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
		   cc == CURLE_WEIRD_SERVER_REPLY) {
		snprintf(why, sizeof(why), "server unreachable: %s", curl_easy_strerror(cc));
		rc = STEPUP_PLUGIN_UNAVAILABLE;
		systemic = 1;
	} else {
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
		systemic = 1;
	}
	if (rc == STEPUP_PLUGIN_OK)
		spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "sent (%zu bytes, %lld ms)", len, (long long)took);
	else
		spc_report_failure(&st->base, ctx, "send failed", took, why);
	/* A 5xx for one recipient says nothing about the server. */
	if (rc == STEPUP_PLUGIN_OK || systemic)
		spc_breaker_record(&st->breaker, &st->base, rc != STEPUP_PLUGIN_OK);
out:
	curl_slist_free_all(rcpt);
	free(from);
	free(rcpt_path);
	curl_easy_cleanup(h);
	return rc;
}

/* ---- the interface ------------------------------------------------------------------------ */

static int eml_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	eml_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (destination && !is_address(destination)) {
		spc_ctx_err(EML_NAME, ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	if (spc_breaker_refuses(&st->breaker, &st->base, ctx, st->base.host->now_ms(), "server"))
		return STEPUP_PLUGIN_UNAVAILABLE;
	return STEPUP_PLUGIN_OK;
}

static int deliver(eml_state *st, const stepup_call_ctx *ctx, const char *to, const char *subject,
		   const char *body)
{
	spc_buf msg = { 0 };
	if (build_message(st, to, subject, body, &msg) != 0) {
		int oom = msg.oom;
		spc_buf_wipe(&msg);
		if (oom) {
			spc_ctx_err(EML_NAME, ctx, "out of memory");
			return STEPUP_PLUGIN_ERROR;
		}
		spc_ctx_err(EML_NAME, ctx, "a line of the text is longer than 998 bytes (use quoted-printable)");
		return STEPUP_PLUGIN_EINVAL;
	}
	int rc = send_mail(st, ctx, to, msg.p, msg.len);
	spc_buf_wipe(&msg);
	return rc;
}

/* The template for `language`, else the default one. */
static const eml_template *pick_template(const eml_state *st, const char *language)
{
	const eml_template *t = spc_lang_pick(st->templates, st->ntemplates, sizeof(*st->templates), language);
	return t ? t : st->def;
}

static int eml_deliver_otp(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	eml_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	int rc = spc_otp_message_ok(EML_NAME, ctx, msg);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (!is_address(msg->destination)) {
		spc_ctx_err(EML_NAME, ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_EINVAL;
	}
	spc_otp_vars vars;
	rc = spc_otp_vars_set(EML_NAME, ctx, msg, st->issuer, &vars);
	if (rc != STEPUP_PLUGIN_OK)
		return rc;

	const eml_template *t = pick_template(st, msg->language);
	spc_buf subject = { 0 }, body = { 0 };
	if (spc_otp_render(t->subject, &vars, &subject) != 0 || spc_otp_render(t->body, &vars, &body) != 0 ||
	    !subject.p || !body.p) {
		spc_ctx_err(EML_NAME, ctx, "out of memory");
		rc = STEPUP_PLUGIN_ERROR;
	} else {
		spc_log(&st->base, STEPUP_PLUGIN_LOG_DEBUG, "OTP message in '%s' for language '%.16s'", t->lang,
			msg->language && spc_is_language(msg->language) ? msg->language : "");
		rc = deliver(st, ctx, msg->destination, subject.p, body.p);
	}
	spc_buf_wipe(&subject);
	spc_buf_wipe(&body);
	return rc;
}

static int eml_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language)
{
	eml_state *st = state;
	if (!st || !spc_ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!destination || !text) {
		spc_ctx_err(EML_NAME, ctx, "no destination or no text");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!is_address(destination)) {
		spc_ctx_err(EML_NAME, ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!*text || !spc_is_utf8(text, EML_MAX_TEXT)) {
		spc_ctx_err(EML_NAME, ctx, "text must be 1 to %d bytes of UTF-8", EML_MAX_TEXT);
		return STEPUP_PLUGIN_EINVAL;
	}
	for (const char *p = text; *p; p++)
		if (((unsigned char)*p < 0x20 && !strchr("\r\n\t", *p)) || *p == 0x7f) {
			spc_ctx_err(EML_NAME, ctx, "text has control characters");
			return STEPUP_PLUGIN_EINVAL;
		}
	const eml_template *t = pick_template(st, language);
	const char *subject = t->notify_subject;
	if (!subject)
		subject = st->def->notify_subject;
	if (!subject)
		subject = st->issuer ? st->issuer : "Notification";
	return deliver(st, ctx, destination, subject, text);
}

static const stepup_otp_channel eml_otp = {
	.size = sizeof(stepup_otp_channel),
	.can_deliver = eml_can_deliver,
	.deliver_otp = eml_deliver_otp,
	.notify = eml_notify,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = EML_NAME,
	.version = EML_VERSION,
	.init = eml_init,
	.fini = eml_fini,
	.functions = NULL,
	.otp = &eml_otp,
};
