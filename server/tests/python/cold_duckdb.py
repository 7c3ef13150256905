"""Another engine reads Strata's cold tier: DuckDB's read_parquet over the cold directory.

Usage: python cold_duckdb.py HOST PORT DATA_DIR

Writes rows of several SQL types into old partitions over psycopg, moves them to the cold
tier, writes late rows (one overwrites a cold point, one is new) and folds them in, then
checks that `read_parquet('<data dir>/cold/<table>/**/*.parquet')` in DuckDB returns exactly
the rows Strata returns, with the table's column names and types.
"""
import datetime as dt
import sys

import duckdb
import psycopg

HOST, PORT, DATA_DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DSN = f"postgresql://strata:strata@{HOST}:{PORT}/strata"

COLUMNS = "ts, host, v, n, s, r, d, flag, note"


def strata_rows(conn):
    rows = conn.execute(f"SELECT {COLUMNS} FROM dk ORDER BY host, ts").fetchall()
    return [tuple(r) for r in rows]


def move(conn):
    conn.execute("CALL strata.run_job('flush')")
    for row in conn.execute("CALL strata.run_job('tiering')").fetchall():
        assert row[-1] is None, row


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE dk (ts timestamptz NOT NULL, host text, v double precision,
                 n integer, s smallint, r real, d date, flag boolean, note text)
               WITH (tags = 'host', partition_interval = '1 hour', cold_after = '1 day')"""
        )
        t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dk VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        t0 + dt.timedelta(minutes=7 * i),
                        f"h{i % 3}",
                        i * 0.5,
                        i,
                        i % 100,
                        i / 4,
                        dt.date(2024, 1, 1 + i % 20),
                        i % 2 == 0,
                        None if i % 5 == 0 else f"note {i}",
                    )
                    for i in range(60)
                ],
            )
        move(conn)
        tiers = conn.execute(
            "SELECT DISTINCT tier FROM system.partitions WHERE table_name = 'dk'"
        ).fetchall()
        assert tiers == [("cold",)], tiers
        # Late rows: one replaces a cold point, one is new.
        conn.execute(
            "INSERT INTO dk VALUES ('2024-01-01 00:00:00+00', 'h0', -1, -1, -1, -1, '2024-02-01', false, 'late'),"
            " ('2024-01-01 00:01:00+00', 'h9', 9, 9, 9, 9, '2024-02-02', true, 'new')"
        )
        move(conn)
        expected = strata_rows(conn)
        assert len(expected) == 61, len(expected)

    pattern = f"{DATA_DIR}/cold/dk/**/*.parquet"
    duck = duckdb.connect()
    types = dict(
        (r[0], r[1])
        for r in duck.execute(f"DESCRIBE SELECT * FROM read_parquet('{pattern}')").fetchall()
    )
    # A UTC timestamp in nanoseconds (DuckDB 2 has a type of its own for it).
    assert types.pop("ts") in ("TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE"), types
    assert types == {
        "host": "VARCHAR",
        "v": "DOUBLE",
        "n": "INTEGER",
        "s": "SMALLINT",
        "r": "FLOAT",
        "d": "DATE",
        "flag": "BOOLEAN",
        "note": "VARCHAR",
    }, types
    duck.execute("SET TimeZone = 'UTC'")
    got = duck.execute(
        f"SELECT {COLUMNS} FROM read_parquet('{pattern}') ORDER BY host, ts"
    ).fetchall()
    got = [tuple(r) for r in got]
    assert len(got) == len(expected), (len(got), len(expected))
    for g, e in zip(got, expected):
        # psycopg and DuckDB both give aware datetimes, dates, floats and strings.
        assert g[0] == e[0] and g[1:] == e[1:], (g, e)
    print("-- duckdb reads exactly the table's cold rows with its types")
    print("all cold duckdb checks passed")


if __name__ == "__main__":
    main()
