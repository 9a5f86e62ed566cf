/* stepup/stepup.h: libstepup, the issuer-side tokenization decision engine.
 *
 * Pipeline: rule sources -> stepup_compiler -> stepup_ruleset (immutable,
 * saveable as a bundle) -> stepup_engine (ruleset + issuer settings) ->
 * stepup_decide() on a stepup_request, answered in a stepup_decision.
 *
 * OWNERSHIP (the one rule for the whole library)
 *   - An object returned through a `**out` parameter or by *_new() belongs to
 *     the caller, who releases it with the matching *_free() / *_unref().
 *   - `const char *` and `const stepup_diag *` returned by getters are borrowed:
 *     valid until the object they came from is freed or next modified.
 *   - Input buffers (paths, JSON text, sources) are borrowed for the call only;
 *     the library copies what it keeps.
 *   - The library never prints, logs or exits. Failures come back as a
 *     stepup_status plus, where a call takes `char *err, size_t errlen`, a
 *     NUL-terminated message (truncated to errlen). Diagnostics for rule
 *     sources are data on the compiler.
 *
 * THREADS
 *   stepup_ruleset and stepup_engine are immutable once built: share them
 *   across any number of threads. stepup_request and stepup_decision are
 *   per-thread scratch objects; reuse them across calls to avoid allocation.
 *
 * SECRETS
 *   card.pan and card.csc are read to derive facts and are never copied into
 *   any output of the library. Phone numbers and emails only leave masked.
 */
#ifndef STEPUP_STEPUP_H
#define STEPUP_STEPUP_H

#include <stddef.h>
#include <stdint.h>
#include <stepup/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STEPUP_VERSION "0.1.0"

typedef struct stepup_compiler stepup_compiler;
typedef struct stepup_ruleset stepup_ruleset;
typedef struct stepup_engine stepup_engine;
typedef struct stepup_request stepup_request;
typedef struct stepup_decision stepup_decision;
typedef struct stepup_plugins stepup_plugins;  /* loaded plugins, see below */

/* ---- Decisions and ID&V methods --------------------------------------- */

typedef enum stepup_outcome {
	STEPUP_GREEN = 0,   /* approve                          (APPROVED) */
	STEPUP_YELLOW = 1,  /* approve after step-up ID&V       (REQUIRE_ADDITIONAL_AUTHENTICATION) */
	STEPUP_RED = 2,     /* decline                          (DECLINED) */
} stepup_outcome;

typedef enum stepup_method {
	STEPUP_IN_APP = 0,
	STEPUP_OTP_SMS = 1,
	STEPUP_OTP_EMAIL = 2,
	STEPUP_CUSTOMER_SERVICE = 3,
} stepup_method;
#define STEPUP_METHOD_COUNT 4

typedef enum stepup_cs_line {
	STEPUP_LINE_STANDARD = 0,
	STEPUP_LINE_FRAUD = 1,
} stepup_cs_line;

const char *stepup_outcome_name(stepup_outcome o);          /* "GREEN" */
const char *stepup_outcome_network_name(stepup_outcome o);  /* "APPROVED" */
const char *stepup_method_name(stepup_method m);            /* "OTP_SMS" */
const char *stepup_cs_line_name(stepup_cs_line l);          /* "FRAUD" */

/* ---- Compiling rules --------------------------------------------------- */

typedef enum stepup_severity {
	STEPUP_DIAG_ERROR = 0,
	STEPUP_DIAG_WARNING = 1,
	STEPUP_DIAG_NOTE = 2,
} stepup_severity;

/* A located message about a rule source. Lines and columns are 1-based;
 * columns count bytes. end_* points at the last byte of the offending span. */
typedef struct stepup_diag {
	stepup_severity severity;
	const char *file;
	unsigned line, col;
	unsigned end_line, end_col;
	const char *message;
} stepup_diag;

stepup_compiler *stepup_compiler_new(void);
void stepup_compiler_free(stepup_compiler *c);

/* Add one source file (read now) or an in-memory source named `name`.
 * STEPUP_EIO when the file cannot be read (also recorded as a diagnostic). */
int stepup_compiler_add_file(stepup_compiler *c, const char *path);
int stepup_compiler_add_source(stepup_compiler *c, const char *name,
                               const char *text, size_t len);

/* Parse, check and compile every source added so far into one ruleset.
 * STEPUP_ECOMPILE when any error diagnostic was queued; *out is then NULL.
 * All independent errors are reported, not only the first. */
int stepup_compiler_compile(stepup_compiler *c, stepup_ruleset **out);

/* Make the rule functions of `plugins` callable from the sources as
 * `name.function(...)`, type-checked against their signatures. The ruleset
 * records what it imports (plugin name, function, signature); an engine
 * binds them again at build. Borrowed: keep p alive until compile returns. */
int stepup_compiler_set_plugins(stepup_compiler *c, const stepup_plugins *p);

/* Fail closed: a ruleset with no rules would approve every request, so
 * compiling or loading one is an error ("the ruleset has no rules")
 * unless this flag says it is wanted (tests, a deliberate allow-all). */
#define STEPUP_LOAD_ALLOW_EMPTY 0x1u
/* Compiler only: also queue the lints of `stepup check --strict` as
 * warnings (docs/language.md §12): duplicate rules, a rule subsumed by
 * another with the same outcome, a step_up always masked by a decline,
 * methods no rule can offer, constants named like enum values. */
