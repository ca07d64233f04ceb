"""
Slow and abusive clients: slowloris connections that trickle header bytes
and never finish, a client that stalls in the middle of its body, a header
section over the limit, and a client that never reads its answers.

The daemon runs with a small connection cap and short timeouts
(server.max_connections, read_timeout, write_timeout, header_limit), and
the tests assert behaviour: real deliveries keep getting 200 while the
abusers hold connections, the abusers are closed by the server, nothing
from an incomplete or refused request is stored. Every wait is bounded;
the bounds are several times the configured timeouts so that a loaded
machine cannot break them.
"""
import json
import socket
import threading
import time

import requests

from conftest import HOST, SECRETS, metric, shopify_order, sign_base64, unique_id, wait_until

CAP = 8
READ_TIMEOUT = 2.0          # seconds, as configured below
WRITE_TIMEOUT = 1.0
SLOW_SERVER = (f"  max_connections: {CAP}\n"
               f"  read_timeout: {int(READ_TIMEOUT * 1000)}ms\n"
               f"  write_timeout: {int(WRITE_TIMEOUT * 1000)}ms\n"
               "  header_limit: 8KiB\n")
GIVE_UP = 30.0              # seconds: far beyond any timeout above


def signed_request(port, raw, webhook_id, extra_headers=""):
    """A complete signed Shopify delivery as bytes: (head, body)."""
    sig = sign_base64(SECRETS["acme"]["shopify"], raw)
    head = (f"POST /webhooks/acme/shopify HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
            f"X-Shopify-Topic: orders/create\r\nX-Shopify-Hmac-Sha256: {sig}\r\n"
            f"X-Shopify-Webhook-Id: {webhook_id}\r\n{extra_headers}\r\n").encode()
    return head, raw


