/* cmd_fmt.c: `stepup fmt`, the canonical layout of rule files (as gofmt and
 * `opa fmt` do): to standard output, rewritten in place (-w), or checked
 * (--check: exit 1 and a diff when a file is not formatted). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define FMT_USAGE "usage: stepup fmt [-w | --check] [FILE...]   (no FILE or -: standard input)\n"

extern char **environ;

/* Formatted text of one source; NULL after printing why (diagnostics). */
static char *format_text(const char *name, const char *text, size_t len, size_t *outlen)
{
	stepup_compiler *c = stepup_compiler_new();
	char *out = NULL;

	if (!c) {
		fprintf(stderr, "stepup fmt: out of memory\n");
		return NULL;
	}
	int rc = stepup_compiler_format(c, name, text, len, &out, outlen);
	cli_print_diags(c);
	stepup_compiler_free(c);
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup fmt: %s: %s%s\n", name, stepup_strerror(rc),
		        rc == STEPUP_ECOMPILE ? " (not formatted)" : "");
		free(out);
		return NULL;
	}
	return out;
}

/* A temporary file next to `near` (or in TMPDIR when near is NULL) holding
 * text; its path is malloc'd into *path. Returns 0 or -1 (printed). */
static int write_temp(const char *near, const char *text, size_t len, mode_t mode, char **path)
{
	const char *tmpdir = getenv("TMPDIR");
	int n = near ? asprintf(path, "%s.fmt.XXXXXX", near)
	             : asprintf(path, "%s/stepup-fmt.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (n < 0) {
		*path = NULL;
		fprintf(stderr, "stepup fmt: out of memory\n");
		return -1;
	}
	int fd = mkstemp(*path);
	if (fd < 0) {
		fprintf(stderr, "stepup fmt: %s: %s\n", *path, strerror(errno));
		free(*path);
		*path = NULL;
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t k = write(fd, text + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	if (done < len || (mode && fchmod(fd, mode & 07777) != 0) || close(fd) != 0) {
		fprintf(stderr, "stepup fmt: %s: %s\n", *path, strerror(errno));
		if (done >= len)
			fd = -1;
		if (fd >= 0)
			close(fd);
		unlink(*path);
		free(*path);
		*path = NULL;
		return -1;
	}
	return 0;
}

/* diff -u between the file as it is and as fmt would write it (gofmt -d
 * runs diff the same way). */
static void show_diff(const char *name, const char *orig_path, const char *text, size_t len)
{
	char *tmp = NULL, *label_a = NULL, *label_b = NULL;

	if (write_temp(NULL, text, len, 0, &tmp) < 0)
		return;
	if (asprintf(&label_a, "%s", name) < 0 || asprintf(&label_b, "%s (formatted)", name) < 0)
		goto out;
	char *argv[] = { "diff", "-u", "--label", label_a, "--label", label_b, (char *)orig_path, tmp, NULL };
	pid_t pid;
	fflush(stdout);
	if (posix_spawnp(&pid, "diff", NULL, NULL, argv, environ) != 0) {
		printf("%s: not formatted (diff(1) is not available to show how)\n", name);
		goto out;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
out:
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(label_a);
	free(label_b);
}

/* Replace path by text, atomically, keeping its permissions. */
static int rewrite(const char *path, const char *text, size_t len)
{
	struct stat st;
	char *tmp;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "stepup fmt: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (write_temp(path, text, len, st.st_mode, &tmp) < 0)
		return -1;
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "stepup fmt: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int cmd_fmt(int argc, char **argv)
{
	int write_back = 0, check = 0, status = 0, nfiles = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-w") == 0)
			write_back = 1;
		else if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(FMT_USAGE, stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "stepup fmt: unknown option %s\n" FMT_USAGE, argv[i]);
			return 2;
		} else
			nfiles++;
	}
	if (write_back && check) {
		fprintf(stderr, "stepup fmt: -w and --check exclude each other\n" FMT_USAGE);
		return 2;
	}
	for (int i = 1; i < argc || (nfiles == 0 && i == argc); i++) {
		const char *path = i < argc ? argv[i] : "-";
		if (i < argc && argv[i][0] == '-' && argv[i][1])
			continue;
		int from_stdin = strcmp(path, "-") == 0;
		const char *name = from_stdin ? "<stdin>" : path;
		size_t len = 0, outlen = 0;
		char *text = from_stdin ? cli_read_stream(stdin, 64u << 20, &len) : cli_read_file(path, &len);
		if (!text) {
			if (from_stdin)
				fprintf(stderr, "stepup fmt: cannot read standard input\n");
			status = 2;
			if (i == argc)
				break;
			continue;
		}
		char *out = format_text(name, text, len, &outlen);
		if (!out) {
			status = 2;
		} else if (check) {
			if (outlen != len || memcmp(out, text, len) != 0) {
				if (status == 0)
					status = 1;
				if (from_stdin) {
					char *orig = NULL;
					if (write_temp(NULL, text, len, 0, &orig) == 0) {
						show_diff(name, orig, out, outlen);
						unlink(orig);
						free(orig);
					}
				} else {
					show_diff(name, path, out, outlen);
				}
			}
		} else if (write_back && !from_stdin) {
			if ((outlen != len || memcmp(out, text, len) != 0) && rewrite(path, out, outlen) < 0)
				status = 2;
		} else {
			fwrite(out, 1, outlen, stdout);
		}
		free(out);
		free(text);
		if (i == argc)
			break;
	}
	if (fflush(stdout) != 0)
		status = 2;
	return status;
}
