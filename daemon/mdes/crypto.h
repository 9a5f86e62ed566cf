/* crypto.h: MDES field-level encryption (docs/mdes.md, "Encryption").
 *
 * Mastercard encrypts fundingAccountInfo.encryptedPayload.encryptedData
 * with a one-time AES key (AES-CBC with PKCS#7 padding, the given `iv` or
 * a zero IV; 2.0.33 also AES-GCM with `tag` and `aad`), and that key with
 * the issuer's RSA public key named by `publicKeyFingerprint`: RSA-OAEP
 * with SHA-256 or SHA-512 (MGF1 with the same hash) per
 * `oaepHashingAlgorithm`, or PKCS#1 v1.5 when that field is absent. Every
 * binary value is hex on the wire (either case).
 *
 * A keyring holds the issuer's private keys (several, for rotation), each
 * found by the fingerprints of its public key: the SHA-256 of the
 * SubjectPublicKeyInfo DER (what Mastercard's client-encryption libraries
 * compute by default), its SHA-1 (the 40 hex digits of the spec's
 * examples), the SHA-256 and SHA-1 of the certificate's DER when a
 * certificate is given, and any fingerprint the configuration states.
 *
 * Needs OpenSSL's libcrypto and libc only: the daemon decrypts with it,
 * the CLI (`stepup mdes encrypt`) and the tests encrypt with it.
 * Decrypted data is returned in memory the caller wipes
 * (mdes_plain_free); no function here logs, and no message quotes the
 * payload. */
#ifndef STEPUPD_MDES_CRYPTO_H
#define STEPUPD_MDES_CRYPTO_H

#include <stddef.h>

typedef struct mdes_keyring mdes_keyring;

mdes_keyring *mdes_keyring_new(void);
void mdes_keyring_free(mdes_keyring *kr);

/* Add the RSA private key of PEM file `path`. The file must be a regular
 * file readable by its owner only (mode 0600 or stricter): otherwise
 * refused, naming the file. `cert_path` (may be NULL) is the PEM
 * certificate of its public key, whose fingerprints are accepted too;
 * `fingerprint` (may be NULL) is one more fingerprint to accept, as hex.
 * 0, or -1 with "<path>: why" in err. */
int mdes_keyring_add_file(mdes_keyring *kr, const char *path, const char *cert_path,
                          const char *fingerprint, char *err, size_t errlen);
size_t mdes_keyring_count(const mdes_keyring *kr);
/* The SPKI SHA-256 fingerprint (lower-case hex) of key i, NULL past the end. */
const char *mdes_keyring_fingerprint(const mdes_keyring *kr, size_t i);

/* The hex fields of an encryptedPayload as received (NULL when absent). */
typedef struct mdes_payload {
	const char *encrypted_data;
	const char *encrypted_key;
	const char *fingerprint;
	const char *oaep;   /* oaepHashingAlgorithm: "SHA256", "SHA512", NULL: PKCS#1 v1.5 */
	const char *iv;
	const char *mode;   /* algorithmCipherMode (2.0.33): "CBC" (NULL too) or "GCM" */
	const char *tag;    /* GCM */
	const char *aad;    /* GCM */
} mdes_payload;

/* Why a payload could not be decrypted: one MDES error each (map.c). */
enum mdes_crypto_status {
	MDES_C_OK = 0,
	MDES_C_UNKNOWN_KEY,   /* publicKeyFingerprint names no key */
	MDES_C_BAD_FORMAT,    /* a field is not hex, or of the wrong length */
	MDES_C_BAD_VALUE,     /* oaepHashingAlgorithm / algorithmCipherMode unknown */
	MDES_C_BAD_KEY,       /* the AES key could not be unwrapped */
	MDES_C_BAD_DATA,      /* bad padding or tag: the data does not decrypt */
	MDES_C_NOMEM,
};

/* Decrypt p with kr. On MDES_C_OK *plain holds *plain_len bytes and a NUL
 * (free with mdes_plain_free, which wipes them). Otherwise *field names
 * the payload's field at fault ("publicKeyFingerprint", "iv"...) and why
 * says what, never quoting a value. */
int mdes_decrypt(const mdes_keyring *kr, const mdes_payload *p, char **plain, size_t *plain_len,
                 const char **field, char *why, size_t whylen);
void mdes_plain_free(char *plain, size_t len);

/* Encrypt plain for the holder of the public key in PEM file pub_path (a
 * public key or a certificate), as Mastercard does: the JSON object of an
 * encryptedPayload, malloc'd, in *out. oaep: "SHA256", "SHA512" or NULL
 * (PKCS#1 v1.5); with_iv: 0 sends no iv (zero IV); gcm: AES-GCM (2.0.33)
 * instead of CBC; aes_bits 128 or 256. For the CLI and the tests (stepupd
 * encrypts only answers, with mdes_encrypt_for). 0, or -1 with err. */
typedef struct mdes_encrypt_opts {
	const char *oaep;
	int with_iv;
	int gcm;
	unsigned aes_bits;
	const char *fingerprint;  /* NULL: the key's SPKI SHA-256 */
} mdes_encrypt_opts;

int mdes_encrypt(const char *pub_path, const char *plain, size_t len, const mdes_encrypt_opts *o,
                 char **out, char *err, size_t errlen);

/* A public key to encrypt for, loaded once: Mastercard's, for the answers
 * stepupd encrypts (getAccountInformation's encryptedPayload), as the CLI
 * and the tests encrypt requests. From a PEM public key or certificate;
 * its fingerprint as given, else the SHA-256 of its SubjectPublicKeyInfo.
 * NULL with "<path>: why" in err. */
typedef struct mdes_pubkey mdes_pubkey;
mdes_pubkey *mdes_pubkey_load(const char *path, const char *fingerprint, char *err, size_t errlen);
void mdes_pubkey_free(mdes_pubkey *pk);
int mdes_pubkey_bits(const mdes_pubkey *pk);
/* mdes_encrypt for a loaded key; o->fingerprint is ignored (the key's). */
int mdes_encrypt_for(const mdes_pubkey *pk, const char *plain, size_t len, const mdes_encrypt_opts *o,
                     char **out, char *err, size_t errlen);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void mdes_hex(const unsigned char *in, size_t n, char *out);

#endif
