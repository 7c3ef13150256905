#!/usr/bin/env python3
"""Reference side of the cold-tier benchmark (`strata-tools bench-cold`).

DuckDB (in-process, Python package) reads Strata's cold Parquet files directly:
`cpu` is a view over `read_parquet(GLOB)`, and each query given on stdin (a JSON list of
{"name", "sql"}) runs once cold (the first run in a fresh process: DuckDB keeps no cache of
its own between processes; the operating system's page cache is warm) and then `runs` times
after it. Then it loads the same rows into a table of its own database file (insertion
order, `CHECKPOINT`) and reports that file's size, for bytes per value.

Prints one JSON object: {"rows", "db_bytes", "queries": {name: {"first", "times", "rows"}}}.

Usage: cold_reference.py GLOB WORK_DIR RUNS < queries.json
"""
import json
import os
import sys
import time

import duckdb


def main():
    glob, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queries = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW cpu AS SELECT * FROM read_parquet('{glob}')")
    out = {"queries": {}}
    for q in queries:
        t = time.perf_counter()
        n = len(con.execute(q["sql"]).fetchall())
        first = time.perf_counter() - t
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            n = len(con.execute(q["sql"]).fetchall())
            times.append(time.perf_counter() - t)
        out["queries"][q["name"]] = {"first": first, "times": times, "rows": n}
    out["rows"] = con.execute("SELECT count(*) FROM cpu").fetchone()[0]
    con.close()

    path = os.path.join(work, "cold-reference.duckdb")
    if os.path.exists(path):
        os.remove(path)
    db = duckdb.connect(path)
    db.execute(f"CREATE TABLE cpu AS SELECT * FROM read_parquet('{glob}')")
    db.execute("CHECKPOINT")
    db.close()
    out["db_bytes"] = os.path.getsize(path)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