#define STEPUP_COMPILE_STRICT 0x2u
/* Flags (STEPUP_LOAD_*, STEPUP_COMPILE_*) for the next stepup_compiler_compile(). */
int stepup_compiler_set_flags(stepup_compiler *c, unsigned flags);

/* Format one rule source in the canonical layout (`stepup fmt`,
 * docs/language.md §12), keeping its comments: formatting twice gives what
 * formatting once gave, and the result parses to the same declarations.
 * The source is added to c as by stepup_compiler_add_source() (use a
 * compiler of its own: its diagnostics are queued on c). *out is malloc'd
 * and NUL-terminated (free() it), *outlen its length. STEPUP_ECOMPILE when
 * the source has lexical or syntax errors: it is then not formatted. */
int stepup_compiler_format(stepup_compiler *c, const char *name, const char *text, size_t len,
                           char **out, size_t *outlen);

size_t stepup_compiler_diag_count(const stepup_compiler *c);
size_t stepup_compiler_error_count(const stepup_compiler *c);
const stepup_diag *stepup_compiler_diag(const stepup_compiler *c, size_t i);

/* Render diagnostic i as a compiler would print it:
 *   file:line:col: error: message
 *     <the source line>
 *     ^~~~~
 * into buf (snprintf semantics: returns the length it needed). */
size_t stepup_compiler_render_diag(const stepup_compiler *c, size_t i,
                                   char *buf, size_t size);

/* ---- Rulesets ---------------------------------------------------------- */

/* Load a ruleset from a path holding either a bundle (detected by its magic)
 * or rule sources (compiled on the fly; the first diagnostic goes to err). */
int stepup_ruleset_load(const char *path, stepup_ruleset **out,
                        char *err, size_t errlen);
/* Same, with rule functions of `plugins` (may be NULL) callable from
 * sources compiled on the fly. A bundle records its imports; they are
 * checked when an engine is built. */
int stepup_ruleset_load_with_plugins(const char *path, const stepup_plugins *plugins,
                                     stepup_ruleset **out, char *err, size_t errlen);
/* Same, with STEPUP_LOAD_* flags. Every load refuses a ruleset with no
 * rules (source or bundle) unless STEPUP_LOAD_ALLOW_EMPTY is set. */
int stepup_ruleset_load_flags(const char *path, const stepup_plugins *plugins, unsigned flags,
                              stepup_ruleset **out, char *err, size_t errlen);
/* Load a bundle from memory. Truncated, corrupted or foreign-version data is
 * refused with STEPUP_EBUNDLE / STEPUP_EVERSION and a message; a bundle
 * with no rules with STEPUP_ECOMPILE. */
int stepup_ruleset_load_bundle(const void *data, size_t len,
                               stepup_ruleset **out, char *err, size_t errlen);
int stepup_ruleset_load_bundle_flags(const void *data, size_t len, unsigned flags,
                                     stepup_ruleset **out, char *err, size_t errlen);
/* Serialize to a bundle. *data is malloc'd; free() it. */
int stepup_ruleset_serialize(const stepup_ruleset *rs, void **data, size_t *len);
int stepup_ruleset_save(const stepup_ruleset *rs, const char *path,
                        char *err, size_t errlen);

const char *stepup_ruleset_name(const stepup_ruleset *rs);
const char *stepup_ruleset_revision(const stepup_ruleset *rs); /* "sha256:<64 hex>" */
size_t stepup_ruleset_rule_count(const stepup_ruleset *rs);
/* How many rules have outcome o (decline = STEPUP_RED, step_up =
 * STEPUP_YELLOW, approve = STEPUP_GREEN): a host compares rulesets before
 * swapping one for another (stepupd's reload guards). */
size_t stepup_ruleset_outcome_count(const stepup_ruleset *rs, stepup_outcome o);

/* The rules, in rule-file order (the order of `reasons`), and the declared
 * methods, in offer order: what a tool checks test expectations against
 * and measures coverage by. Strings are borrowed from rs. */
typedef struct stepup_rule_info {
	const char *name;
	const char *description;  /* "" when none */
	const char *file;         /* base name of its file, as in "at" */
	unsigned line;            /* of its name */
	stepup_outcome outcome;   /* decline RED, step_up YELLOW, approve GREEN */
	unsigned methods;         /* step_up: bit (1u << stepup_method) per method
	                             it allows (every one without `only`) */
	int fraud;                /* asks for the FRAUD line */
} stepup_rule_info;

/* STEPUP_EINVAL when i is out of range. */
int stepup_ruleset_rule(const stepup_ruleset *rs, size_t i, stepup_rule_info *out);
size_t stepup_ruleset_method_count(const stepup_ruleset *rs);
int stepup_ruleset_method(const stepup_ruleset *rs, size_t i, stepup_method *out);

/* The name of names[0..n) closest to word, for "did you mean": one equal
 * but for case, else the nearest within a few edits (1 for words of up to
 * 4 characters, 2 up to 8, else 3); NULL when none is that close. Borrowed
 * from names. */
const char *stepup_suggest(const char *word, const char *const *names, size_t n);

/* ---- The request schema (docs/schema.md) ---------------------------------
 * The fields a ruleset's requests may carry, as declared (its `field`
 * lines and the default schema, rules/schema/tokenization.rules), in slot
 * order. Strings are borrowed from rs. */
