/* plugin_host.c: stepup-plugin-host, the program a plugin configured
 * "isolation": "process" runs in (plugin_proc.h).
 *
 *   stepup-plugin-host --name NAME --parent=PID [--uid=N --gid=N]
 *
 * Started by the host with the call channel on descriptor 3, the log
 * channel on 1, 2 and 4, and the module's private copy on 5. It switches
 * user when told to (it must be root then), makes itself undumpable and
 * unable to gain privileges, loads the module from descriptor 5 when the
 * INIT frame comes, then answers one frame at a time until the host sends
 * FINI or goes away. Not meant to be run by hand. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stepup/error.h>
#include <stepup/plugin.h>
#include <stepup/stepup.h>

#include "plugin_loader.h"
#include "plugin_wire.h"

#define CALL_FD 3
#define LOG_FD 4
#define MODULE_FD 5

static void child_log(void *ctx, int level, const char *msg)
{
	char buf[1024];
	size_t n = strlen(msg);
	(void)ctx;
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[0] = SU_WIRE_LOG_MARK;
	buf[1] = (char)level;
	memcpy(buf + 2, msg, n);
	/* Never blocks: a host that does not read fast enough loses lines,
	 * not the call. */
	ssize_t w = send(LOG_FD, buf, n + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)w;
}

static void fatal(const char *what)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "stepup-plugin-host: %s: %s", what, strerror(errno));
	child_log(NULL, STEPUP_PLUGIN_LOG_ERROR, msg);
	_exit(70);
}

static void drop_privileges(const char *uid_s, const char *gid_s)
{
	char *end;
	unsigned long uid = strtoul(uid_s, &end, 10), gid;
	if (*end)
		fatal("bad --uid");
	gid = strtoul(gid_s, &end, 10);
	if (*end)
		fatal("bad --gid");
	if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0)
		fatal("cannot switch user");
	/* No way back. */
	if (uid != 0 && (setuid(0) == 0 || geteuid() == 0))
		fatal("still able to become root");
}

/* The host died (killed, crashed): end too, even in the middle of a call
 * that never returns. A child only notices the host's end when it next
 * reads from it, which a hung plugin never does. */
static pid_t parent;

static void *watch_parent(void *arg)
{
	(void)arg;
	for (;;) {
		sleep(1);
		if (getppid() != parent)
			_exit(0);
	}
	return NULL;
}

static void reply_result(su_wbuf *w, int st, const char *err, const char *o1, const char *o2)
{
	su_wire_begin(w, SU_W_RESULT);
	su_wire_i64(w, st);
	su_wire_str(w, err);
	su_wire_str(w, o1);
	su_wire_str(w, o2);
}

