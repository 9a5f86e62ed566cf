/* plugin_breaker.c: see plugin_breaker.h. */
#include <string.h>

#include "plugin_breaker.h"
#include "plugin_config.h"

void spc_breaker_init(spc_breaker *b)
{
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
}

void spc_breaker_destroy(spc_breaker *b)
{
	pthread_mutex_destroy(&b->mu);
}

int spc_breaker_configure(json_t *root, spc_breaker *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "failures", "open_seconds", NULL };
	json_t *cb;
	if (spc_cfg_object(root, "circuit_breaker", &cb, err, errlen) != 0)
		return -1;
	if (!cb)
		return 0;
	if (spc_cfg_only_keys(cb, "circuit_breaker", keys, err, errlen) != 0 ||
	    spc_cfg_uint(cb, "circuit_breaker", "failures", 1, 1000, &b->failures, err, errlen) != 0 ||
	    spc_cfg_uint(cb, "circuit_breaker", "open_seconds", 1, 86400, &b->open_seconds, err, errlen) != 0)
		return -1;
	return 0;
}

static int is_open(spc_breaker *b, int64_t now)
{
	if (!b->failures)
		return 0;
	pthread_mutex_lock(&b->mu);
	int open = b->open_until_ms && now < b->open_until_ms;
	pthread_mutex_unlock(&b->mu);
	return open;
}

int spc_breaker_refuses(spc_breaker *b, const spc_plugin *p, const stepup_call_ctx *ctx, int64_t now,
			const char *peer)
{
	if (!is_open(b, now))
		return 0;
	spc_ctx_err(p->name, ctx, "circuit open after %u consecutive %s failures", b->failures, peer);
	return 1;
}

void spc_breaker_record(spc_breaker *b, const spc_plugin *p, int failed)
{
	if (!b->failures)
		return;
	int opened = 0;
	pthread_mutex_lock(&b->mu);
	if (!failed) {
		b->count = 0;
		b->open_until_ms = 0;
	} else if (++b->count >= b->failures) {
		b->open_until_ms = p->host->now_ms() + (int64_t)b->open_seconds * 1000;
		opened = 1;
	}
	unsigned n = b->count;
	pthread_mutex_unlock(&b->mu);
	if (opened)
		spc_log(p, STEPUP_PLUGIN_LOG_WARNING, "circuit open for %u s after %u consecutive failures",
			b->open_seconds, n);
}
