#!/usr/bin/env python3
"""Reference side of the erasure benchmark (`strata-tools bench-erase`).

Loads the day CSVs under CSV_DIR (time,user_id,device,kind,value,amount) into DuckDB (a
database file) and, if the `chdb` package is importable, into chDB (a MergeTree table
partitioned by day, ordered by device and time), then erases each person named on the
command line, one after the other:
- DuckDB: `DELETE FROM events WHERE user_id = ?`, then `CHECKPOINT` (which writes the
  deletions to the database file);
- chDB: `DELETE FROM events WHERE user_id = ...` (a lightweight delete: rows masked), then
  `OPTIMIZE TABLE events FINAL` (parts rewritten without them).

Prints one JSON object: {"duckdb": {load_s, bytes, runs: [{rows, delete_s, purge_s}]},
"chdb": ... or null}.

Usage: erase_reference.py CSV_DIR WORK_DIR PERSON...
"""
import json
import os
import shutil
import sys
import time

import duckdb

COLUMNS = [("time", "TIMESTAMPTZ", "DateTime64(9, 'UTC')"), ("user_id", "VARCHAR", "String"),
           ("device", "VARCHAR", "String"), ("kind", "VARCHAR", "String"),
           ("value", "DOUBLE", "Float64"), ("amount", "DOUBLE", "Float64")]


def dir_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def measure_duckdb(csv_dir, work, people):
    path = os.path.join(work, "erase.duckdb")
    for p in (path, path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    con = duckdb.connect(path)
    con.execute("SET TimeZone = 'UTC'")
    cols = {name: duck for name, duck, _ in COLUMNS}
    con.execute("CREATE TABLE events (" + ", ".join(f"{k} {v}" for k, v in cols.items()) + ")")
    start = time.perf_counter()
    con.execute(f"INSERT INTO events SELECT * FROM read_csv('{csv_dir}/day-*.csv', "
                f"header=true, columns={cols!r})")
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - start
    out = {"load_s": load_s, "bytes": dir_bytes(path), "runs": []}
    for who in people:
        t = time.perf_counter()
        rows = con.execute("DELETE FROM events WHERE user_id = ?", [who]).fetchone()[0]
        delete_s = time.perf_counter() - t
        t = time.perf_counter()
        con.execute("CHECKPOINT")
        purge_s = time.perf_counter() - t
        out["runs"].append({"rows": rows, "delete_s": delete_s, "purge_s": purge_s})
    con.close()
    return out


def measure_chdb(csv_dir, work, people):
    try:
        from chdb import session
    except ImportError:
        return None
    path = os.path.join(work, "erase.chdb")
    shutil.rmtree(path, ignore_errors=True)
    s = session.Session(path)
    structure = ", ".join(f"{name} {ch}" for name, _, ch in COLUMNS)
    s.query("CREATE DATABASE IF NOT EXISTS bench")
    s.query(f"CREATE TABLE bench.events ({structure}) ENGINE = MergeTree "
            "PARTITION BY toDate(time) ORDER BY (device, time)")
    quoted = structure.replace("'", "\\'")
    start = time.perf_counter()
    s.query(f"INSERT INTO bench.events SELECT * FROM file('{csv_dir}/day-*.csv', CSVWithNames, "
            f"'{quoted}') SETTINGS date_time_input_format = 'best_effort'")
    s.query("OPTIMIZE TABLE bench.events FINAL")
    load_s = time.perf_counter() - start
    out = {"load_s": load_s, "bytes": dir_bytes(path), "runs": []}
    count = lambda sql: int(str(s.query(sql, "CSV")).strip())
    for who in people:
        before = count("SELECT count() FROM bench.events")
        t = time.perf_counter()
        s.query(f"DELETE FROM bench.events WHERE user_id = '{who}'")
        delete_s = time.perf_counter() - t
        t = time.perf_counter()
        s.query("OPTIMIZE TABLE bench.events FINAL")
        purge_s = time.perf_counter() - t
        rows = before - count("SELECT count() FROM bench.events")
        out["runs"].append({"rows": rows, "delete_s": delete_s, "purge_s": purge_s})
    s.close()
    return out


def main():
    csv_dir, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    people = sys.argv[3:]
    out = {"duckdb": measure_duckdb(csv_dir, work, people),
           "chdb": measure_chdb(csv_dir, work, people)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
