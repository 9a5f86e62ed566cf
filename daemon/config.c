/* config.c: load and check stepupd's configuration file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mdes/config.h"

#define CONFIG_MAX_BYTES (1u << 20)

typedef struct ctx {
	stepupd_config *c;
	char *err;
	size_t errlen;
} ctx;

static int fail(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(x->err, x->errlen, "config %s: ", x->c->path);
	if (n < 0 || (size_t)n >= x->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* A path as written, resolved from the configuration file's directory. */
static char *resolve(ctx *x, const char *p)
{
	char *out;
	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", x->c->base_dir, p) < 0)
		return NULL;
	return out;
}

static int get_uint(ctx *x, json_t *obj, const char *sect, const char *key,
                    unsigned long long min, unsigned long long max, unsigned long long *v)
{
	json_t *j = json_object_get(obj, key);
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    (unsigned long long)json_integer_value(j) < min ||
	    (unsigned long long)json_integer_value(j) > max)
		return fail(x, "%s.%s: must be an integer from %llu to %llu", sect, key, min, max);
	*v = (unsigned long long)json_integer_value(j);
	return 0;
}

/* Every key of obj must be one of `known` (NULL-terminated). */
static int only_keys(ctx *x, json_t *obj, const char *sect, const char *const *known)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		int ok = 0;
		for (const char *const *p = known; *p; p++)
			ok |= strcmp(*p, k) == 0;
		if (!ok) {
			char list[256] = "";
			for (const char *const *p = known; *p; p++) {
				strncat(list, *p, sizeof(list) - strlen(list) - 1);
				if (p[1])
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			return fail(x, "%s: unknown key \"%s\" (expected one of: %s)", sect, k, list);
		}
	}
	return 0;
}

static int want_object(ctx *x, json_t *v, const char *sect)
{
	return json_is_object(v) ? 0 : fail(x, "%s: must be an object", sect);
}

/* ---- sections ------------------------------------------------------------ */

static int parse_listen_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *hs = s;
	size_t hl;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hs = s + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

static int sect_listen(ctx *x, json_t *v)
{
	if (!json_is_string(v) ||
	    parse_listen_addr(json_string_value(v), &x->c->listen_addr, &x->c->listen_addr_len) < 0)
		return fail(x, "listen: must be \"IPv4:PORT\" or \"[IPv6]:PORT\" "
		            "(numeric address, port 0-65535; 0 picks a free port)");
	free(x->c->listen);
	x->c->listen = strdup(json_string_value(v));
	return x->c->listen ? 0 : fail(x, "out of memory");
}

static int sect_threads(ctx *x, json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 256)
		return fail(x, "threads: must be an integer from 0 (one per CPU) to 256");
	x->c->threads = (unsigned)json_integer_value(v);
	return 0;
}

static int sect_rules(ctx *x, json_t *v)
{
	if (!json_is_string(v) || !json_string_value(v)[0])
		return fail(x, "rules: must be the path of a .rules file or a bundle");
	x->c->rules = resolve(x, json_string_value(v));
	if (!x->c->rules)
		return fail(x, "out of memory");
	if (access(x->c->rules, R_OK) != 0)
		return fail(x, "rules: cannot read %s: %s", x->c->rules, strerror(errno));
	return 0;
}

static int sect_limits(ctx *x, json_t *v)
{
	static const char *const keys[] = { "max_body_bytes", "max_json_depth",
		"connection_timeout_ms", "max_connections", "max_connections_per_ip",
		"decision_deadline_ms", "decision_workers", "shutdown_grace_ms", NULL };
	struct cfg_limits *l = &x->c->limits;
	unsigned long long n;
	if (want_object(x, v, "limits") < 0 || only_keys(x, v, "limits", keys) < 0)
		return -1;
	/* The library refuses more than 1 MiB and deeper than 32 whatever we
	 * say; the bounds keep the daemon's limits inside the library's. */
	n = l->max_body_bytes;
	if (get_uint(x, v, "limits", "max_body_bytes", 1024, 1u << 20, &n) < 0)
		return -1;
	l->max_body_bytes = (size_t)n;
	n = l->max_json_depth;
	if (get_uint(x, v, "limits", "max_json_depth", 3, 32, &n) < 0)
		return -1;
	l->max_json_depth = (unsigned)n;
	n = l->connection_timeout_ms;
	if (get_uint(x, v, "limits", "connection_timeout_ms", 500, 600000, &n) < 0)
		return -1;
	l->connection_timeout_ms = (unsigned)n;
	n = l->max_connections;
	if (get_uint(x, v, "limits", "max_connections", 1, 65536, &n) < 0)
		return -1;
	l->max_connections = (unsigned)n;
	n = l->max_connections_per_ip;
	if (get_uint(x, v, "limits", "max_connections_per_ip", 1, 65536, &n) < 0)
		return -1;
	l->max_connections_per_ip = (unsigned)n;
	n = l->decision_deadline_ms;
	if (get_uint(x, v, "limits", "decision_deadline_ms", 10, 60000, &n) < 0)
		return -1;
	l->decision_deadline_ms = (unsigned)n;
	n = l->decision_workers;
	if (get_uint(x, v, "limits", "decision_workers", 1, 256, &n) < 0)
		return -1;
	l->decision_workers = (unsigned)n;
	n = l->shutdown_grace_ms;
	if (get_uint(x, v, "limits", "shutdown_grace_ms", 0, 600000, &n) < 0)
		return -1;
	l->shutdown_grace_ms = (unsigned)n;
	return 0;
}

