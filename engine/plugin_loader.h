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

/* Flags for su_plugin_load_module. */
#define SU_PLUGIN_CHECK_ONLY 0x1u  /* init() with host->flags STEPUP_HOST_CHECK_ONLY */

/* A module file resolved, checked (as su_plugin_load says) and copied
 * into a sealed anonymous file of its own (memfd), so that whatever later
 * happens to the file on disk (replaced, overwritten in place) the code
 * loaded from this copy never changes, and loading a replaced file loads
 * the new code (Varnish does this for its VMODs). */
typedef struct su_module {
	char *path;       /* as configured or found on the path (malloc'd) */
	int fd;           /* the private copy, O_CLOEXEC; -1 when none */
	char digest[72];  /* "sha256:<64 hex>" of the bytes copied */
} su_module;

/* Resolve, check and copy. STEPUP_OK with *m filled (free with
 * su_module_close unless su_plugin_load_module took it), or a status with
 * "<path>: <reason>" in err. */
int su_module_open(const char *name_or_path, const char *const *search_path, su_module *m,
		   char *err, size_t errlen);
void su_module_close(su_module *m);

/* dlopen the private copy of m (whose path and descriptor it takes over,
 * whether it succeeds or not), check the descriptor and call init with
 * config_json and flags (SU_PLUGIN_*). Statuses and messages as
 * su_plugin_load's. */
int su_plugin_load_module(su_module *m, const char *config_json, unsigned flags, su_plugin_log_fn log,
			  void *log_ctx, su_plugin **out, char *err, size_t errlen);

/* A plugin that runs in another process (plugin_proc.h): what the host
 * knows of it from there, so the checker and the engine see its name,
 * version, interfaces and rule functions as for a local one. It cannot be
 * called through su_plugin_call. `provides` is STEPUP_PROVIDES_*; fn_names
 * and fn_sigs hold nfn entries. STEPUP_OK, STEPUP_EPLUGIN (a bad function
 * name or signature, "<path>: ..." in err) or STEPUP_ENOMEM. */
int su_plugin_remote(const char *path, const char *name, const char *version, unsigned abi_minor,
		     unsigned provides, unsigned nfn, const char *const *fn_names,
		     const char *const *fn_sigs, su_plugin **out, char *err, size_t errlen);
/* 1 for a plugin made by su_plugin_remote. */
int su_plugin_is_remote(const su_plugin *p);
/* STEPUP_PROVIDES_* of a plugin. */
unsigned su_plugin_provides(const su_plugin *p);

/* Call fini() and unload. NULL is a no-op. */
void su_plugin_unload(su_plugin *p);

/* "sha256:<hex>" of the code running ("" for a remote plugin, whose
 * digest its owner keeps). */
const char *su_plugin_digest(const su_plugin *p);
/* The data version the plugin reported during init
 * (host->set_data_version), NULL when none. */
const char *su_plugin_data_version(const su_plugin *p);
/* For a remote plugin: the data version its process reported. */
int su_plugin_set_data_version(su_plugin *p, const char *version);
/* A pointer the owner of p (plugins.c) hangs on it, to find its own
 * record from a plugin the checker or the engine hands back. */
void su_plugin_set_owner(su_plugin *p, void *owner);
void *su_plugin_owner(const su_plugin *p);

/* A data version as plugins may report it: 1 to 128 printable ASCII
 * characters holding no card number (it reaches responses and logs). */
int su_plugin_data_version_ok(const char *v);

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
