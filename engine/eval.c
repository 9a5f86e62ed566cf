/* eval.c: the one evaluator loop.
 *
 * Runs one verified condition over a decoded request and returns TRUE,
 * FALSE or ABSENT. "Absent" propagates through comparisons and calls
 * instead of aborting the rule (Kleene logic: absent AND false = false).
 * The loop is instantiated twice: without tracing (the hot path) and with
 * a trace of every atom's value (explain).
 *
 * Plugin calls (V_PCALL) marshal their arguments and go through the plugin
 * host (su_plugins_call_fn: counting, deadline, memo, isolation). A string a plugin returns belongs to us; it may be read
 * by any later instruction of the condition, so it is kept until the
 * condition's END (the only way out of a verified condition) and freed
 * there. */
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "plugins.h"

typedef struct val {
	uint8_t present;
	uint8_t fl;      /* number held as a double */
	union {
		int64_t i;
		double d;
		uint32_t e;
		int b;
		uint64_t mask;
		su_str str;
	} v;
} val;

static double num(const val *v)
{
	return v->fl ? v->v.d : (double)v->v.i;
}

static void call(unsigned fn, val *args, val *out)
{
	for (unsigned i = 0; i < su_builtins[fn].nargs; i++)
		if (!args[i].present) {
			out->present = 0;
			return;
		}
	out->present = 1;
	out->fl = 0;
	switch (fn) {
	case SU_FN_ENDS_WITH:
		out->v.b = ends_with(args[0].v.str, args[1].v.str);
		break;
	case SU_FN_STARTS_WITH:
		out->v.b = args[1].v.str.len <= args[0].v.str.len &&
		           memcmp(args[0].v.str.s, args[1].v.str.s, args[1].v.str.len) == 0;
		break;
	case SU_FN_CONTAINS:
		out->v.b = su_contains(args[0].v.str, args[1].v.str.s, args[1].v.str.len);
		break;
	case SU_FN_LENGTH:
		out->v.i = args[0].v.str.len;
		break;
	default:
		out->present = 0;
	}
}

/* Strings returned by plugin calls while one condition runs. Most
 * conditions have none; the first few need no allocation. */
typedef struct owned {
	uint32_t n, cap;
	char **p;              /* local, or heap once more are needed */
	char *local[8];
} owned;

static int keep(owned *o, char *s)
{
	if (o->n == o->cap) {
		if (o->cap == 0) {
			o->p = o->local;
			o->cap = 8;
		} else {
			char **q = malloc((size_t)o->cap * 2 * sizeof(*q));
			if (!q)
				return -1;
			memcpy(q, o->p, o->n * sizeof(*q));
			if (o->p != o->local)
				free(o->p);
			o->p = q;
			o->cap *= 2;
		}
	}
	o->p[o->n++] = s;
	return 0;
}

static void release(owned *o)
{
	for (uint32_t i = 0; i < o->n; i++)
		free(o->p[i]);
	if (o->p != o->local)
		free(o->p);
	o->n = 0;
}

/* Call a bound plugin function. Any absent argument makes the result
 * absent without calling. Request strings are (pointer, length) slices
 * of the input, so strings go to the plugin as NUL-terminated copies
 * (a string holding a NUL byte reads as its part before it). A NULL
 * string result is absent. */
