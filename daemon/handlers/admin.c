/* admin.c: POST /v1/admin/reload, the shadow candidate's reload and its
 * promotion (shadow.h), and who may call the admin endpoints.
 *
 * A reload compiles rules and loads plugins, which can take a while; the
 * request is parked (its worker thread serves other connections
 * meanwhile) and woken with the result when its reload is over (reload.h).
 * The body is optional: {} or {"force": true}, which skips the reload
 * guards for a deliberate change (logged with who asked). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../app.h"
#include "../gen.h"
#include "../metrics.h"
#include "handlers.h"
#include "../reload.h"
#include "../shadow.h"
#include "../workq.h"

int admin_check(int loopback, const char *authorization)
{
	gen *g = gen_acquire();
	int ok = 0;
	if (!g)
		return 0;
	if (loopback && g->cfg->admin.allow_loopback)
		ok = 1;
	else if (g->cfg->admin.token && authorization &&
	         strncmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;
		ok = ct_equal(t, strlen(t), g->cfg->admin.token, strlen(g->cfg->admin.token));
	}
	gen_release(g);
	return ok;
}

static void post(void *j)
{
	reload_job_post(j);
}

/* {"status":"reloaded","<what>":{"name":..,"revision":..}} */
static void answer_reloaded(http_resp *rs, const char *what, const char *name, const char *revision)
{
	dbuf_printf(&rs->body, "{\"status\":\"reloaded\",\"%s\":{\"name\":", what);
	dbuf_json(&rs->body, name);
	dbuf_puts(&rs->body, ",\"revision\":");
	dbuf_json(&rs->body, revision);
	dbuf_puts(&rs->body, "}}");
}

/* Who asked, for the logs: the client address and how it was let in (the
 * token itself is never logged). */
static void who_asked(const http_req *rq, char *buf, size_t size)
{
	snprintf(buf, size, "%s via %s", rq->peer ? rq->peer : "?",
	         http_header(rq, "Authorization") ? "admin token" : "loopback");
}

void h_admin_reload(const http_req *rq, http_resp *rs)
{
	reload_job *j = *rq->job;
	if (!rq->resumed) {
		int force = 0;
		if (rq->body_len) {
			json_t *b = json_loadb(rq->body, rq->body_len, 0, NULL);
			json_t *f = json_object_get(b, "force");
			int ok = json_is_object(b) && json_object_size(b) == (f ? 1u : 0u) &&
			         (!f || json_is_boolean(f));
			force = ok && json_is_true(f);
			json_decref(b);
			if (!ok) {
				http_error(rs, 400, RJ_BAD_REQUEST, "bad_request",
				           "the body must be empty, {} or {\"force\": true}");
				rs->log_field = "force";
				return;
			}
		}
		j = calloc(1, sizeof(*j));
		if (!j) {
			http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
			return;
		}
		j->handle = rq->impl;
		j->force = force;
		who_asked(rq, j->who, sizeof(j->who));
		*rq->job = j;
		rs->suspend = 1;
		rs->after_suspend = post;
		rs->after_arg = j;
		return;
	}
	*rq->job = NULL;
	if (j->ok) {
		answer_reloaded(rs, "ruleset", j->name, j->revision);
	} else {
		/* The reason names the file and line of a rules error, or the
		 * plugin; the caller is an operator (loopback or token). */
		http_error(rs, 422, -1, "reload_failed", j->err);
	}
	free(j);
}

/* POST /v1/admin/promote: no body, {} or {"revision": "sha256:..."} (then
 * only that candidate is promoted). Building the generation reads no file,
 * so it runs here. */
void h_admin_promote(const http_req *rq, http_resp *rs)
{
	char who[96], revision[80] = "";
	if (rq->body_len) {
		json_t *b = json_loadb(rq->body, rq->body_len, 0, NULL);
		json_t *r = json_object_get(b, "revision");
		int ok = json_is_object(b) && json_object_size(b) == (r ? 1u : 0u) && (!r || json_is_string(r));
		if (ok && r)
			snprintf(revision, sizeof(revision), "%s", json_string_value(r));
		json_decref(b);
		if (!ok) {
			http_error(rs, 400, RJ_BAD_REQUEST, "bad_request",
			           "the body must be empty, {} or {\"revision\": \"sha256:...\"}");
			rs->log_field = "revision";
			return;
		}
	}
	who_asked(rq, who, sizeof(who));
	rs->status = (unsigned)shadow_promote(who, revision[0] ? revision : NULL, &rs->body);
	if (rs->status != 200)
		rs->cause = -1;
}

/* POST /v1/admin/shadow/reload: the candidate alone, read on the shadow's
 * admin pool (a file read must not hold an HTTP thread). */
typedef struct shadow_job {
	work w;
	int ok;
	char name[128], revision[80], err[1024];
} shadow_job;

static void shadow_job_run(work *w)
{
	shadow_job *j = (shadow_job *)w;
	j->ok = shadow_reload(j->name, sizeof(j->name), j->revision, sizeof(j->revision), j->err,
	                      sizeof(j->err)) == 0;
}

static void shadow_job_refuse(work *w)
{
	shadow_job *j = (shadow_job *)w;
	j->ok = 0;
	snprintf(j->err, sizeof(j->err), "shutting down");
}

static void shadow_job_destroy(work *w)
{
	free(w);
}

static void shadow_post_job(void *j)
{
	workq_post(shadow_admin_pool(), j);
}

void h_admin_shadow_reload(const http_req *rq, http_resp *rs)
{
	shadow_job *j = *rq->job;
	if (!rq->resumed) {
		if (!shadow_admin_pool()) {
			http_error(rs, 409, -1, "shadow_off", "shadow mode is off (no \"shadow\" section at start)");
			return;
		}
		if (!(j = calloc(1, sizeof(*j)))) {
			http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
			return;
		}
		j->w.run = shadow_job_run;
		j->w.refuse = shadow_job_refuse;
		j->w.destroy = shadow_job_destroy;
		j->w.handle = rq->impl;
		*rq->job = j;
		rs->suspend = 1;
		rs->after_suspend = shadow_post_job;
		rs->after_arg = j;
		return;
	}
	*rq->job = NULL;
	if (j->ok) {
		answer_reloaded(rs, "candidate", j->name, j->revision);
	} else {
		http_error(rs, 422, -1, "reload_failed", j->err);
	}
	workq_done(&j->w);
}
