"""
Fake outside-world servers for the effects tests: a Stripe-style payment
gateway and a sink that records POSTs (notification endpoint, outgoing
webhook subscribers).

Each is a real HTTP/1.1 server (keep-alive, Content-Length or chunked
bodies, Expect: 100-continue) on 127.0.0.1 and a free port, served from
daemon threads: `start()`, `stop()`, `.url`. Every request is recorded;
behaviour is scripted with a FIFO of one-shot actions (`fail_next`,
`decline_next`, `delay_next`, `garbage_next`, `huge_next`): each request
takes the first queued action that applies to it, or is answered normally.
Everything is guarded by one lock per server, and every sleep is bounded
and cut short by `stop()`.

FakeGateway behaves like a real gateway where it matters to the host:

- `Authorization: Bearer <api_key>` is checked (401 otherwise);
- a request that reached the gateway's logic (success, decline, validation
  error, a delayed answer) stores its answer under its `Idempotency-Key`;
  the same key again returns that stored answer (header
  `Idempotent-Replayed: true`) and does nothing else. The same key with
  different parameters is a 400 `idempotency_error`, as on Stripe;
- an injected 5xx/429, garbage or huge answer did not reach the logic: it
  charges nothing and stores nothing, so a retry is processed for real;
- the ledger (`intents`) holds every payment intent with its captures and
  refunds, so a test can assert "charged exactly once" (`charges_for`).

Only 127.0.0.1 is ever bound.
"""
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from requests.structures import CaseInsensitiveDict

HOST = "127.0.0.1"
MAX_SLEEP = 30.0            # seconds: no scripted delay sleeps longer
DEFAULT_WAIT = 10.0         # seconds: default bound of the wait_* helpers

DECLINE = {"error": {"type": "card_error", "code": "card_declined",
                     "decline_code": "generic_decline",
                     "message": "Your card was declined."}}


def sign(secret, raw):
    """The X-Ordo-Signature value for `raw` under `secret`: "sha256=<hex>"."""
    if isinstance(secret, str):
        secret = secret.encode()
    return "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()


def signature_ok(secret, raw, header):
    """Does `header` (an X-Ordo-Signature value) sign `raw` under `secret`?"""
    if not header:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(secret, raw).encode())


class Request:
    """One request a fake server received (and what it answered)."""

    def __init__(self, method, path, headers, raw, at):
        self.method = method
        self.path = path                      # without the query string
        self.query = {}
        self.headers = headers                # CaseInsensitiveDict
        self.raw = raw                        # the body, bytes
        self.at = at                          # time.monotonic() on arrival
        self.answered_at = None               # time.monotonic() after answering
        self.status = None                    # what was answered
        self.outcome = None                   # processed, replayed, failed, ...
        self.form = {}                        # gateway: parse_qs, first values
        self.key = headers.get("Idempotency-Key")
        self.op = None                        # gateway: authorize, capture, ...
        self.json = None                      # sink: the decoded body, or None
        self.error = None                     # writing the answer failed (peer gone)

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def text(self):
        return self.raw.decode("utf-8", "replace")

    def verify(self, secret, header="X-Ordo-Signature"):
        """True when the request's signature header signs its raw body."""
        return signature_ok(secret, self.raw, self.headers.get(header))

    def __repr__(self):
        return (f"<{self.method} {self.path} op={self.op} key={self.key} "
                f"status={self.status} outcome={self.outcome}>")


