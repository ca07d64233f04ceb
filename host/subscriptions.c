/*
 * subscriptions — recurring orders (see subscriptions.h).
 *
 * Depends on db, calendar (dates in the subscription's zone), timers (the
 * renewal timer), orders (renewal orders), money (currency check) and clock.
 * The schedule is kept as a base: renewal c falls at base_at plus
 * (c - base_cycle) intervals, counted from the base every time, so a month
 * clamped to Feb 28 does not pull later renewals off their anchor day (the
 * anchor day is passed on every step), and a "change the next date" moves
 * the base rather than every later date. Each renewal moves the base up to
 * itself (rebase()), so the distance counted stays one interval and never
 * reaches calendar_add's limit however long a subscription lives.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/calendar.h"
#include "ordo/clock.h"
#include "ordo/db.h"
#include "ordo/money.h"
#include "ordo/orders.h"
#include "ordo/subscriptions.h"
#include "ordo/timers.h"

struct sub {
	int64_t id;
	char status[16];
	enum calendar_unit unit;
	int count, anchor;
	char tz[64];
	int64_t base_at, base_cycle, cycle, max_cycles, next_at, paused_until;
	int skip_next, cancel_at_end;
	char *tmpl;     /* the order template, JSON */
};

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, SUBS_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_fail(struct db *db, char *err)
{
	return fail(err, "database error: %s", db_errmsg(db));
}

static int history(struct db *db, int64_t id, int64_t event_id, const char *kind,
    const char *from, const char *to, const char *msg)
{
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO subscription_history (subscription_id, at,"
	    " event_id, kind, from_value, to_value, message) VALUES (?, ?, ?, ?, ?, ?, ?)");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	if (event_id > 0)
		sqlite3_bind_int64(st, 3, event_id);
	db_bind_text(st, 4, kind);
	db_bind_text(st, 5, from);
	db_bind_text(st, 6, to);
	db_bind_text(st, 7, msg);
	return db_step_done(st);
}

/* @return 1 loaded, 0 no such subscription of the merchant, -1 error. */
static int load(struct db *db, const char *merchant, int64_t id, struct sub *s)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT status, interval_unit, interval_count, anchor_day,"
	    " timezone, base_at, base_cycle, cycle, max_cycles, next_renewal_at, paused_until,"
	    " skip_next, cancel_at_period_end, template FROM subscriptions WHERE id = ? AND merchant = ?");
	int rc;

	memset(s, 0, sizeof *s);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s->id = id;
		snprintf(s->status, sizeof s->status, "%s", (const char *)sqlite3_column_text(st, 0));
		calendar_unit_parse((const char *)sqlite3_column_text(st, 1), &s->unit);
		s->count = sqlite3_column_int(st, 2);
		s->anchor = sqlite3_column_int(st, 3);
		snprintf(s->tz, sizeof s->tz, "%s", (const char *)sqlite3_column_text(st, 4));
		s->base_at = sqlite3_column_int64(st, 5);
		s->base_cycle = sqlite3_column_int64(st, 6);
		s->cycle = sqlite3_column_int64(st, 7);
		s->max_cycles = sqlite3_column_int64(st, 8);
		s->next_at = sqlite3_column_int64(st, 9);
		s->paused_until = sqlite3_column_int64(st, 10);
		s->skip_next = sqlite3_column_int(st, 11);
		s->cancel_at_end = sqlite3_column_int(st, 12);
		s->tmpl = strdup((const char *)sqlite3_column_text(st, 13));
		if (s->tmpl == NULL)
			rc = SQLITE_NOMEM;
	}
	db_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* When renewal `c` falls. @return 0 or -1 with err. */
static int renewal_at(const struct sub *s, int64_t c, int64_t *out, char *err)
{
	char why[CALENDAR_ERRLEN];
	int64_t steps = c - s->base_cycle;

	if (steps <= 0) {
		*out = s->base_at;
		return 0;
	}
	if (steps * s->count > CALENDAR_MAX_COUNT)
		return fail(err, "subscription %" PRId64 ": renewal %" PRId64 " is too far from its"
		    " schedule's base; set the next date to move the base", s->id, c);
	if (calendar_add(s->base_at, s->tz, s->unit, (int)(steps * s->count),
	    s->unit == CAL_MONTH || s->unit == CAL_YEAR ? s->anchor : 0, out, why) != 0)
		return fail(err, "subscription %" PRId64 ": %s", s->id, why);
	return 0;
}

