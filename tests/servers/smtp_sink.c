/* smtp_sink.c: see smtp_sink.h. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sink_net.h"
#include "smtp_sink.h"

#define MAX_LINE 4096      /* RFC 5321 allows 1000 octets; be generous */
#define MAX_DATA (4u << 20)
#define MAX_RCPT 100
#define GREETING "220 sink.test ESMTP stepup test sink\r\n"

struct smtp_sink {
	sink_server sv;
	smtp_sink_behaviour b; /* b.password owned */
	smtp_sink_cb cb;
	void *cb_arg;
	size_t sessions;
	smtp_sink_message **msgs;
	size_t nmsgs, cap;
};

/* ---- small buffers ------------------------------------------------------------ */

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_adds(buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* ---- records ------------------------------------------------------------------ */

static void message_free(smtp_sink_message *m)
{
	if (!m)
		return;
	free(m->helo);
	free(m->commands);
	free(m->auth_user);
	free(m->auth_password);
	free(m->mail_from);
	free(m->mail_params);
	for (size_t k = 0; k < m->nrcpt; k++)
		free(m->rcpt[k]);
	free(m->rcpt);
	free(m->data);
	free(m);
}

char *smtp_sink_header(const smtp_sink_message *m, const char *name)
{
	size_t nl = strlen(name);
	const char *p = m->data, *end = m->data + m->data_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		size_t ll = (size_t)(eol - p);
		if (ll && p[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			return NULL; /* end of the header section */
		if (ll > nl && p[nl] == ':' && sink_strncaseeq(p, name, nl)) {
			buf v = { 0 };
			const char *s = p + nl + 1;
			while (s < p + ll && (*s == ' ' || *s == '\t'))
				s++;
			buf_add(&v, s, (size_t)(p + ll - s));
			/* continuation lines start with a blank (RFC 5322 unfolding:
			 * drop the CRLF, keep the blank) */
			for (const char *q = eol + 1; q < end && (*q == ' ' || *q == '\t');) {
				const char *e2 = memchr(q, '\n', (size_t)(end - q));
				if (!e2)
					e2 = end;
				size_t l2 = (size_t)(e2 - q);
				if (l2 && q[l2 - 1] == '\r')
					l2--;
				buf_add(&v, q, l2);
				q = e2 + 1;
			}
			if (!v.p)
				buf_add(&v, "", 0);
			return v.p;
		}
		p = eol + 1;
	}
	return NULL;
}

const char *smtp_sink_body(const smtp_sink_message *m)
{
	const char *p = m->data ? strstr(m->data, "\r\n\r\n") : NULL;
	return p ? p + 4 : NULL;
}

/* ---- base64 (AUTH) --------------------------------------------------------------- */

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode s into a malloc'd buffer (*n bytes, NUL added), or NULL. */
static char *b64decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	char *out = malloc(len / 4 * 3 + 4);
	if (!out)
		abort();
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t k = 0; k < len; k++) {
		if (s[k] == '=')
			break;
		int v = b64val((unsigned char)s[k]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*n = o;
	return out;
}

/* ---- one session ------------------------------------------------------------------ */

typedef struct session {
	smtp_sink *s;
	int fd;
	sink_reader rd;
	smtp_sink_behaviour b;
	buf commands;
	char *helo, *user, *password;
	smtp_sink_message *m; /* the transaction in progress, or NULL */
} session;

static int reply(session *ss, const char *text)
{
	return sink_write_all(ss->fd, text, strlen(text));
}

static int reply_code(session *ss, int code, const char *text)
{
	char line[128];
	snprintf(line, sizeof(line), "%d %s\r\n", code, text);
	return reply(ss, line);
}

static void reset_transaction(session *ss)
{
	message_free(ss->m);
	ss->m = NULL;
}

static int fails(session *ss, int stage)
{
	return ss->b.fail_at == stage;
}

static int fail_code(session *ss)
{
	return ss->b.fail_code ? ss->b.fail_code : 550;
}

/* "<path> params" after "FROM:" / "TO:": the path without brackets and
 * the parameters, or -1. */
static int parse_path(const char *arg, char **path, char **params)
{
	while (*arg == ' ')
		arg++;
	if (*arg != '<')
		return -1;
	const char *close = strchr(arg, '>');
	if (!close)
		return -1;
	*path = sink_memdup(arg + 1, (size_t)(close - arg - 1));
	const char *p = close + 1;
	while (*p == ' ')
		p++;
	if (params)
		*params = sink_strdup(p);
	return 0;
}

/* Read the next line of an AUTH exchange: the decoded text or NULL. */
static char *auth_line(session *ss, size_t *n)
{
	char line[MAX_LINE];
	if (sink_read_line(&ss->rd, line, sizeof(line)) < 0)
		return NULL;
	if (strcmp(line, "*") == 0)
		return NULL;
	return b64decode(line, n);
}

/* AUTH PLAIN [initial] / AUTH LOGIN [initial]: 0 to go on, -1 to drop. */
static int do_auth(session *ss, char *arg)
{
	if (!ss->b.auth)
		return reply_code(ss, 503, "5.5.1 AUTH not available");
	char *mech = arg, *initial = strchr(arg, ' ');
	if (initial)
		*initial++ = '\0';
	char *user = NULL, *pass = NULL;
	size_t n = 0;
	if (sink_strcaseeq(mech, "PLAIN")) {
		char *raw;
		if (initial) {
			raw = b64decode(initial, &n);
		} else {
			if (reply(ss, "334 \r\n") != 0)
				return -1;
			raw = auth_line(ss, &n);
		}
		/* authzid \0 authcid \0 password */
		char *z1 = raw ? memchr(raw, '\0', n) : NULL;
		char *z2 = z1 ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - raw)) : NULL;
		if (z2) {
			user = sink_strdup(z1 + 1);
			pass = sink_memdup(z2 + 1, n - (size_t)(z2 + 1 - raw));
		}
		free(raw);
	} else if (sink_strcaseeq(mech, "LOGIN")) {
		if (initial) {
			user = b64decode(initial, &n);
		} else {
			if (reply(ss, "334 VXNlcm5hbWU6\r\n") != 0)
				return -1;
			user = auth_line(ss, &n);
		}
		if (user) {
			if (reply(ss, "334 UGFzc3dvcmQ6\r\n") != 0) {
				free(user);
				return -1;
			}
			pass = auth_line(ss, &n);
		}
	} else {
		return reply_code(ss, 504, "5.5.4 unrecognized authentication type");
	}
	if (!user || !pass) {
		free(user);
		free(pass);
		return reply_code(ss, 501, "5.5.2 cannot decode the credentials");
	}
	if (ss->b.password && strcmp(pass, ss->b.password) != 0) {
		free(user);
		free(pass);
		return reply_code(ss, 535, "5.7.8 authentication credentials invalid");
	}
	free(ss->user);
	free(ss->password);
	ss->user = user;
	ss->password = pass;
	return reply_code(ss, 235, "2.7.0 authentication succeeded");
}

