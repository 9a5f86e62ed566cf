/* account_info.c: the answer of getAccountInformation (docs/mdes.md,
 * "Account information"): what the spec lets the issuer say about a
 * funding account, from the account data source's facts, encrypted for
 * Mastercard's key (mdes.mastercard_key):
 *
 *   {"responseId": ..., "encryptedPayload": {"encryptedData": hex of
 *      {"dataValidUntilTimestamp", "accountStatus", "balanceInformation"?},
 *    "encryptedKey", "publicKeyFingerprint", "oaepHashingAlgorithm", "iv"}}
 *
 * accountStatus from account.state (ACTIVE -> ACTIVE, EXPIRED -> EXPIRED,
 * CLOSED, LOST, STOLEN -> CANCELLED, any other -> UNKNOWN) or INVALID for a
 * card the issuer does not know; balanceInformation only from a complete
 * and well-formed account.balance {amount, currency, at}. Nothing else of
 * the facts leaves, and nothing leaves in clear. The plaintext is wiped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "../../engine/util.h"
#include "account_info.h"
#include "facts.h"

/* The account data source's facts this file reads (docs/mdes.md). */
#define P_ACCOUNT "account"
#define P_STATE "state"
#define P_BALANCE "balance"
#define P_AMOUNT "amount"
#define P_CURRENCY "currency"
#define P_AT "at"

#define VALID_FOR_S 1800   /* dataValidUntilTimestamp: now + 30 minutes */

const char *mdes_account_status(const char *account_json, int lookup)
{
	static const struct {
		const char *state, *status;
	} map[] = {
		{ "ACTIVE", "ACTIVE" }, { "EXPIRED", "EXPIRED" }, { "CLOSED", "CANCELLED" },
		{ "LOST", "CANCELLED" }, { "STOLEN", "CANCELLED" },
	};
	if (lookup == MDES_ACCOUNT_NOT_FOUND)
		return "INVALID";
	json_t *a = account_json ? json_loads(account_json, 0, NULL) : NULL;
	const char *state = json_string_value(json_object_get(json_object_get(a, P_ACCOUNT), P_STATE));
	const char *out = "UNKNOWN";
	for (size_t i = 0; state && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(state, map[i].state) == 0)
			out = map[i].status;
	json_decref(a);
	return out;
}

static void iso(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A decimal amount as MDES writes it: "-12", "25.36", at most 16 chars. */
static int amount_ok(const char *s)
{
	size_t n = strlen(s), i = s[0] == '-', digits = 0, dot = 0;
	if (n == 0 || n > 16)
		return 0;
	for (; i < n; i++) {
		if (s[i] == '.' && !dot && digits) {
			dot = i;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return 0;
		digits++;
	}
	return digits && dot != n - 1;
}

/* balanceInformation from account.balance, or NULL when it is absent or
 * not complete and well-formed (then the answer has none). */
static json_t *balance(json_t *facts)
{
	json_t *b = json_object_get(json_object_get(facts, P_ACCOUNT), P_BALANCE);
	json_t *amount = json_object_get(b, P_AMOUNT);
	const char *cur = json_string_value(json_object_get(b, P_CURRENCY));
	const char *at = json_string_value(json_object_get(b, P_AT));
	char num[32], when[32];
	if (!b)
		return NULL;
	if (json_is_integer(amount))
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(amount));
	else if (json_is_string(amount) && amount_ok(json_string_value(amount)))
		snprintf(num, sizeof(num), "%s", json_string_value(amount));
	else
		return NULL;
	int64_t t = at ? su_parse_time(at) : -1;
	if (!cur || strlen(cur) != 3 || strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3 || t < 0)
		return NULL;
	iso(t, when);
	return json_pack("{s:s, s:s, s:s}", "amount", num, "currencyCode", cur, "balanceDateTime", when);
}

int mdes_account_info_answer(dbuf *out, const mdes_cfg *cfg, const char *response_id, const char *account_json,
                             int lookup, char *err, size_t errlen)
{
	char until[32], *plain = NULL, *payload = NULL;
	json_t *facts = account_json ? json_loads(account_json, 0, NULL) : NULL;
	json_t *data = json_object(), *bal = lookup == MDES_ACCOUNT_FOUND ? balance(facts) : NULL;
	int rc = -1;

	iso((int64_t)time(NULL) + VALID_FOR_S, until);
	json_object_set_new(data, "dataValidUntilTimestamp", json_string(until));
	json_object_set_new(data, "accountStatus", json_string(mdes_account_status(account_json, lookup)));
	if (bal)
		json_object_set_new(data, "balanceInformation", bal);
	json_decref(facts);
	if (!(plain = json_dumps(data, JSON_COMPACT))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	mdes_encrypt_opts o = { cfg->mastercard_oaep, 1, 0, 128, NULL };
	if (mdes_encrypt_for(cfg->mastercard, plain, strlen(plain), &o, &payload, err, errlen) < 0)
		goto out;
	json_t *ep = json_loads(payload, 0, NULL), *ans = json_object();
	json_object_set_new(ans, "responseId", json_string(response_id));
	json_object_set_new(ans, "encryptedPayload", ep);
	char *text = ep ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	dbuf_puts(out, text);
	free(text);
	rc = out->failed ? -1 : 0;
out:
	if (plain) {
		OPENSSL_cleanse(plain, strlen(plain));
		free(plain);
	}
	free(payload);
	json_decref(data);
	return rc;
}
