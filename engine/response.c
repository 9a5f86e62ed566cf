/* response.c: rendering a decision as the JSON of DESIGN.md §3.
 * Only masked contact data and configured issuer data are written; the
 * request's secrets have no path to this file's output. */
#include <stdio.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "jsonw.h"

#include <stdlib.h>
#include "request.h"

static const char *const tri_names[] = { "FALSE", "TRUE", "ABSENT" };

static void write_at(su_jw *w, const stepup_ruleset *rs, uint32_t file, uint32_t line)
{
	char num[16];
	size_t fl = SU_STRLEN(rs, rs->files[file]);
	int n = snprintf(num, sizeof(num), ":%u", line);

	su_jw_str(w, SU_STR(rs, rs->files[file]), fl);
	(*w->len)--;  /* splice ":line" inside the quotes */
	su_jw_raw(w, num, (size_t)n);
	su_jw_raw(w, "\"", 1);
}

static void write_method(su_jw *w, const stepup_engine *e, const stepup_request *r,
                         const stepup_decision *d, unsigned type)
{
	char masked[300];
	size_t n;
	su_str c;

	switch (type) {
	case STEPUP_IN_APP:
		if (d->app_json) {
			/* describe()'s object, checked and re-serialised by the
			 * plugin host, with the type first. */
			size_t len = strlen(d->app_json);
			SU_JW_LIT(w, "{\"type\":\"IN_APP\"");
			if (len > 2)
				SU_JW_LIT(w, ",");
			su_jw_raw(w, d->app_json + 1, len - 1);
			return;
		}
		su_jw_raw(w, e->frag + e->inapp_at, e->inapp_end - e->inapp_at);
		return;
	case STEPUP_OTP_SMS:  /* offered only when the contact is present */
		c = su_rstr(r, (unsigned)su_request_role_slot(r, SU_ROLE_CONTACT_SMS));
		n = stepup_mask_phone(c.s, c.len, masked, sizeof(masked));
		break;
	case STEPUP_OTP_EMAIL:
		c = su_rstr(r, (unsigned)su_request_role_slot(r, SU_ROLE_CONTACT_EMAIL));
		n = stepup_mask_email(c.s, c.len, masked, sizeof(masked));
		break;
	default:
		if (d->cs_number) {
			SU_JW_LIT(w, "{\"type\":\"CUSTOMER_SERVICE\",\"value\":");
			su_jw_cstr(w, d->cs_number);
			SU_JW_LIT(w, ",\"line\":\"");
			su_jw_lit(w, stepup_cs_line_name(d->line_served));
			SU_JW_LIT(w, "\"");
			if (d->cs_hours) {
				SU_JW_LIT(w, ",\"hours\":");
				su_jw_cstr(w, d->cs_hours);
			}
			SU_JW_LIT(w, "}");
			return;
		}
		su_jw_raw(w, e->frag + e->cs_at[d->line_served], e->cs_end[d->line_served] - e->cs_at[d->line_served]);
		return;
	}
	/* OTP methods: the contact, masked, is the only request data written. */
	SU_JW_LIT(w, "{\"type\":\"");
	su_jw_lit(w, stepup_method_name((stepup_method)type));
	SU_JW_LIT(w, "\",\"value\":");
	su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
	SU_JW_LIT(w, "}");
}

/* Fragments that only depend on the engine, rendered once. */
int su_engine_prepare_json(stepup_engine *e)
{
	const stepup_ruleset *rs = e->rs;
	su_jw w = { &e->frag, &e->fraglen, &e->fragcap, 0 };

	e->reason_at = malloc((rs->nrules + 1) * sizeof(size_t));
	if (!e->reason_at)
		return -1;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *ru = &rs->rules[i];
		e->reason_at[i] = e->fraglen;
		SU_JW_LIT(&w, "{\"rule\":");
		su_jw_str(&w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		SU_JW_LIT(&w, ",\"outcome\":\"");
		su_jw_lit(&w, stepup_outcome_name((stepup_outcome)ru->outcome));
		SU_JW_LIT(&w, "\",\"at\":");
		write_at(&w, rs, ru->file, ru->line);
		SU_JW_LIT(&w, "}");
	}
	e->reason_at[rs->nrules] = e->fraglen;
	e->trailer_at = e->fraglen;
	SU_JW_LIT(&w, "],\"ruleset\":{\"name\":");
	su_jw_str(&w, SU_STR(rs, rs->name), SU_STRLEN(rs, rs->name));
	SU_JW_LIT(&w, ",\"revision\":\"");
	su_jw_lit(&w, e->revision_hex);  /* the ruleset's, with plugin data versions */
	SU_JW_LIT(&w, "\"}");
	e->trailer_end = e->fraglen;
	e->inapp_at = e->fraglen;
	SU_JW_LIT(&w, "{\"type\":\"IN_APP\",\"app_id\":");
	su_jw_cstr(&w, e->app_id ? e->app_id : "");
	SU_JW_LIT(&w, "}");
	e->inapp_end = e->fraglen;
	for (int line = 0; line < 2; line++) {
		stepup_cs_line served;
		const char *num = su_engine_cs_number(e, (stepup_cs_line)line, &served);
		e->cs_at[line] = e->fraglen;
		SU_JW_LIT(&w, "{\"type\":\"CUSTOMER_SERVICE\",\"value\":");
		su_jw_cstr(&w, num ? num : "");
		SU_JW_LIT(&w, ",\"line\":\"");
		su_jw_lit(&w, stepup_cs_line_name(served));
		SU_JW_LIT(&w, "\"}");
		e->cs_end[line] = e->fraglen;
	}
	return w.oom ? -1 : 0;
}