static void record(session *ss)
{
	smtp_sink_message *m = ss->m;
	ss->m = NULL;
	m->helo = sink_strdup(ss->helo);
	m->commands = sink_strdup(ss->commands.p ? ss->commands.p : "");
	m->auth_user = sink_strdup(ss->user);
	m->auth_password = sink_strdup(ss->password);
	smtp_sink *s = ss->s;
	pthread_mutex_lock(&s->sv.mu);
	if (s->nmsgs == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		smtp_sink_message **v = realloc(s->msgs, cap * sizeof(*v));
		if (!v)
			abort();
		s->msgs = v;
		s->cap = cap;
	}
	s->msgs[s->nmsgs++] = m;
	smtp_sink_cb cb = s->cb;
	void *arg = s->cb_arg;
	pthread_cond_broadcast(&s->sv.cv);
	pthread_mutex_unlock(&s->sv.mu);
	if (cb)
		cb(arg, m);
}

/* DATA: read up to the lone ".", unstuff, record. 0 to go on, -1 to drop. */
static int do_data(session *ss)
{
	if (!ss->m || ss->m->nrcpt == 0)
		return reply_code(ss, 503, "5.5.1 need RCPT first");
	if (fails(ss, SMTP_SINK_AT_DATA))
		return reply_code(ss, fail_code(ss), "data refused by request");
	if (reply(ss, "354 end data with <CR><LF>.<CR><LF>\r\n") != 0)
		return -1;
	buf data = { 0 };
	char line[MAX_LINE];
	size_t bare_lf = 0;
	int at_bol = 1;
	for (;;) {
		long n = sink_read_raw_line(&ss->rd, line, sizeof(line));
		if (n < 0) {
			free(data.p);
			return -1;
		}
		int eol = n > 0 && line[n - 1] == '\n';
		const char *p = line;
		size_t len = (size_t)n;
		if (at_bol) {
			if (strcmp(line, ".\r\n") == 0 || strcmp(line, ".\n") == 0)
				break;
			if (line[0] == '.') {
				p++;
				len--;
			}
		}
		if (eol && !(n > 1 && line[n - 2] == '\r'))
			bare_lf++;
		if (data.len + len > MAX_DATA) {
			free(data.p);
			reply_code(ss, 552, "5.3.4 message too big");
			return -1;
		}
		buf_add(&data, p, len);
		at_bol = eol;
	}
	if (fails(ss, SMTP_SINK_AT_END)) {
		free(data.p);
		reset_transaction(ss);
		return reply_code(ss, fail_code(ss), "message refused by request");
	}
	if (!data.p)
		buf_add(&data, "", 0);
	ss->m->data = data.p;
	ss->m->data_len = data.len;
	ss->m->bare_lf = bare_lf;
	record(ss);
	return reply_code(ss, 250, "2.0.0 OK queued");
}