#define STEPUP_FIELD_SECRET   0x01u  /* read by rules; never output, logged or stored */
#define STEPUP_FIELD_REQUIRED 0x02u  /* a request without it is refused */
#define STEPUP_FIELD_SUMMARY  0x04u  /* in the request summary plugins get */
#define STEPUP_FIELD_OPEN     0x08u  /* enum: unknown values read as none of them */
#define STEPUP_FIELD_FROM_STRING 0x10u /* int: "4" is read as 4 */
#define STEPUP_FIELD_DEFAULT  0x20u  /* absent reads as its default */

typedef struct stepup_field_info {
	const char *path;         /* "card.state" */
	const char *description;  /* "" when none */
	const char *type;         /* "bool", "int", "string", "enum", "list of string", "list of code" */
	const char *format;       /* "" or id, card_number, csc, phone, phone_digits, email, digits */
	const char *role;         /* "" or request_id, channel, language, pan_suffix,
	                             token_requestor_id, token_requestor_name,
	                             contact OTP_SMS, contact OTP_EMAIL */
	const char *derived;      /* "" or "last4(card.pan)", "bin(card.pan)" */
	const char *default_text; /* "" or the default as written */
	unsigned flags;           /* STEPUP_FIELD_* */
	int64_t min, max;         /* int: range; string: length */
	size_t nvalues;           /* enum values / declared codes */
} stepup_field_info;

size_t stepup_ruleset_field_count(const stepup_ruleset *rs);
/* STEPUP_EINVAL when i is out of range. default_text points into a buffer
 * of out that the next call overwrites. */
int stepup_ruleset_field(const stepup_ruleset *rs, size_t i, stepup_field_info *out);
/* Value k of field i's enum or code list, NULL when out of range. */
const char *stepup_ruleset_field_value(const stepup_ruleset *rs, size_t i, size_t k);
/* "sha256:<64 hex>" of the schema the ruleset was compiled against. */
const char *stepup_ruleset_schema_fingerprint(const stepup_ruleset *rs);

/* Human-readable listing of the compiled program (for `stepup compile -S`).
 * Returns a malloc'd string; free() it. NULL on allocation failure. */
char *stepup_ruleset_disassemble(const stepup_ruleset *rs);

/* Rulesets are reference counted so a reloading daemon can free the old one
 * when its last request finishes. *_new/_load return one reference. */
stepup_ruleset *stepup_ruleset_ref(stepup_ruleset *rs);
void stepup_ruleset_unref(stepup_ruleset *rs);

/* ---- Plugins (the plugin side of the contract is <stepup/plugin.h>) ---- */

/* Log levels, shared with plugin.h's STEPUP_PLUGIN_LOG_*. */
enum { STEPUP_LOG_ERROR = 0, STEPUP_LOG_WARNING = 1, STEPUP_LOG_INFO = 2, STEPUP_LOG_DEBUG = 3 };

/* Where plugin log lines and plugin failure reports go. `source` is the
 * plugin's configured name. Called from any thread; never with PII (plugins
 * promise it for their lines, the host for its own). */
typedef void (*stepup_log_fn)(void *ctx, int level, const char *source, const char *msg);

/* Load every plugin of the "plugins" section of a configuration document
 * (JSON text; other top-level keys are ignored, no section = no plugins):
 *
 *   "plugins": {
 *     "path": ["/usr/lib/stepup/plugins"],  search path for bare module names
 *     "timeout_ms": 200,                    default deadline of every call
 *     "decide_timeout_ms": 150,             ... of calls made while deciding
 *                                           (can_deliver, describe, route,
 *                                           lookup, rule functions)
 *     "deliver_timeout_ms": 3000,           ... of deliver_otp, notify, start,
 *                                           verify
 *     "isolation": "process",               default of every plugin below
 *     "user": "nobody",                     who "process" plugins run as when
 *                                           this process is root
 *     "load": [
 *       { "name": "sms",                    unique; prefix of rule functions
 *                                           (default: the descriptor's name)
 *         "module": "otp_sms_http",         name on the path, or a path with '/'
 *         "timeout_ms": 500,                this plugin's deadlines (and
 *         "decide_timeout_ms": 100,         "decide_timeout_ms",
 *         "deliver_timeout_ms": 3000,       "deliver_timeout_ms" apart)
 *         "isolation": "process",           "process" (default unless trusted):
 *                                           in child processes of its own;
 *                                           "thread" (default when trusted):
 *                                           on the plugin's own workers, the
 *                                           caller stops waiting at the
 *                                           deadline; "inline": on the
 *                                           caller's thread
 *         "trusted": false,                 true: may run inside this process
 *         "processes": 2,                   children for "process" (1..16)
 *         "restart_backoff_ms": 100,        first delay before a crashed child
 *                                           starts again (doubles, to 30 s)
 *         "threads": 2,                     workers for "thread" (1..16)
 *         "required": true,                 counted by stepup_plugins_ready()
 *         "config": { ... } }               handed to the plugin's init()
 *     ],
 *     "methods": { "OTP_SMS": "sms", "OTP_EMAIL": "email",
 *                  "IN_APP": "inapp", "CUSTOMER_SERVICE": "cs" },
 *     "account_source": "accounts"          the issuer's facts about a card
 *   }
 *
 * "process" plugins run in the stepup-plugin-host program, found where it
 * was installed (pkg-config --variable=pluginhost stepup) or at
 * $STEPUP_PLUGIN_HOST.
 *
 * Relative search-path entries and module paths are resolved from base_dir
 * (NULL: the working directory). log may be NULL (lines are dropped).
 * Any refusal (unknown key, a plugin that does not load or whose init fails,
 * a method mapped to a plugin without that interface) fails the whole set:
 * STEPUP_ECONFIG / STEPUP_EPLUGIN / STEPUP_ENOTFOUND / STEPUP_EVERSION with
 * one line naming the plugin or key in err. Nothing stays loaded then. */
