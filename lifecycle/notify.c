/* notify.c: the outbox. Rows are written in the same transaction as the
 * state change that causes them (store.h), then delivered here by one
 * thread per process: webhooks to the issuer backend (libcurl), plain
 * messages to the end user and in-app starts (through the plugins).
 *
 * Delivery is at least once: a row is leased before the attempt and only
 * marked done after a 2xx (or the plugin's OK), so a crash in between
 * sends it again later. The webhook carries its notification id as an
 * Idempotency-Key header, so a receiver that keeps the ids it has seen
 * processes each notification exactly once. Failures back off
 * exponentially with jitter (so a receiver coming back is not hit by every
 * daemon at the same instant) until max_attempts, then the row is marked
 * failed and logged; it stays in the table for an operator. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lc.h"
#include "util.h"

#define CLAIM_BATCH 16
/* A row being delivered is invisible to other deliverers (another
 * process on the same file) for this long past the webhook deadline,
 * which covers the longest plugin deadline too; a crash mid-delivery
 * retries the row after that. */
#define LEASE_EXTRA_MS 90000

/* ---- rows ---------------------------------------------------------------- */

static const char *event_of(su_case_status s)
{
	switch (s) {
	case SU_CASE_ACTIVATED: return "case.activated";
	case SU_CASE_DECLINED: return "case.declined";
	case SU_CASE_EXPIRED: return "case.expired";
	default: return "case.pending";
	}
}

static int set_row(su_outbox *row, const su_case *cs, su_ob_kind kind, const char *event,
                   const char *suffix, json_t *payload, int64_t now)
{
	memset(row, 0, sizeof(*row));
	snprintf(row->notification_id, sizeof(row->notification_id), "%s.%s", cs->decision_id, suffix);
	snprintf(row->decision_id, sizeof(row->decision_id), "%s", cs->decision_id);
	snprintf(row->event, sizeof(row->event), "%s", event);
	row->kind = kind;
	row->next_ms = now;
	row->created_ms = now;
	row->payload = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	json_decref(payload);
	return row->payload ? STEPUP_OK : STEPUP_ENOMEM;
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

/* The webhook body. Only what the issuer backend needs to find its card
 * and act; contact data never leaves in a notification. */
static json_t *webhook_body(const su_case *cs, const char *event, const char *nid)
{
	char at[32];
	su_lc_time(cs->closed_ms, at);
	json_t *b = json_object();
	json_object_set_new(b, "event", json_string(event));
	json_object_set_new(b, "notification_id", json_string(nid));
	json_object_set_new(b, "decision_id", json_string(cs->decision_id));
	json_object_set_new(b, "status", json_string(su_case_status_name(cs->status)));
	json_object_set_new(b, "digital_card_id", str_or_null(cs->card_id));
	json_object_set_new(b, "method", cs->act_method >= 0
	                                         ? json_string(stepup_method_name((stepup_method)cs->act_method))
	                                         : json_null());
	if (cs->agent_id[0])
		json_object_set_new(b, "agent_id", json_string(cs->agent_id));
	json_object_set_new(b, "at", json_string(at));
	json_object_set_new(b, "pan_suffix", str_or_null(cs->pan_suffix));
	json_t *tr = json_object();
	json_object_set_new(tr, "id", str_or_null(cs->tr_id));
	json_object_set_new(tr, "name", str_or_null(cs->tr_name));
	json_object_set_new(b, "token_requestor", tr);
	return b;
}

/* "{pan_suffix}" and "{wallet}" filled in; malloc'd. */
static char *render_template(const char *t, const char *pan_suffix, const char *wallet)
{
	size_t cap = strlen(t) + strlen(wallet) * 4 + 64, n = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*t) {
		const char *v = NULL;
		size_t skip = 0;
		if (strncmp(t, "{pan_suffix}", 12) == 0)
			v = pan_suffix, skip = 12;
		else if (strncmp(t, "{wallet}", 8) == 0)
			v = wallet, skip = 8;
		size_t need = v ? strlen(v) : 1;
		if (n + need + 1 > cap) {
			char *b = realloc(out, cap = (n + need + 1) * 2);
			if (!b) {
				free(out);
				return NULL;
			}
			out = b;
		}
		if (v) {
			memcpy(out + n, v, need);
			n += need;
			t += skip;
		} else
			out[n++] = *t++;
	}
	out[n] = '\0';
	return out;
}

