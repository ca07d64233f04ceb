/*
 * fuzz_money — money_parse / money_format against an independent model.
 *
 * Input: byte 0 picks the mode and the currency, the rest is the payload.
 *   mode "text"  (byte0 bit 0 clear): the rest is amount text for
 *                money_parse. The harness decides on its own whether the
 *                text is acceptable — ^-?[0-9]+(\.[0-9]+)?$, fraction
 *                digits past the currency's exponent all zeros, magnitude
 *                at most INT64_MAX minor units — and what it is worth, by
 *                decimal string arithmetic (no int64 maths that could
 *                overflow), and money_parse must agree on both. An accepted
 *                amount must format back to its canonical text and parse
 *                again to the same value.
 *   mode "value" (bit 0 set): the next 8 bytes are an int64 of minor
 *                units; money_format must give canonical text that
 *                money_parse turns back into the same value (INT64_MIN
 *                formats but must be refused by money_parse).
 * Byte 0 >> 1 indexes the currency table below; indexes past it take the
 * next 3 payload bytes as a raw currency code, so money_exponent sees
 * arbitrary codes (which must then be refused by both functions unless
 * they happen to be real).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "ordo/money.h"
#include "fuzz_common.h"

static const char *const codes[] = {
	"USD", "JPY", "KWD", "CLF", "UYW", "EUR", "BHD", "ISK", "XOF", "GBP",
	"usd", "XXX", "US", "USDD", "",
};
#define N_CODES (sizeof codes / sizeof codes[0])

#define INT64_MAX_TEXT "9223372036854775807"

/* What the model says about `text`: -1 refused, else 0 with the value's
 * magnitude as canonical decimal digits (no leading zeros, "0" for zero)
 * in digits[] and the sign in *neg. */
static int model_parse(const char *text, int exp, char *digits, size_t dlen, bool *neg)
{
	const char *p = text, *int_start, *frac_start = NULL;
	size_t nint, nfrac = 0, n = 0, i;
	char *all;

	*neg = false;
	if (*p == '-') {
		*neg = true;
		p++;
	}
	int_start = p;
	while (*p >= '0' && *p <= '9')
		p++;
	nint = (size_t)(p - int_start);
	if (nint == 0)
		return -1;
	if (*p == '.') {
		frac_start = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		nfrac = (size_t)(p - frac_start);
		if (nfrac == 0)
			return -1;
	}
	if (*p != '\0')
		return -1;
	/* Fraction digits past the exponent must be zeros. */
	for (i = (size_t)exp; i < nfrac; i++)
		if (frac_start[i] != '0')
			return -1;

	/* integer digits, then exactly `exp` fraction digits (padded). */
	if ((all = malloc(nint + (size_t)exp + 1)) == NULL)
		abort();
	memcpy(all, int_start, nint);
	n = nint;
	for (i = 0; i < (size_t)exp; i++)
		all[n++] = i < nfrac ? frac_start[i] : '0';
	all[n] = '\0';
	for (i = 0; i + 1 < n && all[i] == '0'; i++)
		;
	/* In range: at most INT64_MAX, compared as digit strings. */
	if (n - i > 19 || (n - i == 19 && strcmp(all + i, INT64_MAX_TEXT) > 0) ||
	    n - i + 1 > dlen) {
		free(all);
		return -1;
	}
	memcpy(digits, all + i, n - i + 1);
	free(all);
	if (strcmp(digits, "0") == 0)
		*neg = false;
	return 0;
}

/* The canonical text of a value: "-"?, integer part without leading zeros
 * (at least "0"), then "." and exactly exp digits when exp > 0. */
static void canonical(bool neg, const char *digits, int exp, char *out, size_t len)
{
	size_t nd = strlen(digits), o = 0;
	char padded[64];

	/* At least exp + 1 digits, so there is an integer part. */
	size_t pad = nd < (size_t)exp + 1 ? (size_t)exp + 1 - nd : 0;

	FUZZ_CHECK(pad + nd < sizeof padded, "digits too long");
	memset(padded, '0', pad);
	memcpy(padded + pad, digits, nd + 1);
	nd += pad;
	if (neg)
		out[o++] = '-';
	for (size_t i = 0; i < nd; i++) {
		if (exp > 0 && i == nd - (size_t)exp)
			out[o++] = '.';
		out[o++] = padded[i];
		FUZZ_CHECK(o < len, "canonical text too long");
	}
	out[o] = '\0';
}

static void u64_digits(uint64_t v, char *out)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