int stepup_plugins_load(const char *config_json, const char *base_dir,
                        stepup_log_fn log, void *log_ctx,
                        stepup_plugins **out, char *err, size_t errlen);

/* Flags for stepup_plugins_load_flags. */
/* Load to check a configuration (stepup check, compile, --check-config):
 * every plugin's init() runs in a child process with
 * STEPUP_HOST_CHECK_ONLY (plugin.h), so a crash there is an error naming
 * it, and no plugin has side effects. The set answers no call
 * (STEPUP_ESTATE) but describes the plugins and their rule functions. */
#define STEPUP_PLUGINS_CHECK_ONLY 0x1u
/* Run the init() of every "thread" and "inline" plugin in a child process
 * first (a trial load), so that one that crashes there is refused with
 * an error naming it instead of ending this process. */
#define STEPUP_PLUGINS_TRIAL 0x2u
int stepup_plugins_load_flags(const char *config_json, const char *base_dir, unsigned flags,
                              stepup_log_fn log, void *log_ctx, stepup_plugins **out,
                              char *err, size_t errlen);
/* Reference counted: engines built on a set hold a reference, so a daemon
 * can drop its own while old engines finish. The last unref calls every
 * plugin's fini() (after their workers have finished) and unloads them. */
stepup_plugins *stepup_plugins_ref(stepup_plugins *p);
void stepup_plugins_unref(stepup_plugins *p);

size_t stepup_plugins_count(const stepup_plugins *p);

#define STEPUP_PROVIDES_FUNCTIONS 0x1u
#define STEPUP_PROVIDES_OTP       0x2u
#define STEPUP_PROVIDES_INAPP     0x4u
#define STEPUP_PROVIDES_CS        0x8u
#define STEPUP_PROVIDES_ACCOUNT   0x10u  /* account data source (plugin.h 1.2) */

typedef struct stepup_plugin_info {
	const char *name;     /* configured name */
	const char *path;     /* file loaded */
	const char *version;  /* the plugin's own version */
	unsigned provides;    /* STEPUP_PROVIDES_* */
	unsigned methods;     /* bit (1u << stepup_method) per method it serves */
	unsigned timeout_ms;  /* of deliveries (runtime: of decision-time calls too) */
	int required;
	int isolated;         /* not "inline" (stepup_plugins_runtime says how) */
} stepup_plugin_info;

/* Strings borrowed from p. STEPUP_EINVAL when i is out of range. */
int stepup_plugins_info(const stepup_plugins *p, size_t i, stepup_plugin_info *out);

/* Call latency histogram bounds (microseconds, upper bounds, ascending);
 * bucket STEPUP_LATENCY_BUCKETS - 1 is "+Inf". */
#define STEPUP_LATENCY_BUCKETS 12
extern const uint32_t stepup_latency_bounds_us[STEPUP_LATENCY_BUCKETS - 1];

typedef struct stepup_plugin_stats {
	uint64_t calls;       /* every interface call, finished or not */
	uint64_t errors;      /* returned a failure status (not counting timeouts) */
	uint64_t timeouts;    /* overran the deadline */
	uint64_t latency_us_sum;                         /* finished calls */
	uint64_t latency_buckets[STEPUP_LATENCY_BUCKETS]; /* not cumulative */
} stepup_plugin_stats;

/* A snapshot of plugin i's counters (monotonic since load). */
int stepup_plugins_stats(const stepup_plugins *p, size_t i, stepup_plugin_stats *out);

/* Health: asks plugin i whether it can serve now (an OTP channel's
 * can_deliver with no destination; other kinds are healthy once loaded),
 * under its deadline. STEPUP_OK, STEPUP_EPLUGIN or STEPUP_ETIMEOUT + why. */
int stepup_plugins_check(stepup_plugins *p, size_t i, char *err, size_t errlen);
/* 1 when every required plugin passes stepup_plugins_check(), else 0 with
 * the first failure in err. A set with no plugins is ready. */
int stepup_plugins_ready(stepup_plugins *p, char *err, size_t errlen);

/* The plugin serving method m, or -1. */
int stepup_plugins_for_method(const stepup_plugins *p, stepup_method m);

/* How plugin i runs (what stepup_plugin_info, fixed in 0.1, does not
 * say). Set `size` to sizeof(stepup_plugin_runtime) first: fields beyond
 * it are not written, so the struct can grow. Strings borrowed from p. */
typedef struct stepup_plugin_runtime {
	uint32_t size;
	const char *isolation;        /* "process", "thread" or "inline" */
	const char *digest;           /* "sha256:<hex>" of the module code running
	                                 (its private copy, taken at load) */
	const char *data_version;     /* what the plugin reported (plugin.h 1.3), "" */
	int trusted;
	unsigned decide_timeout_ms;   /* calls made while deciding */
	unsigned deliver_timeout_ms;  /* deliveries */
	unsigned processes;           /* "process": children configured */
	unsigned processes_alive;
	uint64_t crashes;             /* children that died on their own */
	uint64_t kills;               /* children killed for not answering in time */
	uint64_t restarts;            /* children started again */
	unsigned failing;             /* failed calls in a row (0 after one that worked) */
	uint64_t fn_calls;            /* rule function calls (also in calls) */
	uint64_t memo_hits;           /* rule function calls answered from the decision's memo */
} stepup_plugin_runtime;
int stepup_plugins_runtime(const stepup_plugins *p, size_t i, stepup_plugin_runtime *out);

