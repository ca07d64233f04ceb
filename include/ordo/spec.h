/*
 * spec — `ordo test`: a merchant's workflow specs against a fresh in-memory
 * database and a virtual clock.
 *
 * A spec file is Lua returning its tests: `{ merchant = "acme",
 * ["name"] = function() ... end, ... }` (run in name order), or a list of
 * `{ "name", function }` pairs (run in that order). Each test gets a new
 * world: an empty in-memory database, the merchant's real workflow in its
 * real sandbox, the clock at 2026-01-05T09:00:00Z. The test drives it:
 *
 *   webhook{channel=, topic=, body=, id=}   a signed storefront delivery
 *                                           (channel "supplier" with
 *                                           supplier= for a supplier's answer),
 *                                           through the real adapter; runs
 *                                           until nothing is left to do
 *   event(name, payload)                    an internal event, the same
 *   clock.advance("35d"), clock.set(t), clock.now(), clock.iso([ms])
 *                                           virtual time; due timers fire in
 *                                           order at their own times
 *   clock.jump("40d")                       as if ordo were down: what fell
 *                                           due fires late, once each
 *   answers.add{kind=, op=, url=, times=, status=, json=, body=, error=}
 *   answers.decline(op [, times]), answers.timeout(match [, times]),
 *   answers.fail(status, match [, times])  how effects are answered
 *                                           (default: success, with a
 *                                           Stripe-style body for payments)
 *   stock.set(sku, location, n), stock.receive(sku, location, n),
 *   stock.list([sku])                       the merchant's stock
 *   orders.get(id | {channel=, external_id=}), orders.list(),
 *   effects{kind=, status=}, notifications(), webhooks_sent(), timers(),
 *   subscriptions(), dead_letters()         what happened
 *   expect(value, message), expect_eq(got, want [, message])
 *
 * A failed expectation names the spec file and line. A dead letter the test
 * never looked at (dead_letters()), or an event still failing and waiting
 * for a retry when the test ends, fails the test too: a workflow error must
 * not pass unnoticed. Nothing here opens a socket or touches a file other
 * than the spec and the workflow's scripts.
 */
#ifndef ORDO_SPEC_H
#define ORDO_SPEC_H

#include "ordo/config.h"

/*
 * Run every spec file in `files` (n of them; NULL/0: the default set:
 * the *_spec.lua files in the config file's folder and in tests/workflows/
 * beside it, and <workflow>_spec.lua next to each merchant's workflow). Prints one line
 * per test and "N passed, N failed" at the end.
 * @return 0 when every test passed, 1 otherwise, 2 when nothing could run.
 */
int spec_run(struct ordo_config *cfg, char **files, int n);

#endif
