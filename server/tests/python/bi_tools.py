"""What BI and data tools do with a Postgres connection, against a running Strata server.

Usage: python bi_tools.py HOST PORT

pandas (`to_sql`, `read_sql_*`), SQLAlchemy reflection as Superset and pandas use it
(`Table(..., autoload_with=)`, the inspector's keys, indexes and comments), pgcli's
completion and backslash commands (through its own `PGExecute`), and the catalog queries of
Grafana's PostgreSQL data source (its query builder's schema, table and column lists). Every
expectation is what the same calls return against PostgreSQL 15; the script passes against
PostgreSQL itself.
"""
import datetime as dt
import sys

import pandas as pd
import psycopg
import sqlalchemy as sa
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial

HOST, PORT = sys.argv[1], int(sys.argv[2])
DSN = f"postgresql://strata:strata@{HOST}:{PORT}/strata"
ENGINE = sa.create_engine(f"postgresql+psycopg://strata:strata@{HOST}:{PORT}/strata")


def check(name):
    def wrap(f):
        def run():
            print(f"-- {name}", flush=True)
            f()
        return run
    return wrap


def setup():
    """Drops what an earlier run left (when pointed at a long-lived server such as PostgreSQL)."""
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("DROP VIEW IF EXISTS bi_busy")
        c.execute("DROP TABLE IF EXISTS bi_frame, bi_metrics")
        c.execute(
            "CREATE TABLE bi_metrics (ts timestamptz NOT NULL, host text NOT NULL, "
            "usage double precision DEFAULT 0, note varchar(20), PRIMARY KEY (host, ts))")
        c.execute("CREATE INDEX bi_metrics_usage ON bi_metrics (usage)")
        c.execute("COMMENT ON TABLE bi_metrics IS 'per-host usage'")
        c.execute("COMMENT ON COLUMN bi_metrics.usage IS 'percent'")
        c.execute("CREATE VIEW bi_busy AS SELECT host, usage FROM bi_metrics WHERE usage > 50")
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO bi_metrics (ts, host, usage, note) VALUES (%s, %s, %s, %s)",
                [(dt.datetime(2024, 1, 1, 0, i, tzinfo=dt.timezone.utc), f"h{i % 2}", i * 10.0, None)
                 for i in range(10)])


@check("pandas: to_sql, read_sql_query with parameters, read_sql_table, chunks")
def pandas_checks():
    frame = pd.DataFrame({
        "ts": pd.date_range("2024-01-01", periods=5, freq="min"),
        "city": ["Oslo", "Lima", "Oslo", None, "Pune"],
        "temp": [1.5, 20.25, -3.0, 7.0, 31.5],
        "n": [1, 2, 3, 4, 5],
        "ok": [True, False, True, True, False],
    })
    # pandas creates the table itself: `ts TIMESTAMP WITHOUT TIME ZONE` (nullable), BIGINT,
    # FLOAT(53), TEXT, BOOLEAN, and an `index` BIGINT column with an index on it.
    frame.to_sql("bi_frame", ENGINE, index=True)
    got = pd.read_sql_query(
        "SELECT ts, city, temp, n, ok FROM bi_frame WHERE temp > %(t)s ORDER BY ts", ENGINE,
        params={"t": 0})
    assert list(got.columns) == ["ts", "city", "temp", "n", "ok"], got.columns
    assert got["temp"].tolist() == [1.5, 20.25, 7.0, 31.5], got
    assert got["ts"].tolist()[1] == pd.Timestamp("2024-01-01 00:01:00"), got["ts"]
    assert got["city"].isna().tolist() == [False, False, True, False], got["city"]
    table = pd.read_sql_table("bi_frame", ENGINE)
    assert list(table.columns) == ["index", "ts", "city", "temp", "n", "ok"], table.columns
    assert table.sort_values("ts")["n"].tolist() == [1, 2, 3, 4, 5]
    assert str(table["ts"].dtype).startswith("datetime64"), table.dtypes
    chunks = list(pd.read_sql_query("SELECT n FROM bi_frame ORDER BY n", ENGINE, chunksize=2))
    assert [c["n"].tolist() for c in chunks] == [[1, 2], [3, 4], [5]], chunks
    # Appending, and a DataFrame with a NULL in the time column.
    more = pd.DataFrame({"ts": [pd.NaT], "city": ["Nowhere"], "temp": [0.0], "n": [6], "ok": [True]})
    more.to_sql("bi_frame", ENGINE, if_exists="append", index=False)
    nulls = pd.read_sql_query("SELECT city FROM bi_frame WHERE ts IS NULL", ENGINE)
    assert nulls["city"].tolist() == ["Nowhere"], nulls


