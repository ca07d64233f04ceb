/*
 * session — dashboard sign-in sessions, kept in the database.
 *
 * A merchant signs in with an API key and gets a random token (32 bytes
 * from OpenSSL, sent as 64 hex digits in an HttpOnly, SameSite=Strict
 * cookie). Only the token's SHA-256 is stored (table `sessions`), with the
 * merchant, the digest of the key it was opened with (a session ends when
 * its key leaves the config) and an expiry; any process on the same
 * database accepts it, none keeps sessions in memory. The CSRF token of a
 * session is HMAC-SHA256(token, "ordo-csrf"): derived, never stored, so it
 * can be handed out again (GET /api/v1/session) to a page that reloads, and
 * it tells nothing about the cookie.
 */
#ifndef ORDO_SESSION_H
#define ORDO_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct db;

#define SESSION_COOKIE    "ordo_session"
#define SESSION_TOKEN_HEX 64              /* hex digits of a token (and a CSRF token) */
#define SESSION_TTL_MS    (12LL * 3600 * 1000)
#define SESSION_MERCHANT_MAX 65

/*
 * Open a session for `merchant` signed in with the key whose SHA-256 (hex)
 * is `key_sha256`; sweeps expired sessions first. token gets the cookie
 * value, *expires_at its expiry (Unix ms).
 * @return 0, or -1 (no randomness, or a database error).
 */
int session_open(struct db *db, const char *merchant, const char *key_sha256,
    int64_t ttl_ms, char token[SESSION_TOKEN_HEX + 1], int64_t *expires_at);

/*
 * The live session of `token`: its merchant (into `merchant`), key digest
 * (into key_sha256) and expiry.
 * @return 1 found, 0 unknown or expired, -1 database error.
 */
int session_find(struct db *db, const char *token, char merchant[SESSION_MERCHANT_MAX],
    char key_sha256[SESSION_TOKEN_HEX + 1], int64_t *expires_at);

/* End the session of `token` (unknown: nothing to do). @return 0 or -1. */
int session_close(struct db *db, const char *token);

/* The session's CSRF token (64 hex digits, NUL-terminated). */
void session_csrf(const char *token, char out[SESSION_TOKEN_HEX + 1]);

/*
 * The session token in a Cookie header ("a=b; ordo_session=..."), copied
 * into `token` when it is well formed (64 lower-case hex digits).
 * @return 1, or 0 when there is none.
 */
int session_cookie_token(const char *cookie, char token[SESSION_TOKEN_HEX + 1]);

#endif
