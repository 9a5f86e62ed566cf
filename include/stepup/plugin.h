/* stepup/plugin.h: the whole contract between stepup and a plugin.
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *     STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
 *         STEPUP_PLUGIN_ABI_MAJOR, STEPUP_PLUGIN_ABI_MINOR, "geo", "1.2.0",
 *         geo_init, geo_fini, geo_functions, NULL, NULL, NULL,
 *     };
 *
 * Build it with `-module -avoid-version -shared
 * -export-symbols-regex '^stepup_plugin$'`. It does NOT link against
 * libstepup: everything it may call on the host comes in the
 * stepup_host_api table handed to init(). This header needs only
 * <stdint.h> and <stddef.h>.
 *
 * Loading. The host copies the file into a sealed private copy and
 * dlopen()s that (RTLD_NOW | RTLD_LOCAL), in its own process or in the
 * plugin's child ("process" isolation, below), looks up `stepup_plugin`
 * and reads abi_major and abi_minor BEFORE any other field.
 * It accepts the plugin iff
 *     abi_major == STEPUP_PLUGIN_ABI_MAJOR  and  abi_minor <= host's minor
 * and otherwise refuses it with a message naming the file and both versions.
 * Then it checks every function signature, calls init() with the plugin's
 * JSON configuration, and asks the descriptor what the plugin provides.
 *
 * Compatibility rules for this header:
 *  - Minor bump: something was ADDED at the END of a struct (descriptor,
 *    host API, an interface or an argument struct) or a new constant was
 *    added. Old plugins keep working; the host reads a field added in
 *    minor N only from plugins whose abi_minor >= N.
 *  - Major bump: anything removed, reordered, retyped or re-meant.
 *  - Structs passed from host to plugin start with `uint32_t size`
 *    (sizeof as the host built it): a plugin reads a field only if it lies
 *    within `size`. Interface tables filled by the plugin also start with
 *    `size` (set it to sizeof the struct you compiled against).
 *
 * ABI bump log (newest first; one line per bump, dated):
 *   1.3  2026-12-07  host API: flags (STEPUP_HOST_CHECK_ONLY: init() for
 *                    a check, without side effects) and set_data_version
 *                    (the version of the data a plugin decides with).
 *   1.2  2026-12-07  account data source (descriptor field `account`):
 *                    the issuer's facts about a card for a decision.
 *   1.1  2026-12-07  host API: card_number_find (the host's one
 *                    card-number policy, docs/pci.md).
 *   1.0  2026-11-22  initial ABI: descriptor, host API (log, alloc, free,
 *                    now_ms), rule functions, OTP channel, in-app,
 *                    customer-service routing.
 *
 * OWNERSHIP (the one rule for every pointer crossing the boundary):
 *  - Everything the host passes in (strings, structs, JSON text, the call
 *    context, the host API table) is BORROWED: valid until the call
 *    returns, read-only. Copy what you need to keep. The exceptions are
 *    the host API table and the host_ctx given to init(): they stay valid
 *    until fini() returns.
 *  - Everything a plugin returns through a `char **` / `char *` result
 *    (strings, JSON text) becomes OWNED BY THE HOST and must be allocated
 *    with host->alloc() (or be NULL). The host frees it with host->free().
 *    Never return a pointer to static or plugin-owned memory there.
 *  - The descriptor, its strings, the function table and the interface
 *    tables are plugin-owned static data: they must stay valid and
 *    unchanged while the plugin is loaded.
 *  - `state` (set by init) is plugin-owned; the host only passes it back
 *    and never frees it; fini() does.
 *
 * JSON crosses the boundary as UTF-8 text (`const char *`), never as a
 * library object: plugins need no particular JSON library (or version of
 * one) and there are no reference counts to get wrong across the boundary.
 * The payloads (configuration, a request summary, an app description) are
 * small and parsed once per call at most.
 *
 * The request summary. Routers and in-app plugins get the request as a
 * small JSON object of routing facts only, never a PAN, CSC, phone or
 * e-mail (absent fields are left out):
 *     {"request_id":"...","tsp":"MDES","channel":"XPAY_WALLET",
 *      "line":"STANDARD","token_requestor":{"id":"...","name":"APPLE_PAY"},
 *      "card":{"pan_suffix":"1234","state":"ACTIVE"},
 *      "end_user":{"language":"en-US"},"wallet":{"device_country":"US"}}
 *
 * PII. Destinations and OTP values are PII. The host
 * hands them to the calls that need them; a plugin must never put them in
 * host->log() messages nor in the error buffer of a call context. As a
 * last line of defence the host replaces card numbers, phone numbers and
 * e-mail addresses in both (and in anything a "process" plugin writes to
 * its stdout or stderr) before they reach a log.
 *
 * Instances. SEVERAL INSTANCES OF ONE MODULE MAY RUN AT ONCE: the same
 * module loaded twice under two names, the old and the new configuration
 * side by side during a reload, or one instance per process of a pool.
 * Keep everything an instance needs (host, host_ctx, configuration) in
 * the `state` init() returns, never in globals: a global written by a
 * second init() (or left dangling by its fini()) makes one instance log
 * under another's name or read freed memory.
 *
 * Threads. The host may call one plugin's interface functions and rule
 * functions from several threads at once; init() and fini() are never
 * concurrent with anything else on that plugin.
 *
 * Isolation and deadlines. The host runs each plugin
 *  - "process" (the default for plugins not marked trusted): in a child
 *    process of its own (or a small pool of them), over a socket. A crash
 *    or a hang kills and restarts that process; the call in flight fails,
 *    the host does not. The child runs with no descriptor of the host's
 *    but its own channel, without the host's privileges where it had any.
 *  - "thread": on workers of its own threads, the host stops waiting at
 *    the deadline, so a hung call costs the caller its deadline and no
 *    more;
 *  - "inline": on the caller's thread: cheapest, and the plugin is trusted
 *    to give up by ctx->deadline_ms.
 * In every mode an answer that comes after the deadline is discarded and
 * counted. Honour the deadline: with libcurl, CURLOPT_TIMEOUT_MS =
 * deadline_ms - host->now_ms(), and CURLOPT_NOSIGNAL. Calls made while a
 * decision is being made (can_deliver, describe, route, lookup, rule
 * functions) get the host's decision-time deadline, shorter than the one
 * of deliveries (deliver_otp, notify, start, verify). A call abandoned by
 * the host still runs to its end (or its process is killed); fini() is
 * called only after every call has returned.
 *
 * Checks. Tools load a plugin to read its descriptor and check its
 * configuration (stepup check, stepup compile, stepupd --check-config):
 * then host->flags has STEPUP_HOST_CHECK_ONLY (1.3), and init() checks its
 * configuration as usual but opens no connection, creates no file and
 * starts no thread; nothing but fini() is called after it.
 */
