/*
 * crypto — the few primitives the host needs, all from OpenSSL:
 * HMAC-SHA256, SHA-256, base64, hex, constant-time comparison, random bytes.
 * No crypto of our own; these are thin wrappers with fixed-size outputs.
 */
#ifndef ORDO_CRYPTO_H
#define ORDO_CRYPTO_H

#include <stddef.h>

#define CRYPTO_SHA256_LEN 32

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

void crypto_sha256(const void *data, size_t len,
    unsigned char out[CRYPTO_SHA256_LEN]);

/* Standard base64 with padding. out must hold 4*((len+2)/3)+1 bytes.
 * @return the encoded length (NUL-terminated). */
size_t crypto_base64_encode(const unsigned char *in, size_t len, char *out);

/* Lower-case hex. out must hold 2*len+1 bytes (NUL-terminated). */
void crypto_hex(const unsigned char *in, size_t len, char *out);

/* 1 if the n bytes at a and b are equal, else 0; time depends only on n. */
int crypto_equal(const void *a, const void *b, size_t n);

/* 1 if the NUL-terminated strings are equal. Constant time in the content;
 * only the lengths (which are not secret) decide an early answer. */
int crypto_equal_str(const char *a, const char *b);

/* Fill buf with n cryptographically random bytes. @return 0, or -1. */
int crypto_random(void *buf, size_t n);

#endif