def closed_by_server(sock, timeout):
    """Wait up to `timeout` s for the server to close `sock`; True if it did.
    Data that arrives first is read and ignored (none is expected)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


class Slowloris(threading.Thread):
    """One connection that sends a request line, then one header byte every
    `interval` seconds, forever; records whether and when the server closed
    it."""

    def __init__(self, port, stop, interval=0.25):
        super().__init__(daemon=True)
        self.port, self.stop, self.interval = port, stop, interval
        self.opened = None
        self.closed_after = None     # seconds from connect to the server's close
        self.error = None

    def run(self):
        try:
            s = socket.create_connection((HOST, self.port), timeout=5)
        except OSError as e:
            self.error = e
            return
        self.opened = time.monotonic()
        try:
            s.sendall(b"POST /webhooks/acme/shopify HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while not self.stop.is_set() and time.monotonic() - self.opened < GIVE_UP:
                try:
                    s.sendall(b"a")
                except (BrokenPipeError, ConnectionResetError):
                    self.closed_after = time.monotonic() - self.opened
                    return
                if closed_by_server(s, self.interval):
                    self.closed_after = time.monotonic() - self.opened
                    return
        finally:
            s.close()


def test_slowloris_cannot_lock_out_real_deliveries(ordo_factory):
    # A longer deadline here, so that every attacker is connected well
    # before the first one times out, even on a busy machine.
    o = ordo_factory(extra_server=SLOW_SERVER.replace(
        f"read_timeout: {int(READ_TIMEOUT * 1000)}ms", "read_timeout: 6s"))
    stop = threading.Event()
    attackers = [Slowloris(o.port, stop) for _ in range(2 * CAP)]
    try:
        for a in attackers:
            a.start()
            time.sleep(0.02)
        # While they are at it: real deliveries from fresh connections are
        # answered (each evicts the connection that has waited longest).
        accepted = []
        for _ in range(3):
            oid = unique_id()
            with requests.Session() as fresh:
                r = o.shopify(shopify_order(oid), session=fresh)
            assert r.status_code == 200, r.text
            accepted.append(oid)
        assert o.request("GET", "/healthz").status_code == 200
        # The cap holds: never more than CAP open (this request is one).
        samples = o.metrics()
        assert metric(samples, "ordo_http_connections") <= CAP
        for a in attackers:
            a.join(timeout=GIVE_UP + 5)
    finally:
        stop.set()
    # Every slow connection was closed by the server, though it kept
    # sending bytes: evicted for a newcomer or at its read deadline.
    for a in attackers:
        assert a.error is None, a.error
        assert a.closed_after is not None, "a slowloris connection was never closed"
    samples = o.metrics()
    timed_out = metric(samples, "ordo_http_connections_closed_total", reason="read_timeout")
    evicted = metric(samples, "ordo_http_connections_closed_total", reason="evicted")
    assert timed_out + evicted >= len(attackers), samples
    assert evicted >= len(attackers) - CAP
    assert timed_out >= 1
    for oid in accepted:
        o.wait_order("shopify", oid)


def test_slow_connections_are_closed_at_the_read_timeout(ordo_factory):
    # Under the cap nothing is evicted: the deadline alone closes them.
    o = ordo_factory(extra_server=SLOW_SERVER)
    stop = threading.Event()
    attackers = [Slowloris(o.port, stop) for _ in range(CAP // 2)]
    for a in attackers:
        a.start()
    for a in attackers:
        a.join(timeout=GIVE_UP + 5)
    stop.set()
    for a in attackers:
        assert a.error is None, a.error
        assert a.closed_after is not None, "never closed"
        # Not before its deadline: the read timeout, not a stray error.
        assert a.closed_after >= READ_TIMEOUT * 0.9, a.closed_after
    samples = o.metrics()
    assert metric(samples, "ordo_http_connections_closed_total",
                  reason="read_timeout") == len(attackers)


def test_idle_keep_alive_is_closed_and_busy_connections_are_not(ordo_factory):
    o = ordo_factory(extra_server=SLOW_SERVER)
    s = socket.create_connection((HOST, o.port), timeout=5)
    try:
        oid = unique_id()
        head, body = signed_request(o.port, json.dumps(shopify_order(oid)).encode(), f"wh-{oid}")
        s.sendall(head + body)
        s.settimeout(5)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        # Nothing more is sent: the idle keep-alive goes at the deadline.
        assert closed_by_server(s, GIVE_UP)
    finally:
        s.close()
    o.wait_order("shopify", oid)


def test_a_stalled_body_is_closed_and_nothing_is_stored(ordo_factory):
    o = ordo_factory(extra_server=SLOW_SERVER)
    oid = unique_id()
    raw = json.dumps(shopify_order(oid)).encode()
    head, body = signed_request(o.port, raw, f"wh-{oid}")
    s = socket.create_connection((HOST, o.port), timeout=5)
    try:
        s.sendall(head + body[: len(body) // 2])
        # Nothing more arrives; the server closes without an answer...
        start = time.monotonic()
        assert closed_by_server(s, GIVE_UP), "a stalled body held its connection"
        assert time.monotonic() - start >= READ_TIMEOUT * 0.5
        # ...and the rest, sent late, finds no one.
        try:
            s.sendall(body[len(body) // 2:])
            s.settimeout(2)
            late = s.recv(65536)
        except OSError:
            late = b""
        assert late == b"", late
    finally:
        s.close()
    assert o.find("shopify", oid) == []
    samples = o.metrics()
    assert metric(samples, "ordo_webhooks_total") == 0
    # The same delivery, sent whole, is accepted: it was never half stored.
    r = o.shopify(shopify_order(oid), webhook_id=f"wh-{oid}")
    assert r.status_code == 200 and r.json()["duplicate"] is False, r.text


def test_a_header_section_over_the_limit_is_refused(ordo_factory):
    o = ordo_factory(extra_server=SLOW_SERVER)           # header_limit: 8KiB
    over, under = unique_id(), unique_id()
    big = "X-Pad: " + "a" * (16 * 1024) + "\r\n"
    head, body = signed_request(o.port, json.dumps(shopify_order(over)).encode(),
                                f"wh-{over}", extra_headers=big)
    s = socket.create_connection((HOST, o.port), timeout=5)
    try:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        s.settimeout(5)
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    # evhttp answers 400 (some servers say 431); either way it is refused.
    assert data.split(b" ", 2)[1] in (b"400", b"431"), data[:200]
    # Headers just under the limit are fine.
    r = o.shopify(shopify_order(under), headers={"X-Pad": "a" * 4096})
    assert r.status_code == 200, r.text
    o.wait_order("shopify", under)
    assert o.find("shopify", over) == []
    samples = o.metrics()
    assert metric(samples, "ordo_webhooks_total", outcome="accepted") == 1


def test_default_header_limit_refuses_a_huge_header(ordo):
    oid = unique_id()
    r = ordo.shopify(shopify_order(oid), headers={"X-Pad": "a" * (100 * 1024)})
    assert r.status_code in (400, 431), r.text
    assert ordo.find("shopify", oid) == []


def test_a_client_that_never_reads_its_answers_is_dropped(ordo_factory):
    o = ordo_factory(extra_server=SLOW_SERVER)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A tiny receive window: the server's answers back up at once.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((HOST, o.port))
    status = b"HTTP/1.1 200 "
    try:
        # Pipeline far more answers than the kernel buffers can hold (each
        # /metrics page is over a kilobyte; 20000 are tens of MB), without
        # reading any of them.
        req = f"GET /metrics HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        blob = req * 20000
        s.setblocking(False)
        sent, deadline = 0, time.monotonic() + 5
        while sent < len(blob) and time.monotonic() < deadline:
            try:
                sent += s.send(blob[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        asked = sent // len(req)
        # Stall past the write timeout, then read: what the kernel had
        # buffered comes out, then the end, well before every answer.
        time.sleep(WRITE_TIMEOUT * 3)
        s.setblocking(True)
        s.settimeout(5)
        answers, tail, end = 0, b"", False
        deadline = time.monotonic() + GIVE_UP
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                break
            except ConnectionResetError:
                end = True
                break
            if not chunk:
                end = True
                break
            buf = tail + chunk
            answers += buf.count(status)
            tail = buf[-(len(status) - 1):]
    finally:
        s.close()
    # (The close may come as a reset that discards what was buffered, so
    # only "fewer than asked" is certain.)
    assert end, "a client that never reads kept its connection"
    assert answers < asked, (answers, asked)
    samples = o.metrics()
    assert metric(samples, "ordo_http_connections_closed_total", reason="read_timeout") == 0
    # Everyone else is still served.
    assert o.request("GET", "/healthz").status_code == 200


def stalled_reader(port, timeout=10):
    """A connection with pipelined requests whose answers it never reads;
    returned, with the bytes it got to send, once the server has stopped
    taking its requests (it is stuck writing an answer: busy)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((HOST, port))
    s.setblocking(False)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    blob = f"GET /metrics HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode() * 400000
    sent, blocked_since, deadline = 0, None, time.monotonic() + timeout
    while sent < len(blob) and time.monotonic() < deadline:
        try:
            sent += s.send(blob[sent:sent + 65536])
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 0.5:
                return s, sent
            time.sleep(0.01)
    s.close()
    raise AssertionError("the server kept reading a client that never reads")


