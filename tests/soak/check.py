#!/usr/bin/python3
"""
The crash soak's checker: the delivery log (what every request got back)
against the database (what the daemon kept), opened read-only.

    check.py --db WORK/ordo.db --log WORK/deliveries.jsonl

Rules (a delivery = one webhook id; its attempts = the requests carrying it):

  acknowledged  some attempt got a 200. Its inbox row exists, with the id
                every 200 named and the exact bytes sent; a good one is
                exactly one order (merchant + channel + external id), a
                poison one is a dead letter and no order.
  unknown       never a 200, but some attempt lost its answer (reset, EOF,
                timeout after sending). It MAY have been stored: allowed
                either way, but never twice.
  rejected      every attempt was answered non-200 (401, 400, 503...) or
                refused before anything was sent. Nothing may exist for it:
                no inbox row and, unless another delivery of the same order
                was acknowledged or unknown, no order.
  hostile       bad signature, bad JSON, missing topic: never a 200, nothing
                stored, whatever happened to the connection.

and of the database alone: no event pending after the drain, every dead
event has its dead letter (and only poison deliveries died), one 'created'
history row per order, paid orders captured exactly once, and on beta (whose
workflow notes every event it runs) exactly one note per processed event —
an event run twice shows up there.

Checks are functions in CHECKS; each returns problems and may add to the
totals. Inventory does not exist yet: its check reports
"not checked" until the schema has their tables, and then fail loudly until
someone writes them — add them to CHECKS next to the others.
"""
import argparse
import collections
import hashlib
import json
from pathlib import Path
import sqlite3
import sys

HOSTILE = ("bad_sig", "bad_json", "no_topic")
MAX_LISTED = 10        # problems printed per rule


class Facts:
    """The delivery log, folded per delivery."""

    def __init__(self, log_path):
        self.d = {}                           # wid -> delivery record + folded attempts
        self.attempts = 0
        self.outcomes = collections.Counter()
        self.unanswered = []                  # attempts a live daemon never answered
        with open(log_path) as f:
            for line in f:
                rec = json.loads(line)
                if rec["t"] == "d":
                    rec.update(acks=[], statuses=[], lost=0, refused=0)
                    self.d[rec["wid"]] = rec
                    continue
                d = self.d[rec["wid"]]
                self.attempts += 1
                if rec.get("calm") and rec["res"] in ("lost", "refused"):
                    if rec.get("err") == "abandoned":
                        d["abandoned_live"] = True
                    else:
                        self.unanswered.append(rec)
                res = rec["res"]
                self.outcomes[res if res != "status" else f"status {rec.get('status')}"] += 1
                if res == "ok":
                    d["acks"].append(rec)
                elif res == "status":
                    d["statuses"].append(rec.get("status"))
                elif res == "lost":
                    d["lost"] += 1
                elif res == "refused":
                    d["refused"] += 1
        for d in self.d.values():
            d["state"] = ("acked" if d["acks"] else "unknown" if d["lost"] else "rejected")

    def by(self, kind=None, state=None):
        return [d for d in self.d.values()
                if (kind is None or (d["kind"] in kind if isinstance(kind, tuple) else d["kind"] == kind))
                and (state is None or d["state"] == state)]


class DB:
    def __init__(self, path):
        self.c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.c.row_factory = sqlite3.Row

    def q(self, sql, *args):
        return self.c.execute(sql, args).fetchall()

    def tables(self):
        return {r[0] for r in self.q("SELECT name FROM sqlite_master WHERE type = 'table'")}


class Report:
    def __init__(self):
        self.problems = collections.OrderedDict()   # rule -> [text]
        self.notes = []
        self.totals = collections.OrderedDict()

        self.keys = {}                              # rule -> {what it is about}

    def fail(self, rule, text, key=None):
        """key: what the problem is about (a webhook id, an order), so one
        delivery found lost by two checks counts once in the totals."""
        self.problems.setdefault(rule, []).append(text)
        self.keys.setdefault(rule, set()).add(key if key is not None else text)

    def count(self, rule):
        return len(self.keys.get(rule, ()))


def dedup_key(wid):
    return f"shopify:{wid}"