int su_lc_close_rows(stepup_cases *c, const su_case *cs, su_outbox *rows, size_t *n)
{
	const char *event = event_of(cs->status);
	int64_t now = su_lc_now_ms();

	*n = 0;
	if (c->cfg.webhook.url) {
		const char *suffix = event + 5;  /* "case.activated" -> "activated" */
		char nid[96];
		snprintf(nid, sizeof(nid), "%s.%s", cs->decision_id, suffix);
		if (set_row(&rows[*n], cs, SU_OB_WEBHOOK, event, suffix, webhook_body(cs, event, nid),
		            now) != STEPUP_OK)
			goto oom;
		(*n)++;
	}
	/* The end user hears about a card added, not about a case that
	 * expired or was declined (the wallet already tells them that). */
	if (c->cfg.end_user.enabled && cs->status == SU_CASE_ACTIVATED) {
		int method = -1;
		for (int i = 0; i < 2 && method < 0; i++) {
			int m = c->cfg.end_user.methods[i];
			if ((m == STEPUP_OTP_SMS && cs->phone[0]) || (m == STEPUP_OTP_EMAIL && cs->email[0]))
				method = m;
		}
		const char *t = su_lc_template(&c->cfg, cs->language);
		if (method < 0 || !t) {
			su_lc_log(c, STEPUP_LOG_INFO, "case %s: no end-user message (%s)", cs->decision_id,
			          method < 0 ? "no contact held for the configured channels" : "no template");
		} else {
			char *text = render_template(t, cs->pan_suffix, su_lc_wallet_name(&c->cfg, cs->tr_name));
			if (!text)
				goto oom;
			json_t *p = json_object();
			json_object_set_new(p, "method", json_string(stepup_method_name((stepup_method)method)));
			json_object_set_new(p, "text", json_string(text));
			json_object_set_new(p, "language", json_string(cs->language));
			free(text);
			if (set_row(&rows[*n], cs, SU_OB_END_USER, "end_user.card_added", "end_user", p, now) !=
			    STEPUP_OK)
				goto oom;
			(*n)++;
		}
	}
	return STEPUP_OK;
oom:
	for (size_t i = 0; i < 2; i++)
		su_outbox_clear(&rows[i]);
	*n = 0;
	return STEPUP_ENOMEM;
}

int su_lc_inapp_row(stepup_cases *c, const su_case *cs, const char *summary, su_outbox *row)
{
	json_t *p = json_object(), *req = json_loads(summary, 0, NULL);
	(void)c;
	json_object_set_new(p, "request", req ? req : json_object());
	json_object_set_new(p, "language", json_string(cs->language));
	json_object_set_new(p, "expires_at", json_integer(cs->expires_ms / 1000));
	return set_row(row, cs, SU_OB_INAPP_START, "inapp.start", "inapp_start", p, cs->created_ms);
}

/* ---- backoff ------------------------------------------------------------------ */

static uint64_t rnd(void)
{
	static _Thread_local uint64_t s;
	if (!s) {
		if (getrandom(&s, sizeof(s), 0) != sizeof(s))
			s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

/* Delay before attempt `attempts + 1`: base * 2^(attempts - 1), capped,
 * then "equal jitter" (half fixed, half random) so retries spread out but
 * never come sooner than half the schedule. */
static int64_t backoff_ms(const su_retry *r, unsigned attempts)
{
	uint64_t d = r->backoff_ms;
	for (unsigned i = 1; i < attempts && d < r->max_backoff_ms; i++)
		d *= 2;
	if (d > r->max_backoff_ms)
		d = r->max_backoff_ms;
	return (int64_t)(d / 2 + rnd() % (d / 2 + 1));
}

/* ---- webhook over libcurl --------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	/* Not thread-safe before curl 7.84: done once, before any thread of
	 * ours uses curl. Never cleaned up: other parts of the process (the
	 * plugins) may use curl too. */
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

static int progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
	stepup_cases *c = ctx;
	(void)a;
	(void)b;
	(void)c2;
	(void)d;
	return atomic_load(&c->stopping) ? 1 : 0;
}

int su_lc_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -1;
	su_hex(md, n, out);
	return 0;
}

/* POST one body. 0 on a 2xx, else -1 with a reason (no body content) in
 * why; 1 when abandoned because the handle is closing. */
