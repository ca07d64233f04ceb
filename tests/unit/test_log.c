/*
 * test_log — records go to a memstream and are read back with jansson:
 * one valid JSON object per line, whatever bytes the values hold.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "t.h"
#include "ordo/clock.h"
#include "ordo/log.h"

/* 2026-11-22T03:23:52.123Z */
#define T0 INT64_C(1795317832123)

struct capture {
	FILE *fp;
	char *buf;
	size_t len;
};

static void capture_start(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->fp = open_memstream(&c->buf, &c->len);
	CHECK(c->fp != NULL);
	log_set_stream(c->fp);
}

static void capture_end(struct capture *c)
{
	log_set_stream(NULL);
	if (c->fp != NULL)
		fclose(c->fp);
	free(c->buf);
}

/* Lines written so far. The test never flushes: log_write must have. */
static size_t count_lines(const struct capture *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->len; i++)
		n += c->buf[i] == '\n';
	return n;
}

/* The idx-th line, parsed (caller decrefs), or NULL. Also checks that the
 * line holds no raw control bytes and no duplicate keys. */
static json_t *line_json(const struct capture *c, size_t idx)
{
	const char *p = c->buf, *end = c->buf + c->len, *nl;
	json_error_t e;
	json_t *j;

	for (size_t i = 0; i < idx && p < end; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return NULL;
		p = nl + 1;
	}
	if (p >= end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return NULL;
	for (const char *q = p; q < nl; q++)
		CHECK((unsigned char)*q >= 0x20);
	j = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &e);
	if (j == NULL)
		fprintf(stderr, "  line %zu is not JSON: %s: %.*s\n", idx, e.text,
		    (int)(nl - p), p);
	CHECK(json_is_object(j));
	return j;
}

static const char *field(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

/* Runs first, so it sees the default level. */
static void test_fields_and_order(void)
{
	struct capture c;
	json_t *rec;

	clock_set_virtual(T0);
	capture_start(&c);
	log_debug("not by default", NULL);
	CHECK_INT(c.len, 0);
	log_info("order placed", "merchant", "acme", "order", "1001", NULL);
	CHECK_INT(count_lines(&c), 1);

	rec = line_json(&c, 0);
	CHECK_STR(field(rec, "ts"), "2026-11-22T03:23:52.123Z");
	CHECK_STR(field(rec, "level"), "info");
	CHECK_STR(field(rec, "msg"), "order placed");
	CHECK_STR(field(rec, "merchant"), "acme");
	CHECK_STR(field(rec, "order"), "1001");
	CHECK_INT(json_object_size(rec), 5);
	/* ts, level, msg lead, then the pairs in the order given */
	CHECK_STR(c.buf, "{\"ts\":\"2026-11-22T03:23:52.123Z\","
	    "\"level\":\"info\",\"msg\":\"order placed\",\"merchant\":\"acme\","
	    "\"order\":\"1001\"}\n");
	json_decref(rec);
	capture_end(&c);
	clock_use_real();
}

static void test_levels(void)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	struct capture c;

	capture_start(&c);
	log_set_level(LOG_WARN);
	log_debug("d", NULL);
	log_info("i", NULL);
	CHECK_INT(count_lines(&c), 0);
	log_warn("w", NULL);
	log_error("e", NULL);
	CHECK_INT(count_lines(&c), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *rec = line_json(&c, i);

		CHECK_STR(field(rec, "level"), names[i + 2]);
		CHECK_STR(field(rec, "msg"), i == 0 ? "w" : "e");
		json_decref(rec);
	}
	log_set_level(LOG_ERROR);
	log_warn("w2", NULL);
	CHECK_INT(count_lines(&c), 2);
	log_set_level(LOG_DEBUG);
	for (int l = LOG_DEBUG; l <= LOG_ERROR; l++)
		log_write((enum log_level)l, "any", NULL);
	CHECK_INT(count_lines(&c), 6);
	for (size_t i = 0; i < 4; i++) {
		json_t *rec = line_json(&c, 2 + i);

		CHECK_STR(field(rec, "level"), names[i]);
		json_decref(rec);
	}
	log_set_level(LOG_INFO);
	capture_end(&c);
}