/* One interface call (SU_W_CALL): its answer into w. */
static void do_call(su_plugin *p, su_rbuf *r, su_wbuf *w)
{
	const stepup_plugin_desc *d = su_plugin_desc(p);
	void *state = su_plugin_state(p);
	char err[160] = "";
	char *o1 = NULL, *o2 = NULL;
	int64_t op = su_wire_get_i64(r);
	stepup_call_ctx ctx = { sizeof(ctx), 0, 0, err, sizeof(err) };
	int st = STEPUP_PLUGIN_EINVAL;

	ctx.deadline_ms = su_wire_get_i64(r);
	ctx.timeout_ms = (uint32_t)su_wire_get_i64(r);
	switch (r->bad ? -1 : op) {
	case SU_POP_CAN_DELIVER: {
		const char *dest = su_wire_get_str(r);
		if (!r->bad && d->otp)
			st = d->otp->can_deliver(state, &ctx, dest);
		break;
	}
	case SU_POP_DELIVER: {
		stepup_otp_message m = { sizeof(m), NULL, NULL, 0, NULL, NULL, NULL };
		m.destination = su_wire_get_str(r);
		m.otp = su_wire_get_str(r);
		m.expires_at = su_wire_get_i64(r);
		m.reason = su_wire_get_str(r);
		m.pan_suffix = su_wire_get_str(r);
		m.language = su_wire_get_str(r);
		if (!r->bad && d->otp)
			st = d->otp->deliver_otp(state, &ctx, &m);
		break;
	}
	case SU_POP_NOTIFY: {
		const char *dest = su_wire_get_str(r), *text = su_wire_get_str(r), *lang = su_wire_get_str(r);
		if (!r->bad && d->otp)
			st = d->otp->notify(state, &ctx, dest, text, lang);
		break;
	}
	case SU_POP_DESCRIBE: {
		const char *lang = su_wire_get_str(r);
		if (!r->bad && d->inapp)
			st = d->inapp->describe(state, &ctx, lang, &o1);
		break;
	}
	case SU_POP_START: {
		stepup_inapp_request q = { sizeof(q), NULL, NULL, NULL, 0 };
		q.decision_id = su_wire_get_str(r);
		q.request_json = su_wire_get_str(r);
		q.language = su_wire_get_str(r);
		q.expires_at = su_wire_get_i64(r);
		if (!r->bad && d->inapp)
			st = d->inapp->start(state, &ctx, &q);
		break;
	}
	case SU_POP_VERIFY: {
		const char *id = su_wire_get_str(r), *proof = su_wire_get_str(r);
		if (!r->bad && d->inapp)
			st = d->inapp->verify(state, &ctx, id, proof);
		break;
	}
	case SU_POP_ROUTE: {
		stepup_cs_route route = { NULL, NULL };
		const char *req = su_wire_get_str(r);
		int64_t line = su_wire_get_i64(r);
		if (!r->bad && d->cs) {
			st = d->cs->route(state, &ctx, req, (int)line, &route);
			o1 = route.number;
			o2 = route.hours;
		}
		break;
	}
	case SU_POP_ACCOUNT: {
		stepup_account_query q = { sizeof(q), NULL, NULL, NULL, NULL, NULL };
		const stepup_account_source *a = su_plugin_account(p);
		q.pan = su_wire_get_str(r);
		q.expiry_month = su_wire_get_str(r);
		q.expiry_year = su_wire_get_str(r);
		q.csc = su_wire_get_str(r);
		q.request_id = su_wire_get_str(r);
		if (!r->bad && a && q.pan)
			st = a->lookup(state, &ctx, &q, &o1);
		break;
	}
	default:
		snprintf(err, sizeof(err), "unknown call");
	}
	err[sizeof(err) - 1] = '\0';
	reply_result(w, st, err, o1, o2);
	if (o1)
		explicit_bzero(o1, strlen(o1));
	free(o1);
	free(o2);
}

/* One rule function call (SU_W_FN). */
static void do_fn(su_plugin *p, su_rbuf *r, su_wbuf *w)
{
	su_plugin_arg a[STEPUP_PLUGIN_MAX_ARGS], ret;
	int64_t fn = su_wire_get_i64(r);
	(void)su_wire_get_i64(r);  /* the deadline: rule functions have no context to take it */
	const char *args = fn >= 0 && fn < (int64_t)su_plugin_nfunctions(p) ? su_plugin_fn_args(p, (unsigned)fn) : NULL;
	int ok = args != NULL;
	for (unsigned i = 0; ok && args[i]; i++) {
		switch (args[i]) {
		case 'i': a[i].i = su_wire_get_i64(r); break;
		case 'd': a[i].d = su_wire_get_f64(r); break;
		case 'b': a[i].b = su_wire_get_i64(r) != 0; break;
		default: a[i].s = (char *)su_wire_get_str(r); ok = a[i].s != NULL; break;
		}
	}
	ok = ok && !r->bad;
	ret.s = NULL;
	if (ok)
		ok = su_plugin_call(p, (unsigned)fn, a, &ret) == STEPUP_OK;
	su_wire_begin(w, SU_W_FN_RESULT);
	su_wire_i64(w, ok);
	if (ok) {
		switch (su_plugin_fn_ret(p, (unsigned)fn)) {
		case 'i': su_wire_i64(w, ret.i); break;
		case 'd': su_wire_f64(w, ret.d); break;
		case 'b': su_wire_i64(w, ret.b); break;
		default:
			su_wire_str(w, ret.s);
			free(ret.s);
		}
	}
}

static void send_or_die(su_wbuf *w)
{
	if (su_wire_end(w) < 0) {
		/* Too large or out of memory: say so in a frame that fits. */
		su_wire_begin(w, SU_W_RESULT);
		su_wire_i64(w, STEPUP_PLUGIN_ERROR);
		su_wire_str(w, "the answer is too large or memory ran out");
		su_wire_str(w, NULL);
		su_wire_str(w, NULL);
		su_wire_end(w);
	}
	if (su_wire_send(CALL_FD, w, 0) < 0)
		_exit(0);  /* the host went away */
	su_wire_wipe(w);
}

