/* bundle_sign.h: the signature trailer of a bundle (bundle_sign.c).
 *
 * A signed bundle is the bundle, byte for byte, followed by a trailer of
 * SU_SIGN_TRAILER bytes:
 *
 *   offset  size  field
 *   0       8     magic "STEPUPS\x1a"
 *   8       4     trailer format (1), little endian
 *   12      4     algorithm (1: Ed25519)
 *   16      32    key id: SHA-256 of the signer's raw 32-byte public key
 *   48      64    Ed25519 signature of the bundle followed by bytes 0..47
 *                 of this trailer (so the key id and format are signed too)
 *
 * The body layout stays bundle.c's alone: the trailer only wraps it. */
#ifndef SU_BUNDLE_SIGN_H
#define SU_BUNDLE_SIGN_H

#include <stddef.h>

#define SU_SIGN_TRAILER 112u

/* 1 when the last SU_SIGN_TRAILER bytes of data begin with the trailer's
 * magic (the bundle loader then reads the bytes before it). */
int su_sign_has_trailer(const void *data, size_t len);

#endif
