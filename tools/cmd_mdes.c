/* cmd_mdes.c: `stepup mdes ...`, helpers for an MDES deployment
 * (docs/mdes.md):
 *
 *   stepup mdes encrypt --key PUB.pem [--oaep SHA256|SHA512|none] [--no-iv]
 *         [--gcm] [--aes 128|256] [--fingerprint HEX] [--valid-for SECONDS]
 *         [--request REQUEST.json] PAYLOAD.json
 *       encrypt a fundingAccountData as Mastercard does, for the issuer
 *       holding the private key of PUB.pem; prints the encryptedPayload, or
 *       with --request the whole request with it in place
 *   stepup mdes fingerprint KEY.pem
 *       the fingerprints stepupd accepts for a key (public or private) or
 *       a certificate
 *   stepup mdes account-key FILE
 *       a new key for the account_file plugin (32 random bytes, hex, 0600)
 *   stepup mdes account-file --key FILE [INPUT.jsonl]
 *       an account_file accounts file from lines {"pan", "expiry": "MMYY",
 *       "csc", "facts"}: card numbers and CVC2s only as keyed hashes
 *
 * There is no `decrypt`: only stepupd decrypts, in memory, for a decision. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "../daemon/mdes/crypto.h"
#include "cli.h"

static void usage(FILE *f)
{
	fputs("usage: stepup mdes encrypt --key PUB.pem [--oaep SHA256|SHA512|none] [--no-iv] [--gcm]\n"
	      "                           [--aes 128|256] [--fingerprint HEX] [--valid-for SECONDS]\n"
	      "                           [--request REQUEST.json] PAYLOAD.json\n"
	      "       stepup mdes fingerprint KEY.pem\n"
	      "       stepup mdes account-key FILE\n"
	      "       stepup mdes account-file --key FILE [INPUT.jsonl]\n"
	      "See docs/mdes.md.\n",
	      f);
}

static json_t *load_json(const char *path)
{
	size_t len;
	char *text = cli_read_file(path, &len);
	if (!text)
		return NULL;
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	OPENSSL_cleanse(text, len);
	free(text);
	if (!json_is_object(j)) {
		fprintf(stderr, "stepup mdes: %s: not a JSON object (line %d)\n", path, je.line);
		json_decref(j);
		return NULL;
	}
	return j;
}

static int encrypt(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' }, { "oaep", required_argument, NULL, 'o' },
		{ "no-iv", no_argument, NULL, 'n' },     { "gcm", no_argument, NULL, 'g' },
		{ "aes", required_argument, NULL, 'a' }, { "fingerprint", required_argument, NULL, 'f' },
		{ "valid-for", required_argument, NULL, 'v' }, { "request", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	mdes_encrypt_opts o = { "SHA256", 1, 0, 128, NULL };
	const char *key = NULL, *request = NULL;
	long valid = -1;
	int c, rc = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'o': o.oaep = strcmp(optarg, "none") == 0 ? NULL : optarg; break;
		case 'n': o.with_iv = 0; break;
		case 'g': o.gcm = 1; break;
		case 'a': o.aes_bits = (unsigned)atoi(optarg); break;
		case 'f': o.fingerprint = optarg; break;
		case 'v': valid = atol(optarg); break;
		case 'r': request = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (!key || optind != argc - 1 || (o.aes_bits != 128 && o.aes_bits != 256)) {
		usage(stderr);
		return 2;
	}
	json_t *payload = load_json(argv[optind]), *req = request ? load_json(request) : NULL;
	char *plain = NULL, *out = NULL, err[512];
	if (!payload || (request && !req))
		goto out;
	if (valid >= 0) {
		char ts[32];
		time_t t = time(NULL) + valid;
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		json_object_set_new(payload, "dataValidUntilTimestamp", json_string(ts));
	}
	if (!(plain = json_dumps(payload, JSON_COMPACT)))
		goto out;
	if (mdes_encrypt(key, plain, strlen(plain), &o, &out, err, sizeof(err)) < 0) {
		fprintf(stderr, "stepup mdes: %s\n", err);
		goto out;
	}
	if (req) {
		json_t *ep = json_loads(out, 0, NULL), *fai = json_object_get(req, "fundingAccountInfo");
		if (!json_is_object(fai))
			json_object_set_new(req, "fundingAccountInfo", fai = json_object());
		json_object_set_new(fai, "encryptedPayload", ep);
		char *s = json_dumps(req, JSON_INDENT(2));
		puts(s ? s : "");
		free(s);
	} else {
		puts(out);
	}
	rc = 0;
out:
	if (plain) {
		OPENSSL_cleanse(plain, strlen(plain));
		free(plain);
	}
	free(out);
	json_decref(payload);
	json_decref(req);
	return rc;
}

static void print_digests(const char *what, const unsigned char *der, int n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	EVP_Digest(der, (size_t)n, md, &len, EVP_sha256(), NULL);
	mdes_hex(md, len, hex);
	printf("%s SHA-256  %s\n", what, hex);
	EVP_Digest(der, (size_t)n, md, &len, EVP_sha1(), NULL);
	mdes_hex(md, len, hex);
	printf("%s SHA-1    %s\n", what, hex);
}

static int fingerprint(int argc, char **argv)
{
	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "stepup mdes: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	EVP_PKEY *k = NULL;
	X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
	if (!cert) {
		rewind(f);
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	if (!cert && !k) {
		rewind(f);
		k = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	}
	fclose(f);
	if (!cert && !k) {
		fprintf(stderr, "stepup mdes: %s: not a PEM key or certificate\n", argv[1]);
		return 1;
	}
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(cert ? X509_get0_pubkey(cert) : k, &der);
	print_digests("public key (SubjectPublicKeyInfo DER)", der, n);
	OPENSSL_free(der);
	der = NULL;
	if (cert) {
		n = i2d_X509(cert, &der);
		print_digests("certificate (DER)", der, n);
		OPENSSL_free(der);
	}
	X509_free(cert);
	EVP_PKEY_free(k);
	return 0;
}

static int account_key(int argc, char **argv)
{
	unsigned char key[32];
	char hex[65];
	if (argc != 2) {
		usage(stderr);
		return 2;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "stepup mdes: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int ok = RAND_bytes(key, sizeof(key)) == 1;
	mdes_hex(key, sizeof(key), hex);
	hex[64] = '\n';
	ok = ok && write(fd, hex, 65) == 65;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(hex, sizeof(hex));
	if (close(fd) != 0 || !ok) {
		fprintf(stderr, "stepup mdes: %s: cannot write the key\n", argv[1]);
		unlink(argv[1]);
		return 1;
	}
	return 0;
}

/* HMAC-SHA-256(key, a [":" b]) as hex, as plugins/account_file computes it. */
static void mac_hex(const unsigned char *key, size_t keylen, const char *a, const char *b, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char msg[64];
	int len = snprintf(msg, sizeof(msg), "%s%s%s", a, b ? ":" : "", b ? b : "");
	HMAC(EVP_sha256(), key, (int)keylen, (unsigned char *)msg, (size_t)len, md, &n);
	mdes_hex(md, n, out);
	OPENSSL_cleanse(msg, sizeof(msg));
}

