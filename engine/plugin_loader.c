/* plugin_loader.c: dlopen a plugin, check its descriptor, prepare its rule
 * functions for libffi, call init/fini. See plugin_loader.h and
 * include/stepup/plugin.h. Never prints, never exits. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ffi.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Sanitizer builds never unmap a module: at exit LeakSanitizer walks
 * every thread's TLS, and its tracer faults on the TLS block of a module
 * dlclose()d before (seen with libcurl plugins, intermittently); its
 * reports also need the module to name the code that allocated. The
 * private copy's descriptor then stays open too, so that no later copy
 * gets the same /proc/self/fd name (the loader would return the old
 * module for it). */
#if defined(__SANITIZE_ADDRESS__)
#define SU_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)
#define SU_KEEP_MAPPED 1
#else
#define SU_DLOPEN_FLAGS (RTLD_NOW | RTLD_LOCAL)
#define SU_KEEP_MAPPED 0
#endif

struct su_plugin {
	unsigned magic;
	char *path;
	void *handle;
	int fd;                /* the private copy dlopen()ed: kept open while
	                          loaded, so its /proc/self/fd name is unique */
	char digest[72];
	const stepup_plugin_desc *desc;
	void *state;
	int inited;
	unsigned nfn;
	su_fn *fns;
	su_plugin_log_fn log;  /* where host->log() lines go; NULL drops them */
	void *log_ctx;
	char *data_version;    /* host->set_data_version, NULL when none */
	void *owner;
	/* A plugin running in another process (su_plugin_remote). */
	int remote;
	unsigned provides;
	stepup_plugin_desc rdesc;
	char *rname, *rversion;
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

int su_plugin_data_version_ok(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (n < 1 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return 0;
	return !stepup_card_number_find(v, n, NULL, NULL);
}

static void host_set_data_version(void *host_ctx, const char *version)
{
	su_plugin *p = host_ctx;
	if (!p || p->magic != SU_PLUGIN_MAGIC)
		return;
	if (su_plugin_data_version_ok(version)) {
		char *c = strdup(version);
		if (c) {
			free(p->data_version);
			p->data_version = c;
		}
	} else if (p->log) {
		p->log(p->log_ctx, STEPUP_PLUGIN_LOG_WARNING,
		       "set_data_version: refused a version that is not 1 to 128 printable ASCII "
		       "characters without a card number");
	}
}

/* Two tables: the flags are the only difference (1.3). */
#define SU_HOST_API(FLAGS)                                   \
	{                                                    \
		.size = sizeof(stepup_host_api),             \
		.abi_minor = STEPUP_PLUGIN_ABI_MINOR,        \
		.log = host_log,                             \
		.alloc = malloc,                             \
		.free = free,                                \
		.now_ms = host_now_ms,                       \
		.card_number_find = stepup_card_number_find, \
		.set_data_version = host_set_data_version,   \
		.flags = (FLAGS),                            \
	}
static const stepup_host_api su_host_api = SU_HOST_API(0);
static const stepup_host_api su_host_api_check = SU_HOST_API(STEPUP_HOST_CHECK_ONLY);

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
static int trusted(const char *shown, const char *real, struct stat *file, char *err, size_t errlen)
{
	char dir[PATH_MAX], why[96];
	struct stat st;

	if (stat(real, file) != 0 || !S_ISREG(file->st_mode)) {
		su_set_err(err, errlen, "%s: not a regular file", shown);
		return 0;
	}
	if (who_writes(file, why, sizeof(why))[0]) {
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
		   struct stat *st, char *err, size_t errlen)
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
		if (!trusted(name_or_path, real, st, err, errlen))
			return STEPUP_EPLUGIN;
		if (!(*shown = strdup(name_or_path))) {
			su_set_err(err, errlen, "%s: out of memory", name_or_path);
			return STEPUP_ENOMEM;
		}
		return STEPUP_OK;
	}
	for (size_t k = 0; search_path && search_path[k]; k++) {
		char *p;
		struct stat found;
		if (asprintf(&p, "%s/%s.so", search_path[k], name_or_path) < 0) {
			su_set_err(err, errlen, "%s: out of memory", name_or_path);
			return STEPUP_ENOMEM;
		}
		if (stat(p, &found) != 0 || !S_ISREG(found.st_mode)) {
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
		if (!trusted(p, real, st, err, errlen)) {
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

/* ---- the private copy ------------------------------------------------------ */

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010u  /* Linux 6.3: executable even under vm.memfd_noexec=1 */
#endif
#define SU_MODULE_MAX ((off_t)256 << 20)

static int new_memfd(const char *name)
{
	char tag[64];
	const char *base = strrchr(name, '/');
	snprintf(tag, sizeof(tag), "stepup:%s", base ? base + 1 : name);
	int fd = memfd_create(tag, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)  /* a kernel before MFD_EXEC */
		fd = memfd_create(tag, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return fd;
}

/* Copy `in` into memfd `fd` from its start, hashing it into md: the
 * bytes copied, or -1. */
static off_t copy_into(int in, int fd, unsigned char md[32])
{
	char buf[65536];
	unsigned mdlen = 0;
	off_t total = 0;
	int ok;
	EVP_MD_CTX *h = EVP_MD_CTX_new();

	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 && lseek(in, 0, SEEK_SET) == 0;
	while (ok) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		total += n;
		ok = total <= SU_MODULE_MAX && EVP_DigestUpdate(h, buf, (size_t)n) == 1;
		for (ssize_t w = 0; ok && w < n;) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));
			if (k < 0 && errno == EINTR)
				continue;
			ok = k > 0;
			w += k > 0 ? k : 0;
		}
	}
	ok = ok && EVP_DigestFinal_ex(h, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(h);
	return ok ? total : -1;
}

/* Copy the open module `in` into a new sealed memfd and hash it: the
 * memfd, or -1 with err set. A file that changes while it is read (being
 * written in place) is read again, so the copy is one version of it. */
static int copy_module(const char *shown, int in, char digest[72], char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";

	for (int attempt = 0; attempt < 5; attempt++) {
		struct stat before, after;
		unsigned char md[32];
		if (fstat(in, &before) != 0 || !S_ISREG(before.st_mode)) {
			su_set_err(err, errlen, "%s: not a regular file", shown);
			return -1;
		}
		if (before.st_size > SU_MODULE_MAX) {
			su_set_err(err, errlen, "%s: larger than 256 MiB", shown);
			return -1;
		}
		int fd = new_memfd(shown);
		if (fd < 0) {
			su_set_err(err, errlen, "%s: cannot make a private copy: memfd_create: %s", shown,
				   strerror(errno));
			return -1;
		}
		off_t got = copy_into(in, fd, md);
		if (got < 0) {
			close(fd);
			su_set_err(err, errlen, "%s: cannot make a private copy: read failed", shown);
			return -1;
		}
		if (fstat(in, &after) == 0 && got == before.st_size && after.st_size == before.st_size &&
		    after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
		    after.st_mtim.tv_nsec == before.st_mtim.tv_nsec) {
			/* Nobody, the plugin included, can change the copy now. */
			fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
			memcpy(digest, "sha256:", 7);
			for (unsigned i = 0; i < 32; i++) {
				digest[7 + 2 * i] = hex[md[i] >> 4];
				digest[8 + 2 * i] = hex[md[i] & 15];
			}
			digest[71] = '\0';
			return fd;
		}
		close(fd);
		struct timespec pause = { 0, 20 * 1000000 };
		nanosleep(&pause, NULL);
	}
	su_set_err(err, errlen, "%s: changed while it was being read; try again", shown);
	return -1;
}

int su_module_open(const char *name_or_path, const char *const *search_path, su_module *m,
		   char *err, size_t errlen)
{
	char real[PATH_MAX];
	struct stat st, opened;

	m->path = NULL;
	m->fd = -1;
	m->digest[0] = '\0';
	if (err && errlen)
		err[0] = '\0';
	if (!name_or_path || !*name_or_path) {
		su_set_err(err, errlen, "plugin: no name given");
		return STEPUP_EINVAL;
	}
	int rc = resolve(name_or_path, search_path, &m->path, real, &st, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	/* The checked file itself: a symbolic link or a file swapped since
	 * the checks cannot redirect the load. */
	int in = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (in < 0 || fstat(in, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
		su_set_err(err, errlen, "%s: changed while it was being checked; try again", m->path);
		if (in >= 0)
			close(in);
		su_module_close(m);
		return STEPUP_EPLUGIN;
	}
	m->fd = copy_module(m->path, in, m->digest, err, errlen);
	close(in);
	if (m->fd < 0) {
		su_module_close(m);
		return STEPUP_EPLUGIN;
	}
	return STEPUP_OK;
}

void su_module_close(su_module *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	m->fd = -1;
	m->path = NULL;
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
	su_module m;

	if (out)
		*out = NULL;
	if (!out) {
		su_set_err(err, errlen, "plugin: no name given");
		return STEPUP_EINVAL;
	}
	int rc = su_module_open(name_or_path, search_path, &m, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	return su_plugin_load_module(&m, config_json, 0, log, log_ctx, out, err, errlen);
}

/* dlerror() names the file it was given, /proc/self/fd/N: the path as
 * configured says more. */
static const char *strip_fd_name(const char *why, const char *fdname)
{
	size_t n = strlen(fdname);
	if (strncmp(why, fdname, n) == 0 && why[n] == ':' && why[n + 1] == ' ')
		return why + n + 2;
	return why;
}

int su_plugin_load_module(su_module *m, const char *config_json, unsigned flags, su_plugin_log_fn log,
			  void *log_ctx, su_plugin **out, char *err, size_t errlen)
{
	int rc = STEPUP_EINVAL;
	su_plugin *p = NULL;
	char fdname[40];

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	p = calloc(1, sizeof(*p));
	if (!p) {
		su_set_err(err, errlen, "%s: out of memory", m->path);
		su_module_close(m);
		return STEPUP_ENOMEM;
	}
	p->magic = SU_PLUGIN_MAGIC;
	p->log = log;
	p->log_ctx = log_ctx;
	p->path = m->path;
	p->fd = m->fd;
	memcpy(p->digest, m->digest, sizeof(p->digest));
	m->path = NULL;
	m->fd = -1;

	rc = STEPUP_EPLUGIN;
	dlerror();
	snprintf(fdname, sizeof(fdname), "/proc/self/fd/%d", p->fd);
	p->handle = dlopen(fdname, SU_DLOPEN_FLAGS);
	if (!p->handle) {
		const char *why = dlerror();
		su_set_err(err, errlen, "%s: cannot load: %s", p->path,
			   why ? strip_fd_name(why, fdname) : "unknown error");
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
		const stepup_host_api *api = (flags & SU_PLUGIN_CHECK_ONLY) ? &su_host_api_check : &su_host_api;
		int st = p->desc->init(api, p, config_json ? config_json : "{}", &p->state, why, sizeof(why));
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

/* A remote plugin's descriptor says which interfaces it has: these
 * stand-ins are never called (su_plugin_call refuses a remote plugin,
 * and plugins.c sends its calls to its process). */
static const stepup_otp_channel remote_otp = { sizeof(stepup_otp_channel), NULL, NULL, NULL };
static const stepup_inapp remote_inapp = { sizeof(stepup_inapp), NULL, NULL, NULL };
static const stepup_cs_router remote_cs = { sizeof(stepup_cs_router), NULL };
static const stepup_account_source remote_account = { sizeof(stepup_account_source), NULL };

int su_plugin_remote(const char *path, const char *name, const char *version, unsigned abi_minor,
		     unsigned provides, unsigned nfn, const char *const *fn_names,
		     const char *const *fn_sigs, su_plugin **out, char *err, size_t errlen)
{
	su_plugin *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (!p)
		return STEPUP_ENOMEM;
	p->magic = SU_PLUGIN_MAGIC;
	p->fd = -1;
	p->remote = 1;
	p->provides = provides;
	p->path = strdup(path);
	p->rname = strdup(name);
	p->rversion = strdup(version ? version : "");
	p->fns = nfn ? calloc(nfn, sizeof(*p->fns)) : NULL;
	if (!p->path || !p->rname || !p->rversion || (nfn && !p->fns)) {
		su_plugin_unload(p);
		return STEPUP_ENOMEM;
	}
	p->rdesc.abi_major = STEPUP_PLUGIN_ABI_MAJOR;
	p->rdesc.abi_minor = abi_minor;
	p->rdesc.name = p->rname;
	p->rdesc.version = p->rversion;
	p->rdesc.otp = provides & STEPUP_PROVIDES_OTP ? &remote_otp : NULL;
	p->rdesc.inapp = provides & STEPUP_PROVIDES_INAPP ? &remote_inapp : NULL;
	p->rdesc.cs = provides & STEPUP_PROVIDES_CS ? &remote_cs : NULL;
	p->rdesc.account = provides & STEPUP_PROVIDES_ACCOUNT ? &remote_account : NULL;
	p->desc = &p->rdesc;
	for (unsigned k = 0; k < nfn; k++) {
		su_fn *f = &p->fns[k];
		/* The child checked them as a local load does; checked again,
		 * as anything a child says. */
		if (!is_ident(fn_names[k]) || su_plugin_parse_signature(fn_sigs[k], f->args, &f->ret) != 0 ||
		    su_plugin_find(p, fn_names[k]) >= 0 || !(f->name = strdup(fn_names[k]))) {
			su_set_err(err, errlen, "%s: function %u: bad name or signature from its process", path, k);
			su_plugin_unload(p);
			return STEPUP_EPLUGIN;
		}
		f->nargs = (unsigned)strlen(f->args);
		p->nfn = k + 1;
	}
	*out = p;
	return STEPUP_OK;
}

int su_plugin_is_remote(const su_plugin *p)
{
	return p && p->remote;
}

unsigned su_plugin_provides(const su_plugin *p)
{
	if (p->remote)
		return p->provides;
	return (p->nfn ? STEPUP_PROVIDES_FUNCTIONS : 0) | (p->desc->otp ? STEPUP_PROVIDES_OTP : 0) |
	       (p->desc->inapp ? STEPUP_PROVIDES_INAPP : 0) | (p->desc->cs ? STEPUP_PROVIDES_CS : 0) |
	       (su_plugin_account(p) ? STEPUP_PROVIDES_ACCOUNT : 0);
}

void su_plugin_unload(su_plugin *p)
{
	if (!p)
		return;
	if (p->inited && p->desc->fini)
		p->desc->fini(p->state);
	if (p->handle)
		dlclose(p->handle);
	if (p->fd >= 0 && !(SU_KEEP_MAPPED && p->handle))
		close(p->fd);
	if (p->remote)
		for (unsigned k = 0; k < p->nfn; k++)
			free((char *)p->fns[k].name);
	free(p->fns);
	free(p->path);
	free(p->data_version);
	free(p->rname);
	free(p->rversion);
	p->magic = 0;
	free(p);
}

const char *su_plugin_digest(const su_plugin *p)
{
	return p->digest;
}

const char *su_plugin_data_version(const su_plugin *p)
{
	return p->data_version;
}

int su_plugin_set_data_version(su_plugin *p, const char *version)
{
	char *c = NULL;
	if (version && (!su_plugin_data_version_ok(version) || !(c = strdup(version))))
		return -1;
	free(p->data_version);
	p->data_version = c;
	return 0;
}

void su_plugin_set_owner(su_plugin *p, void *owner)
{
	p->owner = owner;
}

void *su_plugin_owner(const su_plugin *p)
{
	return p ? p->owner : NULL;
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
	if (!p || p->magic != SU_PLUGIN_MAGIC || p->remote || fn >= p->nfn || !ret)
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
