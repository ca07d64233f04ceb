"""
Safe script changes: the daemon watches workflow files and scripts/ and
swaps a merchant's script only when the new version loads; `ordo check`
warnings.

  - an edit while deliveries flow: every delivery handled exactly once, by
    the old or the new version (never another), and after the swap by the
    new one;
  - a broken edit (a syntax error, an error while loading) keeps the old
    version serving; the error (file, line, the offending line) is in the
    log, on /metrics and in GET /api/v1/workflow; fixing the file reloads;
  - `ordo check` warns, with file:line, on a handler for an event nothing
    raises and on a global read but never defined (exit 0; --strict 1).
"""
import os
import sqlite3
import threading
import time

from conftest import (BETA_RECORD, metric, run_ordo, shopify_order, unique_id,
                      wait_until, write_config)

BETA_V2 = BETA_RECORD.replace("orders.create(ev.order)",
                              "local o = orders.create(ev.order)\n    orders.tag(o, \"v2\")")


def save_like_an_editor(path, text):
    """Write a new file beside it and rename it over the old one."""
    tmp = path.with_name(path.name + ".swp~")
    tmp.write_text(text)
    os.replace(tmp, path)


def workflow(ordo, merchant="beta"):
    r = ordo.api("GET", "workflow", merchant=merchant)
    assert r.status_code == 200, r.text
    return r.json()


def beta_inbox(ordo):
    db = sqlite3.connect(ordo.db)
    try:
        return db.execute(
            "SELECT id, status, attempts, script_version, event_name FROM inbox"
            " WHERE merchant = 'beta' AND source = 'webhook' ORDER BY id").fetchall()
    finally:
        db.close()


def test_edit_while_webhooks_flow(ordo):
    before = workflow(ordo)
    old = before["version"]
    assert len(old) == 12 and before["error"] is None and before["loaded_at"]
    assert before["file"].endswith("beta.lua")

    total = 300
    bodies = [shopify_order(unique_id(), currency="EUR") for _ in range(total)]
    sent = [0]
    statuses = []

    def stream():
        import requests
        s = requests.Session()
        for body in bodies:
            statuses.append(ordo.shopify(body, merchant="beta", session=s).status_code)
            sent[0] += 1
        s.close()

    t = threading.Thread(target=stream)
    t.start()
    try:
        wait_until(lambda: sent[0] >= 50, what="the first deliveries")
        save_like_an_editor(ordo.tmp / "beta.lua", BETA_V2)
        wait_until(lambda: workflow(ordo)["version"] != old, what="the new version")
        after_swap = sent[0]   # deliveries from this index on were sent after the swap
    finally:
        t.join(timeout=60)
    assert not t.is_alive()
    assert statuses == [200] * total

    new = workflow(ordo)["version"]
    assert new != old and workflow(ordo)["error"] is None
    rec = ordo.wait_log(lambda r: r.get("msg") == "workflow reloaded" and r.get("merchant") == "beta")
    assert rec["version"] == new and rec["previous"] == old

    rows = wait_until(lambda: (lambda rs: rs if len(rs) == total and
                                all(r[1] == "done" for r in rs) else None)(beta_inbox(ordo)),
                      what="every delivery processed")
    assert all(r[2] == 1 for r in rows), "an event was handled more than once"
    versions = [r[3] for r in rows]
    assert set(versions) <= {old, new}
    assert versions.count(old) >= 50 and new in versions
    assert all(v == new for v in versions[after_swap:])
    # Once the new version handled an event, no later event went back to the old one.
    first_new = versions.index(new)
    assert all(v == new for v in versions[first_new:])

    # The orders show it too: exactly one per delivery, tagged from the swap on.
    db = sqlite3.connect(ordo.db)
    try:
        n, tagged = db.execute(
            "SELECT COUNT(*), SUM(tags LIKE '%\"v2\"%') FROM orders WHERE merchant = 'beta'"
        ).fetchone()
    finally:
        db.close()
    assert n == total
    assert tagged == versions.count(new)


def wait_failed(ordo, n):
    """The n-th 'reload failed' log record of beta."""
    def look():
        recs = [r for r in ordo.records()
                if r.get("msg", "").startswith("workflow reload failed") and r.get("merchant") == "beta"]
        return recs[n - 1] if len(recs) >= n else None
    return wait_until(look, what=f"reload failure {n}")


