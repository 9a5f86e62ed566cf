/* fuzz_lifecycle.c: libFuzzer target for the step-up lifecycle's JSON
 * calls (include/stepup/lifecycle.h): stepup_cases_deliver_otp_json,
 * stepup_cases_activate_json and stepup_cases_get_json, on a fresh SQLite
 * case store per input holding two pending cases (YELLOW decisions of an
 * engine on rules/default.rules and rules/issuer.example.json, with every
 * method), served by a recording fake channel.
 *
 * Input: up to 8 calls, one per line. A line's first byte picks the call,
 * the rest is its argument:
 *   D<body>   Deliver OTP          A<body>   activation
 *   G<id>     case read            T         expiry sweep (stepup_cases_tick)
 * (any other first byte: Deliver OTP with the whole line). In the argument
 * "@1" and "@2" stand for the two cases' decision ids and "@T" for a time
 * five minutes ahead (Unix seconds), so mutations reach the paths behind
 * a known case. After the calls, pending notifications (in-app starts,
 * end-user messages) are delivered to the channel and the store closed.
 *
 * The fake channel (this file built with -DFUZZ_CHANNEL into a plugin,
 * fuzz/run.sh) serves OTP_SMS, OTP_EMAIL and IN_APP, accepts a proof
 * holding "signature":"good", and hands everything it is given to the
 * target through fuzz_channel_sink.
 *
 * Invariants (abort() = a crash libFuzzer reports):
 *  - every call answers a body, *outlen its length, and the body is one
 *    JSON object: on 200 a success, otherwise {"error": {"code",
 *    "message"}} with the code the HTTP status documents
 *    (docs/lifecycle.md); the status is 200, 400, 404, 409, 410, 413, 422,
 *    429 or 502 (500 and 503 would mean a broken store on a healthy disk)
 *    and the stepup_status matches it;
 *  - card numbers (docs/pci.md, stepup_card_number_find): none in any
 *    answer, log line, stored row (every text column of cases and outbox)
 *    or anything the channel received; and the digits of each card number
 *    written in the input appear, in any spelling, in none of those nor in
 *    the database and WAL files' bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FUZZ_CHANNEL
/* ---- the fake channel plugin ------------------------------------------------ */
#include <stepup/plugin.h>

/* Set by the target after loading the plugin. */
__attribute__((visibility("default"))) void (*fuzz_channel_sink)(const char *op, const char *text);

static const stepup_host_api *host;

static void sink(const char *op, const char *text)
{
	if (fuzz_channel_sink)
		fuzz_channel_sink(op, text ? text : "");
}

static int ch_init(const stepup_host_api *h, void *host_ctx, const char *config_json, void **state,
                   char *err, size_t errlen)
{
	(void)host_ctx;
	(void)config_json;
	(void)err;
	(void)errlen;
	host = h;
	*state = NULL;
	return STEPUP_PLUGIN_OK;
}

static void ch_fini(void *state)
{
	(void)state;
}

static int ch_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	(void)state;
	(void)ctx;
	sink("can_deliver", destination);
	return STEPUP_PLUGIN_OK;
}

static int ch_deliver(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *m)
{
	char when[32];
	(void)state;
	(void)ctx;
	snprintf(when, sizeof(when), "%lld", (long long)m->expires_at);
	sink("deliver.destination", m->destination);
	sink("deliver.otp", m->otp);
	sink("deliver.expires_at", when);
	sink("deliver.reason", m->reason);
	sink("deliver.pan_suffix", m->pan_suffix);
	sink("deliver.language", m->language);
	return STEPUP_PLUGIN_OK;
}

static int ch_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
                     const char *text, const char *language)
{
	(void)state;
	(void)ctx;
	sink("notify.destination", destination);
	sink("notify.text", text);
	sink("notify.language", language);
	return STEPUP_PLUGIN_OK;
}

