/*
 * test_money — decimal text to minor units and back, by ISO 4217 exponent.
 *
 * Table-driven: each case is text, currency, and either the exact minor
 * units or the error (and then the message must quote the text).
 */
#include <stdint.h>

#include "t.h"
#include "ordo/money.h"

struct parse_case {
	const char *text;
	const char *currency;
	int ok;
	int64_t want;      /* when ok */
	const char *why;   /* when not ok: a word the message must contain */
};

static const struct parse_case parse_cases[] = {
	/* exact values */
	{ "19.99", "USD", 1, 1999, NULL },
	{ "0.01", "USD", 1, 1, NULL },
	{ "0", "USD", 1, 0, NULL },
	{ "-5.00", "USD", 1, -500, NULL },
	{ "-0.05", "USD", 1, -5, NULL },
	{ "-0", "USD", 1, 0, NULL },
	{ "19.9", "USD", 1, 1990, NULL },
	{ "19", "USD", 1, 1900, NULL },
	{ "19.990", "USD", 1, 1999, NULL },
	{ "19.99000000", "USD", 1, 1999, NULL },
	{ "007.50", "EUR", 1, 750, NULL },
	{ "1000", "JPY", 1, 1000, NULL },
	{ "1000.0", "JPY", 1, 1000, NULL },
	{ "-1000", "JPY", 1, -1000, NULL },
	{ "1.234", "KWD", 1, 1234, NULL },
	{ "0.001", "KWD", 1, 1, NULL },
	{ "1.5", "KWD", 1, 1500, NULL },
	{ "1.2345", "CLF", 1, 12345, NULL },
	/* too precise: an error, never a rounding */
	{ "19.991", "USD", 0, 0, "decimal places" },
	{ "0.001", "USD", 0, 0, "decimal places" },
	{ "1000.5", "JPY", 0, 0, "fraction" },
	{ "1.2345", "KWD", 0, 0, "decimal places" },
	/* not a plain decimal */
	{ "", "USD", 0, 0, "digit" },
	{ " 1", "USD", 0, 0, "digit" },
	{ "1 ", "USD", 0, 0, "decimal" },
	{ "1.", "USD", 0, 0, "after '.'" },
	{ ".5", "USD", 0, 0, "digit" },
	{ "-.5", "USD", 0, 0, "digit" },
	{ "+1", "USD", 0, 0, "digit" },
	{ "-", "USD", 0, 0, "digit" },
	{ "--1", "USD", 0, 0, "digit" },
	{ "1e3", "USD", 0, 0, "decimal" },
	{ "1,00", "USD", 0, 0, "decimal" },
	{ "1.0.0", "USD", 0, 0, "decimal" },
	{ "0x10", "USD", 0, 0, "decimal" },
	{ "1.5e2", "USD", 0, 0, "decimal" },
	{ "NaN", "USD", 0, 0, "digit" },
	/* int64 boundaries, on each path where the value can grow: integer
	 * digits, scaling by the exponent, and adding the fraction */
	{ "9223372036854775807", "JPY", 1, INT64_MAX, NULL },
	{ "9223372036854775808", "JPY", 0, 0, "out of range" },
	{ "-9223372036854775807", "JPY", 1, -INT64_MAX, NULL },
	{ "-9223372036854775808", "JPY", 0, 0, "out of range" },
	{ "92233720368547758.07", "USD", 1, INT64_MAX, NULL },
	{ "92233720368547758.08", "USD", 0, 0, "out of range" },
	{ "-92233720368547758.07", "USD", 1, -INT64_MAX, NULL },
	{ "-92233720368547758.08", "USD", 0, 0, "out of range" },
	{ "92233720368547759", "USD", 0, 0, "out of range" },
	{ "9223372036854775.807", "KWD", 1, INT64_MAX, NULL },
	{ "9223372036854775.808", "KWD", 0, 0, "out of range" },
	{ "99999999999999999999999999", "USD", 0, 0, "out of range" },
	{ "0000000000000000000000000001.00", "USD", 1, 100, NULL },
};

static void test_parse_table(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		char err[256] = "", quoted[128];
		int64_t got = 12345;
		int rc = money_parse(c->text, c->currency, &got, err, sizeof err);

		if (c->ok) {
			if (rc != 0 || got != c->want)
				fprintf(stderr, "  case %zu: \"%s\" %s -> rc %d, %" PRId64 " (%s)\n",
				    i, c->text, c->currency, rc, got, err);
			CHECK_INT(rc, 0);
			CHECK_INT(got, c->want);
		} else {
			if (rc != -1)
				fprintf(stderr, "  case %zu: \"%s\" %s accepted as %" PRId64 "\n",
				    i, c->text, c->currency, got);
			CHECK_INT(rc, -1);
			CHECK_INT(got, 12345); /* untouched on error */
			snprintf(quoted, sizeof quoted, "\"%s\"", c->text);
			CHECK_HAS(err, quoted);
			CHECK_HAS(err, c->why);
			CHECK_HAS(err, c->currency);
		}
	}
}