#ifndef STEPUP_PLUGIN_H
#define STEPUP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STEPUP_PLUGIN_ABI_MAJOR 1
#define STEPUP_PLUGIN_ABI_MINOR 3

/* The one exported symbol's name, for the host's dlsym(). */
#define STEPUP_PLUGIN_SYMBOL "stepup_plugin"

#if defined(__GNUC__)
#define STEPUP_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define STEPUP_PLUGIN_EXPORT
#endif

/* ---- status codes -------------------------------------------------------
 * Returned by init() and by every interface call. Stable: never renumber. */
enum {
	STEPUP_PLUGIN_OK = 0,
	STEPUP_PLUGIN_ERROR = 1,       /* failed; reason in ctx->err */
	STEPUP_PLUGIN_TIMEOUT = 2,     /* the deadline passed before completion */
	STEPUP_PLUGIN_UNAVAILABLE = 3, /* cannot serve now (gateway down, quota) */
	STEPUP_PLUGIN_REJECTED = 4,    /* a proof/input was checked and is invalid */
	STEPUP_PLUGIN_EINVAL = 5,      /* bad arguments or configuration */
};

/* Log levels for host->log(). */
enum {
	STEPUP_PLUGIN_LOG_ERROR = 0,
	STEPUP_PLUGIN_LOG_WARNING = 1,
	STEPUP_PLUGIN_LOG_INFO = 2,
	STEPUP_PLUGIN_LOG_DEBUG = 3,
};

