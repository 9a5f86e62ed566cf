/* plugin_otp.h: what every OTP channel (otp_sms_http, otp_email_smtp)
 * does with a stepup_otp_message before its transport: the checks of the
 * message, the template placeholders {otp}, {pan_suffix},
 * {expiry_minutes}, {issuer} and their values. Builds on plugin_template. */
#ifndef STEPUP_PLUGIN_COMMON_OTP_H
#define STEPUP_PLUGIN_COMMON_OTP_H

#include <stddef.h>

#include "plugin_template.h"
#include "plugin_util.h"

#define SPC_OTP_MAX 32         /* longest OTP accepted, in bytes */
#define SPC_OTP_MAX_SUFFIX 8   /* longest pan_suffix, in digits */

enum { SPC_OTP_V_OTP, SPC_OTP_V_PAN_SUFFIX, SPC_OTP_V_EXPIRY, SPC_OTP_V_ISSUER, SPC_OTP_NVARS };

/* Placeholder names, indexed by SPC_OTP_V_*. */
SPC_HIDDEN extern const char *const spc_otp_var_names[SPC_OTP_NVARS];

/* The values of the placeholders for one message. */
typedef struct spc_otp_vars {
	char minutes[24];
	const char *v[SPC_OTP_NVARS]; /* borrowed from the message, or minutes */
} spc_otp_vars;

/* STEPUP_PLUGIN_OK if msg has every field of 1.0 with a destination and
 * an OTP, else EINVAL with "<name>: incomplete OTP message". */
SPC_HIDDEN int spc_otp_message_ok(const char *name, const stepup_call_ctx *ctx,
				  const stepup_otp_message *msg);

/* Check the OTP, pan_suffix and expiry of msg (after its destination) and
 * fill vars; EINVAL with a fixed reason ("the OTP has already expired")
 * that never quotes them. {expiry_minutes} is rounded up. */
SPC_HIDDEN int spc_otp_vars_set(const char *name, const stepup_call_ctx *ctx,
				const stepup_otp_message *msg, const char *issuer, spc_otp_vars *vars);

/* Check the template of language `lang` (its `part`, e.g. "subject", or
 * NULL when the template is one string): well formed, containing {otp} if
 * must_otp, not containing it if forbid_otp (subjects), {issuer} only when
 * an issuer_name is set. Reasons start "templates.<lang>[.<part>]: ". */
SPC_HIDDEN int spc_otp_template_check(const char *lang, const char *part, const char *text, int must_otp,
				      int forbid_otp, int have_issuer, char *err, size_t errlen);

/* Render text with vars into out; -1 if out ran out of memory. */
SPC_HIDDEN int spc_otp_render(const char *text, const spc_otp_vars *vars, spc_buf *out);

#endif
