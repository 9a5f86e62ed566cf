/* wrong_major.c: a fake plugin built for ABI major 2; the loader must
 * refuse it before reading anything past the version fields. */
#include <stepup/plugin.h>

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR + 1,
	.abi_minor = 0,
	.name = "wrong_major",
};