/* ---- host API ------------------------------------------------------------
 * Handed to init(); valid until fini() returns. Only grows at the end:
 * check `size` before using a field added after 1.0, e.g.
 *     if (host->size >= offsetof(stepup_host_api, new_fn) + sizeof(host->new_fn)) */
typedef struct stepup_host_api {
	uint32_t size;      /* sizeof(stepup_host_api) as the host built it */
	uint32_t abi_minor; /* the host's STEPUP_PLUGIN_ABI_MINOR */
	/* Log one line. `host_ctx` is the value given to init(). By contract
	 * `msg` never contains PII (no destination, OTP, PAN, name...). */
	void (*log)(void *host_ctx, int level, const char *msg);
	/* Memory for everything returned to the host (see OWNERSHIP). alloc
	 * returns NULL on failure; free(NULL) is a no-op. */
	void *(*alloc)(size_t size);
	void (*free)(void *ptr);
	/* Milliseconds on the clock deadlines are expressed in (monotonic). */
	int64_t (*now_ms)(void);
	/* --- 1.1 --- */
	/* The host's one card-number policy (docs/pci.md): 1 when
	 * text[0..len) holds a card number, else 0; *start and *end (either
	 * may be NULL) get the byte span of the first one. A plugin uses it
	 * before it stores, logs or forwards text it did not make, and to
	 * refuse a card number where none belongs. Thread-safe. Check
	 * `size` first: hosts before 1.1 do not have it. */
	int (*card_number_find)(const char *text, size_t len, size_t *start, size_t *end);
	/* --- 1.3 --- */
	/* Report the version of the data this instance decides with, from
	 * init(): e.g. "sha256:<hex>" of the BIN table it read. It becomes
	 * part of the revision of every decision the plugin takes part in and
	 * of the decision log, so the same request answered differently after
	 * a table changed never carries the same revision. 1 to 128 printable
	 * ASCII characters without a card number; the host copies it; a later
	 * call replaces it. Check `size` first. */
	void (*set_data_version)(void *host_ctx, const char *version);
	/* STEPUP_HOST_* flags of this instance (see "Checks" above). */
	uint32_t flags;
} stepup_host_api;

/* host->flags (1.3). */
#define STEPUP_HOST_CHECK_ONLY 0x1u

/* ---- per-call context ----------------------------------------------------
 * Every interface call gets one (borrowed). Calls that may block (network)
 * must give up by `deadline_ms` and return STEPUP_PLUGIN_TIMEOUT; the host
 * drops the method served by a plugin that errors or overruns, never the
 * daemon. On failure, write a short reason (no PII) into err. */
typedef struct stepup_call_ctx {
	uint32_t size;       /* sizeof(stepup_call_ctx) as the host built it */
	uint32_t timeout_ms; /* budget for this call (from config, default 200) */
	int64_t deadline_ms; /* = host->now_ms() at call start + timeout_ms */
	char *err;           /* NUL-terminated reason on failure; may be NULL */
	size_t errlen;       /* size of err in bytes */
} stepup_call_ctx;

/* ---- rule functions --------------------------------------------------------
 * Callable from rules as `<plugin name>.<function name>(...)`, e.g.
 * geo.distance(a, b). The signature is one string "ARGS->RET": ARGS is zero
 * to STEPUP_PLUGIN_MAX_ARGS type letters, RET exactly one:
 *
 *     letter  rules type  C type of argument    C type of result
 *     i       integer     int64_t               int64_t
 *     d       float       double                double
 *     b       bool        int (0 or 1)          int (0 false, else true)
 *     s       string      const char * (UTF-8)  char * (host->alloc, or
 *                                                NULL for "undefined")
 *
 * e.g. "dddd->d", "ss->b", "->i". The C function always gets the plugin's
 * `state` first, then the arguments in order:
 *
 *     "dddd->d"  double distance(void *state, double, double, double, double);
 *     "s->s"     char *upper(void *state, const char *s);
 *
 * Rule functions are evaluated while a decision is made: they must be
 * pure and fast (no I/O, no blocking). The host counts and times them,
 * calls one function with the same arguments once per decision (it
 * remembers the answer: pure, so the same), and stops waiting at the
 * decision-time deadline (the rules then see the result as absent). Argument
 * strings are borrowed and never NULL. Cast `fn` to the exact type above.
 * The table ends with an entry whose name is NULL. */
