/* harness.c: a real stepupd under test, and clients for it. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

void hd_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

long long hd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *hd_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *s = malloc(cap);
	for (size_t k; s && (k = fread(s + n, 1, cap - n - 1, f)) > 0;) {
		n += k;
		if (n + 1 == cap) {
			char *t = realloc(s, cap *= 2);
			if (!t) {
				free(s);
				s = NULL;
			}
			s = t;
		}
	}
	fclose(f);
	if (s)
		s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

size_t hd_count(const char *hay, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	for (const char *p = hay; (p = strstr(p, needle)); p += nl)
		n++;
	return n;
}

int hd_write(const char *path, const char *text)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	/* rename: a reload never sees a half-written file. */
	return rename(tmp, path);
}

int hd_init(hd *d)
{
	memset(d, 0, sizeof(*d));
	d->pid = -1;
	snprintf(d->dir, sizeof(d->dir), "/tmp/stepupd-test.XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	snprintf(d->config, sizeof(d->config), "%s/stepupd.json", d->dir);
	snprintf(d->rules, sizeof(d->rules), "%s/rules.rules", d->dir);
	snprintf(d->stderr_log, sizeof(d->stderr_log), "%s/stderr.log", d->dir);
	snprintf(d->declog, sizeof(d->declog), "%s/decisions.log", d->dir);
	snprintf(d->portfile, sizeof(d->portfile), "%s/port", d->dir);
	char *rules = hd_slurp(SRCDIR "/rules/default.rules", NULL);
	if (!rules)
		return -1;
	int rc = hd_write(d->rules, rules);
	free(rules);
	return rc;
}

static const char default_limits[] =
	"{\"max_body_bytes\": 65536, \"max_json_depth\": 8, \"connection_timeout_ms\": 2000,"
	" \"max_connections\": 64, \"max_connections_per_ip\": 24,"
	" \"decision_deadline_ms\": 5000, \"shutdown_grace_ms\": 5000}";

int hd_write_default_config(hd *d, const char *log_level, const char *limits_json,
                            const char *extra)
{
	char buf[16384];
	snprintf(buf, sizeof(buf),
	         "{\n"
	         "  \"listen\": \"127.0.0.1:0\",\n"
	         "  \"threads\": 2,\n"
	         "  \"rules\": \"%s\",\n"
	         "  \"limits\": %s,\n"
	         "  \"decision_log\": {\"path\": \"%s\", \"flush_interval_ms\": 20},\n"
	         "  \"log\": {\"level\": \"%s\"},\n"
	         "  \"issuer\": {\"app_id\": \"com.examplebank.mobile\",\n"
	         "             \"customer_service\": {\"standard\": \"+1-800-555-0100\",\n"
	         "                                    \"fraud\": \"+1-800-555-0199\"}}%s%s\n"
	         "}\n",
	         d->rules, limits_json ? limits_json : default_limits, d->declog,
	         log_level ? log_level : "info", extra && extra[0] ? ",\n  " : "", extra ? extra : "");
	return hd_write(d->config, buf);
}

/* STEPUPD_VALGRIND=1 runs the daemon itself under valgrind (the binary
 * behind libtool's wrapper script); an error or a leak makes it exit 99,
 * which the tests' clean-stop checks catch. By hand only: timings of some
 * tests assume a native daemon. */
static void exec_daemon(const hd *d)
{
	const char *vg = getenv("STEPUPD_VALGRIND");
	if (vg && strcmp(vg, "1") == 0) {
		char dir[512], bin[600], libs[600];
		snprintf(dir, sizeof(dir), "%s", STEPUPD);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		snprintf(bin, sizeof(bin), "%s/.libs/stepupd", dir);
		snprintf(libs, sizeof(libs), "%s/.libs", dir);
		setenv("LD_LIBRARY_PATH", libs, 1);
		execlp("valgrind", "valgrind", "-q", "--leak-check=full",
		       "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
		       "--error-exitcode=99", bin, "-c", d->config, "--port-file", d->portfile, (char *)NULL);
		return;
	}
	execl(STEPUPD, "stepupd", "-c", d->config, "--port-file", d->portfile, (char *)NULL);
}

int hd_start(hd *d)
{
	unlink(d->portfile);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char out[256];
		snprintf(out, sizeof(out), "%s/stdout.log", d->dir);
		int e = open(d->stderr_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (e < 0 || o < 0)
			_exit(127);
		dup2(e, 2);
		dup2(o, 1);
		/* The test's own signal mask must not leak into the daemon. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int i = 0; i < 4 && d->env[i]; i++)
			putenv((char *)d->env[i]);
		if (d->fsize_limit) {
			struct rlimit rl = { d->fsize_limit, d->fsize_limit };
			signal(SIGXFSZ, SIG_IGN);
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				_exit(126);
		}
		exec_daemon(d);
		_exit(127);
	}
	d->pid = pid;
	for (int i = 0; i < 3000; i++) {
		char *p = hd_slurp(d->portfile, NULL);
		if (p) {
			d->port = (unsigned)atoi(p);
			free(p);
			if (d->port)
				return 0;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			d->pid = -1;
			d->exit_status = st;
			return -1;
		}
		hd_sleep_ms(10);
	}
	return -1;
}

int hd_signal_wait(hd *d, int sig, int timeout_ms, int *status)
{
	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (waitpid(d->pid, status, WNOHANG) == d->pid) {
			d->pid = -1;
			return 0;
		}
		hd_sleep_ms(10);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, status, 0);
	d->pid = -1;
	return -1;
}

void hd_rmdir(hd *d)
{
	char cmd[300];
	if (!d->dir[0] || getenv("STEPUPD_TEST_KEEP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d->dir);
	d->dir[0] = '\0';
}

void hd_finish(hd *d)
{
	int st;
	if (d->pid > 0)
		hd_signal_wait(d, SIGTERM, 10000, &st);
	hd_rmdir(d);
}

static int run_v(const char *bin, const char *name, char **out, char **err, const char *arg, va_list ap)
{
	char *argv[24];
	char po[] = "/tmp/stepupd-run-out.XXXXXX", pe[] = "/tmp/stepupd-run-err.XXXXXX";
	int n = 0, st = -1;
	argv[n++] = (char *)name;
	for (const char *a = arg; a && n < 23; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	argv[n] = NULL;
	int fo = mkstemp(po), fe = mkstemp(pe);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		execv(bin, argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	if (pid > 0)
		waitpid(pid, &st, 0);
	*out = hd_slurp(po, NULL);
	*err = hd_slurp(pe, NULL);
	unlink(po);
	unlink(pe);
	return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int hd_run(char **out, char **err, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = run_v(STEPUPD, "stepupd", out, err, arg, ap);
	va_end(ap);
	return rc;
}

int hd_run_bin(const char *bin, char **out, char **err, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	const char *slash = strrchr(bin, '/');
	int rc = run_v(bin, slash ? slash + 1 : bin, out, err, arg, ap);
	va_end(ap);
	return rc;
}

long long hd_metric(hd *d, const char *series)
{
	hresp r;
	char needle[512];
	snprintf(needle, sizeof(needle), "\n%s ", series);
	hd_http(d, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	const char *p = r.body ? strstr(r.body, needle) : NULL;
	long long v = p ? atoll(p + strlen(needle)) : -1;
	hresp_free(&r);
	return v;
}

/* ---- HTTP client ------------------------------------------------------------ */

struct hclient {
	CURL *h;
};

hclient *hc_new(void)
{
	hclient *c = calloc(1, sizeof(*c));
	if (c && !(c->h = curl_easy_init())) {
		free(c);
		c = NULL;
	}
	return c;
}

void hc_free(hclient *c)
{
	if (c) {
		curl_easy_cleanup(c->h);
		free(c);
	}
}

struct sink {
	char *s;
	size_t len;
};

static size_t on_bytes(char *p, size_t size, size_t n, void *ud)
{
	struct sink *k = ud;
	char *t = realloc(k->s, k->len + size * n + 1);
	if (!t)
		return 0;
	memcpy(t + k->len, p, size * n);
	k->s = t;
	k->len += size * n;
	k->s[k->len] = '\0';
	return size * n;
}

int hd_http(hd *d, hclient *keep, const char *method, const char *path,
            const char *content_type, const char *body, size_t len,
            const char *extra_header, hresp *out)
{
	char url[512], ct[256];
	struct sink b = {0}, h = {0};
	struct curl_slist *hl = NULL;
	CURL *c = keep ? keep->h : curl_easy_init();

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	if (keep)
		curl_easy_reset(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", d->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_bytes);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_bytes);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (strcmp(method, "GET") == 0 && !body)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "POST") != 0 || !body)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	snprintf(ct, sizeof(ct), "Content-Type:%s%s", content_type ? " " : "",
	         content_type ? content_type : "");
	hl = curl_slist_append(hl, ct);
	hl = curl_slist_append(hl, "Expect:");
	if (extra_header)
		hl = curl_slist_append(hl, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	out->curl_rc = (int)curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(hl);
	if (!keep)
		curl_easy_cleanup(c);
	out->body = b.s ? b.s : calloc(1, 1);
	out->len = b.len;
	out->headers = h.s ? h.s : calloc(1, 1);
	return out->curl_rc == 0 ? 0 : -1;
}

void hresp_free(hresp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* ---- raw sockets -------------------------------------------------------------- */

int hd_connect(hd *d)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int hd_read_all(int fd, int timeout_ms, char **out, size_t *len)
{
	struct sink k = {0};
	long long end = hd_now_ms() + timeout_ms;
	int rc = 0;
	for (;;) {
		long long left = end - hd_now_ms();
		if (left <= 0)
			break;
		struct pollfd p = { fd, POLLIN, 0 };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		char buf[4096];
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0) {
			rc = 1;
			break;
		}
		if (r < 0) {
			rc = errno == ECONNRESET ? 1 : -1;
			break;
		}
		on_bytes(buf, 1, (size_t)r, &k);
	}
	if (out)
		*out = k.s ? k.s : calloc(1, 1);
	else
		free(k.s);
	if (len)
		*len = k.len;
	return rc;
}

int hd_wait_for(const char *path, const char *needle, int timeout_ms)
{
	long long end = hd_now_ms() + timeout_ms;
	do {
		char *s = hd_slurp(path, NULL);
		int found = s && strstr(s, needle);
		free(s);
		if (found)
			return 1;
		hd_sleep_ms(10);
	} while (hd_now_ms() < end);
	return 0;
}

int hd_start_reporting(hd *d, const char *what)
{
	if (hd_start(d) == 0)
		return 0;
	char *e = hd_slurp(d->stderr_log, NULL);
	fprintf(stderr, "%s:\n%s\n", what, e ? e : "");
	free(e);
	return -1;
}

int hd_stop_checked(hd *d, char *why, size_t whylen)
{
	int st = 0;
	int rc = hd_signal_wait(d, SIGTERM, 15000, &st);
	if (rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	char *e = hd_slurp(d->stderr_log, NULL);
	size_t n = e ? strlen(e) : 0;
	snprintf(why, whylen, "stepupd did not exit cleanly (rc %d, status %#x); stderr tail:\n%s", rc, st,
	         e ? e + (n > 3000 ? n - 3000 : 0) : "");
	free(e);
	return -1;
}

const char hd_green_req[] =
	"{\"request_id\":\"req-green-1\",\"tsp\":\"MDES\",\"channel\":\"XPAY_WALLET\","
	"\"token_requestor\":{\"id\":\"50110030273\",\"name\":\"APPLE_PAY\"},"
	"\"card\":{\"pan\":\"5412751234561234\",\"state\":\"ACTIVE\",\"capture_method\":\"BANK_APP\","
	"\"csc_result\":\"MATCH\",\"active_tokens\":1,\"csc_failures_24h\":0},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\","
	"\"app_enrolled\":true,\"language\":\"en-US\",\"otp_exhausted\":false},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":5,\"account_score\":5,\"phone_score\":5,"
	"\"recommended_decision\":\"APPROVED\",\"reason_codes\":[],\"device_suspicious\":false,"
	"\"device_country\":\"US\"}}";
