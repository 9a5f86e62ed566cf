/* decide.c: combining fired rules into one answer (DESIGN.md §2).
 *
 *   decision  = most severe fired outcome (RED > YELLOW > GREEN; none = GREEN)
 *   methods   = declared methods allowed by every fired YELLOW rule and
 *               available for this request, in declaration order
 *   fallback  = customer service when nothing is left and a number is
 *               configured, else RED
 *   line      = FRAUD when any fired rule asks for it
 *   merchant  = ECOM_MERCHANT never gets YELLOW: the ruleset's policy
 *               turns it into GREEN or RED */
#include <stdlib.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "index.h"

stepup_decision *stepup_decision_new(void)
{
	return calloc(1, sizeof(stepup_decision));
}

void stepup_decision_free(stepup_decision *d)
{
	if (!d)
		return;
	free(d->fired);
	free(d->ranges);
	free(d->rule_result);
	free(d->rule_trace);
	free(d->trace.atom);
	free(d->trace.value);
	su_methods_reset(d);
	free(d->out);
	free(d);
}

static int grow_u32(uint32_t **p, uint32_t *cap, uint32_t need)
{
	if (need <= *cap)
		return 0;
	uint32_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	uint32_t *q = realloc(*p, c * sizeof(**p));
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

/* Explain: every rule's condition through the general loop, with the
 * value of each test it ran. */
static __attribute__((noinline, cold)) int explain_rules(stepup_decision *d, const stepup_engine *e,
                                                           const stepup_request *r)
{
	const stepup_ruleset *rs = e->rs;

	if (rs->nrules + 1 > d->rcap) {
		uint32_t cap = rs->nrules + 1;
		uint8_t *rr = realloc(d->rule_result, cap);
		if (!rr)
			return -1;
		d->rule_result = rr;
		uint32_t *rt = realloc(d->rule_trace, cap * sizeof(uint32_t));
		if (!rt)
			return -1;
		d->rule_trace = rt;
		d->rcap = cap;
	}
	size_t cap = rs->natoms + 16;
	if (d->trace.cap < cap) {
		uint32_t *a = realloc(d->trace.atom, cap * sizeof(uint32_t));
		if (!a)
			return -1;
		d->trace.atom = a;
		uint8_t *v = realloc(d->trace.value, cap);
		if (!v)
			return -1;
		d->trace.value = v;
		d->trace.cap = cap;
	}
	d->trace.n = 0;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		d->rule_trace[i] = (uint32_t)d->trace.n;
		d->rule_result[i] = (uint8_t)su_eval_traced(rs, e->imports, r, rs->rules[i].code, &d->trace);
	}
	d->rule_trace[rs->nrules] = (uint32_t)d->trace.n;
	return 0;
}


/* Does r carry the field of `role`? (su_request_role_slot, inline) */
static inline unsigned role_present(const stepup_ruleset *rs, const stepup_request *r, su_role role)
{
	int slot = rs->schema->role_slot[role];
	return slot >= 0 && SU_PRESENT(r, slot);
}

/* The method phase of a YELLOW decision (DESIGN.md §2): the declared
 * methods allowed by every fired YELLOW rule, with the data to serve them
 * (an app id, the end user's phone or email, a customer-service number)
 * and their availability condition TRUE, in declaration order; customer
 * service as the fallback; else RED. Returns the outcome. Method sets are
 * masks of 1 << stepup_method. */