#define STEPUP_PLUGIN_MAX_ARGS 8

typedef void (*stepup_plugin_fn_ptr)(void);

typedef struct stepup_plugin_fn {
	const char *name;      /* [a-z_][a-z0-9_]*, unique in this plugin */
	const char *signature; /* "ARGS->RET", see above */
	stepup_plugin_fn_ptr fn;
} stepup_plugin_fn;

/* ---- OTP channel (methods OTP_SMS, OTP_EMAIL) ------------------------------
 * Which plugin serves which method is host configuration. */
typedef struct stepup_otp_message {
	uint32_t size;           /* sizeof as the host built it */
	const char *destination; /* E.164 number or e-mail address (PII) */
	const char *otp;         /* the code to deliver (PII) */
	int64_t expires_at;      /* Unix time, seconds */
	const char *reason;      /* reason code, e.g. "HIGH_AMOUNT" */
	const char *pan_suffix;  /* last 4 digits of the card, may be "" */
	const char *language;    /* BCP 47 tag, e.g. "fr", "en-GB" */
} stepup_otp_message;

typedef struct stepup_otp_channel {
	uint32_t size; /* sizeof(stepup_otp_channel) the plugin compiled */
	/* STEPUP_PLUGIN_OK if it can deliver to `destination` (may be NULL:
	 * "anywhere") now, STEPUP_PLUGIN_UNAVAILABLE if not; then the method is
	 * dropped from the offer rather than offered and failing. */
	int (*can_deliver)(void *state, const stepup_call_ctx *ctx, const char *destination);
	/* Deliver an OTP. */
	int (*deliver_otp)(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg);
	/* Send a plain notification `text` (already localised) to destination. */
	int (*notify)(void *state, const stepup_call_ctx *ctx, const char *destination,
		      const char *text, const char *language);
} stepup_otp_channel;

/* ---- in-app authentication (method IN_APP) -------------------------------- */
typedef struct stepup_inapp_request {
	uint32_t size;           /* sizeof as the host built it */
	const char *decision_id; /* the pending decision, opaque to the plugin */
	const char *request_json; /* the request summary (see above) */
	const char *language;    /* BCP 47 */
	int64_t expires_at;      /* Unix time, seconds */
} stepup_inapp_request;

typedef struct stepup_inapp {
	uint32_t size; /* sizeof(stepup_inapp) the plugin compiled */
	/* Describe the app for the response: a JSON object as text, returned
	 * in *app_json (host-owned, host->alloc). */
	int (*describe)(void *state, const stepup_call_ctx *ctx, const char *language,
			char **app_json);
	/* Start an in-app authentication for a pending decision (e.g. push to
	 * the issuer backend). */
	int (*start)(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req);
	/* Verify the proof the issuer backend sent back for decision_id (a
	 * JSON object): STEPUP_PLUGIN_OK if it is authentic and for that
	 * decision, STEPUP_PLUGIN_REJECTED if not. Authenticity only: the
	 * host then reads the proof's "result", "APPROVED" (activate) or
	 * "DECLINED" (the holder failed or refused), which the proof's
	 * authentication must cover. */
	int (*verify)(void *state, const stepup_call_ctx *ctx, const char *decision_id,
		      const char *proof_json);
} stepup_inapp;

/* ---- customer-service routing (method CUSTOMER_SERVICE) ------------------- */
enum {
	STEPUP_CS_LINE_STANDARD = 0,
	STEPUP_CS_LINE_FRAUD = 1,
};

