/* smtp_sink.h: a tiny SMTP server for tests that accepts mail and keeps
 * it. It listens on 127.0.0.1 (ephemeral port by default), speaks the
 * commands a submission client uses (EHLO/HELO, AUTH PLAIN/LOGIN when
 * enabled, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP,
 * QUIT) and records each accepted message with its envelope. It can be
 * told to delay or skip its greeting, or to fail one stage with a given
 * reply code.
 *
 * One server thread, one session at a time (like http_sink). A message is
 * recorded when the final "." is accepted, before the 250 reply is sent.
 *
 * Threads: the setters and getters may be called from any thread. Records
 * returned by smtp_sink_get stay valid and unchanged until smtp_sink_clear
 * or smtp_sink_stop. */
#ifndef STEPUP_SMTP_SINK_H
#define STEPUP_SMTP_SINK_H

#include <stddef.h>
#include <stdint.h>

typedef struct smtp_sink smtp_sink;

typedef struct smtp_sink_message {
	char *helo;          /* argument of the last EHLO / HELO, or NULL */
	char *commands;      /* verbs of the session so far, "EHLO AUTH MAIL RCPT DATA" */
	char *auth_user;     /* from AUTH, or NULL */
	char *auth_password; /* from AUTH, or NULL (test credentials only) */
	char *mail_from;     /* reverse-path without the angle brackets */
	char *mail_params;   /* what follows the path ("SIZE=312"), may be "" */
	size_t nrcpt;
	char **rcpt;         /* forward-paths without the angle brackets */
	char *data;          /* the message as the client meant it: dot-unstuffed, */
	size_t data_len;     /* line ends as received, without the final ".\r\n" */
	size_t bare_lf;      /* lines of DATA that ended in "\n" without "\r" */
} smtp_sink_message;

/* Where the sink fails, with behaviour.fail_code. */
enum {
	SMTP_SINK_AT_NONE = 0,
	SMTP_SINK_AT_GREETING, /* answer fail_code instead of 220, then close */
	SMTP_SINK_AT_MAIL,
	SMTP_SINK_AT_RCPT,
	SMTP_SINK_AT_DATA,     /* the DATA command itself */
	SMTP_SINK_AT_END,      /* after the final ".": message not recorded */
};

typedef struct smtp_sink_behaviour {
	int greeting_delay_ms; /* wait before the greeting; ends early if the client leaves */
	int close_on_connect;  /* 1: close without a greeting */
	int fail_at;           /* SMTP_SINK_AT_* */
	int fail_code;         /* e.g. 550, 451, 554 (0: 550) */
	int auth;              /* 1: advertise AUTH PLAIN LOGIN and accept it */
	const char *password;  /* with auth: only this password is accepted (NULL: any) */
} smtp_sink_behaviour;

typedef void (*smtp_sink_cb)(void *arg, const smtp_sink_message *m);

/* Start listening on addr:port (NULL, 0: 127.0.0.1, ephemeral) and
 * serving in a new thread. 0, or -1 with a reason in err. */
int smtp_sink_start(const char *addr, uint16_t port, smtp_sink **out, char *err, size_t errlen);
/* Stop the thread (interrupting a session at once), close the socket and
 * free every record. NULL is a no-op. */
void smtp_sink_stop(smtp_sink *s);

uint16_t smtp_sink_port(const smtp_sink *s);
/* Copied; applies from the next session. */
void smtp_sink_set_behaviour(smtp_sink *s, const smtp_sink_behaviour *b);
/* Called on the server thread after each message is recorded; must not
 * call smtp_sink_clear or smtp_sink_stop. */
void smtp_sink_on_message(smtp_sink *s, smtp_sink_cb cb, void *arg);

size_t smtp_sink_count(smtp_sink *s);
/* Wait until at least n messages are recorded: 1, or 0 after timeout_ms. */
int smtp_sink_wait(smtp_sink *s, size_t n, int timeout_ms);
const smtp_sink_message *smtp_sink_get(smtp_sink *s, size_t i);
/* Number of sessions accepted so far (greeted or not). */
size_t smtp_sink_sessions(smtp_sink *s);
void smtp_sink_clear(smtp_sink *s);

/* The value of header `name` (case-insensitive) in m->data, unfolded,
 * without the leading blank, as a malloc'd string; NULL if absent. */
char *smtp_sink_header(const smtp_sink_message *m, const char *name);
/* The body: what follows the first empty line (borrowed), or NULL. */
const char *smtp_sink_body(const smtp_sink_message *m);

#endif