class _Action:
    def __init__(self, kind, ops=None, status=None, seconds=0.0, size=0, retry_after=None,
                 body=None):
        self.kind = kind
        self.ops = ops
        self.status = status
        self.seconds = min(float(seconds), MAX_SLEEP)
        self.size = size
        self.retry_after = retry_after
        self.body = body

    def applies(self, op):
        return self.ops is None or op in self.ops


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, fake):
        self.fake = fake
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request, client_address):   # quiet: peers vanish (kill -9)
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake/1"
    sys_version = ""
    timeout = 30

    def setup(self):
        super().setup()
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def log_message(self, *args):
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        raw = self._body()
        path, _, query = self.path.partition("?")
        req = Request(self.command, path, CaseInsensitiveDict(self.headers.items()), raw,
                      time.monotonic())
        req.query = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        try:
            status, headers, body = self.server.fake._respond(req)
        except Exception as e:      # a bug in the fake must show, not hang the client
            status, headers, body = 500, {}, json.dumps(
                {"error": {"type": "fake_error", "message": repr(e)}}).encode()
            req.outcome = "fake_error"
        req.status = status
        try:
            self.send_response(status)
            headers = dict(headers)
            headers.setdefault("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError as e:
            req.error = repr(e)
            self.close_connection = True
        finally:
            req.answered_at = time.monotonic()
            self.server.fake._answered(req)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle


class _Fake:
    """Common machinery: the server thread, the request log, the action queue."""

    def __init__(self):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.requests = []            # every Request, in arrival order
        self._actions = []
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self.port = None
        self.url = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        assert self._server is None, "already started"
        self._stopping.clear()
        self._server = _Server(self)
        self.port = self._server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving, cut scripted sleeps short, close every connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._server.conns_lock:
            conns = list(self._server.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- scripting ---------------------------------------------------------

    def _queue(self, n, action):
        with self.lock:
            self._actions.extend([action] * int(n))

    def _take(self, op=None):
        with self.lock:
            for i, a in enumerate(self._actions):
                if a.applies(op):
                    return self._actions.pop(i)
        return None

    def pending_actions(self):
        with self.lock:
            return len(self._actions)

    def clear(self):
        """Drop every scripted action still queued."""
        with self.lock:
            self._actions.clear()

    def _sleep(self, seconds):
        self._stopping.wait(min(max(seconds, 0.0), MAX_SLEEP))

    # -- inspection --------------------------------------------------------

    def _answered(self, req):
        with self.changed:
            self.changed.notify_all()

    def received(self, pred=None):
        """A snapshot of the recorded requests (those matching pred)."""
        with self.lock:
            return [r for r in self.requests if pred is None or pred(r)]

    def wait_for(self, pred=None, count=1, timeout=DEFAULT_WAIT, answered=True):
        """Wait until `count` recorded requests match pred (answered, unless
        answered=False); return them. Raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                got = [r for r in self.requests if (pred is None or pred(r))
                       and (not answered or r.answered_at is not None)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{type(self).__name__}: timed out after {timeout}s waiting for "
                        f"{count} request(s); have {len(got)}; all: {self.requests!r}")
                self.changed.wait(min(left, 0.1))


# ---------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------

class FakeGateway(_Fake):
    """A Stripe-style payment gateway (see the module doc).

    Ledger: `intents[pi_id]` = {"id", "amount", "currency", "status",
    "metadata", "amount_received", "captures": [amount...],
    "refunds": [{"id", "amount", "reason"}], "key"}.
    """

    def __init__(self, api_key="sk_test_123"):
        super().__init__()
        self.api_key = api_key
        self.intents = {}
        self.refunds = {}
        self._idem = {}               # key -> (fingerprint, status, headers, body)
        self._seq = itertools.count(1)
        self.latency = 0.0            # seconds every processed answer waits (set_latency)

    # -- scripting ---------------------------------------------------------

    def fail_next(self, n=1, status=503, retry_after=None, ops=None):
        """Answer the next n requests with `status` and do nothing else.
        429 carries Retry-After (default 1 s; pass retry_after to choose)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._queue(n, _Action("fail", _ops(ops), status=status, retry_after=retry_after))

    def decline_next(self, n=1, ops=None):
        """402 card_declined for the next n requests (stored under the key)."""
        self._queue(n, _Action("decline", _ops(ops)))

    def delay_next(self, n=1, seconds=1.0, ops=None):
        """Process the next n requests at once (the charge happens, the answer
        is stored), then sleep `seconds` before answering."""
        self._queue(n, _Action("delay", _ops(ops), seconds=seconds))

    def set_latency(self, seconds):
        """From now on, process every request at once and answer it `seconds`
        late (like delay_next, for all of them); 0 turns it off."""
        with self.lock:
            self.latency = min(float(seconds), MAX_SLEEP)

    def garbage_next(self, n=1, body=b"<html>502 Bad Gateway</html> not json {", ops=None):
        """200 with a body that is not JSON; nothing is processed."""
        self._queue(n, _Action("garbage", _ops(ops), body=body))

    def huge_next(self, n=1, size=2 * 1024 * 1024, ops=None):
        """200 with a `size`-byte body (valid-looking JSON prefix); nothing is processed."""
        self._queue(n, _Action("huge", _ops(ops), size=size))

    # -- inspection --------------------------------------------------------

    def ops(self, op=None, pred=None):
        """Requests that were gateway operations (of kind `op`)."""
        return self.received(lambda r: r.op is not None and (op is None or r.op == op)
                             and (pred is None or pred(r)))

    def intents_for(self, order_id):
        """Payment intents whose metadata[order_id] is `order_id`."""
        with self.lock:
            return [dict(pi) for pi in self.intents.values()
                    if pi["metadata"].get("order_id") == str(order_id)]

    def charges_for(self, order_id):
        """Every capture the ledger holds for this order (amounts, in order)."""
        return [c for pi in self.intents_for(order_id) for c in pi["captures"]]

    def refunds_for(self, order_id):
        return [r for pi in self.intents_for(order_id) for r in pi["refunds"]]

    def total_charges(self):
        with self.lock:
            return sum(len(pi["captures"]) for pi in self.intents.values())

    # -- the server side ---------------------------------------------------

    def _respond(self, req):
        with self.lock:
            self.requests.append(req)
        req.form = {k: v[0] for k, v in
                    urllib.parse.parse_qs(req.text(), keep_blank_values=True).items()}
        req.op = _route(req.method, req.path)
        if req.op is None:
            req.outcome = "not_found"
            return 404, {}, _j({"error": {"type": "invalid_request_error",
                                          "message": f"Unrecognized request URL ({req.method}: {req.path})"}})
        auth = req.header("Authorization") or ""
        if auth != f"Bearer {self.api_key}":
            req.outcome = "unauthorized"
            return 401, {}, _j({"error": {"type": "invalid_request_error",
                                          "message": "Invalid API Key provided"}})
        action = self._take(req.op)
        if action is not None and action.kind == "fail":
            req.outcome = "failed"
            h = {"Retry-After": action.retry_after} if action.retry_after is not None else {}
            return action.status, h, _j({"error": {"type": "api_error",
                                                   "message": f"injected {action.status}"}})
        if action is not None and action.kind == "garbage":
            req.outcome = "garbage"
            return 200, {}, action.body
        if action is not None and action.kind == "huge":
            req.outcome = "huge"
            head = b'{"id":"pi_huge","object":"payment_intent","padding":"'
            return 200, {}, head + b"x" * max(0, action.size - len(head) - 2) + b'"}'

        with self.lock:
            fingerprint = (req.path, tuple(sorted(req.form.items())))
            stored = self._idem.get(req.key) if req.key else None
            if stored is not None:
                if stored[0] != fingerprint:
                    req.outcome = "idempotency_mismatch"
                    status, headers, body = 400, {}, _j({"error": {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                                   "same parameters they were first used with."}})
                else:
                    req.outcome = "replayed"
                    status, headers, body = stored[1], dict(stored[2]), stored[3]
                    headers["Idempotent-Replayed"] = "true"
            else:
                if action is not None and action.kind == "decline":
                    req.outcome = "declined"
                    status, headers, body = 402, {}, _j(DECLINE)
                else:
                    status, body = self._process(req)
                    headers = {}
                    req.outcome = "processed" if status == 200 else "rejected"
                if req.key:
                    self._idem[req.key] = (fingerprint, status, headers, body)
                    headers = dict(headers, **{"Idempotency-Key": req.key})
        if action is not None and action.kind == "delay":
            req.outcome += "+delayed"
            self._sleep(action.seconds)
        elif self.latency > 0:
            self._sleep(self.latency)
        return status, headers, body

    def _process(self, req):
        """The gateway's logic; called with the lock held. -> (status, body)."""
        f, op = req.form, req.op
        if op == "authorize":
            amount = _int(f.get("amount"))
            currency = f.get("currency", "")
            if amount is None or amount <= 0:
                return _invalid("amount", "Invalid positive integer")
            if not currency or currency != currency.lower() or len(currency) != 3:
                return _invalid("currency", f"Invalid currency: {currency!r}")
            pi_id = f"pi_{next(self._seq):06d}fake"
            meta = {k[len("metadata["):-1]: v for k, v in f.items()
                    if k.startswith("metadata[") and k.endswith("]")}
            manual = f.get("capture_method") == "manual"
            pi = {"id": pi_id, "amount": amount, "currency": currency, "metadata": meta,
                  "status": "requires_capture" if manual else "succeeded",
                  "amount_received": 0 if manual else amount,
                  "captures": [] if manual else [amount], "refunds": [], "key": req.key,
                  "capture_method": f.get("capture_method", "automatic")}
            self.intents[pi_id] = pi
            return 200, _j(_pi_json(pi))
        if op in ("capture", "cancel"):
            pi = self.intents.get(req.path.split("/")[3])
            if pi is None:
                return 404, _j({"error": {"type": "invalid_request_error",
                                          "code": "resource_missing",
                                          "message": "No such payment_intent"}})
            if op == "cancel":
                if pi["status"] not in ("requires_capture", "requires_payment_method",
                                        "requires_confirmation"):
                    return _unexpected(pi, "cancel")
                pi["status"] = "canceled"
                return 200, _j(_pi_json(pi))
            if pi["status"] != "requires_capture":
                return _unexpected(pi, "capture")
            amount = _int(f.get("amount_to_capture", str(pi["amount"])))
            if amount is None or amount <= 0 or amount > pi["amount"]:
                return _invalid("amount_to_capture",
                                "The amount to capture must be positive and at most the "
                                "amount authorized")
            pi["status"] = "succeeded"
            pi["amount_received"] = amount
            pi["captures"].append(amount)
            return 200, _j(_pi_json(pi))
        if op == "refund":
            pi = self.intents.get(f.get("payment_intent", ""))
            if pi is None:
                return 404, _j({"error": {"type": "invalid_request_error",
                                          "code": "resource_missing",
                                          "message": "No such payment_intent"}})
            left = pi["amount_received"] - sum(r["amount"] for r in pi["refunds"])
            amount = _int(f.get("amount", str(left)))
            if pi["status"] != "succeeded":
                return _unexpected(pi, "refund")
            if amount is None or amount <= 0 or amount > left:
                return 400, _j({"error": {"type": "invalid_request_error",
                                          "code": "amount_too_large", "param": "amount",
                                          "message": f"Refund amount ({amount}) is greater than "
                                                     f"unrefunded amount on charge ({left})"}})
            re_id = f"re_{next(self._seq):06d}fake"
            rf = {"id": re_id, "amount": amount, "reason": f.get("reason"),
                  "payment_intent": pi["id"], "key": req.key}
            pi["refunds"].append(rf)
            self.refunds[re_id] = rf
            return 200, _j({"id": re_id, "object": "refund", "status": "succeeded",
                            "amount": amount, "currency": pi["currency"],
                            "payment_intent": pi["id"], "reason": rf["reason"]})
        raise AssertionError(op)


def _route(method, path):
    if method != "POST":
        return None
    parts = path.rstrip("/").split("/")
    if parts == ["", "v1", "payment_intents"]:
        return "authorize"
    if len(parts) == 5 and parts[:3] == ["", "v1", "payment_intents"] \
            and parts[4] in ("capture", "cancel"):
        return parts[4]
    if parts == ["", "v1", "refunds"]:
        return "refund"
    return None


def _ops(ops):
    if ops is None:
        return None
    return {ops} if isinstance(ops, str) else set(ops)


def _j(obj):
    return json.dumps(obj).encode()


def _int(text):
    try:
        return int(text, 10) if text is not None and text.strip().lstrip("-").isdigit() else None
    except ValueError:
        return None


def _invalid(param, message):
    return 400, _j({"error": {"type": "invalid_request_error", "code": "parameter_invalid",
                              "param": param, "message": message}})


def _unexpected(pi, what):
    return 400, _j({"error": {"type": "invalid_request_error",
                              "code": "payment_intent_unexpected_state",
                              "message": f"This PaymentIntent's status is {pi['status']}; "
                                         f"it cannot {what}."}})


def _pi_json(pi):
    return {"id": pi["id"], "object": "payment_intent", "amount": pi["amount"],
            "amount_capturable": pi["amount"] if pi["status"] == "requires_capture" else 0,
            "amount_received": pi["amount_received"], "currency": pi["currency"],
            "capture_method": pi["capture_method"], "status": pi["status"],
            "metadata": pi["metadata"], "latest_charge": "ch_" + pi["id"][3:]}


# ---------------------------------------------------------------------------
# The sink
# ---------------------------------------------------------------------------

class Sink(_Fake):
    """Records every request; answers 200 {"ok":true} unless scripted.

    `posts(path)` lists what arrived (path, headers, raw, json);
    `fail_next(n, status)` refuses the next n; `delay_next(n, seconds)`
    answers them late.
    """

    def fail_next(self, n=1, status=503, retry_after=None, path=None):
        self._queue(n, _Action("fail", _ops(path), status=status, retry_after=retry_after))

    def delay_next(self, n=1, seconds=1.0, path=None):
        self._queue(n, _Action("delay", _ops(path), seconds=seconds))

    def posts(self, path=None, pred=None):
        return self.received(lambda r: r.method == "POST" and (path is None or r.path == path)
                             and (pred is None or pred(r)))

    def _respond(self, req):
        try:
            req.json = json.loads(req.raw) if req.raw else None
        except ValueError:
            req.json = None
        with self.lock:
            self.requests.append(req)
        action = self._take(req.path)
        if action is not None and action.kind == "fail":
            req.outcome = "failed"
            h = {"Retry-After": action.retry_after} if action.retry_after is not None else {}
            return action.status, h, _j({"ok": False, "error": f"injected {action.status}"})
        if action is not None and action.kind == "delay":
            self._sleep(action.seconds)
        req.outcome = "ok"
        return 200, {}, _j({"ok": True})

    @staticmethod
    def verify(req, secret):
        """True when req's X-Ordo-Signature signs its raw body under secret."""
        return req.verify(secret)
