/* plugin_util.h: what every plugin needs: its identity (per instance),
 * error buffers and log lines that name the plugin, string copies
 * (plugin-owned and host-owned), a growable buffer, the check of the host
 * API table, and the 1.3 host features (check-only loads, data versions).
 *
 * This is the stepup plugin SDK (libstepup-plugin, `pkg-config
 * stepup-plugin`, <stepup/sdk/...>): a static library of position
 * independent code that a plugin links INTO its own module, so a plugin
 * stays one self-contained .so that does not link libstepup and carries
 * the SDK version it was built with. Every name starts with spc_ ("stepup
 * plugin common") and is declared hidden, and each module's exports are
 * limited to stepup_plugin, so two plugins loaded in one process never
 * see each other's copy. This file needs only libc and <stepup/plugin.h>,
 * so a plugin without jansson or libcurl (geo) can use it. */
#ifndef STEPUP_PLUGIN_COMMON_UTIL_H
#define STEPUP_PLUGIN_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <stepup/plugin.h>

#if defined(__GNUC__)
#define SPC_HIDDEN __attribute__((visibility("hidden")))
#define SPC_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define SPC_HIDDEN
#define SPC_PRINTF(fmt, first)
#endif

/* One plugin instance as the host sees it; plugins embed one in their
 * state. `name` prefixes every reason in ctx->err and every log line, so
 * the host's logs say which plugin spoke. */
typedef struct spc_plugin {
	const char *name;    /* the descriptor's name, e.g. "otp_sms_http" */
	const char *version; /* the descriptor's version */
	const stepup_host_api *host;
	void *host_ctx;
} spc_plugin;

/* Fill p in init(): the descriptor's name and version, and the host
 * table and context init() was given (kept until fini: per instance, never
 * in globals, since several instances of one module may run at once). */
SPC_HIDDEN void spc_plugin_set(spc_plugin *p, const stepup_plugin_desc *desc, const stepup_host_api *host,
			       void *host_ctx);

/* 1 when the host loads the plugin only to check its configuration
 * (stepup check, --check-config; ABI 1.3 STEPUP_HOST_CHECK_ONLY): init()
 * then checks everything as usual but opens no connection, creates no
 * file and starts no thread. 0 with an older host. */
SPC_HIDDEN int spc_check_only(const spc_plugin *p);

/* Report the version of the data the plugin decides with (ABI 1.3; e.g.
 * "sha256:<hex>" of a table it read), printf-style, from init(). It
 * becomes part of every decision's revision. Ignored by an older host. */
SPC_HIDDEN void spc_set_data_version(const spc_plugin *p, const char *fmt, ...) SPC_PRINTF(2, 3);

/* printf into err (errlen bytes, may be NULL/0): init()'s error buffer. */
SPC_HIDDEN void spc_set_err(char *err, size_t errlen, const char *fmt, ...) SPC_PRINTF(3, 4);

/* 1 if ctx is large enough to carry err/errlen (a host built against an
 * older header could hand a shorter one). */
SPC_HIDDEN int spc_ctx_ok(const stepup_call_ctx *ctx);

/* "<name>: <reason>" into ctx->err, if ctx has a buffer. `name` rather than
 * an spc_plugin because calls with no state still owe the host a reason. */
SPC_HIDDEN void spc_ctx_err(const char *name, const stepup_call_ctx *ctx, const char *fmt, ...)
	SPC_PRINTF(3, 4);

/* One host->log() line "<name>: <text>" (at most 255 bytes). By the
 * contract of plugin.h the text never carries PII. */
SPC_HIDDEN void spc_log(const spc_plugin *p, int level, const char *fmt, ...) SPC_PRINTF(3, 4);

/* A call that reached the network failed: `why` into ctx->err and a
 * warning "<what> after <took_ms> ms: <why>". */
SPC_HIDDEN void spc_report_failure(const spc_plugin *p, const stepup_call_ctx *ctx, const char *what,
				   int64_t took_ms, const char *why);

/* 1 if host is a 1.0 table with log, alloc and free (and now_ms when
 * need_clock): the fields the reference plugins call. */
SPC_HIDDEN int spc_host_ok(const stepup_host_api *host, int need_clock);

/* malloc'd copy of s (plugin-owned), or NULL. */
SPC_HIDDEN char *spc_strdup(const char *s);
/* host->alloc'd copy of s: what a plugin returns to the host, which frees
 * it with host->free (plugin.h, OWNERSHIP). */
SPC_HIDDEN char *spc_host_strdup(const stepup_host_api *host, const char *s);

/* A growable NUL-terminated string. After a failed allocation it stays
 * failed (oom set, later adds ignored), so callers check once at the end.
 * Start with spc_buf b = { 0 }. */
typedef struct spc_buf {
	char *p;
	size_t len, cap;
	int oom;
} spc_buf;

SPC_HIDDEN void spc_buf_add(spc_buf *b, const char *s, size_t n);
SPC_HIDDEN void spc_buf_adds(spc_buf *b, const char *s);
SPC_HIDDEN void spc_buf_addc(spc_buf *b, char c);
/* Zero the whole allocation (it may hold an OTP), free it, reset b. */
SPC_HIDDEN void spc_buf_wipe(spc_buf *b);

#endif
