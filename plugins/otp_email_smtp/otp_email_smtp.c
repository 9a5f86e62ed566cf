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
 * One easy handle per call, CURLOPT_NOSIGNAL (calls come from several
 * threads); the configuration is read-only after init(); the circuit
 * breaker is the only shared mutable state, under a mutex.
 *
 * PII: addresses, the OTP and the message never reach host->log() or
 * ctx->err, nor does libcurl's error buffer (servers quote addresses in
 * their replies); reasons are fixed texts, SMTP reply codes and
 * curl_easy_strerror(). */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <stepup/plugin.h>

#define EML_NAME "otp_email_smtp"
#define EML_VERSION "1.0.0"
#define EML_MAX_CALL_MS 60000
#define EML_MAX_TEMPLATE 16384
#define EML_MAX_TEXT 65536
#define EML_MAX_OTP 32
#define EML_MAX_SUBJECT 200
#define EML_MAX_NAME 64
#define LINE_BUDGET 76 /* header and QP line length we aim for (RFC 5322: 78) */

enum { TLS_STARTTLS, TLS_IMPLICIT, TLS_NONE };
enum { CTE_QP, CTE_8BIT };
enum { V_OTP, V_PAN_SUFFIX, V_EXPIRY, V_ISSUER, V_COUNT };
static const char *const var_names[V_COUNT] = { "otp", "pan_suffix", "expiry_minutes", "issuer" };

typedef struct eml_template {
	char *lang;
	char *subject, *body, *notify_subject; /* notify_subject may be NULL */
} eml_template;

typedef struct eml_state {
	const stepup_host_api *host;
	void *host_ctx;
	int curl_ready;
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
	unsigned cb_failures, cb_open_seconds;
	pthread_mutex_t mu; /* guards the two fields below */
	unsigned failures;
	int64_t open_until_ms;
} eml_state;

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
	int n = snprintf(ctx->err, ctx->errlen, EML_NAME ": ");
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void logf_(const eml_state *st, int level, const char *fmt, ...)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), EML_NAME ": ");
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
		size_t cap = b->cap ? b->cap : 256;
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