static const char *method_why_text(unsigned why)
{
	switch (why) {
	case SU_MW_OFFERED: return "offered";
	case SU_MW_NOT_ALLOWED: return "excluded by a fired rule's 'only'";
	case SU_MW_NO_DATA: return "no data to serve it (contact, app id or number)";
	case SU_MW_CONDITION: return "its availability condition is not true";
	case SU_MW_FALLBACK: return "offered as the fallback: nothing else was left";
	case SU_MW_PLUGIN: return "dropped: its plugin could not serve it";
	default: return "not evaluated: the decision is not a step-up";
	}
}

static void write_explain(su_jw *w, const stepup_engine *e, const stepup_request *r,
                          const stepup_decision *d)
{
	const stepup_ruleset *rs = e->rs;

	SU_JW_LIT(w, ",\"explain\":{\"rules\":[");
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *ru = &rs->rules[i];
		uint32_t from = d->rule_trace[i], to = d->rule_trace[i + 1];
		if (i)
			SU_JW_LIT(w, ",");
		SU_JW_LIT(w, "{\"rule\":");
		su_jw_str(w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		if (ru->desc != SU_NONE) {
			SU_JW_LIT(w, ",\"description\":");
			su_jw_str(w, SU_STR(rs, ru->desc), SU_STRLEN(rs, ru->desc));
		}
		SU_JW_LIT(w, ",\"at\":");
		write_at(w, rs, ru->file, ru->line);
		SU_JW_LIT(w, ",\"outcome\":\"");
		su_jw_lit(w, stepup_outcome_name((stepup_outcome)ru->outcome));
		SU_JW_LIT(w, "\",\"fired\":");
		su_jw_lit(w, d->rule_result[i] == SU_TRUE ? "true" : "false");
		SU_JW_LIT(w, ",\"condition\":\"");
		su_jw_lit(w, tri_names[d->rule_result[i]]);
		SU_JW_LIT(w, "\"");
		/* The last test evaluated is the one whose value settled the
		 * condition: short-circuiting stops right after it. */
		if (to > from) {
			const su_atom *a = &rs->atoms[d->trace.atom[to - 1]];
			SU_JW_LIT(w, ",\"decided_by\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
		}
		SU_JW_LIT(w, ",\"tests\":[");
		for (uint32_t k = from; k < to; k++) {
			const su_atom *a = &rs->atoms[d->trace.atom[k]];
			if (k > from)
				SU_JW_LIT(w, ",");
			SU_JW_LIT(w, "{\"test\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
			SU_JW_LIT(w, ",\"at\":");
			write_at(w, rs, a->file, a->line);
			SU_JW_LIT(w, ",\"value\":\"");
			su_jw_lit(w, tri_names[d->trace.value[k]]);
			SU_JW_LIT(w, "\"}");
		}
		SU_JW_LIT(w, "]}");
	}
	SU_JW_LIT(w, "],\"methods\":[");
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		unsigned t = rs->methods[i].type;
		if (i)
			SU_JW_LIT(w, ",");
		SU_JW_LIT(w, "{\"method\":\"");
		su_jw_lit(w, stepup_method_name((stepup_method)t));
		SU_JW_LIT(w, "\",\"status\":");
		su_jw_cstr(w, method_why_text(d->method_why[t]));
		if (d->plugin_failed >> t & 1) {
			SU_JW_LIT(w, ",\"plugin\":");
			su_jw_cstr(w, d->plugin_why[t]);
		}
		SU_JW_LIT(w, "}");
	}
	SU_JW_LIT(w, "],\"notes\":[");
	int first = 1;
#define NOTE(text) do { if (!first) SU_JW_LIT(w, ","); first = 0; su_jw_cstr(w, (text)); } while (0)
	if (d->merchant_policy_applied)
		NOTE(rs->merchant_policy == STEPUP_GREEN
		         ? "channel ECOM_MERCHANT: step_up becomes approve"
		         : "channel ECOM_MERCHANT: step_up becomes decline");
	if (d->no_method_left)
		NOTE(d->plugin_failed
		         ? "step-up turned into decline: no ID&V method could be served (plugin failures above)"
		         : "step-up turned into decline: no ID&V method available and no customer-service number configured");
	if (d->line == STEPUP_LINE_FRAUD && d->line_served != STEPUP_LINE_FRAUD && d->nmethods)
		NOTE("fraud line asked for but not configured: the standard number is offered");
	if (r->unknown_reasons)
		NOTE("the request carries reason codes this ruleset does not know; they were ignored");
	if (d->nfired == 0)
		NOTE("no rule fired: approve");
#undef NOTE
	SU_JW_LIT(w, "]}");
}

const char *stepup_decision_json(const stepup_engine *e, const stepup_request *r,
                                 stepup_decision *d, size_t *len)
{
	su_jw w = { &d->out, &d->outlen, &d->outcap, 0 };

	/* Handles remember their origin: slots and rule numbers mean
	 * something only to the engine that decoded and decided. */
	if (!e || !r || !d || d->engine != e->serial || r->engine != e->serial) {
		if (len)
			*len = 0;
		return NULL;
	}
	int idslot = su_request_role_slot(r, SU_ROLE_REQUEST_ID);
	su_str id = idslot >= 0 ? su_rstr(r, (unsigned)idslot) : (su_str){ "", 0 };
	d->outlen = 0;
	SU_JW_LIT(&w, "{\"request_id\":");
	su_jw_str(&w, id.s, id.len);
	SU_JW_LIT(&w, ",\"decision_id\":\"");
	su_jw_lit(&w, su_decision_id(d));
	SU_JW_LIT(&w, "\",\"decision\":\"");
	su_jw_lit(&w, stepup_outcome_name(d->outcome));
	SU_JW_LIT(&w, "\",\"network_decision\":\"");
	su_jw_lit(&w, stepup_outcome_network_name(d->outcome));
	SU_JW_LIT(&w, "\",\"idv_methods\":[");
	if (d->outcome == STEPUP_YELLOW)
		for (unsigned i = 0; i < d->nmethods; i++) {
			if (i)
				SU_JW_LIT(&w, ",");
			write_method(&w, e, r, d, d->methods[i]);
		}
	SU_JW_LIT(&w, "],\"reasons\":[");
	for (uint32_t i = 0; i < d->nfired; i++) {
		uint32_t k = d->fired[i];
		if (i)
			SU_JW_LIT(&w, ",");
		su_jw_raw(&w, e->frag + e->reason_at[k], e->reason_at[k + 1] - e->reason_at[k]);
	}
	su_jw_raw(&w, e->frag + e->trailer_at, e->trailer_end - e->trailer_at);
	if (d->explain)
		write_explain(&w, e, r, d);
	SU_JW_LIT(&w, "}");
	if (w.oom)
		return NULL;
	if (len)
		*len = d->outlen;
	return d->out;
}

/* {"request_id": ..., "error": {"code": "bad_request", "field": ..., "message": ...}} */
const char *su_error_json(stepup_decision *d, const stepup_request *r, const char *code,
                          const char *msg, size_t *len)
{
	su_jw w = { &d->out, &d->outlen, &d->outcap, 0 };

	d->outlen = 0;
	SU_JW_LIT(&w, "{");
	int idslot = r && r->rs ? su_request_role_slot(r, SU_ROLE_REQUEST_ID) : -1;
	if (idslot >= 0 && r->f[idslot].str.len <= 128) {
		/* Only a request id that passed validation is echoed. */
		SU_JW_LIT(&w, "\"request_id\":");
		su_str id = su_rstr(r, (unsigned)idslot);
		su_jw_str(&w, id.s, id.len);
		SU_JW_LIT(&w, ",");
	}
	SU_JW_LIT(&w, "\"error\":{\"code\":");
	su_jw_cstr(&w, code);
	if (r && r->err_field[0]) {
		SU_JW_LIT(&w, ",\"field\":");
		su_jw_cstr(&w, r->err_field);
	}
	SU_JW_LIT(&w, ",\"message\":");
	su_jw_cstr(&w, msg);
	SU_JW_LIT(&w, "}}");
	if (w.oom)
		return NULL;
	if (len)
		*len = d->outlen;
	return d->out;
}
