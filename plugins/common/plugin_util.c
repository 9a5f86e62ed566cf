/* plugin_util.c: see plugin_util.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_util.h"

void spc_plugin_set(spc_plugin *p, const stepup_plugin_desc *desc, const stepup_host_api *host, void *host_ctx)
{
	*p = (spc_plugin){ desc->name, desc->version, host, host_ctx };
}

int spc_check_only(const spc_plugin *p)
{
	const stepup_host_api *h = p->host;
	return h && h->size >= offsetof(stepup_host_api, flags) + sizeof(h->flags) &&
	       (h->flags & STEPUP_HOST_CHECK_ONLY) != 0;
}

void spc_set_data_version(const spc_plugin *p, const char *fmt, ...)
{
	const stepup_host_api *h = p->host;
	char v[160];
	va_list ap;
	if (!h || h->size < offsetof(stepup_host_api, set_data_version) + sizeof(h->set_data_version) ||
	    !h->set_data_version)
		return;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	h->set_data_version(p->host_ctx, v);
}

void spc_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int spc_ctx_ok(const stepup_call_ctx *ctx)
{
	return ctx && ctx->size >= offsetof(stepup_call_ctx, errlen) + sizeof(ctx->errlen);
}

void spc_ctx_err(const char *name, const stepup_call_ctx *ctx, const char *fmt, ...)
{
	if (!spc_ctx_ok(ctx) || !ctx->err || !ctx->errlen)
		return;
	int n = snprintf(ctx->err, ctx->errlen, "%s: ", name);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

void spc_log(const spc_plugin *p, int level, const char *fmt, ...)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s: ", p->name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	p->host->log(p->host_ctx, level, msg);
}

void spc_report_failure(const spc_plugin *p, const stepup_call_ctx *ctx, const char *what,
			int64_t took_ms, const char *why)
{
	spc_ctx_err(p->name, ctx, "%s", why);
	spc_log(p, STEPUP_PLUGIN_LOG_WARNING, "%s after %lld ms: %s", what, (long long)took_ms, why);
}

int spc_host_ok(const stepup_host_api *host, int need_clock)
{
	return host && host->size >= offsetof(stepup_host_api, now_ms) + sizeof(host->now_ms) &&
	       host->alloc && host->free && host->log && (!need_clock || host->now_ms);
}

char *spc_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *spc_host_strdup(const stepup_host_api *host, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = host->alloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void spc_buf_add(spc_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void spc_buf_adds(spc_buf *b, const char *s)
{
	spc_buf_add(b, s, strlen(s));
}

void spc_buf_addc(spc_buf *b, char c)
{
	spc_buf_add(b, &c, 1);
}

void spc_buf_wipe(spc_buf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