/* Seconds since local midnight of `ms` in `tz`, or -1. */
static int local_time_of_day(int64_t ms, const char *tz)
{
	struct tm t;

	if (calendar_local_parts(ms, tz, &t) != 0)
		return -1;
	return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec;
}

/*
 * Move the schedule's base up to renewal `c` (in s only; the caller stores
 * base_at and base_cycle), so later renewals are counted from there. Kept
 * where it is when renewal c's local time of day is not the base's: a wall
 * time that fell into a DST gap was moved on, and counting from it would
 * carry that shift into every later renewal (the next renewal rebases).
 * Month and year renewals keep their day: the anchor day is passed on every
 * step. @return 1 moved, 0 kept, -1 with err.
 */
static int rebase(struct sub *s, int64_t c, char *err)
{
	int64_t at;
	int base_tod, tod;

	if (c <= s->base_cycle)
		return 0;
	if (renewal_at(s, c, &at, err) != 0)
		return -1;
	base_tod = local_time_of_day(s->base_at, s->tz);
	tod = local_time_of_day(at, s->tz);
	if (base_tod < 0 || tod < 0)
		return fail(err, "subscription %" PRId64 ": renewal %" PRId64 " is out of range",
		    s->id, c);
	if (tod != base_tod)
		return 0;
	s->base_at = at;
	s->base_cycle = c;
	return 1;
}

/*
 * The first renewal from cycle `c` on that falls at or after `t` (strictly
 * after it when `strict`), into *at and *out_c, however far ahead `t` is:
 * while `t` lies beyond what calendar_add can count from the base, the base
 * (in s only) moves up by as many intervals as it can count. The caller
 * sets and stores the base it wants. @return 0, or -1 with err (`t` beyond
 * the calendar's range, year 9999).
 */
static int first_from(struct sub *s, int64_t c, int64_t t, int strict, int64_t *at,
    int64_t *out_c, char *err)
{
	int64_t stride = CALENDAR_MAX_COUNT / s->count, far, far_at;

	for (;;) {
		int moved;

		far = s->base_cycle + stride;
		if (far > c) {
			/* (else c itself is out of reach: a base left behind
			 * before renewals moved it; move it up to c first) */
			if (renewal_at(s, far, &far_at, err) != 0)
				return -1;
			if (far_at > t || (!strict && far_at == t))
				break;      /* within reach: the scan below finds it */
		}
		if ((moved = rebase(s, far, err)) == 0)
			moved = rebase(s, far - 1, err);    /* far's wall time fell in a DST gap */
		if (moved < 0)
			return -1;
		if (moved == 0)
			return fail(err, "subscription %" PRId64 ": cannot count the renewals up to"
			    " that date", s->id);
		if (c < s->base_cycle)
			c = s->base_cycle;
	}
	for (;; c++) {
		if (renewal_at(s, c, at, err) != 0)
			return -1;
		if (*at > t || (!strict && *at == t))
			break;
	}
	*out_c = c;
	return 0;
}

/* Point the renewal timer at renewal `c` (cycle c), or remove it (c = 0). */
static int schedule(struct db *db, const char *merchant, struct sub *s, int64_t c, char *err)
{
	char key[48], payload[96];
	sqlite3_stmt *st;
	int64_t at = 0;

	snprintf(key, sizeof key, "sub-%" PRId64, s->id);
	if (c > 0) {
		struct timer_spec t = { .merchant = merchant, .key = key, .event = SUBS_RENEWAL_EVENT,
		                        .payload = payload };

		if (renewal_at(s, c, &at, err) != 0)
			return -1;
		snprintf(payload, sizeof payload, "{\"subscription_id\":%" PRId64 ",\"cycle\":%" PRId64 "}",
		    s->id, c);
		t.due_at = at;
		if (timers_set(db, &t, err) != 0)
			return -1;
	} else if (timers_cancel(db, merchant, key) < 0) {
		return db_fail(db, err);
	}
	s->next_at = at;
	st = db_prepare(db, "UPDATE subscriptions SET next_renewal_at = ?, updated_at = ? WHERE id = ?");
	if (st == NULL)
		return db_fail(db, err);
	if (at > 0)
		sqlite3_bind_int64(st, 1, at);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, s->id);
	return db_step_done(st) == 0 ? 0 : db_fail(db, err);
}

