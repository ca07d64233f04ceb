/*
 * replay — preview a workflow edit on one order: its recorded events run
 * again, on scratch copies of the database, against the current workflow
 * and against the new one, and what differs is printed.
 *
 * Depends on db, dispatch, sandbox, notify and SQLite's online backup. The
 * original database is opened read-only and only read (one backup); each
 * run has its own copy, where the order's rows are removed (its stock
 * movements undone) and its events put back in the inbox, and the real
 * dispatcher runs them, with every event at most once (no retries). The
 * copy's outbox is never run: no effect leaves the machine. Both copies
 * are deleted at the end.
 *
 * Limits: other orders and the catalogue are as they are now, not as they
 * were when the order's events first ran; an effect's answer that names a
 * row by id (a payment) finds it only if the run recreated it with the
 * same id; timers the handlers set are listed, not fired.
 */
#ifndef ORDO_REPLAY_H
#define ORDO_REPLAY_H

#include <stdio.h>

#include "ordo/config.h"

/*
 * Replay order `order` (ordo's id, or the storefront's external id) of
 * merchant m from the database at db_path against m's workflow and
 * against new_workflow; print the report to out, problems to err.
 * @return 0 no difference, 1 differences printed, 2 trouble (no such
 * order, a workflow that does not load, a database error).
 */
int replay_order(const struct ordo_config *cfg, const struct merchant_config *m,
    const char *db_path, const char *order, const char *new_workflow, FILE *out, FILE *err);

#endif
