/* stepup/lifecycle.h: what happens after a YELLOW decision (part of
 * libstepup; docs/lifecycle.md is the full contract).
 *
 * Every YELLOW decision opens a case: the methods offered, the contact
 * data needed to serve them, the customer-service line, a status and an
 * expiry. Cases live in a database (SQLite by default) so that a restart
 * loses nothing. On a case the TSP asks for an OTP to be delivered, the
 * issuer backend or a customer-service agent activates the digital card,
 * and the issuer backend (and optionally the end user) is told the
 * outcome through a durable outbox:
 *
 *     PENDING_IDV --activation--> ACTIVATED
 *                 --in-app proof saying DECLINED--> DECLINED
 *                 --ttl passed--> EXPIRED
 *
 * CARD NUMBERS: a card number (docs/pci.md, stepup_card_number_find) in
 * any string, number or key of a JSON call's body, or in the decision id
 * of a case read, is refused with 400 bad_request naming the field; it is
 * never quoted back, stored, logged, or handed to a plugin or a webhook.
 *
 * The API mirrors the HTTP contract of stepupd (POST /v1/otp-deliveries,
 * POST /v1/activations, GET /v1/cases/{decision_id}): JSON in, JSON out,
 * plus the HTTP status to answer, so that a daemon is a thin layer and an
 * embedder with its own HTTP server gets exactly the same semantics. Error
 * bodies are {"error": {"code": "...", "message": "...", ...}} with the
 * stable codes of docs/lifecycle.md.
 *
 * OWNERSHIP: as in <stepup/stepup.h>. Output JSON comes back malloc'd in
 * *out (NUL-terminated, *outlen bytes before the NUL): free() it. It may be
 * NULL only when the status is STEPUP_ENOMEM.
 *
 * THREADS: a stepup_cases handle is safe to use from any number of threads
 * at once. stepup_cases_open() starts one background thread (unless the
 * configuration says "background": false) that expires cases and delivers
 * the outbox; stepup_cases_close() stops and joins it. Several processes may
 * open the same database file (each with its own handle).
 *
 * SECRETS: the OTP value is handed to the channel plugin and never stored
 * or logged; the PAN and CSC are never read. Contact data is stored raw
 * only while needed (until the case is closed and its end-user message is
 * sent) and leaves the library masked, except towards the channel plugin.
 * Log lines carry decision ids, statuses and methods, never contact data.
 */
#ifndef STEPUP_LIFECYCLE_H
#define STEPUP_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>
#include <stepup/stepup.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stepup_cases stepup_cases;

/* Open the case store described by the "cases" section of a configuration
 * document (JSON text; other top-level keys are ignored):
 *
 *   "cases": {
 *     "store": "sqlite",                 the only store today
 *     "path": "/var/lib/stepup/cases.db" relative paths start at base_dir
 *     "ttl_seconds": 900,                PENDING_IDV -> EXPIRED after this
 *     "max_otp_sends": 3,                OTP deliveries per case
 *     "synchronous": "normal",           "normal": survives a crash of the
 *                                        process; "full": also a power loss
 *     "busy_timeout_ms": 5000, "sweep_interval_ms": 1000,
 *     "retention_days": 30,              closed cases are deleted after this
 *     "background": true,                the expiry/delivery thread
 *     "webhook": { "url": "https://issuer.example/stepup-events",
 *                  "secret": "...", or "secret_file": "...",
 *                  "headers": {"Authorization": "Bearer ..."},
 *                  "timeout_ms": 5000, "max_attempts": 25,
 *                  "backoff_ms": 1000, "max_backoff_ms": 300000 },
 *     "notify_end_user": { "enabled": true, "method": ["OTP_SMS", "OTP_EMAIL"],
 *                  "default_language": "en",
 *                  "templates": { "en": "Your card ending {pan_suffix} was added to {wallet}.",
 *                                 "fr": "..." },
 *                  "wallet_names": { "ACME_PAY": "Acme Pay" } }
 *   }
 *
 * plugins (may be NULL: no OTP delivery, no in-app verification) serve the
 * channels; the handle takes its own reference. log may be NULL. Unknown
 * keys and bad values are STEPUP_ECONFIG naming the key; no "cases"
 * section is STEPUP_ENOTFOUND (the caller decides whether the lifecycle is
 * optional); a database that cannot be opened, is corrupt (PRAGMA
 * quick_check, run at every open) or was written by a newer schema is
 * STEPUP_EIO / STEPUP_EVERSION. */