/* Filled by route(); both strings host-owned (host->alloc). */
typedef struct stepup_cs_route {
	char *number; /* E.164 number to call */
	char *hours;  /* opening hours, free text for the holder; may be NULL */
} stepup_cs_route;

typedef struct stepup_cs_router {
	uint32_t size; /* sizeof(stepup_cs_router) the plugin compiled */
	/* Choose the number and hours for `line` (STEPUP_CS_LINE_*) given the
	 * request (JSON text). On failure leave *out untouched or NULLs. */
	int (*route)(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		     stepup_cs_route *out);
} stepup_cs_router;

/* ---- account data source (1.2) --------------------------------------------
 * A token service does not say whether the card is active, whether the
 * CSC matched, or which phone and e-mail the issuer has on file: the
 * issuer knows them. An account data source looks them up for a decision.
 * It is the ONLY kind of plugin the host hands a card number and a CSC
 * (PCI DSS: need to know); it must not log, store or return them. */
typedef struct stepup_account_query {
	uint32_t size;            /* sizeof as the host built it */
	const char *pan;          /* the card number, digits only (PCI) */
	const char *expiry_month; /* "01".."12", or "" when not sent */
	const char *expiry_year;  /* "YY" or "YYYY", or "" when not sent */
	const char *csc;          /* the CSC to check (PCI), or NULL when not sent */
	const char *request_id;   /* the token service's request id, for logs */
} stepup_account_query;

typedef struct stepup_account_source {
	uint32_t size; /* sizeof(stepup_account_source) the plugin compiled */
	/* Look the card up. STEPUP_PLUGIN_OK with *facts_json (host->alloc):
	 * one JSON object of the issuer's facts, nested as the ruleset's
	 * schema declares its fields, e.g.
	 *     {"card":{"state":"ACTIVE","csc_result":"MATCH"},
	 *      "end_user":{"phone":"+447700900123","email":"j@example.com"}}
	 * STEPUP_PLUGIN_REJECTED when the issuer does not know the card (an
	 * answer, not a failure). Anything else is a failure, and the host
	 * answers as configured (a decline by default). The facts and err
	 * never hold the card number or the CSC: the host refuses facts that
	 * hold a card number. */
	int (*lookup)(void *state, const stepup_call_ctx *ctx, const stepup_account_query *q,
		      char **facts_json);
} stepup_account_source;

/* ---- the descriptor --------------------------------------------------------
 * Field order is ABI: the two version fields come first and never move. */
typedef struct stepup_plugin_desc {
	uint32_t abi_major; /* STEPUP_PLUGIN_ABI_MAJOR the plugin was built with */
	uint32_t abi_minor; /* STEPUP_PLUGIN_ABI_MINOR the plugin was built with */
	const char *name;    /* [a-z_][a-z0-9_]*: prefix of its rule functions */
	const char *version; /* the plugin's own version, free text */
	/* init: parse config_json (the plugin's section of the host config,
	 * a JSON value as text, "{}" when absent), set *state, return
	 * STEPUP_PLUGIN_OK; on failure write a reason (no PII) into err and
	 * release everything. May be NULL. host and host_ctx stay valid until
	 * fini() returns. */
	int (*init)(const stepup_host_api *host, void *host_ctx, const char *config_json,
		    void **state, char *err, size_t errlen);
	/* fini: release state. Called once, only after a successful init. May
	 * be NULL. */
	void (*fini)(void *state);
	/* What the plugin provides; each may be NULL. */
	const stepup_plugin_fn *functions; /* ends with { NULL, NULL, NULL } */
	const stepup_otp_channel *otp;
	const stepup_inapp *inapp;
	const stepup_cs_router *cs;
	/* --- 1.2 --- (read by the host only from plugins built with
	 * abi_minor >= 2) */
	const stepup_account_source *account;
	/* Fields added by later minors go here, at the end. */
} stepup_plugin_desc;

/* The symbol every plugin defines (with STEPUP_PLUGIN_EXPORT). */
extern const stepup_plugin_desc stepup_plugin;

#ifdef __cplusplus
}
#endif
#endif