static stepup_outcome offer_methods(const stepup_engine *e, const stepup_request *r, stepup_decision *d,
                                    unsigned allowed)
{
	const stepup_ruleset *rs = e->rs;
	const unsigned cs = 1u << STEPUP_CUSTOMER_SERVICE;
	unsigned data, cond = 0, offered, n = 0;

	data = role_present(rs, r, SU_ROLE_CONTACT_SMS) << STEPUP_OTP_SMS |
	       role_present(rs, r, SU_ROLE_CONTACT_EMAIL) << STEPUP_OTP_EMAIL;
	if (e->app_id)
		data |= 1u << STEPUP_IN_APP;
	if (e->cs[d->line] || e->cs[STEPUP_LINE_STANDARD])
		data |= cs;
	if (__builtin_expect(e->plugins != NULL, 0))
		data |= e->plugin_methods & ~(3u << STEPUP_OTP_SMS);
	/* Methods whose condition is TRUE (a methods chunk's cond_of holds
	 * the method). */
	for (uint32_t c = 0; c < rs->nfmethods; c++) {
		const su_fcond *ch = &rs->fmethods[c];
		uint64_t f = su_chunk_eval(rs, e->imports, r, ch);
		/* over every method of the chunk, not the TRUE ones: the trip
		 * count does not depend on the request */
		for (uint64_t m = ch->last; m; m &= m - 1) {
			unsigned b = (unsigned)__builtin_ctzll(m);
			cond |= (unsigned)(f >> b & 1) << ch->cond_of[b];
		}
	}
	offered = allowed & data & cond;
	if (__builtin_expect(e->plugins != NULL, 0) && offered) {
		offered = su_methods_serve(e, r, d, offered);
		/* A method whose plugin failed counts as one without data: the
		 * fallback below is asked of the router again, unless it is the
		 * one that just failed. */
		data &= ~d->plugin_failed;
	}
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		unsigned type = rs->methods[i].type;
		d->methods[n] = (uint8_t)type;
		n += offered >> type & 1;
	}
	if (__builtin_expect(d->explain, 0))
		for (uint32_t i = 0; i < rs->nmethods; i++) {
			unsigned type = rs->methods[i].type, bit = 1u << type;
			d->method_why[type] = !(allowed & bit) ? SU_MW_NOT_ALLOWED
			                    : (d->plugin_failed & bit) ? SU_MW_PLUGIN
			                    : !(data & bit)    ? SU_MW_NO_DATA
			                    : !(cond & bit)    ? SU_MW_CONDITION
			                                       : SU_MW_OFFERED;
		}
	if (n == 0) {
		if (!(data & cs) || (e->plugins && !(offered & cs) &&
		                     !su_methods_serve(e, r, d, cs))) {
			d->no_method_left = 1;
			return STEPUP_RED;
		}
		d->methods[n++] = STEPUP_CUSTOMER_SERVICE;
		d->method_why[STEPUP_CUSTOMER_SERVICE] = SU_MW_FALLBACK;
		offered = cs;
	}
	d->nmethods = n;
	/* Customer service offered: the fraud line falls back to the standard
	 * one without a fraud number (a router chooses for itself). */
	if ((offered & cs) && !e->cs[d->line] && !d->cs_number)
		d->line_served = STEPUP_LINE_STANDARD;
	return STEPUP_YELLOW;
}

/* What the fired rules of a decision add up to. */
typedef struct hits {
	uint64_t red, yellow, fraud;
	unsigned allowed;
	uint32_t n;
} hits;

