/*
 * money — exact decimal money in integer minor units.
 *
 * Turns storefront decimal strings into an int64 count of minor units by
 * the currency's ISO 4217 exponent, and back. Depends on libc only. It must
 * never touch a double, never round (an amount that does not fit the
 * currency is an error, not a cent lost), and never overflow: every bound
 * is checked before the arithmetic that could cross it.
 *
 * Parsed amounts stay within [-INT64_MAX, INT64_MAX], so negating one (a
 * refund, a reversal) can never overflow; INT64_MIN is refused as input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/money.h"

struct currency {
	char code[4];
	int exponent;
};

/*
 * Active codes of ISO 4217 list one (as published 2026-01-01), sorted for
 * bsearch. Left out: precious metals (XAU XAG XPD XPT), bond-market units
 * (XBA-XBD), XDR XSU XUA, XTS (testing) and XXX (no currency), none of which
 * has a minor unit or is ever a price; and withdrawn codes (ANG, BGN, CUC,
 * HRK, SLL, ZWL ...), which no storefront should send today.
 */
static const struct currency currencies[] = {
	{ "AED", 2 }, { "AFN", 2 }, { "ALL", 2 }, { "AMD", 2 }, { "AOA", 2 },
	{ "ARS", 2 }, { "AUD", 2 }, { "AWG", 2 }, { "AZN", 2 }, { "BAM", 2 },
	{ "BBD", 2 }, { "BDT", 2 }, { "BHD", 3 }, { "BIF", 0 }, { "BMD", 2 },
	{ "BND", 2 }, { "BOB", 2 }, { "BOV", 2 }, { "BRL", 2 }, { "BSD", 2 },
	{ "BTN", 2 }, { "BWP", 2 }, { "BYN", 2 }, { "BZD", 2 }, { "CAD", 2 },
	{ "CDF", 2 }, { "CHE", 2 }, { "CHF", 2 }, { "CHW", 2 }, { "CLF", 4 },
	{ "CLP", 0 }, { "CNY", 2 }, { "COP", 2 }, { "COU", 2 }, { "CRC", 2 },
	{ "CUP", 2 }, { "CVE", 2 }, { "CZK", 2 }, { "DJF", 0 }, { "DKK", 2 },
	{ "DOP", 2 }, { "DZD", 2 }, { "EGP", 2 }, { "ERN", 2 }, { "ETB", 2 },
	{ "EUR", 2 }, { "FJD", 2 }, { "FKP", 2 }, { "GBP", 2 }, { "GEL", 2 },
	{ "GHS", 2 }, { "GIP", 2 }, { "GMD", 2 }, { "GNF", 0 }, { "GTQ", 2 },
	{ "GYD", 2 }, { "HKD", 2 }, { "HNL", 2 }, { "HTG", 2 }, { "HUF", 2 },
	{ "IDR", 2 }, { "ILS", 2 }, { "INR", 2 }, { "IQD", 3 }, { "IRR", 2 },
	{ "ISK", 0 }, { "JMD", 2 }, { "JOD", 3 }, { "JPY", 0 }, { "KES", 2 },
	{ "KGS", 2 }, { "KHR", 2 }, { "KMF", 0 }, { "KPW", 2 }, { "KRW", 0 },
	{ "KWD", 3 }, { "KYD", 2 }, { "KZT", 2 }, { "LAK", 2 }, { "LBP", 2 },
	{ "LKR", 2 }, { "LRD", 2 }, { "LSL", 2 }, { "LYD", 3 }, { "MAD", 2 },
	{ "MDL", 2 }, { "MGA", 2 }, { "MKD", 2 }, { "MMK", 2 }, { "MNT", 2 },
	{ "MOP", 2 }, { "MRU", 2 }, { "MUR", 2 }, { "MVR", 2 }, { "MWK", 2 },
	{ "MXN", 2 }, { "MXV", 2 }, { "MYR", 2 }, { "MZN", 2 }, { "NAD", 2 },
	{ "NGN", 2 }, { "NIO", 2 }, { "NOK", 2 }, { "NPR", 2 }, { "NZD", 2 },
	{ "OMR", 3 }, { "PAB", 2 }, { "PEN", 2 }, { "PGK", 2 }, { "PHP", 2 },
	{ "PKR", 2 }, { "PLN", 2 }, { "PYG", 0 }, { "QAR", 2 }, { "RON", 2 },
	{ "RSD", 2 }, { "RUB", 2 }, { "RWF", 0 }, { "SAR", 2 }, { "SBD", 2 },
	{ "SCR", 2 }, { "SDG", 2 }, { "SEK", 2 }, { "SGD", 2 }, { "SHP", 2 },
	{ "SLE", 2 }, { "SOS", 2 }, { "SRD", 2 }, { "SSP", 2 }, { "STN", 2 },
	{ "SVC", 2 }, { "SYP", 2 }, { "SZL", 2 }, { "THB", 2 }, { "TJS", 2 },
	{ "TMT", 2 }, { "TND", 3 }, { "TOP", 2 }, { "TRY", 2 }, { "TTD", 2 },
	{ "TWD", 2 }, { "TZS", 2 }, { "UAH", 2 }, { "UGX", 0 }, { "USD", 2 },
	{ "USN", 2 }, { "UYI", 0 }, { "UYU", 2 }, { "UYW", 4 }, { "UZS", 2 },
	{ "VED", 2 }, { "VES", 2 }, { "VND", 0 }, { "VUV", 0 }, { "WST", 2 },
	{ "XAD", 2 }, { "XAF", 0 }, { "XCD", 2 }, { "XCG", 2 }, { "XOF", 0 },
	{ "XPF", 0 }, { "YER", 2 }, { "ZAR", 2 }, { "ZMW", 2 }, { "ZWG", 2 },
};

