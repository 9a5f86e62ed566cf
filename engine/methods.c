/* methods.c: serving a step-up's methods through the plugins configured
 * for them (DESIGN.md §5).
 *
 * A method whose plugin says it cannot serve (or errs, or overruns its
 * deadline) drops out of the offer; the decision then goes on as if the
 * method had no data, so the customer-service fallback and "nothing left:
 * decline" work the same way with and without plugins. */
#include <stdio.h>
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

/* The request as plugins see it: the fields the schema marks `summary`
 * (routing facts only: a secret cannot be one, and the default schema
 * gives no phone or e-mail), nested by path, with the line asked for.
 * What is not passed cannot leak from a plugin's logs. */
char *su_methods_summary(const stepup_engine *e, const stepup_request *r, stepup_cs_line line)
{
	const su_schema *sc = e->rs->schema;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	su_jw w = { &buf, &len, &cap, 0 };
	int first = 1;

	SU_JW_LIT(&w, "{");
	for (uint32_t i = 0; i < e->nsummary; i++) {
		const su_sumstep *st = &e->summary[i];
		if (st->kind == SU_SUM_CLOSE) {
			SU_JW_LIT(&w, "}");
			first = 0;
			continue;
		}
		if (st->kind == SU_SUM_LEAF && !SU_PRESENT(r, st->slot))
			continue;
		if (st->kind == SU_SUM_LEAF && sc->fields[st->slot].type == SU_T_ENUM &&
		    r->f[st->slot].e >= sc->fields[st->slot].values.count)
			continue;  /* an open list's "other" has no name to pass */
		if (!first)
			SU_JW_LIT(&w, ",");
		first = 0;
		if (st->kind == SU_SUM_LINE) {
			SU_JW_LIT(&w, "\"line\":\"");
			su_jw_lit(&w, stepup_cs_line_name(line));
			SU_JW_LIT(&w, "\"");
			continue;
		}
		su_jw_str(&w, st->key, st->keylen);
		SU_JW_LIT(&w, ":");
		if (st->kind == SU_SUM_OPEN) {
			SU_JW_LIT(&w, "{");
			first = 1;
			continue;
		}
		const su_field *f = &sc->fields[st->slot];
		switch (f->type) {
		case SU_T_STRING: {
			su_str s = su_rstr(r, st->slot);
			su_jw_str(&w, s.s, s.len);
			break;
		}
		case SU_T_ENUM:
			su_jw_cstr(&w, su_schema_value_name(sc, st->slot, r->f[st->slot].e));
			break;
		case SU_T_BOOL:
			su_jw_lit(&w, r->f[st->slot].b ? "true" : "false");
			break;
		case SU_T_INT: {
			char num[24];
			snprintf(num, sizeof(num), "%lld", (long long)r->f[st->slot].i);
			su_jw_lit(&w, num);
			break;
		}
		default:
			SU_JW_LIT(&w, "null");
			break;
		}
	}
	SU_JW_LIT(&w, "}");
	su_jw_raw(&w, "", 1);  /* NUL */
	if (w.oom) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *stepup_request_summary(const stepup_engine *e, const stepup_request *r, const stepup_decision *d)
{
	if (!e || !r || !d || r->engine != e->serial || d->engine != e->serial)
		return NULL;
	return su_methods_summary(e, r, d->line);
}

const char *stepup_decision_cs_number(const stepup_engine *e, const stepup_decision *d, const char **hours)
{
	int offered = 0;
	if (hours)
		*hours = NULL;
	if (!e || !d || d->engine != e->serial)
		return NULL;
	for (unsigned i = 0; i < d->nmethods; i++)
		offered |= d->methods[i] == STEPUP_CUSTOMER_SERVICE;
	if (!offered || d->outcome != STEPUP_YELLOW)
		return NULL;
	if (d->cs_number) {
		if (hours)
			*hours = d->cs_hours;
		return d->cs_number;
	}
	stepup_cs_line served;
	return su_engine_cs_number(e, d->line, &served);
}

/* The string of the field with role `role`, NUL-terminated in buf, or
 * NULL when no field has it or the request lacks it. */
static const char *role_str(const stepup_request *r, su_role role, char *buf, size_t size)
{
	return su_request_role_str(r, role, buf, size);
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
		su_plugins_can_deliver(ps, m, role_str(r, SU_ROLE_CONTACT_SMS, buf, sizeof(buf)), &res);
		break;
	case STEPUP_OTP_EMAIL:
		su_plugins_can_deliver(ps, m, role_str(r, SU_ROLE_CONTACT_EMAIL, buf, sizeof(buf)), &res);
		break;
	case STEPUP_IN_APP:
		free(d->app_json);
		su_plugins_describe(ps, role_str(r, SU_ROLE_LANGUAGE, lang, sizeof(lang)), &d->app_json, &res);
		break;
	case STEPUP_CUSTOMER_SERVICE: {
		char *summary = su_methods_summary(e, r, d->line);
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
