/* store.h (internal): what the step-up lifecycle keeps, and the small
 * interface of the database that keeps it.
 *
 * The lifecycle logic (cases.c) decides; a store only reads and writes
 * rows, each state change together with the outbox rows it produces in one
 * transaction, so a crash can never leave a transition without its
 * notification or a notification without its transition. SQLite is the
 * implementation (store_sqlite.c); a server database would implement the
 * same table of functions (docs/lifecycle.md says which and why). */
#ifndef SU_LC_STORE_H
#define SU_LC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stepup/stepup.h>

typedef enum su_case_status {
	SU_CASE_PENDING = 0,   /* PENDING_IDV */
	SU_CASE_ACTIVATED = 1,
	SU_CASE_DECLINED = 2,
	SU_CASE_EXPIRED = 3,
} su_case_status;
#define SU_CASE_STATUS_COUNT 4

const char *su_case_status_name(su_case_status s);
/* -1 when unknown. */
int su_case_status_parse(const char *s);

#define SU_DECISION_ID_MAX 64
#define SU_CARD_ID_MAX 128
#define SU_AGENT_ID_MAX 64
#define SU_REF_MAX 64
#define SU_CODE_NONCE_HEX 32

typedef struct su_case {
	char decision_id[SU_DECISION_ID_MAX + 1];
	su_case_status status;
	int64_t created_ms, updated_ms, expires_ms;  /* Unix milliseconds */
	uint8_t methods[STEPUP_METHOD_COUNT];        /* offered, in offer order */
	unsigned nmethods;
	/* Raw contacts of the offered OTP methods ("" when not held or erased)
	 * and their masked forms (kept for display after erasure). */
	char phone[24], email[256];
	char phone_masked[48], email_masked[272];
	char cs_number[96], cs_hours[160];
	stepup_cs_line cs_line;
	char language[36], pan_suffix[12], tr_id[72], tr_name[72];
	unsigned otp_sends;
	unsigned otp_used;                           /* bit per method sent through */
	/* How the case was closed by an activation call (ACTIVATED/DECLINED). */
	char card_id[SU_CARD_ID_MAX + 1];
	int act_method;                              /* stepup_method, -1 when none */
	char agent_id[SU_AGENT_ID_MAX + 1];
	char proof_sha256[65];                       /* hex of the canonical proof */
	int64_t closed_ms;                           /* 0 while pending */
	/* The token service's own references (schema version 2): MDES's
	 * correlationId of the provisioning and its tokenUniqueReference. */
	char network_ref[SU_REF_MAX + 1];
	char token_ref[SU_CARD_ID_MAX + 1];
	/* An activation code the issuer made (schema version 3; codes.c): the
	 * random nonce it is derived from and its keyed hash, never the code;
	 * "" when none (or used up). Wrong tries so far, and its expiry. */
	char code_nonce[SU_CODE_NONCE_HEX + 1];
	char code_hash[65];
	int64_t code_expires_ms;
	unsigned code_attempts;
	/* What the token service reported about the case's token
	 * (token_events.c): how many times. */
	unsigned token_events;
} su_case;

/* What a tried code was (try_code). */
typedef enum su_code_try {
	SU_CODE_RIGHT = 0,      /* used up now */
	SU_CODE_WRONG,          /* counted; tries left */
	SU_CODE_WRONG_LAST,     /* counted; no tries left: void from now on */
	SU_CODE_VOID,           /* none, expired, used up, voided, or its case is closed */
} su_code_try;

/* 1 when the case offers method m. */
int su_case_offers(const su_case *c, stepup_method m);

typedef enum su_ob_kind {
	SU_OB_WEBHOOK = 0,      /* POST to the issuer backend */
	SU_OB_END_USER = 1,     /* plain notification through an OTP channel */
	SU_OB_INAPP_START = 2,  /* stepup_plugins_inapp_start() */
} su_ob_kind;

typedef struct su_outbox {
	int64_t id;                          /* set by the store */
	char notification_id[96];            /* unique; the webhook's idempotency key */
	char decision_id[SU_DECISION_ID_MAX + 1];
	su_ob_kind kind;
	char event[32];                      /* "case.activated"... */
	char *payload;                       /* JSON text; owned (free) when read back */
	unsigned attempts;
	int64_t next_ms, created_ms;
} su_outbox;

void su_outbox_clear(su_outbox *o);

typedef struct su_store su_store;

/* Every function returns a stepup_status. Failures of the database itself
 * are STEPUP_EIO with a reason in the store's last error (see `error`):
 * the first failure of that call, kept per thread. Writes are refused
 * (STEPUP_EIO) while `health` fails, and a write found afterwards to have
 * gone into a file no longer at the path is reported failed. */
