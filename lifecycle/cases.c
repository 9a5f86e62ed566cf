/* cases.c: the step-up lifecycle API (include/stepup/lifecycle.h): the
 * case state machine behind Deliver OTP, activation and case reads.
 *
 *   PENDING_IDV --activation (IN_APP proof APPROVED, CUSTOMER_SERVICE,
 *                 OTP_*)----------------------------------> ACTIVATED
 *               --IN_APP proof saying DECLINED-----------> DECLINED
 *               --expires_ms passed (sweep, or lazily when
 *                 a call finds it due)--------------------> EXPIRED
 *
 * Every transition is one compare-and-set in the store together with its
 * outbox rows, so two racing activations make one transition, and a crash
 * can lose neither. Decisions about what a request may do are made here on
 * the case as read; the store re-checks the one condition that matters
 * (still pending, not due, under the send limit) atomically.
 *
 * Every JSON entry point answers with a body and the HTTP status it maps
 * to; error codes are the stable strings of docs/lifecycle.md. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc.h"
#include "util.h"

#define MAX_BODY_BYTES 65536

/* ---- small things --------------------------------------------------------- */

static const char *const status_names[SU_CASE_STATUS_COUNT] = {
	"PENDING_IDV", "ACTIVATED", "DECLINED", "EXPIRED",
};

const char *su_case_status_name(su_case_status s)
{
	return (unsigned)s < SU_CASE_STATUS_COUNT ? status_names[s] : "?";
}

