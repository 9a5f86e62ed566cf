/* common.c: helpers shared by the subcommands. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

size_t cli_print_diags(const stepup_compiler *c)
{
	char buf[4096];
	for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
		stepup_compiler_render_diag(c, i, buf, sizeof(buf));
		fputs(buf, stderr);
	}
	return stepup_compiler_error_count(c);
}

/* Plugin lines worth an analyst's attention; info and debug are dropped. */
static void plugin_log(void *ctx, int level, const char *source, const char *msg)
{
	(void)ctx;
	if (level <= STEPUP_LOG_WARNING)
		fprintf(stderr, "stepup: plugin %s: %s: %s\n", source,
		        level == STEPUP_LOG_ERROR ? "error" : "warning", msg);
}

/* Largest file the CLI reads (a bundle's own limit is lower). */
#define CLI_FILE_MAX (512u << 20)

char *cli_read_file(const char *path, size_t *len)
{
	struct stat st;
	size_t cap = 0, n = 0;
	char *buf = NULL;
	/* O_NONBLOCK: a FIFO or a device given by mistake is refused at
	 * once instead of hanging the command. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), flags;

	if (fd < 0) {
		fprintf(stderr, "stepup: %s: cannot open: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "stepup: %s: not a regular file\n", path);
		close(fd);
		return NULL;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		fprintf(stderr, "stepup: %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	for (;;) {
		if (n + 1 >= cap) {
			char *b = cap >= CLI_FILE_MAX ? NULL : realloc(buf, cap ? cap * 2 : 65536);
			if (!b) {
				fprintf(stderr, "stepup: %s: %s\n", path, cap >= CLI_FILE_MAX ? "too large" : "out of memory");
				free(buf);
				close(fd);
				return NULL;
			}
			buf = b;
			cap = cap ? cap * 2 : 65536;
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			fprintf(stderr, "stepup: %s: read error: %s\n", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* A configuration file as text; NULL after printing why. JSON syntax is
 * checked here so errors carry the file name and position. */
static char *read_config(const char *path)
{
	json_error_t je;
	size_t len;
	char *raw = cli_read_file(path, &len);
	if (!raw)
		return NULL;
	json_t *root = json_loadb(raw, len, JSON_REJECT_DUPLICATES, &je);
	free(raw);
	if (!root) {
		fprintf(stderr, "stepup: %s:%d:%d: %s\n", path, je.line, je.column, je.text);
		return NULL;
	}
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		fprintf(stderr, "stepup: %s: out of memory\n", path);
	return text;
}

/* The folder of a file path (malloc'd): "." for a bare name. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static int plugins_from_text(const char *path, const char *text, stepup_plugins **out)
{
	char err[1024];
	char *dir = dir_of(path);
	int rc;

	*out = NULL;
	if (!dir) {
		fprintf(stderr, "stepup: out of memory\n");
		return -1;
	}
	rc = stepup_plugins_load(text, dir, plugin_log, NULL, out, err, sizeof(err));
	free(dir);
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup: %s: plugins: %s\n", path, err);
		return -1;
	}
	if (stepup_plugins_count(*out) == 0) {
		stepup_plugins_unref(*out);
		*out = NULL;
	}
	return 0;
}

int cli_plugins(const char *path, stepup_plugins **out)
{
	*out = NULL;
	if (!path)
		return 0;
	char *text = read_config(path);
	if (!text)
		return -1;
	int rc = plugins_from_text(path, text, out);
	free(text);
	return rc;
}

/* ---- rule files ---------------------------------------------------------- */

int cli_rules_add(cli_rules *r, const char *path)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		const char **v = realloc(r->v, cap * sizeof(*v));
		if (!v) {
			fprintf(stderr, "stepup: out of memory\n");
			return -1;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = path;
	return 0;
}

void cli_rules_free(cli_rules *r)
{
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.rules files directly in dir, in name order, appended to *v. */
static int expand_dir(const char *dir, char ***v, size_t *n, size_t *cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t first = *n;

	if (!d) {
		fprintf(stderr, "stepup: %s: cannot open: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 7 || strcmp(e->d_name + len - 6, ".rules") != 0)
			continue;
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			char **w = realloc(*v, c * sizeof(*w));
			if (!w)
				goto oom;
			*v = w;
			*cap = c;
		}
		if (asprintf(&(*v)[*n], "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name) < 0)
			goto oom;
		(*n)++;
	}
	closedir(d);
	if (*n == first) {
		fprintf(stderr, "stepup: %s: no .rules file in this directory\n", dir);
		return -1;
	}
	qsort(*v + first, *n - first, sizeof(**v), by_name);
	return 0;
oom:
	closedir(d);
	fprintf(stderr, "stepup: out of memory\n");
	return -1;
}

stepup_ruleset *cli_ruleset(const cli_rules *r, const stepup_plugins *pl, unsigned flags, cli_loaded *info)
{
	char **files = NULL, err[1024];
	size_t n = 0, cap = 0;
	stepup_ruleset *rs = NULL;
	stepup_compiler *c = NULL;
	char *text = NULL;
	size_t len;

	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < r->n; i++) {
		struct stat st;
		if (stat(r->v[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (expand_dir(r->v[i], &files, &n, &cap) < 0)
				goto fail;
			continue;
		}
		if (n == cap) {
			size_t k = cap ? cap * 2 : 16;
			char **w = realloc(files, k * sizeof(*w));
			if (!w)
				goto fail;
			files = w;
			cap = k;
		}
		if (!(files[n] = strdup(r->v[i])))
			goto fail;
		n++;
	}
	if (!(c = stepup_compiler_new()))
		goto fail;
	stepup_compiler_set_plugins(c, pl);
	stepup_compiler_set_flags(c, flags);
	for (size_t i = 0; i < n; i++) {
		/* Read once: a FIFO is refused, not waited on; a bundle is told
		 * by its magic. */
		if (!(text = cli_read_file(files[i], &len)))
			goto fail;
		if (len >= 8 && memcmp(text, "STEPUPB", 7) == 0) {
			if (n > 1) {
				fprintf(stderr, "stepup: %s: a bundle is a whole compiled ruleset: give it alone, "
				        "not with other rule files\n", files[i]);
				goto fail;
			}
			if (stepup_ruleset_load_bundle_flags(text, len, flags & STEPUP_LOAD_ALLOW_EMPTY, &rs, err,
			                                     sizeof(err)) != STEPUP_OK) {
				fprintf(stderr, "stepup: %s: %s\n", files[i], err);
				rs = NULL;
			}
			info->bundle = 1;
			goto out;
		}
		int rc = stepup_compiler_add_source(c, files[i], text, len);
		free(text);
		text = NULL;
		if (rc == STEPUP_ENOMEM)
			goto fail;
	}
	int rc = stepup_compiler_compile(c, &rs);
	cli_print_diags(c);
	for (size_t i = 0; i < stepup_compiler_diag_count(c); i++)
		if (stepup_compiler_diag(c, i)->severity == STEPUP_DIAG_WARNING)
			info->warnings++;
	info->errors = stepup_compiler_error_count(c);
	if (rc != STEPUP_OK) {
		info->errors += info->errors == 0;
		if (rc != STEPUP_ECOMPILE)
			fprintf(stderr, "stepup: %s\n", stepup_strerror(rc));
		rs = NULL;
	}
	goto out;
fail:
	info->errors++;
	rs = NULL;
out:
	free(text);
	stepup_compiler_free(c);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return rs;
}

int cli_settings(const char *settings, const char *plugins, char **text, stepup_plugins **pl)
{
	*text = NULL;
	*pl = NULL;
	if (settings && !(*text = read_config(settings)))
		return -1;
	if (plugins ? cli_plugins(plugins, pl) < 0 : *text && plugins_from_text(settings, *text, pl) < 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

int cli_settings_text(const char *dir, const char *text, stepup_plugins **pl)
{
	char *where = NULL;
	int rc;
	*pl = NULL;
	/* plugins_from_text resolves paths from the folder of the file named. */
	if (asprintf(&where, "%s/settings", dir) < 0)
		return -1;
	rc = plugins_from_text(where, text, pl);
	free(where);
	return rc;
}

stepup_engine *cli_engine_on(stepup_ruleset *rs, const char *settings_text, stepup_plugins *pl)
{
	stepup_engine *e = NULL;
	char err[1024];
	if (stepup_engine_new_with_plugins(rs, pl, settings_text, &e, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "stepup: %s\n", err);
		return NULL;
	}
	return e;
}

stepup_engine *cli_engine(const cli_rules *rules, const char *settings, const char *plugins, unsigned flags)
{
	stepup_plugins *pl = NULL;
	stepup_engine *e = NULL;
	char *text = NULL;
	cli_loaded info;

	if (cli_settings(settings, plugins, &text, &pl) < 0)
		return NULL;
	stepup_ruleset *rs = cli_ruleset(rules, pl, flags, &info);
	if (rs)
		e = cli_engine_on(rs, text, pl);
	stepup_ruleset_unref(rs);  /* the engine holds its own references */
	stepup_plugins_unref(pl);
	free(text);
	return e;
}

int cli_rules_option(cli_rules *r, int argc, char **argv, int *i)
{
	if (strcmp(argv[*i], "--rules") != 0 && strcmp(argv[*i], "-r") != 0)
		return 0;
	if (*i + 1 >= argc)
		return -1;
	return cli_rules_add(r, argv[++*i]) < 0 ? -1 : 1;
}

long cli_getline(char **buf, size_t *cap, FILE *f)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0)
		return -1;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return (long)n;
}

char *cli_read_stream(FILE *f, size_t max, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
		if (k == 0)
			break;
		if (n + 1 == cap) {
			char *b = cap > max ? NULL : realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}