typedef struct su_store_ops {
	const char *name;
	void (*close)(su_store *s);
	/* The reason of the last STEPUP_EIO returned on this thread. */
	void (*error)(su_store *s, char *buf, size_t size);

	/* A new PENDING case and its first outbox rows. STEPUP_ECONFLICT
	 * when the decision id exists. */
	int (*insert)(su_store *s, const su_case *c, const su_outbox *ob, size_t nob);
	/* STEPUP_ENOTFOUND when absent. */
	int (*get)(su_store *s, const char *decision_id, su_case *out);
	/* Compare-and-set PENDING -> closing->status with closing's activation
	 * fields and closed_ms, plus the outbox rows, atomically. Closing to
	 * anything but EXPIRED also needs the case not due at closed_ms. When
	 * the case does not qualify: STEPUP_ECONFLICT and *cur = the stored
	 * case (ENOTFOUND when absent). On success *cur (may be NULL) = the
	 * case as stored now. */
	int (*close_case)(su_store *s, const su_case *closing, const su_outbox *ob, size_t nob,
	                  su_case *cur);
	/* Count one OTP send through m iff the case is PENDING, not due
	 * (expires_ms > now_ms), offers m and is below `limit`; *cur = the
	 * case after it.
	 * Otherwise STEPUP_ECONFLICT with *cur as stored, for the caller to
	 * tell why. */
	int (*reserve_send)(su_store *s, const char *decision_id, stepup_method m, unsigned limit,
	                    int64_t now_ms, su_case *cur);
	/* After the channel call of a reserved send: sent (ok) marks m as
	 * used; a send the channel refused outright is given back. */
	int (*finish_send)(su_store *s, const char *decision_id, stepup_method m, int ok);
	/* The decision id of the newest case whose network_ref is `network_ref`
	 * (may be NULL), else whose token_ref is `token_ref` (may be NULL).
	 * STEPUP_ENOTFOUND when none. */
	int (*find_ref)(su_store *s, const char *network_ref, const char *token_ref,
	                char id[SU_DECISION_ID_MAX + 1]);
	/* Record the token reference of a case that has none yet. */
	int (*set_token_ref)(su_store *s, const char *decision_id, const char *token_ref);
	/* Give a PENDING case that has no live code (none, expired at now_ms,
	 * used up or voided after max_attempts wrong tries) the code of
	 * `nonce` and `hash`, expiring at expires_ms, with no tries yet; a live
	 * code is kept as it is. *cur = the case after it. STEPUP_ENOTFOUND;
	 * STEPUP_ECONFLICT (not pending, or due) with *cur as stored. */
	int (*set_code)(su_store *s, const char *decision_id, const char *nonce, const char *hash,
	                int64_t expires_ms, unsigned max_attempts, int64_t now_ms, su_case *cur);
	/* One try of a code whose keyed hash is `hash`, atomically: right (the
	 * code is used up), wrong (counted), or void. *attempts = the wrong
	 * tries counted. STEPUP_ENOTFOUND when there is no such case. */
	int (*try_code)(su_store *s, const char *decision_id, const char *hash, unsigned max_attempts,
	                int64_t now_ms, su_code_try *result, unsigned *attempts);
	/* Count one token event on the case (decision_id may be NULL: none)
	 * and queue ob (may be NULL) in the same transaction; a row whose
	 * notification id is already queued (the same event again) counts
	 * nothing (*fresh = 0; 1 otherwise). */
	int (*token_event)(su_store *s, const char *decision_id, const su_outbox *ob, int *fresh);
	/* Ids of PENDING cases with expires_ms <= now_ms, at most max. */
	int (*list_due)(su_store *s, int64_t now_ms, char (*ids)[SU_DECISION_ID_MAX + 1], size_t max,
	                size_t *n);

	/* Outbox. claim: with after_id < 0, pending rows due at now_ms, by
	 * due time; with after_id >= 0, every pending row whose id is greater,
	 * by id, whatever its schedule (a flush walks the whole outbox once).
	 * At most max; each is leased until now_ms + lease_ms (a crash
	 * mid-delivery retries it then). Payloads are malloc'd:
	 * su_outbox_clear() each. */
	int (*claim)(su_store *s, int64_t now_ms, int64_t after_id, int64_t lease_ms,
	             su_outbox *out, size_t max, size_t *n);
	int (*ack)(su_store *s, int64_t id, unsigned attempts, int64_t now_ms);
	int (*retry)(su_store *s, int64_t id, unsigned attempts, int64_t next_ms, const char *why);
	int (*give_up)(su_store *s, int64_t id, unsigned attempts, int64_t now_ms, const char *why);
	/* Earliest next_ms of a pending row; STEPUP_ENOTFOUND when none. */
	int (*next_due)(su_store *s, int64_t *next_ms);
	int (*pending)(su_store *s, uint64_t *n);

	/* Erase the raw contacts of closed cases with no end-user message
	 * pending; delete closed cases (and their finished rows) whose
	 * updated_ms < before_ms (0: keep). *erased / *deleted may be NULL. */
	int (*purge)(su_store *s, int64_t before_ms, unsigned *erased, unsigned *deleted);

	/* Whether writes can be acknowledged: STEPUP_OK, or STEPUP_EIO with
	 * the reason in buf (for SQLite: the database file was deleted,
	 * moved or replaced under the process). Cheap: for readiness probes. */
	int (*health)(su_store *s, char *buf, size_t size);
} su_store_ops;

struct su_store {
	const su_store_ops *ops;
};

typedef struct su_store_config {
	const char *path;
	int synchronous_full;
	unsigned busy_timeout_ms;
} su_store_config;

/* Open (creating it if needed) after PRAGMA quick_check; a corrupt file
 * is STEPUP_EIO with "the database is corrupt" and what was found. */
int su_store_sqlite_open(const su_store_config *cfg, su_store **out, char *err, size_t errlen);
/* Check the file at path without changing it or creating anything beside
 * it: opened read-only, quick_check, schema version. STEPUP_OK when it
 * does not exist; STEPUP_EIO (unreadable, corrupt), STEPUP_EVERSION. */
int su_store_sqlite_check(const char *path, char *err, size_t errlen);

#endif
