/* harness.h: start a real stepupd on 127.0.0.1 and talk to it, for
 * tests/daemon/test_stepupd.c and test_lifecycle.c. Plain C: no cmocka in
 * here. With STEPUPD_VALGRIND=1 in the environment the daemon runs under
 * valgrind (harness.c says how). */
#ifndef STEPUPD_TEST_HARNESS_H
#define STEPUPD_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#ifndef SRCDIR
#define SRCDIR "."
#endif
#ifndef STEPUPD
#define STEPUPD "./stepupd"
#endif

/* One daemon and its own temporary directory:
 *   dir/stepupd.json  the configuration      dir/rules.rules  its rules
 *   dir/stderr.log    its stderr (JSON logs)  dir/decisions.log
 *   dir/port          the port it bound */
typedef struct hd {
	pid_t pid;
	unsigned port;
	char dir[128];
	char config[192], rules[192], stderr_log[192], declog[192], portfile[192];
	const char *env[4];  /* extra "NAME=value" for the daemon, NULL-terminated */
	/* Non-zero: the daemon runs with RLIMIT_FSIZE at this many bytes (and
	 * SIGXFSZ ignored), a disk that fills up. Every file it writes is
	 * limited, its stderr log too. */
	unsigned long long fsize_limit;
	int exit_status;     /* wait status, when hd_start saw the daemon exit */
} hd;

/* Make the directory and copy rules/default.rules into dir/rules.rules. */
int hd_init(hd *d);
/* The standard test configuration with `extra` (JSON members, may be "")
 * appended inside the top-level object; "limits" etc. given in extra
 * replace nothing, so pass whole-config overrides with hd_write_config. */
int hd_write_default_config(hd *d, const char *log_level, const char *limits_json,
                            const char *extra_members);
int hd_write(const char *path, const char *text);
/* Start stepupd -c dir/stepupd.json --port-file dir/port; wait (up to 30 s)
 * for the port file. 0 on success; -1 if it exited (its wait status in
 * exit_status) or never got ready. */
int hd_start(hd *d);
/* Send sig and wait up to timeout_ms for exit; the wait status in *status.
 * -1 on timeout (the daemon is then killed). */
int hd_signal_wait(hd *d, int sig, int timeout_ms, int *status);
/* hd_start, and on failure print the daemon's stderr (prefixed by
 * `what`) to stderr: 0 or -1. */
int hd_start_reporting(hd *d, const char *what);
/* SIGTERM d and wait (15 s) for a clean exit: status 0, which under ASan
 * also means no leak. 0, or -1 with the status and the tail of its
 * stderr in why. */
int hd_stop_checked(hd *d, char *why, size_t whylen);
/* Stop (SIGTERM) and remove the directory. */
void hd_finish(hd *d);
void hd_rmdir(hd *d);

/* Run stepupd with args (NULL-terminated) to completion; its exit status
 * (or -1), stdout and stderr (malloc'd, NUL-terminated). */
int hd_run(char **out, char **err, const char *arg, ...);
/* The same for another program (its path), e.g. the stepup CLI. */
int hd_run_bin(const char *bin, char **out, char **err, const char *arg, ...);

/* Whole file (malloc'd, NUL-terminated), NULL if unreadable. */
char *hd_slurp(const char *path, size_t *len);
/* Number of non-overlapping occurrences of needle in hay. */
size_t hd_count(const char *hay, const char *needle);

/* One HTTP exchange over libcurl (a new connection unless `keep` is given). */
typedef struct hresp {
	long status;
	char *body;
	size_t len;
	char *headers;   /* raw response headers */
	int curl_rc;     /* CURLcode */
} hresp;

typedef struct hclient hclient;  /* a keep-alive connection (curl easy handle) */
hclient *hc_new(void);
void hc_free(hclient *c);
int hd_http(hd *d, hclient *keep, const char *method, const char *path,
            const char *content_type, const char *body, size_t len,
            const char *extra_header, hresp *out);
void hresp_free(hresp *r);
/* The value of one series of d's /metrics ("name{labels}"), -1 when absent. */
long long hd_metric(hd *d, const char *series);

/* A raw TCP connection to the daemon (blocking), -1 on failure. */
int hd_connect(hd *d);
/* Read until EOF or timeout; bytes read (malloc'd text in *out). Returns
 * 1 when the peer closed, 0 on timeout, -1 on error (e.g. reset). */
int hd_read_all(int fd, int timeout_ms, char **out, size_t *len);

/* Wait for a file to contain needle (polling, up to timeout_ms); 1 if found. */
int hd_wait_for(const char *path, const char *needle, int timeout_ms);

void hd_sleep_ms(int ms);
/* A request the default rules approve (GREEN), every field given. */
extern const char hd_green_req[];
long long hd_now_ms(void);

#endif