/* Bytes a script or a payload might hand us: each record stays one line
 * and the values come back exactly. */
static void test_escaping(void)
{
	static const char *const values[] = {
		"say \"hi\"",
		"back\\slash",
		"two\nlines",
		"cr\rlf\r\n",
		"tab\there",
		"ctl \x01\x02\x1b[31m\x1f end",
		"del \x7f",
		"{\"json\": [1, 2]}",
		"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x93\xa6",
		"\xe2\x80\xa8 line separator",
		"",
	};
	struct capture c;
	size_t n = sizeof values / sizeof values[0];

	capture_start(&c);
	for (size_t i = 0; i < n; i++)
		log_warn(values[i], "value", values[i], "k\"ey\n", values[i], NULL);
	CHECK_INT(count_lines(&c), n);
	for (size_t i = 0; i < n; i++) {
		json_t *rec = line_json(&c, i);

		CHECK_STR(field(rec, "msg"), values[i]);
		CHECK_STR(field(rec, "value"), values[i]);
		CHECK_STR(field(rec, "k\"ey\n"), values[i]);
		json_decref(rec);
	}
	capture_end(&c);
}

/* Not UTF-8: replaced with U+FFFD, never dropped and never raw. */
static void test_invalid_utf8(void)
{
	struct capture c;
	json_t *rec;

	capture_start(&c);
	log_error("bad \xff byte", "v", "a\xc3(b", "overlong", "\xc0\xaf",
	    "surrogate", "\xed\xa0\x80", "cut", "ok \xe2\x9c", NULL);
	CHECK_INT(count_lines(&c), 1);
	rec = line_json(&c, 0);
	CHECK_STR(field(rec, "msg"), "bad \xef\xbf\xbd byte");
	CHECK_STR(field(rec, "v"), "a\xef\xbf\xbd(b");
	CHECK_STR(field(rec, "overlong"), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(field(rec, "surrogate"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(field(rec, "cut"), "ok \xef\xbf\xbd\xef\xbf\xbd");
	json_decref(rec);
	capture_end(&c);
}

static void test_nulls_and_clashes(void)
{
	struct capture c;
	json_t *rec;

	capture_start(&c);
	log_info(NULL, "error", NULL, NULL);
	log_info("real", "msg", "fake", "ts", "x", "level", "y", "k", "1",
	    "k", "2", "_k", "3", NULL);
	CHECK_INT(count_lines(&c), 2);

	rec = line_json(&c, 0);
	CHECK(json_is_null(json_object_get(rec, "msg")));
	CHECK(json_is_null(json_object_get(rec, "error")));
	CHECK_STR(field(rec, "level"), "info");
	json_decref(rec);

	/* a caller's key never overwrites the record's own fields */
	rec = line_json(&c, 1);
	CHECK_STR(field(rec, "msg"), "real");
	CHECK_STR(field(rec, "level"), "info");
	CHECK(field(rec, "ts") != NULL && strcmp(field(rec, "ts"), "x") != 0);
	CHECK_STR(field(rec, "_msg"), "fake");
	CHECK_STR(field(rec, "_ts"), "x");
	CHECK_STR(field(rec, "_level"), "y");
	CHECK_STR(field(rec, "k"), "1");
	CHECK_STR(field(rec, "_k"), "2");
	CHECK_STR(field(rec, "__k"), "3");
	json_decref(rec);
	capture_end(&c);
}

static void test_large_value(void)
{
	size_t n = 200000;
	char *big = malloc(n + 1);
	struct capture c;
	json_t *rec;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		big[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
	big[n] = '\0';
	capture_start(&c);
	log_info("big", "body", big, NULL);
	CHECK_INT(count_lines(&c), 1);
	rec = line_json(&c, 0);
	CHECK_STR(field(rec, "body"), big);
	json_decref(rec);
	capture_end(&c);
	free(big);
}

T_MAIN(test_fields_and_order, test_levels, test_escaping, test_invalid_utf8,
    test_nulls_and_clashes, test_large_value)