# ---------------------------------------------------------------------------
# Checks: each takes (facts, db, report)
# ---------------------------------------------------------------------------

def check_acks(f, db, rep):
    """Acknowledged deliveries are in the inbox, byte for byte, under the id
    every 200 named; nothing hostile was ever acknowledged."""
    rows = {(r["merchant"], r["dedup_key"]): r for r in db.q(
        "SELECT id, merchant, dedup_key, payload, status FROM inbox WHERE source = 'webhook'")}
    f.inbox = rows
    for d in f.by(state="acked"):
        if d["kind"] in HOSTILE:
            rep.fail("hostile delivery acknowledged", f"{d['wid']} ({d['kind']}) got a 200")
        ids = {a.get("id") for a in d["acks"]}
        fresh = [a for a in d["acks"] if not a.get("dup")]
        row = rows.get((d["merchant"], dedup_key(d["wid"])))
        if row is None:
            rep.fail("lost", f"{d['wid']}: acknowledged (inbox id {sorted(ids)}) "
                     "but no inbox row has its webhook id", key=("order", d["merchant"], d["order"]))
            continue
        if ids != {row["id"]}:
            rep.fail("ack id mismatch", f"{d['wid']}: 200s named inbox ids {sorted(ids)}, "
                     f"the row is {row['id']}")
        if len(fresh) > 1:
            rep.fail("duplicated", f"{d['wid']}: {len(fresh)} answers said duplicate=false "
                     "(stored more than once?)")
        if hashlib.sha256(row["payload"].encode()).hexdigest() != d["sha"]:
            rep.fail("payload changed", f"{d['wid']}: inbox {row['id']} does not hold "
                     "the bytes that were sent")


def check_answered(f, db, rep):
    """A daemon that was up for the whole request answered it."""
    for a in f.unanswered:
        rep.fail("no answer from a live daemon", f"{a['wid']} attempt {a['n']} in run "
                 f"{a['run']}: {a['res']} ({a.get('err')}) after {a['ms']} ms, with no "
                 "kill during the request")


def check_rejected(f, db, rep):
    """Nothing exists for a delivery that was only ever refused, nor for a
    hostile one."""
    for d in f.d.values():
        hostile = d["kind"] in HOSTILE
        if not hostile and d["state"] != "rejected":
            continue
        if (d["merchant"], dedup_key(d["wid"])) in f.inbox:
            rule = "hostile delivery stored" if hostile else "rejected delivery stored"
            rep.fail(rule, f"{d['wid']} ({d['kind']}; answers {d['statuses']}, "
                     f"{d['lost']} lost, {d['refused']} refused) has an inbox row")


def check_inbox_rows(f, db, rep):
    """Every webhook row in the inbox is a delivery we sent; none twice."""
    known = {(d["merchant"], dedup_key(d["wid"])) for d in f.d.values()}
    for key, row in f.inbox.items():
        if key not in known:
            rep.fail("stranger in the inbox", f"inbox {row['id']} {key}")
    for r in db.q("SELECT merchant, dedup_key, count(*) AS n FROM inbox"
                  " GROUP BY merchant, dedup_key HAVING n > 1"):
        rep.fail("duplicated", f"{r['n']} inbox rows for {r['merchant']} {r['dedup_key']}")