static int read_key(const char *path, unsigned char *key, size_t *keylen)
{
	size_t len;
	char *t = cli_read_file(path, &len);
	if (!t)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i + 1 < len && n < 128; i += 2) {
		if (t[i] == '\n' || t[i] == '\r' || t[i] == ' ')
			break;
		unsigned v;
		if (sscanf(t + i, "%2x", &v) != 1)
			break;
		key[n++] = (unsigned char)v;
	}
	OPENSSL_cleanse(t, len);
	free(t);
	if (n < 16) {
		fprintf(stderr, "stepup mdes: %s: the key must be at least 16 bytes as hex\n", path);
		return -1;
	}
	*keylen = n;
	return 0;
}

static int account_file(int argc, char **argv)
{
	unsigned char key[128];
	size_t keylen = 0;
	const char *keypath = NULL;
	int c, rc = 1;
	static const struct option opts[] = { { "key", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'k') {
			usage(stderr);
			return 2;
		}
		keypath = optarg;
	}
	if (!keypath || optind < argc - 1) {
		usage(stderr);
		return 2;
	}
	FILE *in = optind < argc ? fopen(argv[optind], "r") : stdin;
	if (!in) {
		fprintf(stderr, "stepup mdes: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	if (read_key(keypath, key, &keylen) < 0)
		goto out;
	json_t *accounts = json_object();
	char *line = NULL;
	size_t cap = 0;
	long n;
	unsigned lineno = 0;
	while ((n = cli_getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (n == 0 || line[0] == '#')
			continue;
		json_t *e = json_loadb(line, (size_t)n, 0, NULL);
		const char *pan = json_string_value(json_object_get(e, "pan"));
		const char *csc = json_string_value(json_object_get(e, "csc"));
		const char *exp = json_string_value(json_object_get(e, "expiry"));
		json_t *facts = json_object_get(e, "facts");
		if (!pan || strspn(pan, "0123456789") != strlen(pan) || strlen(pan) < 9 || strlen(pan) > 19 ||
		    (csc && strlen(csc) > 4) || !json_is_object(facts)) {
			fprintf(stderr, "stepup mdes: line %u: wants {\"pan\": DIGITS, \"csc\"?, \"expiry\"?: \"MMYY\", "
			        "\"facts\": {...}}\n", lineno);
			json_decref(e);
			json_decref(accounts);
			OPENSSL_cleanse(line, cap);
			free(line);
			goto out;
		}
		char k[65], m[65];
		json_t *a = json_object();
		mac_hex(key, keylen, pan, NULL, k);
		json_object_set(a, "facts", facts);
		if (exp)
			json_object_set_new(a, "expiry", json_string(exp));
		if (csc) {
			mac_hex(key, keylen, pan, csc, m);
			json_object_set_new(a, "csc_hmac", json_string(m));
		}
		json_object_set_new(accounts, k, a);
		json_decref(e);
		OPENSSL_cleanse(line, cap);
	}
	free(line);
	json_t *root = json_pack("{s:s, s:s, s:o}", "format", "stepup-accounts/1", "hash",
	                         "HMAC-SHA-256 of the card number under the account_file key", "accounts", accounts);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	puts(s ? s : "");
	free(s);
	json_decref(root);
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (in != stdin)
		fclose(in);
	return rc;
}

int cmd_mdes(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "encrypt") == 0)
		return encrypt(argc - 1, argv + 1);
	if (strcmp(argv[1], "fingerprint") == 0)
		return fingerprint(argc - 1, argv + 1);
	if (strcmp(argv[1], "account-key") == 0)
		return account_key(argc - 1, argv + 1);
	if (strcmp(argv[1], "account-file") == 0)
		return account_file(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