/* A secret kept in a file of its own (mode 0600 or stricter, e.g. a
 * systemd credential): up to size - 1 bytes into buf, trailing newlines
 * (and spaces for tokens) off; *n its length. */
static int read_secret_file(ctx *x, const char *key, const char *path, char *buf, size_t size, size_t *n)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO put in its place must be refused, not waited on. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(x, "%s: cannot open %s: %s", key, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(x, "%s: %s is not a regular file", key, path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return fail(x, "%s: %s is readable by group or others (chmod 600)", key, path);
	}
	ssize_t k = read(fd, buf, size - 1);
	close(fd);
	if (k < 0)
		return fail(x, "%s: cannot read %s: %s", key, path, strerror(errno));
	while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r'))
		k--;
	buf[k] = '\0';
	*n = (size_t)k;
	return 0;
}

/* Bearer tokens live in their own file, never in the configuration. */
static int read_token(ctx *x, const char *key, const char *path, char **out)
{
	char buf[513];
	size_t n;
	if (read_secret_file(x, key, path, buf, sizeof(buf), &n) < 0)
		return -1;
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	if (n < 16 || n > 256)
		return fail(x, "%s: the token must be 16 to 256 characters", key);
	for (size_t i = 0; i < n; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			return fail(x, "%s: the token must be printable ASCII without spaces", key);
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : fail(x, "out of memory");
}

static int sect_allow_empty(ctx *x, json_t *v)
{
	if (!json_is_boolean(v))
		return fail(x, "allow_empty_ruleset: must be true or false");
	x->c->allow_empty_ruleset = json_is_true(v);
	return 0;
}

static int sect_reload(ctx *x, json_t *v)
{
	static const char *const keys[] = { "timeout_ms", "max_rule_drop_percent", NULL };
	unsigned long long n;
	if (want_object(x, v, "reload") < 0 || only_keys(x, v, "reload", keys) < 0)
		return -1;
	n = x->c->reload.timeout_ms;
	if (get_uint(x, v, "reload", "timeout_ms", 100, 600000, &n) < 0)
		return -1;
	x->c->reload.timeout_ms = (unsigned)n;
	n = x->c->reload.max_rule_drop_percent;
	if (get_uint(x, v, "reload", "max_rule_drop_percent", 0, 100, &n) < 0)
		return -1;
	x->c->reload.max_rule_drop_percent = (unsigned)n;
	return 0;
}

static int sect_admin(ctx *x, json_t *v)
{
	static const char *const keys[] = { "allow_loopback", "token_file", NULL };
	json_t *j;
	if (want_object(x, v, "admin") < 0 || only_keys(x, v, "admin", keys) < 0)
		return -1;
	if ((j = json_object_get(v, "allow_loopback"))) {
		if (!json_is_boolean(j))
			return fail(x, "admin.allow_loopback: must be true or false");
		x->c->admin.allow_loopback = json_is_true(j);
	}
	if ((j = json_object_get(v, "token_file"))) {
		if (!json_is_string(j) || !json_string_value(j)[0])
			return fail(x, "admin.token_file: must be a path");
		x->c->admin.token_file = resolve(x, json_string_value(j));
		if (!x->c->admin.token_file)
			return fail(x, "out of memory");
		return read_token(x, "admin.token_file", x->c->admin.token_file, &x->c->admin.token);
	}
	return 0;
}

/* The decision log's hash key: 16 to 64 bytes from a file of its own. */
static int read_key_file(ctx *x, const char *key, const char *path, unsigned char *out, size_t *outlen)
{
	char buf[66];
	size_t n;
	if (read_secret_file(x, key, path, buf, sizeof(buf), &n) < 0)
		return -1;
	if (n < 16 || n > 64) {
		explicit_bzero(buf, sizeof(buf));
		return fail(x, "%s: the key must be 16 to 64 bytes (head -c 32 /dev/urandom | base64 > %s)",
		            key, path);
	}
	memcpy(out, buf, n);
	*outlen = n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int sect_decision_log(ctx *x, json_t *v)
{
	static const char *const keys[] = { "path", "flush_interval_ms", "replay_safe", "facts",
		"hash_key_file", NULL };
	json_t *j;
	unsigned long long n = x->c->decision_log.flush_interval_ms;
	if (json_is_null(v))
		return 0;
	if (want_object(x, v, "decision_log") < 0 || only_keys(x, v, "decision_log", keys) < 0)
		return -1;
	j = json_object_get(v, "path");
	if (j && !json_is_null(j)) {
		if (!json_is_string(j) || !json_string_value(j)[0])
			return fail(x, "decision_log.path: must be a file path (or null for no decision log)");
		x->c->decision_log.path = resolve(x, json_string_value(j));
		if (!x->c->decision_log.path)
			return fail(x, "out of memory");
	}
	if (get_uint(x, v, "decision_log", "flush_interval_ms", 10, 10000, &n) < 0)
		return -1;
	x->c->decision_log.flush_interval_ms = (unsigned)n;
	if ((j = json_object_get(v, "replay_safe"))) {
		if (!json_is_boolean(j))
			return fail(x, "decision_log.replay_safe: must be true or false");
		x->c->decision_log.replay_safe = json_is_true(j);
	}
	if ((j = json_object_get(v, "facts"))) {
		const char *m = json_string_value(j);
		if (!m || (strcmp(m, "read") != 0 && strcmp(m, "declared") != 0))
			return fail(x, "decision_log.facts: must be \"read\" (the fields the rules read) or "
			            "\"declared\" (every field the schema declares)");
		x->c->decision_log.facts_mode = strcmp(m, "declared") == 0 ? STEPUP_FACTS_DECLARED : STEPUP_FACTS_READ;
	}
	if ((j = json_object_get(v, "hash_key_file"))) {
		if (!json_is_string(j) || !json_string_value(j)[0])
			return fail(x, "decision_log.hash_key_file: must be a path");
		if (!(x->c->decision_log.hash_key_file = resolve(x, json_string_value(j))))
			return fail(x, "out of memory");
		if (read_key_file(x, "decision_log.hash_key_file", x->c->decision_log.hash_key_file,
		                  x->c->decision_log.hash_key, &x->c->decision_log.hash_key_len) < 0)
			return -1;
	}
	return 0;
}

static int sect_shadow(ctx *x, json_t *v)
{
	static const char *const keys[] = { "rules", "log", "queue", "threads", NULL };
	json_t *j;
	unsigned long long n;
	if (want_object(x, v, "shadow") < 0 || only_keys(x, v, "shadow", keys) < 0)
		return -1;
	j = json_object_get(v, "rules");
	if (!json_is_string(j) || !json_string_value(j)[0])
		return fail(x, "shadow.rules: must be the path of the candidate ruleset (.rules or a bundle)");
	if (!(x->c->shadow.rules = resolve(x, json_string_value(j))))
		return fail(x, "out of memory");
	if (access(x->c->shadow.rules, R_OK) != 0)
		return fail(x, "shadow.rules: cannot read %s: %s", x->c->shadow.rules, strerror(errno));
	j = json_object_get(v, "log");
	if (j && !json_is_null(j)) {
		if (!json_is_string(j) || !json_string_value(j)[0])
			return fail(x, "shadow.log: must be a file path (or null for none)");
		if (!(x->c->shadow.log = resolve(x, json_string_value(j))))
			return fail(x, "out of memory");
	}
	n = x->c->shadow.queue;
	if (get_uint(x, v, "shadow", "queue", 1, 1u << 20, &n) < 0)
		return -1;
	x->c->shadow.queue = (unsigned)n;
	n = x->c->shadow.threads;
	if (get_uint(x, v, "shadow", "threads", 1, 16, &n) < 0)
		return -1;
	x->c->shadow.threads = (unsigned)n;
	return 0;
}

static int sect_bundles(ctx *x, json_t *v)
{
	static const char *const keys[] = { "trusted_keys", "require_signature", NULL };
	json_t *j, *k;
	size_t i;
	char err[512];
	if (want_object(x, v, "bundles") < 0 || only_keys(x, v, "bundles", keys) < 0)
		return -1;
	if ((j = json_object_get(v, "require_signature"))) {
		if (!json_is_boolean(j))
			return fail(x, "bundles.require_signature: must be true or false");
		x->c->bundles.require_signature = json_is_true(j);
	}
	j = json_object_get(v, "trusted_keys");
	if (j && !json_is_array(j))
		return fail(x, "bundles.trusted_keys: must be a list of public key files (PEM)");
	if (x->c->bundles.require_signature && json_array_size(j) == 0)
		return fail(x, "bundles.require_signature: needs at least one key in bundles.trusted_keys");
	if (!(x->c->bundles.trust = stepup_keyring_new()))
		return fail(x, "out of memory");
	json_array_foreach(j, i, k) {
		char *path = json_is_string(k) && json_string_value(k)[0] ? resolve(x, json_string_value(k)) : NULL;
		if (!path)
			return fail(x, "bundles.trusted_keys[%zu]: must be the path of a public key file", i);
		int rc = stepup_keyring_add_file(x->c->bundles.trust, path, err, sizeof(err));
		free(path);
		if (rc != STEPUP_OK)
			return fail(x, "bundles.trusted_keys[%zu]: %s", i, err);
	}
	return 0;
}

static int sect_log(ctx *x, json_t *v)
{
	static const char *const keys[] = { "level", NULL };
	json_t *j;
	if (want_object(x, v, "log") < 0 || only_keys(x, v, "log", keys) < 0)
		return -1;
	if ((j = json_object_get(v, "level"))) {
		int lv = json_is_string(j) ? log_level_parse(json_string_value(j)) : -1;
		if (lv < 0)
			return fail(x, "log.level: must be \"error\", \"warn\", \"info\" or \"debug\"");
		x->c->log.level = lv;
	}
	return 0;
}

static int sect_plugins(ctx *x, json_t *v)
{
	/* Checked in depth by stepup_plugins_load(); only its presence matters here. */
	if (!json_is_object(v))
		return fail(x, "plugins: must be an object");
	x->c->has_plugins = 1;
	return 0;
}

static int sect_issuer(ctx *x, json_t *v)
{
	return want_object(x, v, "issuer");
}

static int sect_lifecycle(ctx *x, json_t *v)
{
	static const char *const keys[] = { "workers", "allow_loopback", "token_file", NULL };
	json_t *j;
	unsigned long long n = x->c->lifecycle.workers;
	if (want_object(x, v, "lifecycle") < 0 || only_keys(x, v, "lifecycle", keys) < 0)
		return -1;
	if (get_uint(x, v, "lifecycle", "workers", 1, 256, &n) < 0)
		return -1;
	x->c->lifecycle.workers = (unsigned)n;
	if ((j = json_object_get(v, "allow_loopback"))) {
		if (!json_is_boolean(j))
			return fail(x, "lifecycle.allow_loopback: must be true or false");
		x->c->lifecycle.allow_loopback = json_is_true(j);
	}
	if ((j = json_object_get(v, "token_file"))) {
		if (!json_is_string(j) || !json_string_value(j)[0])
			return fail(x, "lifecycle.token_file: must be a path");
		x->c->lifecycle.token_file = resolve(x, json_string_value(j));
		if (!x->c->lifecycle.token_file)
			return fail(x, "out of memory");
		return read_token(x, "lifecycle.token_file", x->c->lifecycle.token_file,
		                  &x->c->lifecycle.token);
	}
	return 0;
}

static int sect_cases(ctx *x, json_t *v)
{
	/* Checked in depth by stepup_cases_open() (lifecycle.c runs it on a
	 * scratch database for --check-config and reloads). */
	if (!json_is_object(v))
		return fail(x, "cases: must be an object");
	x->c->has_cases = 1;
	json_t *p = json_object_get(v, "path");
	if (json_is_string(p) && json_string_value(p)[0] &&
	    !(x->c->cases_path = resolve(x, json_string_value(p))))
		return fail(x, "out of memory");
	x->c->cases_canon = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	return x->c->cases_canon ? 0 : fail(x, "out of memory");
}

static int sect_mdes(ctx *x, json_t *v)
{
	char why[768];
	if (mdes_cfg_parse(v, x->c->base_dir, &x->c->mdes, why, sizeof(why)) < 0)
		return fail(x, "%s", why);
	return 0;
}

static int mdes_differs(const stepupd_config *a, const stepupd_config *b)
{
	return mdes_cfg_restart_differs(a->mdes, b->mdes);
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static int listen_differs(const stepupd_config *a, const stepupd_config *b)
{
	return str_differs(a->listen, b->listen);
}

static int threads_differ(const stepupd_config *a, const stepupd_config *b)
{
	return a->threads != b->threads;
}

static int limits_differ(const stepupd_config *a, const stepupd_config *b)
{
	return memcmp(&a->limits, &b->limits, sizeof(a->limits)) != 0;
}

static int lifecycle_differs(const stepupd_config *a, const stepupd_config *b)
{
	return a->lifecycle.workers != b->lifecycle.workers;
}

/* The case store is opened once: its path, its schedule and its webhook
 * belong to the running handle (and its background thread). */
static int cases_differ(const stepupd_config *a, const stepupd_config *b)
{
	return str_differs(a->cases_canon, b->cases_canon);
}

static int decision_log_differs(const stepupd_config *a, const stepupd_config *b)
{
	return str_differs(a->decision_log.path, b->decision_log.path) ||
	       a->decision_log.flush_interval_ms != b->decision_log.flush_interval_ms ||
	       a->decision_log.replay_safe != b->decision_log.replay_safe ||
	       a->decision_log.facts_mode != b->decision_log.facts_mode ||
	       a->decision_log.hash_key_len != b->decision_log.hash_key_len ||
	       memcmp(a->decision_log.hash_key, b->decision_log.hash_key, a->decision_log.hash_key_len) != 0;
}

/* The candidate's file follows reloads; its pool and log are the
 * running process's (shadow.h). */
static int shadow_differs(const stepupd_config *a, const stepupd_config *b)
{
	return (a->shadow.rules == NULL) != (b->shadow.rules == NULL) || str_differs(a->shadow.log, b->shadow.log) ||
	       a->shadow.queue != b->shadow.queue || a->shadow.threads != b->shadow.threads;
}

/* One entry per top-level key, in the order they are documented.
 * `differs` is set for sections that only take effect at start: a reload
 * that changes them says a restart is needed. */
static const struct section {
	const char *key;
	int (*parse)(ctx *x, json_t *v);
	int (*differs)(const stepupd_config *a, const stepupd_config *b);
} sections[] = {
	{ "listen", sect_listen, listen_differs },
	{ "threads", sect_threads, threads_differ },
	{ "rules", sect_rules, NULL },
	{ "allow_empty_ruleset", sect_allow_empty, NULL },
	{ "reload", sect_reload, NULL },
	{ "limits", sect_limits, limits_differ },
	{ "admin", sect_admin, NULL },
	{ "decision_log", sect_decision_log, decision_log_differs },
	{ "shadow", sect_shadow, shadow_differs },
	{ "bundles", sect_bundles, NULL },
	{ "log", sect_log, NULL },
	{ "plugins", sect_plugins, NULL },
	{ "issuer", sect_issuer, NULL },
	{ "cases", sect_cases, cases_differ },
	{ "lifecycle", sect_lifecycle, lifecycle_differs },
	{ "mdes", sect_mdes, mdes_differs },
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static void defaults(stepupd_config *c)
{
	/* Why these values: docs/operations.md, "Limits". */
	c->threads = 0;
	c->limits.max_body_bytes = 64 * 1024;
	c->limits.max_json_depth = 8;
	c->limits.connection_timeout_ms = 10000;
	c->limits.max_connections = 1024;
	c->limits.max_connections_per_ip = 256;
	c->limits.decision_deadline_ms = 1000;
	c->limits.decision_workers = 16;
	c->limits.shutdown_grace_ms = 10000;
	c->admin.allow_loopback = 1;
	c->reload.timeout_ms = 10000;
	c->reload.max_rule_drop_percent = 50;
	c->lifecycle.workers = 8;
	c->lifecycle.allow_loopback = 1;
	c->decision_log.flush_interval_ms = 200;
	c->decision_log.facts_mode = STEPUP_FACTS_READ;
	c->shadow.queue = 65536;
	c->shadow.threads = 1;
	c->log.level = LOG_INFO;
}

static int read_file(ctx *x)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO put in its place is refused below, not waited on
	 * (regular files ignore the flag). */
	int fd = open(x->c->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(x, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		close(fd);
		return fail(x, "not a regular file of at most %u bytes", CONFIG_MAX_BYTES);
	}
	x->c->text = malloc((size_t)st.st_size + 1);
	if (!x->c->text) {
		close(fd);
		return fail(x, "out of memory");
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, x->c->text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	x->c->text[got] = '\0';
	x->c->text_len = got;
	return 0;
}

int cfg_load(const char *path, stepupd_config **out, char *err, size_t errlen)
{
	stepupd_config *c = calloc(1, sizeof(*c));
	ctx x = { c, err, errlen };
	json_t *root = NULL;
	json_error_t je;
	int rc = -1;

	*out = NULL;
	if (!c) {
		snprintf(err, errlen, "config %s: out of memory", path);
		return -1;
	}
	defaults(c);
	c->path = strdup(path);
	char *dirbuf = strdup(path);
	if (!c->path || !dirbuf) {
		free(dirbuf);
		snprintf(err, errlen, "config %s: out of memory", path);
		goto out;
	}
	/* Relative paths in the file are relative to the file, wherever the
	 * daemon was started from. */
	char real[PATH_MAX];
	const char *dir = dirname(dirbuf);
	c->base_dir = strdup(realpath(dir, real) ? real : dir);
	free(dirbuf);
	if (!c->base_dir) {
		snprintf(err, errlen, "config %s: out of memory", path);
		goto out;
	}
	if (read_file(&x) < 0)
		goto out;
	root = json_loadb(c->text, c->text_len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		fail(&x, "line %d, column %d: %s", je.line, je.column, je.text);
		goto out;
	}
	if (!json_is_object(root)) {
		fail(&x, "must be a JSON object");
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		size_t i;
		for (i = 0; i < NSECTIONS; i++)
			if (strcmp(k, sections[i].key) == 0)
				break;
		if (i == NSECTIONS) {
			char list[256] = "";
			for (size_t j = 0; j < NSECTIONS; j++) {
				strncat(list, sections[j].key, sizeof(list) - strlen(list) - 1);
				if (j + 1 < NSECTIONS)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			}
			fail(&x, "unknown key \"%s\" (expected one of: %s)", k, list);
			goto out;
		}
	}
	/* Sections in table order, so the first error reported is stable. */
	for (size_t i = 0; i < NSECTIONS; i++) {
		v = json_object_get(root, sections[i].key);
		if (v && sections[i].parse(&x, v) < 0)
			goto out;
	}
	if (!c->listen) {
		json_t *def = json_string("127.0.0.1:8080");
		int r = def ? sect_listen(&x, def) : fail(&x, "out of memory");
		json_decref(def);
		if (r < 0)
			goto out;
	}
	if (!c->rules) {
		fail(&x, "rules: missing (the path of a .rules file or a bundle)");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		cfg_free(c);
	else
		*out = c;
	return rc;
}

void cfg_free(stepupd_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->base_dir);
	if (c->text)
		explicit_bzero(c->text, c->text_len);
	free(c->text);
	free(c->listen);
	free(c->rules);
	if (c->admin.token)
		explicit_bzero(c->admin.token, strlen(c->admin.token));
	free(c->admin.token);
	free(c->admin.token_file);
	if (c->lifecycle.token)
		explicit_bzero(c->lifecycle.token, strlen(c->lifecycle.token));
	free(c->lifecycle.token);
	free(c->lifecycle.token_file);
	free(c->cases_path);
	if (c->cases_canon)
		explicit_bzero(c->cases_canon, strlen(c->cases_canon));
	free(c->cases_canon);
	free(c->decision_log.path);
	mdes_cfg_free(c->mdes);
	free(c->decision_log.hash_key_file);
	explicit_bzero(c->decision_log.hash_key, sizeof(c->decision_log.hash_key));
	free(c->shadow.rules);
	free(c->shadow.log);
	stepup_keyring_free(c->bundles.trust);
	free(c);
}

void cfg_restart_only_changes(const stepupd_config *a, const stepupd_config *b,
                              char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < NSECTIONS; i++) {
		if (!sections[i].differs || !sections[i].differs(a, b))
			continue;
		if (buf[0])
			strncat(buf, ", ", size - strlen(buf) - 1);
		strncat(buf, sections[i].key, size - strlen(buf) - 1);
	}
}