def test_pipelined_input_is_not_buffered_without_end(ordo_factory):
    # evhttp keeps reading while it answers a GET; a client that pipelines
    # without reading would have the daemon buffer all it sends. Now the
    # daemon stops reading past one request's worth (header_limit +
    # body_limit) and TCP holds the client back.
    o = ordo_factory(extra_server=SLOW_SERVER.replace(
        f"write_timeout: {int(WRITE_TIMEOUT * 1000)}ms", "write_timeout: 8s"))
    s, sent = stalled_reader(o.port)
    s.close()
    # The kernel buffers on both sides take a few MB at most; 16 MB were
    # offered (the daemon used to swallow all of it in seconds).
    assert sent < 12 * 1024 * 1024, sent
    assert o.request("GET", "/healthz").status_code == 200


def test_a_new_connection_is_refused_while_all_others_are_busy(ordo_factory):
    o = ordo_factory(extra_server=SLOW_SERVER.replace(
        f"write_timeout: {int(WRITE_TIMEOUT * 1000)}ms", "write_timeout: 8s"))
    stuck = []
    try:
        for _ in range(CAP):
            stuck.append(stalled_reader(o.port)[0])
        # Every connection is busy writing an answer: none can be evicted,
        # so the newcomer is closed at once, without an answer.
        s = socket.create_connection((HOST, o.port), timeout=5)
        try:
            try:
                s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                pass
            got = b""
            s.settimeout(10)
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except (ConnectionResetError, socket.timeout):
                pass
        finally:
            s.close()
        assert b"HTTP/1.1" not in got, got[:200]
    finally:
        for x in stuck:
            x.close()
    # The stuck ones go (closed by their client here, or at the write
    # timeout); then everyone is served again.
    wait_until(lambda: o.request("GET", "/healthz").status_code == 200, timeout=GIVE_UP,
               what="/healthz once the busy connections are gone")
    samples = o.metrics()
    assert metric(samples, "ordo_http_connections_closed_total", reason="refused") >= 1
