/* good.c: a well-formed fake plugin "good" for test_plugin_loader: rule
 * functions of every type, a customer-service router, and an init that
 * refuses a configuration containing "fail". Links nothing but libc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/plugin.h>

typedef struct good_state {
	const stepup_host_api *host;
	int64_t base;
} good_state;

static char *dup_host(const stepup_host_api *host, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = host->alloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static int good_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		     void **state, char *err, size_t errlen)
{
	if (strstr(config_json, "fail")) {
		strncpy(err, "configuration asks to fail", errlen - 1);
		return STEPUP_PLUGIN_EINVAL;
	}
	good_state *st = host->alloc(sizeof(*st));
	if (!st)
		return STEPUP_PLUGIN_ERROR;
	st->host = host;
	st->base = strstr(config_json, "\"base\": 100") ? 100 : 0;
	host->log(host_ctx, STEPUP_PLUGIN_LOG_INFO, "good: ready");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void good_fini(void *state)
{
	good_state *st = state;
	st->host->free(st);
}

/* i */
static int64_t fn_add(void *state, int64_t a, int64_t b)
{
	return ((good_state *)state)->base + a + b;
}

static int64_t fn_answer(void *state)
{
	(void)state;
	return 42;
}

/* d */
static double fn_half(void *state, double x)
{
	(void)state;
	return x / 2;
}

static double fn_sum4(void *state, double a, double b, double c, double d)
{
	(void)state;
	return a + b + c + d;
}

/* b */
static int fn_is_even(void *state, int64_t x)
{
	(void)state;
	return x % 2 == 0;
}

static int fn_both(void *state, int a, int b)
{
	(void)state;
	return a && b;
}

/* s */
static char *fn_upper(void *state, const char *s)
{
	good_state *st = state;
	char *r = dup_host(st->host, s);
	for (char *p = r; p && *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	return r;
}

static char *fn_concat(void *state, const char *a, const char *b)
{
	good_state *st = state;
	size_t na = strlen(a), nb = strlen(b);
	char *r = st->host->alloc(na + nb + 1);
	if (!r)
		return NULL;
	memcpy(r, a, na);
	memcpy(r + na, b, nb + 1);
	return r;
}

static int64_t fn_length(void *state, const char *s)
{
	(void)state;
	return (int64_t)strlen(s);
}

static char *fn_nothing(void *state, const char *s)
{
	(void)state;
	(void)s;
	return NULL;
}

static const stepup_plugin_fn good_functions[] = {
	{ "add", "ii->i", (stepup_plugin_fn_ptr)fn_add },
	{ "answer", "->i", (stepup_plugin_fn_ptr)fn_answer },
	{ "half", "d->d", (stepup_plugin_fn_ptr)fn_half },
	{ "sum4", "dddd->d", (stepup_plugin_fn_ptr)fn_sum4 },
	{ "is_even", "i->b", (stepup_plugin_fn_ptr)fn_is_even },
	{ "both", "bb->b", (stepup_plugin_fn_ptr)fn_both },
	{ "upper", "s->s", (stepup_plugin_fn_ptr)fn_upper },
	{ "concat", "ss->s", (stepup_plugin_fn_ptr)fn_concat },
	{ "length", "s->i", (stepup_plugin_fn_ptr)fn_length },
	{ "nothing", "s->s", (stepup_plugin_fn_ptr)fn_nothing },
	{ NULL, NULL, NULL },
};

static int good_route(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		      stepup_cs_route *out)
{
	good_state *st = state;
	(void)request_json;
	if (st->host->now_ms() > ctx->deadline_ms) {
		strncpy(ctx->err, "deadline passed", ctx->errlen - 1);
		return STEPUP_PLUGIN_TIMEOUT;
	}
	out->number = dup_host(st->host, line == STEPUP_CS_LINE_FRAUD ? "+33100000002" : "+33100000001");
	out->hours = dup_host(st->host, "Mon-Fri 08:00-20:00");
	return STEPUP_PLUGIN_OK;
}

static const stepup_cs_router good_cs = {
	.size = sizeof(stepup_cs_router),
	.route = good_route,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "good",
	.version = "0.1.0",
	.init = good_init,
	.fini = good_fini,
	.functions = good_functions,
	.cs = &good_cs,
};
