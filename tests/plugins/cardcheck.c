/* cardcheck.c: a fake plugin of ABI 1.1 that uses the host's card-number
 * policy (stepup_host_api.card_number_find) through rule functions, for
 * test_plugin_loader: what a plugin sees is what the host decides.
 * Links nothing but libc. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <stepup/plugin.h>

typedef struct cc_state {
	const stepup_host_api *host;
} cc_state;

static int cc_init(const stepup_host_api *host, void *host_ctx, const char *config_json, void **state,
		   char *err, size_t errlen)
{
	(void)host_ctx;
	(void)config_json;
	/* A field added in 1.1: only within the table the host handed over. */
	if (host->size < offsetof(stepup_host_api, card_number_find) + sizeof(host->card_number_find) ||
	    host->abi_minor < 1 || !host->card_number_find) {
		strncpy(err, "the host has no card_number_find", errlen - 1);
		return STEPUP_PLUGIN_EINVAL;
	}
	cc_state *st = host->alloc(sizeof(*st));
	if (!st)
		return STEPUP_PLUGIN_ERROR;
	st->host = host;
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void cc_fini(void *state)
{
	cc_state *st = state;
	st->host->free(st);
}

/* Byte offset of the first card number in s, or -1. */
static int64_t fn_start(void *state, const char *s)
{
	cc_state *st = state;
	size_t a = 99, b = 99;
	return st->host->card_number_find(s, strlen(s), &a, &b) ? (int64_t)a : -1;
}

/* One past its last digit, or -1. */
static int64_t fn_end(void *state, const char *s)
{
	cc_state *st = state;
	size_t b = 99;
	return st->host->card_number_find(s, strlen(s), NULL, &b) ? (int64_t)b : -1;
}

static const stepup_plugin_fn cc_functions[] = {
	{ "start", "s->i", (stepup_plugin_fn_ptr)fn_start },
	{ "end", "s->i", (stepup_plugin_fn_ptr)fn_end },
	{ NULL, NULL, NULL },
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = 1,
	.name = "cardcheck",
	.version = "0.1.0",
	.init = cc_init,
	.fini = cc_fini,
	.functions = cc_functions,
};
