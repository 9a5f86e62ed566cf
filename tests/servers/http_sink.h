/* http_sink.h: a tiny HTTP/1.1 receiver for tests (plugins now, daemon
 * webhooks later). It listens on 127.0.0.1 (ephemeral port by default),
 * records every request (method, target, headers, body) and answers with
 * a configurable reply: a status and body, optionally after a delay, or
 * no answer at all (close the connection).
 *
 * One server thread serves connections one at a time, each with
 * "Connection: close"; that is all a test client needs and keeps the
 * order of records the order of arrival. A request is recorded BEFORE it
 * is answered, so when a client call returns (even by timing out) its
 * request is already visible. Bodies may be sent with Content-Length or
 * chunked; "Expect: 100-continue" is honoured.
 *
 *     http_sink *s;
 *     http_sink_start(NULL, 0, &s, err, sizeof err);
 *     ... POST to http://127.0.0.1:<http_sink_port(s)>/path ...
 *     const http_sink_request *r = http_sink_get(s, 0);
 *     http_sink_stop(s);
 *
 * Threads: the setters and getters may be called from any thread. Records
 * returned by http_sink_get stay valid and unchanged until
 * http_sink_clear or http_sink_stop. */
#ifndef STEPUP_HTTP_SINK_H
#define STEPUP_HTTP_SINK_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_sink http_sink;

typedef struct http_sink_field {
	char *name;  /* as sent */
	char *value; /* without surrounding blanks */
} http_sink_field;

typedef struct http_sink_request {
	char *method;  /* "POST" */
	char *target;  /* request-target as sent: "/v1/sms?x=1" */
	char *version; /* "HTTP/1.1" */
	size_t nheaders;
	http_sink_field *headers;
	char *body;    /* body_len bytes, then a NUL (not counted) */
	size_t body_len;
} http_sink_request;

/* What to answer. Strings are copied by http_sink_set_reply. */
typedef struct http_sink_reply {
	int status;               /* HTTP status; 0 means 200 */
	const char *body;         /* NULL: empty */
	const char *content_type; /* NULL: "application/json" */
	const char *header;       /* one extra "Name: value" line, or NULL */
	int delay_ms;             /* wait before answering; ends early if the client leaves */
	int close;                /* 1: read the request, then close without answering */
	int hold;                 /* 1: answer only once http_sink_release() is called (a gate
	                           * for tests that need "still waiting" without a clock) */
} http_sink_reply;

/* Called on the server thread after each request is recorded (e.g. to
 * write it to a file); must not call http_sink_clear or http_sink_stop. */
typedef void (*http_sink_cb)(void *arg, const http_sink_request *req);

/* Start listening on addr:port (NULL, 0: 127.0.0.1, ephemeral) and
 * serving in a new thread. 0, or -1 with a reason in err. The initial
 * reply is 200 with an empty body. */
int http_sink_start(const char *addr, uint16_t port, http_sink **out, char *err, size_t errlen);
/* Stop the thread (interrupting a delay or a slow client at once), close
 * the socket and free every record. NULL is a no-op. */
void http_sink_stop(http_sink *s);

uint16_t http_sink_port(const http_sink *s);
void http_sink_set_reply(http_sink *s, const http_sink_reply *reply);
void http_sink_on_request(http_sink *s, http_sink_cb cb, void *arg);

/* Open the gate of a `hold` reply: the request being held (and every
 * later one, until the next http_sink_set_reply) is answered. */
void http_sink_release(http_sink *s);

/* Number of requests recorded so far. */
size_t http_sink_count(http_sink *s);
/* Wait until at least n requests are recorded: 1, or 0 after timeout_ms. */
int http_sink_wait(http_sink *s, size_t n, int timeout_ms);
/* Request i (0 = first), or NULL. */
const http_sink_request *http_sink_get(http_sink *s, size_t i);
/* Forget every record (invalidates the pointers http_sink_get returned). */
void http_sink_clear(http_sink *s);

/* The value of the first header named `name` (case-insensitive), or NULL. */
const char *http_sink_header(const http_sink_request *r, const char *name);
/* How many headers are named `name` (case-insensitive). */
size_t http_sink_header_count(const http_sink_request *r, const char *name);

#endif
