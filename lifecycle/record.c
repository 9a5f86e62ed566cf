/* record.c: opening the case of a YELLOW decision, from what the public
 * API says of the request (its fields by role) and of the decision (its
 * methods, line and customer-service number): the lifecycle is a library
 * of its own on top of libstepup.
 *
 * Data minimisation: a case keeps the phone only when OTP_SMS is offered
 * and the e-mail only when OTP_EMAIL is; never the PAN or the CSC (the
 * PAN suffix is derived by the decoder when only the PAN was sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc.h"
#include "util.h"

/* The request's field with `role` into dst; "" when absent or longer than
 * dst can hold (a truncated contact would be a wrong contact). */
static void role_copy(const stepup_request *r, stepup_role role, char *dst, size_t size, int truncate)
{
	size_t len;
	const char *s = stepup_request_role(r, role, &len);
	dst[0] = '\0';
	if (!s)
		return;
	if (len >= size) {
		if (!truncate)
			return;
		len = size - 1;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

int stepup_cases_record(stepup_cases *c, const stepup_engine *e, const stepup_request *r,
                        const stepup_decision *d, char *err, size_t errlen)
{
	return stepup_cases_record_refs(c, e, r, d, NULL, err, errlen);
}

/* A reference the case can keep: printable ASCII without spaces, short
 * enough, and no card number (docs/pci.md). */
int su_lc_ref_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max || stepup_card_number_find(s, n, NULL, NULL))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}

int stepup_cases_record_refs(stepup_cases *c, const stepup_engine *e, const stepup_request *r,
                             const stepup_decision *d, const stepup_case_refs *refs, char *err,
                             size_t errlen)
{
	su_case cs;
	su_outbox row;
	size_t nrows = 0;
	char *summary = NULL;
	char list[96] = "";
	int rc;

	if (!c || !e || !r || !d)
		return STEPUP_EINVAL;
	if (stepup_decision_outcome(d) != STEPUP_YELLOW)
		return STEPUP_OK;

	memset(&cs, 0, sizeof(cs));
	memset(&row, 0, sizeof(row));
	const char *id = stepup_decision_id(d);
	if (strlen(id) > SU_DECISION_ID_MAX) {
		su_set_err(err, errlen, "decision id too long");
		return STEPUP_EINVAL;
	}
	copy(cs.decision_id, sizeof(cs.decision_id), id);
	cs.status = SU_CASE_PENDING;
	cs.created_ms = cs.updated_ms = su_lc_now_ms();
	cs.expires_ms = cs.created_ms + (int64_t)c->cfg.ttl_seconds * 1000;
	cs.act_method = -1;
	cs.cs_line = stepup_decision_cs_line(d);
	if (refs && refs->correlation_id) {
		if (!su_lc_ref_ok(refs->correlation_id, SU_REF_MAX)) {
			su_set_err(err, errlen, "the correlation id is not a reference a case can keep");
			return STEPUP_EINVAL;
		}
		copy(cs.network_ref, sizeof(cs.network_ref), refs->correlation_id);
	}
	if (refs && refs->token_ref) {
		if (!su_lc_ref_ok(refs->token_ref, SU_CARD_ID_MAX)) {
			su_set_err(err, errlen, "the token reference is not a reference a case can keep");
			return STEPUP_EINVAL;
		}
		copy(cs.token_ref, sizeof(cs.token_ref), refs->token_ref);
	}

	for (size_t i = 0; i < stepup_decision_method_count(d) && i < STEPUP_METHOD_COUNT; i++) {
		stepup_method m = stepup_decision_method(d, i);
		cs.methods[cs.nmethods++] = (uint8_t)m;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
		         stepup_method_name(m));
		switch (m) {
		case STEPUP_OTP_SMS:
			role_copy(r, STEPUP_ROLE_CONTACT_SMS, cs.phone, sizeof(cs.phone), 0);
			stepup_mask_phone(cs.phone, strlen(cs.phone), cs.phone_masked, sizeof(cs.phone_masked));
			break;
		case STEPUP_OTP_EMAIL:
			role_copy(r, STEPUP_ROLE_CONTACT_EMAIL, cs.email, sizeof(cs.email), 0);
			stepup_mask_email(cs.email, strlen(cs.email), cs.email_masked, sizeof(cs.email_masked));
			break;
		case STEPUP_CUSTOMER_SERVICE: {
			/* The number the response offered: the router's, else the
			 * issuer settings' for the line actually served. */
			const char *hours;
			const char *num = stepup_decision_cs_number(e, d, &hours);
			copy(cs.cs_number, sizeof(cs.cs_number), num);
			copy(cs.cs_hours, sizeof(cs.cs_hours), hours);
			break;
		}
		case STEPUP_IN_APP:
			break;
		}
	}
	role_copy(r, STEPUP_ROLE_LANGUAGE, cs.language, sizeof(cs.language), 0);
	/* "jpn" from a token service picks the "ja" templates. */
	char lang[sizeof(cs.language)];
	snprintf(cs.language, sizeof(cs.language), "%s", su_lc_language(cs.language, lang, sizeof(lang)));
	role_copy(r, STEPUP_ROLE_PAN_SUFFIX, cs.pan_suffix, sizeof(cs.pan_suffix), 0);
	role_copy(r, STEPUP_ROLE_TOKEN_REQUESTOR_ID, cs.tr_id, sizeof(cs.tr_id), 1);
	role_copy(r, STEPUP_ROLE_TOKEN_REQUESTOR_NAME, cs.tr_name, sizeof(cs.tr_name), 1);

	stepup_plugins *ps = su_lc_plugins(c);
	if (su_case_offers(&cs, STEPUP_IN_APP) && ps &&
	    stepup_plugins_for_method(ps, STEPUP_IN_APP) >= 0) {
		/* The same secret-free summary the plugins saw when deciding. */
		if (!(summary = stepup_request_summary(e, r, d)) ||
		    su_lc_inapp_row(c, &cs, summary, &row) != STEPUP_OK) {
			rc = STEPUP_ENOMEM;
			goto out;
		}
		nrows = 1;
	}

	rc = c->store->ops->insert(c->store, &cs, &row, nrows);
	if (rc == STEPUP_ECONFLICT) {
		su_set_err(err, errlen, "decision %s already has a case", cs.decision_id);
		goto out;
	}
	if (rc != STEPUP_OK) {
		char why[256];
		su_lc_store_failed(c, rc, "open case");
		c->store->ops->error(c->store, why, sizeof(why));
		su_set_err(err, errlen, "case store: %s", why);
		goto out;
	}
	atomic_fetch_add(&c->st.opened, 1);
	su_lc_log(c, STEPUP_LOG_INFO, "case %s opened: %s; expires in %u s", cs.decision_id, list,
	          c->cfg.ttl_seconds);
	if (nrows)
		su_lc_notifier_kick(c);
out:
	stepup_plugins_unref(ps);
	free(summary);
	su_outbox_clear(&row);
	explicit_bzero(&cs, sizeof(cs));
	return rc;
}
