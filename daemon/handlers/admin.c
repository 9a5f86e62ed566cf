/* admin.c: POST /v1/admin/reload and who may call the admin endpoints.
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
		/* Who asked, for the log of a forced reload: the client address
		 * and how it was let in (the token itself is never logged). */
		snprintf(j->who, sizeof(j->who), "%s via %s", rq->peer ? rq->peer : "?",
		         http_header(rq, "Authorization") ? "admin token" : "loopback");
		*rq->job = j;
		rs->suspend = 1;
		rs->after_suspend = post;
		rs->after_arg = j;
		return;
	}
	*rq->job = NULL;
	if (j->ok) {
		dbuf_puts(&rs->body, "{\"status\":\"reloaded\",\"ruleset\":{\"name\":");
		dbuf_json(&rs->body, j->name);
		dbuf_puts(&rs->body, ",\"revision\":");
		dbuf_json(&rs->body, j->revision);
		dbuf_puts(&rs->body, "}}");
	} else {
		/* The reason names the file and line of a rules error, or the
		 * plugin; the caller is an operator (loopback or token). */
		http_error(rs, 422, -1, "reload_failed", j->err);
	}
	free(j);
}
