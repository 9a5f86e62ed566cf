/* old_minor.c: a fake plugin built for ABI 1.0 (before the host API grew
 * card_number_find): a 1.1 host still loads it. */
#include <stepup/plugin.h>

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = 0,
	.name = "old_minor",
	.version = "1.0.0",
};
