/* conns.c: connection records, limits and the request-timeout reaper. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conns.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define NBUCKETS 1024

/* Open connections per client address. */
struct ipcount {
	struct ipcount *next;
	unsigned char key[16];
	unsigned n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static conn *head;
static struct ipcount *buckets[NBUCKETS];
static unsigned total;
static int refuse_new;
static struct conns_limits lim;
static uint64_t last_refusal_log_ns;

static unsigned inflight;        /* atomic */
static uint64_t last_request_ns; /* atomic */

void conns_init(const struct conns_limits *l)
{
	lim = *l;
}

/* IPv4 and IPv4-mapped IPv6 clients share one key space. */
static void addr_key(const struct sockaddr *a, unsigned char key[16], int *loopback)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(key, 0, 16);
	*loopback = 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
		memcpy(key, mapped, 12);
		memcpy(key + 12, &v4->sin_addr, 4);
	} else if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
		memcpy(key, &v6->sin6_addr, 16);
		*loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
	}
	if (memcmp(key, mapped, 12) == 0)
		*loopback = key[12] == 127;
}

static unsigned bucket_of(const unsigned char key[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % NBUCKETS;
}

/* Count one more (delta 1) or one less (-1) connection from key; the new
 * count, or 0 when the count could not be kept (allocation failure). */
static unsigned ip_adjust(const unsigned char key[16], int delta)
{
	struct ipcount **pp = &buckets[bucket_of(key)];
	for (; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->key, key, 16) == 0)
			break;
	if (!*pp) {
		if (delta < 0)
			return 0;
		struct ipcount *e = calloc(1, sizeof(*e));
		if (!e)
			return 0;
		memcpy(e->key, key, 16);
		*pp = e;
	}
	struct ipcount *e = *pp;
	e->n = delta > 0 ? e->n + 1 : e->n - 1;
	unsigned n = e->n;
	if (n == 0) {
		*pp = e->next;
		free(e);
	}
	return n;
}

/* Fair share: a few addresses at their per-address limit could fill the
 * whole table (5 x 256 > 1024) and lock every other client out. The last
 * eighth of max_connections is kept for addresses that hold few
 * connections: past 7/8 of it, an address already holding its quota
 * (max_connections / 128, at least 1) gets no more. */
static unsigned fair_mark(void)
{
	return lim.max_total - lim.max_total / 8;
}

static unsigned fair_quota(void)
{
	return lim.max_total / 128 ? lim.max_total / 128 : 1;
}

conn *conns_open(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	unsigned char key[16];
	conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	if (addr && addrlen <= sizeof(c->addr)) {
		memcpy(&c->addr, addr, addrlen);
		c->addrlen = addrlen;
	} else {
		c->addr.ss_family = AF_UNSPEC;
	}
	addr_key((const struct sockaddr *)&c->addr, key, &c->loopback);
	if (c->addr.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&c->addr)->sin_addr, c->peer, sizeof(c->peer));
	else if (c->addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->addr)->sin6_addr, c->peer, sizeof(c->peer));
	c->waiting_since = mono_ns();

	pthread_mutex_lock(&mu);
	unsigned per_ip = ip_adjust(key, 1);
	total++;
	int cause = -1;
	if (per_ip == 0) {
		/* Could not count it: refuse rather than run unlimited. */
		total--;
		pthread_mutex_unlock(&mu);
		free(c);
		return NULL;
	}
	if (refuse_new)
		c->refused = 1;
	else if (total > lim.max_total)
		cause = RJ_CONN_LIMIT;
	else if (per_ip > lim.max_per_ip)
		cause = RJ_PER_IP;
	else if (total > fair_mark() && per_ip > fair_quota())
		cause = RJ_FAIR_SHARE;
	if (cause >= 0)
		c->refused = 1;
	c->next = head;
	if (head)
		head->prev = c;
	head = c;
	uint64_t now = c->waiting_since;
	int say = cause >= 0 && (!last_refusal_log_ns || now < last_refusal_log_ns ||
	                         now - last_refusal_log_ns > 10000000000u);
	if (say)
		last_refusal_log_ns = now;
	unsigned t = total;
	pthread_mutex_unlock(&mu);

	if (cause >= 0) {
		met_reject((enum reject_cause)cause);
		/* One line per 10 s: a flood must not become a log flood. */
		if (say)
			log_kv(LOG_WARN, "connection refused (further refusals counted in metrics only, for 10 s)",
			       LS("cause", cause == RJ_PER_IP ? "per_ip_connection_limit"
			                   : cause == RJ_FAIR_SHARE ? "fair_share" : "connection_limit"),
			       LU("connections", t), LU("from_this_address", per_ip),
			       LU("max_connections", lim.max_total),
			       LU("max_connections_per_ip", lim.max_per_ip), LOG_END);
	}
	return c;
}

