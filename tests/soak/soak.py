#!/usr/bin/python3
"""
Crash soak: `ordo serve` under load, killed with SIGKILL at random moments,
restarted on the same database, again and again; then the database is
checked against every answer the load generator got.

    make soak ROUNDS=20          # or: python3 tests/soak/soak.py --rounds 20
    make soak-short              # 3 rounds, part of `make test`

One round: start the daemon (same config, same database, same port), let
the senders (loadgen.py) hit it for a random 0.2-1.5 s, `kill -9`. The
senders never stop between rounds: while the daemon is down they are
refused and queue resends, as a storefront would. After the last round the
daemon is started once more, the senders stop, a share of the deliveries
that never got a 200 are re-sent, the inbox is given a bounded time to
drain, the daemon gets SIGTERM (must exit 0), and check.py compares the
delivery log with the database (read-only).

Config: like the e2e harness (tests/e2e/conftest.py): durability full,
retry 3 attempts 10-50 ms, acme on workflows/standard.lua paying through the
e2e tests' fake Stripe-style gateway (tests/e2e/fakes.py, a real HTTP
server on 127.0.0.1 answering after 10 ms, so kills land while payment
requests are in flight), and beta on a workflow that records the order and
notes every event it runs (so an event run twice is visible). After the
drain the gateway's record (every request, every payment intent) goes to
gateway.json and check.py holds it against the database. A temporary directory holds config, database, daemon
logs and the delivery log; it is removed on success unless --keep, and kept
(and printed) on failure.

Exit status: 0 clean, 1 any loss, duplication, stuck event or daemon
misbehaviour, 2 the soak itself could not run.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import check
import loadgen

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import fakes  # noqa: E402  (the e2e tests' fake gateway: a real HTTP server)

GATEWAY_KEY = "sk_test_soak"
GATEWAY_MERCHANTS = ("acme",)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
DRAIN_TIMEOUT = 60.0

ACME_KEY = "acme-api-key-0123456789abcdef"
BETA_KEY = "beta-api-key-0123456789abcdef"

# beta: record the order, note every event run with its id, and move
# stock: reserve what is there, backorder the rest, and receive one unit of
# the first line's SKU (which serves the backorder queue: each order served
# gets backorder_allocated, noted too). check.py then holds every stock row
# to its ledger and its reservations.
BETA_WORKFLOW = """\
return {
  order_created = function(ev)
    local order, created = orders.create(ev.order)
    orders.note(order, "soak event " .. ev.id)
    if not created then return end
    local r = inventory.reserve(order)
    if #r.short > 0 then inventory.backorder(order, r.short) end
    inventory.receive(order.lines[1].sku, "main", 1, "soak delivery")
  end,
  backorder_allocated = function(ev)
    orders.note(ev.order_id, "soak event " .. ev.id)
  end,
}
"""


def q(v):
    return json.dumps(str(v))


def write_config(work, port, gateway_url):
    (work / "beta.lua").write_text(BETA_WORKFLOW)
    cfg = work / "ordo.yaml"
    cfg.write_text(f"""\
server:
  listen: "127.0.0.1:{port}"
  database: {q(work / "ordo.db")}
  durability: full
  body_limit: "64KiB"
  scripts: {q(ROOT / "scripts")}
  retry:
    max_attempts: 3
    base_delay: "10ms"
    max_delay: "50ms"
merchants:
  - id: acme
    name: "Acme Widgets"
    currency: USD
    timezone: "America/New_York"
    workflow: {q(ROOT / "workflows" / "standard.lua")}
    api_keys: [{q(ACME_KEY)}]
    channels:
      shopify:
        secret: {q(loadgen.SECRETS["acme"])}
    payments:
      gateway: stripe
      base_url: {q(gateway_url)}
      api_key: {q(GATEWAY_KEY)}
    effects:
      timeout: "2s"
      concurrency: 16
      max_attempts: 50
      base_delay: "10ms"
      max_delay: "200ms"
  - id: beta
    name: "Beta Goods"
    currency: EUR
    timezone: "Europe/Berlin"
    workflow: {q(work / "beta.lua")}
    api_keys: [{q(BETA_KEY)}]
    locations:
      - {{ id: main }}
    channels:
      shopify:
        secret: {q(loadgen.SECRETS["beta"])}
