"""
Load generator for the crash soak: signed Shopify orders/create deliveries
over several keep-alive connections, every attempt logged.

A *delivery* is one logical webhook (one X-Shopify-Webhook-Id, one body);
an *attempt* is one HTTP request carrying it. Deliveries are re-sent the way
a storefront re-sends them: after a connection failure or a 5xx, and a few
on purpose after a 200 (the same webhook id, to exercise deduplication).
Some orders are also delivered a second time under a new webhook id (two
inbox events, one order).

Kinds of delivery (what the checker expects of each):

  good       a valid order for acme (workflows/standard.lua) or beta (a
             recorder that notes every event it runs): acknowledged means
             exactly one order
  poison     signed and well formed, but a price the adapter must refuse:
             acknowledged, then dead-lettered, never an order
  bad_sig    a wrong signature: must be 401, must store nothing
  bad_json   signed, but not JSON: must be 400, must store nothing
  no_topic   signed, no X-Shopify-Topic: must be 400, must store nothing

Every attempt is one JSON line in the delivery log (see `Log`); the checker
(check.py) reads only that log and the database, so it can be re-run on the
artefacts of a failed soak.

Only 127.0.0.1 is contacted. Every loop is bounded by a deadline and a count.
"""
import base64
import collections
import hashlib
import hmac
import http.client
import json
import random
import socket
import threading
import time

HOST = "127.0.0.1"
HTTP_TIMEOUT = 5.0

SECRETS = {"acme": "acme-shopify-secret-0001", "beta": "beta-shopify-secret-0004"}
CURRENCY = {"acme": "USD", "beta": "EUR"}

# Outcomes of one attempt.
OK = "ok"            # 200 with a JSON body: acknowledged
STATUS = "status"    # any other status: the daemon answered no
REFUSED = "refused"  # the connection could not be opened: nothing was sent
LOST = "lost"        # sent (maybe partly), no complete answer: may be stored


def cents(units):
    return f"{units // 100}.{units % 100:02d}"


def shopify_body(order_id, merchant, rnd, *, paid=False, poison=False):
    """An orders/create body; returns (raw bytes, expected total in minor units)."""
    cur = CURRENCY[merchant]
    lines, items_total = [], 0
    for i in range(rnd.randint(1, 3)):
        price, qty = rnd.randint(100, 9999), rnd.randint(1, 4)
        items_total += price * qty
        lines.append({
            "id": order_id % 10**12 * 10 + i + 1,
            "sku": f"SKU-{rnd.randint(1, 40):03d}", "title": f"Widget {i + 1}",
            "name": f"Widget {i + 1}", "variant_id": 44000000000000 + i,
            "product_id": 8000000000000 + i, "quantity": qty,
            "price": cents(price), "total_discount": "0.00",
            "requires_shipping": True, "taxable": True, "grams": 100,
        })
    if poison:
        lines[0]["price"] = lines[0]["price"] + "9"   # three decimals: never valid USD/EUR
    shipping = rnd.choice([0, 500, 990])
    total = items_total + shipping
    body = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#S{order_id % 10**7}", "order_number": order_id % 10**7,
        "email": "soak@example.com",
        "created_at": "2024-05-01T10:00:00-04:00",
        "currency": cur, "presentment_currency": cur,
        "total_line_items_price": cents(items_total),
        "subtotal_price": cents(items_total),
        "total_discounts": "0.00", "total_tax": "0.00",
        "total_price": cents(total),
        "financial_status": "paid" if paid else "pending",
        "fulfillment_status": None, "tags": "soak",
        "customer": {"id": 7000000000000 + order_id % 1000, "email": "soak@example.com",
                     "first_name": "Soak", "last_name": "Test"},
        "shipping_address": {"name": "Soak Test", "address1": "1 Load Street",
                             "city": "Testville", "zip": "12345", "country_code": "US"},
        "shipping_lines": [{"title": "Standard", "price": cents(shipping)}],
        "line_items": lines,
    }
    return json.dumps(body, separators=(",", ":")).encode(), total


def sign(secret, raw):
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


class Delivery:
    __slots__ = ("wid", "merchant", "order_id", "kind", "raw", "total", "paid",
                 "attempts", "acked")

    def __init__(self, wid, merchant, order_id, kind, raw, total, paid):
        self.wid, self.merchant, self.order_id, self.kind = wid, merchant, order_id, kind
        self.raw, self.total, self.paid = raw, total, paid
        self.attempts = 0
        self.acked = False

    def record(self):
        return {"t": "d", "wid": self.wid, "merchant": self.merchant,
                "order": str(self.order_id), "kind": self.kind,
                "sha": hashlib.sha256(self.raw).hexdigest(),
                "total": self.total, "paid": self.paid}

    def request(self):
        """(path, headers, body) of one attempt."""
        secret = SECRETS[self.merchant]
        raw = self.raw
        h = {"Content-Type": "application/json", "User-Agent": "ordo-soak",
             "X-Shopify-Topic": "orders/create",
             "X-Shopify-Hmac-Sha256": sign(secret, raw),
             "X-Shopify-Webhook-Id": self.wid,
             "X-Shopify-Shop-Domain": f"{self.merchant}.myshopify.com",
             "X-Shopify-Api-Version": "2024-04"}
        if self.kind == "bad_sig":
            h["X-Shopify-Hmac-Sha256"] = sign(secret + "-wrong", raw)
        elif self.kind == "no_topic":
            del h["X-Shopify-Topic"]
        return f"/webhooks/{self.merchant}/shopify", h, raw