static int set_status(struct db *db, struct sub *s, const char *to, const char *reason,
    int64_t event_id, char *err)
{
	sqlite3_stmt *st = db_prepare(db, "UPDATE subscriptions SET status = ?, updated_at = ?"
	    " WHERE id = ?");

	if (st == NULL)
		return db_fail(db, err);
	db_bind_text(st, 1, to);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, s->id);
	if (db_step_done(st) != 0 || history(db, s->id, event_id, "status", s->status, to, reason) != 0)
		return db_fail(db, err);
	snprintf(s->status, sizeof s->status, "%s", to);
	return 0;
}

static int set_int(struct db *db, int64_t id, const char *sql, int64_t v, char *err)
{
	sqlite3_stmt *st = db_prepare(db, sql);

	if (st == NULL)
		return db_fail(db, err);
	sqlite3_bind_int64(st, 1, v);
	sqlite3_bind_int64(st, 2, id);
	return db_step_done(st) == 0 ? 0 : db_fail(db, err);
}

/* Store s's base (after rebase()). @return 0 or -1 with err. */
static int store_base(struct db *db, const struct sub *s, char *err)
{
	if (set_int(db, s->id, "UPDATE subscriptions SET base_at = ? WHERE id = ?", s->base_at, err) ||
	    set_int(db, s->id, "UPDATE subscriptions SET base_cycle = ? WHERE id = ?", s->base_cycle, err))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Create and read                                                     */
/* ------------------------------------------------------------------ */

static const char *spec_text(const json_t *spec, const char *k)
{
	return json_string_value(json_object_get(spec, k));
}

int64_t subs_create(struct db *db, const char *merchant, const char *tz,
    const json_t *spec, int64_t event_id, int *created, char *err)
{
	const json_t *tmpl = json_object_get(spec, "order"), *v, *lines;
	const char *unit_text = spec_text(spec, "interval"), *ext = spec_text(spec, "external_id");
	const char *zone = spec_text(spec, "timezone"), *currency;
	struct sub s = { 0 };
	struct tm local;
	char *text = NULL, msg[160];
	int64_t count = 1, anchor = 0, start = clock_now_ms(), max_cycles = 0, id = -1;
	sqlite3_stmt *st;

	*created = 0;
	if (!json_is_object(spec))
		return fail(err, "a subscription needs a table of fields");
	if (unit_text == NULL || calendar_unit_parse(unit_text, &s.unit) != 0)
		return fail(err, "interval must be day, week, month or year, not %s%s%s",
		    unit_text ? "\"" : "", unit_text ? unit_text : "nothing", unit_text ? "\"" : "");
	if ((v = json_object_get(spec, "count")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 366)
			return fail(err, "count must be a whole number of intervals from 1 to 366");
		count = json_integer_value(v);
	}
	if ((v = json_object_get(spec, "anchor_day")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 31)
			return fail(err, "anchor_day must be 1 to 31 (0: the start's day)");
		anchor = json_integer_value(v);
	}
	if ((v = json_object_get(spec, "start")) != NULL) {
		if (json_is_string(v)) {
			if (clock_parse_iso(json_string_value(v), &start) != 0)
				return fail(err, "start must be a time: ms UTC or ISO 8601 text");
		} else if (!json_is_integer(v) || json_integer_value(v) < 0) {
			return fail(err, "start must be a time: ms UTC or ISO 8601 text");
		} else {
			start = json_integer_value(v);
		}
	}
	if ((v = json_object_get(spec, "max_cycles")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return fail(err, "max_cycles must be a positive whole number");
		max_cycles = json_integer_value(v);
	}
	if (zone == NULL)
		zone = tz;
	if (zone == NULL || !calendar_tz_known(zone))
		return fail(err, "unknown time zone \"%s\": expected an IANA name such as Europe/Berlin",
		    zone ? zone : "");
	if (!json_is_object(tmpl))
		return fail(err, "order must be the order template (currency, lines, total, ...)");
	currency = spec_text(tmpl, "currency");
	lines = json_object_get(tmpl, "lines");
	if (currency == NULL || money_exponent(currency) < 0)
		return fail(err, "order.currency must be an ISO 4217 code");
	if (!json_is_array(lines) || json_array_size(lines) == 0)
		return fail(err, "order.lines must list at least one line");
	if (!json_is_integer(json_object_get(tmpl, "total")) ||
	    json_integer_value(json_object_get(tmpl, "total")) < 0)
		return fail(err, "order.total must be a whole number of minor units");
	for (size_t i = 0; i < json_array_size(lines); i++) {
		const json_t *q = json_object_get(json_array_get(lines, i), "quantity");

		if (!json_is_integer(q) || json_integer_value(q) < 1)
			return fail(err, "order.lines[%zu].quantity must be a positive whole number", i + 1);
	}
	if (anchor == 0 && (s.unit == CAL_MONTH || s.unit == CAL_YEAR)) {
		if (calendar_local_parts(start, zone, &local) != 0)
			return fail(err, "start is out of range");
		anchor = local.tm_mday;
	}
	if (ext != NULL) {
		if (ext[0] == '\0' || strlen(ext) > 255)
			return fail(err, "external_id must be 1 to 255 bytes");
		st = db_prepare(db, "SELECT id FROM subscriptions WHERE merchant = ? AND external_id = ?");
		if (st == NULL)
			return db_fail(db, err);
		db_bind_text(st, 1, merchant);
		db_bind_text(st, 2, ext);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		db_reset(st);
		if (id > 0)
			return id;
	}
	if ((text = json_dumps(tmpl, JSON_COMPACT)) == NULL)
		return fail(err, "the order template cannot be encoded");
	st = db_prepare(db, "INSERT INTO subscriptions (merchant, external_id, status, template,"
	    " currency, interval_unit, interval_count, anchor_day, timezone, start_at, base_at,"
	    " base_cycle, cycle, max_cycles, created_at, updated_at) VALUES (?1, ?2, 'active', ?3,"
	    " ?4, ?5, ?6, ?7, ?8, ?9, ?9, 0, 0, ?10, ?11, ?11) RETURNING id");
	if (st == NULL) {
		free(text);
		return db_fail(db, err);
	}
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, ext);
	db_bind_text(st, 3, text);
	db_bind_text(st, 4, currency);
	db_bind_text(st, 5, calendar_unit_name(s.unit));
	sqlite3_bind_int64(st, 6, count);
	sqlite3_bind_int64(st, 7, anchor);
	db_bind_text(st, 8, zone);
	sqlite3_bind_int64(st, 9, start);
	if (max_cycles > 0)
		sqlite3_bind_int64(st, 10, max_cycles);
	sqlite3_bind_int64(st, 11, clock_now_ms());
	id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	db_reset(st);
	free(text);
	if (id < 0)
		return db_fail(db, err);
	snprintf(msg, sizeof msg, "every %" PRId64 " %s%s in %s", count, calendar_unit_name(s.unit),
	    count > 1 ? "s" : "", zone);
	if (history(db, id, event_id, "created", NULL, "active", msg) != 0)
		return db_fail(db, err);
	if (load(db, merchant, id, &s) != 1) {
		free(s.tmpl);
		return db_fail(db, err);
	}
	if (schedule(db, merchant, &s, 1, err) != 0) {
		free(s.tmpl);
		return -1;
	}
	free(s.tmpl);
	*created = 1;
	return id;
}

json_t *subs_get(struct db *db, const char *merchant, int64_t id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id, external_id, status, currency, interval_unit,"
	    " interval_count, anchor_day, timezone, start_at, next_renewal_at, cycle, max_cycles,"
	    " paused_until, skip_next, cancel_at_period_end, template FROM subscriptions"
	    " WHERE id = ? AND merchant = ?");
	json_t *o = NULL;
	char ts[32];

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	db_bind_text(st, 2, merchant);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *ext = (const char *)sqlite3_column_text(st, 1);

		o = json_object();
		json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
		json_object_set_new(o, "external_id", ext ? json_string(ext) : json_null());
		json_object_set_new(o, "status", json_string((const char *)sqlite3_column_text(st, 2)));
		json_object_set_new(o, "currency", json_string((const char *)sqlite3_column_text(st, 3)));
		json_object_set_new(o, "interval", json_string((const char *)sqlite3_column_text(st, 4)));
		json_object_set_new(o, "count", json_integer(sqlite3_column_int(st, 5)));
		json_object_set_new(o, "anchor_day", json_integer(sqlite3_column_int(st, 6)));
		json_object_set_new(o, "timezone", json_string((const char *)sqlite3_column_text(st, 7)));
		clock_format_iso(sqlite3_column_int64(st, 8), ts);
		json_object_set_new(o, "start", json_string(ts));
		if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
			clock_format_iso(sqlite3_column_int64(st, 9), ts);
			json_object_set_new(o, "next_renewal", json_string(ts));
			json_object_set_new(o, "next_renewal_ms", json_integer(sqlite3_column_int64(st, 9)));
		} else {
			json_object_set_new(o, "next_renewal", json_null());
		}
		json_object_set_new(o, "cycle", json_integer(sqlite3_column_int64(st, 10)));
		json_object_set_new(o, "max_cycles", sqlite3_column_type(st, 11) == SQLITE_NULL
		    ? json_null() : json_integer(sqlite3_column_int64(st, 11)));
		json_object_set_new(o, "paused_until", sqlite3_column_type(st, 12) == SQLITE_NULL
		    ? json_null() : json_integer(sqlite3_column_int64(st, 12)));
		json_object_set_new(o, "skip_next", json_boolean(sqlite3_column_int(st, 13)));
		json_object_set_new(o, "cancel_at_period_end", json_boolean(sqlite3_column_int(st, 14)));
		json_object_set_new(o, "order", json_loads((const char *)sqlite3_column_text(st, 15), 0, NULL));
	}
	db_reset(st);
	return o;
}

