/* plugin_otp.c: see plugin_otp.h. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "plugin_otp.h"
#include "plugin_text.h"

const char *const spc_otp_var_names[SPC_OTP_NVARS] = { "otp", "pan_suffix", "expiry_minutes", "issuer" };

int spc_otp_message_ok(const char *name, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	if (!msg || msg->size < offsetof(stepup_otp_message, language) + sizeof(msg->language) ||
	    !msg->destination || !msg->otp) {
		spc_ctx_err(name, ctx, "incomplete OTP message");
		return STEPUP_PLUGIN_EINVAL;
	}
	return STEPUP_PLUGIN_OK;
}

static int valid_suffix(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!spc_is_digit(s[n]))
			return 0;
	return n <= SPC_OTP_MAX_SUFFIX;
}

int spc_otp_vars_set(const char *name, const stepup_call_ctx *ctx, const stepup_otp_message *msg,
		     const char *issuer, spc_otp_vars *vars)
{
	if (!spc_is_token(msg->otp, SPC_OTP_MAX)) {
		spc_ctx_err(name, ctx, "the OTP must be 1 to %d printable ASCII characters", SPC_OTP_MAX);
		return STEPUP_PLUGIN_EINVAL;
	}
	const char *suffix = msg->pan_suffix ? msg->pan_suffix : "";
	if (!valid_suffix(suffix)) {
		spc_ctx_err(name, ctx, "pan_suffix must be at most %d digits", SPC_OTP_MAX_SUFFIX);
		return STEPUP_PLUGIN_EINVAL;
	}
	int64_t left = (int64_t)msg->expires_at - (int64_t)time(NULL);
	if (left <= 0) {
		spc_ctx_err(name, ctx, "the OTP has already expired");
		return STEPUP_PLUGIN_EINVAL;
	}
	snprintf(vars->minutes, sizeof(vars->minutes), "%lld", (long long)((left + 59) / 60));
	vars->v[SPC_OTP_V_OTP] = msg->otp;
	vars->v[SPC_OTP_V_PAN_SUFFIX] = suffix;
	vars->v[SPC_OTP_V_EXPIRY] = vars->minutes;
	vars->v[SPC_OTP_V_ISSUER] = issuer ? issuer : "";
	return STEPUP_PLUGIN_OK;
}

int spc_otp_template_check(const char *lang, const char *part, const char *text, int must_otp,
			   int forbid_otp, int have_issuer, char *err, size_t errlen)
{
	const char *dot = part ? "." : "", *p = part ? part : "";
	char why[160];
	unsigned uses;
	if (spc_tpl_check(text, spc_otp_var_names, SPC_OTP_NVARS, &uses, why, sizeof(why)) != 0) {
		spc_set_err(err, errlen, "templates.%s%s%s: %s", lang, dot, p, why);
		return -1;
	}
	if (must_otp && !(uses & (1u << SPC_OTP_V_OTP))) {
		spc_set_err(err, errlen, "templates.%s%s%s: must contain {otp}", lang, dot, p);
		return -1;
	}
	if (forbid_otp && (uses & (1u << SPC_OTP_V_OTP))) {
		spc_set_err(err, errlen, "templates.%s%s%s: must not contain {otp} (subjects show on lock "
			    "screens and in mail logs)", lang, dot, p);
		return -1;
	}
	if ((uses & (1u << SPC_OTP_V_ISSUER)) && !have_issuer) {
		spc_set_err(err, errlen, "templates.%s%s%s: uses {issuer} but issuer_name is not set", lang,
			    dot, p);
		return -1;
	}
	return 0;
}

int spc_otp_render(const char *text, const spc_otp_vars *vars, spc_buf *out)
{
	return spc_tpl_render(text, spc_otp_var_names, SPC_OTP_NVARS, vars->v, out);
}
