/* test_host.c: see test_host.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test_host.h"

static _Atomic int64_t clock_offset;
static _Atomic long outstanding;

int64_t test_host_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t test_host_now_ms(void)
{
	return test_host_real_ms() + clock_offset;
}

void test_host_advance_ms(int64_t ms)
{
	clock_offset += ms;
}

static void *counted_alloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		outstanding++;
	return p;
}

static void counted_free(void *p)
{
	if (p)
		outstanding--;
	free(p);
}

long test_host_outstanding(void)
{
	return outstanding;
}

static void host_log(void *host_ctx, int level, const char *msg)
{
	static const char *const names[] = { "ERROR", "WARNING", "INFO", "DEBUG" };
	test_host *h = host_ctx;
	char *line = NULL;
	if (asprintf(&line, "%s %s", level >= 0 && level <= 3 ? names[level] : "LEVEL?",
		     msg ? msg : "(null)") < 0)
		abort();
	pthread_mutex_lock(&h->mu);
	char **v = realloc(h->lines, (h->nlines + 1) * sizeof(*v));
	if (!v)
		abort();
	h->lines = v;
	v[h->nlines++] = line;
	pthread_mutex_unlock(&h->mu);
}

void test_host_init(test_host *h)
{
	memset(h, 0, sizeof(*h));
	h->api.size = sizeof(h->api);
	h->api.abi_minor = STEPUP_PLUGIN_ABI_MINOR;
	h->api.log = host_log;
	h->api.alloc = counted_alloc;
	h->api.free = counted_free;
	h->api.now_ms = test_host_now_ms;
	pthread_mutex_init(&h->mu, NULL);
}

void test_host_log_clear(test_host *h)
{
	pthread_mutex_lock(&h->mu);
	for (size_t k = 0; k < h->nlines; k++)
		free(h->lines[k]);
	free(h->lines);
	h->lines = NULL;
	h->nlines = 0;
	pthread_mutex_unlock(&h->mu);
}

void test_host_fini(test_host *h)
{
	test_host_log_clear(h);
	pthread_mutex_destroy(&h->mu);
}

void test_host_ctx(stepup_call_ctx *ctx, char *err, size_t errlen, uint32_t timeout_ms)
{
	ctx->size = sizeof(*ctx);
	ctx->timeout_ms = timeout_ms;
	ctx->deadline_ms = test_host_now_ms() + timeout_ms;
	ctx->err = err;
	ctx->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
}

size_t test_host_log_count(test_host *h)
{
	pthread_mutex_lock(&h->mu);
	size_t n = h->nlines;
	pthread_mutex_unlock(&h->mu);
	return n;
}

const char *test_host_log_line(test_host *h, size_t i)
{
	pthread_mutex_lock(&h->mu);
	const char *s = i < h->nlines ? h->lines[i] : NULL;
	pthread_mutex_unlock(&h->mu);
	return s;
}

const char *test_host_log_find(test_host *h, const char *needle)
{
	const char *hit = NULL;
	pthread_mutex_lock(&h->mu);
	for (size_t k = 0; k < h->nlines && !hit; k++)
		if (strstr(h->lines[k], needle))
			hit = h->lines[k];
	pthread_mutex_unlock(&h->mu);
	return hit;
}

uint16_t test_host_closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		abort();
	close(fd);
	return ntohs(sa.sin_port);
}