/* ------------------------------------------------------------------ */
/* Actions                                                             */
/* ------------------------------------------------------------------ */

/* Load and check the status is one of `allowed` ("active,past_due"). */
static int open_sub(struct db *db, const char *merchant, int64_t id, const char *what,
    const char *allowed, struct sub *s, char *err)
{
	int rc = load(db, merchant, id, s);
	char list[64];

	if (rc < 0)
		return db_fail(db, err);
	if (rc == 0)
		return fail(err, "subscription %" PRId64 " not found", id);
	snprintf(list, sizeof list, ",%s,", allowed);
	{
		char me[24];

		snprintf(me, sizeof me, ",%s,", s->status);
		if (strstr(list, me) == NULL) {
			free(s->tmpl);
			s->tmpl = NULL;
			return fail(err, "subscription %" PRId64 " is %s; it cannot be %s", id, s->status, what);
		}
	}
	return 0;
}

int subs_pause(struct db *db, const char *merchant, int64_t id, int64_t until_ms,
    int64_t event_id, char *err)
{
	struct sub s;
	int rc = -1;

	if (until_ms != 0 && until_ms <= clock_now_ms())
		return fail(err, "a pause must end in the future");
	if (open_sub(db, merchant, id, "paused", "active,past_due", &s, err) != 0)
		return -1;
	if (set_status(db, &s, "paused", until_ms ? "until a date" : "until resumed", event_id, err) != 0 ||
	    set_int(db, id, "UPDATE subscriptions SET paused_until = NULLIF(?, 0) WHERE id = ?",
	    until_ms, err) != 0)
		goto out;
	if (until_ms == 0) {
		rc = schedule(db, merchant, &s, 0, err);
		goto out;
	}
	/* Renewals falling inside the pause do not happen: the first one due
	 * after it is the next. */
	{
		int64_t c, at;

		if (first_from(&s, s.cycle + 1, until_ms, 0, &at, &c, err) != 0)
			goto out;
		s.base_at = at;
		s.base_cycle = s.cycle + 1;
		if (store_base(db, &s, err) != 0)
			goto out;
		rc = schedule(db, merchant, &s, s.cycle + 1, err);
	}
out:
	free(s.tmpl);
	return rc;
}