/* For a host's handler of fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT). When the signal came while this thread was inside a call into
 * a "thread" or "inline" plugin, writes one JSON line naming the plugin
 * and the call into buf and returns its length:
 *   {"level":"fatal","msg":"a plugin crashed the process","plugin":"sms",
 *    "call":"can_deliver","signal":"SIGSEGV","signo":11}
 * else returns 0. Async-signal-safe (no allocation, no lock, no stdio).
 * The library installs no signal handler: the host does (stepupd does). */
size_t stepup_plugins_crash_line(int sig, char *buf, size_t size);

/* ---- Deciding with plugins -----------------------------------------------
 * stepup_decide_json with a deadline for the plugin calls the decision
 * makes: deadline_ms on CLOCK_MONOTONIC, in milliseconds (0: none); each
 * decision-time call stops at the earlier of it and its own deadline. A
 * rule function called twice with the same arguments in one decision is
 * called once. With STEPUP_DECIDE_NONBLOCK in flags, no call that could
 * block (any plugin not "inline") is made: if the decision needs one,
 * STEPUP_ESTATE is returned and nothing is rendered, and the caller
 * decides again without the flag on a thread that may wait (stepupd: an
 * HTTP thread decides what it can, a worker the rest). */
#define STEPUP_DECIDE_NONBLOCK 0x2u
int stepup_decide_json_until(const stepup_engine *e, stepup_request *r, stepup_decision *d,
                             const char *json, size_t len, unsigned flags, int64_t deadline_ms,
                             const char **out, size_t *outlen);
/* The revision a decision of e carries ("ruleset.revision" of responses):
 * the ruleset's, or, when plugins of e report data versions, "sha256:"
 * over the ruleset's revision and each such plugin's name, version and
 * data version, so a change of plugin data changes it. Borrowed from e. */
const char *stepup_engine_revision(const stepup_engine *e);

/* ---- Step-up calls (deadline, isolation and counters as above) ----------
 * Each returns STEPUP_OK; STEPUP_ENOTFOUND when no plugin serves the method;
 * STEPUP_EPLUGIN when the plugin failed (or refused: *refused is set for an
 * invalid in-app proof where asked); STEPUP_ETIMEOUT when it overran. err
 * gets "<plugin>: <op>: <reason>" and never PII. */
typedef struct stepup_otp {
	const char *destination;  /* phone (E.164) or e-mail, from the case */
	const char *otp;          /* the value to deliver */
	int64_t expires_at;       /* Unix seconds */
	const char *reason;       /* e.g. "CARD-DIGITIZATION" */
	const char *pan_suffix;   /* last 4 digits or "" */
	const char *language;     /* BCP 47, "" for the plugin's default */
} stepup_otp;

int stepup_plugins_deliver_otp(stepup_plugins *p, stepup_method m, const stepup_otp *otp,
                               char *err, size_t errlen);
int stepup_plugins_notify(stepup_plugins *p, stepup_method m, const char *destination,
                          const char *text, const char *language, char *err, size_t errlen);
/* request_json: a summary of the request without secrets (see plugin.h). */
int stepup_plugins_inapp_start(stepup_plugins *p, const char *decision_id,
                               const char *request_json, const char *language,
                               int64_t expires_at, char *err, size_t errlen);
/* *valid = 1 for a proof the plugin found authentic (its "result" then
 * says APPROVED or DECLINED), 0 for one it checked and rejected or found
 * malformed (then STEPUP_OK is still returned). */
int stepup_plugins_inapp_verify(stepup_plugins *p, const char *decision_id,
                                const char *proof_json, int *valid, char *err, size_t errlen);
/* *number and *hours are malloc'd (free() them); *hours may be NULL. */
int stepup_plugins_cs_route(stepup_plugins *p, const char *request_json, stepup_cs_line line,
                            char **number, char **hours, char *err, size_t errlen);

/* ---- The issuer's facts about a card (account data source) ----------------
 * The card data the token service sent, decrypted. Only the account data
 * source gets it (plugin.h); the host wipes its copies after the call. */
typedef struct stepup_card_data {
	const char *pan;          /* digits only; required */
	const char *expiry_month; /* "01".."12", or NULL */
	const char *expiry_year;  /* "YY" or "YYYY", or NULL */
	const char *csc;          /* the CSC to check, or NULL */
	const char *request_id;   /* the token service's request id, or NULL */
} stepup_card_data;

/* Ask the configured account data source ("account_source") under its
 * deadline and isolation. STEPUP_OK with *facts_json a JSON object of
 * facts nested as schema fields (malloc'd: free() it), or STEPUP_OK with
 * *facts_json NULL when the issuer does not know the card;
 * STEPUP_ENOTFOUND when no source is configured; STEPUP_EPLUGIN or
 * STEPUP_ETIMEOUT when it failed or returned facts that are not one JSON
 * object or hold a card number. err never quotes the card data. */
int stepup_plugins_account_lookup(stepup_plugins *p, const stepup_card_data *card,
                                  char **facts_json, char *err, size_t errlen);
/* The account data source's index, or -1. */
int stepup_plugins_account_source(const stepup_plugins *p);

/* ---- Engine ------------------------------------------------------------ */