static int post(stepup_cases *c, const su_outbox *o, char *why, size_t whylen)
{
	struct curl_slist *hdr = NULL, *h2;
	char line[256], errbuf[CURL_ERROR_SIZE] = "";
	CURL *h;
	long code = 0;
	int rc = -1;
	size_t blen = strlen(o->payload);

	pthread_once(&curl_once, curl_init_once);
	if (!curl_ok) {
		snprintf(why, whylen, "libcurl failed to initialise");
		return -1;
	}
	if (!c->http && !(c->http = curl_easy_init())) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	h = c->http;
	/* Keeps the connection cache (keep-alive to the same receiver). */
	curl_easy_reset(h);

#define ADD(s)                                           \
	do {                                             \
		if (!(h2 = curl_slist_append(hdr, (s)))) \
			goto oom;                        \
		hdr = h2;                                \
	} while (0)
	ADD("Content-Type: application/json");
	ADD("Expect:");
	snprintf(line, sizeof(line), "Idempotency-Key: %s", o->notification_id);
	ADD(line);
	snprintf(line, sizeof(line), "X-Stepup-Event: %s", o->event);
	ADD(line);
	if (c->cfg.webhook.secret) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		char hx[2 * EVP_MAX_MD_SIZE + 1];
		if (!HMAC(EVP_sha256(), c->cfg.webhook.secret, (int)strlen(c->cfg.webhook.secret),
		          (const unsigned char *)o->payload, blen, md, &n))
			goto oom;
		su_hex(md, n, hx);
		snprintf(line, sizeof(line), "X-Stepup-Signature: sha256=%s", hx);
		ADD(line);
	}
	for (size_t i = 0; c->cfg.webhook.headers && c->cfg.webhook.headers[i]; i++)
		ADD(c->cfg.webhook.headers[i]);
#undef ADD

	curl_easy_setopt(h, CURLOPT_URL, c->cfg.webhook.url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->payload);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "stepup/" STEPUP_VERSION);
	/* Signals are the host's; timeouts without alarm(). */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->cfg.webhook.timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)(c->cfg.webhook.timeout_ms < 3000 ? c->cfg.webhook.timeout_ms : 3000));
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (c->cfg.webhook.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.webhook.ca_file);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

	CURLcode cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code < 300)
			rc = 0;
		else
			snprintf(why, whylen, "HTTP %ld", code);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(why, whylen, "abandoned at shutdown");
		rc = 1;
	} else
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdr);
	return rc;
oom:
	curl_slist_free_all(hdr);
	snprintf(why, whylen, "out of memory");
	return -1;
}

void su_lc_http_free(stepup_cases *c)
{
	if (c->http)
		curl_easy_cleanup(c->http);
	c->http = NULL;
}

/* ---- delivering one row ---------------------------------------------------- */

typedef struct pass {
	int64_t now;
	int webhook_down;        /* a webhook failed in this pass */
	int64_t webhook_next;    /* ... and is due again then */
} pass;

static int end_user(stepup_cases *c, const su_outbox *o, char *why, size_t whylen)
{
	json_t *p = json_loads(o->payload, 0, NULL);
	const char *m = json_string_value(json_object_get(p, "method"));
	const char *text = json_string_value(json_object_get(p, "text"));
	const char *lang = json_string_value(json_object_get(p, "language"));
	stepup_plugins *ps = NULL;
	su_case cs;
	int rc = -1;

	memset(&cs, 0, sizeof(cs));
	if (!m || !text) {
		snprintf(why, whylen, "unreadable payload");
		goto out;
	}
	int method = strcmp(m, "OTP_EMAIL") == 0 ? STEPUP_OTP_EMAIL : STEPUP_OTP_SMS;
	int st = c->store->ops->get(c->store, o->decision_id, &cs);
	if (st != STEPUP_OK) {
		snprintf(why, whylen, st == STEPUP_ENOTFOUND ? "case gone" : "store failure");
		goto out;
	}
	const char *dest = method == STEPUP_OTP_EMAIL ? cs.email : cs.phone;
	if (!dest[0]) {
		snprintf(why, whylen, "contact no longer held");
		rc = -2;  /* will never work: give up now */
		goto out;
	}
	if (!(ps = su_lc_plugins(c))) {
		snprintf(why, whylen, "no plugins");
		goto out;
	}
	if (stepup_plugins_notify(ps, (stepup_method)method, dest, text, lang ? lang : "", why,
	                          whylen) == STEPUP_OK)
		rc = 0;
out:
	explicit_bzero(&cs, sizeof(cs));
	stepup_plugins_unref(ps);
	json_decref(p);
	return rc;
}