int stepup_cases_open(const char *config_json, const char *base_dir, stepup_plugins *plugins,
                      stepup_log_fn log, void *log_ctx, stepup_cases **out,
                      char *err, size_t errlen);
/* Stop the background thread (an in-flight webhook call is abandoned and
 * retried at the next start), then close the store. No other call may be
 * in flight on c. NULL is a no-op. */
void stepup_cases_close(stepup_cases *c);

/* Serve channels through another plugin set from now on (a daemon's
 * reload). Calls in flight finish on the old set. Takes a reference. */
void stepup_cases_set_plugins(stepup_cases *c, stepup_plugins *plugins);

/* Open the case of a YELLOW decision, made by stepup_decide() on e with r:
 * call it after deciding and before answering, with the same objects. Does
 * nothing for GREEN and RED. Keeps the contact data of the offered OTP
 * methods, the language, the PAN suffix, the token requestor, the
 * customer-service number and line; never the PAN or CSC. When IN_APP is
 * offered and a plugin serves it, an in-app start is queued. STEPUP_EIO
 * when the store fails (the caller should then not promise step-up),
 * STEPUP_ECONFLICT when the decision id already has a case. */
int stepup_cases_record(stepup_cases *c, const stepup_engine *e, const stepup_request *r,
                        const stepup_decision *d, char *err, size_t errlen);

/* ---- The token service's references (Mastercard MDES, docs/mdes.md) ------
 * MDES links the messages of one provisioning by its correlationId and
 * names the token by its tokenUniqueReference; a case opened for an MDES
 * decision keeps both, so Deliver Activation Code and Notify Service
 * Activated find it. Each is 1 to 64 (token: 128) printable ASCII
 * characters and never a card number (STEPUP_EINVAL otherwise). */
typedef struct stepup_case_refs {
	const char *correlation_id;  /* NULL when none */
	const char *token_ref;       /* NULL when not known yet */
} stepup_case_refs;

/* stepup_cases_record() keeping refs (may be NULL) with the case. */
int stepup_cases_record_refs(stepup_cases *c, const stepup_engine *e, const stepup_request *r,
                             const stepup_decision *d, const stepup_case_refs *refs,
                             char *err, size_t errlen);

/* The decision id (id: 65 bytes) of the newest case recorded with
 * refs->correlation_id, else with refs->token_ref; a case found without a
 * token reference keeps refs->token_ref from now on. STEPUP_OK,
 * STEPUP_ENOTFOUND, STEPUP_EIO (store), STEPUP_EINVAL. */
int stepup_cases_find(stepup_cases *c, const stepup_case_refs *refs, char id[65],
                      char *err, size_t errlen);

/* The token service says the token of the case was activated (MDES Notify
 * Service Activated): a pending case closes ACTIVATED, exactly once, with
 * its webhook and end-user message (in `language` when given, e.g. MDES's
 * consumerLanguage; may be NULL), the token reference as its digital card
 * id and as method the OTP channel the code went through (else the first
 * method offered). *outcome: 1 closed now; 0 it was ACTIVATED already
 * (nothing is sent again); -1 it was closed otherwise or its time was up
 * (left as it is). STEPUP_OK, STEPUP_ENOTFOUND, STEPUP_EIO, STEPUP_EINVAL. */
int stepup_cases_network_activated(stepup_cases *c, const char *decision_id, const char *token_ref,
                                   const char *language, int *outcome, char *err, size_t errlen);

