/* methods.c: serving a step-up's methods through the plugins configured
 * for them (DESIGN.md §5).
 *
 * A method whose plugin says it cannot serve (or errs, or overruns its
 * deadline) drops out of the offer; the decision then goes on as if the
 * method had no data, so the customer-service fallback and "nothing left:
 * decline" work the same way with and without plugins. */
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "jsonw.h"
#include "plugins.h"
#include "request.h"

unsigned su_methods_plugin_mask(const stepup_engine *e)
{
	unsigned m = 0;
	for (int k = 0; k < STEPUP_METHOD_COUNT; k++)
		if (stepup_plugins_for_method(e->plugins, (stepup_method)k) >= 0)
			m |= 1u << k;
	return m;
}

void su_methods_reset(stepup_decision *d)
{
	free(d->app_json);
	free(d->cs_number);
	free(d->cs_hours);
	d->app_json = d->cs_number = d->cs_hours = NULL;
	d->plugin_failed = 0;
}

/* A request slot as a NUL-terminated string in buf, or NULL when absent. */
static const char *slot_str(const stepup_request *r, unsigned slot, char *buf, size_t size)
{
	su_str s;
	if (!SU_PRESENT(r, slot))
		return NULL;
	s = su_rstr(r, slot);
	if (s.len >= size)
		return NULL;
	memcpy(buf, s.s, s.len);
	buf[s.len] = '\0';
	return buf;
}

static void put_str(su_jw *w, int *first, const char *key, const stepup_request *r, unsigned slot)
{
	su_str s;
	if (!SU_PRESENT(r, slot))
		return;
	s = su_rstr(r, slot);
	if (!*first)
		SU_JW_LIT(w, ",");
	*first = 0;
	su_jw_key(w, key);
	su_jw_str(w, s.s, s.len);
}

static void put_enum(su_jw *w, int *first, const char *key, const stepup_request *r, unsigned slot)
{
	const su_enum *en;
	if (!SU_PRESENT(r, slot))
		return;
	en = &su_enums[su_fields[slot].enum_kind];
	if (r->f[slot].e >= en->count)
		return;
	if (!*first)
		SU_JW_LIT(w, ",");
	*first = 0;
	su_jw_key(w, key);
	su_jw_cstr(w, en->values[r->f[slot].e]);
}

/* The request as plugins see it: routing facts only. No PAN, CSC, phone or
 * e-mail: a router or an in-app backend has no need for them, and what is
 * not passed cannot leak from a plugin's logs. */
char *su_methods_summary(const stepup_request *r, stepup_cs_line line)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	su_jw w = { &buf, &len, &cap, 0 };
	int first = 1;

	SU_JW_LIT(&w, "{");
	put_str(&w, &first, "request_id", r, SU_SLOT_REQUEST_ID);
	put_enum(&w, &first, "tsp", r, SU_SLOT_TSP);
	put_enum(&w, &first, "channel", r, SU_SLOT_CHANNEL);
	if (!first)
		SU_JW_LIT(&w, ",");
	SU_JW_LIT(&w, "\"line\":\"");
	su_jw_lit(&w, stepup_cs_line_name(line));
	SU_JW_LIT(&w, "\",\"token_requestor\":{");
	first = 1;
	put_str(&w, &first, "id", r, SU_SLOT_TR_ID);
	put_str(&w, &first, "name", r, SU_SLOT_TR_NAME);
	SU_JW_LIT(&w, "},\"card\":{");
	first = 1;
	put_str(&w, &first, "pan_suffix", r, SU_SLOT_CARD_PAN_SUFFIX);
	put_enum(&w, &first, "state", r, SU_SLOT_CARD_STATE);
	SU_JW_LIT(&w, "},\"end_user\":{");
	first = 1;
	put_str(&w, &first, "language", r, SU_SLOT_EU_LANGUAGE);
	SU_JW_LIT(&w, "},\"wallet\":{");
	first = 1;
	put_str(&w, &first, "device_country", r, SU_SLOT_W_DEVICE_COUNTRY);
	SU_JW_LIT(&w, "}}");
	su_jw_raw(&w, "", 1);  /* NUL */
	if (w.oom) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void failed(stepup_decision *d, stepup_method m, const su_pcall *res)
{
	d->plugin_failed |= 1u << m;
	if (d->explain) {
		size_t n = strlen(res->why);
		if (n >= sizeof(d->plugin_why[m]))
			n = sizeof(d->plugin_why[m]) - 1;
		memcpy(d->plugin_why[m], res->why, n);
		d->plugin_why[m][n] = '\0';
	}
}

/* Serve one method through its plugin: 1 if it stays offered. */
static int serve(const stepup_engine *e, const stepup_request *r, stepup_decision *d, stepup_method m)
{
	stepup_plugins *ps = e->plugins;
	su_pcall res = { STEPUP_OK, -1, "" };
	char buf[320], lang[64];

	switch (m) {
	case STEPUP_OTP_SMS:
		su_plugins_can_deliver(ps, m, slot_str(r, SU_SLOT_EU_PHONE, buf, sizeof(buf)), &res);
		break;
	case STEPUP_OTP_EMAIL:
		su_plugins_can_deliver(ps, m, slot_str(r, SU_SLOT_EU_EMAIL, buf, sizeof(buf)), &res);
		break;
	case STEPUP_IN_APP:
		free(d->app_json);
		su_plugins_describe(ps, slot_str(r, SU_SLOT_EU_LANGUAGE, lang, sizeof(lang)), &d->app_json,
		                    &res);
		break;
	case STEPUP_CUSTOMER_SERVICE: {
		char *summary = su_methods_summary(r, d->line);
		free(d->cs_number);
		free(d->cs_hours);
		if (!summary) {
			res.status = STEPUP_ENOMEM;
			strcpy(res.why, "out of memory");
		} else
			su_plugins_route(ps, summary, d->line, &d->cs_number, &d->cs_hours, &res);
		free(summary);
		break;
	}
	}
	if (res.status != STEPUP_OK) {
		failed(d, m, &res);
		return 0;
	}
	return 1;
}

unsigned su_methods_serve(const stepup_engine *e, const stepup_request *r, stepup_decision *d,
                          unsigned offered)
{
	unsigned via = offered & e->plugin_methods;

	for (int m = 0; m < STEPUP_METHOD_COUNT; m++)
		if ((via >> m & 1) && !serve(e, r, d, (stepup_method)m))
			offered &= ~(1u << m);
	return offered;
}
