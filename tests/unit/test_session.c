/*
 * test_session — dashboard sessions: the Cookie header table, open / find /
 * close against a database, expiry on the virtual clock, and the CSRF token
 * (derived, stable, not the cookie).
 */
#include <stdlib.h>

#include "t.h"
#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/session.h"

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct { const char *header; int found; } cookies[] = {
	{ "ordo_session=" TOK, 1 },
	{ "a=b; ordo_session=" TOK, 1 },
	{ "a=b;ordo_session=" TOK "; c=d", 1 },
	{ "  ordo_session=" TOK " ", 1 },
	{ "xordo_session=" TOK, 0 },                   /* another cookie's name */
	{ "ordo_session_x=" TOK, 0 },
	{ "ordo_session=" TOK "0", 0 },                /* too long */
	{ "ordo_session=" "0123456789abcdef", 0 },     /* too short */
	{ "ordo_session=" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 0 },
	{ "ordo_session=\"" TOK "\"", 0 },
	{ "ordo_session=", 0 },
	{ "", 0 },
	{ ";;;", 0 },
	{ "a=" TOK, 0 },
};

static void test_cookie_header(void)
{
	for (size_t i = 0; i < sizeof cookies / sizeof cookies[0]; i++) {
		char tok[SESSION_TOKEN_HEX + 1] = "";
		int got = session_cookie_token(cookies[i].header, tok);

		if (got != cookies[i].found)
			fprintf(stderr, "cookie case %zu: \"%s\"\n", i, cookies[i].header);
		CHECK_INT(got, cookies[i].found);
		if (got)
			CHECK_STR(tok, TOK);
	}
}

static void test_open_find_close_expire(void)
{
	char *err = NULL;
	struct db *db = db_open(":memory:", 1, &err);
	char tok[SESSION_TOKEN_HEX + 1], tok2[SESSION_TOKEN_HEX + 1];
	char m[SESSION_MERCHANT_MAX], key[SESSION_TOKEN_HEX + 1];
	char csrf[SESSION_TOKEN_HEX + 1], csrf2[SESSION_TOKEN_HEX + 1];
	int64_t exp = 0, exp2 = 0;

	CHECK(db != NULL);
	if (db == NULL)
		return;
	clock_set_virtual(1000000);
	CHECK_INT(session_open(db, "acme", "k1", 60000, tok, &exp), 0);
	CHECK_INT(exp, 1060000);
	CHECK_INT(strlen(tok), SESSION_TOKEN_HEX);
	CHECK_INT(session_open(db, "beta", "k2", 60000, tok2, &exp2), 0);
	CHECK(strcmp(tok, tok2) != 0);
	CHECK_INT(session_find(db, tok, m, key, &exp), 1);
	CHECK_STR(m, "acme");
	CHECK_STR(key, "k1");
	CHECK_INT(session_find(db, tok2, m, key, &exp2), 1);
	CHECK_STR(m, "beta");
	CHECK_INT(session_find(db, TOK, m, key, &exp), 0);

	/* The CSRF token is the same every time, differs per session and is
	 * not the cookie. */
	session_csrf(tok, csrf);
	session_csrf(tok, csrf2);
	CHECK_STR(csrf, csrf2);
	session_csrf(tok2, csrf2);
	CHECK(strcmp(csrf, csrf2) != 0);
	CHECK(strcmp(csrf, tok) != 0);

	/* Closing ends one session only. */
	CHECK_INT(session_close(db, tok2), 0);
	CHECK_INT(session_find(db, tok2, m, key, &exp2), 0);
	CHECK_INT(session_find(db, tok, m, key, &exp), 1);

	/* Expiry: at its time the session is gone, and the next sign-in
	 * sweeps its row away. */
	clock_advance(60000);
	CHECK_INT(session_find(db, tok, m, key, &exp), 0);
	CHECK_INT(session_open(db, "acme", "k1", 60000, tok2, &exp2), 0);
	{
		sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM sessions");

		CHECK(st != NULL && sqlite3_step(st) == SQLITE_ROW);
		if (st != NULL) {
			CHECK_INT(sqlite3_column_int(st, 0), 1);
			db_reset(st);
		}
	}
	clock_use_real();
	db_close(db);
}

T_MAIN(test_cookie_header, test_open_find_close_expire)
