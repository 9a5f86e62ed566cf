/* names.c: the names of statuses, outcomes, methods and lines: the leaf
 * every other file of the library may call (it calls nothing). */
#include <stepup/stepup.h>

const char *stepup_strerror(int status)
{
	switch (status) {
	case STEPUP_OK: return "success";
	case STEPUP_ENOMEM: return "out of memory";
	case STEPUP_EINVAL: return "invalid argument";
	case STEPUP_EIO: return "input/output error";
	case STEPUP_ECOMPILE: return "rules do not compile";
	case STEPUP_EBUNDLE: return "invalid bundle";
	case STEPUP_EVERSION: return "unsupported bundle version";
	case STEPUP_EBADREQ: return "bad request";
	case STEPUP_ECONFIG: return "invalid configuration";
	case STEPUP_EPLUGIN: return "plugin failure";
	case STEPUP_ETOOBIG: return "input too large";
	case STEPUP_ESTATE: return "invalid state";
	case STEPUP_ENOTFOUND: return "not found";
	case STEPUP_ECONFLICT: return "conflict";
	case STEPUP_ETIMEOUT: return "deadline exceeded";
	default: return "unknown status";
	}
}

const char *stepup_outcome_name(stepup_outcome o)
{
	static const char *const n[] = { "GREEN", "YELLOW", "RED" };
	return (unsigned)o <= STEPUP_RED ? n[o] : "?";
}

const char *stepup_outcome_network_name(stepup_outcome o)
{
	static const char *const n[] = { "APPROVED", "REQUIRE_ADDITIONAL_AUTHENTICATION", "DECLINED" };
	return (unsigned)o <= STEPUP_RED ? n[o] : "?";
}

const char *stepup_method_name(stepup_method m)
{
	static const char *const n[] = { "IN_APP", "OTP_SMS", "OTP_EMAIL", "CUSTOMER_SERVICE" };
	return (unsigned)m < STEPUP_METHOD_COUNT ? n[m] : "?";
}

const char *stepup_cs_line_name(stepup_cs_line l)
{
	return l == STEPUP_LINE_FRAUD ? "FRAUD" : "STANDARD";
}
