/* prefix_guard.c: a whole plugin written against the installed stepup
 * plugin SDK only (`pkg-config stepup-plugin`), as an integrator would
 * write one: an OTP_SMS channel that accepts numbers of the countries it
 * is configured for and hands the message to the issuer's SMS relay (here
 * it only logs that it would), and a rule function telling rules whether
 * a number is one it can serve:
 *
 *   rule sms_abroad "SMS cannot reach the holder"
 *     when end_user.phone is present and not prefix_guard.allowed(end_user.phone)
 *     then step_up only CUSTOMER_SERVICE
 *
 * Build it:   make            (the Makefile beside it, with pkg-config)
 * Configure:  prefix_guard.example.json
 *
 * Everything an instance needs lives in its state: several instances of
 * one module may run at once (plugin.h). */
#include <stdlib.h>
#include <string.h>

#include <stepup/plugin.h>
#include <stepup/sdk/plugin_config.h>
#include <stepup/sdk/plugin_template.h>
#include <stepup/sdk/plugin_text.h>
#include <stepup/sdk/plugin_util.h>

typedef struct pg_state {
	spc_plugin base;        /* name, version, host: this instance's */
	char *relay;            /* the SMS relay's number */
	char *text;             /* the message template, with {otp} */
	spc_strlist prefixes;   /* countries served; empty: all */
	unsigned max_length;    /* of a rendered message */
	int dry_run;
} pg_state;

/* config: begin (the whole configuration reading) */
static const spc_cfg_key pg_keys[] = {
	SPC_CFG_E164(pg_state, relay, "relay", 1),
	SPC_CFG_STRING(pg_state, text, "text", 1, spc_is_line, "one line of text with {otp}"),
	SPC_CFG_PREFIXES(pg_state, prefixes, "allowed_prefixes", 0),
	SPC_CFG_UINT(pg_state, max_length, "max_length", 20, 160, 160),
	SPC_CFG_BOOL(pg_state, dry_run, "dry_run", 1),
	SPC_CFG_END,
};
/* config: end */

static const char *const pg_vars[] = { "otp" };

static void pg_free(pg_state *st)
{
	spc_cfg_free(pg_keys, st);
	free(st);
}

static int pg_init(const stepup_host_api *host, void *host_ctx, const char *config_json, void **state,
		   char *err, size_t errlen)
{
	char why[160];
	pg_state *st = calloc(1, sizeof(*st));
	if (!st || !spc_host_ok(host, 1)) {
		free(st);
		spc_set_err(err, errlen, "out of memory or an unusable host");
		return STEPUP_PLUGIN_ERROR;
	}
	spc_plugin_set(&st->base, &stepup_plugin, host, host_ctx);
	if (spc_cfg_read(config_json, pg_keys, st, err, errlen) != 0) {
		free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	unsigned uses = 0;
	if (spc_tpl_check(st->text, pg_vars, 1, &uses, why, sizeof(why)) != 0 || !(uses & 1)) {
		spc_set_err(err, errlen, "text: %s", uses & 1 ? why : "must contain {otp}");
		pg_free(st);
		return STEPUP_PLUGIN_EINVAL;
	}
	/* What decides: the countries served, so a changed list changes
	 * the revision of the decisions it takes part in. */
	spc_buf dv = { 0 };
	for (size_t k = 0; k < st->prefixes.n; k++) {
		spc_buf_adds(&dv, k ? "," : "prefixes:");
		spc_buf_adds(&dv, st->prefixes.v[k]);
	}
	spc_set_data_version(&st->base, "%s", dv.p ? dv.p : "prefixes:any");
	spc_buf_wipe(&dv);
	if (!spc_check_only(&st->base))  /* a check opens nothing */
		spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "ready: %zu allowed prefix(es)%s", st->prefixes.n,
			st->dry_run ? ", dry run" : "");
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void pg_fini(void *state)
{
	pg_free(state);
}

static int served(const pg_state *st, const char *to)
{
	return to && spc_is_e164(to) && spc_has_prefix(to, st->prefixes.v, st->prefixes.n);
}

static int pg_can_deliver(void *state, const stepup_call_ctx *ctx, const char *to)
{
	pg_state *st = state;
	if (!to || served(st, to))
		return STEPUP_PLUGIN_OK;
	spc_ctx_err(st->base.name, ctx, "not a number of an allowed country");
	return STEPUP_PLUGIN_UNAVAILABLE;
}

static int pg_deliver(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *m)
{
	pg_state *st = state;
	const char *vals[] = { m->otp };
	spc_buf msg = { 0 };
	if (!served(st, m->destination)) {
		spc_ctx_err(st->base.name, ctx, "not a number of an allowed country");
		return STEPUP_PLUGIN_EINVAL;
	}
	if (st->base.host->now_ms() >= ctx->deadline_ms)
		return STEPUP_PLUGIN_TIMEOUT;
	spc_tpl_render(st->text, pg_vars, 1, vals, &msg);
	int rc = msg.oom ? STEPUP_PLUGIN_ERROR
	       : msg.len > st->max_length ? STEPUP_PLUGIN_EINVAL : STEPUP_PLUGIN_OK;
	if (rc == STEPUP_PLUGIN_OK)  /* never the number or the code: PII */
		spc_log(&st->base, STEPUP_PLUGIN_LOG_INFO, "%s %zu characters via the relay",
			st->dry_run ? "would send" : "sent", msg.len);
	else
		spc_ctx_err(st->base.name, ctx, "%s", msg.oom ? "out of memory" : "message longer than max_length");
	spc_buf_wipe(&msg);  /* it held the OTP */
	return rc;
}

static int pg_notify(void *state, const stepup_call_ctx *ctx, const char *to, const char *text,
		     const char *language)
{
	pg_state *st = state;
	(void)text;
	(void)language;
	if (!served(st, to)) {
		spc_ctx_err(st->base.name, ctx, "not a number of an allowed country");
		return STEPUP_PLUGIN_EINVAL;
	}
	return STEPUP_PLUGIN_OK;
}

/* s->b: can this plugin send an SMS to that number? */
static int pg_allowed(void *state, const char *number)
{
	return served(state, number);
}

static const stepup_plugin_fn pg_functions[] = {
	{ "allowed", "s->b", (stepup_plugin_fn_ptr)pg_allowed },
	{ NULL, NULL, NULL },
};

static const stepup_otp_channel pg_otp = { sizeof(stepup_otp_channel), pg_can_deliver, pg_deliver, pg_notify };

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "prefix_guard",
	.version = "1.0.0",
	.init = pg_init,
	.fini = pg_fini,
	.functions = pg_functions,
	.otp = &pg_otp,
};
