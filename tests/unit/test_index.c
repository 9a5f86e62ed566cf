/* test_index: the widened flat (CNF) form, its fused builtins and VM
 * literals, the rule index (guards, buckets, the order of fired rules, a
 * rule met twice), the bytecode oracle against both, and the format 4
 * bundle that carries them. The differential check of fuzz/fuzz_index.c
 * runs here on a fixed set of inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "index.h"
#include "index_diff.h"
#include "program.h"

static stepup_ruleset *compile_ok(const char *src)
{
	char *diags = NULL;
	stepup_ruleset *rs = th_compile("t.rules", src, &diags);
	if (!rs)
		fail_msg("does not compile:\n%s\n%s", src, diags ? diags : "");
	free(diags);
	return rs;
}

static int has_vm_literal(const stepup_ruleset *rs, su_range cnf)
{
	for (uint32_t i = 0; i < cnf.count; i++) {
		su_range cl = rs->clauses[cnf.start + i];
		for (uint32_t k = 0; k < cl.count; k++)
			if (rs->lits[cl.start + k].neg & SU_LIT_VM)
				return 1;
	}
	return 0;
}

/* starts_with / ends_with / contains on a field and a constant, and
 * length(field) against an integer, are one fused test each. */
static void builtins_are_fused(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok(
	        "rule a when starts_with(card.bin, \"4532\") and ends_with(end_user.email, \"@x.com\")\n"
	        "  and contains(end_user.language, \"-\") and length(end_user.phone) > 11 then decline\n");
	static const uint8_t want[] = { SU_OP_STR_PREFIX, SU_OP_STR_ENDS, SU_OP_STR_CONTAINS, SU_OP_STR_LEN };
	for (size_t w = 0; w < TH_N(want); w++) {
		int seen = 0;
		for (uint32_t pc = 0; pc < rs->ncode; pc++)
			seen |= rs->code[pc].op == want[w];
		if (!seen)
			fail_msg("no %s in the program", su_op_names[want[w]]);
	}
	for (uint32_t pc = 0; pc < rs->ncode; pc++)
		assert_int_not_equal(rs->code[pc].op, SU_OP_V_CALL);
	assert_int_equal(rs->rules[0].cnf.count, 4);
	assert_false(has_vm_literal(rs, rs->rules[0].cnf));
	stepup_ruleset_unref(rs);
}

/* They decide as the builtins do, absent fields included (Kleene: a test
 * of an absent field is ABSENT, and so is its negation). */
static void fused_builtins_decide(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
	        "rule pre when starts_with(end_user.language, \"fr\") then decline\n"
	        "rule suf when ends_with(end_user.email, \"@example.com\") then step_up\n"
	        "rule con when not contains(end_user.email, \"doe\") then step_up\n"
	        "rule len when length(end_user.phone) >= 12 then approve\n"
	        "rule emp when starts_with(end_user.language, \"\") then approve\n",
	        th_settings_full);
	th_result r = th_decide_patched(e, "{\"end_user\": {\"language\": \"fr-FR\", \"email\": \"jane.doe@example.com\","
	                                   " \"phone\": \"+14155551234\"}}");
	assert_true(th_fired(&r, "pre") && th_fired(&r, "suf") && !th_fired(&r, "con") && th_fired(&r, "len") &&
	            th_fired(&r, "emp"));
	th_result_free(&r);
	r = th_decide_patched(e, "{\"end_user\": {\"language\": null, \"email\": null, \"phone\": null}}");
	assert_int_equal(r.nfired, 0);  /* absent: neither a test nor its negation is TRUE */
	th_result_free(&r);
	r = th_decide_patched(e, "{\"end_user\": {\"language\": \"en\", \"email\": \"a@b.org\", \"phone\": \"+3312\"}}");
	assert_true(!th_fired(&r, "pre") && !th_fired(&r, "suf") && th_fired(&r, "con") && !th_fired(&r, "len"));
	th_result_free(&r);
	stepup_engine_free(e);
}

/* `or` distributes over `and`: the guard clause of "guard and (a or b and
 * c)" stays a clause of its own; a test that is not fused costs one VM
 * literal, not the whole rule. */