def check_orders(f, db, rep):
    """Acknowledged good orders exist exactly once; no order exists that no
    acknowledged or unknown delivery could have made; totals are right."""
    expected, allowed, totals = {}, set(), {}
    for d in f.d.values():
        key = (d["merchant"], d["order"])
        if d["kind"] == "good":
            totals[key] = d["total"]
            if d["state"] == "acked":
                expected.setdefault(key, d["wid"])
            if d["state"] in ("acked", "unknown"):
                allowed.add(key)
    orders = collections.defaultdict(list)
    for r in db.q("SELECT id, merchant, channel, external_id, total FROM orders"):
        orders[(r["merchant"], r["external_id"])].append(r)
        if r["channel"] != "shopify":
            rep.fail("stranger order", f"order {r['id']} on channel {r['channel']}")
    for key, rs in orders.items():
        if len(rs) > 1:
            rep.fail("duplicated", f"{len(rs)} orders for {key}: ids {[r['id'] for r in rs]}")
        if key not in allowed:
            rep.fail("order without a delivery", f"order {rs[0]['id']} {key} exists; every "
                     "delivery of it was refused or answered non-200, or it is hostile/poison")
        elif rs[0]["total"] != totals.get(key):
            rep.fail("wrong total", f"order {rs[0]['id']} {key}: {rs[0]['total']}, "
                     f"sent {totals.get(key)}")
    for key, wid in expected.items():
        if key not in orders:
            rep.fail("lost", f"{wid}: acknowledged, but no order {key}", key=("order",) + key)
    f.orders = orders
    rep.totals["orders"] = sum(len(v) for v in orders.values())
    rep.totals["orders expected (acknowledged)"] = len(expected)
    rep.totals["orders from unknown-only deliveries"] = len(
        [k for k in orders if k in allowed and k not in expected])


def check_history_and_payments(f, db, rep):
    """One 'created' history row per order; a paid order captured once, in
    full; nothing paid that was sent unpaid."""
    for r in db.q("SELECT order_id, count(*) AS n FROM order_history WHERE kind = 'created'"
                  " GROUP BY order_id HAVING n != 1"):
        rep.fail("duplicated", f"order {r['order_id']} has {r['n']} 'created' history rows")
    missing = db.q("SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_history h"
                   " WHERE h.order_id = o.id AND h.kind = 'created')")
    for r in missing:
        rep.fail("history", f"order {r['id']} has no 'created' history row")
    paid = {(d["merchant"], d["order"]): d["paid"] for d in f.d.values() if d["kind"] == "good"}
    pays = collections.defaultdict(list)
    for r in db.q("SELECT p.order_id, p.kind, p.amount, p.status, p.event_id FROM payments p"):
        pays[r["order_id"]].append(r)
    for key, rs in f.orders.items():
        o = rs[0]
        ps = pays.get(o["id"], [])
        if paid.get(key):
            if len(ps) != 1 or ps[0]["kind"] != "capture" or ps[0]["amount"] != o["total"]:
                rep.fail("duplicated" if len(ps) > 1 else "payments",
                         f"order {o['id']} {key} was sent paid: payments "
                         f"{[(p['kind'], p['amount'], p['event_id']) for p in ps]}, "
                         f"total {o['total']}")
        elif key[0] in f.gateway_merchants and o["total"] > 0:
            # Unpaid at a merchant with a gateway: the workflow authorizes,
            # then captures, each exactly once and in full.
            got = sorted((p["kind"], p["amount"], p["status"]) for p in ps)
            want = [("authorization", o["total"], "succeeded"), ("capture", o["total"], "succeeded")]
            if got != want:
                rep.fail("duplicated" if len(ps) > 2 else "payments",
                         f"order {o['id']} {key} was sent unpaid to a merchant with a gateway:"
                         f" payments {got}, want {want}")
        elif ps:
            rep.fail("payments", f"order {o['id']} {key} was sent unpaid but has "
                     f"{len(ps)} payments")


def check_events_once(f, db, rep):
    """beta's workflow notes 'soak event <id>' on every event it runs: one
    note per done event, none for a dead one. Two = the event ran twice."""
    notes = collections.Counter()
    for r in db.q("SELECT h.event_id, h.message FROM order_history h JOIN orders o"
                  " ON o.id = h.order_id WHERE o.merchant = 'beta' AND h.kind = 'note'"
                  " AND h.message LIKE 'soak event %'"):
        notes[r["event_id"]] += 1
        if r["message"] != f"soak event {r['event_id']}":
            rep.fail("history", f"note {r['message']!r} recorded under event {r['event_id']}")
    runs = 0
    for r in db.q("SELECT id, status FROM inbox WHERE merchant = 'beta'"):
        n = notes.get(r["id"], 0)
        want = 1 if r["status"] == "done" else 0
        runs += 1
        if n > want:
            rep.fail("duplicated", f"beta event {r['id']} ({r['status']}) ran {n} times")
        elif n < want:
            rep.fail("lost", f"beta event {r['id']} is done but its handler's writes are missing")
    rep.totals["beta events checked for exactly-once"] = runs