static __attribute__((noinline)) void pcall(const su_bound *b, const val *args, val *out, owned *own)
{
	su_plugin_arg a[STEPUP_PLUGIN_MAX_ARGS], ret;
	char scratch[256], *buf = scratch, *heap = NULL;
	size_t need = 0, used = 0;

	out->present = 0;
	out->fl = 0;
	for (unsigned i = 0; i < b->nargs; i++) {
		if (!args[i].present)
			return;
		if (b->args[i] == 's')
			need += (size_t)args[i].v.str.len + 1;
	}
	if (need > sizeof(scratch) && !(buf = heap = malloc(need)))
		return;
	for (unsigned i = 0; i < b->nargs; i++)
		switch (b->args[i]) {
		case 'i':
			a[i].i = args[i].v.i;
			break;
		case 'd':
			a[i].d = num(&args[i]);
			break;
		case 'b':
			a[i].b = args[i].v.b != 0;
			break;
		default: /* 's' */
			if (args[i].v.str.len)
				memcpy(buf + used, args[i].v.str.s, args[i].v.str.len);
			buf[used + args[i].v.str.len] = '\0';
			a[i].s = buf + used;
			used += (size_t)args[i].v.str.len + 1;
		}
	ret.s = NULL;
	/* Counted, timed, isolated and remembered for the decision by the
	 * plugin host; a failure or a timeout reads as absent. */
	int rc = su_plugins_call_fn(b->p, b->fn, a, &ret);
	free(heap);
	if (rc != STEPUP_OK)
		return;
	switch (b->ret) {
	case 'i':
		out->v.i = ret.i;
		break;
	case 'd':
		out->fl = 1;
		out->v.d = ret.d;
		break;
	case 'b':
		out->v.b = ret.b;
		break;
	default: { /* 's' */
		if (!ret.s)
			return;
		size_t len = strlen(ret.s);
		if (len > UINT32_MAX || keep(own, ret.s) < 0) {
			free(ret.s);
			return;
		}
		out->v.str = (su_str){ ret.s, (uint32_t)len };
	}
	}
	out->present = 1;
}

int su_contains(su_str a, const char *b, uint32_t n)
{
	return n == 0 || memmem(a.s, a.len, b, n) != NULL;
}

#define TRI(x) SU_TRI(x)

