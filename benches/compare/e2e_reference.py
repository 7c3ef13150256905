#!/usr/bin/env python3
"""Reference side of the end-to-end benchmark (`strata-tools bench-e2e`).

DuckDB (in-process, Python package) loads the TSBS cpu-only CSV into a database file,
then runs each query given on stdin (a JSON list of {"name", "sql"}) `runs` times after
one warm-up run. If the `chdb` package is importable, chDB (in-process ClickHouse) loads
the same CSV into a MergeTree table too; only its load is measured, because several
shapes (DISTINCT ON) have no ClickHouse spelling.

Prints one JSON object: {"duckdb": {load_s, rows, queries: {name: {times, rows}}},
"chdb": {load_s, rows} or null}.

Usage: e2e_reference.py CSV_PATH WORK_DIR RUNS < queries.json
"""
import json
import os
import shutil
import sys
import time

import duckdb

TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def measure_duckdb(csv, work, runs, queries):
    path = os.path.join(work, "e2e.duckdb")
    if os.path.exists(path):
        os.remove(path)
    con = duckdb.connect(path)
    con.execute("SET TimeZone = 'UTC'")
    cols = {"time": "TIMESTAMPTZ", **{t: "VARCHAR" for t in TAGS}, **{f: "DOUBLE" for f in FIELDS}}
    con.execute("CREATE TABLE cpu (" + ", ".join(f"{k} {v}" for k, v in cols.items()) + ")")
    start = time.perf_counter()
    con.execute(f"INSERT INTO cpu SELECT * FROM read_csv('{csv}', header=true, columns={cols!r})")
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM cpu").fetchone()[0]
    out = {"load_s": load_s, "rows": rows, "queries": {}}
    for q in queries:
        con.execute(q["sql"]).fetchall()  # warm-up
        times = []
        n = 0
        for _ in range(runs):
            t = time.perf_counter()
            n = len(con.execute(q["sql"]).fetchall())
            times.append(time.perf_counter() - t)
        out["queries"][q["name"]] = {"times": times, "rows": n}
    con.close()
    return out


def measure_chdb(csv, work):
    try:
        from chdb import session
    except ImportError:
        return None
    path = os.path.join(work, "e2e.chdb")
    shutil.rmtree(path, ignore_errors=True)
    s = session.Session(path)
    cols = [("time", "DateTime64(9, 'UTC')")] + [(t, "String") for t in TAGS] + \
        [(f, "Float64") for f in FIELDS]
    structure = ", ".join(f"{k} {v}" for k, v in cols)
    s.query("CREATE DATABASE IF NOT EXISTS bench")
    s.query(f"CREATE TABLE bench.cpu ({structure}) ENGINE = MergeTree ORDER BY (hostname, time)")
    quoted = structure.replace("'", "\\'")
    start = time.perf_counter()
    s.query(f"INSERT INTO bench.cpu SELECT * FROM file('{csv}', CSVWithNames, '{quoted}') "
            "SETTINGS date_time_input_format = 'best_effort'")
    load_s = time.perf_counter() - start
    rows = int(str(s.query("SELECT count() FROM bench.cpu", "CSV")).strip())
    s.close()
    return {"load_s": load_s, "rows": rows}


def main():
    csv, work, runs = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    queries = json.load(sys.stdin)
    out = {"duckdb": measure_duckdb(csv, work, runs, queries), "chdb": measure_chdb(csv, work)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