/* Build an engine from a ruleset (the engine takes its own reference) and the
 * issuer settings as JSON text (NULL or "" for none):
 *   { "issuer": { "app_id": "com.bank.app",
 *                 "customer_service": { "standard": "+1-800-555-0100",
 *                                       "fraud":    "+1-800-555-0199" } } }
 * Unknown keys are errors (a typo in a config is better caught than ignored). */
int stepup_engine_new(stepup_ruleset *rs, const char *settings_json,
                      stepup_engine **out, char *err, size_t errlen);
/* Same, reading the settings from a file (NULL path = no settings). */
int stepup_engine_new_from_file(stepup_ruleset *rs, const char *settings_path,
                                stepup_engine **out, char *err, size_t errlen);
/* Same, with plugins: rule functions the ruleset imports are bound to
 * `plugins` (a missing function or another signature is STEPUP_ECONFIG
 * naming it), and the methods mapped in it are served through them when
 * deciding: an OTP channel that cannot deliver, an in-app plugin that cannot
 * describe the app, or a router that cannot route drops its method (see
 * explain). The engine takes its own reference on `plugins` (may be NULL). */
int stepup_engine_new_with_plugins(stepup_ruleset *rs, stepup_plugins *plugins,
                                   const char *settings_json, stepup_engine **out,
                                   char *err, size_t errlen);
void stepup_engine_free(stepup_engine *e);
/* The engine's plugin set (borrowed), NULL when none. */
stepup_plugins *stepup_engine_plugins(const stepup_engine *e);
const stepup_ruleset *stepup_engine_ruleset(const stepup_engine *e);

/* ---- Requests ---------------------------------------------------------- */

stepup_request *stepup_request_new(void);
void stepup_request_free(stepup_request *r);
/* Overwrite every copy of request text and every decoded value r holds
 * (a request that carried a card number, a CVC or the holder's data), as
 * soon as its decision is made; r stays usable for the next parse and
 * holds no request until then (stepup_request_id answers ""). A decision
 * made from r keeps no pointer into it. NULL is a no-op. */
void stepup_request_wipe(stepup_request *r);

/* Decode one request (DESIGN §3) in a single pass. STEPUP_EBADREQ with a
 * message naming the field when the JSON is malformed, a known field has the
 * wrong type or an out-of-range value, or request_id is missing.
 * Unknown fields are ignored. The message never quotes a secret. */
int stepup_request_parse(stepup_request *r, const stepup_engine *e,
                         const char *json, size_t len,
                         char *err, size_t errlen);
/* After a failed parse: the dotted path of the offending field, or "" when
 * the problem is the document itself. */
const char *stepup_request_error_field(const stepup_request *r);
/* request_id of the last successful parse ("" if none). */
const char *stepup_request_id(const stepup_request *r);

/* Roles: what a host (the lifecycle, stepupd) needs of a request, whatever
 * the schema calls the field (docs/schema.md). A secret has no role. */
typedef enum stepup_role {
	STEPUP_ROLE_REQUEST_ID = 1,
	STEPUP_ROLE_CHANNEL = 2,
	STEPUP_ROLE_LANGUAGE = 3,
	STEPUP_ROLE_PAN_SUFFIX = 4,
	STEPUP_ROLE_TOKEN_REQUESTOR_ID = 5,
	STEPUP_ROLE_TOKEN_REQUESTOR_NAME = 6,
	STEPUP_ROLE_CONTACT_SMS = 7,     /* the phone of OTP_SMS */
	STEPUP_ROLE_CONTACT_EMAIL = 8,   /* the e-mail of OTP_EMAIL */
} stepup_role;

/* The value of the request's field with `role` (borrowed from r, valid
 * until its next parse; an enum's value name for the channel), NULL when
 * no field has the role or the request lacks it. *len (may be NULL) gets
 * its length. */
const char *stepup_request_role(const stepup_request *r, stepup_role role, size_t *len);

/* ---- Deciding ---------------------------------------------------------- */

stepup_decision *stepup_decision_new(void);
void stepup_decision_free(stepup_decision *d);

#define STEPUP_DECIDE_EXPLAIN 0x1u  /* record why each rule fired or not */

/* Evaluate every rule and combine (DESIGN §2). Reentrant. */
int stepup_decide(const stepup_engine *e, const stepup_request *r,
                  stepup_decision *d, unsigned flags);

stepup_outcome stepup_decision_outcome(const stepup_decision *d);
const char *stepup_decision_id(const stepup_decision *d);
size_t stepup_decision_method_count(const stepup_decision *d);
stepup_method stepup_decision_method(const stepup_decision *d, size_t i);
/* The customer-service line: the one actually served when CUSTOMER_SERVICE
 * is offered (FRAUD falls back to STANDARD without a fraud number), else the
 * line the fired rules asked for. */
stepup_cs_line stepup_decision_cs_line(const stepup_decision *d);
size_t stepup_decision_fired_count(const stepup_decision *d);
/* Name of the i-th fired rule (in rule-file order) and its outcome. */
const char *stepup_decision_fired_rule(const stepup_decision *d, size_t i,
                                       stepup_outcome *outcome);

/* The customer-service number the decision offers (a router's, else the
 * issuer settings' for the line served) and its hours (*hours, may be NULL
 * on return); NULL when customer service is not offered. Borrowed from d
 * or e. */
const char *stepup_decision_cs_number(const stepup_engine *e, const stepup_decision *d, const char **hours);

/* The request summary plugins get (plugin.h: the schema's `summary`
 * fields and the line the rules asked for), as malloc'd JSON; free() it.
 * NULL on OOM or when r or d comes from another engine. */