def test_broken_edit_keeps_the_old_script(ordo):
    path = ordo.tmp / "beta.lua"
    old = workflow(ordo)["version"]

    # 1. A syntax error on line 3.
    save_like_an_editor(path, "return {\n  order_created = function(ev)\n    orders.create(ev.order\n  end,\n}\n")
    rec = wait_failed(ordo, 1)
    assert rec["file"].endswith("beta.lua") and rec["line"] == "4", rec
    assert "')' expected" in rec["error"]
    assert rec["snippet"] == "end,"
    wf = workflow(ordo)
    assert wf["version"] == old
    assert wf["error"]["file"].endswith("beta.lua") and wf["error"]["line"] == 4
    assert wf["error"]["snippet"] == "end,"
    assert "')' expected" in wf["error"]["message"]
    samples = ordo.metrics()
    assert metric(samples, "ordo_workflow_load_failed", merchant="beta") == 1
    assert metric(samples, "ordo_workflow_load_failed", merchant="acme") == 0
    assert metric(samples, "ordo_workflow_last_failure_timestamp_seconds", merchant="beta") > 0

    # The old script still serves.
    ext = unique_id()
    assert ordo.shopify(shopify_order(ext, currency="EUR"), merchant="beta").status_code == 200
    ordo.wait_order("shopify", str(ext), merchant="beta")

    # 2. Compiles, but raises while loading (line 2).
    path.write_text("local flow = {}\nlocal x = nil + 1\nreturn flow\n")
    rec = wait_failed(ordo, 2)
    assert rec["line"] == "2" and rec["snippet"] == "local x = nil + 1"
    assert "arithmetic" in rec["error"]
    wf = workflow(ordo)
    assert wf["version"] == old and wf["error"]["line"] == 2
    assert wf["error"]["snippet"] == "local x = nil + 1"

    ext2 = unique_id()
    assert ordo.shopify(shopify_order(ext2, currency="EUR"), merchant="beta").status_code == 200
    ordo.wait_order("shopify", str(ext2), merchant="beta")
    assert {r[3] for r in beta_inbox(ordo)} == {old}

    # 3. Fixed: it reloads, the error is gone.
    path.write_text(BETA_V2)
    wait_until(lambda: workflow(ordo)["version"] != old, what="the fixed version")
    wf = workflow(ordo)
    assert wf["error"] is None
    assert metric(ordo.metrics(), "ordo_workflow_load_failed", merchant="beta") == 0
    ext3 = unique_id()
    assert ordo.shopify(shopify_order(ext3, currency="EUR"), merchant="beta").status_code == 200
    order = ordo.wait_order("shopify", str(ext3), merchant="beta")
    assert "v2" in order["tags"]
    assert beta_inbox(ordo)[-1][3] == wf["version"]


def test_module_edit_changes_the_version(ordo):
    """The version covers the modules the workflow requires, not only its file."""
    v0 = workflow(ordo)["version"]
    mod = ordo.tmp / "beta_helpers.lua"
    mod.write_text("return { tag = 'one' }\n")
    save_like_an_editor(ordo.tmp / "beta.lua", (
        "local h = require 'beta_helpers'\n"
        "return { order_created = function(ev)\n"
        "  local o = orders.create(ev.order); orders.tag(o, h.tag) end }\n"))
    wait_until(lambda: workflow(ordo)["version"] != v0, what="the workflow edit")
    v1 = workflow(ordo)["version"]
    save_like_an_editor(mod, "return { tag = 'two' }\n")
    wait_until(lambda: workflow(ordo)["version"] != v1, what="the module edit to reload beta")
    ext = unique_id()
    assert ordo.shopify(shopify_order(ext, currency="EUR"), merchant="beta").status_code == 200
    assert "two" in ordo.wait_order("shopify", str(ext), merchant="beta")["tags"]
    assert beta_inbox(ordo)[-1][3] == workflow(ordo)["version"]
    # acme does not load beta's files: it was never reloaded.
    assert not [r for r in ordo.records()
                if r.get("msg") == "workflow reloaded" and r.get("merchant") == "acme"]


def test_workflow_route_needs_a_key(ordo):
    assert ordo.api("GET", "workflow", key="").status_code == 401
    assert ordo.api("POST", "workflow").status_code == 405
    wf = workflow(ordo, "acme")
    assert wf["file"] == "workflows/standard.lua" and wf["error"] is None