static int ch_describe(void *state, const stepup_call_ctx *ctx, const char *language,
                       char **app_json)
{
	static const char app[] = "{\"app_id\":\"com.example.fuzz\"}";
	(void)state;
	(void)ctx;
	(void)language;
	if (!(*app_json = host->alloc(sizeof(app))))
		return STEPUP_PLUGIN_ERROR;
	memcpy(*app_json, app, sizeof(app));
	return STEPUP_PLUGIN_OK;
}

static int ch_start(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req)
{
	(void)state;
	(void)ctx;
	sink("start.decision_id", req->decision_id);
	sink("start.request", req->request_json);
	sink("start.language", req->language);
	return STEPUP_PLUGIN_OK;
}

static int ch_verify(void *state, const stepup_call_ctx *ctx, const char *decision_id,
                     const char *proof_json)
{
	(void)state;
	(void)ctx;
	sink("verify.decision_id", decision_id);
	sink("verify.proof", proof_json);
	if (strstr(proof_json, "\"signature\":\"garbled\""))
		return STEPUP_PLUGIN_EINVAL;
	return strstr(proof_json, "\"signature\":\"good\"") ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_REJECTED;
}

static const stepup_otp_channel ch_otp = {
	sizeof(stepup_otp_channel), ch_can_deliver, ch_deliver, ch_notify,
};
static const stepup_inapp ch_inapp = {
	sizeof(stepup_inapp), ch_describe, ch_start, ch_verify,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "fuzz_channel",
	.version = "0.0.1",
	.init = ch_init,
	.fini = ch_fini,
	.otp = &ch_otp,
	.inapp = &ch_inapp,
};

#else
/* ---- the target ----------------------------------------------------------------- */
#include <dlfcn.h>
#include <jansson.h>
#include <link.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <stepup/lifecycle.h>
#include <stepup/stepup.h>

#include "common.h"

#ifndef FUZZ_RULES
#define FUZZ_RULES "rules/default.rules"
#endif
#ifndef FUZZ_SETTINGS
#define FUZZ_SETTINGS "rules/issuer.example.json"
#endif
#ifndef FUZZ_REQUEST
#define FUZZ_REQUEST "tests/data/sample-request.json"
#endif
#ifndef FUZZ_CHANNEL_DIR
#define FUZZ_CHANNEL_DIR "."
#endif

#define MAX_CALLS 8
#define MAX_CARDS 32

static stepup_engine *engine;
static stepup_plugins *plugins;
static char *request;
static char dir[256], db[300], wal[310], shm[310];
static char *config;

/* What a run let out: answers, log lines, channel data (NUL-separated). */
typedef struct text {
	char *s;
	size_t len, cap;
} text;

static text channel, logged;
static pthread_mutex_t text_mu = PTHREAD_MUTEX_INITIALIZER;

static void text_add(text *t, const char *s, size_t n)
{
	pthread_mutex_lock(&text_mu);
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->s = realloc(t->s, t->cap);
		CHECK(t->s);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len++] = '\n';
	t->s[t->len] = '\0';
	pthread_mutex_unlock(&text_mu);
}

static void channel_sink(const char *op, const char *s)
{
	(void)op;
	text_add(&channel, s, strlen(s));
}

