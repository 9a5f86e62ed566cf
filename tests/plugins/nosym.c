/* nosym.c: a shared object without the stepup_plugin symbol (it exports
 * a differently named descriptor, as a typo would). */
#include <stepup/plugin.h>

STEPUP_PLUGIN_EXPORT extern const stepup_plugin_desc stepup_plugins;
STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugins = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "nosym",
};