static void sb_addc(sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

/* Wipe (the buffer may hold an OTP) and free. */
static void sb_wipe(sbuf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- validation of values ------------------------------------------------------- */

static int is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
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
		while (is_alpha(d[n]) || is_digit(d[n]) || d[n] == '-') {
			tld_alpha |= is_alpha(d[n]);
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

static int is_text(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r' && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

static int is_name(const char *s)
{
	return is_line(s) && strlen(s) <= EML_MAX_NAME;
}

static int is_domain(const char *s)
{
	char probe[300];
	if (strlen(s) > 250)
		return 0;
	snprintf(probe, sizeof(probe), "x@%s", s);
	return is_address(probe);
}

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

/* ---- templates ------------------------------------------------------------------ */

/* See otp_sms_http.c: literal runs, {placeholders}, "{{" and "}}". */
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

static const eml_template *pick_template(const eml_state *st, const char *language)
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

/* ---- message building --------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_add(sbuf *b, const unsigned char *p, size_t n)
{
	for (size_t k = 0; k < n; k += 3) {
		unsigned v = (unsigned)p[k] << 16 | (k + 1 < n ? (unsigned)p[k + 1] << 8 : 0) |
			     (k + 2 < n ? p[k + 2] : 0);
		char q[4] = { b64chars[v >> 18 & 63], b64chars[v >> 12 & 63],
			      k + 1 < n ? b64chars[v >> 6 & 63] : '=', k + 2 < n ? b64chars[v & 63] : '=' };
		sb_add(b, q, 4);
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
static size_t header_text(sbuf *b, const char *s, size_t used)
{
	size_t len = strlen(s);
	if (!needs_encoding(s) && !strstr(s, "=?")) {
		size_t col = used;
		while (*s) {
			size_t w = strcspn(s + 1, " ") + 1; /* a word with its leading blank */
			if (col + w > LINE_BUDGET && col > used && *s == ' ') {
				sb_adds(b, "\r\n");
				col = 0;
			}
			sb_add(b, s, w);
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
			sb_adds(b, "\r\n ");
		sb_adds(b, "=?UTF-8?B?");
		b64_add(b, (const unsigned char *)s, n);
		sb_adds(b, "?=");
		col = (first ? used : 1) + 12 + (n + 2) / 3 * 4;
		s += n;
		len -= n;
		first = 0;
	}
	return col;
}

/* The display name as a phrase: atoms as is, other ASCII as a quoted
 * string, non-ASCII as encoded words. Returns the column reached. */
static size_t header_phrase(sbuf *b, const char *name, size_t used)
{
	int plain = 1, ascii = !needs_encoding(name) && !strstr(name, "=?");
	for (const char *p = name; *p; p++)
		if (!is_atext((unsigned char)*p) && *p != ' ')
			plain = 0;
	if (plain && ascii) {
		sb_adds(b, name);
		return used + strlen(name);
	}
	if (!ascii)
		return header_text(b, name, used);
	size_t col = used + 2;
	sb_addc(b, '"');
	for (const char *p = name; *p; p++, col++) {
		if (*p == '"' || *p == '\\') {
			sb_addc(b, '\\');
			col++;
		}
		sb_addc(b, *p);
	}
	sb_addc(b, '"');
	return col;
}

/* Text with any line ends into CRLF lines: each line passed to emit(). */
typedef void (*line_fn)(sbuf *out, const char *line, size_t len);

static size_t for_each_line(const char *s, sbuf *out, line_fn emit)
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

static void line_8bit(sbuf *out, const char *line, size_t len)
{
	sb_add(out, line, len);
	sb_adds(out, "\r\n");
}

/* RFC 2045 quoted-printable, encoded lines of at most 76 columns. */
static void line_qp(sbuf *out, const char *line, size_t len)
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
			sb_adds(out, "=\r\n");
			col = 0;
		}
		sb_add(out, tok, tl);
		col += tl;
	}
	sb_adds(out, "\r\n");
}

static void add_date(sbuf *b)
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
	sb_adds(b, d);
}

static void add_message_id(sbuf *b, const char *domain)
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
	sb_adds(b, "Message-ID: <");
	sb_add(b, id, n);
	sb_addc(b, '.');
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL));
	sb_adds(b, t);
	sb_addc(b, '@');
	sb_adds(b, domain);
	sb_adds(b, ">\r\n");
}

/* The whole message into *out; -1 if a line of an 8bit body is too long
 * (RFC 5322: 998) or memory ran out. */
static int build_message(const eml_state *st, const char *to, const char *subject, const char *body,
			 sbuf *out)
{
	add_date(out);
	sb_adds(out, "From: ");
	if (st->from_name) {
		size_t col = header_phrase(out, st->from_name, 6);
		/* " <address>" on its own folded line when it would not fit */
		sb_adds(out, col + 3 + strlen(st->from) > LINE_BUDGET ? "\r\n <" : " <");
	}
	sb_adds(out, st->from);
	sb_adds(out, st->from_name ? ">\r\n" : "\r\n");
	sb_adds(out, "To: ");
	sb_adds(out, to);
	sb_adds(out, "\r\nSubject: ");
	header_text(out, subject, 9);
	sb_adds(out, "\r\n");
	add_message_id(out, st->msgid_domain);
	sb_adds(out, "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=UTF-8\r\n");
	sb_adds(out, st->cte == CTE_QP ? "Content-Transfer-Encoding: quoted-printable\r\n"
				       : "Content-Transfer-Encoding: 8bit\r\n");
	/* RFC 3834: tells auto-responders not to answer. */
	sb_adds(out, "Auto-Submitted: auto-generated\r\n\r\n");
	size_t longest = for_each_line(body, out, st->cte == CTE_QP ? line_qp : line_8bit);
	if (st->cte == CTE_8BIT && longest > 998)
		return -1;
	return out->oom ? -1 : 0;
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

static int is_path(const char *s)
{
	return s[0] == '/' && is_line(s);
}

static int cfg_server(json_t *root, eml_state *st, char *err, size_t errlen)
{
	if (cfg_string(root, NULL, "url", 1, is_line, "a URL", &st->url, err, errlen) != 0)
		return -1;
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL, *tls = NULL;
	int rc = -1;
	if (!u) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, st->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)) {
		set_err(err, errlen, "url: must be an smtp:// or smtps:// URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		set_err(err, errlen, "url: must not carry credentials (use \"login\")");
		goto out;
	}
	if (!(st->host_name = dup_str(host))) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	int smtps = strcmp(scheme, "smtps") == 0;
	if (cfg_string(root, NULL, "tls", 0, is_line, "a string", &tls, err, errlen) != 0)
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
		set_err(err, errlen, "%s",
			smtps ? "tls: must be \"implicit\" with smtps://"
			      : "tls: must be \"starttls\" or \"none\" with smtp:// (use smtps:// for implicit TLS)");
		goto out;
	}
	rc = 0;