static inline __attribute__((always_inline)) int run(const stepup_ruleset *rs, const su_bound *imp,
                                                     const stepup_request *r, uint32_t pc,
                                                     su_trace *trace, const int tracing)
{
	uint8_t tri[SU_MAX_STACK];
	val vs[SU_MAX_STACK + 1];
	int t = -1, v = -1;
	const su_insn *in = rs->code + pc;
	owned own;

	own.n = own.cap = 0;
	for (;; in++) {
		switch ((enum su_op)in->op) {
		case SU_OP_END:
			if (own.n)
				release(&own);
			return tri[t];
		case SU_OP_TRI:
		case SU_OP_PRESENT:
		case SU_OP_BOOL:
		case SU_OP_ENUM_IN:
		case SU_OP_INT_CMP:
		case SU_OP_STR_CMP:
		case SU_OP_STR_IN:
		case SU_OP_STR_SUFFIX:
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
		case SU_OP_STR_PREFIX:
		case SU_OP_STR_ENDS:
		case SU_OP_STR_CONTAINS:
		case SU_OP_STR_LEN:
			tri[++t] = su_eval_test(rs, r, in);
			break;
		case SU_OP_V_FIELD:
			vs[++v].present = (uint8_t)SU_P(in->a);
			vs[v].fl = 0;
			if (rs->schema->fields[in->a].type == SU_T_STRING)
				vs[v].v.str = su_rstr(r, in->a);
			else
				vs[v].v.i = r->f[in->a].i;  /* the whole 8-byte union */
			break;
		case SU_OP_V_INT:
			vs[++v].present = 1;
			vs[v].fl = 0;
			vs[v].v.i = rs->ints[in->c];
			break;
		case SU_OP_V_FLOAT:
			vs[++v].present = 1;
			vs[v].fl = 1;
			vs[v].v.d = rs->floats[in->c];
			break;
		case SU_OP_V_STR:
			vs[++v].present = 1;
			vs[v].v.str = (su_str){ SU_STR(rs, in->c), SU_STRLEN(rs, in->c) };
			break;
		case SU_OP_V_ENUM:
			vs[++v].present = 1;
			vs[v].v.e = in->c;
			break;
		case SU_OP_V_BOOL:
			vs[++v].present = 1;
			vs[v].v.b = (int)in->c;
			break;
		case SU_OP_V_CALL: {
			val out;
			v -= in->a;
			call(in->c, &vs[v + 1], &out);
			vs[++v] = out;
			break;
		}
		case SU_OP_V_PCALL: {
			val out;
			v -= in->a;
			pcall(&imp[in->c], &vs[v + 1], &out, &own);
			vs[++v] = out;
			break;
		}
		case SU_OP_V_CMP: {
			val *a = &vs[v - 1], *b = &vs[v];
			uint8_t res;
			v -= 2;
			if (!a->present || !b->present)
				res = SU_ABSENT;
			else
				switch (in->a) {
				case SU_T_FLOAT:
					res = TRI(cmp_d(num(a), num(b), in->cmp));
					break;
				case SU_T_INT:
					res = TRI(cmp_i(a->v.i, b->v.i, in->cmp));
					break;
				case SU_T_STRING:
					res = TRI(str_eq(a->v.str, b->v.str.s, b->v.str.len) == (in->cmp == SU_CMP_EQ_CODE));
					break;
				case SU_T_ENUM:
					res = TRI((a->v.e == b->v.e) == (in->cmp == SU_CMP_EQ_CODE));
					break;
				case SU_T_BOOL:
					res = TRI((!a->v.b == !b->v.b) == (in->cmp == SU_CMP_EQ_CODE));
					break;
				default:
					res = SU_ABSENT;
				}
			tri[++t] = res;
			break;
		}
		case SU_OP_V_IN: {
			val *a = &vs[v--];
			uint8_t res = SU_ABSENT;
			if (a->present) {
				if (in->a == SU_T_ENUM)
					res = (uint8_t)((rs->masks[in->c] >> a->v.e) & 1);
				else if (in->a == SU_T_STRING)
					res = TRI(str_in(rs, in->c, a->v.str));
				else if (in->a == SU_T_INT) {
					su_range rg = rs->strsets[in->c];
					res = SU_FALSE;
					for (uint32_t i = 0; i < rg.count; i++)
						if (rs->ints[rg.start + i] == a->v.i)
							res = SU_TRUE;
				} else {
					su_range rg = rs->strsets[in->c];
					res = SU_FALSE;
					for (uint32_t i = 0; i < rg.count; i++)
						if (rs->floats[rg.start + i] == num(a))
							res = SU_TRUE;
				}
			}
			tri[++t] = res;
			break;
		}
		case SU_OP_V_HAS: {
			val *a = &vs[v--];
			uint64_t m = rs->masks[in->c];
			tri[++t] = !a->present ? SU_ABSENT
			         : in->cmp == 2 ? TRI((a->v.mask & m) == m) : TRI(a->v.mask & m);
			break;
		}
		case SU_OP_V_TRUTH: {
			val *a = &vs[v--];
			tri[++t] = a->present ? TRI(a->v.b) : SU_ABSENT;
			break;
		}
		case SU_OP_V_PRESENT: {
			val *a = &vs[v--];
			tri[++t] = TRI(a->present != in->c);
			break;
		}
		case SU_OP_NOT:
			if (tri[t] != SU_ABSENT)
				tri[t] ^= 1;
			break;
		case SU_OP_AND: {
			uint8_t b = tri[t--], a = tri[t];
			tri[t] = a == SU_FALSE || b == SU_FALSE ? SU_FALSE
			       : a == SU_TRUE && b == SU_TRUE ? SU_TRUE : SU_ABSENT;
			break;
		}
		case SU_OP_OR: {
			uint8_t b = tri[t--], a = tri[t];
			tri[t] = a == SU_TRUE || b == SU_TRUE ? SU_TRUE
			       : a == SU_FALSE && b == SU_FALSE ? SU_FALSE : SU_ABSENT;
			break;
		}
		case SU_OP_JF:
			if (tri[t] == SU_FALSE)
				in = rs->code + in->c - 1;
			break;
		case SU_OP_JT:
			if (tri[t] == SU_TRUE)
				in = rs->code + in->c - 1;
			break;
		case SU_OP_COUNT:  /* unreachable in a verified program */
			if (own.n)
				release(&own);
			return SU_ABSENT;
		}
		if (tracing && in->atom != SU_NONE && trace->n < trace->cap) {
			trace->atom[trace->n] = in->atom;
			trace->value[trace->n++] = tri[t];
		}
	}
}

int su_eval_vm(const stepup_ruleset *rs, const su_bound *imp, const stepup_request *r, uint32_t pc)
{
	return run(rs, imp, r, pc, NULL, 0);
}

int su_eval_traced(const stepup_ruleset *rs, const su_bound *imp, const stepup_request *r,
                   uint32_t pc, su_trace *trace)
{
	return run(rs, imp, r, pc, trace, 1);
}