static void or_distributes_and_vm_literals(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok(
	        "rule d when card.bin == \"45320112\" and (card.state == ACTIVE or card.csc_result == MATCH"
	        " and wallet.device_score <= 2) then decline\n"
	        "rule v when card.state == ACTIVE and length(end_user.phone) > card.active_tokens then decline\n"
	        "rule n when card.bin == \"45320112\" and ((card.state == ACTIVE and wallet.device_score < 2) or"
	        " (card.csc_result == MATCH and wallet.account_score < 2) or (card.capture_method == MANUAL and"
	        " wallet.phone_score < 2) or (end_user.app_enrolled and card.active_tokens > 3) or (channel =="
	        " XPAY_WALLET and card.csc_failures_24h > 2)) then decline\n");
	/* (A or B and C) = (A or B) and (A or C): with the guard, 3 clauses */
	assert_int_equal(rs->rules[0].cnf.count, 3);
	assert_false(has_vm_literal(rs, rs->rules[0].cnf));
	assert_int_equal(rs->rules[1].cnf.count, 2);
	assert_true(has_vm_literal(rs, rs->rules[1].cnf));
	/* an `or` of five 2-test conjunctions would make 32 clauses: it stays
	 * one opaque VM literal, and the guard a clause of its own */
	assert_int_equal(rs->rules[2].cnf.count, 2);
	assert_true(has_vm_literal(rs, rs->rules[2].cnf));
	su_range g = rs->clauses[rs->rules[2].cnf.start];
	assert_int_equal(g.count, 1);
	assert_int_equal(rs->code[rs->lits[g.start].insn].op, SU_OP_STR_CMP);
	stepup_ruleset_unref(rs);
}

/* n rules, each guarded by card.bin == one of 20 BINs, firing on
 * device_score <= 4. */
static char *bin_rules(unsigned n, const char *extra)
{
	size_t cap = 128 * (size_t)n + 1024, len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	len += (size_t)snprintf(s + len, cap - len, "%s", extra);
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len,
		                        "rule b%03u when card.bin == \"453201%02u\" and wallet.device_score <= 4 then %s\n", i,
		                        i % 20, i % 3 ? "step_up" : "decline");
	return s;
}

static void big_rulesets_are_indexed(void **state)
{
	(void)state;
	char *src = bin_rules(200, "");
	stepup_ruleset *rs = compile_ok(src);
	uint32_t fields, buckets, keys;
	assert_non_null(rs->index);
	su_index_stats(rs->index, &fields, &buckets, &keys);
	assert_int_equal(fields, 1);
	assert_int_equal(buckets, 20);
	assert_int_equal(keys, 20);
	assert_int_equal(rs->nalways, 0);
	stepup_ruleset_unref(rs);
	free(src);
	/* Small ones are not: the default ruleset runs as before. */
	stepup_engine *e = th_default_engine();
	assert_null(stepup_engine_ruleset(e)->index);
	stepup_engine_free(e);
	src = bin_rules(20, "");
	rs = compile_ok(src);
	assert_null(rs->index);
	stepup_ruleset_unref(rs);
	free(src);
}

/* Rules of several buckets and the always rules fire in rule order. */
static void fired_in_rule_order(void **state)
{
	(void)state;
	char *src = bin_rules(200, "rule first when wallet.device_score <= 4 then step_up\n");
	stepup_engine *e = th_engine(src, th_settings_full);
	free(src);
	assert_non_null(stepup_engine_ruleset(e)->index);
	/* BIN 45320103: b003, b023, b043, ... b183 */
	th_result r = th_decide_patched(e, "{\"card\": {\"pan\": \"4532010300000007\"}, \"wallet\": {\"device_score\": 3}}");
	assert_int_equal(r.rc, STEPUP_OK);
	assert_int_equal(r.nfired, 11);
	assert_string_equal(r.fired[0], "first");
	for (size_t i = 1; i < r.nfired; i++) {
		char want[32];
		snprintf(want, sizeof(want), "b%03u", (unsigned)(3 + 20 * (i - 1)));
		assert_string_equal(r.fired[i], want);
	}
	th_result_free(&r);
	stepup_engine_free(e);
}

/* A rule whose guard is `has any of {A, B}` sits in two buckets: a request
 * with both codes meets it twice and it fires once. */
