/* faulty.c: a fake plugin "faulty" that misbehaves on request, for the
 * tests of process isolation, crashes, hangs, reloads and scrubbing
 * (tests/unit/test_plugins.c, tests/daemon/test_plugin_crash.c).
 *
 * Configuration (every key optional):
 *   "crash":       "init,can_deliver,deliver_otp,notify,describe,route,lookup"
 *                  which calls dereference NULL
 *   "crash_to":    crash calls with a destination (can_deliver,
 *                  deliver_otp, notify) only for this one
 *   "crash_when":  {"deliver_otp": "+1...", "can_deliver": "+1..."}: also
 *                  crash that call for that destination
 *   "hang":        "can_deliver,..."  which calls block until the file
 *                  "<hang_dir>/release" exists (at most 60 s); each
 *                  blocked call first creates "<hang_dir>/entered.<pid>.<n>"
 *                  and, when released, "<hang_dir>/left.<pid>.<n>"
 *   "data_version": reported with host->set_data_version (ABI 1.3)
 *   "touch":       a file init() creates, unless the host says it only
 *                  checks the configuration (STEPUP_HOST_CHECK_ONLY)
 *   "count_file":  one byte appended per rule function call
 *   "say":         a line init() logs and writes to stderr (the tests put
 *                  card numbers, phones and e-mails in it)
 *   "fail_with":   can_deliver fails with this text as its reason
 * Rule functions: faulty.crash_if(s->b) crashes on "boom", else TRUE;
 * faulty.twice(i->i) counts its calls; faulty.nap(i->i) sleeps that many
 * ms; faulty.fds(->s) lists its open descriptors; faulty.whoami(->s)
 * "uid=U nnp=N dumpable=D"; faulty.version(->s) the build's version.
 * describe() answers {"fds":"<its descriptors>","who":"<whoami>"}.
 *
 * Built twice: faulty.so (version "1.0") and faulty_v2.so (FAULTY_V2:
 * version "2.0"), to replace one with the other on disk. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <stepup/plugin.h>

#ifdef FAULTY_V2
#define FAULTY_VERSION "2.0"
#else
#define FAULTY_VERSION "1.0"
#endif

typedef struct fstate {
	const stepup_host_api *host;
	void *host_ctx;
	char crash[160], crash_to[64], hang[160], hang_dir[256], count_file[256], fail_with[160];
	unsigned hangs;
	json_t *crash_when;
} fstate;

static void copy(char *dst, size_t size, json_t *v)
{
	const char *s = json_string_value(v);
	if (s)
		snprintf(dst, size, "%s", s);
}

static void boom(void)
{
	volatile int *p = NULL;
	*p = 42;
}

static char *dup_host(const stepup_host_api *host, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = host->alloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static int in_list(const char *list, const char *op)
{
	size_t n = strlen(op);
	for (const char *p = list; (p = strstr(p, op)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Crash, hang or answer, as configured for op (and destination). */
static void behave(fstate *st, const char *op, const char *to)
{
	if (in_list(st->crash, op) && (!st->crash_to[0] || !to || strcmp(to, st->crash_to) == 0))
		boom();
	const char *when = json_string_value(json_object_get(st->crash_when, op));
	if (when && to && strcmp(when, to) == 0)
		boom();
	if (in_list(st->hang, op) && st->hang_dir[0]) {
		char path[400];
		unsigned n = __atomic_add_fetch(&st->hangs, 1, __ATOMIC_SEQ_CST);
		snprintf(path, sizeof(path), "%s/entered.%d.%u", st->hang_dir, (int)getpid(), n);
		touch(path);
		snprintf(path, sizeof(path), "%s/release", st->hang_dir);
		for (int i = 0; i < 60000 && !exists(path); i++) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		snprintf(path, sizeof(path), "%s/left.%d.%u", st->hang_dir, (int)getpid(), n);
		touch(path);
	}
}

