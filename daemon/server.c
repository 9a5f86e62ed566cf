/* server.c: libmicrohttpd glue. Reads requests (with the limits of
 * config.limits), finds the route, calls its handler and sends what it
 * returns. Handlers never see libmicrohttpd. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "conns.h"
#include "handlers/handlers.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"
#include "server.h"
#include "util.h"

_Static_assert(HTTP_MAX_PARAMS == sizeof(((req *)0)->params) / sizeof(char *),
               "req.params holds http_req.params");

static struct MHD_Daemon *D;
/* Ours until MHD starts on it, MHD's until quiesced, ours again after. */
static int listen_fd = -1;
static size_t max_body;
/* Past max_body a request is refused; a chunked body (no Content-Length)
 * is read on to this many bytes so the client still gets its 413, then
 * the connection is closed. */
static size_t discard_max;
/* The 404 message lists the endpoints (from the route table, at start). */
static char not_found_msg[640];

/* ---- responses ------------------------------------------------------------ */

void http_error(http_resp *rs, unsigned status, int cause, const char *code, const char *msg)
{
	rs->status = status;
	rs->cause = cause;
	dbuf_reset(&rs->body);
	dbuf_puts(&rs->body, "{\"error\":{\"code\":");
	dbuf_json(&rs->body, code);
	dbuf_puts(&rs->body, ",\"message\":");
	dbuf_json(&rs->body, msg);
	dbuf_puts(&rs->body, "}}");
}

/* Method names are client data: only known ones reach the log. */
static const char *method_for_log(const char *m)
{
	static const char *const known[] = { "GET", "POST", "PUT", "DELETE", "HEAD",
		"OPTIONS", "PATCH", "TRACE", "CONNECT" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

static enum MHD_Result send_resp(struct MHD_Connection *c, conn *k, const char *method,
                                 http_resp *rs, const char *allow)
{
	struct MHD_Response *r;
	unsigned status = rs->status ? rs->status : 200;

	if (rs->borrowed) {
		r = MHD_create_response_from_buffer(rs->borrowed_len, (void *)rs->borrowed,
		                                    MHD_RESPMEM_MUST_COPY);
	} else if (rs->body.s && !rs->body.failed) {
		r = MHD_create_response_from_buffer(rs->body.len, rs->body.s, MHD_RESPMEM_MUST_FREE);
		if (r)
			rs->body.s = NULL;  /* MHD frees it */
	} else {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
		status = 500;
		r = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
	}
	dbuf_free(&rs->body);
	/* Whether it reaches the client is known when MHD is done with the
	 * request (on_completed). */
	k->rq.answered = 1;
	k->rq.status = status;
	k->rq.sent = rs->sent;
	k->rq.sent_arg = rs->sent_arg;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        rs->content_type ? rs->content_type : "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow && allow[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	/* While draining, every answer asks the client to reconnect, which
	 * sends it to another instance. */
	if (app_draining())
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ok = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);

	met_response(status);
	if (rs->cause >= 0)
		met_reject((enum reject_cause)rs->cause);
	if (log_on(LOG_DEBUG)) {
		const route *rt = k->rq.route;
		log_kv(LOG_DEBUG, "request", LS("method", method_for_log(method)),
		       LS("route", rt ? rt->path : "(none)"), LU("status", status),
		       LU("latency_us", (mono_ns() - k->rq.start_ns) / 1000u),
		       LS("field", rs->log_field), LOG_END);
	}
	return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn *k, const char *method,
                                  unsigned status, int cause, const char *code, const char *msg)
{
	http_resp rs = { .cause = -1 };
	http_error(&rs, status, cause, code, msg);
	return send_resp(c, k, method, &rs, k->rq.allow);
}

/* ---- reading a request ----------------------------------------------------- */

static int is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
		return 0;
	ct += sizeof(want) - 1;
	return *ct == '\0' || *ct == ';' || *ct == ' ';
}

static int admin_allowed(struct MHD_Connection *c, const conn *k);
static int has_body(struct MHD_Connection *c, const req *q);
static int issuer_allowed(struct MHD_Connection *c, const conn *k);

