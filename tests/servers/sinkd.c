/* sinkd: run http_sink or smtp_sink as a process, for shell and daemon
 * tests that need a webhook receiver or a mail server on 127.0.0.1.
 *
 *   sinkd http|smtp [--port N] [--port-file FILE] [--out DIR]
 *         [--status CODE] [--body TEXT] [--delay-ms N] [--close]   (http)
 *         [--auth] [--fail-at mail|rcpt|data|end] [--fail-code N]   (smtp)
 *
 * It listens on 127.0.0.1 (--port 0, the default: an ephemeral port),
 * then writes the port number and a newline to FILE (atomically: a
 * reader that sees the file sees the whole number), and runs until
 * SIGTERM or SIGINT, then stops cleanly and exits 0.
 *
 * With --out, each request / message is written as it arrives to
 * DIR/NNNN.http (request line, headers, empty line, body: as received) or
 * DIR/NNNN.eml (lines "MAIL FROM:<a>" and "RCPT TO:<b>", an empty line,
 * then the message), numbered from 0001, each file renamed into place
 * complete. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_sink.h"
#include "smtp_sink.h"

typedef struct out_dir {
	const char *dir;
	unsigned seq;
} out_dir;

static void usage(void)
{
	fputs("usage: sinkd http|smtp [--port N] [--port-file FILE] [--out DIR]\n"
	      "             [--status CODE] [--body TEXT] [--delay-ms N] [--close]   (http)\n"
	      "             [--auth] [--fail-at mail|rcpt|data|end] [--fail-code N]   (smtp)\n",
	      stderr);
	exit(2);
}

/* Write `data` to path via a temporary file and rename. */
static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -1;
	int ok = fwrite(data, 1, len, f) == len;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void save(out_dir *o, const char *ext, const char *data, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%04u.%s", o->dir, ++o->seq, ext);
	if (write_atomic(path, data, len) != 0)
		fprintf(stderr, "sinkd: cannot write %s: %s\n", path, strerror(errno));
}

static void on_http(void *arg, const http_sink_request *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	fprintf(f, "%s %s %s\r\n", r->method, r->target, r->version);
	for (size_t k = 0; k < r->nheaders; k++)
		fprintf(f, "%s: %s\r\n", r->headers[k].name, r->headers[k].value);
	fputs("\r\n", f);
	fwrite(r->body, 1, r->body_len, f);
	fclose(f);
	save(arg, "http", text, len);
	free(text);
}

static void on_smtp(void *arg, const smtp_sink_message *m)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	fprintf(f, "MAIL FROM:<%s>\n", m->mail_from);
	for (size_t k = 0; k < m->nrcpt; k++)
		fprintf(f, "RCPT TO:<%s>\n", m->rcpt[k]);
	fputs("\n", f);
	fwrite(m->data, 1, m->data_len, f);
	fclose(f);
	save(arg, "eml", text, len);
	free(text);
}

static long num_arg(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "http") != 0 && strcmp(argv[1], "smtp") != 0))
		usage();
	int smtp = strcmp(argv[1], "smtp") == 0;
	const char *port_file = NULL;
	out_dir out = { NULL, 0 };
	long port = 0;
	http_sink_reply reply = { 0 };
	smtp_sink_behaviour beh = { 0 };
	for (int k = 2; k < argc; k++) {
		const char *a = argv[k];
		const char *v = k + 1 < argc ? argv[k + 1] : NULL;
		int takes = 1;
		if (strcmp(a, "--port") == 0 && v)
			port = num_arg(v, 0, 65535);
		else if (strcmp(a, "--port-file") == 0 && v)
			port_file = v;
		else if (strcmp(a, "--out") == 0 && v)
			out.dir = v;
		else if (!smtp && strcmp(a, "--status") == 0 && v)
			reply.status = (int)num_arg(v, 100, 599);
		else if (!smtp && strcmp(a, "--body") == 0 && v)
			reply.body = v;
		else if (!smtp && strcmp(a, "--delay-ms") == 0 && v)
			reply.delay_ms = (int)num_arg(v, 0, 3600000);
		else if (!smtp && strcmp(a, "--close") == 0)
			reply.close = 1, takes = 0;
		else if (smtp && strcmp(a, "--auth") == 0)
			beh.auth = 1, takes = 0;
		else if (smtp && strcmp(a, "--fail-code") == 0 && v)
			beh.fail_code = (int)num_arg(v, 200, 599);
		else if (smtp && strcmp(a, "--fail-at") == 0 && v) {
			static const char *const at[] = { "mail", "rcpt", "data", "end" };
			static const int code[] = { SMTP_SINK_AT_MAIL, SMTP_SINK_AT_RCPT, SMTP_SINK_AT_DATA,
						    SMTP_SINK_AT_END };
			beh.fail_at = -1;
			for (size_t j = 0; j < sizeof(at) / sizeof(*at); j++)
				if (strcmp(v, at[j]) == 0)
					beh.fail_at = code[j];
			if (beh.fail_at < 0)
				usage();
		} else
			usage();
		k += takes;
	}

	/* Signals are taken synchronously by sigwait(); block them before any
	 * thread exists so the server thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	char err[256];
	http_sink *hs = NULL;
	smtp_sink *ss = NULL;
	uint16_t bound;
	if (smtp) {
		if (smtp_sink_start(NULL, (uint16_t)port, &ss, err, sizeof(err)) != 0) {
			fprintf(stderr, "sinkd: %s\n", err);
			return 1;
		}
		smtp_sink_set_behaviour(ss, &beh);
		if (out.dir)
			smtp_sink_on_message(ss, on_smtp, &out);
		bound = smtp_sink_port(ss);
	} else {
		if (http_sink_start(NULL, (uint16_t)port, &hs, err, sizeof(err)) != 0) {
			fprintf(stderr, "sinkd: %s\n", err);
			return 1;
		}
		http_sink_set_reply(hs, &reply);
		if (out.dir)
			http_sink_on_request(hs, on_http, &out);
		bound = http_sink_port(hs);
	}
	if (port_file) {
		char num[16];
		int n = snprintf(num, sizeof(num), "%u\n", (unsigned)bound);
		if (write_atomic(port_file, num, (size_t)n) != 0) {
			fprintf(stderr, "sinkd: cannot write %s: %s\n", port_file, strerror(errno));
			http_sink_stop(hs);
			smtp_sink_stop(ss);
			return 1;
		}
	}

	int sig;
	while (sigwait(&set, &sig) != 0)
		;
	http_sink_stop(hs);
	smtp_sink_stop(ss);
	return 0;
}
