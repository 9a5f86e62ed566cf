/* http_sink.c: see http_sink.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_sink.h"
#include "sink_net.h"

/* Limits that keep a confused client from eating the test's memory. */
#define MAX_LINE 8192
#define MAX_HEADERS 100
#define MAX_BODY (1u << 20)

struct http_sink {
	sink_server sv;
	/* reply, owned copies */
	int status, delay_ms, close, hold, released;
	char *body, *content_type, *header;
	http_sink_cb cb;
	void *cb_arg;
	http_sink_request **reqs;
	size_t nreqs, cap;
};

static void request_free(http_sink_request *r)
{
	if (!r)
		return;
	for (size_t k = 0; k < r->nheaders; k++) {
		free(r->headers[k].name);
		free(r->headers[k].value);
	}
	free(r->headers);
	free(r->method);
	free(r->target);
	free(r->version);
	free(r->body);
	free(r);
}

const char *http_sink_header(const http_sink_request *r, const char *name)
{
	for (size_t k = 0; k < r->nheaders; k++)
		if (sink_strcaseeq(r->headers[k].name, name))
			return r->headers[k].value;
	return NULL;
}

size_t http_sink_header_count(const http_sink_request *r, const char *name)
{
	size_t n = 0;
	for (size_t k = 0; k < r->nheaders; k++)
		n += sink_strcaseeq(r->headers[k].name, name);
	return n;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* ---- parsing one request --------------------------------------------------- */

static int parse_request_line(char *line, http_sink_request *r)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1)
		return -1;
	r->method = sink_memdup(line, (size_t)(sp1 - line));
	r->target = sink_memdup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	r->version = sink_strdup(sp2 + 1);
	return 0;
}

static int add_header(http_sink_request *r, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon || colon == line || r->nheaders == MAX_HEADERS)
		return -1;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	size_t vl = strlen(v);
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	http_sink_field *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
	if (!h)
		abort();
	r->headers = h;
	h[r->nheaders].name = sink_memdup(line, (size_t)(colon - line));
	h[r->nheaders].value = sink_memdup(v, vl);
	r->nheaders++;
	return 0;
}

static int read_chunked(sink_reader *rd, http_sink_request *r)
{
	char line[MAX_LINE];
	size_t cap = 0;
	for (;;) {
		if (sink_read_line(rd, line, sizeof(line)) < 0)
			return -1;
		char *end;
		errno = 0;
		unsigned long n = strtoul(line, &end, 16);
		if (end == line || errno || n > MAX_BODY || r->body_len + n > MAX_BODY)
			return -1;
		if (n == 0)
			break;
		if (r->body_len + n + 1 > cap) {
			cap = r->body_len + n + 1;
			char *b = realloc(r->body, cap);
			if (!b)
				abort();
			r->body = b;
		}
		if (sink_read_n(rd, r->body + r->body_len, n) != 0)
			return -1;
		r->body_len += n;
		if (sink_read_line(rd, line, sizeof(line)) != 0)
			return -1;
	}
	/* trailers, up to the empty line */
	long n;
	while ((n = sink_read_line(rd, line, sizeof(line))) > 0)
		;
	if (n < 0)
		return -1;
	if (!r->body)
		r->body = sink_memdup("", 0);
	r->body[r->body_len] = '\0';
	return 0;
}

/* Read one request from fd: the record, or NULL if the client sent
 * nothing usable. */
static http_sink_request *read_request(http_sink *s, int fd)
{
	sink_reader rd;
	sink_reader_init(&rd, fd, s->sv.stop[0]);
	char line[MAX_LINE];
	http_sink_request *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	if (sink_read_line(&rd, line, sizeof(line)) <= 0 || parse_request_line(line, r) != 0)
		goto bad;
	long n;
	while ((n = sink_read_line(&rd, line, sizeof(line))) > 0)
		if (add_header(r, line) != 0)
			goto bad;
	if (n < 0)
		goto bad;

	const char *expect = http_sink_header(r, "Expect");
	if (expect && sink_strcaseeq(expect, "100-continue")) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (sink_write_all(fd, cont, sizeof(cont) - 1) != 0)
			goto bad;
	}
	const char *te = http_sink_header(r, "Transfer-Encoding");
	const char *cl = http_sink_header(r, "Content-Length");
	if (te && sink_strcaseeq(te, "chunked")) {
		if (read_chunked(&rd, r) != 0)
			goto bad;
	} else {
		unsigned long len = 0;
		if (cl) {
			char *end;
			errno = 0;
			len = strtoul(cl, &end, 10);
			if (end == cl || *end || errno || len > MAX_BODY)
				goto bad;
		}
		r->body = malloc(len + 1);
		if (!r->body)
			abort();
		if (sink_read_n(&rd, r->body, len) != 0)
			goto bad;
		r->body_len = len;
		r->body[len] = '\0';
	}
	return r;
bad:
	request_free(r);
	return NULL;
}

/* ---- serving --------------------------------------------------------------- */

