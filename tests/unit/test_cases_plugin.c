/* test_cases_plugin.c: a fake plugin "rec" for the lifecycle tests. It
 * serves every method kind and writes each step-up call it gets, with its
 * arguments, as one line of the file named by "record":
 *
 *     deliver_otp <TAB> destination <TAB> otp <TAB> expires_at <TAB> reason
 *                 <TAB> pan_suffix <TAB> language
 *     notify      <TAB> destination <TAB> text <TAB> language
 *     start       <TAB> decision_id <TAB> request_json <TAB> language <TAB> expires_at
 *     verify      <TAB> decision_id <TAB> proof_json
 *
 * so a test can check what reached the channel (the case's contact, never
 * one from the request). Failures are steered at run time by the file
 * named "control": each line "op status" makes that op return the status
 * (STEPUP_PLUGIN_*), so a test can break a channel and mend it without
 * reloading. verify() accepts a proof with "signature":"good". */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/plugin.h>

typedef struct rec_state {
	const stepup_host_api *host;
	char record[512];
	char control[512];
} rec_state;

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;

/* "key":"value" from a flat JSON object, enough for our own config. */
static void config_str(const char *json, const char *key, char *dst, size_t size)
{
	char pat[64];
	const char *p, *e;
	dst[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	if (!(p = strstr(json, pat)) || !(p = strchr(p + strlen(pat), '"')) || !(e = strchr(p + 1, '"')))
		return;
	snprintf(dst, size, "%.*s", (int)(e - p - 1), p + 1);
}

static int rec_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen)
{
	rec_state *st = host->alloc(sizeof(*st));
	(void)host_ctx;
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return STEPUP_PLUGIN_ERROR;
	}
	memset(st, 0, sizeof(*st));
	st->host = host;
	config_str(config_json, "record", st->record, sizeof(st->record));
	config_str(config_json, "control", st->control, sizeof(st->control));
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void rec_fini(void *state)
{
	rec_state *st = state;
	st->host->free(st);
}

/* The status the control file asks `op` to return (OK when not named). */
static int steer(rec_state *st, const stepup_call_ctx *ctx, const char *op)
{
	char line[128], name[64];
	int status, rc = STEPUP_PLUGIN_OK;
	FILE *f = st->control[0] ? fopen(st->control, "r") : NULL;
	if (!f)
		return rc;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %d", name, &status) == 2 && strcmp(name, op) == 0)
			rc = status;
	fclose(f);
	if (rc != STEPUP_PLUGIN_OK && rc != STEPUP_PLUGIN_REJECTED)
		snprintf(ctx->err, ctx->errlen, "%s failed by the test", op);
	return rc;
}

static void record(rec_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void record(rec_state *st, const char *fmt, ...)
{
	va_list ap;
	if (!st->record[0])
		return;
	pthread_mutex_lock(&rec_mu);
	FILE *f = fopen(st->record, "a");
	if (f) {
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		fclose(f);
	}
	pthread_mutex_unlock(&rec_mu);
}

static int rec_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	(void)destination;
	return steer(state, ctx, "can_deliver");
}

static int rec_deliver(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *m)
{
	int rc = steer(state, ctx, "deliver_otp");
	if (rc == STEPUP_PLUGIN_OK)
		record(state, "deliver_otp\t%s\t%s\t%lld\t%s\t%s\t%s", m->destination, m->otp,
		       (long long)m->expires_at, m->reason, m->pan_suffix, m->language);
	return rc;
}

static int rec_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language)
{
	int rc = steer(state, ctx, "notify");
	if (rc == STEPUP_PLUGIN_OK)
		record(state, "notify\t%s\t%s\t%s", destination, text, language);
	return rc;
}

static int rec_describe(void *state, const stepup_call_ctx *ctx, const char *language,
			char **app_json)
{
	rec_state *st = state;
	static const char app[] = "{\"app_id\":\"com.example.rec\"}";
	(void)language;
	int rc = steer(st, ctx, "describe");
	if (rc == STEPUP_PLUGIN_OK) {
		if (!(*app_json = st->host->alloc(sizeof(app))))
			return STEPUP_PLUGIN_ERROR;
		memcpy(*app_json, app, sizeof(app));
	}
	return rc;
}

static int rec_start(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req)
{
	int rc = steer(state, ctx, "start");
	if (rc == STEPUP_PLUGIN_OK)
		record(state, "start\t%s\t%s\t%s\t%lld", req->decision_id, req->request_json,
		       req->language, (long long)req->expires_at);
	return rc;
}

static int rec_verify(void *state, const stepup_call_ctx *ctx, const char *decision_id,
		      const char *proof_json)
{
	int rc = steer(state, ctx, "verify");
	record(state, "verify\t%s\t%s", decision_id, proof_json);
	if (rc == STEPUP_PLUGIN_OK && strstr(proof_json, "\"signature\":\"garbled\""))
		rc = STEPUP_PLUGIN_EINVAL;  /* a proof the plugin cannot even read */
	else if (rc == STEPUP_PLUGIN_OK && !strstr(proof_json, "\"signature\":\"good\""))
		rc = STEPUP_PLUGIN_REJECTED;
	return rc;
}

static int rec_route(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		     stepup_cs_route *out)
{
	rec_state *st = state;
	static const char std[] = "+1 800 555 0100", fraud[] = "+1 800 555 0199";
	const char *n = line == STEPUP_CS_LINE_FRAUD ? fraud : std;
	(void)request_json;
	int rc = steer(st, ctx, "route");
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (!(out->number = st->host->alloc(strlen(n) + 1)))
		return STEPUP_PLUGIN_ERROR;
	memcpy(out->number, n, strlen(n) + 1);
	out->hours = NULL;
	return STEPUP_PLUGIN_OK;
}

static const stepup_otp_channel rec_otp = {
	sizeof(stepup_otp_channel), rec_can_deliver, rec_deliver, rec_notify,
};
static const stepup_inapp rec_inapp = {
	sizeof(stepup_inapp), rec_describe, rec_start, rec_verify,
};
static const stepup_cs_router rec_cs = {
	sizeof(stepup_cs_router), rec_route,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "rec",
	.version = "0.0.1",
	.init = rec_init,
	.fini = rec_fini,
	.otp = &rec_otp,
	.inapp = &rec_inapp,
	.cs = &rec_cs,
};