out:
	free(tls);
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

static int cfg_login(json_t *root, eml_state *st, char *err, size_t errlen)
{
	int insecure = 0;
	if (cfg_bool(root, "allow_insecure_login", &insecure, err, errlen) != 0)
		return -1;
	json_t *l = json_object_get(root, "login");
	if (!l)
		return 0;
	static const char *const keys[] = { "user", "password", NULL };
	if (!json_is_object(l)) {
		set_err(err, errlen, "login: must be an object");
		return -1;
	}
	if (cfg_only_keys(l, "login", keys, err, errlen) != 0 ||
	    cfg_string(l, "login", "user", 1, is_line, "non-empty text without controls", &st->user, err,
		       errlen) != 0 ||
	    cfg_string(l, "login", "password", 1, is_line, "non-empty text without controls",
		       &st->password, err, errlen) != 0)
		return -1;
	if (st->tls == TLS_NONE && !insecure) {
		set_err(err, errlen, "login: refused over a connection without TLS "
			"(set \"allow_insecure_login\": true to allow it)");
		return -1;
	}
	return 0;
}

static int cfg_sender(json_t *root, eml_state *st, char *err, size_t errlen)
{
	if (cfg_string(root, NULL, "from", 1, is_address, "an e-mail address like \"otp@bank.example\"",
		       &st->from, err, errlen) != 0 ||
	    cfg_string(root, NULL, "from_name", 0, is_name, "1 to 64 bytes of text without controls",
		       &st->from_name, err, errlen) != 0 ||
	    cfg_string(root, NULL, "message_id_domain", 0, is_domain, "a domain name like \"bank.example\"",
		       &st->msgid_domain, err, errlen) != 0)
		return -1;
	if (!st->msgid_domain && !(st->msgid_domain = dup_str(strchr(st->from, '@') + 1))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	char *cte = NULL;
	if (cfg_string(root, NULL, "transfer_encoding", 0, is_line, "a string", &cte, err, errlen) != 0)
		return -1;
	if (cte && strcmp(cte, "quoted-printable") != 0 && strcmp(cte, "8bit") != 0) {
		free(cte);
		set_err(err, errlen, "transfer_encoding: must be \"quoted-printable\" or \"8bit\"");
		return -1;
	}
	st->cte = cte && strcmp(cte, "8bit") == 0 ? CTE_8BIT : CTE_QP;
	free(cte);
	return 0;
}

/* One checked template string: 0, or -1 with "templates.<lang>.<part>: ...". */
static int check_tpl(const eml_state *st, const char *lang, const char *part, const char *text,
		     unsigned must, unsigned must_not, char *err, size_t errlen)
{
	char why[160];
	unsigned uses;
	if (tpl_walk(text, NULL, NULL, &uses, why, sizeof(why)) != 0) {
		set_err(err, errlen, "templates.%s.%s: %s", lang, part, why);
		return -1;
	}
	if ((uses & must) != must) {
		set_err(err, errlen, "templates.%s.%s: must contain {otp}", lang, part);
		return -1;
	}
	if (uses & must_not) {
		set_err(err, errlen, "templates.%s.%s: must not contain {otp} (subjects show on lock "
			"screens and in mail logs)", lang, part);
		return -1;
	}
	if ((uses & (1u << V_ISSUER)) && !st->issuer) {
		set_err(err, errlen, "templates.%s.%s: uses {issuer} but issuer_name is not set", lang, part);
		return -1;
	}
	return 0;
}

static int is_subject(const char *s)
{
	return is_line(s) && strlen(s) <= EML_MAX_SUBJECT;
}

static int is_body(const char *s)
{
	return is_text(s) && strlen(s) <= EML_MAX_TEMPLATE;
}

static int cfg_templates(json_t *root, eml_state *st, char *err, size_t errlen)
{
	if (cfg_string(root, NULL, "issuer_name", 0, is_name, "1 to 64 bytes of text without controls",
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
		set_err(err, errlen, "templates: must be an object of language -> {subject, body}");
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
		static const char *const keys[] = { "subject", "body", "notify_subject", NULL };
		char where[64];
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
		snprintf(where, sizeof(where), "templates.%s", key);
		if (!json_is_object(v)) {
			set_err(err, errlen, "%s: must be an object with subject and body", where);
			goto out;
		}
		eml_template *tp = &st->templates[st->ntemplates++];
		if (!(tp->lang = dup_str(key))) {
			set_err(err, errlen, "out of memory");
			goto out;
		}
		const char *line = "one line of at most 200 bytes";
		if (cfg_only_keys(v, where, keys, err, errlen) != 0 ||
		    cfg_string(v, where, "subject", 1, is_subject, line, &tp->subject, err, errlen) != 0 ||
		    cfg_string(v, where, "body", 1, is_body, "non-empty text of at most 16384 bytes",
			       &tp->body, err, errlen) != 0 ||
		    cfg_string(v, where, "notify_subject", 0, is_subject, line, &tp->notify_subject, err,
			       errlen) != 0)
			goto out;
		if (check_tpl(st, key, "subject", tp->subject, 0, 1u << V_OTP, err, errlen) != 0 ||
		    check_tpl(st, key, "body", tp->body, 1u << V_OTP, 0, err, errlen) != 0)
			goto out;
		/* A notification subject has no OTP to show: plain text. */
		if (tp->notify_subject && (strchr(tp->notify_subject, '{') || strchr(tp->notify_subject, '}'))) {
			set_err(err, errlen, "%s.notify_subject: takes no placeholders", where);
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

static int cfg_misc(json_t *root, eml_state *st, char *err, size_t errlen)
{
	json_t *cb = json_object_get(root, "circuit_breaker");
	if (cb) {
		static const char *const keys[] = { "failures", "open_seconds", NULL };
		if (!json_is_object(cb)) {
			set_err(err, errlen, "circuit_breaker: must be an object");
			return -1;
		}
		if (cfg_only_keys(cb, "circuit_breaker", keys, err, errlen) != 0 ||
		    cfg_uint(cb, "circuit_breaker", "failures", 1, 1000, &st->cb_failures, err, errlen) != 0 ||
		    cfg_uint(cb, "circuit_breaker", "open_seconds", 1, 86400, &st->cb_open_seconds, err,
			     errlen) != 0)
			return -1;
	}
	if (cfg_string(root, NULL, "ca_file", 0, is_path, "an absolute path", &st->ca_file, err, errlen) != 0)
		return -1;
	if (st->ca_file && access(st->ca_file, R_OK) != 0) {
		set_err(err, errlen, "ca_file: cannot read '%.128s'", st->ca_file);
		return -1;
	}
	return 0;
}

static int parse_config(const char *config_json, eml_state *st, char *err, size_t errlen)
{
	static const char *const keys[] = { "url", "tls", "login", "allow_insecure_login", "from",
					    "from_name", "message_id_domain", "transfer_encoding",
					    "issuer_name", "default_language", "templates",
					    "circuit_breaker", "ca_file", NULL };
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
	if (cfg_only_keys(root, NULL, keys, err, errlen) != 0 || cfg_server(root, st, err, errlen) != 0 ||
	    cfg_login(root, st, err, errlen) != 0 || cfg_sender(root, st, err, errlen) != 0 ||
	    cfg_templates(root, st, err, errlen) != 0 || cfg_misc(root, st, err, errlen) != 0)
		goto out;
	rc = 0;
out:
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
	pthread_mutex_destroy(&st->mu);
	if (st->curl_ready)
		curl_global_cleanup();
	free(st);
}

static int eml_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	if (!host || !state || host->size < offsetof(stepup_host_api, now_ms) + sizeof(host->now_ms) ||
	    !host->alloc || !host->free || !host->log || !host->now_ms) {
		set_err(err, errlen, "incomplete host API");
		return STEPUP_PLUGIN_EINVAL;
	}
	*state = NULL;
	json_object_seed(0); /* before calls may run on several threads */
	eml_state *st = calloc(1, sizeof(*st));
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
	static const char *const tls_names[] = { "STARTTLS", "implicit TLS", "no TLS" };
	logf_(st, STEPUP_PLUGIN_LOG_INFO, "ready: host %s with %s%s, %zu template(s), default language %s",
	      st->host_name, tls_names[st->tls], st->user ? " and login" : "", st->ntemplates,
	      st->def->lang);
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void eml_fini(void *state)
{
	state_free(state);
}

/* ---- circuit breaker (as otp_sms_http) -------------------------------------------------- */

static int breaker_open(eml_state *st, int64_t now)
{
	if (!st->cb_failures)
		return 0;
	pthread_mutex_lock(&st->mu);
	int open = st->open_until_ms && now < st->open_until_ms;
	pthread_mutex_unlock(&st->mu);
	return open;
}

static void breaker_record(eml_state *st, int failed)
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

#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: string form, the bitmask is deprecated */
#define SET_PROTOCOLS(h, smtps) curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, (smtps) ? "smtps" : "smtp")
#else
#define SET_PROTOCOLS(h, smtps) \
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)((smtps) ? CURLPROTO_SMTPS : CURLPROTO_SMTP))
#endif

static int send_mail(eml_state *st, const stepup_call_ctx *ctx, const char *to, const char *message,
		     size_t len)
{
	int64_t start = st->host->now_ms();
	if (breaker_open(st, start)) {
		ctx_err(ctx, "circuit open after %u consecutive server failures", st->cb_failures);
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	int64_t left = ctx->deadline_ms - start;
	if (left <= 0) {
		ctx_err(ctx, "deadline passed before sending");
		return STEPUP_PLUGIN_TIMEOUT;
	}
	if (left > EML_MAX_CALL_MS)
		left = EML_MAX_CALL_MS;

	CURL *h = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	char *from = NULL, *rcpt_path = NULL;
	int rc = STEPUP_PLUGIN_ERROR, systemic = 0;
	if (!h || !(from = angle(st->from)) || !(rcpt_path = angle(to)) ||
	    !(rcpt = curl_slist_append(NULL, rcpt_path))) {
		ctx_err(ctx, "out of memory");
		goto out;
	}
	reader rd = { message, len };
	curl_easy_setopt(h, CURLOPT_URL, st->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	SET_PROTOCOLS(h, st->tls == TLS_IMPLICIT);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	if (st->tls == TLS_STARTTLS)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (st->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, st->ca_file);
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
	int64_t took = st->host->now_ms() - start;
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
	if (rc == STEPUP_PLUGIN_OK) {
		logf_(st, STEPUP_PLUGIN_LOG_DEBUG, "sent (%zu bytes, %lld ms)", len, (long long)took);
	} else {
		ctx_err(ctx, "%s", why);
		logf_(st, STEPUP_PLUGIN_LOG_WARNING, "send failed after %lld ms: %s", (long long)took, why);
	}
	/* A 5xx for one recipient says nothing about the server. */
	if (rc == STEPUP_PLUGIN_OK || systemic)
		breaker_record(st, rc != STEPUP_PLUGIN_OK);
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
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (destination && !is_address(destination)) {
		ctx_err(ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_UNAVAILABLE;
	}
	if (breaker_open(st, st->host->now_ms())) {
		ctx_err(ctx, "circuit open after %u consecutive server failures", st->cb_failures);
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
	return n >= 1 && n <= EML_MAX_OTP;
}

static int valid_suffix(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!is_digit(s[n]))
			return 0;
	return n <= 8;
}

static int deliver(eml_state *st, const stepup_call_ctx *ctx, const char *to, const char *subject,
		   const char *body)
{
	sbuf msg = { 0 };
	if (build_message(st, to, subject, body, &msg) != 0) {
		int oom = msg.oom;
		sb_wipe(&msg);
		if (oom) {
			ctx_err(ctx, "out of memory");
			return STEPUP_PLUGIN_ERROR;
		}
		ctx_err(ctx, "a line of the text is longer than 998 bytes (use quoted-printable)");
		return STEPUP_PLUGIN_EINVAL;
	}
	int rc = send_mail(st, ctx, to, msg.p, msg.len);
	sb_wipe(&msg);
	return rc;
}

static int eml_deliver_otp(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	eml_state *st = state;
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!msg || msg->size < offsetof(stepup_otp_message, language) + sizeof(msg->language) ||
	    !msg->destination || !msg->otp) {
		ctx_err(ctx, "incomplete OTP message");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!is_address(msg->destination)) {
		ctx_err(ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!valid_otp(msg->otp)) {
		ctx_err(ctx, "the OTP must be 1 to %d printable ASCII characters", EML_MAX_OTP);
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

	const eml_template *t = pick_template(st, msg->language);
	const char *vals[V_COUNT] = { msg->otp, suffix, minutes, st->issuer ? st->issuer : "" };
	sbuf subject = { 0 }, body = { 0 };
	tpl_walk(t->subject, vals, &subject, NULL, NULL, 0);
	tpl_walk(t->body, vals, &body, NULL, NULL, 0);
	int rc;
	if (subject.oom || body.oom || !subject.p || !body.p) {
		ctx_err(ctx, "out of memory");
		rc = STEPUP_PLUGIN_ERROR;
	} else {
		logf_(st, STEPUP_PLUGIN_LOG_DEBUG, "OTP message in '%s' for language '%.16s'", t->lang,
		      msg->language && is_language(msg->language) ? msg->language : "");
		rc = deliver(st, ctx, msg->destination, subject.p, body.p);
	}
	sb_wipe(&subject);
	sb_wipe(&body);
	return rc;
}

static int eml_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language)
{
	eml_state *st = state;
	if (!st || !ctx_ok(ctx))
		return STEPUP_PLUGIN_EINVAL;
	if (!destination || !text) {
		ctx_err(ctx, "no destination or no text");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!is_address(destination)) {
		ctx_err(ctx, "destination is not an e-mail address");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (!*text || !is_utf8(text, EML_MAX_TEXT)) {
		ctx_err(ctx, "text must be 1 to %d bytes of UTF-8", EML_MAX_TEXT);
		return STEPUP_PLUGIN_EINVAL;
	}
	for (const char *p = text; *p; p++)
		if (((unsigned char)*p < 0x20 && !strchr("\r\n\t", *p)) || *p == 0x7f) {
			ctx_err(ctx, "text has control characters");
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
	.name = "otp_email_smtp",
	.version = EML_VERSION,
	.init = eml_init,
	.fini = eml_fini,
	.functions = NULL,
	.otp = &eml_otp,
};
