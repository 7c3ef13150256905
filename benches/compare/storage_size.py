#!/usr/bin/env python3
"""Loads the TSBS cpu-only CSV (from `strata-tools gen-cpu --format csv`) into DuckDB and
chDB (embedded ClickHouse) as plain tables and prints, as one JSON object on stdout, the rows
loaded, the load time and the bytes on disk of each.

Called by `strata-bench-storage`, which runs it in the same invocation as Strata's own
measurement. Usage: storage_size.py CSV_PATH WORK_DIR
"""
import json
import os
import sys
import time

TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def duckdb_size(csv, work):
    import duckdb
    path = os.path.join(work, "cpu.duckdb")
    con = duckdb.connect(path)
    cols = {"time": "TIMESTAMPTZ", **{t: "VARCHAR" for t in TAGS}, **{f: "DOUBLE" for f in FIELDS}}
    col_sql = ", ".join(f"{k} {v}" for k, v in cols.items())
    con.execute(f"CREATE TABLE cpu ({col_sql})")
    start = time.perf_counter()
    con.execute(f"INSERT INTO cpu SELECT * FROM read_csv('{csv}', header=true, columns={cols!r})")
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM cpu").fetchone()[0]
    con.close()
    files = [p for p in os.listdir(work) if p.startswith("cpu.duckdb")]
    size = sum(os.path.getsize(os.path.join(work, p)) for p in files)
    return {"engine": f"DuckDB {duckdb.__version__}", "rows": rows, "bytes": size,
            "load_s": load_s, "layout": "plain table, insertion order, database file after CHECKPOINT"}


def chdb_size(csv, work):
    import chdb
    from chdb import session
    path = os.path.join(work, "chdb")
    sess = session.Session(path)
    cols = ["time DateTime64(9, 'UTC')"] + [f"{t} String" for t in TAGS] + [f"{f} Float64" for f in FIELDS]
    sess.query("CREATE DATABASE IF NOT EXISTS bench")
    sess.query(f"CREATE TABLE bench.cpu ({', '.join(cols)}) ENGINE = MergeTree ORDER BY (hostname, time)")
    start = time.perf_counter()
    structure = ", ".join(cols).replace("'", "\\'")
    sess.query(
        f"INSERT INTO bench.cpu SELECT * FROM file('{csv}', CSVWithNames, '{structure}')"
        " SETTINGS date_time_input_format = 'best_effort'")
    sess.query("OPTIMIZE TABLE bench.cpu FINAL")
    load_s = time.perf_counter() - start
    rows = int(str(sess.query("SELECT count() FROM bench.cpu", "CSV")).strip())
    size = int(str(sess.query(
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'bench' AND table = 'cpu' AND active",
        "CSV")).strip())
    version = getattr(chdb, "__version__", "?")
    sess.close()
    return {"engine": f"chDB {version}", "rows": rows, "bytes": size, "load_s": load_s,
            "layout": "MergeTree ORDER BY (hostname, time), default codecs, after OPTIMIZE FINAL"}


def main():
    csv, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    out = {}
    for name, fn in (("duckdb", duckdb_size), ("chdb", chdb_size)):
        try:
            out[name] = fn(csv, work)
        except Exception as e:  # reported, not hidden: the driver prints it in the table
            out[name] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