static void log_cb(void *ctx, int level, const char *source, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)source;
	text_add(&logged, msg, strlen(msg));
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, k;
	if (!f)
		return NULL;
	do {
		if (n + 65536 > cap) {
			cap = (n + 65536) * 2;
			buf = realloc(buf, cap);
			CHECK(buf);
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
	} while (k > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

static void cleanup(void)
{
	unlink(db);
	unlink(wal);
	unlink(shm);
	rmdir(dir);
}

/* dl_iterate_phdr: the sink of the channel among the loaded objects. */
static int find_sink(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	void *h = info->dlpi_name && info->dlpi_name[0] ? dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD) : NULL;
	void *sym = h ? dlsym(h, "fuzz_channel_sink") : NULL;
	if (h)
		dlclose(h);
	if (!sym)
		return 0;
	*(void **)arg = sym;
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512] = "", cfg[1024];
	(void)argc;
	(void)argv;
	const char *tmp = env_or("TMPDIR", "/tmp");
	snprintf(dir, sizeof(dir), "%s/stepup-fuzz-lifecycle-XXXXXX", tmp);
	CHECK(mkdtemp(dir));
	snprintf(db, sizeof(db), "%s/cases.db", dir);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(shm, sizeof(shm), "%s-shm", db);
	atexit(cleanup);

	snprintf(cfg, sizeof(cfg),
	         "{\"plugins\":{\"path\":[\"%s\"],\"timeout_ms\":2000,"
	         "\"load\":[{\"module\":\"fuzz_lifecycle_channel\",\"name\":\"ch\",\"isolation\":\"inline\"}],"
	         "\"methods\":{\"OTP_SMS\":\"ch\",\"OTP_EMAIL\":\"ch\",\"IN_APP\":\"ch\"}}}",
	         env_or("STEPUP_FUZZ_CHANNEL_DIR", FUZZ_CHANNEL_DIR));
	if (stepup_plugins_load(cfg, NULL, NULL, NULL, &plugins, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_lifecycle: plugins: %s\n", err);
		abort();
	}
	/* The channel is loaded RTLD_LOCAL, from a private copy of its module
	 * (docs/plugins.md): find the loaded object that has its sink. */
	void (**sinkp)(const char *, const char *) = NULL;
	CHECK(dl_iterate_phdr(find_sink, &sinkp) == 1 && sinkp);
	*sinkp = channel_sink;

	stepup_ruleset *rs = NULL;
	char *settings = slurp(env_or("STEPUP_FUZZ_SETTINGS", FUZZ_SETTINGS), NULL);
	CHECK(settings);
	if (stepup_ruleset_load(env_or("STEPUP_FUZZ_RULES", FUZZ_RULES), &rs, err, sizeof(err)) !=
	        STEPUP_OK ||
	    stepup_engine_new_with_plugins(rs, plugins, settings, &engine, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_lifecycle: engine: %s\n", err);
		abort();
	}
	stepup_ruleset_unref(rs);
	free(settings);
	request = slurp(env_or("STEPUP_FUZZ_REQUEST", FUZZ_REQUEST), NULL);
	CHECK(request);

	/* No webhook: nothing leaves the process but through the channel. */
	CHECK(asprintf(&config,
	               "{\"cases\":{\"path\":\"%s\",\"background\":false,\"ttl_seconds\":900,"
	               "\"max_otp_sends\":3,\"notify_end_user\":{\"enabled\":true,"
	               "\"method\":[\"OTP_SMS\",\"OTP_EMAIL\"],\"templates\":{\"en\":"
	               "\"Your card ending {pan_suffix} was added to {wallet}.\"}}}}",
	               db) > 0);
	return 0;
}

/* ---- oracles ----------------------------------------------------------------------- */

/* The scans below read whole database files: kept out of the coverage
 * feedback (they are the oracle, not the code under test) and fast. */
#define ORACLE __attribute__((no_sanitize("coverage")))

ORACLE static int is_sep(unsigned char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == ':' || c == '+' || c == '_';
}

ORACLE static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The digits of digits[] in data, in order, with only separators between,
 * as a whole run (no digit right before or after): the card number in any
 * spelling, not the same digits inside a longer number that the policy
 * does not call a card number. */
ORACLE static int holds_digits(const char *data, size_t len, const char *digits)
{
	size_t nd = strlen(digits);
	for (const char *p = data; (p = memchr(p, digits[0], len - (size_t)(p - data))); p++) {
		size_t i = (size_t)(p - data), k = 0, j = i;
		if (i > 0 && is_digit(data[i - 1]))
			continue;
		while (k < nd && j < len) {
			if (data[j] == digits[k])
				k++, j++;
			else if (k > 0 && is_sep((unsigned char)data[j]))
				j++;
			else
				break;
		}
		if (k == nd && (j == len || !is_digit(data[j])))
			return 1;
	}
	return 0;
}

static char cards[MAX_CARDS][20];
static size_t ncards;

/* The card numbers written in the input, as digits. */
static void find_cards(const char *in, size_t len)
{
	size_t off = 0, st, en;
	ncards = 0;
	while (off < len && ncards < MAX_CARDS && stepup_card_number_find(in + off, len - off, &st, &en)) {
		size_t k = 0;
		for (size_t i = off + st; i < off + en && k < 19; i++)
			if (in[i] >= '0' && in[i] <= '9')
				cards[ncards][k++] = in[i];
		cards[ncards][k] = '\0';
		int seen = k < 13;
		for (size_t i = 0; i < ncards && !seen; i++)
			seen = strcmp(cards[i], cards[ncards]) == 0;
		if (!seen)
			ncards++;
		off += st + 1;  /* overlapping windows hold others */
	}
}

/* No card number by the policy, and none of the input's, in data. */
ORACLE static void no_card(const char *what, const char *data, size_t len, int policy)
{
	if (!data)
		return;
	if (policy && stepup_card_number_find(data, len, NULL, NULL)) {
		fprintf(stderr, "fuzz_lifecycle: %s holds a card number: %.*s\n", what, (int)(len > 2000 ? 2000 : len), data);
		CHECK(!"a card number came out");
	}
	for (size_t i = 0; i < ncards; i++)
		if (holds_digits(data, len, cards[i])) {
			fprintf(stderr, "fuzz_lifecycle: %s holds the input's card number %s: %.*s\n", what, cards[i], (int)(len > 2000 ? 2000 : len), data);
			CHECK(!"an input card number came out");
		}
}

static const struct {
	int http, status;
	const char *code;
} answers[] = {
	{ 200, STEPUP_OK, NULL },
	{ 400, STEPUP_EBADREQ, "bad_request" },
	{ 404, STEPUP_ENOTFOUND, "case_not_found" },
	{ 409, STEPUP_ECONFLICT, "case_activated" },
	{ 409, STEPUP_ECONFLICT, "case_declined" },
	{ 409, STEPUP_ECONFLICT, "method_not_offered" },
	{ 409, STEPUP_ECONFLICT, "otp_not_sent" },
	{ 409, STEPUP_ECONFLICT, "activation_conflict" },
	{ 410, STEPUP_ESTATE, "case_expired" },
	{ 413, STEPUP_ETOOBIG, "body_too_large" },
	{ 422, STEPUP_EBADREQ, "invalid_proof" },
	{ 429, STEPUP_ETOOBIG, "otp_send_limit" },
	{ 502, STEPUP_EPLUGIN, "channel_failed" },
};

static void check_answer(int rc, int http, const char *out, size_t outlen)
{
	CHECK(out);
	CHECK(strlen(out) == outlen);
	json_error_t je;
	json_t *body = json_loadb(out, outlen, 0, &je);
	CHECK(json_is_object(body));
	json_t *e = json_object_get(body, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	int known = 0;
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (answers[i].http == http && answers[i].status == rc &&
		    (http == 200 ? !e : code && strcmp(code, answers[i].code) == 0))
			known = 1;
	if (!known)
		fprintf(stderr, "fuzz_lifecycle: undocumented answer: status %d, HTTP %d: %s\n", rc, http, out);
	CHECK(known);
	if (http != 200)
		CHECK(json_is_string(json_object_get(e, "message")));
	else
		CHECK(json_is_string(json_object_get(body, "decision_id")));
	json_decref(body);
	no_card("an answer", out, outlen, 1);
}

/* Every text column of both tables: no card number. */
static void check_rows(void)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	static const char *const queries[] = { "SELECT * FROM cases", "SELECT * FROM outbox" };
	CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	for (size_t q = 0; q < 2; q++) {
		CHECK(sqlite3_prepare_v2(h, queries[q], -1, &st, NULL) == SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW)
			for (int k = 0; k < sqlite3_column_count(st); k++) {
				const char *v = (const char *)sqlite3_column_text(st, k);
				if (v)
					no_card("a stored row", v, strlen(v), 1);
			}
		sqlite3_finalize(st);
	}
	sqlite3_close(h);
}

static void check_file(const char *path)
{
	size_t len = 0;
	char *data = slurp(path, &len);
	no_card(path, data, len, 0);
	free(data);
}

/* ---- one input ---------------------------------------------------------------------- */

/* Record the case of a YELLOW decision; its id into id. */
static void open_case(stepup_cases *c, char id[80])
{
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out;
	size_t len;
	char err[256] = "";
	CHECK(stepup_decide_json(engine, r, d, request, strlen(request), 0, &out, &len) == STEPUP_OK);
	CHECK(stepup_decision_outcome(d) == STEPUP_YELLOW);
	if (stepup_cases_record(c, engine, r, d, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_lifecycle: record: %s\n", err);
		abort();
	}
	snprintf(id, 80, "%s", stepup_decision_id(d));
	stepup_decision_free(d);
	stepup_request_free(r);
}

/* arg[0..n) with @1, @2 and @T replaced; malloc'd, *outlen bytes. */
static char *expand(const char *arg, size_t n, const char *id1, const char *id2, size_t *outlen)
{
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL) + 300);
	size_t cap = n * 8 + 1, o = 0;
	char *s = malloc(cap);
	CHECK(s);
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		if (arg[i] == '@' && i + 1 < n)
			rep = arg[i + 1] == '1' ? id1 : arg[i + 1] == '2' ? id2 : arg[i + 1] == 'T' ? t : NULL;
		if (rep) {
			size_t k = strlen(rep);
			if (o + k + 1 > cap) {
				cap = (o + k + 1) * 2;
				s = realloc(s, cap);
				CHECK(s);
			}
			memcpy(s + o, rep, k);
			o += k;
			i++;
		} else {
			if (o + 2 > cap) {
				cap *= 2;
				s = realloc(s, cap);
				CHECK(s);
			}
			s[o++] = arg[i];
		}
	}
	s[o] = '\0';
	*outlen = o;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char err[512] = "", id1[80], id2[80];
	stepup_cases *c = NULL;

	if (size > 65536)
		return 0;
	unlink(db);
	unlink(wal);
	unlink(shm);
	channel.len = logged.len = 0;
	if (stepup_cases_open(config, NULL, plugins, log_cb, NULL, &c, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "fuzz_lifecycle: open: %s\n", err);
		abort();
	}
	open_case(c, id1);
	open_case(c, id2);
	find_cards(in, size);

	size_t pos = 0;
	for (int k = 0; k < MAX_CALLS && pos < size; k++) {
		const char *nl = memchr(in + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (in + pos)) : size - pos;
		const char *line = in + pos;
		pos += n + (nl != NULL);
		if (n == 0)
			continue;
		char op = line[0];
		const char *arg = op == 'D' || op == 'A' || op == 'G' || op == 'T' ? line + 1 : line;
		size_t alen = n - (size_t)(arg - line), blen;
		char *body = expand(arg, alen, id1, id2, &blen);
		char *out = NULL;
		size_t outlen = 0;
		int http = 0, rc;
		switch (op) {
		case 'A':
			rc = stepup_cases_activate_json(c, body, blen, &out, &outlen, &http);
			break;
		case 'G':
			rc = stepup_cases_get_json(c, body, &out, &outlen, &http);
			break;
		case 'T':
			CHECK(stepup_cases_tick(c, NULL) == STEPUP_OK);
			free(body);
			continue;
		default:
			rc = stepup_cases_deliver_otp_json(c, body, blen, &out, &outlen, &http);
			break;
		}
		check_answer(rc, http, out, outlen);
		free(out);
		free(body);
	}
	/* What the calls queued goes to the channel now. */
	int fr = stepup_cases_flush(c, 0);
	CHECK(fr == STEPUP_OK || fr == STEPUP_ETIMEOUT);
	check_file(db);
	check_file(wal);
	stepup_cases_stats st;
	stepup_cases_stats_get(c, &st);
	CHECK(st.store_errors == 0);
	stepup_cases_close(c);
	check_rows();
	check_file(db);
	no_card("the channel's input", channel.s, channel.len, 1);
	no_card("the log", logged.s, logged.len, 1);
	return 0;
}
#endif
