/* plugin_loader.c: dlopen a plugin, check its descriptor, prepare its rule
 * functions for libffi, call init/fini. See plugin_loader.h and
 * include/stepup/plugin.h. Never prints, never exits. */
#include <dlfcn.h>
#include <ffi.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stepup/error.h>
#include <stepup/stepup.h>

#include "plugin_loader.h"
#include "util.h"

#define SU_PLUGIN_MAGIC 0x5a17c0deu

typedef struct su_fn {
	const char *name; /* borrowed from the descriptor */
	stepup_plugin_fn_ptr fn;
	char args[STEPUP_PLUGIN_MAX_ARGS + 1];
	char ret;
	unsigned nargs;
	ffi_type *types[STEPUP_PLUGIN_MAX_ARGS + 1]; /* state + args */
	ffi_cif cif;
} su_fn;

struct su_plugin {
	unsigned magic;
	char *path;
	void *handle;
	const stepup_plugin_desc *desc;
	void *state;
	int inited;
	unsigned nfn;
	su_fn *fns;
	su_plugin_log_fn log;  /* where host->log() lines go; NULL drops them */
	void *log_ctx;
};

/* ---- the host API table handed to every plugin -------------------------- */

/* host_ctx is the su_plugin itself: one static API table serves every
 * plugin, and a line finds its sink through it. Library code never logs on
 * its own; without a sink the lines are dropped. */
static void host_log(void *host_ctx, int level, const char *msg)
{
	const su_plugin *p = host_ctx;
	if (p && p->magic == SU_PLUGIN_MAGIC && p->log && msg)
		p->log(p->log_ctx, level < 0 ? 0 : level > 3 ? 3 : level, msg);
}

static int64_t host_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const stepup_host_api su_host_api = {
	.size = sizeof(stepup_host_api),
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.log = host_log,
	.alloc = malloc,
	.free = free,
	.now_ms = host_now_ms,
	.card_number_find = stepup_card_number_find,
};

/* ---- helpers -------------------------------------------------------------- */

/* A plain module name: [A-Za-z0-9_.-]+, no "..", so "<dir>/<name>.so"
 * stays in <dir>. */
static int plain_name(const char *s)
{
	if (!*s || strstr(s, ".."))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

/* Does the path have a ".." component? */
static int has_dotdot(const char *p)
{
	for (const char *c = p; (c = strstr(c, "..")); c += 2)
		if ((c == p || c[-1] == '/') && (c[2] == '\0' || c[2] == '/'))
			return 1;
	return 0;
}

int su_plugin_check_module(const char *name_or_path, char *err, size_t errlen)
{
	if (strchr(name_or_path, '/') ? has_dotdot(name_or_path) : 0) {
		su_set_err(err, errlen, "%s: a module path may not contain '..'", name_or_path);
		return STEPUP_EINVAL;
	}
	if (!strchr(name_or_path, '/') && !plain_name(name_or_path)) {
		su_set_err(err, errlen, "%s: not a plain module name ([A-Za-z0-9_.-], no '..') nor a path",
			   name_or_path);
		return STEPUP_EINVAL;
	}
	return STEPUP_OK;
}

/* Who may change one component (the module file or a directory above
 * it): see trusted(). "" when nobody but root and us, else the reason. */
static const char *who_writes(const struct stat *st, char *why, size_t n)
{
	uid_t me = geteuid();
	mode_t m = st->st_mode;
	int sticky = S_ISDIR(m) && (m & S_ISVTX);

	if (st->st_uid != 0 && st->st_uid != me)
		snprintf(why, n, "is owned by uid %u, not root or uid %u", (unsigned)st->st_uid, (unsigned)me);
	else if ((m & S_IWOTH) && !sticky)
		snprintf(why, n, "is writable by others (mode %04o)", (unsigned)(m & 07777));
	else if ((m & S_IWGRP) && !sticky && st->st_gid != getegid())
		snprintf(why, n, "is writable by group %u (mode %04o)", (unsigned)st->st_gid, (unsigned)(m & 07777));
	else
		why[0] = '\0';
	return why;
}

/* A module runs with the process's rights, so only root and the user the
 * process runs as may be able to change it: the file and every directory
 * above it (symbolic links resolved) must be owned by root or the euid,
 * not writable by others, and not writable by a group other than the
 * process's own; a directory with the sticky bit (/tmp) may be, as others
 * cannot replace what they do not own there. `real` is the resolved path;
 * messages name `shown`, the path as configured. */
static int trusted(const char *shown, const char *real, char *err, size_t errlen)
{
	char dir[PATH_MAX], why[96];
	struct stat st;

	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
		su_set_err(err, errlen, "%s: not a regular file", shown);
		return 0;
	}
	if (who_writes(&st, why, sizeof(why))[0]) {
		su_set_err(err, errlen, "%s: refused: the file %s", shown, why);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", real);
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		slash[slash == dir] = '\0';  /* "/a/b" -> "/a", "/a" -> "/" */
		if (stat(dir, &st) != 0) {
			su_set_err(err, errlen, "%s: refused: cannot check directory %s", shown, dir);
			return 0;
		}
		if (who_writes(&st, why, sizeof(why))[0]) {
			su_set_err(err, errlen, "%s: refused: directory %s %s", shown, dir, why);
			return 0;
		}
		if (strcmp(dir, "/") == 0)
			break;
	}
	return 1;
}