static int inapp_start(stepup_cases *c, const su_outbox *o, int64_t now, char *why, size_t whylen)
{
	json_t *p = json_loads(o->payload, 0, NULL);
	stepup_plugins *ps = NULL;
	char *req = NULL;
	su_case cs;
	int rc = -1;

	memset(&cs, 0, sizeof(cs));
	int st = c->store->ops->get(c->store, o->decision_id, &cs);
	if (st != STEPUP_OK) {
		snprintf(why, whylen, st == STEPUP_ENOTFOUND ? "case gone" : "store failure");
		rc = st == STEPUP_ENOTFOUND ? 2 : -1;
		goto out;
	}
	if (cs.status != SU_CASE_PENDING || cs.expires_ms <= now) {
		rc = 2;  /* nothing left to start */
		goto out;
	}
	if (!(ps = su_lc_plugins(c)) || !(req = json_dumps(json_object_get(p, "request"), JSON_COMPACT))) {
		snprintf(why, whylen, ps ? "out of memory" : "no plugins");
		goto out;
	}
	if (stepup_plugins_inapp_start(ps, cs.decision_id, req, cs.language, cs.expires_ms / 1000, why,
	                               whylen) == STEPUP_OK)
		rc = 0;
out:
	explicit_bzero(&cs, sizeof(cs));
	free(req);
	stepup_plugins_unref(ps);
	json_decref(p);
	return rc;
}

static const su_retry *policy(stepup_cases *c, su_ob_kind k)
{
	return k == SU_OB_WEBHOOK ? &c->cfg.webhook.retry
	       : k == SU_OB_END_USER ? &c->cfg.end_user.retry
	                              : &c->cfg.inapp_retry;
}

static const char *kind_label(su_ob_kind k)
{
	return k == SU_OB_WEBHOOK ? "webhook" : k == SU_OB_END_USER ? "end-user message" : "in-app start";
}

static void deliver_one(stepup_cases *c, pass *ps, su_outbox *o)
{
	su_store *s = c->store;
	char why[256] = "";
	unsigned attempts = o->attempts + 1;
	int rc;

	switch (o->kind) {
	case SU_OB_WEBHOOK:
		if (!c->cfg.webhook.url) {
			snprintf(why, sizeof(why), "no webhook configured any more");
			rc = -2;
		} else if (ps->webhook_down) {
			/* The receiver just failed: hold the others back until
			 * its next attempt instead of hammering it. Not an attempt. */
			s->ops->retry(s, o->id, o->attempts, ps->webhook_next, "held back: receiver failing");
			return;
		} else
			rc = post(c, o, why, sizeof(why));
		break;
	case SU_OB_END_USER:
		rc = end_user(c, o, why, sizeof(why));
		break;
	default:
		rc = inapp_start(c, o, ps->now, why, sizeof(why));
		break;
	}

	int64_t now = su_lc_now_ms();
	/* Counters move before the row does: whoever sees the outbox empty
	 * (flush) then sees the counts too. */
	if (rc == 0 || rc == 2) {
		if (rc == 0) {
			atomic_fetch_add(&c->st.notify_delivered, 1);
			su_lc_log(c, STEPUP_LOG_INFO, "%s %s delivered (attempt %u)", kind_label(o->kind),
			          o->notification_id, attempts);
		}
		if (s->ops->ack(s, o->id, rc == 0 ? attempts : o->attempts, now) != STEPUP_OK)
			su_lc_store_failed(c, STEPUP_EIO, "acknowledge notification");
		return;
	}
	if (rc == 1) {
		/* Abandoned at close: the next start tries again at once. */
		s->ops->retry(s, o->id, o->attempts, now, why);
		return;
	}
	const su_retry *r = policy(c, o->kind);
	int64_t next = now + backoff_ms(r, attempts);
	if (o->kind == SU_OB_WEBHOOK) {
		ps->webhook_down = 1;
		ps->webhook_next = next;
	}
	if (rc == -2 || attempts >= r->max_attempts) {
		atomic_fetch_add(&c->st.notify_gave_up, 1);
		su_lc_log(c, STEPUP_LOG_ERROR, "%s %s failed for good after %u attempt%s: %s",
		          kind_label(o->kind), o->notification_id, attempts, attempts == 1 ? "" : "s", why);
		if (s->ops->give_up(s, o->id, attempts, now, why) != STEPUP_OK)
			su_lc_store_failed(c, STEPUP_EIO, "fail notification");
		return;
	}
	atomic_fetch_add(&c->st.notify_retried, 1);
	su_lc_log(c, STEPUP_LOG_WARNING, "%s %s attempt %u failed: %s; next in %.1f s",
	          kind_label(o->kind), o->notification_id, attempts, why, (double)(next - now) / 1000.0);
	if (s->ops->retry(s, o->id, attempts, next, why) != STEPUP_OK)
		su_lc_store_failed(c, STEPUP_EIO, "reschedule notification");
}