class Log:
    """The delivery log: JSON lines, one per delivery ('d') and per attempt ('a')."""

    def __init__(self, path):
        self.f = open(path, "w", buffering=1 << 16)
        self.lock = threading.Lock()

    def write(self, rec):
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        with self.lock:
            self.f.write(line)

    def close(self):
        with self.lock:
            self.f.close()


class Target:
    """Where the daemon listens, which run of it (for the log), and whether
    it is known to be up: `live` is set once it logged 'listening' and
    cleared just before it is killed; `epoch` changes at every start and
    kill. An attempt that began live and ended in the same epoch met a
    daemon that was up the whole time: it must have been answered."""

    def __init__(self, port):
        self.port = port
        self.run = 0
        self.live = False
        self.epoch = 0

    def up(self):
        self.epoch += 1
        self.live = True

    def down(self):
        self.live = False
        self.epoch += 1


class Client:
    """One keep-alive connection; `send` never raises for network trouble."""

    def __init__(self, target):
        self.target = target
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def send(self, path, headers, body, abandon=False):
        """Return (outcome, status, parsed JSON body or None, error text).

        abandon: hang up right after sending, without reading the answer
        (a storefront that gave up waiting); the outcome is LOST."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.target.port, timeout=HTTP_TIMEOUT)
            try:
                self.conn.connect()
            except ConnectionRefusedError as e:
                self.close()
                return REFUSED, None, None, type(e).__name__
            except OSError as e:
                # A timeout or reset while connecting: nothing was sent.
                self.close()
                return REFUSED, None, None, f"connect: {type(e).__name__}"
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            if abandon:
                self.close()
                return LOST, None, None, "abandoned"
            resp = self.conn.getresponse()
            data = resp.read()
            status = resp.status
            if resp.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return LOST, None, None, type(e).__name__
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if status == 200 and not (isinstance(parsed, dict) and parsed.get("ok") is True):
            return STATUS, status, parsed, "200 without {ok:true}"
        return (OK if status == 200 else STATUS), status, parsed, None


class Load:
    """The senders and the shared delivery state.

    mix: fractions of new deliveries by kind (the rest are good);
    resend_p: chance a failed attempt is queued for a resend;
    dup_p: chance an acknowledged delivery is queued to be re-sent as is;
    twin_p: chance a new delivery is also queued at once, so that two
    connections may carry it at the same moment;
    abandon_p: chance an attempt hangs up without waiting for its answer;
    same_order_p: chance an acknowledged good order is delivered again
    under a new webhook id.
    """

    def __init__(self, target, log, *, seed, senders=6, rate=0, max_deliveries=200000,
                 mix=None, resend_p=0.7, dup_p=0.04, same_order_p=0.03, paid_p=0.3,
                 twin_p=0.02, abandon_p=0.01):
        self.target, self.log = target, log
        self.senders, self.rate = senders, rate
        self.max_deliveries = max_deliveries
        self.mix = mix or {"poison": 0.01, "bad_sig": 0.02, "bad_json": 0.005,
                           "no_topic": 0.005}
        self.resend_p, self.dup_p = resend_p, dup_p
        self.same_order_p, self.paid_p, self.twin_p = same_order_p, paid_p, twin_p
        self.abandon_p = abandon_p
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.queue = collections.deque()      # deliveries to re-send
        self.deliveries = {}                  # wid -> Delivery
        self.unresolved = {}                  # wid -> Delivery: failed, not yet acked
        self.next_order = 9007199254740993 + (seed % 10**6) * 10**6   # above 2^53
        self.n_wid = 0
        self.stats = collections.Counter()
        self.stop = threading.Event()
        self.threads = []

    # -- deliveries ---------------------------------------------------------

    def _new_wid(self):
        self.n_wid += 1
        return f"soak-{self.n_wid:07d}-{self.rnd.getrandbits(32):08x}"

    def _new_delivery(self):
        """A new delivery (caller holds the lock)."""
        r = self.rnd
        x, kind = r.random(), "good"
        for k, p in self.mix.items():
            if x < p:
                kind = k
                break
            x -= p
        merchant = "acme" if r.random() < 0.7 else "beta"
        self.next_order += 1
        oid = self.next_order
        paid = kind == "good" and merchant == "acme" and r.random() < self.paid_p
        raw, total = shopify_body(oid, merchant, r, paid=paid, poison=kind == "poison")
        if kind == "bad_json":
            raw = raw[:-7]       # signed over these bytes, but cut mid-object
        return self._register(Delivery(self._new_wid(), merchant, oid, kind, raw, total, paid))

    def _register(self, d):
        self.deliveries[d.wid] = d
        self.log.write(d.record())
        return d

    def _next(self):
        with self.lock:
            if self.queue and self.rnd.random() < 0.35:
                return self.queue.popleft()
            if len(self.deliveries) >= self.max_deliveries:
                return self.queue.popleft() if self.queue else None
            d = self._new_delivery()
            if self.rnd.random() < self.twin_p:
                self.queue.appendleft(d)    # another sender may send it at the same time
            return d

    def _after(self, d, outcome, status):
        with self.lock:
            if outcome == OK:
                first = not d.acked
                d.acked = True
                self.unresolved.pop(d.wid, None)
                if first and self.rnd.random() < self.dup_p:
                    self.queue.append(d)
                if (first and d.kind == "good" and self.rnd.random() < self.same_order_p
                        and len(self.deliveries) < self.max_deliveries):
                    again = Delivery(self._new_wid(), d.merchant, d.order_id, "good",
                                     d.raw, d.total, d.paid)
                    self.queue.append(self._register(again))
                return
            if not d.acked:
                self.unresolved[d.wid] = d
            retryable = outcome in (REFUSED, LOST) or (status is not None and status >= 500)
            if d.kind in ("bad_sig", "bad_json", "no_topic"):
                retryable = outcome in (REFUSED, LOST) or self.rnd.random() < 0.2
            if retryable and len(self.queue) < 5000 and self.rnd.random() < self.resend_p:
                self.queue.append(d)

    def counts(self):
        """A copy of the outcome counts, safe while the senders run."""
        with self.lock:
            return dict(sorted(self.stats.items()))

    # -- sending ------------------------------------------------------------

    def attempt(self, client, d, phase):
        path, headers, body = d.request()
        with self.lock:
            d.attempts += 1
            n = d.attempts
        run, live, epoch = self.target.run, self.target.live, self.target.epoch
        t0 = time.monotonic()
        abandon = self.rnd.random() < self.abandon_p    # (racy draw: fine)
        outcome, status, parsed, err = client.send(path, headers, body, abandon)
        rec = {"t": "a", "wid": d.wid, "n": n, "run": run,
               "phase": phase, "res": outcome, "ms": round((time.monotonic() - t0) * 1000, 2)}
        if live and self.target.live and epoch == self.target.epoch:
            rec["calm"] = True      # the daemon was up from start to end
        if status is not None:
            rec["status"] = status
        if outcome == OK:
            rec["id"] = parsed.get("id")
            rec["dup"] = bool(parsed.get("duplicate"))
        elif isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            rec["code"] = parsed["error"].get("code")
        if err:
            rec["err"] = err
        self.log.write(rec)
        with self.lock:
            self.stats[outcome if outcome != STATUS else f"status_{status}"] += 1
        self._after(d, outcome, status)
        return outcome

    def _sender(self, idx, deadline, max_attempts):
        client = Client(self.target)
        interval = self.senders / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        n = 0
        try:
            while not self.stop.is_set() and n < max_attempts and time.monotonic() < deadline:
                d = self._next()
                if d is None:
                    time.sleep(0.01)
                    continue
                n += 1
                outcome = self.attempt(client, d, "load")
                if outcome == REFUSED:
                    time.sleep(0.002)   # the daemon is down; do not spin
                if interval:
                    next_at += interval
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    else:
                        next_at = time.monotonic()
        finally:
            client.close()

    def start(self, deadline, max_attempts_per_sender=10**6):
        for i in range(self.senders):
            t = threading.Thread(target=self._sender, args=(i, deadline, max_attempts_per_sender),
                                 name=f"sender-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self, timeout=15.0):
        """Stop the senders; each ends after its request in flight."""
        self.stop.set()
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
        return all(not t.is_alive() for t in self.threads)

    def resend_unresolved(self, fraction, deadline, rnd):
        """Re-send a share of the deliveries still without a 200 (the
        storefront's last retries), one connection, until each gets an answer
        or the deadline passes. Returns how many were re-sent."""
        with self.lock:
            pending = sorted(self.unresolved.values(), key=lambda d: d.wid)
        chosen = [d for d in pending if rnd.random() < fraction]
        client = Client(self.target)
        try:
            for d in chosen:
                for _ in range(3):
                    if time.monotonic() > deadline:
                        return len(chosen)
                    outcome = self.attempt(client, d, "final")
                    if outcome not in (REFUSED, LOST):
                        break
                    time.sleep(0.05)
        finally:
            client.close()
        return len(chosen)


def wait_port(port, timeout):
    """True once something accepts connections on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False