int subs_resume(struct db *db, const char *merchant, int64_t id, int64_t event_id, char *err)
{
	struct sub s;
	int64_t now = clock_now_ms(), c, at = 0;
	int rc = -1;

	if (open_sub(db, merchant, id, "resumed", "paused", &s, err) != 0)
		return -1;
	/* The next renewal on the original schedule that is still ahead. */
	if (first_from(&s, s.cycle + 1, now, 1, &at, &c, err) != 0)
		goto out;
	s.base_at = at;
	s.base_cycle = s.cycle + 1;
	if (set_status(db, &s, "active", "resumed", event_id, err) != 0 ||
	    set_int(db, id, "UPDATE subscriptions SET paused_until = NULL, base_at = ? WHERE id = ?",
	    s.base_at, err) != 0 ||
	    set_int(db, id, "UPDATE subscriptions SET base_cycle = ? WHERE id = ?", s.base_cycle, err) != 0)
		goto out;
	rc = schedule(db, merchant, &s, s.cycle + 1, err);
out:
	free(s.tmpl);
	return rc;
}

int subs_skip(struct db *db, const char *merchant, int64_t id, int64_t event_id, char *err)
{
	struct sub s;
	int rc;

	if (open_sub(db, merchant, id, "skipped", "active", &s, err) != 0)
		return -1;
	rc = set_int(db, id, "UPDATE subscriptions SET skip_next = ? WHERE id = ?", 1, err);
	if (rc == 0 && history(db, id, event_id, "skip", NULL, NULL, "the next renewal is skipped") != 0)
		rc = db_fail(db, err);
	free(s.tmpl);
	return rc;
}

