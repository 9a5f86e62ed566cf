/* badsig.c: a fake plugin "geo" whose second function has a signature
 * with an unknown type letter. */
#include <stdint.h>

#include <stepup/plugin.h>

static int64_t geo_zero(void *state)
{
	(void)state;
	return 0;
}

static const stepup_plugin_fn geo_functions[] = {
	{ "zero", "->i", (stepup_plugin_fn_ptr)geo_zero },
	{ "distance", "sx->i", (stepup_plugin_fn_ptr)geo_zero },
	{ NULL, NULL, NULL },
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "geo",
	.functions = geo_functions,
};