int su_case_status_parse(const char *s)
{
	for (int i = 0; i < SU_CASE_STATUS_COUNT; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

int su_case_offers(const su_case *c, stepup_method m)
{
	for (unsigned i = 0; i < c->nmethods; i++)
		if (c->methods[i] == m)
			return 1;
	return 0;
}

void su_outbox_clear(su_outbox *o)
{
	free(o->payload);
	o->payload = NULL;
}

void su_lc_log(stepup_cases *c, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log(c->log_ctx, level, "cases", msg);
}

int64_t su_lc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void su_lc_time(int64_t ms, char buf[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char day[24];
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%.19s.%03uZ", day, (unsigned)((ms % 1000 + 1000) % 1000));
}

stepup_plugins *su_lc_plugins(stepup_cases *c)
{
	pthread_mutex_lock(&c->mu);
	stepup_plugins *p = stepup_plugins_ref(c->plugins);
	pthread_mutex_unlock(&c->mu);
	return p;
}

int su_lc_store_failed(stepup_cases *c, int rc, const char *what)
{
	char why[256];
	unsigned unlogged;
	atomic_fetch_add(&c->st.store_errors, 1);
	if (rc == STEPUP_EIO)
		c->store->ops->error(c->store, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "%s", stepup_strerror(rc));
	/* Keyed by the reason alone: a lost file fails every operation. */
	int64_t now = su_lc_now_ms();
	pthread_mutex_lock(&c->log_mu);
	if (strcmp(why, c->last_failure) == 0 && now - c->last_failure_ms < 60000) {
		c->failures_unlogged++;
		pthread_mutex_unlock(&c->log_mu);
		return rc;
	}
	snprintf(c->last_failure, sizeof(c->last_failure), "%s", why);
	c->last_failure_ms = now;
	unlogged = c->failures_unlogged;
	c->failures_unlogged = 0;
	pthread_mutex_unlock(&c->log_mu);
	if (unlogged)
		su_lc_log(c, STEPUP_LOG_ERROR,
		          "case store: %s: %s (%u failures for the previous reason were not logged)", what,
		          why, unlogged);
	else
		su_lc_log(c, STEPUP_LOG_ERROR, "case store: %s: %s", what, why);
	return rc;
}

/* ---- replies ------------------------------------------------------------- */

#define ERRORS(X)                                                          \
	X(BAD_REQUEST, "bad_request", 400, STEPUP_EBADREQ)                 \
	X(BODY_TOO_LARGE, "body_too_large", 413, STEPUP_ETOOBIG)           \
	X(CASE_NOT_FOUND, "case_not_found", 404, STEPUP_ENOTFOUND)         \
	X(CASE_EXPIRED, "case_expired", 410, STEPUP_ESTATE)                \
	X(CASE_ACTIVATED, "case_activated", 409, STEPUP_ECONFLICT)         \
	X(CASE_DECLINED, "case_declined", 409, STEPUP_ECONFLICT)           \
	X(METHOD_NOT_OFFERED, "method_not_offered", 409, STEPUP_ECONFLICT) \
	X(OTP_NOT_SENT, "otp_not_sent", 409, STEPUP_ECONFLICT)             \
	X(ACTIVATION_CONFLICT, "activation_conflict", 409, STEPUP_ECONFLICT) \
	X(INVALID_PROOF, "invalid_proof", 422, STEPUP_EBADREQ)             \
	X(OTP_SEND_LIMIT, "otp_send_limit", 429, STEPUP_ETOOBIG)           \
	X(CHANNEL_FAILED, "channel_failed", 502, STEPUP_EPLUGIN)           \
	X(STORE_UNAVAILABLE, "store_unavailable", 503, STEPUP_EIO)         \
	X(INTERNAL, "internal_error", 500, STEPUP_ENOMEM)

enum lc_error {
#define X(id, code, http, st) E_##id,
	ERRORS(X)
#undef X
};

static const struct {
	const char *code;
	int http;
	int status;
} errors[] = {
#define X(id, code, http, st) { code, http, st },
	ERRORS(X)
#undef X
};

typedef struct reply {
	char **out;
	size_t *outlen;
	int *http;
} reply;

/* Serialise body (stolen) into the reply. */
static int send_json(reply *rp, int http, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	*rp->out = text;
	*rp->outlen = text ? strlen(text) : 0;
	if (!text) {
		if (rp->http)
			*rp->http = 500;
		return STEPUP_ENOMEM;
	}
	if (rp->http)
		*rp->http = http;
	return status;
}

/* {"error": {"code", "message", "field"?, ...extra}}; extra is stolen. */
static int send_error(reply *rp, enum lc_error e, const char *field, json_t *extra,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int send_error(reply *rp, enum lc_error e, const char *field, json_t *extra,
                      const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *err = json_object();
	json_object_set_new(err, "code", json_string(errors[e].code));
	if (field)
		json_object_set_new(err, "field", json_string(field));
	json_object_set_new(err, "message", json_string(msg));
	if (extra)
		json_object_update(err, extra);
	json_decref(extra);
	json_t *body = json_object();
	json_object_set_new(body, "error", err);
	return send_json(rp, errors[e].http, errors[e].status, body);
}

static int store_error(stepup_cases *c, reply *rp, int rc, const char *what)
{
	su_lc_store_failed(c, rc, what);
	return send_error(rp, E_STORE_UNAVAILABLE, NULL, NULL, "the case store is unavailable; retry later");
}

static int id_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

/* A stepup decision id: 1 to 64 letters, digits, '_' and '-' (the form
 * stepup gives them). Card numbers are refused before this is asked. */
static int valid_decision_id(const char *s, size_t n)
{
	if (n < 1 || n > SU_DECISION_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!id_char(s[i]))
			return 0;
	return 1;
}

/* ---- card numbers: the one policy (docs/pci.md) ---------------------------
 *
 * Nothing a caller sends to the lifecycle is meant to hold a card number:
 * ids, method names, reasons, the OTP, the proof. So the whole body is
 * searched (every string, number and key, known fields or not) before
 * any field is read, and a body that holds one is refused with 400
 * naming where it is. Nothing of it is then quoted, stored, logged or
 * handed on. */

#define FIELD_MAX 96

static int holds_card(const char *s, size_t n)
{
	return stepup_card_number_find(s, n, NULL, NULL);
}

/* A key that may appear in an error's "field": short, of id characters,
 * no card number (the key is the caller's text, like a value). */
static int nameable(const char *k, size_t n)
{
	if (n == 0 || n > 40 || holds_card(k, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!id_char(k[i]))
			return 0;
	return 1;
}

/* Whether v (with everything in it) holds a card number. On the way down
 * field[0..len) grows by ".key" / "[i]" as long as each step can be
 * named; where it holds one, field is left naming the deepest nameable
 * place above it (the document itself: ""). */
static int card_in(json_t *v, char *field, size_t len, int naming)
{
	char num[48];
	switch (json_typeof(v)) {
	case JSON_STRING:
		return holds_card(json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return holds_card(num, strlen(num));
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return holds_card(num, strlen(num));
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m) {
			size_t kn = strlen(k);
			if (holds_card(k, kn))
				return 1;
			int named = naming && nameable(k, kn) && len + kn + 2 < FIELD_MAX;
			if (named)
				snprintf(field + len, FIELD_MAX - len, "%s%s", len ? "." : "", k);
			if (card_in(m, field, named ? strlen(field) : len, named))
				return 1;
			field[len] = '\0';
		}
		return 0;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m) {
			int named = naming && len && len + 24 < FIELD_MAX;
			if (named)
				snprintf(field + len, FIELD_MAX - len, "[%zu]", i);
			if (card_in(m, field, named ? strlen(field) : len, named))
				return 1;
			field[len] = '\0';
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* ---- request fields ------------------------------------------------------ */

/* The body as a JSON object holding no card number, or a 400/413 already
 * sent (returns NULL). */
static json_t *parse_body(reply *rp, const char *body, size_t len, int *rc)
{
	json_error_t je;
	json_t *root;
	if (!body) {
		*rc = send_error(rp, E_BAD_REQUEST, "", NULL, "empty body");
		return NULL;
	}
	if (len > MAX_BODY_BYTES) {
		*rc = send_error(rp, E_BODY_TOO_LARGE, NULL, NULL, "body larger than %u bytes",
		                 MAX_BODY_BYTES);
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		*rc = send_error(rp, E_BAD_REQUEST, "", NULL, "malformed JSON at line %d, column %d", je.line,
		                 je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*rc = send_error(rp, E_BAD_REQUEST, "", NULL, "the body must be a JSON object");
		return NULL;
	}
	char field[FIELD_MAX] = "";
	if (card_in(root, field, 0, 1)) {
		json_decref(root);
		*rc = send_error(rp, E_BAD_REQUEST, field, NULL,
		                 "%s holds a card number: refused, and not kept", field[0] ? field : "the body");
		return NULL;
	}
	return root;
}

/* A printable ASCII string of min..max bytes without spaces, or NULL with
 * *why set. Values are never quoted back: they may be anything. */
static const char *field_str(json_t *obj, const char *key, size_t min, size_t max, int required,
                             const char **why)
{
	json_t *v = json_object_get(obj, key);
	*why = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			*why = "is required";
		return NULL;
	}
	if (!json_is_string(v)) {
		*why = "must be a string";
		return NULL;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n < min || n > max || strlen(s) != n) {
		*why = "has a bad length";
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e) {
			*why = "must be printable ASCII without spaces";
			return NULL;
		}
	return s;
}

static int method_parse(const char *s)
{
	for (int m = 0; m < STEPUP_METHOD_COUNT; m++)
		if (strcmp(s, stepup_method_name((stepup_method)m)) == 0)
			return m;
	return -1;
}

/* ---- reading a case for a request ---------------------------------------- */

/* Close a due case as EXPIRED with its notifications. A lost race (someone
 * else closed it) is fine: the case is closed either way. */
int su_lc_expire(stepup_cases *c, const char *id)
{
	su_case cs, cur;
	su_outbox rows[2];
	size_t n = 0;
	int rc = c->store->ops->get(c->store, id, &cs);

	if (rc != STEPUP_OK)
		return rc;
	if (cs.status != SU_CASE_PENDING)
		return STEPUP_OK;
	cs.status = SU_CASE_EXPIRED;
	cs.closed_ms = su_lc_now_ms();
	memset(rows, 0, sizeof(rows));
	if ((rc = su_lc_close_rows(c, &cs, rows, &n)) != STEPUP_OK)
		goto out;
	rc = c->store->ops->close_case(c->store, &cs, rows, n, &cur);
	if (rc == STEPUP_OK) {
		atomic_fetch_add(&c->st.expired, 1);
		su_lc_log(c, STEPUP_LOG_INFO, "case %s EXPIRED", id);
		if (n)
			su_lc_notifier_kick(c);
	} else if (rc == STEPUP_ECONFLICT)
		rc = STEPUP_OK;
out:
	for (size_t i = 0; i < n; i++)
		su_outbox_clear(&rows[i]);
	explicit_bzero(&cs, sizeof(cs));
	return rc;
}

/* The answer for a request on a case that is not pending (or is due):
 * 404/409/410. Expires a due case on the way. */
static int refuse_closed(stepup_cases *c, reply *rp, const su_case *cs, int64_t now)
{
	switch (cs->status) {
	case SU_CASE_ACTIVATED:
		return send_error(rp, E_CASE_ACTIVATED, NULL, NULL, "case %s is already activated",
		                  cs->decision_id);
	case SU_CASE_DECLINED:
		return send_error(rp, E_CASE_DECLINED, NULL, NULL, "case %s was declined", cs->decision_id);
	case SU_CASE_EXPIRED:
		break;
	case SU_CASE_PENDING:
		if (cs->expires_ms > now)
			return STEPUP_OK;
		int rc = su_lc_expire(c, cs->decision_id);
		if (rc != STEPUP_OK)
			return store_error(c, rp, rc, "expire case");
		break;
	}
	return send_error(rp, E_CASE_EXPIRED, NULL, NULL, "case %s has expired", cs->decision_id);
}

/* Methods of the case a TSP can still turn to after `failed` did. */
static json_t *other_methods(const stepup_cases *c, const su_case *cs, int failed)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < cs->nmethods; i++) {
		int m = cs->methods[i];
		if (m == failed)
			continue;
		if ((m == STEPUP_OTP_SMS || m == STEPUP_OTP_EMAIL) && cs->otp_sends >= c->cfg.max_otp_sends)
			continue;
		json_array_append_new(a, json_string(stepup_method_name((stepup_method)m)));
	}
	json_t *o = json_object();
	json_object_set_new(o, "other_methods", a);
	return o;
}

/* ---- Deliver OTP --------------------------------------------------------- */

/* Keys a caller might use to steer the OTP elsewhere. Refused, not
 * ignored: a TSP that sends one has a wrong idea of the contract. */
static const char *const destination_keys[] = {
	"destination", "phone", "email", "msisdn", "address", "to", "recipient", "contact", NULL,
};

static const char *const otp_reasons[] = {
	"CARD-DIGITIZATION", "DEVICE-BINDING", "CARDHOLDER-VERIFICATION", NULL,
};

/* The checked OTP through m's channel to the contact of case id, with the
 * send limit: the answer of Deliver OTP into rp. */
static int deliver(stepup_cases *c, reply *rp, const char *id, int m, const char *otp, int64_t expires,
                   const char *reason)
{
	stepup_plugins *ps = NULL;
	char perr[256] = "";
	int64_t now = su_lc_now_ms();
	su_case cs;
	int rc;

	memset(&cs, 0, sizeof(cs));
	rc = c->store->ops->reserve_send(c->store, id, (stepup_method)m, c->cfg.max_otp_sends, now, &cs);
	if (rc == STEPUP_ENOTFOUND) {
		rc = send_error(rp, E_CASE_NOT_FOUND, NULL, NULL, "no case for decision %s", id);
		goto refused;
	}
	if (rc == STEPUP_ECONFLICT) {
		if ((rc = refuse_closed(c, rp, &cs, now)) != STEPUP_OK)
			goto refused;
		if (!su_case_offers(&cs, (stepup_method)m))
			rc = send_error(rp, E_METHOD_NOT_OFFERED, "method", NULL,
			                "case %s was not offered %s", id, stepup_method_name((stepup_method)m));
		else
			rc = send_error(rp, E_OTP_SEND_LIMIT, NULL, other_methods(c, &cs, m),
			                "case %s has had its %u OTP sends", id, c->cfg.max_otp_sends);
		goto refused;
	}
	if (rc != STEPUP_OK) {
		rc = store_error(c, rp, rc, "count OTP send");
		goto out;
	}

	const char *dest = m == STEPUP_OTP_SMS ? cs.phone : cs.email;
	const char *masked = m == STEPUP_OTP_SMS ? cs.phone_masked : cs.email_masked;
	if (!(ps = su_lc_plugins(c))) {
		snprintf(perr, sizeof(perr), "no plugins loaded");
		rc = STEPUP_ENOTFOUND;
	} else if (!dest[0]) {
		snprintf(perr, sizeof(perr), "no contact held for %s", stepup_method_name((stepup_method)m));
		rc = STEPUP_ENOTFOUND;
	} else {
		char lang[sizeof(cs.language)];
		stepup_otp msg = { dest, otp, expires, reason, cs.pan_suffix,
		                   su_lc_language(cs.language, lang, sizeof(lang)) };
		rc = stepup_plugins_deliver_otp(ps, (stepup_method)m, &msg, perr, sizeof(perr));
	}
	if (rc != STEPUP_OK) {
		/* A refusal gives the send back; a timeout keeps it counted,
		 * since the message may still have gone out. */
		if (rc != STEPUP_ETIMEOUT && c->store->ops->finish_send(c->store, id, (stepup_method)m, 0))
			su_lc_store_failed(c, STEPUP_EIO, "give back OTP send");
		if (rc != STEPUP_ETIMEOUT && cs.otp_sends)
			cs.otp_sends--;
		atomic_fetch_add(&c->st.otp_failed, 1);
		su_lc_log(c, STEPUP_LOG_WARNING, "case %s: OTP by %s failed: %s", id,
		          stepup_method_name((stepup_method)m), perr);
		rc = send_error(rp, E_CHANNEL_FAILED, NULL, other_methods(c, &cs, m),
		                "the %s channel could not deliver the OTP%s; offer another method",
		                stepup_method_name((stepup_method)m), rc == STEPUP_ETIMEOUT ? " in time" : "");
		goto out;
	}
	if (c->store->ops->finish_send(c->store, id, (stepup_method)m, 1) != STEPUP_OK)
		su_lc_store_failed(c, STEPUP_EIO, "mark OTP sent");
	atomic_fetch_add(&c->st.otp_sent, 1);
	su_lc_log(c, STEPUP_LOG_INFO, "case %s: OTP sent by %s (%u of %u)", id,
	          stepup_method_name((stepup_method)m), cs.otp_sends, c->cfg.max_otp_sends);

	json_t *b = json_object();
	json_object_set_new(b, "decision_id", json_string(id));
	json_object_set_new(b, "method", json_string(stepup_method_name((stepup_method)m)));
	json_object_set_new(b, "status", json_string("SENT"));
	json_object_set_new(b, "destination", json_string(masked));
	json_object_set_new(b, "sends", json_integer(cs.otp_sends));
	json_object_set_new(b, "max_sends", json_integer(c->cfg.max_otp_sends));
	rc = send_json(rp, 200, STEPUP_OK, b);
	goto out;
refused:
	atomic_fetch_add(&c->st.otp_refused, 1);
out:
	explicit_bzero(&cs, sizeof(cs));
	stepup_plugins_unref(ps);
	return rc;
}

static int otp_reason_known(const char *reason)
{
	for (size_t i = 0; reason && otp_reasons[i]; i++)
		if (strcmp(reason, otp_reasons[i]) == 0)
			return 1;
	return 0;
}

int stepup_cases_deliver_otp_json(stepup_cases *c, const char *body, size_t len, char **out,
                                  size_t *outlen, int *http_status)
{
	reply rp = { out, outlen, http_status };
	json_t *root = NULL;
	const char *why, *id, *otp, *reason;
	char otpbuf[20] = "";
	int rc = STEPUP_OK, m;
	int64_t expires;

	if (!c || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	if (!(root = parse_body(&rp, body, len, &rc)))
		return rc;

	for (size_t i = 0; destination_keys[i]; i++)
		if (json_object_get(root, destination_keys[i])) {
			rc = send_error(&rp, E_BAD_REQUEST, destination_keys[i], NULL,
			                "a destination is not accepted: the OTP goes to the contact held in the case");
			goto out;
		}
	if (!(id = field_str(root, "decision_id", 1, SU_DECISION_ID_MAX, 1, &why)) ||
	    !valid_decision_id(id, strlen(id))) {
		rc = send_error(&rp, E_BAD_REQUEST, "decision_id", NULL, "decision_id %s",
		                why ? why : "is not a stepup decision id");
		goto out;
	}
	const char *mname = field_str(root, "method", 1, 32, 1, &why);
	m = mname ? method_parse(mname) : -1;
	if (m != STEPUP_OTP_SMS && m != STEPUP_OTP_EMAIL) {
		rc = send_error(&rp, E_BAD_REQUEST, "method", NULL, "method must be OTP_SMS or OTP_EMAIL");
		goto out;
	}
	/* The value itself is never echoed, logged or stored. */
	otp = field_str(root, "otp", 4, 16, 1, &why);
	for (const char *p = otp; p && *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			otp = NULL, why = "must be 4 to 16 letters or digits";
	if (!otp) {
		rc = send_error(&rp, E_BAD_REQUEST, "otp", NULL, "otp %s",
		                why && strcmp(why, "has a bad length") != 0 ? why
		                                                           : "must be 4 to 16 letters or digits");
		goto out;
	}
	snprintf(otpbuf, sizeof(otpbuf), "%s", otp);
	json_t *ev = json_object_get(root, "expires_at");
	if (json_is_integer(ev)) {
		expires = json_integer_value(ev);
		/* A value this large is milliseconds sent as seconds. */
		if (expires > 100000000000LL) {
			rc = send_error(&rp, E_BAD_REQUEST, "expires_at", NULL,
			                "expires_at must be Unix seconds or an RFC 3339 time");
			goto out;
		}
	} else if (json_is_string(ev)) {
		if ((expires = su_parse_time(json_string_value(ev))) < 0) {
			rc = send_error(&rp, E_BAD_REQUEST, "expires_at", NULL,
			                "expires_at must be an RFC 3339 time (2026-11-22T10:15:00Z) or Unix seconds");
			goto out;
		}
	} else {
		rc = send_error(&rp, E_BAD_REQUEST, "expires_at", NULL,
		                ev ? "expires_at must be an RFC 3339 time or Unix seconds"
		                   : "expires_at is required");
		goto out;
	}
	int64_t now = su_lc_now_ms();
	if (expires * 1000 <= now) {
		rc = send_error(&rp, E_BAD_REQUEST, "expires_at", NULL, "expires_at is already past");
		goto out;
	}
	reason = field_str(root, "reason", 1, 32, 1, &why);
	if (!otp_reason_known(reason)) {
		rc = send_error(&rp, E_BAD_REQUEST, "reason", NULL,
		                "reason must be CARD-DIGITIZATION, DEVICE-BINDING or CARDHOLDER-VERIFICATION");
		goto out;
	}
	rc = deliver(c, &rp, id, m, otpbuf, expires, reason);
out:
	if (root) {
		/* Wipe our copies of the OTP. */
		json_t *v = json_object_get(root, "otp");
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
	explicit_bzero(otpbuf, sizeof(otpbuf));
	json_decref(root);
	return rc;
}

int su_lc_deliver(stepup_cases *c, const char *id, stepup_method m, const char *otp, int64_t expires,
                  const char *reason, char **out, size_t *outlen, int *http_status)
{
	reply rp = { out, outlen, http_status };
	*out = NULL;
	*outlen = 0;
	return deliver(c, &rp, id, (int)m, otp, expires, reason);
}

/* ---- activation ------------------------------------------------------------ */

/* The activation answer, rendered from the stored case so a repeated call
 * gets the same bytes. */
static int send_closed(reply *rp, const su_case *cs)
{
	char at[32];
	su_lc_time(cs->closed_ms, at);
	json_t *b = json_object();
	json_object_set_new(b, "decision_id", json_string(cs->decision_id));
	json_object_set_new(b, "status", json_string(su_case_status_name(cs->status)));
	json_object_set_new(b, "digital_card_id", json_string(cs->card_id));
	json_object_set_new(b, "method", json_string(stepup_method_name((stepup_method)cs->act_method)));
	if (cs->agent_id[0])
		json_object_set_new(b, "agent_id", json_string(cs->agent_id));
	json_object_set_new(b, "at", json_string(at));
	return send_json(rp, 200, STEPUP_OK, b);
}

/* Whether a closed case was closed by this very activation. */
static int same_activation(const su_case *cs, const su_case *want)
{
	return (cs->status == SU_CASE_ACTIVATED || cs->status == SU_CASE_DECLINED) &&
	       cs->act_method == want->act_method && strcmp(cs->card_id, want->card_id) == 0 &&
	       strcmp(cs->agent_id, want->agent_id) == 0 &&
	       strcmp(cs->proof_sha256, want->proof_sha256) == 0;
}

/* The answer for an activation on a case that is no longer pending. */
static int closed_answer(stepup_cases *c, reply *rp, const su_case *cs, const su_case *want,
                         int64_t now)
{
	if (same_activation(cs, want))
		return send_closed(rp, cs);
	if (cs->status == SU_CASE_ACTIVATED || cs->status == SU_CASE_DECLINED)
		return send_error(rp, E_ACTIVATION_CONFLICT, NULL, NULL,
		                  "case %s was already %s by another activation", cs->decision_id,
		                  cs->status == SU_CASE_ACTIVATED ? "activated" : "declined");
	int rc = refuse_closed(c, rp, cs, now);
	if (rc == STEPUP_OK && !*rp->out)  /* pending after all: a store that changed its mind */
		rc = send_error(rp, E_INTERNAL, NULL, NULL, "case %s changed under the activation; retry",
		                cs->decision_id);
	return rc;
}

int stepup_cases_activate_json(stepup_cases *c, const char *body, size_t len, char **out,
                               size_t *outlen, int *http_status)
{
	reply rp = { out, outlen, http_status };
	json_t *root = NULL;
	stepup_plugins *ps = NULL;
	char *proof = NULL, perr[256] = "";
	su_outbox rows[2];
	size_t nrows = 0;
	su_case cs, want, cur;
	const char *why, *id, *card, *agent = NULL;
	int rc = STEPUP_OK, m;

	if (!c || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	memset(rows, 0, sizeof(rows));
	memset(&cs, 0, sizeof(cs));
	memset(&want, 0, sizeof(want));
	if (!(root = parse_body(&rp, body, len, &rc)))
		return rc;

	if (!(id = field_str(root, "decision_id", 1, SU_DECISION_ID_MAX, 1, &why)) ||
	    !valid_decision_id(id, strlen(id))) {
		rc = send_error(&rp, E_BAD_REQUEST, "decision_id", NULL, "decision_id %s",
		                why ? why : "is not a stepup decision id");
		goto out;
	}
	if (!(card = field_str(root, "digital_card_id", 1, SU_CARD_ID_MAX, 1, &why))) {
		rc = send_error(&rp, E_BAD_REQUEST, "digital_card_id", NULL, "digital_card_id %s", why);
		goto out;
	}
	const char *mname = field_str(root, "method", 1, 32, 1, &why);
	if ((m = mname ? method_parse(mname) : -1) < 0) {
		rc = send_error(&rp, E_BAD_REQUEST, "method", NULL,
		                "method must be IN_APP, CUSTOMER_SERVICE, OTP_SMS or OTP_EMAIL");
		goto out;
	}
	if (m == STEPUP_CUSTOMER_SERVICE) {
		if (!(agent = field_str(root, "agent_id", 1, SU_AGENT_ID_MAX, 1, &why))) {
			rc = send_error(&rp, E_BAD_REQUEST, "agent_id", NULL, "agent_id %s", why);
			goto out;
		}
	} else if (json_object_get(root, "agent_id")) {
		rc = send_error(&rp, E_BAD_REQUEST, "agent_id", NULL,
		                "agent_id goes with method CUSTOMER_SERVICE only");
		goto out;
	}
	json_t *pv = json_object_get(root, "proof");
	int declined = 0;
	if (m == STEPUP_IN_APP) {
		if (!json_is_object(pv)) {
			rc = send_error(&rp, E_BAD_REQUEST, "proof", NULL,
			                pv ? "proof must be an object" : "proof is required for IN_APP");
			goto out;
		}
		json_t *oc = json_object_get(pv, "result");
		if (oc && !(json_is_string(oc) && (strcmp(json_string_value(oc), "APPROVED") == 0 ||
		                                   strcmp(json_string_value(oc), "DECLINED") == 0))) {
			rc = send_error(&rp, E_BAD_REQUEST, "proof.result", NULL,
			                "proof.result must be APPROVED or DECLINED");
			goto out;
		}
		/* The plugin vouches that the proof is authentic; its result
		 * (covered by the proof's signature) says which way it went. */
		declined = oc && strcmp(json_string_value(oc), "DECLINED") == 0;
		json_t *pid = json_object_get(pv, "decision_id");
		if (pid && !(json_is_string(pid) && strcmp(json_string_value(pid), id) == 0)) {
			rc = send_error(&rp, E_INVALID_PROOF, "proof.decision_id", NULL,
			                "the proof is for another decision");
			goto out;
		}
		/* One text for the plugin and the idempotency hash: the same
		 * proof sent again with other key order or spacing is the same. */
		if (!(proof = json_dumps(pv, JSON_COMPACT | JSON_SORT_KEYS)) ||
		    su_lc_sha256_hex(proof, strlen(proof), want.proof_sha256) < 0) {
			rc = send_error(&rp, E_INTERNAL, NULL, NULL, "out of memory");
			goto out;
		}
	} else if (pv) {
		rc = send_error(&rp, E_BAD_REQUEST, "proof", NULL, "proof goes with method IN_APP only");
		goto out;
	}
	snprintf(want.card_id, sizeof(want.card_id), "%s", card);
	snprintf(want.agent_id, sizeof(want.agent_id), "%s", agent ? agent : "");
	want.act_method = m;

	int64_t now = su_lc_now_ms();
	rc = c->store->ops->get(c->store, id, &cs);
	if (rc == STEPUP_ENOTFOUND) {
		rc = send_error(&rp, E_CASE_NOT_FOUND, NULL, NULL, "no case for decision %s", id);
		goto out;
	}
	if (rc != STEPUP_OK) {
		rc = store_error(c, &rp, rc, "read case");
		goto out;
	}
	if (cs.status != SU_CASE_PENDING || cs.expires_ms <= now) {
		rc = closed_answer(c, &rp, &cs, &want, now);
		goto out;
	}
	if (!su_case_offers(&cs, (stepup_method)m)) {
		rc = send_error(&rp, E_METHOD_NOT_OFFERED, "method", NULL, "case %s was not offered %s", id,
		                mname);
		goto out;
	}
	if ((m == STEPUP_OTP_SMS || m == STEPUP_OTP_EMAIL) && !(cs.otp_used & (1u << m))) {
		rc = send_error(&rp, E_OTP_NOT_SENT, "method", NULL,
		                "no OTP was delivered by %s for case %s", mname, id);
		goto out;
	}
	if (m == STEPUP_IN_APP) {
		int valid = 0;
		if (!(ps = su_lc_plugins(c))) {
			snprintf(perr, sizeof(perr), "no plugins loaded");
			rc = STEPUP_ENOTFOUND;
		} else
			rc = stepup_plugins_inapp_verify(ps, id, proof, &valid, perr, sizeof(perr));
		if (rc != STEPUP_OK) {
			su_lc_log(c, STEPUP_LOG_WARNING, "case %s: in-app proof could not be checked: %s", id,
			          perr);
			rc = send_error(&rp, E_CHANNEL_FAILED, NULL, other_methods(c, &cs, m),
			                "the in-app proof could not be checked%s; retry or use another method",
			                rc == STEPUP_ETIMEOUT ? " in time" : "");
			goto out;
		}
		if (!valid) {
			su_lc_log(c, STEPUP_LOG_INFO, "case %s: in-app proof rejected", id);
			rc = send_error(&rp, E_INVALID_PROOF, "proof", NULL,
			                "the in-app plugin rejected the proof; the case is unchanged");
			goto out;
		}
	}

	/* The transition, with its notifications, in one compare-and-set. */
	su_case closing = cs;
	closing.status = declined ? SU_CASE_DECLINED : SU_CASE_ACTIVATED;
	closing.closed_ms = su_lc_now_ms();
	closing.act_method = m;
	memcpy(closing.card_id, want.card_id, sizeof(closing.card_id));
	memcpy(closing.agent_id, want.agent_id, sizeof(closing.agent_id));
	memcpy(closing.proof_sha256, want.proof_sha256, sizeof(closing.proof_sha256));
	cur = closing;
	rc = su_lc_close_rows(c, &closing, rows, &nrows);
	if (rc == STEPUP_OK)
		rc = c->store->ops->close_case(c->store, &closing, rows, nrows, &cur);
	explicit_bzero(&closing, sizeof(closing));
	if (rc == STEPUP_ECONFLICT) {
		/* Someone closed it (or it fell due) since we read it. */
		rc = closed_answer(c, &rp, &cur, &want, su_lc_now_ms());
		goto out;
	}
	if (rc == STEPUP_ENOMEM) {
		rc = send_error(&rp, E_INTERNAL, NULL, NULL, "out of memory");
		goto out;
	}
	if (rc != STEPUP_OK) {
		rc = store_error(c, &rp, rc, rc == STEPUP_ENOTFOUND ? "case vanished" : "close case");
		goto out;
	}
	atomic_fetch_add(declined ? &c->st.declined : &c->st.activated, 1);
	su_lc_log(c, STEPUP_LOG_INFO, "case %s %s by %s", id, su_case_status_name(cur.status), mname);
	if (nrows)
		su_lc_notifier_kick(c);
	rc = send_closed(&rp, &cur);
out:
	for (size_t i = 0; i < nrows; i++)
		su_outbox_clear(&rows[i]);
	free(proof);
	stepup_plugins_unref(ps);
	json_decref(root);
	explicit_bzero(&cs, sizeof(cs));
	explicit_bzero(&cur, sizeof(cur));
	return rc;
}

/* ---- the token service's view (MDES) ---------------------------------------- */

int stepup_cases_find(stepup_cases *c, const stepup_case_refs *refs, char id[65], char *err,
                      size_t errlen)
{
	if (!c || !refs || !id)
		return STEPUP_EINVAL;
	id[0] = '\0';
	const char *net = refs->correlation_id, *tok = refs->token_ref;
	if ((net && !su_lc_ref_ok(net, SU_REF_MAX)) || (tok && !su_lc_ref_ok(tok, SU_CARD_ID_MAX))) {
		su_set_err(err, errlen, "not a reference a case can have");
		return STEPUP_EINVAL;
	}
	int rc = c->store->ops->find_ref(c->store, net, tok, id);
	if (rc == STEPUP_ENOTFOUND) {
		su_set_err(err, errlen, "no case has this reference");
		return rc;
	}
	if (rc == STEPUP_OK && tok)
		rc = c->store->ops->set_token_ref(c->store, id, tok);
	if (rc != STEPUP_OK) {
		char why[256];
		su_lc_store_failed(c, rc, "find case");
		c->store->ops->error(c->store, why, sizeof(why));
		su_set_err(err, errlen, "case store: %s", why);
	}
	return rc;
}

/* The method a network activation is put down to: the OTP channel a code
 * went through (the first offered when both did), else the first method
 * offered. */
static int network_method(const su_case *cs)
{
	for (unsigned i = 0; i < cs->nmethods; i++) {
		int m = cs->methods[i];
		if ((m == STEPUP_OTP_SMS || m == STEPUP_OTP_EMAIL) && (cs->otp_used & (1u << m)))
			return m;
	}
	return cs->nmethods ? cs->methods[0] : STEPUP_CUSTOMER_SERVICE;
}

int stepup_cases_network_activated(stepup_cases *c, const char *decision_id, const char *token_ref,
                                   const char *language, int *outcome, char *err, size_t errlen)
{
	su_case cs, cur;
	su_outbox rows[2];
	size_t nrows = 0;
	int rc;

	if (!c || !decision_id || !outcome)
		return STEPUP_EINVAL;
	*outcome = -1;
	if (!valid_decision_id(decision_id, strlen(decision_id)) ||
	    (token_ref && !su_lc_ref_ok(token_ref, SU_CARD_ID_MAX))) {
		su_set_err(err, errlen, "not a decision id or token reference");
		return STEPUP_EINVAL;
	}
	memset(rows, 0, sizeof(rows));
	memset(&cur, 0, sizeof(cur));
	rc = c->store->ops->get(c->store, decision_id, &cs);
	if (rc == STEPUP_ENOTFOUND) {
		su_set_err(err, errlen, "no case for decision %s", decision_id);
		return rc;
	}
	if (rc != STEPUP_OK)
		goto store;
	int64_t now = su_lc_now_ms();
	if (cs.status == SU_CASE_ACTIVATED) {
		*outcome = 0;
		goto out;
	}
	if (cs.status != SU_CASE_PENDING)
		goto out;
	if (cs.expires_ms <= now) {
		/* Past its time: it expires as any due case, and says so. */
		if ((rc = su_lc_expire(c, decision_id)) != STEPUP_OK)
			goto store;
		goto out;
	}
	su_case closing = cs;
	closing.status = SU_CASE_ACTIVATED;
	closing.closed_ms = now;
	closing.act_method = network_method(&cs);
	snprintf(closing.card_id, sizeof(closing.card_id), "%s", token_ref ? token_ref : cs.token_ref);
	if (language && language[0]) {
		/* The language the holder chose in the wallet (MDES's
		 * consumerLanguage) speaks for the end-user message. */
		char lang[sizeof(closing.language)];
		snprintf(closing.language, sizeof(closing.language), "%s",
		         su_lc_language(language, lang, sizeof(lang)));
	}
	rc = su_lc_close_rows(c, &closing, rows, &nrows);
	if (rc == STEPUP_OK)
		rc = c->store->ops->close_case(c->store, &closing, rows, nrows, &cur);
	explicit_bzero(&closing, sizeof(closing));
	if (rc == STEPUP_ECONFLICT) {
		/* Closed meanwhile (another notification, the issuer, expiry). */
		*outcome = cur.status == SU_CASE_ACTIVATED ? 0 : -1;
		rc = STEPUP_OK;
		goto out;
	}
	if (rc == STEPUP_ENOMEM) {
		su_set_err(err, errlen, "out of memory");
		goto out;
	}
	if (rc != STEPUP_OK)
		goto store;
	*outcome = 1;
	atomic_fetch_add(&c->st.activated, 1);
	su_lc_log(c, STEPUP_LOG_INFO, "case %s ACTIVATED by the token service (%s)", decision_id,
	          stepup_method_name((stepup_method)cur.act_method));
	if (nrows)
		su_lc_notifier_kick(c);
	goto out;
store:
	{
		char why[256];
		su_lc_store_failed(c, rc, "network activation");
		c->store->ops->error(c->store, why, sizeof(why));
		su_set_err(err, errlen, "case store: %s", why);
	}
out:
	for (size_t i = 0; i < nrows; i++)
		su_outbox_clear(&rows[i]);
	explicit_bzero(&cs, sizeof(cs));
	explicit_bzero(&cur, sizeof(cur));
	return rc;
}

/* ---- reading a case ----------------------------------------------------------- */

static json_t *case_json(const stepup_cases *c, const su_case *cs)
{
	char t[32];
	json_t *b = json_object(), *ms = json_array();

	json_object_set_new(b, "decision_id", json_string(cs->decision_id));
	json_object_set_new(b, "status", json_string(su_case_status_name(cs->status)));
	su_lc_time(cs->created_ms, t);
	json_object_set_new(b, "created_at", json_string(t));
	su_lc_time(cs->updated_ms, t);
	json_object_set_new(b, "updated_at", json_string(t));
	su_lc_time(cs->expires_ms, t);
	json_object_set_new(b, "expires_at", json_string(t));
	for (unsigned i = 0; i < cs->nmethods; i++) {
		json_t *o = json_object();
		int m = cs->methods[i];
		json_object_set_new(o, "type", json_string(stepup_method_name((stepup_method)m)));
		if (m == STEPUP_OTP_SMS)
			json_object_set_new(o, "value", json_string(cs->phone_masked));
		else if (m == STEPUP_OTP_EMAIL)
			json_object_set_new(o, "value", json_string(cs->email_masked));
		else if (m == STEPUP_CUSTOMER_SERVICE) {
			json_object_set_new(o, "value", json_string(cs->cs_number));
			json_object_set_new(o, "line", json_string(stepup_cs_line_name(cs->cs_line)));
			if (cs->cs_hours[0])
				json_object_set_new(o, "hours", json_string(cs->cs_hours));
		}
		json_array_append_new(ms, o);
	}
	json_object_set_new(b, "idv_methods", ms);
	json_t *otp = json_object(), *used = json_array();
	json_object_set_new(otp, "sends", json_integer(cs->otp_sends));
	json_object_set_new(otp, "max_sends", json_integer(c->cfg.max_otp_sends));
	for (int m = STEPUP_OTP_SMS; m <= STEPUP_OTP_EMAIL; m++)
		if (cs->otp_used & (1u << m))
			json_array_append_new(used, json_string(stepup_method_name((stepup_method)m)));
	json_object_set_new(otp, "delivered_by", used);
	if (cs->code_hash[0]) {
		/* A code the issuer made (codes.c): its state, never the code. */
		json_t *code = json_object();
		su_lc_time(cs->code_expires_ms, t);
		json_object_set_new(code, "expires_at", json_string(t));
		json_object_set_new(code, "wrong_tries", json_integer(cs->code_attempts));
		json_object_set_new(code, "max_tries", json_integer(c->cfg.codes.max_attempts));
		json_object_set_new(otp, "issuer_code", code);
	}
	json_object_set_new(b, "otp", otp);
	json_object_set_new(b, "language", cs->language[0] ? json_string(cs->language) : json_null());
	json_object_set_new(b, "pan_suffix", cs->pan_suffix[0] ? json_string(cs->pan_suffix) : json_null());
	json_t *tr = json_object();
	json_object_set_new(tr, "id", cs->tr_id[0] ? json_string(cs->tr_id) : json_null());
	json_object_set_new(tr, "name", cs->tr_name[0] ? json_string(cs->tr_name) : json_null());
	json_object_set_new(b, "token_requestor", tr);
	if (cs->network_ref[0])
		json_object_set_new(b, "correlation_id", json_string(cs->network_ref));
	if (cs->token_ref[0])
		json_object_set_new(b, "token_ref", json_string(cs->token_ref));
	if (cs->token_events)
		json_object_set_new(b, "token_events", json_integer(cs->token_events));
	if (cs->act_method >= 0) {
		json_t *a = json_object();
		json_object_set_new(a, "digital_card_id", json_string(cs->card_id));
		json_object_set_new(a, "method", json_string(stepup_method_name((stepup_method)cs->act_method)));
		if (cs->agent_id[0])
			json_object_set_new(a, "agent_id", json_string(cs->agent_id));
		su_lc_time(cs->closed_ms, t);
		json_object_set_new(a, "at", json_string(t));
		json_object_set_new(b, "activation", a);
	} else if (cs->closed_ms) {
		su_lc_time(cs->closed_ms, t);
		json_object_set_new(b, "closed_at", json_string(t));
	}
	return b;
}

int stepup_cases_get_json(stepup_cases *c, const char *decision_id, char **out, size_t *outlen,
                          int *http_status)
{
	reply rp = { out, outlen, http_status };
	su_case cs;
	int rc;

	if (!c || !out || !outlen)
		return STEPUP_EINVAL;
	*out = NULL;
	*outlen = 0;
	if (!decision_id)
		return send_error(&rp, E_BAD_REQUEST, "decision_id", NULL, "decision_id is required");
	size_t idlen = strlen(decision_id);
	if (holds_card(decision_id, idlen))
		return send_error(&rp, E_BAD_REQUEST, "decision_id", NULL,
		                  "decision_id holds a card number: refused, and not kept");
	if (!valid_decision_id(decision_id, idlen))
		return send_error(&rp, E_BAD_REQUEST, "decision_id", NULL,
		                  "decision_id must be 1 to %d letters, digits, '_' or '-'", SU_DECISION_ID_MAX);
	rc = c->store->ops->get(c->store, decision_id, &cs);
	if (rc == STEPUP_ENOTFOUND)
		return send_error(&rp, E_CASE_NOT_FOUND, NULL, NULL, "no case for decision %s", decision_id);
	if (rc != STEPUP_OK)
		return store_error(c, &rp, rc, "read case");
	/* A due case reads as what it is, EXPIRED. */
	if (cs.status == SU_CASE_PENDING && cs.expires_ms <= su_lc_now_ms()) {
		if ((rc = su_lc_expire(c, decision_id)) != STEPUP_OK)
			return store_error(c, &rp, rc, "expire case");
		if ((rc = c->store->ops->get(c->store, decision_id, &cs)) != STEPUP_OK)
			return store_error(c, &rp, rc, "read case");
	}
	rc = send_json(&rp, 200, STEPUP_OK, case_json(c, &cs));
	explicit_bzero(&cs, sizeof(cs));
	return rc;
}

/* ---- maintenance ------------------------------------------------------------ */

int su_lc_sweep(stepup_cases *c, unsigned *expired)
{
	char ids[64][SU_DECISION_ID_MAX + 1];
	unsigned total = 0, erased = 0, deleted = 0;
	size_t n;
	int rc;

	do {
		if ((rc = c->store->ops->list_due(c->store, su_lc_now_ms(), ids, 64, &n)) != STEPUP_OK)
			return su_lc_store_failed(c, rc, "list due cases");
		for (size_t i = 0; i < n; i++) {
			if ((rc = su_lc_expire(c, ids[i])) != STEPUP_OK)
				return su_lc_store_failed(c, rc, "expire case");
			total++;
		}
	} while (n == 64);
	int64_t before = c->cfg.retention_days
	                         ? su_lc_now_ms() - (int64_t)c->cfg.retention_days * 86400 * 1000
	                         : 0;
	if ((rc = c->store->ops->purge(c->store, before, &erased, &deleted)) != STEPUP_OK)
		return su_lc_store_failed(c, rc, "retention");
	if (deleted)
		su_lc_log(c, STEPUP_LOG_INFO, "retention: %u closed case%s deleted", deleted,
		          deleted == 1 ? "" : "s");
	if (expired)
		*expired = total;
	return STEPUP_OK;
}

int stepup_cases_tick(stepup_cases *c, unsigned *expired)
{
	if (expired)
		*expired = 0;
	if (!c)
		return STEPUP_EINVAL;
	int rc = su_lc_sweep(c, expired);
	/* Without the thread, the embedder's loop is the only deliverer. */
	if (!c->running)
		su_lc_deliver_pass(c, 0);
	return rc;
}

static void ms_from_now(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int stepup_cases_flush(stepup_cases *c, unsigned timeout_ms)
{
	int64_t deadline;
	uint64_t pending = 0;
	struct timespec ts;

	if (!c)
		return STEPUP_EINVAL;
	/* A store that lost its file can deliver nothing (every claim is a
	 * refused write): do not wait for it. */
	char why[256];
	if (c->store->ops->health(c->store, why, sizeof(why)) != STEPUP_OK)
		return STEPUP_EIO;
	deadline = su_lc_now_ms() + timeout_ms;
	if (c->running) {
		/* Ask for one forced pass and wait until a forced pass that
		 * started after the request has finished. */
		pthread_mutex_lock(&c->mu);
		uint64_t want = c->forced_done + (c->in_forced ? 2 : 1);
		c->force = c->kicked = 1;
		pthread_cond_signal(&c->wake);
		while (c->forced_done < want && !atomic_load(&c->stopping)) {
			int64_t left = deadline - su_lc_now_ms();
			if (left <= 0)
				break;
			ms_from_now(&ts, left);
			pthread_cond_timedwait(&c->progress, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
	} else
		su_lc_deliver_pass(c, 1);

	for (;;) {
		if (c->store->ops->pending(c->store, &pending) != STEPUP_OK)
			return su_lc_store_failed(c, STEPUP_EIO, "count notifications");
		atomic_store(&c->st.outbox_pending, pending);
		if (pending == 0)
			return STEPUP_OK;
		int64_t now = su_lc_now_ms(), left = deadline - now;
		if (left <= 0)
			return STEPUP_ETIMEOUT;
		if (c->running) {
			pthread_mutex_lock(&c->mu);
			ms_from_now(&ts, left < 50 ? left : 50);
			pthread_cond_timedwait(&c->progress, &c->mu, &ts);
			pthread_mutex_unlock(&c->mu);
		} else {
			int64_t due = INT64_MAX, wait;
			c->store->ops->next_due(c->store, &due);
			wait = due - now;
			if (wait > left)
				wait = left;
			if (wait > 50)
				wait = 50;
			if (wait > 0) {
				struct timespec d = { 0, (long)wait * 1000000L };
				nanosleep(&d, NULL);
			}
			su_lc_deliver_pass(c, 0);
		}
	}
}

int stepup_cases_health(stepup_cases *c, char *err, size_t errlen)
{
	char why[256] = "";
	if (!c)
		return STEPUP_EINVAL;
	int rc = c->store->ops->health(c->store, why, sizeof(why));
	if (rc != STEPUP_OK)
		su_set_err(err, errlen, "case store: %s", why);
	return rc;
}

int stepup_cases_check_store(const char *config_json, const char *base_dir, char *err,
                             size_t errlen)
{
	su_lc_config cfg;
	int rc = su_lc_config_parse(config_json, base_dir, &cfg, err, errlen);
	if (rc != STEPUP_OK)
		return rc;
	rc = su_store_sqlite_check(cfg.path, err, errlen);
	su_lc_config_free(&cfg);
	return rc;
}

void stepup_cases_stats_get(stepup_cases *c, stepup_cases_stats *o)
{
	memset(o, 0, sizeof(*o));
	if (!c)
		return;
	o->opened = atomic_load(&c->st.opened);
	o->otp_sent = atomic_load(&c->st.otp_sent);
	o->otp_refused = atomic_load(&c->st.otp_refused);
	o->otp_failed = atomic_load(&c->st.otp_failed);
	o->activated = atomic_load(&c->st.activated);
	o->declined = atomic_load(&c->st.declined);
	o->expired = atomic_load(&c->st.expired);
	o->notify_delivered = atomic_load(&c->st.notify_delivered);
	o->notify_retried = atomic_load(&c->st.notify_retried);
	o->notify_gave_up = atomic_load(&c->st.notify_gave_up);
	o->outbox_pending = atomic_load(&c->st.outbox_pending);
	o->store_errors = atomic_load(&c->st.store_errors);
}

/* ---- open / close ---------------------------------------------------------- */

int stepup_cases_open(const char *config_json, const char *base_dir, stepup_plugins *plugins,
                      stepup_log_fn log, void *log_ctx, stepup_cases **out, char *err,
                      size_t errlen)
{
	stepup_cases *c;
	pthread_condattr_t ca;
	int rc;

	if (!out)
		return STEPUP_EINVAL;
	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return STEPUP_ENOMEM;
	if ((rc = su_lc_config_parse(config_json, base_dir, &c->cfg, err, errlen)) != STEPUP_OK) {
		free(c);
		return rc;
	}
	c->log = log;
	c->log_ctx = log_ctx;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->deliver_mu, NULL);
	pthread_mutex_init(&c->log_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_cond_init(&c->progress, &ca);
	pthread_condattr_destroy(&ca);
	c->plugins = stepup_plugins_ref(plugins);

	su_store_config sc = { c->cfg.path, c->cfg.synchronous_full, c->cfg.busy_timeout_ms };
	if ((rc = su_store_sqlite_open(&sc, &c->store, err, errlen)) != STEPUP_OK) {
		stepup_cases_close(c);
		return rc;
	}
	if (c->cfg.background && (rc = su_lc_notifier_start(c)) != STEPUP_OK) {
		su_set_err(err, errlen, "cannot start the notification thread");
		stepup_cases_close(c);
		return rc;
	}
	su_lc_log(c, STEPUP_LOG_INFO, "case store %s open (ttl %u s, %u OTP sends, webhook %s)",
	          c->cfg.path, c->cfg.ttl_seconds, c->cfg.max_otp_sends,
	          c->cfg.webhook.url ? "on" : "off");
	*out = c;
	return STEPUP_OK;
}

void stepup_cases_close(stepup_cases *c)
{
	if (!c)
		return;
	su_lc_notifier_stop(c);
	su_lc_http_free(c);
	if (c->store)
		c->store->ops->close(c->store);
	stepup_plugins_unref(c->plugins);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->progress);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->deliver_mu);
	pthread_mutex_destroy(&c->log_mu);
	su_lc_config_free(&c->cfg);
	free(c);
}

void stepup_cases_set_plugins(stepup_cases *c, stepup_plugins *plugins)
{
	if (!c)
		return;
	stepup_plugins *p = stepup_plugins_ref(plugins);
	pthread_mutex_lock(&c->mu);
	stepup_plugins *old = c->plugins;
	c->plugins = p;
	pthread_mutex_unlock(&c->mu);
	stepup_plugins_unref(old);
}
