/* response.c: rendering a decision as the JSON of DESIGN.md §3.
 * Only masked contact data and configured issuer data are written; the
 * request's secrets have no path to this file's output. */
#include <stdio.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "jsonw.h"
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

	su_jw_lit(w, "{\"type\":\"");
	su_jw_lit(w, stepup_method_name((stepup_method)type));
	su_jw_lit(w, "\"");
	switch (type) {
	case STEPUP_IN_APP:
		su_jw_lit(w, ",\"app_id\":");
		su_jw_cstr(w, e->app_id);
		break;
	case STEPUP_OTP_SMS: {
		su_str p = su_rstr(r, SU_SLOT_EU_PHONE);
		n = stepup_mask_phone(p.s, p.len, masked, sizeof(masked));
		su_jw_lit(w, ",\"value\":");
		su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
		break;
	}
	case STEPUP_OTP_EMAIL: {
		su_str m = su_rstr(r, SU_SLOT_EU_EMAIL);
		n = stepup_mask_email(m.s, m.len, masked, sizeof(masked));
		su_jw_lit(w, ",\"value\":");
		su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
		break;
	}
	default: {
		stepup_cs_line served;
		const char *num = su_engine_cs_number(e, d->line, &served);
		su_jw_lit(w, ",\"value\":");
		su_jw_cstr(w, num ? num : "");
		su_jw_lit(w, ",\"line\":\"");
		su_jw_lit(w, stepup_cs_line_name(served));
		su_jw_lit(w, "\"");
	}
	}
	su_jw_lit(w, "}");
}

static const char *method_why_text(unsigned why)
{
	switch (why) {
	case SU_MW_OFFERED: return "offered";
	case SU_MW_NOT_ALLOWED: return "excluded by a fired rule's 'only'";
	case SU_MW_NO_DATA: return "no data to serve it (contact, app id or number)";
	case SU_MW_CONDITION: return "its availability condition is not true";
	case SU_MW_FALLBACK: return "offered as the fallback: nothing else was left";
	default: return "not evaluated: the decision is not a step-up";
	}
}