/* The first call, headers in: decide whether to read the body at all. */
static void on_headers(struct MHD_Connection *c, conn *k, const char *url, const char *method)
{
	req *q = &k->rq;
	http_req probe = {0};
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		q->expected = (errno || *end) ? SIZE_MAX : (size_t)n;
	}
	q->route = route_find(method, url, &probe, q->allow, sizeof(q->allow));
	for (int i = 0; i < HTTP_MAX_PARAMS; i++) {
		q->params[i] = probe.params[i];
		q->param_len[i] = probe.param_len[i];
	}
	if (!q->route) {
		if (q->allow[0]) {
			q->early_status = 405;
			q->early_cause = RJ_METHOD;
			q->early_code = "method_not_allowed";
			q->early_msg = "method not allowed on this path (see the Allow header)";
		} else {
			q->early_status = 404;
			q->early_cause = RJ_NOT_FOUND;
			q->early_code = "not_found";
			q->early_msg = not_found_msg;
		}
		return;
	}
	if ((q->route->flags & ROUTE_ADMIN) && !admin_allowed(c, k)) {
		q->early_status = 403;
		q->early_cause = RJ_FORBIDDEN;
		q->early_code = "forbidden";
		q->early_msg = "admin endpoints need a loopback client or a valid bearer token";
		return;
	}
	if ((q->route->flags & ROUTE_ISSUER) && !issuer_allowed(c, k)) {
		q->early_status = 403;
		q->early_cause = RJ_FORBIDDEN;
		q->early_code = "forbidden";
		q->early_msg = "issuer endpoints need a loopback client or the lifecycle bearer token";
		return;
	}
	if (((q->route->flags & ROUTE_JSON_BODY) ||
	     ((q->route->flags & ROUTE_OPT_BODY) && has_body(c, q))) &&
	    !is_json_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		q->early_status = 415;
		q->early_cause = RJ_NOT_JSON;
		q->early_code = "unsupported_media_type";
		q->early_msg = "the body must be JSON: send Content-Type: application/json";
		return;
	}
	if (q->expected > max_body) {
		q->early_status = 413;
		q->early_cause = RJ_TOO_LARGE;
		q->early_code = "too_large";
		q->early_msg = "request body larger than limits.max_body_bytes";
		return;
	}
	if ((q->route->flags & (ROUTE_JSON_BODY | ROUTE_OPT_BODY)) && q->expected &&
	    conns_body_reserve(k, q->expected + 1) < 0) {
		q->early_status = 500;
		q->early_cause = RJ_INTERNAL;
		q->early_code = "internal";
		q->early_msg = "out of memory";
	}
}

