/* sink_net.c: see sink_net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sink_net.h"

int sink_listen(const char *addr, uint16_t port, uint16_t *bound, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, addr ? addr : "127.0.0.1", &sa.sin_addr) != 1) {
		snprintf(err, errlen, "bad IPv4 address '%s'", addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		snprintf(err, errlen, "bind/listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

int sink_wait(int fd, int stopfd, int timeout_ms)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { stopfd, POLLIN, 0 } };
	for (;;) {
		int n = poll(p, 2, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			return -1;
		if (n == 0)
			return 0;
		return 1;
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sink_delay(int fd, int stopfd, int delay_ms)
{
	int64_t end = mono_ms() + delay_ms;
	for (;;) {
		int64_t left = end - mono_ms();
		if (left <= 0)
			return 0;
		int w = sink_wait(fd, stopfd, (int)left);
		if (w < 0)
			return -1;
		if (w == 0)
			return 0;
		/* Readable: either the peer left (EOF/reset) or it sent more
		 * (pipelining); only the former ends the delay. */
		char c;
		ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			return 1;
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

int sink_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void sink_reader_init(sink_reader *r, int fd, int stopfd)
{
	r->fd = fd;
	r->stopfd = stopfd;
	r->pos = r->len = 0;
}

/* Refill the buffer: 0, or -1 on EOF / timeout / stop. */
static int fill(sink_reader *r)
{
	if (sink_wait(r->fd, r->stopfd, SINK_IO_TIMEOUT_MS) != 1)
		return -1;
	ssize_t n;
	do
		n = recv(r->fd, r->buf, sizeof(r->buf), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	r->pos = 0;
	r->len = (size_t)n;
	return 0;
}

long sink_read_line(sink_reader *r, char *line, size_t max)
{
	size_t n = 0;
	int toolong = 0;
	for (;;) {
		if (r->pos == r->len && fill(r) != 0)
			return -1;
		char c = r->buf[r->pos++];
		if (c == '\n')
			break;
		if (n + 1 < max)
			line[n++] = c;
		else
			toolong = 1;
	}
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return toolong ? -2 : (long)n;
}

long sink_read_raw_line(sink_reader *r, char *line, size_t max)
{
	size_t n = 0;
	while (n + 1 < max) {
		if (r->pos == r->len && fill(r) != 0)
			return n ? (long)n : -1;
		char c = r->buf[r->pos++];
		line[n++] = c;
		if (c == '\n')
			break;
	}
	line[n] = '\0';
	return (long)n;
}

int sink_read_n(sink_reader *r, char *dst, size_t n)
{
	while (n) {
		if (r->pos == r->len && fill(r) != 0)
			return -1;
		size_t k = r->len - r->pos < n ? r->len - r->pos : n;
		memcpy(dst, r->buf + r->pos, k);
		r->pos += k;
		dst += k;
		n -= k;
	}
	return 0;
}

int sink_stop_init(int fds[2])
{
	return pipe2(fds, O_CLOEXEC);
}

void sink_stop_signal(int fds[2])
{
	char c = 'x';
	while (write(fds[1], &c, 1) < 0 && errno == EINTR)
		;
}

void sink_stop_close(int fds[2])
{
	close(fds[0]);
	close(fds[1]);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

char *sink_memdup(const void *p, size_t n)
{
	char *d = xmalloc(n + 1);
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

char *sink_strdup(const char *s)
{
	return s ? sink_memdup(s, strlen(s)) : NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int sink_strncaseeq(const char *a, const char *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (lower((unsigned char)a[k]) != lower((unsigned char)b[k]))
			return 0;
		if (!a[k])
			return 1;
	}
	return 1;
}

int sink_strcaseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

int sink_server_start(sink_server *sv, const char *addr, uint16_t port, void *(*run)(void *),
		      void *arg, char *err, size_t errlen)
{
	if (sink_stop_init(sv->stop) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	sv->lfd = sink_listen(addr, port, &sv->port, err, errlen);
	if (sv->lfd < 0) {
		sink_stop_close(sv->stop);
		return -1;
	}
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	int rc = pthread_create(&sv->thread, NULL, run, arg);
	if (rc != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		close(sv->lfd);
		sink_stop_close(sv->stop);
		pthread_mutex_destroy(&sv->mu);
		pthread_cond_destroy(&sv->cv);
		return -1;
	}
	return 0;
}

void sink_server_stop(sink_server *sv)
{
	sink_stop_signal(sv->stop);
	pthread_join(sv->thread, NULL);
	close(sv->lfd);
	sink_stop_close(sv->stop);
}
