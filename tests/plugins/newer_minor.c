/* newer_minor.c: a fake plugin claiming an ABI minor the host does not
 * have yet; the loader must refuse it. */
#include <stepup/plugin.h>

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR + 3,
	.name = "newer_minor",
};
