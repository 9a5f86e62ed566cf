/* index_diff.h: the differential check of the rule index and the flat
 * (CNF) fast path, shared by fuzz/fuzz_index.c (libFuzzer) and
 * tests/unit/test_index.c (a fixed set of inputs in `make check`).
 *
 * Bytes are read as choices: a ruleset of up to 120 rules, one a line, over
 * the fields the index can look up (BINs, token requestors, countries,
 * languages, enums, scores, small and large integers, booleans, codes,
 * fields of its own) and the ones it cannot (lengths, contains, fields
 * compared with fields), combined with and / or / not; then up to 8
 * requests whose values come from the same small pools, so rules fire.
 * Rules the checker refuses ("can never fire") are dropped.
 *
 * The same source compiled four times: the rule index forced on, forced
 * off, left to decide, and through a bundle (save, load). Every request
 * must get byte-identical responses from the four, with and without
 * explain; and the fired rules must be, in order and once each, the rules
 * whose bytecode (the oracle explain runs) is TRUE. */
#ifndef STEPUP_INDEX_DIFF_H
#define STEPUP_INDEX_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* 0: all agree; 1: a difference, described in why; -1: nothing to compare
 * (no rule compiled). *nrules, when given, gets the rules compared and
 * *indexed whether the forced index had any guard to use. */
int index_diff_check(const uint8_t *data, size_t size, char *why, size_t whylen, unsigned *nrules,
                     int *indexed);

#endif