static void test_parse_errors(void)
{
	char err[128] = "", tiny[8];
	int64_t v = 7;
	char long_text[200];

	/* unknown or malformed currencies, named in the message */
	CHECK_INT(money_parse("1.00", "XYZ", &v, err, sizeof err), -1);
	CHECK_HAS(err, "unknown currency");
	CHECK_HAS(err, "\"XYZ\"");
	CHECK_INT(money_parse("1.00", "usd", &v, err, sizeof err), -1);
	CHECK_HAS(err, "\"usd\"");
	CHECK_INT(money_parse("1.00", NULL, &v, err, sizeof err), -1);
	CHECK_HAS(err, "unknown currency");
	CHECK_INT(money_parse(NULL, "USD", &v, err, sizeof err), -1);
	CHECK_HAS(err, "missing");
	CHECK_INT(v, 7);

	/* err may be NULL, or too small: still an error, still terminated */
	CHECK_INT(money_parse("1.001", "USD", &v, NULL, 0), -1);
	CHECK_INT(money_parse("1.001", "USD", &v, tiny, sizeof tiny), -1);
	CHECK_INT(strlen(tiny), sizeof tiny - 1);

	/* a huge bad input is quoted only in part */
	memset(long_text, '7', sizeof long_text - 2);
	long_text[sizeof long_text - 2] = 'x';
	long_text[sizeof long_text - 1] = '\0';
	CHECK_INT(money_parse(long_text, "USD", &v, err, sizeof err), -1);
	CHECK_HAS(err, "...");
	CHECK(strlen(err) < 100);
}

static void test_exponent(void)
{
	static const char *const zero[] = { "BIF", "CLP", "DJF", "GNF", "ISK",
	    "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
	    "XOF", "XPF" };
	static const char *const three[] = { "BHD", "IQD", "JOD", "KWD", "LYD",
	    "OMR", "TND" };
	static const char *const two[] = { "AED", "USD", "EUR", "GBP", "CHF",
	    "CNY", "INR", "MGA", "MRU", "XCG", "ZWG", "ZMW", "SLE", "VES" };
	static const char *const unknown[] = { "", "US", "USDX", "usd", "Usd",
	    "XAU", "XXX", "XTS", "HRK", "AAA", "ZZZ", "US\x01" };

	for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
		CHECK_INT(money_exponent(zero[i]), 0);
	for (size_t i = 0; i < sizeof three / sizeof three[0]; i++)
		CHECK_INT(money_exponent(three[i]), 3);
	for (size_t i = 0; i < sizeof two / sizeof two[0]; i++)
		CHECK_INT(money_exponent(two[i]), 2);
	CHECK_INT(money_exponent("CLF"), 4);
	CHECK_INT(money_exponent("UYW"), 4);
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
		CHECK_INT(money_exponent(unknown[i]), -1);
	CHECK_INT(money_exponent(NULL), -1);
}

struct format_case {
	int64_t minor;
	const char *currency;
	const char *text;
};

static const struct format_case format_cases[] = {
	{ 1999, "USD", "19.99" },
	{ 1, "USD", "0.01" },
	{ 0, "USD", "0.00" },
	{ -5, "USD", "-0.05" },
	{ -500, "USD", "-5.00" },
	{ -1999, "USD", "-19.99" },
	{ 1000, "JPY", "1000" },
	{ 0, "JPY", "0" },
	{ -1000, "JPY", "-1000" },
	{ 1234, "KWD", "1.234" },
	{ -1, "KWD", "-0.001" },
	{ 5, "CLF", "0.0005" },
	{ INT64_MAX, "USD", "92233720368547758.07" },
	{ -INT64_MAX, "USD", "-92233720368547758.07" },
	{ INT64_MIN, "USD", "-92233720368547758.08" },
	{ INT64_MAX, "JPY", "9223372036854775807" },
};

static void test_format_table(void)
{
	for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
		const struct format_case *c = &format_cases[i];
		char buf[64];

		CHECK_INT(money_format(c->minor, c->currency, buf, sizeof buf),
		    strlen(c->text));
		CHECK_STR(buf, c->text);
	}
}

static void test_format_limits(void)
{
	char buf[8];

	CHECK_INT(money_format(1999, "XYZ", buf, sizeof buf), -1);
	CHECK_INT(money_format(1999, NULL, buf, sizeof buf), -1);
	/* "19.99" needs 6 bytes with its NUL */
	CHECK_INT(money_format(1999, "USD", buf, 5), -1);
	CHECK_INT(money_format(1999, "USD", buf, 6), 5);
	CHECK_STR(buf, "19.99");
	CHECK_INT(money_format(1999, "USD", buf, 0), -1);
}

/* format then parse gives the value back, and parse then format gives the
 * canonical text back. */
static void test_round_trip(void)
{
	static const char *const currencies[] = { "USD", "JPY", "KWD", "CLF" };
	static const int64_t values[] = { 0, 1, -1, 9, -9, 10, 99, 100, 101, 999,
	    1000, -1000, 1001, 1999, -1999, 123456789, -987654321,
	    INT64_C(4611686018427387904), INT64_MAX, -INT64_MAX };
	static const char *const canonical[][2] = {
		{ "19.99", "USD" }, { "-0.05", "USD" }, { "1000", "JPY" },
		{ "-42", "JPY" }, { "1.234", "KWD" }, { "-0.001", "KWD" },
		{ "0.0005", "UYW" },
	};

	for (size_t c = 0; c < sizeof currencies / sizeof currencies[0]; c++) {
		for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
			char buf[32], err[128] = "";
			int64_t back = 0;

			CHECK(money_format(values[i], currencies[c], buf, sizeof buf) > 0);
			CHECK_INT(money_parse(buf, currencies[c], &back, err, sizeof err), 0);
			CHECK_INT(back, values[i]);
		}
	}
	for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
		char buf[32];
		int64_t v = 0;

		CHECK_INT(money_parse(canonical[i][0], canonical[i][1], &v, NULL, 0), 0);
		CHECK(money_format(v, canonical[i][1], buf, sizeof buf) > 0);
		CHECK_STR(buf, canonical[i][0]);
	}
}

T_MAIN(test_parse_table, test_parse_errors, test_exponent, test_format_table,
    test_format_limits, test_round_trip)
