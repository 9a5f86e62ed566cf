/* plugin_loader.h (internal): load, check and call stepup plugins.
 *
 * The ABI is include/stepup/plugin.h. Library code: never prints, never
 * exits; every failure returns a status and writes one line naming the
 * file into the caller's buffer. */
#ifndef STEPUP_PLUGIN_LOADER_H
#define STEPUP_PLUGIN_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <stepup/plugin.h>

typedef struct su_plugin su_plugin;

/* One argument or result of a rule function; the member is chosen by the
 * signature letter (i, d, b, s). Argument strings are borrowed for the
 * call; a string result is owned by the caller: free it with free(). */
typedef union su_plugin_arg {
	int64_t i;
	double d;
	int b;
	char *s;
} su_plugin_arg;

/* Load a plugin. `name_or_path` containing a '/' is a path: it may not
 * have a ".." component and, when `search_path` has directories, the file
 * it leads to (symbolic links resolved) must lie inside one of them.
 * Otherwise it is a plain name ([A-Za-z0-9_.-], no "..") looked up as
 * "<dir>/<name>.so" in each directory of the NULL-terminated `search_path`
 * (may be NULL); the first file found is the one. Either way the file is
 * refused unless it and every directory above it are owned by root or the
 * euid and writable by nobody else (a group other than the egid, or
 * others; sticky directories excepted): "<path>: refused: ...".
 * `config_json` is passed to init() ("{}" when NULL). On success *out is
 * the plugin (free with su_plugin_unload) and STEPUP_OK is returned; on
 * failure a stepup_status (STEPUP_ENOTFOUND, STEPUP_EVERSION,
 * STEPUP_EPLUGIN, STEPUP_ENOMEM, STEPUP_EINVAL), *out is NULL and err holds
 * "<path>: <reason>". err may be NULL. */
int su_plugin_load(const char *name_or_path, const char *const *search_path,
		   const char *config_json, su_plugin **out, char *err, size_t errlen);

/* The name rules above alone: STEPUP_OK, or STEPUP_EINVAL with
 * "<name_or_path>: <why>" in err. */
int su_plugin_check_module(const char *name_or_path, char *err, size_t errlen);

/* Same, with a sink for the plugin's host->log() lines (level clamped to
 * STEPUP_PLUGIN_LOG_*); log may be NULL. */
typedef void (*su_plugin_log_fn)(void *ctx, int level, const char *msg);
int su_plugin_load_logged(const char *name_or_path, const char *const *search_path,
			  const char *config_json, su_plugin_log_fn log, void *log_ctx,
			  su_plugin **out, char *err, size_t errlen);

/* Call fini() and unload. NULL is a no-op. */
void su_plugin_unload(su_plugin *p);

/* The file actually loaded, the descriptor's name and version. */
const char *su_plugin_path(const su_plugin *p);
const char *su_plugin_name(const su_plugin *p);
const char *su_plugin_version(const su_plugin *p);

/* The descriptor (for its otp/inapp/cs interfaces) and the plugin state to
 * pass to them. */
const stepup_plugin_desc *su_plugin_desc(const su_plugin *p);
void *su_plugin_state(const su_plugin *p);
/* The account data source interface, or NULL (also for plugins built
 * before ABI 1.2, whose descriptor has no such field). */
const stepup_account_source *su_plugin_account(const su_plugin *p);

/* Rule functions: count, index of `name` (without the plugin prefix) or
 * -1, and the parsed signature: argument letters (NUL-terminated) and the
 * result letter. */
unsigned su_plugin_nfunctions(const su_plugin *p);
int su_plugin_find(const su_plugin *p, const char *name);
const char *su_plugin_fn_name(const su_plugin *p, unsigned fn);
const char *su_plugin_fn_args(const su_plugin *p, unsigned fn);
char su_plugin_fn_ret(const su_plugin *p, unsigned fn);

/* Call function `fn` with args (as many as its signature has) and store
 * the result in *ret. STEPUP_OK, or STEPUP_EINVAL for a bad index or a
 * NULL string argument. */
int su_plugin_call(const su_plugin *p, unsigned fn, const su_plugin_arg *args, su_plugin_arg *ret);

/* Parse "ARGS->RET" into args (at least STEPUP_PLUGIN_MAX_ARGS + 1 bytes)
 * and *ret; 0 if valid, -1 if not. */
int su_plugin_parse_signature(const char *sig, char *args, char *ret);

#endif
