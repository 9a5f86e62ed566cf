# tests/cli/gen-requests.awk: N varied decision requests, one JSON a line,
# the same for a given SEED (awk -v N=10000 -v SEED=7 -f gen-requests.awk).
# Wallet traffic as bench/daemon/gen_requests makes it (most GREEN, some
# step-ups and declines, merchant tokens), with the test card number in
# every request so that an output quoting request data is caught.
function pick(s,   a, n) { n = split(s, a, " "); return a[int(rand() * n) + 1] }
function pct(p) { return rand() * 100 < p }
BEGIN {
	srand(SEED ? SEED : 42)
	for (i = 0; i < N; i++) {
		phone = 2000000 + int(rand() * 8000000)
		merchant = pct(8)
		state = pct(96) ? "ACTIVE" : pick("SUSPENDED INACTIVE CLOSED")
		csc = pct(85) ? "MATCH" : pick("ABSENT NOT_PROCESSED INVALID ABSENT")
		rec = pct(90) ? "APPROVED" : pick("REQUIRE_ADDITIONAL_AUTHENTICATION DECLINED REQUIRE_ADDITIONAL_AUTHENTICATION")
		suffix = pct(90) ? sprintf("%04d", phone % 10000) : sprintf("%04d", int(rand() * 10000))
		codes = ""
		if (!pct(85)) {
			codes = "\"" pick("ACCOUNT_TOO_NEW TOO_MANY_RECENT_ATTEMPTS LOW_DEVICE_SCORE HIGH_RISK OUTSIDE_HOME_TERRITORY") "\""
			if (pct(30)) codes = codes ",\"" pick("DEVICE_RECENTLY_LOST HIGH_RISK UNABLE_TO_ASSESS") "\""
		}
		email = pct(80) ? sprintf(",\"email\":\"%s%d@example.com\"", pick("jane.doe john.smith li.wang"), int(rand() * 100)) : ""
		ph = pct(90) ? sprintf(",\"phone\":\"+1415%07d\"", phone) : ""
		printf "{\"request_id\":\"req-%06d\",\"tsp\":\"%s\",\"channel\":\"%s\",", i, pick("MDES VTS AMEX"), merchant ? "ECOM_MERCHANT" : "XPAY_WALLET"
		printf "\"token_requestor\":{\"id\":\"501%08d\",\"name\":\"%s\"},", int(rand() * 100000000), pick("APPLE_PAY GOOGLE_PAY SAMSUNG_PAY")
		printf "\"card\":{\"pan\":\"4111111111111111\",\"state\":\"%s\",\"capture_method\":\"%s\",\"csc_result\":\"%s\",\"active_tokens\":%d,\"csc_failures_24h\":%d},", state, pick("BANK_APP ON_FILE CAMERA MANUAL UNKNOWN"), csc, int(rand() * 14), pct(95) ? 0 : int(rand() * 5)
		printf "\"end_user\":{\"app_enrolled\":%s,\"language\":\"%s\",\"otp_exhausted\":%s%s%s},", pct(60) ? "true" : "false", pick("en-US fr-FR de-DE"), pct(95) ? "false" : "true", ph, email
		printf "\"wallet\":{\"phone_suffix\":\"%s\",\"device_score\":%d,\"account_score\":%d,\"phone_score\":%d,\"recommended_decision\":\"%s\",\"reason_codes\":[%s],\"device_suspicious\":%s,\"device_country\":\"%s\"}}\n", suffix, pct(93) ? 3 + int(rand() * 3) : 1 + int(rand() * 2), pct(93) ? 3 + int(rand() * 3) : 1 + int(rand() * 2), pct(90) ? 3 + int(rand() * 3) : 1 + int(rand() * 2), rec, codes, pct(97) ? "false" : "true", pick("US GB FR DE")
	}
}
