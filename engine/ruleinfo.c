/* ruleinfo.c: a ruleset's rules and methods as the public API describes
 * them (stepup_ruleset_rule, stepup_ruleset_method): what tools such as
 * `stepup test` check expectations against and measure coverage by. */
#include <string.h>

#include "program.h"

int stepup_ruleset_rule(const stepup_ruleset *rs, size_t i, stepup_rule_info *out)
{
	if (!rs || !out || i >= rs->nrules)
		return STEPUP_EINVAL;
	const su_rule *ru = &rs->rules[i];
	const char *file = SU_STR(rs, rs->files[ru->file]), *slash = strrchr(file, '/');
	memset(out, 0, sizeof(*out));
	out->name = SU_STR(rs, ru->name);
	out->description = ru->desc != SU_NONE ? SU_STR(rs, ru->desc) : "";
	out->file = slash ? slash + 1 : file;
	out->line = ru->line;
	out->outcome = (stepup_outcome)ru->outcome;
	out->methods = ru->outcome == STEPUP_YELLOW ? ru->allowed : 0;
	out->fraud = ru->fraud;
	return STEPUP_OK;
}

size_t stepup_ruleset_method_count(const stepup_ruleset *rs)
{
	return rs ? rs->nmethods : 0;
}

int stepup_ruleset_method(const stepup_ruleset *rs, size_t i, stepup_method *out)
{
	if (!rs || !out || i >= rs->nmethods)
		return STEPUP_EINVAL;
	*out = (stepup_method)rs->methods[i].type;
	return STEPUP_OK;
}