static int f_init(const stepup_host_api *host, void *host_ctx, const char *config_json, void **state,
		  char *err, size_t errlen)
{
	json_t *c = json_loads(config_json, 0, NULL);
	if (!json_is_object(c)) {
		snprintf(err, errlen, "config must be an object");
		json_decref(c);
		return STEPUP_PLUGIN_EINVAL;
	}
	fstate *st = calloc(1, sizeof(*st));
	if (!st) {
		json_decref(c);
		return STEPUP_PLUGIN_ERROR;
	}
	st->host = host;
	st->host_ctx = host_ctx;
	copy(st->crash, sizeof(st->crash), json_object_get(c, "crash"));
	copy(st->crash_to, sizeof(st->crash_to), json_object_get(c, "crash_to"));
	copy(st->hang, sizeof(st->hang), json_object_get(c, "hang"));
	copy(st->hang_dir, sizeof(st->hang_dir), json_object_get(c, "hang_dir"));
	copy(st->count_file, sizeof(st->count_file), json_object_get(c, "count_file"));
	copy(st->fail_with, sizeof(st->fail_with), json_object_get(c, "fail_with"));
	st->crash_when = json_incref(json_object_get(c, "crash_when"));
	int check_only = host->size >= offsetof(stepup_host_api, flags) + sizeof(host->flags) &&
			 (host->flags & STEPUP_HOST_CHECK_ONLY);
	const char *t = json_string_value(json_object_get(c, "touch"));
	if (t && !check_only)
		touch(t);
	const char *dv = json_string_value(json_object_get(c, "data_version"));
	if (dv && host->size >= offsetof(stepup_host_api, set_data_version) + sizeof(host->set_data_version))
		host->set_data_version(host_ctx, dv);
	const char *say = json_string_value(json_object_get(c, "say"));
	if (say) {
		host->log(host_ctx, STEPUP_PLUGIN_LOG_INFO, say);
		fprintf(stderr, "%s\n", say);
		fflush(stderr);
	}
	json_decref(c);
	*state = st;
	if (in_list(st->crash, "init"))
		boom();
	return STEPUP_PLUGIN_OK;
}

static void f_fini(void *state)
{
	fstate *st = state;
	json_decref(st->crash_when);
	free(st);
}

static int f_can_deliver(void *state, const stepup_call_ctx *ctx, const char *to)
{
	fstate *st = state;
	behave(st, "can_deliver", to);
	if (st->fail_with[0]) {
		snprintf(ctx->err, ctx->errlen, "%s", st->fail_with);
		return STEPUP_PLUGIN_ERROR;
	}
	return STEPUP_PLUGIN_OK;
}

static int f_deliver(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *m)
{
	(void)ctx;
	behave(state, "deliver_otp", m->destination);
	return STEPUP_PLUGIN_OK;
}

static int f_notify(void *state, const stepup_call_ctx *ctx, const char *to, const char *text,
		    const char *lang)
{
	(void)ctx;
	(void)text;
	(void)lang;
	behave(state, "notify", to);
	return STEPUP_PLUGIN_OK;
}