int main(int argc, char **argv)
{
	const char *uid = NULL, *gid = NULL;
	su_wbuf in = { 0 }, out = { 0 };
	su_rbuf r;
	su_plugin *p = NULL;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--uid=", 6) == 0)
			uid = argv[i] + 6;
		else if (strncmp(argv[i], "--gid=", 6) == 0)
			gid = argv[i] + 6;
		else if (strncmp(argv[i], "--parent=", 9) == 0)
			parent = (pid_t)atol(argv[i] + 9);
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			i++;  /* for ps(1) only */
	}
	if (fcntl(CALL_FD, F_GETFD) < 0 || fcntl(LOG_FD, F_GETFD) < 0 || fcntl(MODULE_FD, F_GETFD) < 0) {
		fprintf(stderr, "stepup-plugin-host: started by stepup only (descriptors 3, 4 and 5)\n");
		return 64;
	}
	/* Card data passes through here (account lookups): no core file,
	 * no ptrace by other processes of this user. */
	struct rlimit no = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (uid && gid)
		drop_privileges(uid, gid);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pthread_t watcher;
	if (parent <= 0 || getppid() != parent || pthread_create(&watcher, NULL, watch_parent, NULL) != 0)
		return 0;  /* the host is already gone */
	/* stdout and stderr are the log channel: never block on it. */
	fcntl(LOG_FD, F_SETFL, fcntl(LOG_FD, F_GETFL) | O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);

	if (su_wire_recv(CALL_FD, &in, &r, 0) < 0 || su_wire_kind(&r) != SU_W_INIT)
		return 0;
	{
		const char *path = su_wire_get_str(&r), *name = su_wire_get_str(&r);
		char *config = (char *)su_wire_get_str(&r);
		unsigned flags = (unsigned)su_wire_get_i64(&r);
		char err[512] = "";
		su_module m = { NULL, MODULE_FD, "" };
		int rc = STEPUP_EPLUGIN;
		(void)name;
		if (r.bad || !path || !config || !(m.path = strdup(path)))
			snprintf(err, sizeof(err), "bad INIT frame");
		else
			rc = su_plugin_load_module(&m, config, flags & SU_PLUGIN_CHECK_ONLY, child_log, NULL, &p,
						   err, sizeof(err));
		if (config)
			explicit_bzero(config, strlen(config));
		su_wire_wipe(&in);
		if (rc != STEPUP_OK) {
			su_wire_begin(&out, SU_W_INIT_ERR);
			su_wire_i64(&out, rc);
			su_wire_str(&out, err);
			send_or_die(&out);
			return 0;
		}
	}
	su_wire_begin(&out, SU_W_INIT_OK);
	su_wire_str(&out, su_plugin_name(p));
	su_wire_str(&out, su_plugin_version(p));
	su_wire_i64(&out, su_plugin_desc(p)->abi_minor);
	su_wire_i64(&out, su_plugin_provides(p));
	su_wire_str(&out, su_plugin_data_version(p));
	su_wire_i64(&out, su_plugin_nfunctions(p));
	for (unsigned k = 0; k < su_plugin_nfunctions(p); k++) {
		char sig[STEPUP_PLUGIN_MAX_ARGS + 4];
		snprintf(sig, sizeof(sig), "%s->%c", su_plugin_fn_args(p, k), su_plugin_fn_ret(p, k));
		su_wire_str(&out, su_plugin_fn_name(p, k));
		su_wire_str(&out, sig);
	}
	send_or_die(&out);

	for (;;) {
		if (su_wire_recv(CALL_FD, &in, &r, 0) < 0)
			_exit(0);  /* the host is gone: no fini, nobody to answer */
		switch (su_wire_kind(&r)) {
		case SU_W_CALL:
			do_call(p, &r, &out);
			break;
		case SU_W_FN:
			do_fn(p, &r, &out);
			break;
		case SU_W_FINI:
			su_plugin_unload(p);
			reply_result(&out, STEPUP_PLUGIN_OK, NULL, NULL, NULL);
			send_or_die(&out);
			su_wire_free(&in);
			su_wire_free(&out);
			return 0;
		default:
			reply_result(&out, STEPUP_PLUGIN_EINVAL, "unknown frame", NULL, NULL);
		}
		su_wire_wipe(&in);
		send_or_die(&out);
	}
}