int su_lc_deliver_pass(stepup_cases *c, int all)
{
	su_outbox rows[CLAIM_BATCH];
	pass ps = { su_lc_now_ms(), 0, 0 };
	int64_t lease = (int64_t)c->cfg.webhook.timeout_ms + LEASE_EXTRA_MS;
	int64_t after = all ? 0 : -1;
	uint64_t pending = 0;
	int failed = 0;

	pthread_mutex_lock(&c->deliver_mu);
	while (!atomic_load(&c->stopping)) {
		size_t n = 0;
		int64_t now = su_lc_now_ms();
		int rc = c->store->ops->claim(c->store, now, after, lease, rows, CLAIM_BATCH, &n);
		if (rc != STEPUP_OK) {
			su_lc_store_failed(c, rc, "claim notifications");
			failed = 1;
			break;
		}
		if (n == 0)
			break;
		ps.now = now;
		for (size_t i = 0; i < n; i++) {
			if (!atomic_load(&c->stopping))
				deliver_one(c, &ps, &rows[i]);
			else
				c->store->ops->retry(c->store, rows[i].id, rows[i].attempts, now,
				                     "abandoned at shutdown");
			if (after >= 0)
				after = rows[i].id;
			su_outbox_clear(&rows[i]);
		}
	}
	if (c->store->ops->pending(c->store, &pending) == STEPUP_OK)
		atomic_store(&c->st.outbox_pending, pending);
	pthread_mutex_unlock(&c->deliver_mu);
	return failed ? -1 : 0;
}

/* ---- the thread -------------------------------------------------------------- */

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *notifier_main(void *arg)
{
	stepup_cases *c = arg;

	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (atomic_load(&c->stopping)) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		int all = c->force;
		c->force = c->kicked = 0;
		c->in_forced = all;
		pthread_mutex_unlock(&c->mu);

		int64_t now = su_lc_now_ms();
		if (now >= c->next_sweep_ms) {
			su_lc_sweep(c, NULL);
			c->next_sweep_ms = now + c->cfg.sweep_interval_ms;
		}
		int trouble = su_lc_deliver_pass(c, all) < 0;

		int64_t due = INT64_MAX;
		if (c->store->ops->next_due(c->store, &due) != STEPUP_OK)
			due = INT64_MAX;
		int64_t wake = due < c->next_sweep_ms ? due : c->next_sweep_ms;

		pthread_mutex_lock(&c->mu);
		c->passes++;
		if (all)
			c->forced_done++;
		c->in_forced = 0;
		pthread_cond_broadcast(&c->progress);
		if (!atomic_load(&c->stopping) && !c->kicked && !c->force) {
			int64_t wait = wake - su_lc_now_ms();
			if (wait > (int64_t)c->cfg.sweep_interval_ms)
				wait = c->cfg.sweep_interval_ms;
			/* Never spin: a row due now that could not be taken (the
			 * store failing, another process's lease) waits a little,
			 * and a failing store a lot. */
			if (wait < (trouble ? 1000 : 5))
				wait = trouble ? 1000 : 5;
			struct timespec ts;
			deadline_in(&ts, wait);
			pthread_cond_timedwait(&c->wake, &c->mu, &ts);
		}
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

int su_lc_notifier_start(stepup_cases *c)
{
	pthread_once(&curl_once, curl_init_once);
	if (pthread_create(&c->thread, NULL, notifier_main, c) != 0)
		return STEPUP_ENOMEM;
	c->running = 1;
	return STEPUP_OK;
}

void su_lc_notifier_stop(stepup_cases *c)
{
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->stopping, 1);
	pthread_cond_broadcast(&c->wake);
	pthread_cond_broadcast(&c->progress);
	pthread_mutex_unlock(&c->mu);
	if (c->running)
		pthread_join(c->thread, NULL);
	c->running = 0;
}

void su_lc_notifier_kick(stepup_cases *c)
{
	pthread_mutex_lock(&c->mu);
	c->kicked = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
}