static int has_body(struct MHD_Connection *c, const req *q)
{
	return q->expected > 0 ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* Returns 0 to go on reading, -1 to close the connection. */
static int on_data(conn *k, const char *data, size_t n)
{
	req *q = &k->rq;
	int keep = q->route && (q->route->flags & (ROUTE_JSON_BODY | ROUTE_OPT_BODY)) &&
	           !q->early_status;
	if (keep && q->len + n > max_body) {
		q->early_status = 413;
		q->early_cause = RJ_TOO_LARGE;
		q->early_code = "too_large";
		q->early_msg = "request body larger than limits.max_body_bytes";
		keep = 0;
	}
	if (keep) {
		if (conns_body_reserve(k, q->len + n + 1) < 0)
			return -1;
		memcpy(k->body + q->len, data, n);
		q->len += n;
		return 0;
	}
	q->discarded += n;
	if (q->discarded > discard_max) {
		met_reject(RJ_TOO_LARGE);
		return -1;
	}
	return 0;
}

/* ---- the access handler ------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **req_cls)
{
	conn *k = *req_cls;
	(void)cls;
	(void)version;
	if (!k)
		return MHD_NO;
	req *q = &k->rq;
	if (!q->started) {
		q->started = 1;
		on_headers(c, k, url, method);
		/* An error before the body: answer now and do not read the body
		 * (MHD closes the connection after it). Without a body, wait for
		 * the final call so the connection stays usable. */
		if (q->early_status && has_body(c, q)) {
			conns_request_complete(k);
			return send_error(c, k, method, q->early_status, q->early_cause,
			                  q->early_code, q->early_msg);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (on_data(k, upload_data, *upload_size) < 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	/* Final call (or the call after a resume). */
	conns_request_complete(k);
	if (q->early_status)
		return send_error(c, k, method, q->early_status, q->early_cause,
		                  q->early_code, q->early_msg);

	http_req rq = {
		.method = method,
		.path = url,
		.body = k->body ? k->body : "",
		.body_len = q->len,
		.start_ns = q->start_ns,
		.loopback = k->loopback,
		.peer = k->peer,
		.job = &q->job,
		.resumed = q->suspended,
		.impl = c,
	};
	if (k->body)
		k->body[q->len] = '\0';
	for (int i = 0; i < HTTP_MAX_PARAMS; i++) {
		rq.params[i] = q->params[i];
		rq.param_len[i] = q->param_len[i];
	}
	http_resp rs = { .cause = -1 };
	q->suspended = 0;
	q->woken = 0;
	q->route->fn(&rq, &rs);
	if (rs.suspend) {
		dbuf_free(&rs.body);
		q->suspended = 1;
		MHD_suspend_connection(c);
		if (rs.after_suspend)
			rs.after_suspend(rs.after_arg);
		return MHD_YES;
	}
	return send_resp(c, k, method, &rs, NULL);
}

void http_resume(void *handle)
{
	/* Marked first: from here on the job is finished, and on_completed()
	 * may answer from it if MHD closes the connection instead of calling
	 * the handler again. */
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(handle, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	conn *k = ci ? ci->socket_context : NULL;
	if (k)
		__atomic_store_n(&k->rq.woken, 1, __ATOMIC_RELEASE);
	MHD_resume_connection(handle);
}

const char *http_header(const http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->impl, MHD_HEADER_KIND, name);
}

static int admin_allowed(struct MHD_Connection *c, const conn *k)
{
	return admin_check(k->loopback,
	                   MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static int issuer_allowed(struct MHD_Connection *c, const conn *k)
{
	return issuer_check(k->loopback,
	                    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

/* ---- connection and request notifications ------------------------------------ */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fi =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		int fd = fi ? fi->connect_fd : -1;
		const struct sockaddr *sa = ai ? ai->client_addr : NULL;
		socklen_t len = !sa ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                                    : sizeof(struct sockaddr_in);
		conn *k = conns_open(fd, sa, len);
		*socket_context = k;
		/* Over a limit: end-of-stream now; MHD closes and we count it. */
		if ((!k || k->refused) && fd >= 0)
			shutdown(fd, SHUT_RDWR);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		conns_close(*socket_context);
		*socket_context = NULL;
	}
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)uri;  /* the raw URI (query string included) is never kept or logged */
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	conn *k = ci ? ci->socket_context : NULL;
	if (!k || k->refused)
		return NULL;
	memset(&k->rq, 0, sizeof(k->rq));
	k->rq.start_ns = mono_ns();
	conns_request_started(k, k->rq.start_ns);
	return k;
}

/* ---- answers MHD gave up on ------------------------------------------------------
 *
 * A parked request is woken with MHD's read interest still set (libmicrohttpd
 * 0.9.75 keeps the event-loop state of the moment it was suspended). If the
 * client half-closed its socket after sending (shutdown(SHUT_WR), which
 * some HTTP stacks do), that read returns end-of-stream and MHD closes the
 * connection, MHD_REQUEST_TERMINATED_WITH_ERROR, before it calls the
 * handler again: the job is done (a case stored, an activation saved) and
 * its answer would be lost without a trace. The completion callback runs
 * before MHD shuts the socket down or closes it, so the answer is taken
 * from the handler here and written on the descriptor as a whole HTTP/1.1
 * response that closes the connection. If even that fails, the client is
 * really gone: the answer is counted as undelivered and the handler's
 * records say so (http_resp.sent). */

/* Total time a late answer may wait for room in the socket buffer: it runs
 * on an MHD thread, and a response of a few hundred bytes fits at once. */
#define LATE_WRITE_MS 200

static int write_late(int fd, unsigned status, const char *ctype, const char *body, size_t len)
{
	char head[384];
	const char *reason = MHD_get_reason_phrase_for(status);
	int hn = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	                  status, reason && reason[0] ? reason : "Unknown", ctype, len);
	if (fd < 0 || hn < 0 || (size_t)hn >= sizeof(head)) {
		errno = EBADF;
		return -1;
	}
	struct iovec iov[2] = { { head, (size_t)hn }, { (void *)body, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	uint64_t end = mono_ns() + LATE_WRITE_MS * 1000000ull;
	while (m.msg_iovlen) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			uint64_t now = mono_ns();
			struct pollfd p = { fd, POLLOUT, 0 };
			if (now >= end || poll(&p, 1, (int)((end - now) / 1000000u) + 1) <= 0 ||
			    (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
				errno = now >= end ? ETIMEDOUT : EPIPE;
				return -1;
			}
			continue;
		}
		if (w < 0)
			return -1;
		size_t done = (size_t)w;
		while (m.msg_iovlen && done >= m.msg_iov->iov_len) {
			done -= m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + done;
			m.msg_iov->iov_len -= done;
		}
	}
	return 0;
}

/* Undelivered answers are counted each; said in the log at most every 10 s. */
static void say_undelivered(const route *rt, unsigned status, const char *why)
{
	static uint64_t last_ns;
	static unsigned quiet;
	uint64_t now = mono_ns(), prev = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
	met_undelivered(route_index(rt));
	if (prev && now - prev < 10000000000u) {
		__atomic_fetch_add(&quiet, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&last_ns, now, __ATOMIC_RELAXED);
	log_kv(LOG_WARN, "answer not delivered: the client's connection was gone "
	       "(further ones counted in metrics only, for 10 s)",
	       LS("route", rt->path), LU("status", status), LS("error", why),
	       LU("not_said_before", __atomic_exchange_n(&quiet, 0, __ATOMIC_RELAXED)), LOG_END);
}

/* The request was parked, its job is finished and MHD closed the
 * connection without asking for the answer: write it ourselves. */
static void answer_late(struct MHD_Connection *c, conn *k)
{
	req *q = &k->rq;
	const route *rt = q->route;
	http_req rq = {
		.method = rt->method,
		.path = rt->path,
		.body = k->body ? k->body : "",
		.body_len = q->len,
		.start_ns = q->start_ns,
		.loopback = k->loopback,
		.peer = k->peer,
		.job = &q->job,
		.resumed = 1,
		.impl = c,
	};
	for (int i = 0; i < HTTP_MAX_PARAMS; i++) {
		rq.params[i] = q->params[i];
		rq.param_len[i] = q->param_len[i];
	}
	http_resp rs = { .cause = -1 };
	q->suspended = 0;
	rt->fn(&rq, &rs);
	unsigned status = rs.status ? rs.status : 200;
	const char *body = rs.borrowed ? rs.borrowed : rs.body.s;
	size_t len = rs.borrowed ? rs.borrowed_len : rs.body.len;
	const char *why = rs.suspend ? "the handler parked again"
	                  : (!body && len) || rs.body.failed ? "out of memory" : NULL;
	int ok = !why && write_late(k->fd, status, rs.content_type ? rs.content_type : "application/json",
	                            body ? body : "", len) == 0;
	if (ok) {
		met_response(status);
		if (rs.cause >= 0)
			met_reject((enum reject_cause)rs.cause);
		log_kv(LOG_DEBUG, "answer written by the daemon after libmicrohttpd closed the request",
		       LS("route", rt->path), LU("status", status), LOG_END);
	} else {
		say_undelivered(rt, status, why ? why : strerror(errno));
	}
	dbuf_free(&rs.body);
	if (rs.sent)
		rs.sent(rs.sent_arg, ok);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	conn *k = *req_cls;
	(void)cls;
	if (!k)
		return;
	req *q = &k->rq;
	/* Parked and woken, but the handler was not called again: only MHD
	 * gave up on the connection (a parked request is never timed out). */
	if (q->suspended && q->route && __atomic_load_n(&q->woken, __ATOMIC_ACQUIRE) &&
	    toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		answer_late(c, k);
	} else if (q->answered) {
		/* MHD says COMPLETED_OK once the whole response is written. */
		int delivered = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
		if (!delivered && q->route)
			say_undelivered(q->route, q->status, toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN
			                ? "closed at shutdown before it was sent"
			                : "the connection closed before it was sent");
		if (q->sent)
			q->sent(q->sent_arg, delivered);
	}
	q->sent = NULL;
	q->answered = 0;
	/* A keep-alive connection that once carried a big body gives the
	 * memory back rather than hold it while idle. */
	if (k->body_cap > 16384) {
		free(k->body);
		k->body = NULL;
		k->body_cap = 0;
	}
	conns_request_finished(k);
	*req_cls = NULL;
}

/* MHD's own messages are about connections, not request content, but they
 * are text of unknown origin: log_untrusted() scrubs them. Resource
 * trouble (accept failures, memory) is a warning; the rest, mostly clients
 * that went away, is debug. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	int level = (strstr(msg, "ccept") || strstr(msg, "emory") || strstr(msg, "esource") ||
	             strstr(msg, "limit")) ? LOG_WARN : LOG_DEBUG;
	log_untrusted(level, "libmicrohttpd", msg);
}

/* ---- lifecycle -------------------------------------------------------------- */

int server_listen(const stepupd_config *cfg, unsigned *port, char *err, size_t errlen)
{
	const struct sockaddr *sa = (const struct sockaddr *)&cfg->listen_addr;
	int one = 1;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", cfg->listen, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, cfg->listen_addr_len) < 0 || listen(fd, 1024) < 0) {
		snprintf(err, errlen, "listen %s: %s", cfg->listen, strerror(errno));
		close(fd);
		return -1;
	}
	struct sockaddr_storage got;
	socklen_t gl = sizeof(got);
	getsockname(fd, (struct sockaddr *)&got, &gl);
	*port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
	                                        : ((struct sockaddr_in *)&got)->sin_port);
	listen_fd = fd;
	return 0;
}

int server_start(const stepupd_config *cfg, char *err, size_t errlen)
{
	const struct cfg_limits *l = &cfg->limits;
	unsigned threads = cfg->threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	max_body = l->max_body_bytes;
	discard_max = 4 * max_body;
	struct conns_limits cl = { l->max_connections, l->max_connections_per_ip,
	                           l->connection_timeout_ms };
	conns_init(&cl);
	/* MHD's inactivity timeout backs up the reaper for slow readers of a
	 * response; in whole seconds, rounded up. */
	unsigned idle_s = (l->connection_timeout_ms + 999) / 1000;
	/* MHD's own limit sits above ours, so ours is the one that refuses
	 * (and counts); MHD splits it across the worker threads. */
	unsigned mhd_limit = l->max_connections + 64 * threads;
	snprintf(not_found_msg, sizeof(not_found_msg), "no such endpoint; endpoints are %s", route_list());
	/* One thread is MHD's single polling thread: no pool (MHD warns). */
	struct MHD_OptionItem pool[] = {
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	/* poll(), not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon() races
	 * with its own epoll loop (both remove the listening socket from the
	 * epoll set; the loser's epoll_ctl fails with ENOENT and MHD panics),
	 * and a drain must never abort the daemon. Its poll() side signals
	 * the workers instead. A worker polls its own connections only. */
	D = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
	                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TURBO,
	                     0, NULL, NULL, on_request, NULL,
	                     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
	                     MHD_OPTION_LISTEN_SOCKET, listen_fd,
	                     MHD_OPTION_ARRAY, pool,
	                     MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	                     MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
	                     MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
	                     MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
	                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	                     MHD_OPTION_END);
	if (!D) {
		snprintf(err, errlen, "listen %s: libmicrohttpd did not start", cfg->listen);
		return -1;
	}
	listen_fd = -1;
	log_kv(LOG_DEBUG, "http server started", LU("threads", threads), LOG_END);
	return 0;
}

void server_quiesce(void)
{
	conns_refuse_new();
	if (!D)
		return;
	MHD_socket fd = MHD_quiesce_daemon(D);
	/* MHD keeps the descriptor until it stops; shutting it down now makes
	 * the kernel refuse new connections instead of queueing them. */
	if (fd != MHD_INVALID_SOCKET) {
		shutdown(fd, SHUT_RDWR);
		listen_fd = fd;
	}
}

void server_stop(void)
{
	if (D)
		MHD_stop_daemon(D);
	D = NULL;
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
}