char *stepup_request_summary(const stepup_engine *e, const stepup_request *r, const stepup_decision *d);

/* Render the response JSON (DESIGN §3) into the decision's own buffer; the
 * returned text is borrowed from d. With STEPUP_DECIDE_EXPLAIN set on the
 * stepup_decide() call, an "explain" object is added (rules, methods, notes). */
const char *stepup_decision_json(const stepup_engine *e, const stepup_request *r,
                                 stepup_decision *d, size_t *len);

/* One call for JSON in, JSON out (the daemon's and `stepup eval`'s path):
 * parse, decide, render. On a bad request the output is an error object
 *   {"request_id": ..., "error": {"code": "bad_request", "field": ..., "message": ...}}
 * and STEPUP_EBADREQ is returned. Output is borrowed from d. */
int stepup_decide_json(const stepup_engine *e, stepup_request *r,
                       stepup_decision *d, const char *json, size_t len,
                       unsigned flags, const char **out, size_t *outlen);

/* ---- Card numbers: the one policy (docs/pci.md) -------------------------
 * A card number is a run of 13 to 19 digits, unbroken or in groups split by
 * one to three of the separators space - . / : + _, with anything before or
 * after it (letters too), whose digits pass Luhn and start with a prefix a
 * card network issues at that length. Within a separated run every window
 * of whole groups counts; one unbroken run of 20 or more digits does not.
 * The request decoder, the lifecycle, stepupd and the plugin host all ask
 * this function: a card number where none is expected is refused (never
 * quoted back), and never stored or logged. */

/* 1 when text[0..len) holds a card number, else 0. *start and *end (either
 * may be NULL) get the byte span of the first one: its first digit to one
 * past its last. */
int stepup_card_number_find(const char *text, size_t len, size_t *start, size_t *end);

#define STEPUP_SCRUB_CARD  0x1u  /* card numbers, by the policy above -> "[card number]" */
#define STEPUP_SCRUB_PHONE 0x2u  /* '+' and 7 to 15 digits (E.164 as written) -> "[phone]" */
#define STEPUP_SCRUB_EMAIL 0x4u  /* local@domain -> "[e-mail]" */
#define STEPUP_SCRUB_ALL   0x7u

/* Copy text into out with what `what` names replaced by a marker: for
 * free text of unknown origin on its way to a log. snprintf semantics:
 * returns the length the whole result needs; out gets at most size - 1
 * bytes and a NUL (out may be NULL when size is 0). */
size_t stepup_scrub(const char *text, size_t len, unsigned what, char *out, size_t size);

/* ---- Masking (exposed so hosts log the same way) ----------------------- */

/* "+14155551234" -> "+1 *** *** 1234"; snprintf semantics. */
size_t stepup_mask_phone(const char *phone, size_t len, char *buf, size_t size);
/* "jane.doe@example.com" -> "ja******@example.com"; snprintf semantics. */
size_t stepup_mask_email(const char *email, size_t len, char *buf, size_t size);

/* ---- Change control: what a ruleset reads, replayable facts ---------------
 * (docs/change-control.md) A host that wants to know what a new ruleset
 * would have decided on past traffic keeps, per decision, the facts the
 * rules read, never the secrets, and contacts only reduced to what the
 * rules need. These calls say what a ruleset reads and write those facts. */

/* Rules are described by stepup_ruleset_rule() (above). */

/* How a ruleset reads a field (its rules, its method conditions, and the
 * combining: the channel's value, the contacts' presence). */
#define STEPUP_READS_VALUE    0x1u  /* compares or computes with the value */
#define STEPUP_READS_PRESENCE 0x2u  /* only whether it is present */
#define STEPUP_READS_SUFFIX   0x4u  /* ends_with(field, X): only its last len(X) bytes */
#define STEPUP_READS_EQUALITY 0x8u  /* == or != against another field */

typedef struct stepup_field_use {
	unsigned how;      /* one STEPUP_READS_* */
	long other;        /* SUFFIX, EQUALITY: the other field's index; -1: a constant */
	size_t length;     /* SUFFIX against a constant: the constant's length */
} stepup_field_use;

/* The distinct uses of field i (stepup_ruleset_field's index): up to max
 * go to out (may be NULL when max is 0); returns how many there are
 * (0: the ruleset never reads the field). */
size_t stepup_ruleset_field_uses(const stepup_ruleset *rs, size_t i, stepup_field_use *out, size_t max);
/* STEPUP_READS_* of every use of field i, or-ed. */
unsigned stepup_ruleset_field_reads(const stepup_ruleset *rs, size_t i);
/* The code of bit k of list field i: the codes the ruleset's tests can
 * tell apart (a request's other codes are not kept in its mask). NULL
 * past the last or for a field that is not a list of codes. */
const char *stepup_ruleset_field_code(const stepup_ruleset *rs, size_t i, size_t k);

/* Copy the decoded request src into dst as if e had decoded it, without
 * decoding again: e's ruleset must have the same schema as the one src
 * was decoded for (stepup_ruleset_schema_fingerprint), else STEPUP_EINVAL
 * (decode the text with e instead). For deciding one request with two
 * rulesets (shadow mode). */
int stepup_request_copy(stepup_request *dst, const stepup_request *src, const stepup_engine *e);

/* A facts writer for the requests an engine on rs decodes. */
typedef struct stepup_facts stepup_facts;
#define STEPUP_FACTS_READ     0u  /* keep the fields rs reads */
#define STEPUP_FACTS_DECLARED 1u  /* keep every field the schema declares (but
                                     a field derived from a secret, such as
                                     card.bin, only when rs reads it) */