static void list_fds(char *buf, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int mine = d ? dirfd(d) : -1, fds[256], n = 0;
	buf[0] = '\0';
	while (d && (e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.' && atoi(e->d_name) != mine)
			fds[n++] = atoi(e->d_name);
	if (d)
		closedir(d);
	/* sorted, comma separated */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && fds[k - 1] > fds[k]; k--) {
			int t = fds[k];
			fds[k] = fds[k - 1];
			fds[k - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		size_t at = strlen(buf);
		snprintf(buf + at, size - at, "%s%d", i ? "," : "", fds[i]);
	}
}

static void whoami(char *buf, size_t size)
{
	int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), dump = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	snprintf(buf, size, "uid=%u nnp=%d dumpable=%d", (unsigned)getuid(), nnp, dump);
}

static int f_describe(void *state, const stepup_call_ctx *ctx, const char *lang, char **app_json)
{
	fstate *st = state;
	char fds[512], who[96], out[800];
	(void)ctx;
	(void)lang;
	behave(st, "describe", NULL);
	list_fds(fds, sizeof(fds));
	whoami(who, sizeof(who));
	snprintf(out, sizeof(out), "{\"app_id\":\"com.faulty\",\"fds\":\"%s\",\"who\":\"%s\"}", fds, who);
	*app_json = dup_host(st->host, out);
	return *app_json ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
}

static int f_start(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req)
{
	(void)state;
	(void)ctx;
	(void)req;
	return STEPUP_PLUGIN_OK;
}

static int f_verify(void *state, const stepup_call_ctx *ctx, const char *id, const char *proof)
{
	(void)state;
	(void)ctx;
	(void)id;
	(void)proof;
	return STEPUP_PLUGIN_OK;
}

static int f_route(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		   stepup_cs_route *out)
{
	fstate *st = state;
	(void)ctx;
	(void)request_json;
	(void)line;
	behave(st, "route", NULL);
	out->number = dup_host(st->host, "+1 800 555 0100");
	return out->number ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
}

static int f_lookup(void *state, const stepup_call_ctx *ctx, const stepup_account_query *q, char **facts)
{
	fstate *st = state;
	(void)ctx;
	behave(st, "lookup", NULL);
	*facts = dup_host(st->host, strcmp(q->pan, "4111111111111111") == 0
				    ? "{\"card\":{\"state\":\"ACTIVE\"}}" : "{\"card\":{\"state\":\"CLOSED\"}}");
	return *facts ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
}

static int fn_crash_if(void *state, const char *s)
{
	(void)state;
	if (strcmp(s, "boom") == 0)
		boom();
	return 1;
}

static int64_t fn_twice(void *state, int64_t x)
{
	fstate *st = state;
	if (st->count_file[0]) {
		FILE *f = fopen(st->count_file, "a");
		if (f) {
			fputc('.', f);
			fclose(f);
		}
	}
	return 2 * x;
}

static int64_t fn_nap(void *state, int64_t ms)
{
	(void)state;
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return ms;
}

static char *fn_fds(void *state)
{
	char buf[512];
	list_fds(buf, sizeof(buf));
	return dup_host(((fstate *)state)->host, buf);
}

static char *fn_whoami(void *state)
{
	char buf[96];
	whoami(buf, sizeof(buf));
	return dup_host(((fstate *)state)->host, buf);
}

static char *fn_version(void *state)
{
	return dup_host(((fstate *)state)->host, FAULTY_VERSION);
}

static const stepup_plugin_fn f_functions[] = {
	{ "crash_if", "s->b", (stepup_plugin_fn_ptr)fn_crash_if },
	{ "twice", "i->i", (stepup_plugin_fn_ptr)fn_twice },
	{ "nap", "i->i", (stepup_plugin_fn_ptr)fn_nap },
	{ "fds", "->s", (stepup_plugin_fn_ptr)fn_fds },
	{ "whoami", "->s", (stepup_plugin_fn_ptr)fn_whoami },
	{ "version", "->s", (stepup_plugin_fn_ptr)fn_version },
	{ NULL, NULL, NULL },
};

static const stepup_otp_channel f_otp = { sizeof(stepup_otp_channel), f_can_deliver, f_deliver, f_notify };
static const stepup_inapp f_inapp = { sizeof(stepup_inapp), f_describe, f_start, f_verify };
static const stepup_cs_router f_cs = { sizeof(stepup_cs_router), f_route };
static const stepup_account_source f_account = { sizeof(stepup_account_source), f_lookup };

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "faulty",
	.version = FAULTY_VERSION,
	.init = f_init,
	.fini = f_fini,
	.functions = f_functions,
	.otp = &f_otp,
	.inapp = &f_inapp,
	.cs = &f_cs,
	.account = &f_account,
};
