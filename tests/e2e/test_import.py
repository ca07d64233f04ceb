"""
`ordo import inventory FILE.csv` on the real binary and a real database:
good rows applied, bad rows named by line, a broken file applies nothing,
and the daemon serving the same database sees the counts.
"""
import sqlite3

from conftest import ORDO_BIN, run_ordo, wait_until
from test_inventory import BACKORDER_FLOW, LOCATIONS


def stock(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(((s, l), n) for s, l, n in con.execute("SELECT sku, location, on_hand FROM stock"))
    finally:
        con.close()


def test_import_applies_good_rows_and_names_bad_ones(ordo_factory, tmp_path):
    ordo = ordo_factory(beta_workflow=BACKORDER_FLOW, beta_extra=LOCATIONS)
    csv = tmp_path / "counts.csv"
    csv.write_text("sku,location,on_hand,reason\n"
                   "MUG,portland,10,count\n"
                   '"CUP, large",reno,5,\n'
                   "PEN,mars,3,\n"
                   ",portland,2,\n"
                   "LID,portland,-4,\n")
    r = run_ordo("import", "inventory", "-c", ordo.config, "--merchant", "beta", csv)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "5 rows: 2 applied, 3 rejected" in r.stdout
    assert f"{csv}:4: unknown location \"mars\"" in r.stderr
    assert f"{csv}:5: the sku is empty" in r.stderr
    assert f"{csv}:6: on_hand must be a whole number from 0" in r.stderr
    assert "import: 100%" in r.stderr, "progress lines when not on a terminal"
    assert stock(ordo.db) == {("MUG", "portland"): 10, ("CUP, large", "reno"): 5}
    # The running daemon sees them.
    got = ordo.api("GET", "inventory", "beta", params={"sku": "MUG"}).json()["stock"]
    assert got[0]["on_hand"] == 10

    broken = tmp_path / "broken.csv"
    broken.write_text('sku,location,on_hand\nBAG,portland,4\n"unterminated,portland,1\n')
    r = run_ordo("import", "inventory", "-c", ordo.config, "--merchant", "beta", broken)
    assert r.returncode == 1 and "import failed, nothing applied" in r.stderr, r.stderr
    assert ("BAG", "portland") not in stock(ordo.db)

    good = tmp_path / "good.csv"
    good.write_text("location,on_hand,sku\nreno,7,MUG\n")
    r = run_ordo("import", "inventory", "-c", ordo.config, "--merchant", "beta", good)
    assert r.returncode == 0 and "1 rows: 1 applied, 0 rejected" in r.stdout, (r.stdout, r.stderr)

    assert run_ordo("import", "inventory", "-c", ordo.config, "--merchant", "nobody",
                    good).returncode == 2
    assert run_ordo("import", "widgets", "-c", ordo.config).returncode == 2