int subs_cancel(struct db *db, const char *merchant, int64_t id, int at_period_end,
    const char *reason, int64_t event_id, char *err)
{
	struct sub s;
	int rc = -1;

	if (open_sub(db, merchant, id, "canceled", "active,paused,past_due", &s, err) != 0)
		return -1;
	if (at_period_end && strcmp(s.status, "active") == 0) {
		rc = set_int(db, id, "UPDATE subscriptions SET cancel_at_period_end = ? WHERE id = ?", 1, err);
		if (rc == 0 && history(db, id, event_id, "cancel_at_period_end", NULL, NULL, reason) != 0)
			rc = db_fail(db, err);
		goto out;
	}
	if (set_status(db, &s, "canceled", reason, event_id, err) == 0)
		rc = schedule(db, merchant, &s, 0, err);
out:
	free(s.tmpl);
	return rc;
}

int subs_set_next(struct db *db, const char *merchant, int64_t id, int64_t at_ms,
    int64_t event_id, char *err)
{
	struct sub s;
	char ts[32];
	int rc = -1;

	if (at_ms <= clock_now_ms())
		return fail(err, "the next renewal must be in the future");
	if (open_sub(db, merchant, id, "rescheduled", "active,past_due", &s, err) != 0)
		return -1;
	s.base_at = at_ms;
	s.base_cycle = s.cycle + 1;
	clock_format_iso(at_ms, ts);
	if (set_int(db, id, "UPDATE subscriptions SET base_at = ? WHERE id = ?", s.base_at, err) == 0 &&
	    set_int(db, id, "UPDATE subscriptions SET base_cycle = ? WHERE id = ?", s.base_cycle, err) == 0 &&
	    history(db, id, event_id, "next_renewal", NULL, ts, NULL) == 0)
		rc = schedule(db, merchant, &s, s.cycle + 1, err);
	else if (err[0] == '\0')
		rc = db_fail(db, err);
	free(s.tmpl);
	return rc;
}

