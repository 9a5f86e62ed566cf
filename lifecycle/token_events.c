/* token_events.c: what the token service reports about a token after its
 * provisioning (include/stepup/lifecycle.h, stepup_cases_token_event; MDES
 * Notify Suspicious Events): counted on the token's case and, with a
 * webhook, told to the issuer backend through the outbox, durably and at
 * least once like every other notification (notify.c). The details are
 * checked here again for card numbers: a webhook body never holds one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc.h"
#include "util.h"

/* 1 when no string, number or key of v holds a card number. */
static int clean(json_t *v)
{
	size_t a, b, i;
	const char *k;
	json_t *e;
	char num[48];
	if (json_is_string(v))
		return !stepup_card_number_find(json_string_value(v), json_string_length(v), &a, &b);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return !stepup_card_number_find(num, strlen(num), &a, &b);
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			if (stepup_card_number_find(k, strlen(k), &a, &b) || !clean(e))
				return 0;
	}
	if (json_is_array(v))
		json_array_foreach(v, i, e)
			if (!clean(e))
				return 0;
	return 1;
}

int stepup_cases_token_event(stepup_cases *c, const char *decision_id, const char *event, const char *key,
                             const char *details_json, int *queued, char *err, size_t errlen)
{
	su_outbox row;
	json_t *details = NULL;
	int rc;

	if (queued)
		*queued = 0;
	if (!c || !event || !key || strlen(event) >= sizeof(row.event) || !su_lc_ref_ok(key, SU_REF_MAX) ||
	    (decision_id && !su_lc_ref_ok(decision_id, SU_DECISION_ID_MAX))) {
		su_set_err(err, errlen, "a bad event, key or decision id");
		return STEPUP_EINVAL;
	}
	if (details_json && (!(details = json_loads(details_json, JSON_REJECT_DUPLICATES, NULL)) ||
	                     !json_is_object(details) || !clean(details))) {
		json_decref(details);
		su_set_err(err, errlen, "details must be a JSON object without card numbers");
		return STEPUP_EINVAL;
	}
	memset(&row, 0, sizeof(row));
	int64_t now = su_lc_now_ms();
	if (c->cfg.webhook.url) {
		char at[32];
		su_lc_time(now, at);
		snprintf(row.notification_id, sizeof(row.notification_id), "%s.%s", event, key);
		snprintf(row.decision_id, sizeof(row.decision_id), "%s", decision_id ? decision_id : "");
		snprintf(row.event, sizeof(row.event), "%s", event);
		row.kind = SU_OB_WEBHOOK;
		row.next_ms = row.created_ms = now;
		json_t *b = json_object();
		json_object_set_new(b, "event", json_string(event));
		json_object_set_new(b, "notification_id", json_string(row.notification_id));
		json_object_set_new(b, "decision_id", decision_id ? json_string(decision_id) : json_null());
		json_object_set_new(b, "at", json_string(at));
		json_object_set(b, "details", details ? details : json_null());
		row.payload = json_dumps(b, JSON_COMPACT);
		json_decref(b);
		if (!row.payload) {
			json_decref(details);
			return STEPUP_ENOMEM;
		}
	}
	json_decref(details);
	int fresh = 0;
	rc = c->store->ops->token_event(c->store, decision_id, row.payload ? &row : NULL, &fresh);
	if (rc != STEPUP_OK) {
		su_lc_store_failed(c, rc, "record token event");
		su_set_err(err, errlen, "the case store is unavailable");
	} else {
		if (row.payload && fresh) {
			if (queued)
				*queued = 1;
			su_lc_notifier_kick(c);
		}
		su_lc_log(c, STEPUP_LOG_INFO, "token event %s (%s) for case %s%s", event, key,
		          decision_id ? decision_id : "none",
		          !fresh ? ": already recorded" : row.payload ? ", webhook queued" : "");
	}
	su_outbox_clear(&row);
	return rc;
}