void conns_close(conn *c)
{
	unsigned char key[16];
	int lb;
	if (!c)
		return;
	if (__atomic_load_n(&c->in_request, __ATOMIC_RELAXED)) {
		c->in_request = 0;
		__atomic_fetch_sub(&inflight, 1, __ATOMIC_RELAXED);
	}
	addr_key((const struct sockaddr *)&c->addr, key, &lb);
	/* Unlinked under the lock before MHD closes the descriptor, so the
	 * reaper never shuts down a descriptor number that was reused. */
	pthread_mutex_lock(&mu);
	ip_adjust(key, -1);
	total--;
	if (c->prev)
		c->prev->next = c->next;
	else
		head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&mu);
	free(c->body);
	free(c);
}

void conns_request_started(conn *c, uint64_t now)
{
	if (!__atomic_load_n(&c->in_request, __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->in_request, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&inflight, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&last_request_ns, now, __ATOMIC_RELAXED);
}

void conns_request_complete(conn *c)
{
	__atomic_store_n(&c->waiting_since, 0, __ATOMIC_RELAXED);
}

void conns_request_finished(conn *c)
{
	if (__atomic_load_n(&c->in_request, __ATOMIC_RELAXED)) {
		__atomic_store_n(&c->in_request, 0, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&inflight, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->requests, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&c->waiting_since, mono_ns(), __ATOMIC_RELAXED);
}

void conns_reap(void)
{
	uint64_t now = mono_ns(), limit = (uint64_t)lim.timeout_ms * 1000000u;
	unsigned slow = 0, idle = 0;
	pthread_mutex_lock(&mu);
	for (conn *c = head; c; c = c->next) {
		uint64_t since = __atomic_load_n(&c->waiting_since, __ATOMIC_RELAXED);
		/* `since` may be newer than `now`: a worker thread stamps it
		 * without the lock. */
		if (!since || c->reaped || since >= now || now - since <= limit)
			continue;
		c->reaped = 1;
		/* A connection that never completed a request, or is in the middle
		 * of one, timed out; one that did and then went quiet is an idle
		 * keep-alive, which is normal. Counted before the client can see
		 * the close, so a client that reads the metrics next finds it. */
		if (__atomic_load_n(&c->in_request, __ATOMIC_RELAXED) ||
		    !__atomic_load_n(&c->requests, __ATOMIC_RELAXED)) {
			slow++;
			met_reject(RJ_TIMEOUT);
		} else {
			idle++;
			met_idle_closed();
		}
		/* shutdown, not close: MHD sees end-of-stream, closes and frees
		 * the connection itself on its own thread. */
		shutdown(c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&mu);
	if (slow)
		log_kv(LOG_INFO, "closed connections that did not deliver a request in time",
		       LU("connections", slow), LU("timeout_ms", lim.timeout_ms), LOG_END);
	if (idle)
		log_kv(LOG_DEBUG, "closed idle connections", LU("connections", idle),
		       LU("timeout_ms", lim.timeout_ms), LOG_END);
}

void conns_refuse_new(void)
{
	pthread_mutex_lock(&mu);
	refuse_new = 1;
	pthread_mutex_unlock(&mu);
}

unsigned conns_count(void)
{
	pthread_mutex_lock(&mu);
	unsigned n = total;
	pthread_mutex_unlock(&mu);
	return n;
}

unsigned conns_inflight(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_RELAXED);
}

uint64_t conns_last_request_ns(void)
{
	return __atomic_load_n(&last_request_ns, __ATOMIC_RELAXED);
}

int conns_body_reserve(conn *c, size_t need)
{
	if (need <= c->body_cap)
		return 0;
	size_t cap = c->body_cap ? c->body_cap : 2048;
	while (cap < need)
		cap *= 2;
	char *b = realloc(c->body, cap);
	if (!b)
		return -1;
	c->body = b;
	c->body_cap = cap;
	return 0;
}

void conns_shutdown(void)
{
	pthread_mutex_lock(&mu);
	for (unsigned i = 0; i < NBUCKETS; i++)
		while (buckets[i]) {
			struct ipcount *e = buckets[i];
			buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_unlock(&mu);
}