@check("SQLAlchemy reflection: autoload, keys, indexes, comments, views (Superset's dataset sync)")
def sqlalchemy_reflection_checks():
    md = sa.MetaData()
    metrics = sa.Table("bi_metrics", md, autoload_with=ENGINE)
    assert [c.name for c in metrics.columns] == ["ts", "host", "usage", "note"], metrics.columns
    assert [c.name for c in metrics.primary_key.columns] == ["host", "ts"], metrics.primary_key
    assert isinstance(metrics.c.ts.type, sa.TIMESTAMP) and metrics.c.ts.type.timezone
    assert isinstance(metrics.c.note.type, sa.VARCHAR) and metrics.c.note.type.length == 20
    assert not metrics.c.host.nullable and metrics.c.usage.nullable
    assert metrics.comment == "per-host usage", metrics.comment
    assert metrics.c.usage.comment == "percent"
    assert str(metrics.c.usage.server_default.arg) == "0", metrics.c.usage.server_default
    with ENGINE.connect() as conn:
        rows = conn.execute(
            sa.select(metrics.c.host, sa.func.count(), sa.func.avg(metrics.c.usage))
            .group_by(metrics.c.host).order_by(metrics.c.host)).all()
    assert rows == [("h0", 5, 40.0), ("h1", 5, 50.0)], rows

    insp = sa.inspect(ENGINE)
    assert "public" in insp.get_schema_names()
    pk = insp.get_pk_constraint("bi_metrics")
    assert (pk["name"], pk["constrained_columns"]) == ("bi_metrics_pkey", ["host", "ts"]), pk
    assert insp.get_foreign_keys("bi_metrics") == []
    indexes = insp.get_indexes("bi_metrics")
    assert [(i["name"], i["column_names"], i["unique"]) for i in indexes] == [
        ("bi_metrics_usage", ["usage"], False)], indexes
    assert insp.get_unique_constraints("bi_metrics") == []
    assert insp.get_check_constraints("bi_metrics") == []
    assert insp.get_table_comment("bi_metrics") == {"text": "per-host usage"}
    assert "bi_busy" in insp.get_view_names()
    assert insp.has_table("bi_metrics") and not insp.has_table("bi_nope")
    busy = sa.Table("bi_busy", sa.MetaData(), autoload_with=ENGINE)
    assert [c.name for c in busy.columns] == ["host", "usage"], busy.columns


@check("pgcli: completion metadata and backslash commands through its PGExecute")
def pgcli_checks():
    pgx = PGExecute("strata", "strata", "strata", HOST, PORT)
    assert pgx.search_path()[-1] == "public", pgx.search_path()
    assert "public" in pgx.schemata()
    assert ("public", "bi_metrics") in list(pgx.tables())
    assert ("public", "bi_busy") in list(pgx.views())
    columns = [c for c in pgx.table_columns() if c[1] == "bi_metrics"]
    assert [(c[2], c[3], c[4], c[5]) for c in columns] == [
        ("ts", "timestamp with time zone", False, None),
        ("host", "text", False, None),
        ("usage", "double precision", True, "0"),
        ("note", "character varying", False, None),
    ], columns
    assert "strata" in pgx.databases()
    assert list(pgx.foreignkeys()) == []
    types = list(pgx.datatypes())
    assert not [t for t in types if t[0] == "public"], types  # no user-defined types
    assert "CREATE OR REPLACE VIEW" in pgx.view_definition("bi_busy")

    def run(command):
        results = list(pgx.run(command, pgspecial=PGSpecial()))
        assert results, command
        title, cur, headers, status = results[0][:4]
        return headers, (list(cur) if cur is not None else None), status

    headers, rows, _ = run("\\dt")
    assert ("public", "bi_metrics", "table", "strata") in [tuple(r) for r in rows], rows
    headers, rows, _ = run("\\dv")
    assert ("public", "bi_busy", "view", "strata") in [tuple(r) for r in rows], rows
    headers, rows, _ = run("\\d bi_metrics")
    assert [r[0] for r in rows] == ["ts", "host", "usage", "note"], rows
    headers, rows, _ = run("\\l")
    assert "strata" in [r[0] for r in rows], rows
    headers, rows, _ = run("\\du")
    assert "strata" in [r[0] for r in rows], rows
    headers, rows, _ = run("SELECT count(*) FROM bi_metrics")
    assert rows == [(10,)], rows