def check_inbox_final(f, db, rep):
    """After the drain: nothing pending; dead = dead letters = poison."""
    kinds = {(d["merchant"], dedup_key(d["wid"])): d for d in f.d.values()}
    by_status = collections.Counter()
    dl = collections.Counter(r["event_id"] for r in db.q("SELECT event_id FROM dead_letters"))
    for r in db.q("SELECT id, merchant, dedup_key, status, attempts, last_error FROM inbox"):
        by_status[r["status"]] += 1
        d = kinds.get((r["merchant"], r["dedup_key"]))
        if r["status"] == "pending":
            rep.fail("stuck", f"inbox {r['id']} still pending after the drain "
                     f"(attempts {r['attempts']}, last error {r['last_error']!r})")
        elif r["status"] == "dead":
            if dl[r["id"]] != 1:
                rep.fail("dead letters", f"inbox {r['id']} is dead with {dl[r['id']]} dead letters")
            if d is not None and d["kind"] != "poison":
                rep.fail("good delivery dead-lettered", f"inbox {r['id']} ({d['wid']}): "
                         f"{r['last_error']}")
        elif r["status"] == "done":
            if d is not None and d["kind"] == "poison":
                rep.fail("poison processed", f"inbox {r['id']} ({d['wid']}) is done")
            if d is not None and d["kind"] == "good" and (d["merchant"], d["order"]) not in f.orders:
                rep.fail("lost", f"inbox {r['id']} ({d['wid']}) is done, no order",
                         key=("order", d["merchant"], d["order"]))
    rep.totals["inbox events"] = sum(by_status.values())
    rep.totals["inbox done / dead / pending"] = (
        f"{by_status['done']} / {by_status['dead']} / {by_status['pending']}")


def check_inventory(f, db, rep):
    """Every stock row is its ledger: on hand and reserved equal the sums of
    the ledger's deltas for that SKU and location, and reserved equals the
    units of the reservations still held there (a movement written twice, or
    half of one, shows as a difference). The CHECKs of the stock table keep
    on hand >= reserved >= 0 at every commit."""
    if "stock" not in db.tables():
        rep.notes.append("inventory: not checked (the schema has no stock tables)")
        return
    ledger = {(r["merchant"], r["sku"], r["location"]): (r["on_hand"], r["reserved"]) for r in db.q(
        "SELECT merchant, sku, location, SUM(on_hand_delta) AS on_hand,"
        " SUM(reserved_delta) AS reserved FROM stock_ledger GROUP BY merchant, sku, location")}
    held = {(r["merchant"], r["sku"], r["location"]): r["n"] for r in db.q(
        "SELECT merchant, sku, location, SUM(quantity) AS n FROM reservations"
        " WHERE status = 'reserved' GROUP BY merchant, sku, location")}
    rows = db.q("SELECT merchant, sku, location, on_hand, reserved FROM stock")
    for r in rows:
        k = (r["merchant"], r["sku"], r["location"])
        want = ledger.get(k, (0, 0))
        if (r["on_hand"], r["reserved"]) != want:
            rep.fail("stock differs from its ledger", f"{k}: stock {r['on_hand']}/{r['reserved']},"
                     f" ledger {want[0]}/{want[1]}", key=("stock", k))
        if r["reserved"] != held.get(k, 0):
            rep.fail("reserved differs from the reservations", f"{k}: {r['reserved']} reserved,"
                     f" reservations hold {held.get(k, 0)}", key=("reserved", k))
    missing = set(ledger) - {(r["merchant"], r["sku"], r["location"]) for r in rows}
    for k in sorted(missing):
        rep.fail("stock differs from its ledger", f"{k}: ledger rows, no stock row", key=("stock", k))
    rep.totals["stock rows / ledger rows"] = (
        f"{len(rows)} / {db.q('SELECT COUNT(*) AS n FROM stock_ledger')[0]['n']}")


