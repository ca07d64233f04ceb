/*
 * log — one JSON object per line: {"ts","level","msg", then key/values}.
 *
 * Depends on jansson (which does the escaping) and clock (for "ts", so a
 * virtual clock in `ordo test` stamps its own records). Values come from
 * scripts and storefront payloads, so whatever bytes they hold, a record
 * must stay exactly one line of valid JSON: bytes that are not UTF-8 are
 * replaced, never passed through. Logging must never fail its caller or
 * block on anything but the stream; each line is flushed as it is written,
 * so a crash loses nothing already logged.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ordo/clock.h"
#include "ordo/log.h"

static enum log_level min_level = LOG_INFO;
static FILE *log_stream; /* NULL means stderr, which is not a constant */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_set_stream(FILE *fp)
{
	log_stream = fp;
}

/* Length of the valid UTF-8 sequence at s (as jansson checks it: no
 * overlongs, no surrogates, nothing past U+10FFFF), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

json_t *json_text_lossy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *buf, *q;
	json_t *j;

	/* The common case: valid already, and jansson checks it for us. */
	if ((j = json_string(s)) != NULL)
		return j;
	/* Each byte becomes at most the 3 bytes of U+FFFD. */
	if ((buf = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (q = buf; *p != '\0';) {
		size_t n = utf8_seq(p);

		if (n == 0) {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3;
			p++;
		} else {
			memcpy(q, p, n);
			q += n;
			p += n;
		}
	}
	*q = '\0';
	j = json_string(buf);
	free(buf);
	return j;
}

/* Adds key/value without ever replacing "ts", "level", "msg" or an
 * earlier pair: a clashing key gets a '_' prefix until it is free. */
static int add_field(json_t *rec, const char *key, json_t *val)
{
	char *k = NULL;
	const char *use = key;
	int rc;

	while (json_object_get(rec, use) != NULL) {
		size_t n = strlen(use);
		char *nk = malloc(n + 2);

		if (nk == NULL) {
			free(k);
			json_decref(val);
			return -1;
		}
		nk[0] = '_';
		memcpy(nk + 1, use, n + 1);
		free(k);
		use = k = nk;
	}
	rc = json_object_set_new(rec, use, val);
	free(k);
	return rc;
}

void log_write(enum log_level level, const char *msg, ...)
{
	FILE *fp = log_stream != NULL ? log_stream : stderr;
	json_t *rec = NULL, *name;
	char ts[32], *line = NULL;
	const char *key;
	bool ok;
	va_list ap;

	if (level < min_level)
		return;
	if ((unsigned)level > LOG_ERROR)
		level = LOG_ERROR;
	clock_format_iso(clock_now_ms(), ts);

	ok = (rec = json_object()) != NULL &&
	    json_object_set_new(rec, "ts", json_string(ts)) == 0 &&
	    json_object_set_new(rec, "level", json_string(level_names[level])) == 0 &&
	    json_object_set_new(rec, "msg", msg != NULL ? json_text_lossy(msg) : json_null()) == 0;

	va_start(ap, msg);
	while (ok && (key = va_arg(ap, const char *)) != NULL) {
		const char *val = va_arg(ap, const char *);

		/* Keys are ours, but a non-UTF-8 one must not lose the record. */
		if ((name = json_text_lossy(key)) == NULL) {
			ok = false;
			break;
		}
		ok = add_field(rec, json_string_value(name),
		    val != NULL ? json_text_lossy(val) : json_null()) == 0;
		json_decref(name);
	}
	va_end(ap);

	if (ok)
		line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	/* One fprintf per record, so an unbuffered stderr gets the whole line
	 * in one write. If memory ran out, still say that something happened. */
	if (line != NULL)
		fprintf(fp, "%s\n", line);
	else
		fprintf(fp, "{\"ts\":\"%s\",\"level\":\"error\","
		    "\"msg\":\"log record lost: out of memory\"}\n", ts);
	fflush(fp);
	free(line);
	json_decref(rec);
}
