/* stats.c: the MDES counters (stats.h, mdes.h). Relaxed atomics: these
 * count requests that each cost a private-key operation, so sharding as
 * metrics.c does for decisions would buy nothing. */
#include <string.h>

#include "crypto.h"
#include "facts.h"
#include "mdes.h"
#include "stats.h"

#define ADD(p) __atomic_fetch_add((p), 1, __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* errorCode values stepupd answers (docs/mdes.md), "OTHER" last. */
static const char *const codes[] = {
	"INVALID_JSON", "MISSING_REQUIRED_FIELD", "INVALID_FIELD_FORMAT", "INVALID_FIELD_LENGTH",
	"INVALID_FIELD_VALUE", "CRYPTOGRAPHY_ERROR", "CASE_NOT_FOUND", "INVALID_STATE", "LIMIT_EXCEEDED",
	"DELIVERY_FAILED", "SERVICE_UNAVAILABLE", "SYSTEM_ERROR", "OTHER",
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static const char *const crypto_reasons[] = {
	"ok", "unknown_key", "bad_format", "bad_value", "bad_key", "bad_data", "no_memory",
};
static const char *const lookups[] = { "FOUND", "NOT_FOUND", "FAILED" };
static const char *const activations[] = { "no_case", "closed_otherwise", "already_activated", "activated" };
static const char *const ntu_reasons[] = {
	"STATUS_UPDATE", "REDIGITIZATION_COMPLETE", "DELETED_FROM_CONSUMER_APP", "AUTHENTICATION_PERFORMED",
	"PAYMT_CHANNEL_PREFERENCE_UPDATED", "FUNDING_ACCOUNT_UPDATE", "TOKEN_BINDING", "ACCOUNT_BINDING",
	"PAYMENT_ACCOUNT_REFERENCE_UPDATED", "OTHER",
};
#define NNTU (sizeof(ntu_reasons) / sizeof(ntu_reasons[0]))
/* In stepup_code_result's order. */
static const char *const code_results[] = { "SUCCESS", "INCORRECT_CODE", "INCORRECT_CODE_RETRIES_EXCEEDED",
	                                    "EXPIRED_CODE" };
static const char *const suspicious_events[] = { "REPLENISH", "OTHER" };
#define NSUSP (sizeof(suspicious_events) / sizeof(suspicious_events[0]))

static unsigned long long answered[MDES_OP_COUNT], errors[MDES_OP_COUNT][NCODES];
static unsigned long long decrypt_fail[sizeof(crypto_reasons) / sizeof(crypto_reasons[0])];
static unsigned long long account[3], replays, activation[4], token_updates[NNTU];
static unsigned long long codes_sent, code_checks[4], suspicious[NSUSP];

void mdes_stat_answer(mdes_op op, const char *code)
{
	if (!code) {
		ADD(&answered[op]);
		return;
	}
	size_t i;
	for (i = 0; i + 1 < NCODES && strcmp(codes[i], code) != 0; i++)
		;
	ADD(&errors[op][i]);
}

void mdes_stat_decrypt(int status)
{
	if (status > 0 && (size_t)status < sizeof(decrypt_fail) / sizeof(decrypt_fail[0]))
		ADD(&decrypt_fail[status]);
}

void mdes_stat_account(int lookup)
{
	if (lookup >= 0 && lookup < 3)
		ADD(&account[lookup]);
}

void mdes_stat_replay(void)
{
	ADD(&replays);
}

void mdes_stat_activation(int outcome)
{
	if (outcome >= -2 && outcome <= 1)
		ADD(&activation[outcome + 2]);
}

void mdes_stat_token_update(const char *reason)
{
	size_t i;
	for (i = 0; i + 1 < NNTU && (!reason || strcmp(ntu_reasons[i], reason) != 0); i++)
		;
	ADD(&token_updates[i]);
}

void mdes_stat_code_sent(void)
{
	ADD(&codes_sent);
}

void mdes_stat_code_checked(int result)
{
	if (result >= 0 && result < 4)
		ADD(&code_checks[result]);
}

void mdes_stat_suspicious(const char *event)
{
	size_t i;
	for (i = 0; i + 1 < NSUSP && (!event || strcmp(suspicious_events[i], event) != 0); i++)
		;
	ADD(&suspicious[i]);
}

static void family(dbuf *b, const char *name, const char *type, const char *help)
{
	dbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void mdes_metrics_render(dbuf *b)
{
	family(b, "stepupd_mdes_requests_total", "counter",
	       "MDES requests by operation and answer (ok, or the errorCode sent).");
	for (int op = 0; op < MDES_OP_COUNT; op++) {
		dbuf_printf(b, "stepupd_mdes_requests_total{operation=\"%s\",result=\"ok\"} %llu\n",
		            mdes_spec_ops[op].name, LOAD(&answered[op]));
		for (size_t c = 0; c < NCODES; c++)
			if (LOAD(&errors[op][c]))
				dbuf_printf(b, "stepupd_mdes_requests_total{operation=\"%s\",result=\"%s\"} %llu\n",
				            mdes_spec_ops[op].name, codes[c], LOAD(&errors[op][c]));
	}
	family(b, "stepupd_mdes_decryption_failures_total", "counter",
	       "Encrypted payloads that did not decrypt, by reason.");
	for (size_t i = 1; i < sizeof(crypto_reasons) / sizeof(crypto_reasons[0]); i++)
		dbuf_printf(b, "stepupd_mdes_decryption_failures_total{reason=\"%s\"} %llu\n", crypto_reasons[i],
		            LOAD(&decrypt_fail[i]));
	family(b, "stepupd_mdes_account_lookups_total", "counter",
	       "Answers of the account data source: FOUND, NOT_FOUND (unknown card), FAILED.");
	for (int i = 0; i < 3; i++)
		dbuf_printf(b, "stepupd_mdes_account_lookups_total{result=\"%s\"} %llu\n", lookups[i],
		            LOAD(&account[i]));
	family(b, "stepupd_mdes_replayed_total", "counter",
	       "authorizeService requests answered again from the idempotency store (same requestId).");
	dbuf_printf(b, "stepupd_mdes_replayed_total %llu\n", LOAD(&replays));
	family(b, "stepupd_mdes_activations_total", "counter",
	       "notifyServiceActivated by what it found: activated (the case closed now), already_activated, "
	       "closed_otherwise, no_case.");
	for (int i = 0; i < 4; i++)
		dbuf_printf(b, "stepupd_mdes_activations_total{result=\"%s\"} %llu\n", activations[i],
		            LOAD(&activation[i]));
	family(b, "stepupd_mdes_token_updates_total", "counter", "notifyTokenUpdated by reasonCode.");
	for (size_t i = 0; i < NNTU; i++)
		dbuf_printf(b, "stepupd_mdes_token_updates_total{reason=\"%s\"} %llu\n", ntu_reasons[i],
		            LOAD(&token_updates[i]));
	family(b, "stepupd_mdes_issuer_codes_sent_total", "counter",
	       "Activation codes the issuer made, sent (deliverActivationCode without activationCode).");
	dbuf_printf(b, "stepupd_mdes_issuer_codes_sent_total %llu\n", LOAD(&codes_sent));
	family(b, "stepupd_mdes_code_validations_total", "counter", "validateActivationCode by result.");
	for (size_t i = 0; i < 4; i++)
		dbuf_printf(b, "stepupd_mdes_code_validations_total{result=\"%s\"} %llu\n", code_results[i],
		            LOAD(&code_checks[i]));
	family(b, "stepupd_mdes_suspicious_events_total", "counter",
	       "Suspicious events reported by notifySuspiciousEvents, by eventName.");
	for (size_t i = 0; i < NSUSP; i++)
		dbuf_printf(b, "stepupd_mdes_suspicious_events_total{event=\"%s\"} %llu\n", suspicious_events[i],
		            LOAD(&suspicious[i]));
}