def check_effects(f, db, rep):
    """The outbox after the drain: no effect pending, failed or dead (the
    fake gateway says yes to everything); every effect belongs to an event
    that is done (a rolled-back handler leaves none); every payment effect
    got exactly one answer event; every payment settled. On the gateway's
    side (f.gateway, what it recorded): one idempotency key per order and
    operation however often a request was resent, at most one payment
    intent per order and one capture per intent, and its ledger agrees
    with ordo's payments."""
    if "effects" not in db.tables():
        rep.notes.append("effects: not checked (the schema has no outbox tables yet)")
        return
    effects = db.q("SELECT id, merchant, kind, status, attempts, event_id, payment_id, order_id,"
                   " idem_key, last_error FROM effects")
    events = {r["id"]: r["status"] for r in db.q("SELECT id, status FROM inbox")}
    answers = collections.Counter()
    for r in db.q("SELECT dedup_key FROM inbox WHERE source = 'effect'"):
        parts = (r["dedup_key"] or "").split(":")
        if len(parts) == 3 and parts[0] == "effect":
            answers[int(parts[1])] += 1
    by_status = collections.Counter(r["status"] for r in effects)
    for e in effects:
        what = f"effect {e['id']} ({e['kind']}, {e['idem_key']})"
        if e["status"] == "pending":
            rep.fail("stuck", f"{what} is still pending after the drain "
                     f"(attempts {e['attempts']}, last error {e['last_error']!r})")
        elif e["status"] != "succeeded":
            rep.fail("effects", f"{what} is {e['status']}: {e['last_error']}")
        if e["event_id"] is not None and events.get(e["event_id"]) != "done":
            rep.fail("effect without its event", f"{what} was made by event {e['event_id']},"
                     f" which is {events.get(e['event_id'], 'missing')}")
        if e["kind"] == "payment" and e["status"] != "pending" and answers[e["id"]] != 1:
            rep.fail("duplicated" if answers[e["id"]] > 1 else "lost",
                     f"{what} has {answers[e['id']]} answer events")
    for r in db.q("SELECT p.id, p.order_id, p.kind FROM payments p WHERE p.status = 'pending'"):
        rep.fail("stuck", f"payment {r['id']} ({r['kind']}) of order {r['order_id']} is pending")
    rep.totals["effects succeeded / pending / failed / dead"] = " / ".join(
        str(by_status[k]) for k in ("succeeded", "pending", "failed", "dead"))
    rep.totals["effect attempts (sum)"] = sum(e["attempts"] for e in effects)

    g = f.gateway
    if g is None:
        rep.notes.append("effects: gateway side not checked (no gateway record)")
        return
    order_of_pi = {pi["id"]: pi["metadata"].get("order_id") for pi in g["intents"]}
    keys = collections.defaultdict(set)
    for r in g["requests"]:
        if r["op"] is None:
            continue
        if r["op"] == "authorize":
            order = r["form"].get("metadata[order_id]")
        elif r["op"] == "refund":
            order = order_of_pi.get(r["form"].get("payment_intent"))
        else:
            order = order_of_pi.get(r["path"].split("/")[3])
        keys[(r["op"], order)].add(r["key"])
    for (op, order), ks in keys.items():
        if len(ks) != 1:
            rep.fail("duplicated", f"order {order}: {op} reached the gateway with {len(ks)}"
                     f" different idempotency keys {sorted(k or '' for k in ks)}")
    per_order = collections.defaultdict(list)
    for pi in g["intents"]:
        per_order[pi["metadata"].get("order_id")].append(pi)
    stripe = collections.defaultdict(list)
    for r in db.q("SELECT order_id, kind, amount FROM payments WHERE gateway = 'stripe'"
                  " AND status = 'succeeded'"):
        stripe[str(r["order_id"])].append((r["kind"], r["amount"]))
    for order, pis in per_order.items():
        if len(pis) != 1:
            rep.fail("duplicated", f"order {order}: {len(pis)} payment intents at the gateway")
        charges = [c for pi in pis for c in pi["captures"]]
        if len(charges) > 1:
            rep.fail("duplicated", f"order {order} was charged {len(charges)} times: {charges}")
        ours = sorted(a for k, a in stripe.get(order, []) if k == "capture")
        if sorted(charges) != ours:
            rep.fail("payments", f"order {order}: the gateway charged {charges}, ordo recorded"
                     f" captures {ours}")
    for order, ps in stripe.items():
        if order not in per_order:
            rep.fail("payments", f"order {order}: ordo recorded {ps} the gateway never saw")
    replays = sum(1 for r in g["requests"] if r.get("outcome") == "replayed")
    rep.totals["gateway requests (replayed: a resend the gateway deduplicated)"] = (
        f"{len(g['requests'])} ({replays})")
    rep.totals["gateway charges / orders charged"] = (
        f"{sum(len(pi['captures']) for pi in g['intents'])} / "
        f"{sum(1 for pis in per_order.values() if any(pi['captures'] for pi in pis))}")