@check("Grafana's PostgreSQL data source: version, schemas, tables and columns for its builder")
def grafana_checks():
    # Shaped like the queries Grafana's query builder sends (its postgresMetaQuery.ts).
    in_search_path = """quote_ident(table_schema) IN (
        SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
        FROM generate_series(
               array_lower(string_to_array(current_setting('search_path'), ','), 1),
               array_upper(string_to_array(current_setting('search_path'), ','), 1)) AS i,
             string_to_array(current_setting('search_path'), ',') s)"""
    with psycopg.connect(DSN, autocommit=True) as c:
        assert c.execute("SELECT current_setting('server_version_num')::int/100 AS version").fetchone()[0] >= 1500
        assert c.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchall() == []
        schemas = [r[0] for r in c.execute(
            """SELECT schema_name AS "name" FROM information_schema.schemata
               WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast')
               ORDER BY schema_name""")]
        assert "public" in schemas, schemas
        tables = [r[0] for r in c.execute(
            """SELECT quote_ident(table_name) AS "table" FROM information_schema.tables
               WHERE quote_ident(table_schema) = 'public' ORDER BY 1""")]
        assert {"bi_metrics", "bi_busy", "bi_frame"} <= set(tables), tables
        system_schemas = """('information_schema', 'pg_catalog', '_timescaledb_cache',
            '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config',
            'timescaledb_information', 'timescaledb_experimental')"""
        # The builder's table list without a schema: tables of the search path.
        tables = [r[0] for r in c.execute(
            f"""SELECT quote_ident(table_name) AS "table" FROM information_schema.tables
                WHERE quote_ident(table_schema) NOT IN {system_schemas}
                  AND table_type = 'BASE TABLE' AND {in_search_path}
                ORDER BY 1""")]
        assert {"bi_metrics", "bi_frame"} <= set(tables), tables
        assert "bi_busy" not in tables, tables  # a view
        # The older query editor's table list: `IN (subquery)` in the select list and in
        # ORDER BY, tables of the search path first and without their schema.
        listed = c.execute(
            f"""SELECT CASE WHEN {in_search_path} THEN quote_ident(table_name)
                       ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
                       END AS "table"
                FROM information_schema.tables
                WHERE quote_ident(table_schema) NOT IN {system_schemas}
                ORDER BY CASE WHEN {in_search_path} THEN 0 ELSE 1 END, 1""").fetchall()
        names = [r[0] for r in listed]
        assert {"bi_metrics", "bi_busy", "bi_frame"} <= set(names), names
        assert names == sorted(names, key=lambda n: ("." in n, n)), names
        # NOT IN over the same subquery, and IN over a subquery with a NULL (SQL's rules).
        row = c.execute(
            f"""SELECT 'public' NOT IN (SELECT 'public'), 'x' IN (SELECT NULL::text),
                       'x' IN (SELECT 'y' WHERE false), NULL::text IN (SELECT 'y')""").fetchone()
        assert row == (False, None, False, None), row
        for name in ("bi_metrics", "public.bi_metrics"):
            columns = c.execute(
                f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
                    FROM information_schema.columns
                    WHERE CASE WHEN array_length(parse_ident('{name}'), 1) = 2
                      THEN quote_ident(table_schema) = (parse_ident('{name}'))[1]
                        AND quote_ident(table_name) = (parse_ident('{name}'))[2]
                      ELSE quote_ident(table_name) = '{name}' AND {in_search_path}
                    END ORDER BY ordinal_position""").fetchall()
            assert columns == [("ts", "timestamp with time zone"), ("host", "text"),
                               ("usage", "double precision"), ("note", "character varying")], columns


if __name__ == "__main__":
    setup()
    pandas_checks()
    sqlalchemy_reflection_checks()
    pgcli_checks()
    grafana_checks()
    print("all BI tool checks passed", flush=True)