/* Is the resolved file inside one of the search directories? */
static int inside_search_path(const char *real, const char *const *search_path)
{
	for (size_t k = 0; search_path[k]; k++) {
		char dir[PATH_MAX];
		size_t n;
		if (!realpath(search_path[k], dir))
			continue;
		n = strlen(dir);
		if (n == 1)  /* "/" holds everything */
			return 1;
		if (strncmp(real, dir, n) == 0 && real[n] == '/')
			return 1;
	}
	return 0;
}

static int is_ident(const char *s)
{
	if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

static int is_type_letter(char c)
{
	return c == 'i' || c == 'd' || c == 'b' || c == 's';
}

int su_plugin_parse_signature(const char *sig, char *args, char *ret)
{
	if (!sig)
		return -1;
	const char *arrow = strstr(sig, "->");
	if (!arrow || arrow - sig > STEPUP_PLUGIN_MAX_ARGS)
		return -1;
	size_t n = (size_t)(arrow - sig);
	for (size_t k = 0; k < n; k++)
		if (!is_type_letter(sig[k]))
			return -1;
	if (!is_type_letter(arrow[2]) || arrow[3] != '\0')
		return -1;
	memcpy(args, sig, n);
	args[n] = '\0';
	*ret = arrow[2];
	return 0;
}

static ffi_type *ffi_type_of(char c)
{
	switch (c) {
	case 'i': return &ffi_type_sint64;
	case 'd': return &ffi_type_double;
	case 'b': return &ffi_type_sint;
	default: return &ffi_type_pointer; /* 's' */
	}
}

/* Resolve name_or_path to the path to show (malloc'd, *shown) and the
 * resolved path to load (*real, PATH_MAX bytes), after every check;
 * 0 or a status (err set). */
static int resolve(const char *name_or_path, const char *const *search_path, char **shown, char *real,
		   char *err, size_t errlen)
{
	int configured = search_path && search_path[0];

	*shown = NULL;
	int rc = su_plugin_check_module(name_or_path, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	if (strchr(name_or_path, '/')) {
		if (!realpath(name_or_path, real)) {
			su_set_err(err, errlen, "%s: no such file", name_or_path);
			return STEPUP_ENOTFOUND;
		}
		/* With a search path configured, a path may not lead out of it. */
		if (configured && !inside_search_path(real, search_path)) {
			su_set_err(err, errlen, "%s: outside the plugin search path", name_or_path);
			return STEPUP_EPLUGIN;
		}
		if (!trusted(name_or_path, real, err, errlen))
			return STEPUP_EPLUGIN;
		if (!(*shown = strdup(name_or_path))) {
			su_set_err(err, errlen, "%s: out of memory", name_or_path);
			return STEPUP_ENOMEM;
		}
		return STEPUP_OK;
	}
	for (size_t k = 0; search_path && search_path[k]; k++) {
		char *p;
		struct stat st;
		if (asprintf(&p, "%s/%s.so", search_path[k], name_or_path) < 0) {
			su_set_err(err, errlen, "%s: out of memory", name_or_path);
			return STEPUP_ENOMEM;
		}
		if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(p);
			continue;
		}
		/* The first file found is the one: a refused one is an error,
		 * never a reason to look further down the path. */
		if (!realpath(p, real)) {
			su_set_err(err, errlen, "%s: no such file", p);
			free(p);
			return STEPUP_ENOTFOUND;
		}
		if (!trusted(p, real, err, errlen)) {
			free(p);
			return STEPUP_EPLUGIN;
		}
		*shown = p;
		return STEPUP_OK;
	}
	su_set_err(err, errlen, "%s: not found in the plugin search path", name_or_path);
	return STEPUP_ENOTFOUND;
}

/* Check and prepare the rule functions; 0 or a status (err set). */
static int prepare_functions(su_plugin *p, char *err, size_t errlen)
{
	const stepup_plugin_fn *tab = p->desc->functions;
	unsigned n = 0;
	while (tab && tab[n].name)
		n++;
	if (n == 0)
		return STEPUP_OK;
	p->fns = calloc(n, sizeof(*p->fns));
	if (!p->fns) {
		su_set_err(err, errlen, "%s: out of memory", p->path);
		return STEPUP_ENOMEM;
	}
	p->nfn = n;
	const char *pname = p->desc->name;
	for (unsigned k = 0; k < n; k++) {
		su_fn *f = &p->fns[k];
		f->name = tab[k].name;
		if (!is_ident(f->name)) {
			su_set_err(err, errlen, "%s: function '%s.%s': bad name", p->path, pname, f->name);
			return STEPUP_EPLUGIN;
		}
		for (unsigned j = 0; j < k; j++)
			if (strcmp(p->fns[j].name, f->name) == 0) {
				su_set_err(err, errlen, "%s: function '%s.%s' declared twice", p->path, pname,
					f->name);
				return STEPUP_EPLUGIN;
			}
		if (su_plugin_parse_signature(tab[k].signature, f->args, &f->ret) != 0) {
			su_set_err(err, errlen, "%s: function '%s.%s': bad signature '%s'", p->path, pname,
				f->name, tab[k].signature ? tab[k].signature : "(null)");
			return STEPUP_EPLUGIN;
		}
		if (!tab[k].fn) {
			su_set_err(err, errlen, "%s: function '%s.%s' has no implementation", p->path, pname,
				f->name);
			return STEPUP_EPLUGIN;
		}
		f->fn = tab[k].fn;
		f->nargs = (unsigned)strlen(f->args);
		f->types[0] = &ffi_type_pointer; /* state */
		for (unsigned a = 0; a < f->nargs; a++)
			f->types[a + 1] = ffi_type_of(f->args[a]);
		if (ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, f->nargs + 1, ffi_type_of(f->ret),
				 f->types) != FFI_OK) {
			su_set_err(err, errlen, "%s: function '%s.%s': cannot prepare call for '%s'", p->path,
				pname, f->name, tab[k].signature);
			return STEPUP_EPLUGIN;
		}
	}
	return STEPUP_OK;
}

