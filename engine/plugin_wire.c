/* plugin_wire.c: frames between stepup and a plugin's child process
 * (plugin_wire.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "plugin_wire.h"

const char *const su_pop_names[SU_POP_COUNT] = {
	"can_deliver", "deliver_otp", "notify", "describe", "start", "verify", "route", "lookup",
};

int64_t su_wire_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writing ------------------------------------------------------------- */

void su_wire_begin(su_wbuf *w, int kind)
{
	unsigned char k = (unsigned char)kind;
	if (w->len)
		su_wire_wipe(w);
	w->oom = 0;
	w->wipe = 1;
	su_w32(w, 0);
	su_wbytes(w, &k, 1);
}

void su_wire_str(su_wbuf *w, const char *s)
{
	if (!s) {
		su_wbytes(w, "n", 1);
		return;
	}
	size_t n = strlen(s);
	if (n > SU_WIRE_MAX) {
		w->oom = 1;
		return;
	}
	su_wbytes(w, "s", 1);
	su_w32(w, (uint32_t)n);
	su_wbytes(w, s, n + 1);
}

void su_wire_i64(su_wbuf *w, int64_t v)
{
	su_wbytes(w, "i", 1);
	su_w64(w, (uint64_t)v);
}

void su_wire_f64(su_wbuf *w, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	su_wbytes(w, "d", 1);
	su_w64(w, bits);
}

int su_wire_end(su_wbuf *w)
{
	if (w->oom || w->len < 5 || w->len - 4 > SU_WIRE_MAX)
		return -1;
	uint32_t n = (uint32_t)(w->len - 4);
	w->p[0] = (unsigned char)n;
	w->p[1] = (unsigned char)(n >> 8);
	w->p[2] = (unsigned char)(n >> 16);
	w->p[3] = (unsigned char)(n >> 24);
	return 0;
}

void su_wire_wipe(su_wbuf *w)
{
	if (w->p)
		explicit_bzero(w->p, w->len);
	w->len = 0;
	w->oom = 0;
}

void su_wire_free(su_wbuf *w)
{
	if (w->p) {
		explicit_bzero(w->p, w->cap);
		free(w->p);
	}
	w->p = NULL;
	w->len = w->cap = 0;
	w->oom = 0;
}

/* ---- reading ------------------------------------------------------------- */

int su_wire_kind(const su_rbuf *r)
{
	return r->len ? r->p[0] : -1;
}

static int take(su_rbuf *r, size_t n)
{
	if (r->bad || r->len - r->at < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static uint64_t get_u64(su_rbuf *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->at + (size_t)i] << (8 * i);
	r->at += 8;
	return v;
}

const char *su_wire_get_str(su_rbuf *r)
{
	if (!take(r, 1))
		return NULL;
	if (r->p[r->at] == 'n') {
		r->at++;
		return NULL;
	}
	if (r->p[r->at] != 's' || !take(r, 5)) {
		r->bad = 1;
		return NULL;
	}
	r->at++;
	const unsigned char *b = r->p + r->at;
	size_t n = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
	r->at += 4;
	if (n > r->len - r->at || !take(r, n + 1)) {
		r->bad = 1;
		return NULL;
	}
	const char *s = (const char *)r->p + r->at;
	if (s[n] != '\0' || memchr(s, '\0', n)) {
		r->bad = 1;
		return NULL;
	}
	r->at += n + 1;
	return s;
}

int64_t su_wire_get_i64(su_rbuf *r)
{
	if (!take(r, 9) || r->p[r->at] != 'i') {
		r->bad = 1;
		return 0;
	}
	r->at++;
	return (int64_t)get_u64(r);
}

double su_wire_get_f64(su_rbuf *r)
{
	double v;
	if (!take(r, 9) || r->p[r->at] != 'd') {
		r->bad = 1;
		return 0;
	}
	r->at++;
	uint64_t bits = get_u64(r);
	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* ---- descriptors ------------------------------------------------------------ */

/* Wait for fd to be ready for `events` until deadline_ms (0: no limit).
 * 0, or -1 with errno ETIMEDOUT / ECONNRESET. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int ms = -1;
		if (deadline_ms > 0) {
			int64_t left = deadline_ms - su_wire_now_ms();
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			ms = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd p = { fd, events, 0 };
		int n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			continue;  /* re-check the deadline */
		if (p.revents & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		/* POLLHUP with data still to read is read first. */
		if ((p.revents & (POLLERR | POLLHUP)) && !(p.revents & events)) {
			errno = events == POLLOUT ? EPIPE : ECONNRESET;
			return -1;
		}
		return 0;
	}
}

int su_wire_send(int fd, const su_wbuf *w, int64_t deadline_ms)
{
	size_t at = 0;
	while (at < w->len) {
		ssize_t n = send(fd, w->p + at, w->len - at, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			at += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline_ms) < 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

static int read_full(int fd, unsigned char *p, size_t n, int64_t deadline_ms)
{
	size_t at = 0;
	while (at < n) {
		ssize_t k = recv(fd, p + at, n - at, MSG_DONTWAIT);
		if (k > 0) {
			at += (size_t)k;
			continue;
		}
		if (k == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_fd(fd, POLLIN, deadline_ms) < 0)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

int su_wire_recv(int fd, su_wbuf *buf, su_rbuf *r, int64_t deadline_ms)
{
	unsigned char h[4];
	memset(r, 0, sizeof(*r));
	if (read_full(fd, h, 4, deadline_ms) < 0)
		return -1;
	size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
	if (n == 0 || n > SU_WIRE_MAX) {
		errno = EPROTO;
		return -1;
	}
	su_wire_wipe(buf);
	/* Grow without copying: the space is filled by the read. */
	if (buf->cap < n) {
		unsigned char *q = malloc(n);
		if (!q) {
			errno = ENOMEM;
			return -1;
		}
		su_wire_free(buf);
		buf->p = q;
		buf->cap = n;
	}
	buf->len = n;
	if (read_full(fd, buf->p, n, deadline_ms) < 0)
		return -1;
	r->p = buf->p;
	r->len = n;
	r->at = 1;
	return 0;
}