/* ---- Codes the issuer makes (MDES Validate Activation Code) --------------
 * With "activation_codes" in the "cases" section,
 *
 *   "activation_codes": { "key_file": "code-key",  HMAC key, 16 to 64 bytes as hex, mode 0600
 *                         "length": 6,             digits, 4 to 16
 *                         "max_attempts": 3 }      wrong tries before a code is void
 *
 * the issuer makes a case's activation code itself. The code is derived
 * with the key from a random nonce kept with the case (HMAC-SHA-256), so
 * asking again sends the same code with the same expiry (MDES: a repeated
 * Deliver Activation Code neither makes a new code nor extends it); a new
 * code is made once the last one has expired, was used or was voided. The
 * case keeps the nonce and a keyed hash of the code, never the code; a
 * copy of the database without the key file tells nothing of it. */

/* Make (or reuse) the code of case decision_id and send it through m's
 * channel (STEPUP_OTP_SMS or STEPUP_OTP_EMAIL) to the case's contact, with
 * the send limit and the answers of stepup_cases_deliver_otp_json (body,
 * *http_status). expires_at: Unix seconds, for a new code. STEPUP_ESTATE
 * (nothing sent, no body) when "activation_codes" is not configured. */
int stepup_cases_deliver_code(stepup_cases *c, const char *decision_id, stepup_method m,
                              int64_t expires_at, const char *reason, char **out, size_t *outlen,
                              int *http_status);

typedef enum stepup_code_result {
	STEPUP_CODE_SUCCESS = 0,           /* right: the code is used up */
	STEPUP_CODE_INCORRECT,             /* wrong; tries are left */
	STEPUP_CODE_RETRIES_EXCEEDED,      /* wrong, and that was the last try: void now */
	STEPUP_CODE_EXPIRED,               /* no live code: none, expired, used, voided,
	                                      or the case is closed or due */
} stepup_code_result;

/* The cardholder typed `code` for case decision_id: checked against the
 * case's code, counted atomically against max_attempts. The case stays
 * pending: the token service's activation closes it (Notify Service
 * Activated). STEPUP_OK with *result and *attempts (wrong tries so far),
 * STEPUP_ENOTFOUND (no such case), STEPUP_ESTATE (codes not configured),
 * STEPUP_EIO (store), STEPUP_EINVAL. The code is never logged. */
int stepup_cases_check_code(stepup_cases *c, const char *decision_id, const char *code,
                            stepup_code_result *result, unsigned *attempts, char *err, size_t errlen);

/* The token service reported something about a token (MDES Notify
 * Suspicious Events): counted on its case (decision_id, NULL when the
 * token has none) and, when a webhook is configured, sent to the issuer
 * backend through the outbox as {"event": event, "notification_id",
 * "decision_id", "at", "details": details_json} (an object without PII;
 * may be NULL). `key` makes the notification id (e.g. the network's
 * request id): the same key again queues and counts nothing. *queued
 * (may be NULL): 1 when a webhook was queued now. STEPUP_OK, STEPUP_EIO,
 * STEPUP_EINVAL (a key or details refused: a card number, not an object). */
int stepup_cases_token_event(stepup_cases *c, const char *decision_id, const char *event,
                             const char *key, const char *details_json, int *queued, char *err,
                             size_t errlen);

/* POST /v1/otp-deliveries:
 *   {"decision_id": "dcs_...", "method": "OTP_SMS" | "OTP_EMAIL",
 *    "otp": "123456", "expires_at": "2026-11-22T10:15:00Z" (or Unix seconds),
 *    "reason": "CARD-DIGITIZATION" | "DEVICE-BINDING" | "CARDHOLDER-VERIFICATION"}
 * The OTP goes to the contact stored in the case; a body naming a
 * destination is refused. On success:
 *   {"decision_id", "method", "status": "SENT", "destination": <masked>,
 *    "sends": 1, "max_sends": 3}
 * Returns a stepup_status; *http_status (may be NULL) gets the status the
 * HTTP answer must carry, *out the body. */
int stepup_cases_deliver_otp_json(stepup_cases *c, const char *body, size_t len,
                                  char **out, size_t *outlen, int *http_status);