static void record(http_sink *s, http_sink_request *r)
{
	pthread_mutex_lock(&s->sv.mu);
	if (s->nreqs == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		http_sink_request **v = realloc(s->reqs, cap * sizeof(*v));
		if (!v)
			abort();
		s->reqs = v;
		s->cap = cap;
	}
	s->reqs[s->nreqs++] = r;
	http_sink_cb cb = s->cb;
	void *arg = s->cb_arg;
	pthread_cond_broadcast(&s->sv.cv);
	pthread_mutex_unlock(&s->sv.mu);
	if (cb)
		cb(arg, r);
}

static void serve(http_sink *s, int fd)
{
	http_sink_request *r = read_request(s, fd);
	if (!r)
		return;
	record(s, r);

	pthread_mutex_lock(&s->sv.mu);
	int status = s->status, delay = s->delay_ms, drop = s->close;
	const char *body = s->body ? s->body : "";
	size_t blen = strlen(body);
	char *resp = NULL;
	int len = asprintf(&resp,
			   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n%s%s\r\n%s",
			   status, reason_phrase(status),
			   s->content_type ? s->content_type : "application/json", blen,
			   s->header ? s->header : "", s->header ? "\r\n" : "", body);
	pthread_mutex_unlock(&s->sv.mu);
	if (len < 0)
		abort();

	/* The gate: wait in short steps so a client that leaves or a stop
	 * ends it, as a delay would. */
	for (;;) {
		pthread_mutex_lock(&s->sv.mu);
		int held = s->hold && !s->released;
		pthread_mutex_unlock(&s->sv.mu);
		if (!held)
			break;
		if (sink_delay(fd, s->sv.stop[0], 20) != 0) {
			drop = 1;
			break;
		}
	}
	if (!drop && delay > 0 && sink_delay(fd, s->sv.stop[0], delay) != 0)
		drop = 1;
	if (!drop)
		sink_write_all(fd, resp, (size_t)len);
	free(resp);
}

static void *server_main(void *arg)
{
	http_sink *s = arg;
	for (;;) {
		if (sink_wait(s->sv.lfd, s->sv.stop[0], -1) != 1)
			break;
		int fd = accept4(s->sv.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(s, fd);
		/* Half-close first: the client sees a clean end of stream
		 * after the reply (it may still be sending nothing). */
		shutdown(fd, SHUT_WR);
		close(fd);
	}
	return NULL;
}

int http_sink_start(const char *addr, uint16_t port, http_sink **out, char *err, size_t errlen)
{
	*out = NULL;
	http_sink *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->status = 200;
	if (sink_server_start(&s->sv, addr, port, server_main, s, err, errlen) != 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void http_sink_clear(http_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	for (size_t k = 0; k < s->nreqs; k++)
		request_free(s->reqs[k]);
	s->nreqs = 0;
	pthread_mutex_unlock(&s->sv.mu);
}

void http_sink_stop(http_sink *s)
{
	if (!s)
		return;
	sink_server_stop(&s->sv);
	http_sink_clear(s);
	free(s->reqs);
	free(s->body);
	free(s->content_type);
	free(s->header);
	pthread_mutex_destroy(&s->sv.mu);
	pthread_cond_destroy(&s->sv.cv);
	free(s);
}

uint16_t http_sink_port(const http_sink *s)
{
	return s->sv.port;
}

void http_sink_set_reply(http_sink *s, const http_sink_reply *reply)
{
	pthread_mutex_lock(&s->sv.mu);
	free(s->body);
	free(s->content_type);
	free(s->header);
	s->status = reply->status ? reply->status : 200;
	s->body = sink_strdup(reply->body);
	s->content_type = sink_strdup(reply->content_type);
	s->header = sink_strdup(reply->header);
	s->delay_ms = reply->delay_ms;
	s->close = reply->close;
	s->hold = reply->hold;
	s->released = 0;
	pthread_mutex_unlock(&s->sv.mu);
}

void http_sink_release(http_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	s->released = 1;
	pthread_mutex_unlock(&s->sv.mu);
}

void http_sink_on_request(http_sink *s, http_sink_cb cb, void *arg)
{
	pthread_mutex_lock(&s->sv.mu);
	s->cb = cb;
	s->cb_arg = arg;
	pthread_mutex_unlock(&s->sv.mu);
}

size_t http_sink_count(http_sink *s)
{
	pthread_mutex_lock(&s->sv.mu);
	size_t n = s->nreqs;
	pthread_mutex_unlock(&s->sv.mu);
	return n;
}

int http_sink_wait(http_sink *s, size_t n, int timeout_ms)
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
	while (s->nreqs < n && rc == 0)
		rc = pthread_cond_timedwait(&s->sv.cv, &s->sv.mu, &until);
	int ok = s->nreqs >= n;
	pthread_mutex_unlock(&s->sv.mu);
	return ok;
}

const http_sink_request *http_sink_get(http_sink *s, size_t i)
{
	pthread_mutex_lock(&s->sv.mu);
	const http_sink_request *r = i < s->nreqs ? s->reqs[i] : NULL;
	pthread_mutex_unlock(&s->sv.mu);
	return r;
}