static int do_command(session *ss, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	for (char *p = line; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (ss->commands.len)
		buf_adds(&ss->commands, " ");
	buf_adds(&ss->commands, line);

	if (strcmp(line, "EHLO") == 0 || strcmp(line, "HELO") == 0) {
		reset_transaction(ss);
		free(ss->helo);
		ss->helo = sink_strdup(arg);
		if (line[0] == 'H')
			return reply(ss, "250 sink.test\r\n");
		return reply(ss, ss->b.auth ? "250-sink.test\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n"
					      "250-AUTH PLAIN LOGIN\r\n250 HELP\r\n"
					    : "250-sink.test\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 HELP\r\n");
	}
	if (strcmp(line, "AUTH") == 0)
		return do_auth(ss, arg);
	if (strcmp(line, "MAIL") == 0) {
		if (!sink_strncaseeq(arg, "FROM:", 5))
			return reply_code(ss, 501, "5.5.4 syntax: MAIL FROM:<address>");
		if (fails(ss, SMTP_SINK_AT_MAIL))
			return reply_code(ss, fail_code(ss), "sender refused by request");
		reset_transaction(ss);
		smtp_sink_message *m = calloc(1, sizeof(*m));
		if (!m)
			abort();
		if (parse_path(arg + 5, &m->mail_from, &m->mail_params) != 0) {
			free(m);
			return reply_code(ss, 501, "5.1.7 bad sender address syntax");
		}
		ss->m = m;
		return reply_code(ss, 250, "2.1.0 sender OK");
	}
	if (strcmp(line, "RCPT") == 0) {
		if (!ss->m)
			return reply_code(ss, 503, "5.5.1 need MAIL first");
		if (!sink_strncaseeq(arg, "TO:", 3))
			return reply_code(ss, 501, "5.5.4 syntax: RCPT TO:<address>");
		if (fails(ss, SMTP_SINK_AT_RCPT))
			return reply_code(ss, fail_code(ss), "recipient refused by request");
		char *path;
		if (parse_path(arg + 3, &path, NULL) != 0)
			return reply_code(ss, 501, "5.1.3 bad recipient address syntax");
		if (ss->m->nrcpt == MAX_RCPT) {
			free(path);
			return reply_code(ss, 452, "4.5.3 too many recipients");
		}
		char **v = realloc(ss->m->rcpt, (ss->m->nrcpt + 1) * sizeof(*v));
		if (!v)
			abort();
		ss->m->rcpt = v;
		v[ss->m->nrcpt++] = path;
		return reply_code(ss, 250, "2.1.5 recipient OK");
	}
	if (strcmp(line, "DATA") == 0)
		return do_data(ss);
	if (strcmp(line, "RSET") == 0) {
		reset_transaction(ss);
		return reply_code(ss, 250, "2.0.0 reset");
	}
	if (strcmp(line, "NOOP") == 0)
		return reply_code(ss, 250, "2.0.0 OK");
	if (strcmp(line, "VRFY") == 0)
		return reply_code(ss, 252, "2.1.5 cannot verify");
	if (strcmp(line, "QUIT") == 0) {
		reply_code(ss, 221, "2.0.0 bye");
		return -1;
	}
	return reply_code(ss, 500, "5.5.2 command not recognized");
}

static void serve(smtp_sink *s, int fd)
{
	session ss = { .s = s, .fd = fd };
	sink_reader_init(&ss.rd, fd, s->sv.stop[0]);
	pthread_mutex_lock(&s->sv.mu);
	s->sessions++;
	ss.b = s->b;
	ss.b.password = sink_strdup(s->b.password);
	pthread_mutex_unlock(&s->sv.mu);

	if (ss.b.close_on_connect)
		goto out;
	if (ss.b.greeting_delay_ms > 0 && sink_delay(fd, s->sv.stop[0], ss.b.greeting_delay_ms) != 0)
		goto out;
	if (fails(&ss, SMTP_SINK_AT_GREETING)) {
		reply_code(&ss, fail_code(&ss), "service not available by request");
		goto out;
	}
	if (reply(&ss, GREETING) != 0)
		goto out;
	char line[MAX_LINE];
	for (;;) {
		long n = sink_read_line(&ss.rd, line, sizeof(line));
		if (n == -2) {
			if (reply_code(&ss, 500, "5.5.2 line too long") != 0)
				break;
			continue;
		}
		if (n < 0 || do_command(&ss, line) != 0)
			break;
	}
out:
	reset_transaction(&ss);
	free(ss.commands.p);
	free(ss.helo);
	free(ss.user);
	free(ss.password);
	free((char *)ss.b.password);
}

static void *server_main(void *arg)
{
	smtp_sink *s = arg;
	for (;;) {
		if (sink_wait(s->sv.lfd, s->sv.stop[0], -1) != 1)
			break;
		int fd = accept4(s->sv.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(s, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

/* ---- API ---------------------------------------------------------------------------- */

int smtp_sink_start(const char *addr, uint16_t port, smtp_sink **out, char *err, size_t errlen)
{
	*out = NULL;
	smtp_sink *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sink_server_start(&s->sv, addr, port, server_main, s, err, errlen) != 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void smtp_sink_clear(smtp_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	for (size_t k = 0; k < s->nmsgs; k++)
		message_free(s->msgs[k]);
	s->nmsgs = 0;
	s->sessions = 0;
	pthread_mutex_unlock(&s->sv.mu);
}

void smtp_sink_stop(smtp_sink *s)
{
	if (!s)
		return;
	sink_server_stop(&s->sv);
	smtp_sink_clear(s);
	free(s->msgs);
	free((char *)s->b.password);
	pthread_mutex_destroy(&s->sv.mu);
	pthread_cond_destroy(&s->sv.cv);
	free(s);
}

uint16_t smtp_sink_port(const smtp_sink *s)
{
	return s->sv.port;
}

void smtp_sink_set_behaviour(smtp_sink *s, const smtp_sink_behaviour *b)
{
	pthread_mutex_lock(&s->sv.mu);
	free((char *)s->b.password);
	s->b = *b;
	s->b.password = sink_strdup(b->password);
	pthread_mutex_unlock(&s->sv.mu);
}

void smtp_sink_on_message(smtp_sink *s, smtp_sink_cb cb, void *arg)
{
	pthread_mutex_lock(&s->sv.mu);
	s->cb = cb;
	s->cb_arg = arg;
	pthread_mutex_unlock(&s->sv.mu);
}

size_t smtp_sink_count(smtp_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	size_t n = s->nmsgs;
	pthread_mutex_unlock(&s->sv.mu);
	return n;
}

size_t smtp_sink_sessions(smtp_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	size_t n = s->sessions;
	pthread_mutex_unlock(&s->sv.mu);
	return n;
}

int smtp_sink_wait(smtp_sink *s, size_t n, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->sv.mu);
	int rc = 0;
	while (s->nmsgs < n && rc == 0)
		rc = pthread_cond_timedwait(&s->sv.cv, &s->sv.mu, &until);
	int ok = s->nmsgs >= n;
	pthread_mutex_unlock(&s->sv.mu);
	return ok;
}

const smtp_sink_message *smtp_sink_get(smtp_sink *s, size_t i)
{
	pthread_mutex_lock(&s->sv.mu);
	const smtp_sink_message *m = i < s->nmsgs ? s->msgs[i] : NULL;
	pthread_mutex_unlock(&s->sv.mu);
	return m;
}
