/* index.h: the rule index of big rulesets (docs/architecture.md, "Rule
 * index").
 *
 * A rule can only fire when every clause of its CNF is TRUE, so a clause
 * rules the rule out whenever none of its tests is TRUE. When each of them
 * is one a request's value can be looked up for, the clause is a guard:
 *
 *   VALUE   an enum, a boolean or an integer of a small declared range,
 *           tested for a set of values (==, !=, in, <, ...)
 *   CODES   a code list tested with `has` / `has any of`
 *   STR     a string field tested with == or `in` a set of strings
 *   PREFIX  starts_with(field, "constant")
 *   SUFFIX  ends_with(field, "constant")
 *
 * At prepare time (program.c) every rule offers its guards; the builder
 * keeps the one that passes the fewest requests (estimated from how many
 * distinct values the ruleset tests the field for) and puts the rule in
 * the bucket of each value it passes. Rules without a guard, or whose best
 * guard passes too many requests, are "always" rules. program.c packs the
 * always rules into chunks in rule order, then each bucket's rules into
 * chunks of their own where the guard clause is known TRUE, and tells the
 * builder which chunks each bucket got. At decide time su_index_lookup()
 * gives the chunk ranges of the buckets the request's values find: a table
 * per value field, a bit per code, and one hash table of strings (a probe
 * for the whole value, and one per shorter prefix and suffix length the
 * ruleset uses). The decide loop runs the always chunks and those, then
 * puts the fired rules back in rule order.
 *
 * The index only reads the program's arrays and its schema: it calls no
 * other file of the library (tests/layers). */
#ifndef SU_INDEX_H
#define SU_INDEX_H

#include <stdint.h>

#include "program.h"
#include "request.h"

typedef struct su_index su_index;
typedef struct su_ib su_ib;  /* the builder */

/* A range of rule chunks (rs->frules) to run. */
typedef struct su_irange {
	uint32_t first, count;
} su_irange;

/* Below this many rules the index is not built (SU_INDEX_AUTO): a few
 * chunks run faster than the look-ups would. */
#define SU_INDEX_MIN_RULES 64

/* A builder for verified program rs; NULL on OOM. */
su_ib *su_ib_new(const struct stepup_ruleset *rs);
void su_ib_free(su_ib *ib);
/* Choose the guards and the buckets (mode SU_INDEX_AUTO or
 * SU_INDEX_FORCE: every rule with a guard is indexed). Returns the number
 * of buckets (0: no index worth having), or -1 on OOM. */
int su_ib_plan(su_ib *ib, int mode);
/* The always rules, in rule order. */
const uint32_t *su_ib_always(const su_ib *ib, uint32_t *n);
/* Bucket b's rules, in rule order. */
const uint32_t *su_ib_bucket(const su_ib *ib, uint32_t b, uint32_t *n);
/* The index of the clause of rule i's CNF that its guard is, or SU_NONE. */
uint32_t su_ib_guard_clause(const su_ib *ib, uint32_t rule);
/* Bucket b's rules went into chunks [first, first + count). */
void su_ib_set_chunks(su_ib *ib, uint32_t b, uint32_t first, uint32_t count);
/* The lookup tables; NULL on OOM. The builder can then be freed. */
su_index *su_ib_finish(su_ib *ib);

void su_index_free(su_index *ix);
/* The most ranges su_index_lookup() can give for one request. */
uint32_t su_index_max_ranges(const su_index *ix);
/* The chunk ranges the values of request r find, into out (at least
 * su_index_max_ranges() of them); their number. A range may come twice
 * (a code list with two codes of one rule's guard): decide.c drops the
 * repeated rules. */
uint32_t su_index_lookup(const su_index *ix, const stepup_request *r, su_irange *out);
/* For tests and the bench: fields indexed, buckets, key strings. */
void su_index_stats(const su_index *ix, uint32_t *fields, uint32_t *buckets, uint32_t *keys);

#endif