static void check_text(const char *text, const char *cur)
{
	char err[160], digits[32], canon[64], fmt[64], again_err[160];
	int exp = money_exponent(cur), rc, mrc, n;
	int64_t v = 0x5a5a5a5a, again = 0;
	uint64_t mag;
	bool neg;

	err[0] = '\0';
	rc = money_parse(text, cur, &v, err, sizeof err);
	FUZZ_CHECK(rc == 0 || rc == -1, "money_parse returned %d", rc);
	if (exp < 0) {
		FUZZ_CHECK(rc == -1, "unknown currency \"%s\" accepted", cur);
		FUZZ_CHECK(err[0] != '\0', "no message for an unknown currency");
		return;
	}
	mrc = model_parse(text, exp, digits, sizeof digits, &neg);
	FUZZ_CHECK(rc == mrc, "money_parse(\"%s\", %s) = %d (%s), model says %d",
	    text, cur, rc, rc ? err : "", mrc);
	if (rc != 0) {
		FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof err,
		    "refusal without a message: \"%s\"", text);
		return;
	}
	/* Same value as the model. */
	mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	u64_digits(mag, fmt);
	FUZZ_CHECK(strcmp(fmt, digits) == 0 && (v < 0) == neg,
	    "money_parse(\"%s\", %s) = %" PRId64 ", model says %s%s", text, cur, v,
	    neg ? "-" : "", digits);
	FUZZ_CHECK(v != INT64_MIN, "INT64_MIN accepted from \"%s\"", text);

	/* format(parse(t)) is the canonical text; parse of that is the value. */
	canonical(neg, digits, exp, canon, sizeof canon);
	n = money_format(v, cur, fmt, sizeof fmt);
	FUZZ_CHECK(n == (int)strlen(canon) && strcmp(fmt, canon) == 0,
	    "money_format(%" PRId64 ", %s) = \"%s\" (%d), expected \"%s\"", v, cur,
	    n < 0 ? "" : fmt, n, canon);
	FUZZ_CHECK(money_parse(fmt, cur, &again, again_err, sizeof again_err) == 0 &&
	    again == v, "parse(format(%" PRId64 ")) = %" PRId64 " for %s (\"%s\")",
	    v, again, cur, fmt);
	/* A buffer one byte short is refused, not overrun. */
	FUZZ_CHECK(money_format(v, cur, fmt, (size_t)n) == -1,
	    "money_format wrote %d chars into %d bytes", n, n);
}

static void check_value(int64_t v, const char *cur)
{
	char fmt[64], canon[64], digits[24], err[160];
	int exp = money_exponent(cur), n;
	int64_t again = 0;
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	int rc;

	n = money_format(v, cur, fmt, sizeof fmt);
	if (exp < 0) {
		FUZZ_CHECK(n == -1, "money_format accepted unknown currency \"%s\"", cur);
		return;
	}
	u64_digits(mag, digits);
	canonical(v < 0, digits, exp, canon, sizeof canon);
	FUZZ_CHECK(n == (int)strlen(canon) && strcmp(fmt, canon) == 0,
	    "money_format(%" PRId64 ", %s) = \"%s\" (%d), expected \"%s\"", v, cur,
	    n < 0 ? "" : fmt, n, canon);
	rc = money_parse(fmt, cur, &again, err, sizeof err);
	if (v == INT64_MIN) {
		FUZZ_CHECK(rc == -1, "money_parse accepted INT64_MIN as \"%s\"", fmt);
		return;
	}
	FUZZ_CHECK(rc == 0 && again == v, "parse(format(%" PRId64 ")) = %d, %" PRId64
	    " for %s (\"%s\": %s)", v, rc, again, cur, fmt, rc ? err : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char raw[4], *text;
	const char *cur;
	size_t idx;
	int value_mode;

	if (size < 1)
		return 0;
	value_mode = data[0] & 1;
	idx = data[0] >> 1;
	data++, size--;
	if (idx < N_CODES) {
		cur = codes[idx];
	} else {
		if (size < 3)
			return 0;
		memcpy(raw, data, 3);
		raw[3] = '\0';
		cur = raw;
		data += 3, size -= 3;
	}

	if (value_mode) {
		int64_t v;

		if (size < sizeof v)
			return 0;
		memcpy(&v, data, sizeof v);
		check_value(v, cur);
		return 0;
	}
	/* Text stops at a NUL, as every caller's C string does. */
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	check_text(text, cur);
	free(text);
	return 0;
}
