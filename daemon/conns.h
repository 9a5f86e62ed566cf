/* conns.h: the daemon's view of client connections.
 *
 * Every connection has a record from accept to close (MHD's
 * MHD_OPTION_NOTIFY_CONNECTION). The records give three things libmicrohttpd
 * does not:
 *   - connection limits (total and per client address) that count each
 *     refusal by cause, and a fair share: past 7/8 of the total, an address
 *     already holding max_connections/128 (at least 1) gets no more, so a
 *     few busy addresses cannot lock every other client out;
 *   - a request timeout that a slow sender cannot defeat: MHD's timeout is
 *     an inactivity timeout, which one byte a second keeps resetting. Here
 *     a connection must deliver each whole request within
 *     limits.connection_timeout_ms of opening or of its previous response;
 *     conns_reap() closes those that do not;
 *   - a per-connection request context and body buffer, reused across the
 *     requests of a keep-alive connection. */
#ifndef STEPUPD_CONNS_H
#define STEPUPD_CONNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct route;

/* One request in progress on a connection (HTTP/1.1: one at a time). */
typedef struct req {
	uint64_t start_ns;         /* request line received */
	const struct route *route; /* NULL: error answered from `early` */
	const char *params[2];     /* the route's {params} (point into MHD's URL) */
	size_t param_len[2];
	unsigned early_status;     /* non-zero: answer this error, do not read on */
	int early_cause;           /* metrics cause of early_status */
	const char *early_code, *early_msg;
	size_t expected;           /* Content-Length, or 0 */
	size_t len;                /* body bytes kept */
	size_t discarded;          /* bytes read past the limit */
	int started;               /* the handler saw the headers */
	int suspended;             /* parked by its handler (http_resp.suspend) */
	int woken;                 /* atomic: http_resume() was called on it */
	void *job;                 /* the handler's state while suspended */
	/* A response was queued (status), and the handler's http_resp.sent,
	 * called once MHD says whether it went out (server.c). */
	int answered;
	unsigned status;
	void (*sent)(void *arg, int delivered);
	void *sent_arg;
	char allow[32];            /* Allow header of a 405 */
} req;

typedef struct conn {
	struct conn *prev, *next;
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char peer[48];            /* addr as text (INET6_ADDRSTRLEN) */
	int loopback;
	int refused;              /* over a limit: closed at once */
	/* Monotonic ns since when the connection owes us a complete request;
	 * 0 while a request is being decided or answered. Atomic. */
	uint64_t waiting_since;
	int in_request;           /* counted in conns_inflight() */
	int reaped;
	unsigned requests;         /* requests answered so far */
	req rq;
	char *body;
	size_t body_cap;
} conn;

struct conns_limits {
	unsigned max_total, max_per_ip, timeout_ms;
};

void conns_init(const struct conns_limits *l);
/* A new connection: a record (NULL on allocation failure: refuse it). When
 * a limit is exceeded the record comes back with `refused` set and the
 * caller closes the connection. */
conn *conns_open(int fd, const struct sockaddr *addr, socklen_t addrlen);
void conns_close(conn *c);

/* Request boundaries: started (request line read, at `now`), body
 * complete (stop the clock), finished (response sent or connection gone). */
void conns_request_started(conn *c, uint64_t now);
void conns_request_complete(conn *c);
void conns_request_finished(conn *c);

/* Close connections past their time. Main thread, every ~100 ms. */
void conns_reap(void);
/* Stop admitting connections (shutdown). */
void conns_refuse_new(void);

unsigned conns_count(void);
unsigned conns_inflight(void);
/* Monotonic ns of the last request start, for the drain's quiet period. */
uint64_t conns_last_request_ns(void);

/* Grow the connection's body buffer to hold `need` bytes. */
int conns_body_reserve(conn *c, size_t need);
void conns_shutdown(void);

#endif
