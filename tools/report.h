/* report.h: how two decisions on one request differ, and the report over
 * many: shared by `stepup diff`, `stepup replay` and stepupd's shadow mode
 * (daemon/shadow.c), so that the three count alike
 * (docs/change-control.md).
 *
 * A changed decision has exactly one transition, the first difference of:
 * the outcome (GREEN→YELLOW, YELLOW→RED, ..., or a request one side
 * refuses: →REFUSED), the offered methods (same outcome, another list or
 * order), the customer-service line, the fired rules (the reasons). So the
 * transitions of a report add up to the number of changed decisions. Its
 * causes are the rules that fire on one side only, or on both with
 * another outcome. */
#ifndef STEPUP_REPORT_H
#define STEPUP_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <stepup/stepup.h>

#define REP_REFUSED 3  /* the "outcome" of a request a ruleset refused (400) */
#define REP_NOUTCOMES 4

/* One side's decision, borrowed. */
typedef struct rep_side {
	int outcome;                    /* stepup_outcome or REP_REFUSED */
	uint8_t methods[STEPUP_METHOD_COUNT];
	unsigned nmethods;
	int line;                       /* stepup_cs_line */
	size_t nrules;
	const char *const *rules;       /* fired, in rule-file order */
	const int *rule_effects;        /* per fired rule (rep_effect); NULL
	                                   when unknown */
} rep_side;

/* What a rule does when it fires, as one int: its outcome, the methods
 * its `only` allows and its line. Two rules of one name with other
 * effects are a cause of a changed decision even when both fire. */
int rep_effect(const stepup_rule_info *ri);
/* "RED", "YELLOW only OTP_SMS,CUSTOMER_SERVICE line FRAUD"; and back
 * (-1 when the text is not one). */
void rep_effect_text(int effect, char *buf, size_t size);
int rep_effect_parse(const char *text);

/* A ruleset's rules by name, with their effects. */
typedef struct rep_rules rep_rules;
rep_rules *rep_rules_new(const stepup_ruleset *rs);
void rep_rules_free(rep_rules *t);
/* The effect of the rule called name, -1 when t has none. */
int rep_rules_effect(const rep_rules *t, const char *name);

enum rep_kind { REP_OUTCOME = 0, REP_METHODS, REP_LINE, REP_REASONS, REP_NKINDS };
#define REP_NTRANS (REP_NKINDS * REP_NOUTCOMES * REP_NOUTCOMES)

/* Fill a side from a decision (names borrowed from d); names and
 * effects need room for stepup_decision_fired_count(d) entries; t holds
 * the rules of d's ruleset (NULL: effects are outcomes only). */
void rep_side_of(rep_side *s, const stepup_decision *d, const rep_rules *t, const char **names,
                 int *effects);
/* The side of a refused request. */
void rep_side_refused(rep_side *s);

/* The transition from a to b, or -1 when both are the same decision. */
int rep_transition(const rep_side *a, const rep_side *b);
int rep_trans_kind(int t);
int rep_trans_from(int t);
int rep_trans_to(int t);
const char *rep_outcome_name(int o);   /* GREEN, YELLOW, RED, REFUSED */
const char *rep_kind_name(int kind);   /* outcome, methods, line, reasons */
/* "GREEN→YELLOW", "YELLOW: methods changed", "YELLOW: line changed",
 * "RED: reasons changed". */
void rep_trans_label(int t, char *buf, size_t size);

enum rep_cause { REP_ADDED = 0, REP_REMOVED, REP_CHANGED, REP_NCAUSES };
const char *rep_cause_name(int cause); /* "fires only in the candidate", ... */
const char *rep_cause_key(int cause);  /* "added", "removed", "effect_changed" */
/* Call fn for every rule that fires differently in a and b; returns how
 * many did (0: a method condition or the settings made the difference). */
size_t rep_causes(const rep_side *a, const rep_side *b,
                  void (*fn)(void *ctx, const char *rule, int cause), void *ctx);

/* A side as one short line: YELLOW [IN_APP,OTP_SMS] line FRAUD rules a,b */
void rep_side_text(const rep_side *s, char *buf, size_t size);

/* The accumulated report. */
typedef struct report report;
report *rep_new(unsigned max_examples);
void rep_free(report *r);
/* One request: a (the serving or old ruleset) against b (the candidate).
 * id (may be NULL) names it in the examples. 0, or -1 out of memory. */
int rep_add(report *r, const rep_side *a, const rep_side *b, const char *id);
uint64_t rep_requests(const report *r);
uint64_t rep_changed(const report *r);
/* Text for a person; `title` goes first. */
void rep_print_text(const report *r, FILE *f, const char *title);
/* {"requests":N,"changed":N,"transitions":[...],"rules":[...], <extra>}:
 * extra_json is a JSON object whose members are added (may be NULL). */
int rep_print_json(const report *r, FILE *f, const char *extra_json);

#endif