/* POST /v1/activations:
 *   {"decision_id": "dcs_...", "digital_card_id": "DWSPMC...",
 *    "method": "IN_APP", "proof": {...}}            (checked by the in-app plugin;
 *                                                    proof.result "DECLINED" declines)
 *    "method": "CUSTOMER_SERVICE", "agent_id": "..."
 *    "method": "OTP_SMS" | "OTP_EMAIL"             (the TSP verified an OTP we delivered)
 * Moves the case to ACTIVATED (or DECLINED) exactly once; repeating the
 * same call answers 200 with the same body, any other call on a closed case
 * is 409 activation_conflict. Success body:
 *   {"decision_id", "status": "ACTIVATED", "digital_card_id", "method",
 *    "agent_id" (customer service), "at"} */
int stepup_cases_activate_json(stepup_cases *c, const char *body, size_t len,
                               char **out, size_t *outlen, int *http_status);

/* GET /v1/cases/{decision_id}: the case, contact data masked. */
int stepup_cases_get_json(stepup_cases *c, const char *decision_id,
                          char **out, size_t *outlen, int *http_status);

/* Expire the cases whose time is up (queueing their notifications) and
 * apply retention. The background thread does it every sweep_interval_ms;
 * with "background": false call it yourself, about that often: it then
 * also delivers the notifications that are due, on the caller's thread.
 * *expired (may be NULL) gets the number of cases expired. */
int stepup_cases_tick(stepup_cases *c, unsigned *expired);

/* Try every pending notification now (ignoring its backoff) and wait up to
 * timeout_ms until none is pending: STEPUP_OK, or STEPUP_ETIMEOUT with the
 * rest still queued (kept for the next start), or at once STEPUP_EIO when
 * stepup_cases_health() fails. For shutdown and tests.
 * Without a background thread the deliveries run on the caller's thread. */
int stepup_cases_flush(stepup_cases *c, unsigned timeout_ms);

/* Whether the store can acknowledge writes: STEPUP_OK, or STEPUP_EIO with
 * the reason in err (may be NULL). Today that means the database file is
 * still the one opened: a file deleted, moved or replaced under the
 * process would take every later commit with it into an unlinked file,
 * so writes are then refused (the JSON calls answer 503
 * store_unavailable, stepup_cases_record fails) and this call says why,
 * for a readiness probe. Cheap (one stat()); safe from any thread. */
int stepup_cases_health(stepup_cases *c, char *err, size_t errlen);

/* Check the database of the "cases" section in config_json without
 * changing it or creating anything beside it (for a --check-config): when
 * the file exists it is opened read-only, checked with PRAGMA quick_check
 * and its schema version read. STEPUP_OK (also when the file does not
 * exist yet: the first open creates it); STEPUP_ENOTFOUND without a
 * "cases" section; STEPUP_ECONFIG for a bad section; STEPUP_EIO for a
 * file that cannot be read or is corrupt ("the database is corrupt" and
 * what quick_check found); STEPUP_EVERSION for a newer schema.
 * stepup_cases_open() runs the same quick_check before using a file. */
int stepup_cases_check_store(const char *config_json, const char *base_dir, char *err,
                             size_t errlen);

/* Counters since open (monotonic) and two gauges, for metrics. */
typedef struct stepup_cases_stats {
	uint64_t opened;              /* cases recorded */
	uint64_t otp_sent;            /* OTPs handed to a channel successfully */
	uint64_t otp_refused;         /* refused for the case's sake (404/409/410/429) */
	uint64_t otp_failed;          /* channel failures (502) */
	uint64_t activated, declined, expired;
	uint64_t notify_delivered;    /* outbox items done (webhook, end user, in-app start) */
	uint64_t notify_retried;      /* failed attempts rescheduled */
	uint64_t notify_gave_up;      /* items that ran out of attempts */
	uint64_t outbox_pending;      /* gauge, as of the last delivery pass */
	uint64_t store_errors;
} stepup_cases_stats;

void stepup_cases_stats_get(stepup_cases *c, stepup_cases_stats *out);

#ifdef __cplusplus
}
#endif
#endif
