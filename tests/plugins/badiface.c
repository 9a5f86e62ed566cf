/* badiface.c: a fake plugin whose OTP channel table lacks notify(); the
 * loader must refuse it before calling init. */
#include <stepup/plugin.h>

static int never_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		      void **state, char *err, size_t errlen)
{
	(void)host, (void)host_ctx, (void)config_json, (void)state, (void)err, (void)errlen;
	return STEPUP_PLUGIN_ERROR; /* would show as "init failed" */
}

static int can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	(void)state, (void)ctx, (void)destination;
	return STEPUP_PLUGIN_OK;
}

static int deliver_otp(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	(void)state, (void)ctx, (void)msg;
	return STEPUP_PLUGIN_OK;
}

static const stepup_otp_channel otp = {
	.size = sizeof(stepup_otp_channel),
	.can_deliver = can_deliver,
	.deliver_otp = deliver_otp,
	.notify = NULL,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "badiface",
	.init = never_init,
	.otp = &otp,
};