CHECKS = [check_acks, check_answered, check_rejected, check_inbox_rows, check_orders,
          check_history_and_payments, check_events_once, check_inbox_final,
          check_inventory, check_effects]


def run(db_path, log_path, extra_problems=(), gateway_path=None, gateway_merchants=()):
    """Check; print the report; return the number of problems.
    gateway_path: what the fake gateway recorded (soak.py writes it);
    gateway_merchants: the merchants whose workflow pays through it."""
    f = Facts(log_path)
    f.gateway = json.loads(Path(gateway_path).read_text()) if gateway_path else None
    f.gateway_merchants = set(gateway_merchants)
    db = DB(db_path)
    rep = Report()
    for check in CHECKS:
        check(f, db, rep)
    for rule, text in extra_problems:
        rep.fail(rule, text)

    acked = f.by(state="acked")
    t = collections.OrderedDict()
    t["deliveries sent"] = len(f.d)
    t["requests sent"] = f.attempts
    t["acknowledged deliveries"] = len(acked)
    t["  good / poison"] = f"{len(f.by('good', 'acked'))} / {len(f.by('poison', 'acked'))}"
    t["duplicates acknowledged (200, duplicate=true)"] = sum(
        1 for d in acked for a in d["acks"] if a.get("dup"))
    t["unknown (answer lost, never a 200)"] = len(f.by(state="unknown"))
    t["  of which stored anyway"] = sum(
        1 for d in f.by(state="unknown") if (d["merchant"], dedup_key(d["wid"])) in f.inbox)
    ab = [d for d in f.by(("good", "poison"), "unknown") if d.get("abandoned_live")]
    t["  hung up on a live daemon / of those stored"] = "%d / %d" % (len(ab), sum(
        1 for d in ab if (d["merchant"], dedup_key(d["wid"])) in f.inbox))
    t["rejected (only non-200 or refused)"] = len(f.by(state="rejected"))
    t["hostile sent (bad sig / bad json / no topic)"] = " / ".join(
        str(len(f.by(k))) for k in HOSTILE)
    errors = {k: v for k, v in f.outcomes.items() if k != "ok"}
    t["errors"] = sum(errors.values())
    t["  by kind"] = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "-"
    t.update(rep.totals)
    t["lost (acked, no order or row; orders/events)"] = rep.count("lost")
    t["duplicated"] = rep.count("duplicated")

    print("\n== soak totals ==")
    width = max(len(k) for k in t)
    for k, v in t.items():
        print(f"  {k:<{width}}  {v}")
    for n in rep.notes:
        print(f"  note: {n}")
    total = sum(len(v) for v in rep.problems.values())
    if total:
        print(f"\n== {total} PROBLEMS ==")
        for rule, items in rep.problems.items():
            print(f"  {rule}: {len(items)}")
            for text in items[:MAX_LISTED]:
                print(f"    {text}")
            if len(items) > MAX_LISTED:
                print(f"    ... and {len(items) - MAX_LISTED} more")
    else:
        print("\n== no loss, no duplication, nothing stuck ==")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--gateway", default=None, help="the fake gateway's record (gateway.json)")
    ap.add_argument("--gateway-merchant", action="append", default=[],
                    help="a merchant that pays through the gateway (repeatable)")
    a = ap.parse_args()
    sys.exit(1 if run(a.db, a.log, gateway_path=a.gateway,
                      gateway_merchants=a.gateway_merchant) else 0)


if __name__ == "__main__":
    main()