/* An interface table must be at least as large as in 1.0 with every
 * function set. */
static int check_interfaces(const su_plugin *p, char *err, size_t errlen)
{
	const stepup_plugin_desc *d = p->desc;
	if (d->otp && (d->otp->size < sizeof(stepup_otp_channel) || !d->otp->can_deliver ||
		       !d->otp->deliver_otp || !d->otp->notify)) {
		su_set_err(err, errlen, "%s: OTP channel interface is incomplete", p->path);
		return STEPUP_EPLUGIN;
	}
	if (d->inapp && (d->inapp->size < sizeof(stepup_inapp) || !d->inapp->describe ||
			 !d->inapp->start || !d->inapp->verify)) {
		su_set_err(err, errlen, "%s: in-app interface is incomplete", p->path);
		return STEPUP_EPLUGIN;
	}
	if (d->cs && (d->cs->size < sizeof(stepup_cs_router) || !d->cs->route)) {
		su_set_err(err, errlen, "%s: customer-service interface is incomplete", p->path);
		return STEPUP_EPLUGIN;
	}
	const stepup_account_source *acc = su_plugin_account(p);
	if (acc && (acc->size < sizeof(stepup_account_source) || !acc->lookup)) {
		su_set_err(err, errlen, "%s: account data source interface is incomplete", p->path);
		return STEPUP_EPLUGIN;
	}
	return STEPUP_OK;
}

