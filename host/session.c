/*
 * session — dashboard sessions in the `sessions` table (see session.h).
 *
 * Depends on db, crypto and clock. Never stores or logs a token: only
 * its SHA-256 reaches the database.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "ordo/clock.h"
#include "ordo/crypto.h"
#include "ordo/db.h"
#include "ordo/session.h"

static void token_digest(const char *token, char out[SESSION_TOKEN_HEX + 1])
{
	unsigned char d[CRYPTO_SHA256_LEN];

	crypto_sha256(token, strlen(token), d);
	crypto_hex(d, sizeof d, out);
}

int session_open(struct db *db, const char *merchant, const char *key_sha256,
    int64_t ttl_ms, char token[SESSION_TOKEN_HEX + 1], int64_t *expires_at)
{
	unsigned char raw[SESSION_TOKEN_HEX / 2];
	char digest[SESSION_TOKEN_HEX + 1];
	int64_t now = clock_now_ms();
	sqlite3_stmt *sweep, *ins;

	if (crypto_random(raw, sizeof raw) != 0)
		return -1;
	crypto_hex(raw, sizeof raw, token);
	token_digest(token, digest);
	sweep = db_prepare(db, "DELETE FROM sessions WHERE expires_at <= ?");
	if (sweep == NULL)
		return -1;
	sqlite3_bind_int64(sweep, 1, now);
	if (db_step_done(sweep) != 0)
		return -1;
	ins = db_prepare(db, "INSERT INTO sessions (token_sha256, merchant, key_sha256,"
	    " created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
	if (ins == NULL)
		return -1;
	db_bind_text(ins, 1, digest);
	db_bind_text(ins, 2, merchant);
	db_bind_text(ins, 3, key_sha256);
	sqlite3_bind_int64(ins, 4, now);
	sqlite3_bind_int64(ins, 5, now + ttl_ms);
	if (db_step_done(ins) != 0)
		return -1;
	*expires_at = now + ttl_ms;
	return 0;
}

int session_find(struct db *db, const char *token, char merchant[SESSION_MERCHANT_MAX],
    char key_sha256[SESSION_TOKEN_HEX + 1], int64_t *expires_at)
{
	char digest[SESSION_TOKEN_HEX + 1];
	sqlite3_stmt *st = db_prepare(db, "SELECT merchant, key_sha256, expires_at FROM sessions"
	    " WHERE token_sha256 = ? AND expires_at > ?");
	int rc, found = 0;

	if (st == NULL)
		return -1;
	token_digest(token, digest);
	db_bind_text(st, 1, digest);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(merchant, SESSION_MERCHANT_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
		snprintf(key_sha256, SESSION_TOKEN_HEX + 1, "%s",
		    (const char *)sqlite3_column_text(st, 1));
		*expires_at = sqlite3_column_int64(st, 2);
		found = 1;
	}
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

int session_close(struct db *db, const char *token)
{
	char digest[SESSION_TOKEN_HEX + 1];
	sqlite3_stmt *st = db_prepare(db, "DELETE FROM sessions WHERE token_sha256 = ?");

	if (st == NULL)
		return -1;
	token_digest(token, digest);
	db_bind_text(st, 1, digest);
	return db_step_done(st);
}

void session_csrf(const char *token, char out[SESSION_TOKEN_HEX + 1])
{
	static const char label[] = "ordo-csrf";
	unsigned char mac[CRYPTO_SHA256_LEN];

	crypto_hmac_sha256(token, strlen(token), label, sizeof label - 1, mac);
	crypto_hex(mac, sizeof mac, out);
}

int session_cookie_token(const char *cookie, char token[SESSION_TOKEN_HEX + 1])
{
	static const char name[] = SESSION_COOKIE "=";
	const char *p = cookie;

	/* Cookie: name=value pairs separated by "; " (RFC 6265 section 5.4). */
	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t");
		if (strncmp(p, name, sizeof name - 1) == 0) {
			const char *v = p + sizeof name - 1;
			size_t n = strspn(v, "0123456789abcdef");

			if (n == SESSION_TOKEN_HEX && (v[n] == '\0' || v[n] == ';' || v[n] == ' ')) {
				memcpy(token, v, n);
				token[n] = '\0';
				return 1;
			}
			return 0;
		}
		p = strchr(p, ';');
		if (p != NULL)
			p++;
	}
	return 0;
}
