/*
 * crypto — thin wrappers over OpenSSL for what the host needs: HMAC-SHA256
 * and SHA-256 (webhook signatures, body hashes), base64 and hex (how those
 * travel in headers), constant-time comparison and random bytes.
 *
 * Depends on OpenSSL's libcrypto only. It implements no cryptography of its
 * own, and must never hand back a digest it did not compute: the MAC
 * functions have no error return, so if OpenSSL fails (only on allocation
 * failure) we abort rather than let a caller compare against garbage or
 * zeros that an attacker could match.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ordo/crypto.h"

/* Passed instead of NULL for empty inputs. In OpenSSL's HMAC API a NULL
 * key means "keep the previous key"; the one-shot HMAC() copes today, but
 * the empty key must not depend on that. */
static const unsigned char empty[1];

static void openssl_failed(const char *what)
{
	fprintf(stderr, "ordo: OpenSSL %s failed; cannot continue safely\n", what);
	abort();
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data,
    size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (keylen > INT_MAX)
		openssl_failed("HMAC (key too long)");
	if (HMAC(EVP_sha256(), keylen ? key : empty, (int)keylen,
	    len ? data : empty, len, out, &outlen) == NULL ||
	    outlen != CRYPTO_SHA256_LEN)
		openssl_failed("HMAC-SHA256");
}

void crypto_sha256(const void *data, size_t len,
    unsigned char out[CRYPTO_SHA256_LEN])
{
	unsigned int outlen = 0;

	if (!EVP_Digest(len ? data : empty, len, out, &outlen, EVP_sha256(), NULL) ||
	    outlen != CRYPTO_SHA256_LEN)
		openssl_failed("SHA-256");
}

size_t crypto_base64_encode(const unsigned char *in, size_t len, char *out)
{
	/* EVP_EncodeBlock takes an int length; feed it whole 3-byte groups so
	 * that chunks join without padding in the middle. */
	const size_t chunk = (size_t)3 << 20;
	size_t done = 0;

	out[0] = '\0';
	while (len > 0) {
		size_t n = len < chunk ? len : chunk;

		done += (size_t)EVP_EncodeBlock((unsigned char *)out + done, in, (int)n);
		in += n;
		len -= n;
	}
	return done;
}

void crypto_hex(const unsigned char *in, size_t len, char *out)
{
	static const char hexdig[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

int crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_equal_str(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return 0;
	/* strlen's time depends on the length alone, which is not secret: a
	 * signature's length is fixed by its algorithm and encoding. */
	la = strlen(a);
	lb = strlen(b);
	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

int crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		int k = n > INT_MAX ? INT_MAX : (int)n;

		if (RAND_bytes(p, k) != 1)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