static void rule_met_twice_fires_once(void **state)
{
	(void)state;
	char src[16384];
	size_t len = 0;
	for (unsigned i = 0; i < 100; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len,
		                        "rule c%02u when wallet.reason_codes has any of {%s, %s} then step_up\n", i,
		                        i % 2 ? "ACCOUNT_TOO_NEW" : "HIGH_RISK", i % 3 ? "LOW_DEVICE_SCORE" : "INACTIVE_ACCOUNT");
	stepup_ruleset *rs = compile_ok(src);
	assert_int_equal(su_program_prepare_mode(rs, SU_INDEX_FORCE), 0);
	assert_non_null(rs->index);
	stepup_engine *e;
	char err[256];
	assert_int_equal(stepup_engine_new(rs, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	th_result r = th_decide_patched(e, "{\"wallet\": {\"reason_codes\": [\"ACCOUNT_TOO_NEW\", \"LOW_DEVICE_SCORE\","
	                                   " \"HIGH_RISK\", \"INACTIVE_ACCOUNT\"]}}");
	assert_int_equal(r.nfired, 100);  /* th_result keeps the first 64 names */
	for (size_t i = 0; i < 64; i++) {
		char want[32];
		snprintf(want, sizeof(want), "c%02u", (unsigned)i);
		assert_string_equal(r.fired[i], want);
	}
	th_result_free(&r);
	stepup_decision *d = stepup_decision_new();
	stepup_request *q = stepup_request_new();
	char *json = th_patched("{\"wallet\": {\"reason_codes\": [\"ACCOUNT_TOO_NEW\", \"LOW_DEVICE_SCORE\", \"HIGH_RISK\","
	                        " \"INACTIVE_ACCOUNT\"]}}");
	assert_int_equal(stepup_request_parse(q, e, json, strlen(json), NULL, 0), STEPUP_OK);
	assert_int_equal(stepup_decide(e, q, d, 0), STEPUP_OK);
	assert_int_equal(stepup_decision_fired_count(d), 100);
	free(json);
	stepup_request_free(q);
	stepup_decision_free(d);
	stepup_engine_free(e);
}

/* A format 4 bundle carries the fused builtins and the VM literals; the
 * verifier refuses a VM literal outside the code and an unknown flag. */
static void format4_bundle(void **state)
{
	(void)state;
	stepup_ruleset *rs = compile_ok(
	        "rule v when starts_with(card.bin, \"45\") and length(end_user.phone) > card.active_tokens then decline\n");
	void *b;
	size_t len;
	char err[256];
	assert_int_equal(stepup_ruleset_serialize(rs, &b, &len), STEPUP_OK);
	stepup_ruleset *back = NULL;
	assert_int_equal(stepup_ruleset_load_bundle(b, len, &back, err, sizeof(err)), STEPUP_OK);
	assert_true(has_vm_literal(back, back->rules[0].cnf));
	char *d1 = stepup_ruleset_disassemble(rs), *d2 = stepup_ruleset_disassemble(back);
	assert_string_equal(d1, d2);
	assert_non_null(strstr(d1, "STR_PREFIX"));
	assert_non_null(strstr(d1, "card.bin \"45\""));
	free(d1);
	free(d2);
	stepup_ruleset_unref(back);
	free(b);
	/* Corrupt the program in memory, as a crafted bundle could. */
	su_lit *vm = NULL;
	for (uint32_t i = 0; i < rs->nlits; i++)
		if (rs->lits[i].neg & SU_LIT_VM)
			vm = &rs->lits[i];
	assert_non_null(vm);
	uint32_t keep = vm->insn;
	vm->insn = rs->ncode + 7;
	assert_int_equal(su_program_verify(rs, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad literal"));
	vm->insn = keep;
	vm->neg = 4;
	assert_int_equal(su_program_verify(rs, err, sizeof(err)), -1);
	vm->neg = SU_LIT_VM;
	assert_int_equal(su_program_verify(rs, err, sizeof(err)), 0);
	/* Explain records the result of an atom's instruction: an atom on one
	 * that leaves none (a crafted bundle; valgrind saw explain read an
	 * unwritten stack slot) is refused. */
	uint32_t pc = vm->insn;
	assert_int_equal(rs->code[pc].op, SU_OP_V_FIELD);
	rs->code[pc].atom = 0;
	assert_int_equal(su_program_verify(rs, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "atom without a result"));
	rs->code[pc].atom = SU_NONE;
	stepup_ruleset_unref(rs);
}

/* The differential check of fuzz_index on a fixed set of inputs: most
 * compile, many are indexed, none differs. */
static void differential(void **state)
{
	(void)state;
	uint64_t x = 0x2545f4914f6cdd1dull;
	unsigned compared = 0, indexed = 0, runs = 300;
	uint8_t buf[1500];
	char why[4096];
	for (unsigned run = 0; run < runs; run++) {
		size_t n = 100 + run * 4 % (sizeof(buf) - 100);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)(x >> 24);
		}
		unsigned nrules = 0;
		int ix = 0;
		int rc = index_diff_check(buf, n, why, sizeof(why), &nrules, &ix);
		if (rc == 1)
			fail_msg("input %u: %s", run, why);
		compared += rc == 0;
		indexed += rc == 0 && ix;
	}
	if (compared < runs / 2 || indexed < runs / 4)
		fail_msg("only %u of %u inputs compared, %u indexed", compared, runs, indexed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(builtins_are_fused),
		cmocka_unit_test(fused_builtins_decide),
		cmocka_unit_test(or_distributes_and_vm_literals),
		cmocka_unit_test(big_rulesets_are_indexed),
		cmocka_unit_test(fired_in_rule_order),
		cmocka_unit_test(rule_met_twice_fires_once),
		cmocka_unit_test(format4_bundle),
		cmocka_unit_test(differential),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
