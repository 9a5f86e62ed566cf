/* http.h: what a request handler sees and fills in. Handlers know nothing
 * of libmicrohttpd: server.c reads the request, calls the handler of the
 * matched route and turns its http_resp into the HTTP response. */
#ifndef STEPUPD_HTTP_H
#define STEPUPD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define HTTP_MAX_PARAMS 2

typedef struct http_req {
	const char *method, *path;
	const char *body;          /* NUL-terminated, body_len bytes */
	size_t body_len;
	uint64_t start_ns;         /* monotonic: request line received */
	int loopback;              /* client on 127.0.0.0/8 or ::1 */
	const char *peer;          /* the client's address, as text */
	/* Handlers that finish elsewhere (see http_resp.suspend) keep their
	 * state here between the calls. */
	void **job;
	int resumed;               /* called again after http_resume() */
	/* {name} segments of the route's path, in order (borrowed). */
	const char *params[HTTP_MAX_PARAMS];
	size_t param_len[HTTP_MAX_PARAMS];
	void *impl;                /* server.c's connection, for http_header() */
} http_req;

typedef struct http_resp {
	unsigned status;           /* 0 = 200 */
	dbuf body;                 /* owned; handed to the server */
	const char *borrowed;      /* or: a body borrowed until the handler returns */
	size_t borrowed_len;
	const char *content_type;  /* NULL = application/json */
	int cause;                 /* enum reject_cause when refused, else -1 */
	const char *log_field;     /* for the access log: the field of a 400 */
	/* Set by a handler that cannot answer now: the connection is parked
	 * (its worker thread serves others) until http_resume(), then the
	 * handler is called again with rq->resumed set and *rq->job intact. */
	int suspend;
	/* Called once the connection is parked: hand the work over here, never
	 * before (a resume must not overtake the suspend). */
	void (*after_suspend)(void *arg);
	void *after_arg;
	/* Called once the answer was written to the client's socket
	 * (delivered 1) or could not be (0: the connection was gone), after
	 * the handler returned, on an MHD thread; for records that must say
	 * whether the client got it (the decision log). Always called once
	 * when set. */
	void (*sent)(void *arg, int delivered);
	void *sent_arg;
} http_resp;

/* A request header (case-insensitive name), or NULL. */
const char *http_header(const http_req *rq, const char *name);

/* Fill rs with {"error":{"code":code,"message":msg}}. msg must never
 * contain request data. */
void http_error(http_resp *rs, unsigned status, int cause, const char *code, const char *msg);

/* Wake a suspended request (any thread). `handle` is http_req.impl. */
void http_resume(void *handle);

typedef void (*http_handler)(const http_req *rq, http_resp *rs);

#endif