""")
    return cfg


def pick_port(rnd):
    """A free port below the ephemeral range: a client socket can never be
    given it as its own local port (no TCP self-connect while the daemon is
    down), and it stays the same across restarts like a real deployment."""
    for _ in range(200):
        port = rnd.randint(20000, 32000)
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((loadgen.HOST, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 20000-32000")


class Daemon:
    def __init__(self, binary, cfg, work, port):
        self.binary, self.cfg, self.work, self.port = binary, cfg, work, port
        self.proc = None
        self.runs = 0
        self.log = None

    def start(self):
        self.runs += 1
        self.log_path = self.work / f"ordo-{self.runs}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "-c", str(self.cfg)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=str(self.work))
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ordo run {self.runs} exited {self.proc.returncode} "
                                   f"while starting\n{self.tail()}")
            if b'"listening"' in self.log_path.read_bytes():
                return
            time.sleep(0.01)
        raise RuntimeError(f"ordo run {self.runs} did not log 'listening' within "
                           f"{START_TIMEOUT}s\n{self.tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=5)
        self.log.close()

    def stop(self):
        """SIGTERM; return the exit status (None if it had to be killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            rc = None
        self.log.close()
        return rc

    def tail(self, n=30):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    def error_lines(self):
        """Log records at level error, across all runs (for the report)."""
        out = []
        for r in range(1, self.runs + 1):
            p = self.work / f"ordo-{r}.log"
            for line in p.read_text(errors="replace").splitlines():
                if '"level":"error"' in line or '"level":"fatal"' in line:
                    out.append(f"run {r}: {line}")
                elif not line.startswith("{"):
                    out.append(f"run {r} (not JSON): {line}")
        return out


def healthz(port):
    try:
        with urllib.request.urlopen(f"http://{loadgen.HOST}:{port}/healthz", timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def effects_pending(db):
    """Effects not yet finished (read-only; -1 if the database says no)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM effects WHERE status = 'pending'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def drain(port, timeout, db):
    """Wait (bounded) until /healthz reports an empty inbox and no effect is
    pending, twice in a row (an effect's answer is a new inbox event)."""
    end, zeros, last = time.monotonic() + timeout, 0, None
    while time.monotonic() < end:
        h = healthz(port)
        last = h
        if h and h.get("inbox_depth") == 0 and effects_pending(db) == 0:
            zeros += 1
            if zeros >= 2:
                return True, h
        else:
            zeros = 0
        time.sleep(0.1)
    return False, last


def save_gateway(gateway, path):
    """What the fake gateway saw, for check.py: every request (operation,
    path, form, idempotency key, how it was answered) and every payment
    intent with its captures and refunds."""
    with gateway.lock:
        record = {
            "requests": [{"op": r.op, "path": r.path, "form": getattr(r, "form", {}),
                          "key": r.key, "outcome": getattr(r, "outcome", None)}
                         for r in gateway.requests],
            "intents": [{"id": pi["id"], "metadata": pi["metadata"],
                         "captures": list(pi["captures"]),
                         "refunds": [rf["amount"] for rf in pi["refunds"]]}
                        for pi in gateway.intents.values()],
        }
    path.write_text(json.dumps(record))


def main():
    ap = argparse.ArgumentParser(description="ordo crash soak (kill -9 under load)")
    ap.add_argument("--ordo", default=str(ROOT / "build" / "ordo"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--kill-min", type=float, default=0.2, help="seconds after 'listening'")
    ap.add_argument("--kill-max", type=float, default=1.5)
    ap.add_argument("--senders", type=int, default=6, help="concurrent keep-alive connections")
    ap.add_argument("--rate", type=float, default=0, help="total requests/s cap (0: none)")
    ap.add_argument("--resend-final", type=float, default=0.5,
                    help="share of never-acknowledged deliveries re-sent at the end")
    ap.add_argument("--max-deliveries", type=int, default=200000)
    ap.add_argument("--paid", type=float, default=0.85,
                    help="share of acme's good orders sent already paid; the rest pay"
                         " through the fake gateway (authorize, capture)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workdir", default=None, help="default: a new temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if not 0 < a.rounds <= 1000 or not 0 < a.kill_min <= a.kill_max <= 60:
        ap.error("rounds must be 1..1000 and 0 < kill-min <= kill-max <= 60")

    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(10**9)
    rnd = random.Random(seed)
    binary = os.path.abspath(a.ordo)
    if not os.access(binary, os.X_OK):
        print(f"soak: no executable {binary}; run make first", file=sys.stderr)
        return 2
    if a.workdir:
        work = Path(a.workdir)
        work.mkdir(parents=True, exist_ok=True)
        for p in ("ordo.db", "ordo.db-wal", "ordo.db-shm"):
            (work / p).unlink(missing_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="ordo-soak-"))
    port = pick_port(rnd)
    gateway = fakes.FakeGateway(api_key=GATEWAY_KEY).start()
    gateway.set_latency(0.01)
    cfg = write_config(work, port, gateway.url)
    print(f"soak: {a.rounds} rounds, kill -9 after {a.kill_min}-{a.kill_max}s, "
          f"{a.senders} connections, seed {seed}, port {port}, work {work}", flush=True)

    target = loadgen.Target(port)
    dlog = loadgen.Log(work / "deliveries.jsonl")
    load = loadgen.Load(target, dlog, seed=seed, senders=a.senders, rate=a.rate,
                        max_deliveries=a.max_deliveries, paid_p=a.paid)
    # Run a private copy: a rebuild of build/ordo during the soak (other
    # work in the same tree) must not change or break the binary under test.
    shutil.copy2(binary, work / "ordo")
    daemon = Daemon(str(work / "ordo"), cfg, work, port)
    broken = False
    problems = []            # (rule, text) found by the driver itself
    t0 = time.monotonic()
    # Everything below is bounded: rounds * (start + kill-max) plus the end.
    deadline = t0 + a.rounds * (START_TIMEOUT + a.kill_max + 5) + 120
    try:
        try:
            for r in range(1, a.rounds + 1):
                target.run = r
                daemon.start()
                target.up()
                if r == 1:
                    load.start(deadline)
                delay = rnd.uniform(a.kill_min, a.kill_max)
                before = sum(load.counts().values())
                time.sleep(delay)
                if not daemon.alive():
                    target.down()
                    problems.append(("daemon died on its own",
                                     f"run {r} exited {daemon.proc.returncode} before the "
                                     f"kill:\n{daemon.tail()}"))
                    daemon.log.close()
                    continue
                target.down()
                daemon.kill9()
                now = load.counts()
                print(f"  round {r:3d}: killed after {delay:.2f}s; "
                      f"{sum(now.values()) - before} requests; totals so far {now}", flush=True)
            # The last start: the storefront's final retries, then the drain.
            target.run = a.rounds + 1
            daemon.start()
            target.up()
            time.sleep(0.3)             # the senders meet the restarted daemon
            if not load.finish():
                problems.append(("soak", "a sender did not stop within 15 s"))
            n = load.resend_unresolved(a.resend_final, time.monotonic() + 30, rnd)
            print(f"  final: re-sent {n} of the deliveries that never got a 200", flush=True)
            drained, h = drain(port, DRAIN_TIMEOUT, work / "ordo.db")
            if not drained:
                problems.append(("stuck", f"the inbox did not drain within {DRAIN_TIMEOUT}s "
                                 f"(last /healthz {h}, effects pending "
                                 f"{effects_pending(work / 'ordo.db')})"))
            if not daemon.alive():
                problems.append(("daemon died on its own",
                                 f"final run exited {daemon.proc.returncode}:\n{daemon.tail()}"))
            else:
                target.down()
                rc = daemon.stop()
                if rc != 0:
                    problems.append(("sigterm", f"final run exited {rc} after SIGTERM "
                                     f"(want 0):\n{daemon.tail()}"))
        except RuntimeError as e:       # the daemon would not start
            print(f"soak: {e}", file=sys.stderr)
            problems.append(("daemon start", str(e).splitlines()[0]))
        except OSError as e:            # the soak itself could not go on
            print(f"soak: cannot run: {e!r}", file=sys.stderr)
            broken = True
    finally:
        load.finish()
        if daemon.alive():
            target.down()
            daemon.kill9()
        dlog.close()
        gateway.stop()
        save_gateway(gateway, work / "gateway.json")
    elapsed = time.monotonic() - t0

    if broken:
        print(f"soak: artefacts in {work}", file=sys.stderr)
        return 2
    errs = daemon.error_lines()
    sent = sum(load.counts().values())
    print(f"\nsoak: {a.rounds} rounds in {elapsed:.1f}s, {sent} requests "
          f"({sent / max(elapsed, 1e-9):.0f}/s), "
          f"{daemon.runs} daemon starts, {len(errs)} error log lines")
    for line in errs[:5]:
        print(f"  {line[:300]}")
    try:
        n = check.run(work / "ordo.db", work / "deliveries.jsonl", problems,
                      gateway_path=work / "gateway.json", gateway_merchants=GATEWAY_MERCHANTS)
    except Exception as e:          # the checker itself broke: keep the evidence
        print(f"soak: checker failed: {e!r}", file=sys.stderr)
        n = 1
    if n or a.keep or a.workdir:
        print(f"soak: artefacts in {work} (re-check: python3 {Path(__file__).with_name('check.py')}"
              f" --db {work / 'ordo.db'} --log {work / 'deliveries.jsonl'}"
              f" --gateway {work / 'gateway.json'} --gateway-merchant acme; seed {seed})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
