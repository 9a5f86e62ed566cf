/* gen_requests: N varied decision requests (DESIGN.md §3), one JSON per
 * line, from a fixed seed, for the daemon benchmark's wrk script.
 *
 *   gen_requests [N] [SEED] > requests.jsonl
 *
 * The mix looks like wallet traffic: most cards active with a matching
 * phone (GREEN), a share of step-ups (phone mismatch, missing CSC on a
 * manual capture, risky reason codes, middling scores) and declines
 * (inactive card, wrong CSC, wallet says decline), plus merchant tokens. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t s;

static uint64_t next(void)
{
	/* splitmix64: tiny, good enough, same output everywhere. */
	uint64_t z = (s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
	return (unsigned)(next() % n);
}

static int pct(unsigned p)
{
	return rnd(100) < p;
}

static const char *pick(const char *const *v, unsigned n)
{
	return v[rnd(n)];
}
#define PICK(v) pick((v), sizeof(v) / sizeof((v)[0]))

int main(int argc, char **argv)
{
	static const char *const tsps[] = { "MDES", "MDES", "VTS", "VTS", "AMEX" };
	static const char *const wallets[] = { "APPLE_PAY", "GOOGLE_PAY", "SAMSUNG_PAY" };
	static const char *const captures[] = { "BANK_APP", "BANK_APP", "ON_FILE", "ON_FILE",
		"CAMERA", "MANUAL", "UNKNOWN" };
	static const char *const langs[] = { "en-US", "en-GB", "fr-FR", "de-DE", "es-ES" };
	static const char *const countries[] = { "US", "GB", "FR", "DE", "CA", "ES" };
	static const char *const codes[] = { "ACCOUNT_TOO_NEW", "TOO_MANY_RECENT_ATTEMPTS",
		"LOW_DEVICE_SCORE", "OUTSIDE_HOME_TERRITORY", "HIGH_RISK", "DEVICE_RECENTLY_LOST" };
	static const char *const names[] = { "jane.doe", "john.smith", "maria.garcia", "li.wang", "olga.ivanova" };
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	s = argc > 2 ? strtoull(argv[2], NULL, 10) : 42;

	for (unsigned long i = 0; i < n; i++) {
		unsigned phone = 2000000 + rnd(8000000);
		int merchant = pct(8);
		const char *state = pct(98) ? "ACTIVE" : pct(50) ? "SUSPENDED" : "INACTIVE";
		const char *capture = PICK(captures);
		const char *csc = pct(90) ? "MATCH" : pct(50) ? "ABSENT" : pct(70) ? "NOT_PROCESSED" : "INVALID";
		const char *rec = pct(95) ? "APPROVED" : pct(80) ? "REQUIRE_ADDITIONAL_AUTHENTICATION" : "DECLINED";
		unsigned suffix = pct(94) ? phone % 10000 : rnd(10000);
		printf("{\"request_id\":\"%016" PRIx64 "-%06lu\",\"tsp\":\"%s\",\"channel\":\"%s\","
		       "\"token_requestor\":{\"id\":\"501%08u\",\"name\":\"%s\"},"
		       "\"card\":{\"pan\":\"5412751234%06u\",\"state\":\"%s\",\"capture_method\":\"%s\","
		       "\"csc_result\":\"%s\",\"active_tokens\":%u,\"csc_failures_24h\":%u},"
		       "\"end_user\":{\"phone\":\"+1415%07u\",\"email\":\"%s%u@example.com\","
		       "\"app_enrolled\":%s,\"language\":\"%s\",\"otp_exhausted\":%s},"
		       "\"wallet\":{\"phone_suffix\":\"%04u\",\"device_score\":%u,\"account_score\":%u,"
		       "\"phone_score\":%u,\"recommended_decision\":\"%s\",\"reason_codes\":[",
		       next(), i, PICK(tsps), merchant ? "ECOM_MERCHANT" : "XPAY_WALLET",
		       rnd(100000000), merchant ? "MERCHANT_COF" : PICK(wallets), rnd(1000000), state,
		       capture, csc, rnd(6), pct(99) ? 0 : 1 + rnd(4), phone, PICK(names), rnd(100),
		       pct(60) ? "true" : "false", PICK(langs), pct(95) ? "false" : "true", suffix,
		       pct(97) ? 3 + rnd(3) : 1 + rnd(2), pct(97) ? 3 + rnd(3) : 1 + rnd(2),
		       pct(97) ? 3 + rnd(3) : 1 + rnd(2), rec);
		for (unsigned k = 0, nc = pct(92) ? 0 : 1 + rnd(2); k < nc; k++)
			printf("%s\"%s\"", k ? "," : "", PICK(codes));
		printf("],\"device_suspicious\":%s,\"device_country\":\"%s\"}}\n",
		       pct(1) ? "true" : "false", PICK(countries));
	}
	return 0;
}