/* ---- load / unload -------------------------------------------------------- */

int su_plugin_load(const char *name_or_path, const char *const *search_path,
		   const char *config_json, su_plugin **out, char *err, size_t errlen)
{
	return su_plugin_load_logged(name_or_path, search_path, config_json, NULL, NULL, out, err,
				     errlen);
}

int su_plugin_load_logged(const char *name_or_path, const char *const *search_path,
			  const char *config_json, su_plugin_log_fn log, void *log_ctx,
			  su_plugin **out, char *err, size_t errlen)
{
	int rc = STEPUP_EINVAL;
	su_plugin *p = NULL;

	if (out)
		*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!name_or_path || !*name_or_path || !out) {
		su_set_err(err, errlen, "plugin: no name given");
		return STEPUP_EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		su_set_err(err, errlen, "%s: out of memory", name_or_path);
		return STEPUP_ENOMEM;
	}
	p->magic = SU_PLUGIN_MAGIC;
	p->log = log;
	p->log_ctx = log_ctx;
	char real[PATH_MAX];
	rc = resolve(name_or_path, search_path, &p->path, real, err, errlen);
	if (rc != STEPUP_OK)
		goto out;

	rc = STEPUP_EPLUGIN;
	dlerror();
	/* The checked file itself: a symbolic link swapped since cannot
	 * redirect the load. */
	p->handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (!p->handle) {
		const char *why = dlerror();
		su_set_err(err, errlen, "%s: cannot load: %s", p->path, why ? why : "unknown error");
		goto out;
	}
	p->desc = dlsym(p->handle, STEPUP_PLUGIN_SYMBOL);
	if (!p->desc) {
		su_set_err(err, errlen, "%s: no '" STEPUP_PLUGIN_SYMBOL "' symbol", p->path);
		goto out;
	}

	/* The version fields first: nothing else is read from a descriptor
	 * whose layout we may not know. */
	uint32_t major = p->desc->abi_major, minor = p->desc->abi_minor;
	if (major != STEPUP_PLUGIN_ABI_MAJOR) {
		rc = STEPUP_EVERSION;
		su_set_err(err, errlen, "%s: plugin ABI major %u is not supported (host %d.%d)", p->path,
			(unsigned)major, STEPUP_PLUGIN_ABI_MAJOR, STEPUP_PLUGIN_ABI_MINOR);
		goto out;
	}
	if (minor > STEPUP_PLUGIN_ABI_MINOR) {
		rc = STEPUP_EVERSION;
		su_set_err(err, errlen, "%s: plugin ABI minor %u is newer than the host's (%d.%d)",
			p->path, (unsigned)minor, STEPUP_PLUGIN_ABI_MAJOR, STEPUP_PLUGIN_ABI_MINOR);
		goto out;
	}

	if (!is_ident(p->desc->name)) {
		su_set_err(err, errlen, "%s: plugin name '%s' is not a valid name", p->path,
			p->desc->name ? p->desc->name : "(null)");
		goto out;
	}
	if ((rc = prepare_functions(p, err, errlen)) != STEPUP_OK)
		goto out;
	if ((rc = check_interfaces(p, err, errlen)) != STEPUP_OK)
		goto out;

	if (p->desc->init) {
		char why[256] = "";
		int st = p->desc->init(&su_host_api, p, config_json ? config_json : "{}", &p->state,
				       why, sizeof(why));
		if (st != STEPUP_PLUGIN_OK) {
			why[sizeof(why) - 1] = '\0';
			if (why[0])
				su_set_err(err, errlen, "%s: init failed: %s", p->path, why);
			else
				su_set_err(err, errlen, "%s: init failed (status %d)", p->path, st);
			rc = STEPUP_EPLUGIN;
			goto out;
		}
	}
	p->inited = 1;
	*out = p;
	p = NULL;
	rc = STEPUP_OK;