int subs_set_quantity(struct db *db, const char *merchant, int64_t id, int line, int64_t qty,
    int64_t event_id, char *err)
{
	struct sub s;
	json_t *t = NULL, *l, *lines;
	char *text = NULL, msg[96];
	int rc = -1;
	int64_t unit, old, total;
	sqlite3_stmt *st;

	if (qty < 1 || qty > 1000000)
		return fail(err, "quantity must be a whole number from 1 to 1000000");
	if (open_sub(db, merchant, id, "changed", "active,paused,past_due", &s, err) != 0)
		return -1;
	t = json_loads(s.tmpl, 0, NULL);
	lines = json_object_get(t, "lines");
	if ((l = json_array_get(lines, (size_t)line - 1)) == NULL || line < 1) {
		fail(err, "subscription %" PRId64 " has no line %d", id, line);
		goto out;
	}
	unit = json_integer_value(json_object_get(l, "unit_price"));
	old = json_integer_value(json_object_get(l, "quantity"));
	total = json_integer_value(json_object_get(t, "total")) + unit * (qty - old);
	json_object_set_new(l, "quantity", json_integer(qty));
	json_object_set_new(l, "total", json_integer(unit * qty));
	json_object_set_new(t, "total", json_integer(total));
	if (json_is_integer(json_object_get(t, "subtotal")))
		json_object_set_new(t, "subtotal", json_integer(
		    json_integer_value(json_object_get(t, "subtotal")) + unit * (qty - old)));
	if ((text = json_dumps(t, JSON_COMPACT)) == NULL ||
	    (st = db_prepare(db, "UPDATE subscriptions SET template = ?, updated_at = ? WHERE id = ?")) == NULL) {
		db_fail(db, err);
		goto out;
	}
	db_bind_text(st, 1, text);
	sqlite3_bind_int64(st, 2, clock_now_ms());
	sqlite3_bind_int64(st, 3, id);
	snprintf(msg, sizeof msg, "line %d quantity %" PRId64 " -> %" PRId64, line, old, qty);
	if (db_step_done(st) != 0 || history(db, id, event_id, "quantity", NULL, NULL, msg) != 0) {
		db_fail(db, err);
		goto out;
	}
	rc = 0;
out:
	json_decref(t);
	free(text);
	free(s.tmpl);
	return rc;
}