/* Run rule chunks [c, end): fired rules appended to `fired`, in chunk order. */
static inline __attribute__((always_inline)) void run_chunks(const stepup_ruleset *rs, const su_bound *imp,
                                                             const stepup_request *r, uint32_t c,
                                                             uint32_t end, uint32_t *fired, hits *h)
{
	for (; c < end; c++) {
		const su_fcond *ch = &rs->frules[c];
		uint64_t f = su_chunk_eval(rs, imp, r, ch);
		if (!f)
			continue;
		const uint32_t *ids = rs->fids + ch->ids;
		h->red |= f & ch->red;
		h->yellow |= f & ch->yellow;
		h->fraud |= f & ch->fraud;
		for (uint64_t m = f & ch->narrow; m; m &= m - 1)
			h->allowed &= rs->rules[ids[ch->cond_of[__builtin_ctzll(m)]]].allowed;
		do
			fired[h->n++] = ids[ch->cond_of[__builtin_ctzll(f)]];
		while (f &= f - 1);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Back to rule order, each rule once (the index may run a rule twice). */
static void rule_order(uint32_t *v, uint32_t *n)
{
	if (*n <= 32) {
		for (uint32_t i = 1; i < *n; i++)
			for (uint32_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
				uint32_t x = v[j];
				v[j] = v[j - 1];
				v[j - 1] = x;
			}
	} else {
		qsort(v, *n, sizeof(*v), cmp_u32);
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < *n; i++)
		if (k == 0 || v[i] != v[k - 1])
			v[k++] = v[i];
	*n = k;
}

/* The rules the index finds for r, after the always ones: their chunks. */
static __attribute__((noinline)) int run_indexed(const stepup_ruleset *rs, const su_bound *imp,
                                                 const stepup_request *r, stepup_decision *d, hits *h)
{
	uint32_t need = su_index_max_ranges(rs->index);
	if (need > d->rangecap) {
		su_irange *p = realloc(d->ranges, need * sizeof(*p));
		if (!p)
			return -1;
		d->ranges = p;
		d->rangecap = need;
	}
	uint32_t nr = su_index_lookup(rs->index, r, d->ranges), before = h->n;
	/* The chunks found are anywhere in a big ruleset: ask for their first
	 * lines at once. */
	for (uint32_t k = 0; k < nr; k++)
		__builtin_prefetch(&rs->frules[d->ranges[k].first]);
	for (uint32_t k = 0; k < nr; k++)
		run_chunks(rs, imp, r, d->ranges[k].first, d->ranges[k].first + d->ranges[k].count, d->fired, h);
	if (h->n > 1 && (nr > 1 || before))
		rule_order(d->fired, &h->n);
	return 0;
}

int stepup_decide(const stepup_engine *e, const stepup_request *r, stepup_decision *d, unsigned flags)
{
	const stepup_ruleset *rs;
	stepup_outcome sev;

	/* A request decoded for another engine has another schema's slots. */
	if (!e || !r || !d || !r->ok || r->engine != e->serial)
		return STEPUP_EINVAL;
	rs = e->rs;
	/* A request is a few cache lines (request.h): ask for all of those
	 * the rules read now, by address alone, so that when it is not in
	 * cache the misses overlap instead of waiting for each other. */
	const char *hot = (const char *)r;
	__builtin_prefetch(hot);
	__builtin_prefetch(hot + 64);
	__builtin_prefetch(hot + 128);
	__builtin_prefetch(hot + 192);
	for (uint32_t o = 256; o < rs->hot_bytes + 63; o += 64)
		__builtin_prefetch(hot + o);
	__builtin_prefetch(r->inline_buf);
	__builtin_prefetch(r->inline_buf + SU_NORM_BYTES - 1);
	d->rs = rs;
	d->engine = e->serial;
	d->explain = flags & STEPUP_DECIDE_EXPLAIN;
	d->nfired = 0;
	d->nmethods = 0;
	d->merchant_policy_applied = 0;
	d->no_method_left = 0;
	if (__builtin_expect(d->app_json || d->cs_number || d->plugin_failed, 0))
		su_methods_reset(d);
	if (rs->max_fired > d->firedcap && grow_u32(&d->fired, &d->firedcap, rs->max_fired))
		return STEPUP_ENOMEM;
	if (d->explain && explain_rules(d, e, r) < 0)
		return STEPUP_ENOMEM;

	/* The hot loop: the rules a chunk at a time; fired ones in order. */
	hits h = { 0, 0, 0, (1u << STEPUP_METHOD_COUNT) - 1, 0 };
	run_chunks(rs, e->imports, r, 0, rs->nalways, d->fired, &h);
	if (rs->index && run_indexed(rs, e->imports, r, d, &h) < 0)
		return STEPUP_ENOMEM;
	uint32_t nfired = h.n;
	uint64_t red = h.red, yellow = h.yellow, fraud = h.fraud;
	unsigned allowed = h.allowed;
	d->nfired = nfired;
	sev = red ? STEPUP_RED : yellow ? STEPUP_YELLOW : STEPUP_GREEN;

	d->combined = sev;
	d->line = fraud ? STEPUP_LINE_FRAUD : STEPUP_LINE_STANDARD;
	d->line_served = d->line;
	if (d->explain)
		memset(d->method_why, SU_MW_NOT_EVALUATED, sizeof(d->method_why));

	if (sev == STEPUP_YELLOW) {
		int ch = rs->schema->role_slot[SU_ROLE_CHANNEL];
		if (ch >= 0 && SU_PRESENT(r, ch) && (rs->schema->fields[ch].merchant >> r->f[ch].e & 1)) {
			sev = (stepup_outcome)rs->merchant_policy;  /* no step-up on a merchant channel */
			d->merchant_policy_applied = 1;
		} else {
			sev = offer_methods(e, r, d, allowed);
		}
	}
	d->outcome = sev;
	d->id[0] = '\0';  /* made on first use: most callers render, some never ask */
	return STEPUP_OK;
}

stepup_outcome stepup_decision_outcome(const stepup_decision *d)
{
	return d->outcome;
}

size_t stepup_decision_method_count(const stepup_decision *d)
{
	return d->nmethods;
}

stepup_method stepup_decision_method(const stepup_decision *d, size_t i)
{
	return i < d->nmethods ? (stepup_method)d->methods[i] : STEPUP_CUSTOMER_SERVICE;
}

stepup_cs_line stepup_decision_cs_line(const stepup_decision *d)
{
	return d->line_served;
}

size_t stepup_decision_fired_count(const stepup_decision *d)
{
	return d->nfired;
}

const char *stepup_decision_fired_rule(const stepup_decision *d, size_t i, stepup_outcome *outcome)
{
	if (i >= d->nfired)
		return NULL;
	const su_rule *ru = &d->rs->rules[d->fired[i]];
	if (outcome)
		*outcome = (stepup_outcome)ru->outcome;
	return SU_STR(d->rs, ru->name);
}