/* 10^exponent; exponents in the table never exceed 4. */
static const int64_t pow10_table[] = { 1, 10, 100, 1000, 10000 };

/* The largest magnitude a parsed amount may have, either sign. */
#define MAG_MAX ((uint64_t)INT64_MAX)

/* Longest piece of the caller's text quoted in an error message. */
#define QUOTE_MAX 40

static int cmp_currency(const void *key, const void *elem)
{
	return strcmp(key, ((const struct currency *)elem)->code);
}

int money_exponent(const char *code)
{
	const struct currency *c;

	if (code == NULL || strlen(code) != 3)
		return -1;
	c = bsearch(code, currencies, sizeof currencies / sizeof currencies[0],
	    sizeof currencies[0], cmp_currency);
	return c != NULL ? c->exponent : -1;
}

/* Writes `what` about the amount text into err, quoting the text (cut at
 * QUOTE_MAX bytes, since it comes from outside and may be huge). */
static int parse_error(char *err, size_t errlen, const char *text,
    const char *currency, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "amount \"%.*s\"%s %s %s", QUOTE_MAX, text,
		    strnlen(text, QUOTE_MAX + 1) > QUOTE_MAX ? "..." : "", what, currency);
	return -1;
}

int money_parse(const char *text, const char *currency, int64_t *out,
    char *err, size_t errlen)
{
	const char *p = text;
	bool neg = false;
	int exp, nfrac = 0;
	uint64_t mag = 0, scale;

	if (currency == NULL)
		currency = "(none)";
	if ((exp = money_exponent(currency)) < 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "unknown currency \"%.*s\"",
			    QUOTE_MAX, currency);
		return -1;
	}
	if (text == NULL)
		return parse_error(err, errlen, "", currency, "is missing for");
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return parse_error(err, errlen, text, currency,
		    "must start with a digit or '-' and a digit for");

	/* Accumulate the magnitude as whole minor units. The fraction digits
	 * past the exponent must be zeros, so they never change the value;
	 * the limit is MAG_MAX on both sides (see the top of the file). */
	scale = (uint64_t)pow10_table[exp];
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (mag > (MAG_MAX - d) / 10)
			return parse_error(err, errlen, text, currency,
			    "is out of range for");
		mag = mag * 10 + d;
	}
	if (mag > MAG_MAX / scale)
		return parse_error(err, errlen, text, currency, "is out of range for");
	mag *= scale;

	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return parse_error(err, errlen, text, currency,
			    "needs digits after '.' for");
		for (; *p >= '0' && *p <= '9'; p++, nfrac++) {
			unsigned d = (unsigned)(*p - '0');

			if (nfrac >= exp) {
				static const char *const too_precise[] = {
					"has a fraction, which is not allowed for",
					"has more than 1 decimal place for",
					"has more than 2 decimal places for",
					"has more than 3 decimal places for",
					"has more than 4 decimal places for",
				};

				if (d != 0)
					return parse_error(err, errlen, text, currency,
					    too_precise[exp]);
				continue;
			}
			d *= (unsigned)pow10_table[exp - 1 - nfrac];
			if (mag > MAG_MAX - d)
				return parse_error(err, errlen, text, currency,
				    "is out of range for");
			mag += d;
		}
	}
	if (*p != '\0')
		return parse_error(err, errlen, text, currency,
		    "is not a plain decimal number (like 19.99) for");

	if (out != NULL)
		*out = neg ? -(int64_t)mag : (int64_t)mag;
	return 0;
}

int money_format(int64_t minor, const char *currency, char *buf, size_t len)
{
	char digits[24], tmp[32];
	int exp, nd = 0, n = 0;
	/* Through uint64_t so that INT64_MIN, which money_parse never yields
	 * but arithmetic elsewhere might, still formats instead of overflowing. */
	uint64_t mag = minor < 0 ? 0 - (uint64_t)minor : (uint64_t)minor;

	if ((exp = money_exponent(currency)) < 0 || buf == NULL)
		return -1;
	do {
		digits[nd++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag != 0);
	/* At least one digit before the point: 5 USD minor is "0.05". */
	while (nd < exp + 1)
		digits[nd++] = '0';

	if (minor < 0)
		tmp[n++] = '-';
	for (int i = nd - 1; i >= 0; i--) {
		tmp[n++] = digits[i];
		if (i == exp && exp > 0)
			tmp[n++] = '.';
	}
	if ((size_t)n >= len)
		return -1;
	memcpy(buf, tmp, (size_t)n);
	buf[n] = '\0';
	return n;
}

const char *money_show(int64_t minor, const char *currency, char *buf, size_t len)
{
	char num[40];

	if (money_format(minor, currency, num, sizeof num) < 0)
		snprintf(num, sizeof num, "%" PRId64, minor);
	snprintf(buf, len, "%s %s", num, currency);
	return buf;
}
