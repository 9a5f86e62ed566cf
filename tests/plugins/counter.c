/* counter.c: a fake plugin "counter" for tests/unit/test_rulefn. Every rule
 * function but hits() counts its calls, so a test can prove that a call
 * with an absent argument never reached the plugin. Also long and many
 * string results, for the evaluator's ownership of returned strings.
 * Links nothing but libc. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <stepup/plugin.h>

static const stepup_host_api *host;
/* Calls since load; the .so is loaded once per process (dlopen shares it). */
static atomic_llong calls;

static int counter_init(const stepup_host_api *h, void *host_ctx, const char *config_json,
			void **state, char *err, size_t errlen)
{
	(void)host_ctx;
	(void)config_json;
	(void)err;
	(void)errlen;
	host = h;
	*state = NULL;
	return STEPUP_PLUGIN_OK;
}

static char *dup_host(const char *s, size_t n)
{
	char *p = host->alloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ->i: calls to every other function so far (not counted itself). */
static int64_t fn_hits(void *state)
{
	(void)state;
	return atomic_load(&calls);
}

/* s->b, i->b, d->b, b->b: always true. */
static int fn_touch_s(void *state, const char *s)
{
	(void)state;
	(void)s;
	atomic_fetch_add(&calls, 1);
	return 1;
}

static int fn_touch_i(void *state, int64_t i)
{
	(void)state;
	(void)i;
	atomic_fetch_add(&calls, 1);
	return 1;
}

static int fn_touch_d(void *state, double d)
{
	(void)state;
	(void)d;
	atomic_fetch_add(&calls, 1);
	return 1;
}

static int fn_touch_b(void *state, int b)
{
	(void)state;
	(void)b;
	atomic_fetch_add(&calls, 1);
	return 1;
}

/* isdb->i: the arguments folded into one number, so a test sees each
 * arrived intact: i * 1000 + strlen(s) * 100 + (int)d * 10 + b. */
static int64_t fn_mix(void *state, int64_t i, const char *s, double d, int b)
{
	(void)state;
	atomic_fetch_add(&calls, 1);
	return i * 1000 + (int64_t)strlen(s) * 100 + (int64_t)d * 10 + (b ? 1 : 0);
}

/* s->i: the length the plugin sees (a copy must be NUL-terminated at the
 * right place). */
static int64_t fn_len(void *state, const char *s)
{
	(void)state;
	atomic_fetch_add(&calls, 1);
	return (int64_t)strlen(s);
}

/* i->s: n times 'x' (n clamped to 0..100000); negative n: NULL (absent). */
static char *fn_xs(void *state, int64_t n)
{
	(void)state;
	atomic_fetch_add(&calls, 1);
	if (n < 0)
		return NULL;
	if (n > 100000)
		n = 100000;
	char *p = host->alloc((size_t)n + 1);
	if (p) {
		memset(p, 'x', (size_t)n);
		p[n] = '\0';
	}
	return p;
}

/* s->s: the argument back. */
static char *fn_echo(void *state, const char *s)
{
	(void)state;
	atomic_fetch_add(&calls, 1);
	return dup_host(s, strlen(s));
}

/* dd->d: named like good's add (ii->i), so a ruleset compiled against one
 * is refused by an engine given the other. */
static double fn_add(void *state, double a, double b)
{
	(void)state;
	atomic_fetch_add(&calls, 1);
	return a + b;
}

static const stepup_plugin_fn counter_functions[] = {
	{ "hits", "->i", (stepup_plugin_fn_ptr)fn_hits },
	{ "touch_s", "s->b", (stepup_plugin_fn_ptr)fn_touch_s },
	{ "touch_i", "i->b", (stepup_plugin_fn_ptr)fn_touch_i },
	{ "touch_d", "d->b", (stepup_plugin_fn_ptr)fn_touch_d },
	{ "touch_b", "b->b", (stepup_plugin_fn_ptr)fn_touch_b },
	{ "mix", "isdb->i", (stepup_plugin_fn_ptr)fn_mix },
	{ "len", "s->i", (stepup_plugin_fn_ptr)fn_len },
	{ "xs", "i->s", (stepup_plugin_fn_ptr)fn_xs },
	{ "echo", "s->s", (stepup_plugin_fn_ptr)fn_echo },
	{ "add", "dd->d", (stepup_plugin_fn_ptr)fn_add },
	{ NULL, NULL, NULL },
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "counter",
	.version = "0.1.0",
	.init = counter_init,
	.functions = counter_functions,
};
