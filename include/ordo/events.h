/*
 * events — the inbox's events as the API shows them: one event, and an
 * order's events for its timeline.
 *
 * An event as JSON: {"id","source","channel","topic","event","status"
 * (pending | done | dead),"attempts","received_at","done_at","error",
 * "script_version"}. Read-only; depends on db and clock.
 */
#ifndef ORDO_EVENTS_H
#define ORDO_EVENTS_H

#include <stdint.h>
#include <jansson.h>

struct db;

/* The merchant's event `id`, or NULL when it has none (or on a database
 * error: *db_error is set then). */
json_t *events_get(struct db *db, const char *merchant, int64_t id, int *db_error);

/* The events of an order, oldest first, at most `limit`: those carrying
 * its key (channel:external_id; failed and dead-lettered ones included)
 * and those that wrote its history, payments or effects.
 * @return a new array, or NULL on a database error. */
json_t *events_of_order(struct db *db, const char *merchant, int64_t order_id, int limit);

#endif
