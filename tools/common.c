/* common.c: helpers shared by the subcommands. */
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

stepup_engine *cli_engine(const char *rules, const char *settings, const char *plugins, unsigned flags)
{
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	stepup_plugins *pl = NULL;
	char *text = NULL, *src = NULL;
	char err[1024];
	size_t len = 0;
	int rc;

	if (settings && !(text = read_config(settings)))
		return NULL;
	if (plugins ? cli_plugins(plugins, &pl) < 0 : text && plugins_from_text(settings, text, &pl) < 0)
		goto out;

	/* Read once; sources get full diagnostics, bundles a one-line reason. */
	if (!(src = cli_read_file(rules, &len)))
		goto out;
	if (len < 8 || memcmp(src, "STEPUPB", 7) != 0) {
		stepup_compiler *c = stepup_compiler_new();
		if (!c)
			goto out;
		stepup_compiler_set_plugins(c, pl);
		stepup_compiler_set_flags(c, flags);
		rc = stepup_compiler_add_source(c, rules, src, len);
		if (rc == STEPUP_OK)
			rc = stepup_compiler_compile(c, &rs);
		cli_print_diags(c);
		stepup_compiler_free(c);
		if (rc != STEPUP_OK) {
			fprintf(stderr, "stepup: %s: %s\n", rules, stepup_strerror(rc));
			goto out;
		}
	} else {
		rc = stepup_ruleset_load_bundle_flags(src, len, flags, &rs, err, sizeof(err));
		if (rc != STEPUP_OK) {
			fprintf(stderr, "stepup: %s: %s\n", rules, err);
			goto out;
		}
	}
	rc = stepup_engine_new_with_plugins(rs, pl, text, &e, err, sizeof(err));
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup: %s\n", err);
		e = NULL;
	}
out:
	stepup_ruleset_unref(rs);
	stepup_plugins_unref(pl);  /* the engine holds its own reference */
	free(text);
	free(src);
	return e;
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