CHECKED = """\
local flow = {}

function flow.order_created(ev)
  local order = orders.create(ev.order)
  if order.total > LIMIT then
    orders.tag(order, "big")
  end
  timers.after("1d", "follow_up", { order_id = order.id })
end

function flow.follow_up(ev)
  notfy.customer(ev.order, "follow_up")
end

function flow.order_creatd(ev)
  orders.create(ev.order)
end

return flow
"""


def test_check_warns_with_file_and_line(tmp_path):
    cfg = write_config(tmp_path, beta_workflow=CHECKED)
    r = run_ordo("check", "-c", cfg)
    assert r.returncode == 0, r.stderr
    beta = str(tmp_path / "beta.lua")
    lines = [l for l in r.stderr.splitlines() if "warning:" in l]
    assert f"{beta}:15: warning: handler 'order_creatd' is for an event that nothing raises" \
        in r.stderr, r.stderr
    assert f"{beta}:5: warning: global 'LIMIT' is read but never defined" in r.stderr
    assert f"{beta}:12: warning: global 'notfy' is read but never defined" in r.stderr
    # follow_up is a timer the script sets; order_created a storefront event;
    # the shipped standard workflow (acme) and scripts/ are clean.
    assert len(lines) == 3, r.stderr
    assert "3 warnings" in r.stdout
    strict = run_ordo("check", "-c", cfg, "--strict")
    assert strict.returncode == 1

    (tmp_path / "clean").mkdir()
    clean = write_config(tmp_path / "clean", beta_workflow=BETA_RECORD)
    r = run_ordo("check", "-c", clean, "--strict")
    assert r.returncode == 0 and "0 warnings" in r.stdout, r.stderr


def test_a_symlinked_workflow_reloads_when_its_target_is_edited(ordo):
    """Deploying by symlink (the workflow file points into a release
    folder): an edit of the target reloads, like an edit in place."""
    import os
    from pathlib import Path
    beta = Path(ordo.tmp) / "beta.lua"
    release = Path(ordo.tmp) / "release"
    release.mkdir()
    text = beta.read_text()
    (release / "beta.lua").write_text(text + "\n-- v2\n")
    v0 = workflow(ordo)["version"]
    link = beta.with_name("beta.lua.lnk")
    os.symlink(release / "beta.lua", link)
    os.replace(link, beta)
    wait_until(lambda: workflow(ordo)["version"] != v0, what="the reload after the symlink swap")
    v1 = workflow(ordo)["version"]
    save_like_an_editor(release / "beta.lua", text + "\n-- v3\n")
    wait_until(lambda: workflow(ordo)["version"] not in (v0, v1), what="the reload after editing the target")


def test_symlink_loops_in_scripts_do_not_stall_the_start(ordo_factory, tmp_path):
    """scripts/ with links back to itself (a -> ., b -> ., c -> .): the
    watch sees each folder once, so the daemon listens at once (it used to
    walk the loops 16 levels deep before listening)."""
    import os
    import shutil
    from conftest import ROOT
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", scripts)
    for name in ("a", "b", "c"):
        os.symlink(".", scripts / name)
    o = ordo_factory(edit=lambda t: t.replace(str(ROOT / "scripts"), str(scripts)))
    assert o.request("GET", "/healthz").status_code == 200


def test_a_replaced_scripts_folder_is_watched_again(ordo_factory, tmp_path):
    """A deploy that removes scripts/ and copies a new one in its place: the
    watch notices the folder is back and reloads what used it, and keeps
    watching it (the kernel drops a deleted folder's watch)."""
    import shutil
    from conftest import ROOT
    scripts = tmp_path / "scripts"
    shutil.copytree(ROOT / "scripts", scripts)
    o = ordo_factory(edit=lambda t: t.replace(str(ROOT / "scripts"), str(scripts)))
    v0 = workflow(o, "beta")["version"]
    shutil.rmtree(scripts)
    shutil.copytree(ROOT / "scripts", scripts)
    common = scripts / "channels" / "shopify.lua"
    common.write_text(common.read_text() + "\n-- v2\n")
    wait_until(lambda: workflow(o, "beta")["version"] != v0, timeout=15,
               what="the reload once the folder is back")
    v1 = workflow(o, "beta")["version"]
    save_like_an_editor(common, common.read_text() + "\n-- v3\n")
    wait_until(lambda: workflow(o, "beta")["version"] not in (v0, v1), timeout=15,
               what="the reload after an edit in the new folder")
