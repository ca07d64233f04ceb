/*
 * money — exact decimal money in integer minor units.
 *
 * Storefronts send prices as decimal strings ("19.99"); they are parsed by
 * the currency's ISO 4217 exponent (JPY 0, USD 2, KWD 3) into an int64.
 * Nothing here ever touches a double.
 */
#ifndef ORDO_MONEY_H
#define ORDO_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The ISO 4217 minor-unit exponent of `code` ("USD" -> 2), or -1 if the
 * code is not a known active currency. Case-sensitive, three letters. */
int money_exponent(const char *code);

/*
 * Parse decimal text into minor units of `currency`.
 * Accepts an optional leading '-', digits, and an optional '.' followed by
 * digits. More fraction digits than the exponent are accepted only when the
 * extra ones are zeros ("19.990" USD is 1999); otherwise it is an error,
 * never a rounding. Rejects empty text, spaces, '+', exponents, "1.", ".5",
 * and values that overflow int64.
 * @return 0 with *out set, or -1 with a message in err (may be NULL).
 */
int money_parse(const char *text, const char *currency, int64_t *out,
    char *err, size_t errlen);

/*
 * Format minor units as decimal text by the currency's exponent
 * (1999 USD -> "19.99", -5 USD -> "-0.05", 1000 JPY -> "1000").
 * @return the length written, or -1 for an unknown currency or a short buf.
 */
int money_format(int64_t minor, const char *currency, char *buf, size_t len);

/* "19.99 USD" in `buf` for messages (the bare number when the currency is
 * unknown). @return buf. */
const char *money_show(int64_t minor, const char *currency, char *buf, size_t len);

#endif
