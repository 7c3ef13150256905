#!/usr/bin/env python3
"""DuckDB side of the end-to-end benchmark (`strata-tools bench-e2e`).

Loads the TSBS cpu-only CSV into an in-process DuckDB database, then runs each query
given on stdin (a JSON list of {"name", "sql"}) `runs` times after one warm-up run, and
prints one JSON object: load seconds, rows, and per query the run times and the result
row count. Usage: e2e_duckdb.py CSV_PATH WORK_DIR RUNS < queries.json
"""
import json
import os
import sys
import time

import duckdb

TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
          "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def main():
    csv, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queries = json.load(sys.stdin)
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