static void write_explain(su_jw *w, const stepup_engine *e, const stepup_request *r,
                          const stepup_decision *d)
{
	const stepup_ruleset *rs = e->rs;

	su_jw_lit(w, ",\"explain\":{\"rules\":[");
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *ru = &rs->rules[i];
		uint32_t from = d->rule_trace[i], to = d->rule_trace[i + 1];
		if (i)
			su_jw_lit(w, ",");
		su_jw_lit(w, "{\"rule\":");
		su_jw_str(w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		if (ru->desc != SU_NONE) {
			su_jw_lit(w, ",\"description\":");
			su_jw_str(w, SU_STR(rs, ru->desc), SU_STRLEN(rs, ru->desc));
		}
		su_jw_lit(w, ",\"at\":");
		write_at(w, rs, ru->file, ru->line);
		su_jw_lit(w, ",\"outcome\":\"");
		su_jw_lit(w, stepup_outcome_name((stepup_outcome)ru->outcome));
		su_jw_lit(w, "\",\"fired\":");
		su_jw_lit(w, d->rule_result[i] == SU_TRUE ? "true" : "false");
		su_jw_lit(w, ",\"condition\":\"");
		su_jw_lit(w, tri_names[d->rule_result[i]]);
		su_jw_lit(w, "\"");
		/* The last test evaluated is the one whose value settled the
		 * condition: short-circuiting stops right after it. */
		if (to > from) {
			const su_atom *a = &rs->atoms[d->trace.atom[to - 1]];
			su_jw_lit(w, ",\"decided_by\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
		}
		su_jw_lit(w, ",\"tests\":[");
		for (uint32_t k = from; k < to; k++) {
			const su_atom *a = &rs->atoms[d->trace.atom[k]];
			if (k > from)
				su_jw_lit(w, ",");
			su_jw_lit(w, "{\"test\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
			su_jw_lit(w, ",\"at\":");
			write_at(w, rs, a->file, a->line);
			su_jw_lit(w, ",\"value\":\"");
			su_jw_lit(w, tri_names[d->trace.value[k]]);
			su_jw_lit(w, "\"}");
		}
		su_jw_lit(w, "]}");
	}
	su_jw_lit(w, "],\"methods\":[");
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		unsigned t = rs->methods[i].type;
		if (i)
			su_jw_lit(w, ",");
		su_jw_lit(w, "{\"method\":\"");
		su_jw_lit(w, stepup_method_name((stepup_method)t));
		su_jw_lit(w, "\",\"status\":");
		su_jw_cstr(w, method_why_text(d->method_why[t]));
		su_jw_lit(w, "}");
	}
	su_jw_lit(w, "],\"notes\":[");
	int first = 1;
#define NOTE(text) do { if (!first) su_jw_lit(w, ","); first = 0; su_jw_cstr(w, (text)); } while (0)
	if (d->merchant_policy_applied)
		NOTE(rs->merchant_policy == STEPUP_GREEN
		         ? "channel ECOM_MERCHANT: step_up becomes approve"
		         : "channel ECOM_MERCHANT: step_up becomes decline");
	if (d->no_method_left)
		NOTE("step-up turned into decline: no ID&V method available and no customer-service number configured");
	if (d->line == STEPUP_LINE_FRAUD && d->line_served != STEPUP_LINE_FRAUD && d->nmethods)
		NOTE("fraud line asked for but not configured: the standard number is offered");
	if (r->unknown_reasons)
		NOTE("the request carries reason codes this ruleset does not know; they were ignored");
	if (d->nfired == 0)
		NOTE("no rule fired: approve");
#undef NOTE
	su_jw_lit(w, "]}");
}

const char *stepup_decision_json(const stepup_engine *e, const stepup_request *r,
                                 stepup_decision *d, size_t *len)
{
	const stepup_ruleset *rs = e->rs;
	su_jw w = { &d->out, &d->outlen, &d->outcap, 0 };
	su_str id = su_rstr(r, SU_SLOT_REQUEST_ID);

	d->outlen = 0;
	su_jw_lit(&w, "{\"request_id\":");
	su_jw_str(&w, id.s, id.len);
	su_jw_lit(&w, ",\"decision_id\":\"");
	su_jw_lit(&w, su_decision_id(d));
	su_jw_lit(&w, "\",\"decision\":\"");
	su_jw_lit(&w, stepup_outcome_name(d->outcome));
	su_jw_lit(&w, "\",\"network_decision\":\"");
	su_jw_lit(&w, stepup_outcome_network_name(d->outcome));
	su_jw_lit(&w, "\",\"idv_methods\":[");
	if (d->outcome == STEPUP_YELLOW)
		for (unsigned i = 0; i < d->nmethods; i++) {
			if (i)
				su_jw_lit(&w, ",");
			write_method(&w, e, r, d, d->methods[i]);
		}
	su_jw_lit(&w, "],\"reasons\":[");
	for (uint32_t i = 0; i < d->nfired; i++) {
		const su_rule *ru = &rs->rules[d->fired[i]];
		if (i)
			su_jw_lit(&w, ",");
		su_jw_lit(&w, "{\"rule\":");
		su_jw_str(&w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		su_jw_lit(&w, ",\"outcome\":\"");
		su_jw_lit(&w, stepup_outcome_name((stepup_outcome)ru->outcome));
		su_jw_lit(&w, "\",\"at\":");
		write_at(&w, rs, ru->file, ru->line);
		su_jw_lit(&w, "}");
	}
	su_jw_lit(&w, "],\"ruleset\":{\"name\":");
	su_jw_str(&w, SU_STR(rs, rs->name), SU_STRLEN(rs, rs->name));
	su_jw_lit(&w, ",\"revision\":\"");
	su_jw_lit(&w, rs->revision_hex);
	su_jw_lit(&w, "\"}");
	if (d->explain)
		write_explain(&w, e, r, d);
	su_jw_lit(&w, "}");
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
	su_jw_lit(&w, "{");
	if (r && SU_PRESENT(r, SU_SLOT_REQUEST_ID) && r->f[SU_SLOT_REQUEST_ID].str.len <= 128) {
		/* Only a request_id that passed validation is echoed. */
		su_jw_lit(&w, "\"request_id\":");
		su_str id = su_rstr(r, SU_SLOT_REQUEST_ID);
		su_jw_str(&w, id.s, id.len);
		su_jw_lit(&w, ",");
	}
	su_jw_lit(&w, "\"error\":{\"code\":");
	su_jw_cstr(&w, code);
	if (r && r->err_field[0]) {
		su_jw_lit(&w, ",\"field\":");
		su_jw_cstr(&w, r->err_field);
	}
	su_jw_lit(&w, ",\"message\":");
	su_jw_cstr(&w, msg);
	su_jw_lit(&w, "}}");
	if (w.oom)
		return NULL;
	if (len)
		*len = d->outlen;
	return d->out;
}
