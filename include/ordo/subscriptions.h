/*
 * subscriptions — recurring orders: the schedule, its calendar arithmetic in
 * the subscription's time zone, and renewals that happen exactly once.
 *
 * A subscription holds an order template (the internal order shape without
 * channel and external id), an interval (day, week, month or year times a
 * count), the anchor day and time zone its dates follow, and a status:
 * active, paused, past_due, canceled or expired. Its next renewal is a
 * durable timer (timers.h, key "sub-<id>") raising
 * `subscription_renewal_due`; the host's renewal step (subscriptions_renew)
 * creates the renewal order under the external id "sub-<id>-<cycle>", so a
 * timer that fires twice, or an event retried, still makes one order, and
 * schedules the next. What happens to the order (charging, dunning,
 * reminders) is the workflow's.
 *
 * Dates: renewal n is start + n intervals on the local calendar of the
 * subscription's zone (calendar.h): monthly from Jan 31 renews Feb 28 (29),
 * Mar 31, Apr 30; 09:00 local stays 09:00 local across DST.
 *
 * Scoped by merchant like orders.h; callers own the transaction. Every
 * change writes a subscription_history row naming the event that caused it.
 */
#ifndef ORDO_SUBSCRIPTIONS_H
#define ORDO_SUBSCRIPTIONS_H

#include <stdint.h>
#include <jansson.h>

struct db;

#define SUBS_ERRLEN 256
#define SUBS_RENEWAL_EVENT "subscription_renewal_due"

/*
 * Create a subscription from `spec`:
 *   { order = <template: currency, lines, total, subtotal, shipping, tax,
 *               email, customer, shipping_address>,
 *     interval = "month", count = 1, anchor_day = 0 (the start's day),
 *     timezone = <IANA> (default `tz`), start = ms or ISO text (default now),
 *     max_cycles = N (optional), external_id = text (optional, unique) }
 * The first renewal is one interval after start. An external id that
 * exists returns that subscription, unchanged, with *created = 0.
 * @return the id, or -1 with err (interval 0, unknown zone, bad template).
 */
int64_t subs_create(struct db *db, const char *merchant, const char *tz,
    const json_t *spec, int64_t event_id, int *created, char *err);

/* The subscription as JSON (caller decrefs), or NULL. */
json_t *subs_get(struct db *db, const char *merchant, int64_t id);

/* Actions. Each checks the status (pausing a canceled subscription is an
 * error), writes history and moves the renewal timer.
 * @return 0, or -1 with err. */
int subs_pause(struct db *db, const char *merchant, int64_t id, int64_t until_ms,
    int64_t event_id, char *err);             /* until_ms 0: until resumed */
int subs_resume(struct db *db, const char *merchant, int64_t id, int64_t event_id, char *err);
int subs_skip(struct db *db, const char *merchant, int64_t id, int64_t event_id, char *err);
int subs_cancel(struct db *db, const char *merchant, int64_t id, int at_period_end,
    const char *reason, int64_t event_id, char *err);
int subs_set_next(struct db *db, const char *merchant, int64_t id, int64_t at_ms,
    int64_t event_id, char *err);
int subs_set_quantity(struct db *db, const char *merchant, int64_t id, int line, int64_t qty,
    int64_t event_id, char *err);
/* active <-> past_due only (dunning's states). */
int subs_set_status(struct db *db, const char *merchant, int64_t id, const char *status,
    const char *reason, int64_t event_id, char *err);

/*
 * The renewal step for a `subscription_renewal_due` event whose payload is
 * {subscription_id, cycle} and whose timer was due at `due_at` (0: not
 * known, not checked). Creates (or finds) the renewal order, advances the
 * cycle and schedules the next renewal, or ends the subscription
 * (max_cycles reached, cancel at period end). A stale event (cycle moved
 * on, the renewal moved to a date other than `due_at`, subscription not
 * active) changes nothing.
 * @return 1 with *order_id set (the renewal order), 0 when nothing is to be
 * renewed (*why says: "skipped", "paused", "stale", ...), -1 with err.
 */
int subs_renew(struct db *db, const char *merchant, int64_t id, int64_t cycle, int64_t due_at,
    int64_t event_id, int64_t *order_id, const char **why, char *err);

/* What kind of error a message from the functions above is, for the API's
 * status codes: invalid values (422), a state that forbids it (409), no
 * such subscription (404), the database (503). */
enum { SUBS_EINVAL, SUBS_ECONFLICT, SUBS_ENOTFOUND, SUBS_EDB };
int subs_error_kind(const char *err);

/* The merchant's subscriptions, newest first, as {"subscriptions": [...]},
 * filtered by status (NULL: any), next renewal before `due_before` (0: any)
 * and the customer's email (NULL: any). NULL on a database error. */
json_t *subs_list(struct db *db, const char *merchant, const char *status, int64_t due_before,
    const char *email, int limit);

#endif