/* In either mode: a `secret` field is never written; a contact (role
 * contact OTP_SMS / OTP_EMAIL, or format phone / email) is reduced: to
 * its presence, plus the suffix an ends_with() of rs compares (never more
 * than the masked form shows: 4 characters of a phone, the domain of an
 * e-mail, never the whole value), plus an HMAC-SHA256 keyed with `key`
 * when rs compares it for equality with another field; the request_id is
 * left to the caller. key may be NULL (then no hash is written: an
 * equality use is not replayable). *out is the caller's (free it). */
int stepup_facts_new(const stepup_ruleset *rs, unsigned mode, const void *key, size_t keylen,
                     stepup_facts **out, char *err, size_t errlen);
void stepup_facts_free(stepup_facts *f);
/* What the writer keeps and how, as one JSON object (borrowed):
 *   {"mode":"read","schema":"sha256:..","kept":["card.state",..],
 *    "contacts":{"end_user.phone":["presence","suffix"]},"omitted":["card.pan",..],
 *    "codes":{"wallet.reason_codes":["ACCOUNT_TOO_NEW",..]}} */
const char *stepup_facts_plan(const stepup_facts *f);
/* The facts of r (decoded by an engine on f's ruleset) as JSON members:
 *   "facts":{"card":{"state":"ACTIVE",..},..},"reduced":{"end_user.phone":{"suffix":"1234"}}
 * ("reduced" lists the contacts present, each with what was kept of it;
 * it is left out when none is). snprintf semantics: returns the length
 * needed; 0 when r was not decoded on f's ruleset. */
size_t stepup_facts_write(const stepup_facts *f, const stepup_request *r, char *buf, size_t size);

/* ---- Signed bundles (docs/change-control.md) ------------------------------
 * `stepup compile --sign KEY` appends an Ed25519 signature trailer to a
 * bundle; a host that trusts some keys can refuse a ruleset that is not
 * signed by one of them. Every loader accepts a signed bundle (the
 * trailer is ignored); only stepup_ruleset_load_trusted() checks it.
 * Keys are PEM files (OpenSSL's format: `openssl genpkey -algorithm
 * ed25519`); a private key must be mode 0600 or stricter. A signer is
 * named by its fingerprint, "ed25519:" + 32 hex digits of the SHA-256 of
 * the raw public key. */
typedef struct stepup_keyring stepup_keyring;
stepup_keyring *stepup_keyring_new(void);
void stepup_keyring_free(stepup_keyring *k);
/* Trust the public key in a PEM file (a private key file is refused:
 * only public keys belong on the hosts that verify). STEPUP_ECONFIG or
 * STEPUP_EIO with a message naming the file. */
int stepup_keyring_add_file(stepup_keyring *k, const char *path, char *err, size_t errlen);
size_t stepup_keyring_count(const stepup_keyring *k);
/* Fingerprint i of the keyring (borrowed), NULL past the last. */
const char *stepup_keyring_fingerprint(const stepup_keyring *k, size_t i);

#define STEPUP_FINGERPRINT_SIZE 42  /* "ed25519:" + 32 hex + NUL, rounded up */

/* Write a new key pair: the private key to key_path (created 0600, never
 * over an existing file) and the public key to pub_path. Its fingerprint
 * in fp (STEPUP_FINGERPRINT_SIZE bytes, may be NULL). */
int stepup_key_generate(const char *key_path, const char *pub_path, char *fp,
                        char *err, size_t errlen);
/* Sign bundle bytes (stepup_ruleset_serialize's, or a signed bundle,
 * whose old signature is replaced) with the private key in key_path.
 * *out is malloc'd (free() it): the bundle and its trailer. The signer's
 * fingerprint in fp (may be NULL). */
int stepup_bundle_sign(const void *bundle, size_t len, const char *key_path, void **out,
                       size_t *outlen, char *fp, char *err, size_t errlen);
/* stepup_ruleset_save, signed with the private key in key_path. */
int stepup_ruleset_save_signed(const stepup_ruleset *rs, const char *path, const char *key_path,
                               char *fp, char *err, size_t errlen);
/* Check the signature of bundle bytes against the keyring: STEPUP_OK and
 * the signer in fp; STEPUP_ENOTFOUND when the bundle carries no
 * signature; STEPUP_EBUNDLE when it does not verify or its key is not in
 * k (the message says which, and names the key). */
int stepup_bundle_verify(const void *data, size_t len, const stepup_keyring *k, char *fp,
                         char *err, size_t errlen);
/* Flag for stepup_ruleset_load_trusted: refuse anything but a bundle
 * signed by a key of the keyring. */
#define STEPUP_LOAD_SIGNED 0x100u
/* Load rules or a bundle from path (read once) as stepup_ruleset_load_flags
 * does, checking signatures against `trust`: with a key in it, a signed
 * bundle must verify (a tampered one, or one signed by a key not
 * trusted, is refused); with STEPUP_LOAD_SIGNED in flags an unsigned
 * bundle or a rules source is refused too. trust NULL or empty and no
 * STEPUP_LOAD_SIGNED: signatures are not checked. fp gets the signer's
 * fingerprint, "" when unsigned. Every message names path. */
int stepup_ruleset_load_trusted(const char *path, const stepup_plugins *plugins, unsigned flags,
                                const stepup_keyring *trust, stepup_ruleset **out, char *fp,
                                char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