int subs_set_status(struct db *db, const char *merchant, int64_t id, const char *status,
    const char *reason, int64_t event_id, char *err)
{
	struct sub s;
	int rc = -1;

	if (status == NULL || (strcmp(status, "past_due") != 0 && strcmp(status, "active") != 0))
		return fail(err, "a subscription's status can be set to active or past_due; pause,"
		    " resume and cancel have their own calls");
	if (open_sub(db, merchant, id, strcmp(status, "active") == 0 ? "made active" : "made past_due",
	    strcmp(status, "active") == 0 ? "active,past_due" : "active,past_due", &s, err) != 0)
		return -1;
	if (strcmp(s.status, status) == 0) {
		rc = 0;
	} else if (set_status(db, &s, status, reason, event_id, err) == 0) {
		/* Back to active from dunning: the schedule picks up again. */
		rc = strcmp(status, "active") == 0 && s.next_at == 0
		    ? schedule(db, merchant, &s, s.cycle + 1, err) : 0;
	}
	free(s.tmpl);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Renewal                                                             */
/* ------------------------------------------------------------------ */

int subs_renew(struct db *db, const char *merchant, int64_t id, int64_t cycle, int64_t due_at,
    int64_t event_id, int64_t *order_id, const char **why, char *err)
{
	struct sub s;
	json_t *shape = NULL;
	char ext[64], number[48];
	int created, rc = -1, last;

	*order_id = 0;
	*why = NULL;
	if ((rc = load(db, merchant, id, &s)) <= 0) {
		if (rc < 0)
			return db_fail(db, err);
		*why = "missing";
		return 0;
	}
	rc = -1;
	/* Moved on since this timer was set: another cycle, or the same cycle
	 * moved to another date (set_next, a pause) while this event waited in
	 * the inbox, e.g. for a retry. */
	if (cycle != s.cycle + 1 || (due_at > 0 && s.next_at > 0 && due_at != s.next_at)) {
		*why = "stale";
		rc = 0;
		goto out;
	}
	if (strcmp(s.status, "paused") == 0 && s.paused_until > 0 && clock_now_ms() >= s.paused_until) {
		if (set_status(db, &s, "active", "pause ended", event_id, err) != 0 ||
		    set_int(db, id, "UPDATE subscriptions SET paused_until = NULLIF(?, 0) WHERE id = ?", 0,
		    err) != 0)
			goto out;
	}
	if (strcmp(s.status, "active") != 0) {
		*why = s.status;
		rc = 0;
		goto out;
	}
	if (s.cancel_at_end) {
		/* The period that was paid for is over: no renewal. */
		if (set_status(db, &s, "canceled", "at the end of the period", event_id, err) != 0 ||
		    schedule(db, merchant, &s, 0, err) != 0)
			goto out;
		*why = "canceled";
		rc = 0;
		goto out;
	}
	last = s.max_cycles > 0 && cycle >= s.max_cycles;
	if (set_int(db, id, "UPDATE subscriptions SET cycle = ? WHERE id = ?", cycle, err) != 0)
		goto out;
	s.cycle = cycle;
	if (s.skip_next) {
		if (set_int(db, id, "UPDATE subscriptions SET skip_next = ? WHERE id = ?", 0, err) != 0 ||
		    history(db, id, event_id, "renewal", NULL, "skipped", NULL) != 0)
			goto out;
		*why = "skipped";
	} else {
		snprintf(ext, sizeof ext, "sub-%" PRId64 "-%" PRId64, id, cycle);
		snprintf(number, sizeof number, "S%" PRId64 "-%" PRId64, id, cycle);
		if ((shape = json_loads(s.tmpl, 0, NULL)) == NULL) {
			fail(err, "subscription %" PRId64 ": its order template is not JSON", id);
			goto out;
		}
		json_object_set_new(shape, "channel", json_string("subscription"));
		json_object_set_new(shape, "external_id", json_string(ext));
		json_object_set_new(shape, "number", json_string(number));
		*order_id = orders_create(db, merchant, shape, event_id, &created, err);
		if (*order_id < 0 ||
		    set_int(db, *order_id, "UPDATE orders SET subscription_id = ? WHERE id = ?", id, err) != 0 ||
		    set_int(db, *order_id, "UPDATE orders SET renewal_cycle = ? WHERE id = ?", cycle, err) != 0)
			goto out;
		if (created && history(db, id, event_id, "renewal", NULL, number, "renewal order created") != 0)
			goto out;
	}
	if (last) {
		if (set_status(db, &s, "expired", "the last cycle", event_id, err) != 0 ||
		    schedule(db, merchant, &s, 0, err) != 0)
			goto out;
	} else {
		/* Count the next renewal from this one, not from the start. */
		int moved = rebase(&s, cycle, err);

		if (moved < 0 || (moved && store_base(db, &s, err) != 0) ||
		    schedule(db, merchant, &s, cycle + 1, err) != 0)
			goto out;
	}
	rc = *order_id > 0 ? 1 : 0;
out:
	json_decref(shape);
	free(s.tmpl);
	return rc;
}

int subs_error_kind(const char *err)
{
	if (err == NULL)
		return SUBS_EINVAL;
	if (strncmp(err, "database error", 14) == 0)
		return SUBS_EDB;
	if (strstr(err, " not found") != NULL)
		return SUBS_ENOTFOUND;
	if (strstr(err, "; it cannot be ") != NULL)
		return SUBS_ECONFLICT;
	return SUBS_EINVAL;
}

json_t *subs_list(struct db *db, const char *merchant, const char *status, int64_t due_before,
    const char *email, int limit)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM subscriptions WHERE merchant = ?1"
	    " AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR next_renewal_at < ?3)"
	    " AND (?4 IS NULL OR json_extract(template, '$.email') = ?4) ORDER BY id DESC LIMIT ?5");
	json_t *arr, *out;
	int rc;

	if (st == NULL)
		return NULL;
	db_bind_text(st, 1, merchant);
	db_bind_text(st, 2, status);
	sqlite3_bind_int64(st, 3, due_before);
	db_bind_text(st, 4, email);
	sqlite3_bind_int(st, 5, limit > 0 ? limit : 100);
	arr = json_array();
	{
		int64_t ids[1000];
		int n = 0;

		while (n < 1000 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			ids[n++] = sqlite3_column_int64(st, 0);
		db_reset(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			json_decref(arr);
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			json_t *o = subs_get(db, merchant, ids[i]);

			if (o != NULL)
				json_array_append_new(arr, o);
		}
	}
	out = json_object();
	json_object_set_new(out, "subscriptions", arr);
	return out;
}
