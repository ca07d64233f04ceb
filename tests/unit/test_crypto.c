/*
 * test_crypto — published vectors for HMAC-SHA256 (RFC 4231), SHA-256
 * (FIPS 180-2) and base64 (RFC 4648), plus hex and the comparisons.
 */
#include <stdlib.h>

#include "t.h"
#include "ordo/crypto.h"

struct hmac_case {
	int rfc_case;
	unsigned char key_byte;   /* key is key_len copies of it ... */
	size_t key_len;
	const char *key_text;     /* ... unless this is set */
	int key_counting;         /* ... or 0x01, 0x02, ... key_len */
	unsigned char data_byte;  /* data is data_len copies of it ... */
	size_t data_len;
	const char *data_text;    /* ... unless this is set */
	const char *mac_hex;
};

static const struct hmac_case hmac_cases[] = {
	{ 1, 0x0b, 20, NULL, 0, 0, 0, "Hi There",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ 2, 0, 0, "Jefe", 0, 0, 0, "what do ya want for nothing?",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ 3, 0xaa, 20, NULL, 0, 0xdd, 50, NULL,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ 4, 0, 25, NULL, 1, 0xcd, 50, NULL,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ 6, 0xaa, 131, NULL, 0, 0, 0,
	  "Test Using Larger Than Block-Size Key - Hash Key First",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ 7, 0xaa, 131, NULL, 0, 0, 0,
	  "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being "
	  "used by the HMAC algorithm.",
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

static void test_hmac_rfc4231(void)
{
	for (size_t i = 0; i < sizeof hmac_cases / sizeof hmac_cases[0]; i++) {
		const struct hmac_case *c = &hmac_cases[i];
		unsigned char key[200], data[100], mac[CRYPTO_SHA256_LEN];
		const void *k = key, *d = data;
		size_t klen = c->key_len, dlen = c->data_len;
		char hex[2 * CRYPTO_SHA256_LEN + 1];

		if (c->key_text != NULL) {
			k = c->key_text;
			klen = strlen(c->key_text);
		} else {
			for (size_t j = 0; j < klen; j++)
				key[j] = c->key_counting ? (unsigned char)(j + 1) : c->key_byte;
		}
		if (c->data_text != NULL) {
			d = c->data_text;
			dlen = strlen(c->data_text);
		} else {
			memset(data, c->data_byte, dlen);
		}
		crypto_hmac_sha256(k, klen, d, dlen, mac);
		crypto_hex(mac, sizeof mac, hex);
		if (strcmp(hex, c->mac_hex) != 0)
			fprintf(stderr, "  RFC 4231 case %d\n", c->rfc_case);
		CHECK_STR(hex, c->mac_hex);
	}
}

/* What a Shopify-style header carries: base64 of the raw MAC. */
static void test_hmac_base64_and_empty(void)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	char b64[4 * ((CRYPTO_SHA256_LEN + 2) / 3) + 1];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	const char *body = "what do ya want for nothing?";

	crypto_hmac_sha256("Jefe", 4, body, strlen(body), mac);
	CHECK_INT(crypto_base64_encode(mac, sizeof mac, b64), 44);
	CHECK_STR(b64, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");

	/* empty key and empty body, passed as NULL: a real MAC, not a reuse
	 * of whatever key OpenSSL saw last */
	crypto_hmac_sha256(NULL, 0, NULL, 0, mac);
	crypto_hex(mac, sizeof mac, hex);
	CHECK_STR(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_sha256(void)
{
	unsigned char d[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];
	const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	crypto_sha256("abc", 3, d);
	crypto_hex(d, sizeof d, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	crypto_sha256(NULL, 0, d);
	crypto_hex(d, sizeof d, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

	crypto_sha256(two_blocks, strlen(two_blocks), d);
	crypto_hex(d, sizeof d, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_base64(void)
{
	/* RFC 4648 section 10, then both padding lengths and the '+' '/'
	 * end of the alphabet */
	static const struct { const char *in; size_t len; const char *out; } cases[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		{ "\xfb\xff", 2, "+/8=" },
		{ "\xff\xff\xff", 3, "////" },
		{ "\x00\x00\x00\x00", 4, "AAAAAA==" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t need = 4 * ((cases[i].len + 2) / 3) + 1;
		/* exactly the documented size, so ASan sees any overrun */
		char *out = malloc(need);

		CHECK(out != NULL);
		if (out == NULL)
			return;
		CHECK_INT(crypto_base64_encode((const unsigned char *)cases[i].in,
		    cases[i].len, out), strlen(cases[i].out));
		CHECK_STR(out, cases[i].out);
		free(out);
	}
}

/* Inputs past one internal chunk must join with no padding in between. */
static void test_base64_large(void)
{
	size_t len = ((size_t)3 << 20) * 2 + 2;
	size_t need = 4 * ((len + 2) / 3) + 1;
	unsigned char *in = calloc(1, len);
	char *out = malloc(need);
	size_t n;

	CHECK(in != NULL && out != NULL);
	if (in != NULL && out != NULL) {
		n = crypto_base64_encode(in, len, out);
		CHECK_INT(n, need - 1);
		CHECK_INT(strlen(out), need - 1);
		CHECK_INT(strspn(out, "A"), need - 2);
		CHECK_STR(out + need - 5, "AAA=");
	}
	free(in);
	free(out);
}

static void test_hex(void)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char out[2 * sizeof in + 1];

	crypto_hex(in, sizeof in, out);
	CHECK_STR(out, "00017f80abff");
	crypto_hex(in, 0, out);
	CHECK_STR(out, "");
}

static void test_equal(void)
{
	unsigned char a[32], b[32];

	memset(a, 0x5a, sizeof a);
	memset(b, 0x5a, sizeof b);
	CHECK_INT(crypto_equal(a, b, sizeof a), 1);
	b[0] ^= 1;
	CHECK_INT(crypto_equal(a, b, sizeof a), 0);
	b[0] ^= 1;
	b[31] ^= 0x80;
	CHECK_INT(crypto_equal(a, b, sizeof a), 0);
	CHECK_INT(crypto_equal(a, b, 31), 1); /* only n bytes count */
	CHECK_INT(crypto_equal(a, b, 0), 1);
}

static void test_equal_str(void)
{
	static const struct { const char *a, *b; int eq; } cases[] = {
		{ "abc", "abc", 1 },
		{ "", "", 1 },
		{ "abc", "abd", 0 },
		{ "xbc", "abc", 0 },
		{ "abc", "abcd", 0 },   /* a prefix is not a match */
		{ "abcd", "abc", 0 },
		{ "", "a", 0 },
		{ "sha256=00", "sha256=0", 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_INT(crypto_equal_str(cases[i].a, cases[i].b), cases[i].eq);
	CHECK_INT(crypto_equal_str(NULL, "a"), 0);
	CHECK_INT(crypto_equal_str("a", NULL), 0);
	CHECK_INT(crypto_equal_str(NULL, NULL), 0);
}

static void test_random(void)
{
	unsigned char a[32], b[32], zero[32] = { 0 };

	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	CHECK_INT(crypto_random(a, sizeof a), 0);
	CHECK_INT(crypto_random(b, sizeof b), 0);
	/* 2^-256 chance of a false failure each */
	CHECK(memcmp(a, zero, sizeof a) != 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK_INT(crypto_random(a, 0), 0);
}

T_MAIN(test_hmac_rfc4231, test_hmac_base64_and_empty, test_sha256, test_base64,
    test_base64_large, test_hex, test_equal, test_equal_str, test_random)