out:
	su_plugin_unload(p);
	return rc;
}

void su_plugin_unload(su_plugin *p)
{
	if (!p)
		return;
	if (p->inited && p->desc->fini)
		p->desc->fini(p->state);
	if (p->handle)
		dlclose(p->handle);
	free(p->fns);
	free(p->path);
	p->magic = 0;
	free(p);
}

/* ---- accessors and calls ---------------------------------------------------- */

const char *su_plugin_path(const su_plugin *p)
{
	return p->path;
}

const char *su_plugin_name(const su_plugin *p)
{
	return p->desc->name;
}

const char *su_plugin_version(const su_plugin *p)
{
	return p->desc->version ? p->desc->version : "";
}

const stepup_plugin_desc *su_plugin_desc(const su_plugin *p)
{
	return p->desc;
}

const stepup_account_source *su_plugin_account(const su_plugin *p)
{
	/* A descriptor built before 1.2 ends before this field. */
	return p && p->desc->abi_minor >= 2 ? p->desc->account : NULL;
}

void *su_plugin_state(const su_plugin *p)
{
	return p->state;
}

unsigned su_plugin_nfunctions(const su_plugin *p)
{
	return p->nfn;
}

int su_plugin_find(const su_plugin *p, const char *name)
{
	for (unsigned k = 0; k < p->nfn; k++)
		if (strcmp(p->fns[k].name, name) == 0)
			return (int)k;
	return -1;
}

const char *su_plugin_fn_name(const su_plugin *p, unsigned fn)
{
	return fn < p->nfn ? p->fns[fn].name : NULL;
}

const char *su_plugin_fn_args(const su_plugin *p, unsigned fn)
{
	return fn < p->nfn ? p->fns[fn].args : NULL;
}

char su_plugin_fn_ret(const su_plugin *p, unsigned fn)
{
	return fn < p->nfn ? p->fns[fn].ret : '\0';
}

int su_plugin_call(const su_plugin *p, unsigned fn, const su_plugin_arg *args, su_plugin_arg *ret)
{
	if (!p || p->magic != SU_PLUGIN_MAGIC || fn >= p->nfn || !ret)
		return STEPUP_EINVAL;
	su_fn *f = &p->fns[fn];
	void *state = p->state;
	void *values[STEPUP_PLUGIN_MAX_ARGS + 1];
	values[0] = &state;
	for (unsigned a = 0; a < f->nargs; a++) {
		/* ffi reads each value through a pointer to its own type;
		 * the union members all start at offset 0. */
		if (f->args[a] == 's' && !args[a].s)
			return STEPUP_EINVAL;
		values[a + 1] = (void *)&args[a];
	}
	/* Results narrower than ffi_arg are widened into one (ffi_call(3)). */
	union {
		ffi_arg a;
		ffi_sarg sa;
		int64_t i;
		double d;
		void *s;
	} rv;
	memset(&rv, 0, sizeof(rv));
	ffi_call(&f->cif, f->fn, &rv, values);
	switch (f->ret) {
	case 'i': ret->i = rv.i; break;
	case 'd': ret->d = rv.d; break;
	case 'b': ret->b = (int)rv.sa != 0; break;
	default: ret->s = rv.s; break;
	}
	return STEPUP_OK;
}
