"""Real Python Postgres clients against a running Strata server.

Usage: python clients.py HOST PORT

Each check prints its name; any failure raises and exits non-zero.
"""
import asyncio
import datetime as dt
import sys
import uuid
from decimal import Decimal

import asyncpg
import psycopg
import pg8000.dbapi
import pg8000.native
import psycopg2
import sqlalchemy as sa

HOST, PORT = sys.argv[1], int(sys.argv[2])
DSN = f"postgresql://strata:strata@{HOST}:{PORT}/strata"


def check(name):
    def wrap(f):
        def run():
            print(f"-- {name}", flush=True)
            f()
        return run
    return wrap


@check("psycopg: DDL, parameters, COPY, types, errors, TLS")
def psycopg_checks():
    with psycopg.connect(DSN + "?sslmode=require", autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use, "sslmode=require did not negotiate TLS"
        conn.execute(
            "CREATE TABLE py_cpu (time timestamptz, host text, usage double precision, cores integer)"
        )
        t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO py_cpu (time, host, usage, cores) VALUES (%s, %s, %s, %s)",
                [(t0 + dt.timedelta(seconds=i), f"h{i % 3}", i * 1.5, i) for i in range(30)],
            )
            with cur.copy("COPY py_cpu (time, host, usage, cores) FROM STDIN") as copy:
                for i in range(30, 60):
                    copy.write_row((t0 + dt.timedelta(seconds=i), f"h{i % 3}", i * 1.5, i))
            cur.execute("SELECT count(*), max(usage), min(time) FROM py_cpu WHERE host = %s", ("h1",))
            n, mx, tmin = cur.fetchone()
            assert n == 20, n
            assert mx == 58 * 1.5, mx
            assert tmin == t0 + dt.timedelta(seconds=1), tmin
            cur.execute("SELECT cores FROM py_cpu WHERE time = %s", (t0 + dt.timedelta(seconds=7),))
            assert cur.fetchone() == (7,)
            # Binary results.
            cur = conn.cursor(binary=True)
            cur.execute("SELECT host, usage, cores, time FROM py_cpu ORDER BY time LIMIT 2")
            rows = cur.fetchall()
            assert rows[1] == ("h1", 1.5, 1, t0 + dt.timedelta(seconds=1)), rows
        try:
            conn.execute("SELECT * FROM no_such_table")
            raise AssertionError("expected an error")
        except psycopg.errors.UndefinedTable:
            pass
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # Transactions in psycopg's default (non-autocommit) mode.
    with psycopg.connect(DSN) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM py_cpu")
            assert cur.fetchone()[0] == 60
        conn.commit()
    # psycopg's type introspection of a type by name.
    with psycopg.connect(DSN) as conn:
        from psycopg.types import TypeInfo
        info = TypeInfo.fetch(conn, "text")
        assert info is not None and info.oid == 25, info


@check("psycopg: transaction blocks, savepoints, rollback on error")
def psycopg_transaction_checks():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TABLE py_tx (time timestamptz, k bigint)")
        t0 = dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)

        def at(i):
            return t0 + dt.timedelta(seconds=i)

        # conn.transaction() is BEGIN ... COMMIT; nested, it is a SAVEPOINT that an
        # exception rolls back to while the outer block goes on.
        with conn.transaction():
            conn.execute("INSERT INTO py_tx VALUES (%s, 1)", (at(1),))

            class Undo(Exception):
                pass

            try:
                with conn.transaction():
                    conn.execute("INSERT INTO py_tx VALUES (%s, 2)", (at(2),))
                    raise Undo()
            except Undo:
                pass
            with conn.transaction():
                conn.execute("INSERT INTO py_tx VALUES (%s, 3)", (at(3),))
        assert [r[0] for r in conn.execute("SELECT k FROM py_tx ORDER BY k")] == [1, 3]
        # A failed statement fails the block: psycopg rolls it back, nothing is stored.
        try:
            with conn.transaction():
                conn.execute("INSERT INTO py_tx VALUES (%s, 4)", (at(4),))
                conn.execute("SELECT * FROM no_such_table")
        except psycopg.errors.UndefinedTable:
            pass
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM py_tx").fetchone() == (2,)
        # A statement in a failed block gets 25P02 until the block ends.
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1/0")
        except psycopg.errors.DivisionByZero:
            pass
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        try:
            conn.execute("SELECT 1")
            raise AssertionError("expected 25P02")
        except psycopg.errors.InFailedSqlTransaction:
            pass
        conn.execute("ROLLBACK")
    # psycopg's default mode opens a block on the first statement: rows written without
    # commit() are gone when the connection closes, those committed stay.
    with psycopg.connect(DSN) as conn:
        conn.execute("INSERT INTO py_tx VALUES (%s, 5)", (at(5),))
        conn.rollback()
        conn.execute("INSERT INTO py_tx VALUES (%s, 6)", (at(6),))
        conn.commit()
    with psycopg.connect(DSN, autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT k FROM py_tx ORDER BY k")] == [1, 3, 6]
        # BEGIN READ ONLY refuses writes with 25006.
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute("INSERT INTO py_tx VALUES (%s, 7)", (at(7),))
            raise AssertionError("expected 25006")
        except psycopg.errors.ReadOnlySqlTransaction:
            pass


@check("asyncpg: transaction blocks and savepoints")
def asyncpg_transaction_checks():
    async def main():
        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute("CREATE TABLE apg_tx (time timestamptz, k bigint)")
            t0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
            async with conn.transaction():
                await conn.execute("INSERT INTO apg_tx VALUES ($1, 1)", t0)
                try:
                    async with conn.transaction():  # a savepoint
                        await conn.execute("INSERT INTO apg_tx VALUES ($1, 2)", t0 + dt.timedelta(seconds=2))
                        await conn.execute("SELECT nope FROM apg_tx")
                except asyncpg.exceptions.UndefinedColumnError:
                    pass
                await conn.execute("INSERT INTO apg_tx VALUES ($1, 3)", t0 + dt.timedelta(seconds=3))
            assert [r["k"] for r in await conn.fetch("SELECT k FROM apg_tx ORDER BY k")] == [1, 3]
            try:
                async with conn.transaction():
                    await conn.execute("INSERT INTO apg_tx VALUES ($1, 4)", t0 + dt.timedelta(seconds=4))
                    raise RuntimeError("abandon")
            except RuntimeError:
                pass
            assert await conn.fetchval("SELECT count(*) FROM apg_tx") == 2
            assert not conn.is_in_transaction()
        finally:
            await conn.close()
    asyncio.run(main())


@check("asyncpg: prepared statements, binary types, copy_records_to_table")
def asyncpg_checks():
    async def main():
        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute(
                "CREATE TABLE apg (time timestamptz, host text, v double precision, n bigint, ok boolean)"
            )
            t0 = dt.datetime(2024, 2, 1, tzinfo=dt.timezone.utc)
            await conn.executemany(
                "INSERT INTO apg VALUES ($1, $2, $3, $4, $5)",
                [(t0 + dt.timedelta(minutes=i), "x", i / 4, i, i % 2 == 0) for i in range(20)],
            )
            await conn.copy_records_to_table(
                "apg",
                records=[(t0 + dt.timedelta(minutes=i), "y", i / 4, i, True) for i in range(20, 25)],
                columns=["time", "host", "v", "n", "ok"],
            )
            rows = await conn.fetch("SELECT host, count(*) AS c, sum(n) AS s FROM apg GROUP BY host ORDER BY host")
            assert [(r["host"], r["c"], r["s"]) for r in rows] == [("x", 20, 190), ("y", 5, 110)], rows
            stmt = await conn.prepare("SELECT v, ok, time FROM apg WHERE n = $1")
            r = await stmt.fetchrow(6)
            assert r["v"] == 1.5 and r["ok"] is True and r["time"] == t0 + dt.timedelta(minutes=6), r
            try:
                await conn.fetch("SELECT nope FROM apg")
                raise AssertionError("expected an error")
            except asyncpg.exceptions.UndefinedColumnError:
                pass
            assert await conn.fetchval("SELECT count(*) FROM apg") == 25
        finally:
            await conn.close()
    asyncio.run(main())


@check("SQLAlchemy: inspect, Core insert/select, views")
def sqlalchemy_checks():
    engine = sa.create_engine(f"postgresql+psycopg://strata:strata@{HOST}:{PORT}/strata")
    with engine.connect() as conn:
        conn.execute(sa.text(
            "CREATE TABLE sa_devices (id bigint, name text, weight real, added date)"
        ))
        conn.commit()
    insp = sa.inspect(engine)
    names = insp.get_table_names()
    assert "sa_devices" in names and "py_cpu" in names, names
    # system.* tables are not on the search path, so not in the default schema.
    assert "segments" not in names, names
    cols = insp.get_columns("sa_devices")
    got = [(c["name"], type(c["type"]).__name__, c["nullable"]) for c in cols]
    assert got == [
        ("id", "BIGINT", True),
        ("name", "TEXT", True),
        ("weight", "REAL", True),
        ("added", "DATE", True),
    ], got
    # Column defaults come from pg_attrdef (PostgreSQL would print 'click'::text).
    with engine.connect() as conn:
        conn.execute(sa.text(
            "CREATE TABLE sa_defaults (ts timestamptz NOT NULL DEFAULT now(), kind text DEFAULT 'click', v double precision)"
        ))
        conn.commit()
    defaults = {c["name"]: c["default"] for c in sa.inspect(engine).get_columns("sa_defaults")}
    assert defaults == {"ts": "now()", "kind": "'click'", "v": None}, defaults
    # Full-table autoload also reflects constraints and indexes through pg_constraint's
    # int2vector columns, which the catalog does not model yet; build the Table from the
    # reflected columns instead.
    md = sa.MetaData()
    devices = sa.Table("sa_devices", md, *[sa.Column(c["name"], c["type"]) for c in cols])
    with engine.begin() as conn:
        conn.execute(devices.insert(), [
            {"id": 1, "name": "probe", "weight": 1.5, "added": dt.date(2024, 3, 1)},
            {"id": 2, "name": "relay", "weight": 0.25, "added": dt.date(2024, 3, 2)},
        ])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(devices.c.name).where(devices.c.weight > 1).order_by(devices.c.id)).all()
        assert [r.name for r in rows] == ["probe"], rows
    # Views: listed apart from tables, with their definition, and queryable.
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE VIEW sa_heavy AS SELECT name FROM sa_devices WHERE weight > 1"))
        conn.commit()
    insp = sa.inspect(engine)
    assert insp.get_view_names() == ["sa_heavy"], insp.get_view_names()
    assert "sa_heavy" not in insp.get_table_names()
    view_sql = insp.get_view_definition("sa_heavy")
    assert view_sql.strip() == "SELECT name FROM sa_devices WHERE weight > 1", view_sql
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM sa_heavy")).scalars().all() == ["probe"]


@check("psycopg2, psycopg, SQLAlchemy, asyncpg: server-side cursors and portal row limits")
def cursor_checks():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TABLE py_cur (time timestamptz, k bigint)")
        t0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
        with conn.cursor() as cur:
            with cur.copy("COPY py_cur (time, k) FROM STDIN") as copy:
                for i in range(1, 5001):
                    copy.write_row((t0 + dt.timedelta(seconds=i), i))

    # psycopg2's named cursors: DECLARE ... WITHOUT HOLD, FETCH FORWARD n, MOVE, CLOSE.
    conn2 = psycopg2.connect(host=HOST, port=PORT, user="strata", password="strata", dbname="strata")
    try:
        cur = conn2.cursor("big")
        cur.itersize = 700
        cur.execute("SELECT k FROM py_cur WHERE k > %s ORDER BY k", (10,))
        assert cur.fetchone() == (11,)
        assert [r[0] for r in cur.fetchmany(3)] == [12, 13, 14]
        cur.scroll(5)
        assert cur.fetchone() == (20,)
        rest = [r[0] for r in cur]
        assert rest == list(range(21, 5001)), (len(rest), rest[:3], rest[-3:])
        cur.close()
        conn2.commit()
        cur = conn2.cursor("back", scrollable=True)
        cur.execute("SELECT k FROM py_cur ORDER BY k LIMIT 10")
        cur.fetchmany(5)
        cur.scroll(-3)
        assert cur.fetchone() == (3,)
        cur.scroll(0, mode="absolute")
        assert cur.fetchone() == (1,)
        cur.close()
        conn2.rollback()
        # Without SCROLL, going back fails as in PostgreSQL.
        cur = conn2.cursor("fwd", scrollable=False)
        cur.execute("SELECT k FROM py_cur ORDER BY k LIMIT 10")
        cur.fetchmany(5)
        try:
            cur.scroll(-3)
            raise AssertionError("expected 55000")
        except psycopg2.errors.ObjectNotInPrerequisiteState:
            pass
        conn2.rollback()
        # WITH HOLD outlives the COMMIT.
        cur = conn2.cursor("held", withhold=True)
        cur.execute("SELECT k FROM py_cur ORDER BY k LIMIT 3")
        conn2.commit()
        assert cur.fetchall() == [(1,), (2,), (3,)]
        cur.close()
        conn2.commit()
    finally:
        conn2.close()

    # psycopg 3's server cursors: DECLARE with bound parameters, Describe of the cursor's
    # portal, FETCH in text and binary, scroll.
    with psycopg.connect(DSN) as conn:
        with conn.cursor(name="p3") as cur:
            cur.itersize = 1000
            cur.execute("SELECT k, time FROM py_cur WHERE k <= %s ORDER BY k", (2500,))
            assert [d.name for d in cur.description] == ["k", "time"], cur.description
            assert cur.fetchone() == (1, t0 + dt.timedelta(seconds=1))
            assert [r[0] for r in cur.fetchmany(2)] == [2, 3]
            cur.scroll(1)
            assert cur.fetchone()[0] == 5
            rest = cur.fetchall()
            assert len(rest) == 2495 and rest[-1][0] == 2500, len(rest)
        conn.commit()
        with conn.cursor(name="p3b", binary=True, scrollable=True) as cur:
            cur.execute("SELECT k FROM py_cur ORDER BY k LIMIT 10")
            assert [r[0] for r in cur.fetchmany(6)] == [1, 2, 3, 4, 5, 6]
            cur.scroll(-4)
            assert cur.fetchone() == (3,)
            cur.scroll(8, mode="absolute")
            assert cur.fetchone() == (9,)
        conn.commit()
    with psycopg.connect(DSN, autocommit=True) as conn:
        with conn.cursor(name="p3h", withhold=True) as cur:
            cur.execute("SELECT k FROM py_cur ORDER BY k LIMIT 3")
            assert cur.fetchall() == [(1,), (2,), (3,)]
        # A cursor without HOLD needs a transaction block, as in PostgreSQL.
        try:
            with conn.cursor(name="p3x") as cur:
                cur.execute("SELECT 1")
            raise AssertionError("expected 25P01")
        except psycopg.errors.NoActiveSqlTransaction:
            pass

    # SQLAlchemy's stream_results: a server-side cursor under the hood.
    engine = sa.create_engine(f"postgresql+psycopg://strata:strata@{HOST}:{PORT}/strata")
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=300).execute(
            sa.text("SELECT k FROM py_cur ORDER BY k")
        )
        assert [r.k for r in result] == list(range(1, 5001))

    # asyncpg's cursors: Execute with a row limit on a suspended portal.
    async def main():
        conn = await asyncpg.connect(DSN)
        try:
            async with conn.transaction():
                ks = [r["k"] async for r in conn.cursor(
                    "SELECT k FROM py_cur WHERE k <= $1 ORDER BY k", 120, prefetch=50)]
                assert ks == list(range(1, 121)), ks
                cur = await conn.cursor("SELECT k FROM py_cur ORDER BY k")
                assert [r["k"] for r in await cur.fetch(3)] == [1, 2, 3]
                assert (await cur.fetchrow())["k"] == 4
                assert [r["k"] for r in await cur.fetch(2)] == [5, 6]
                # MOVE FORWARD n <portal>: a protocol portal by name.
                assert await cur.forward(4) == 4
                assert (await cur.fetchrow())["k"] == 11
        finally:
            await conn.close()
    asyncio.run(main())


TYPE_ROWS = [
    # (interval, time, bytea, numeric(12,4), numeric(30,5))
    (dt.timedelta(days=1, hours=2, microseconds=500000), dt.time(12, 0, 1, 500000),
     b"\xde\xad\x00\xff", Decimal("123.4500"), Decimal("12345678901234567890.12345")),
    (dt.timedelta(days=-1, hours=2), dt.time(0, 0), b"", Decimal("-0.0001"), Decimal("-1.00000")),
    (None, None, None, None, None),
]


def type_rows_equal(got, want=TYPE_ROWS):
    got = sorted(got, key=lambda r: (r[3] is None, r[3]))
    want = sorted(want, key=lambda r: (r[3] is None, r[3]))
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got] == want, got


@check("psycopg, psycopg2, asyncpg: interval, time, bytea and numeric in text, binary, parameters and COPY")
def type_checks():
    cols = "k, iv, t, b, n, w"
    create = ("CREATE TABLE {} (ts timestamptz NOT NULL, k text, iv interval, t time, b bytea, "
              "n numeric(12,4), w numeric(30,5))")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(create.format("py_ty"))
        with conn.cursor() as cur:
            # Parameters (psycopg 3 sends them typed, in text or binary as it chooses).
            for i, row in enumerate(TYPE_ROWS):
                cur.execute(f"INSERT INTO py_ty (ts, {cols}) VALUES (%s, 'p', %s, %s, %s, %s, %s)",
                            (dt.datetime(2024, 1, 1, i, tzinfo=dt.timezone.utc), *row))
            cur.execute("SELECT iv, t, b, n, w FROM py_ty WHERE k = 'p'")
            type_rows_equal(cur.fetchall())
            # Binary parameters and results.
            for i, row in enumerate(TYPE_ROWS):
                cur.execute(f"INSERT INTO py_ty (ts, {cols}) VALUES (%b, 'b', %b, %b, %b, %b, %b)",
                            (dt.datetime(2024, 1, 2, i, tzinfo=dt.timezone.utc), *row))
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT iv, t, b, n, w FROM py_ty WHERE k = 'b'")
            type_rows_equal(cur.fetchall())
            cur.execute("SELECT iv, t, b, n, w FROM py_ty WHERE b = %b", (b"\xde\xad\x00\xff",))
            assert len(cur.fetchall()) == 2
        with conn.cursor() as cur:
            # COPY in text and in binary, and out again in both.
            with cur.copy(f"COPY py_ty (ts, {cols}) FROM STDIN") as copy:
                for i, row in enumerate(TYPE_ROWS):
                    copy.write_row((dt.datetime(2024, 1, 3, i, tzinfo=dt.timezone.utc), "c", *row))
            with cur.copy(f"COPY py_ty (ts, {cols}) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["timestamptz", "text", "interval", "time", "bytea", "numeric", "numeric"])
                for i, row in enumerate(TYPE_ROWS):
                    copy.write_row((dt.datetime(2024, 1, 4, i, tzinfo=dt.timezone.utc), "cb", *row))
            for k in ("c", "cb"):
                cur.execute("SELECT iv, t, b, n, w FROM py_ty WHERE k = %s", (k,))
                type_rows_equal(cur.fetchall())
            for fmt in ("", " (FORMAT binary)"):
                with cur.copy(f"COPY (SELECT iv, t, b, n, w FROM py_ty WHERE k = 'p') TO STDOUT{fmt}") as copy:
                    copy.set_types(["interval", "time", "bytea", "numeric", "numeric"])
                    type_rows_equal(list(copy.rows()))
    # COPY reads a timestamptz without a zone in the session's TimeZone, month names too.
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'Europe/Berlin'")
        with conn.cursor() as cur:
            with cur.copy("COPY py_ty (ts, k) FROM STDIN") as copy:
                copy.write(b"2024-06-01 02:00\tberlin\nJun 2 2024 02:00\tberlin\n")
            cur.execute("SELECT ts FROM py_ty WHERE k = 'berlin' ORDER BY ts")
            utc = dt.timezone.utc
            assert [r[0] for r in cur.fetchall()] == [
                dt.datetime(2024, 6, 1, 0, tzinfo=utc), dt.datetime(2024, 6, 2, 0, tzinfo=utc)]
    # psycopg2: text results and client-side interpolated parameters.
    conn2 = psycopg2.connect(DSN)
    conn2.autocommit = True
    with conn2.cursor() as cur:
        for i, row in enumerate(TYPE_ROWS):
            cur.execute(f"INSERT INTO py_ty (ts, {cols}) VALUES (%s, 'p2', %s, %s, %s, %s, %s)",
                        (dt.datetime(2024, 1, 5, i, tzinfo=dt.timezone.utc),
                         *[psycopg2.Binary(v) if isinstance(v, bytes) else v for v in row]))
        cur.execute("SELECT iv, t, b, n, w FROM py_ty WHERE k = 'p2'")
        type_rows_equal(cur.fetchall())
    conn2.close()

    # asyncpg: binary everywhere, and binary COPY from records.
    async def main():
        conn = await asyncpg.connect(DSN)
        try:
            await conn.executemany(
                f"INSERT INTO py_ty (ts, {cols}) VALUES ($1, 'a', $2, $3, $4, $5, $6)",
                [(dt.datetime(2024, 1, 6, i, tzinfo=dt.timezone.utc), *row) for i, row in enumerate(TYPE_ROWS)])
            await conn.copy_records_to_table(
                "py_ty", columns=["ts", "k", "iv", "t", "b", "n", "w"],
                records=[(dt.datetime(2024, 1, 7, i, tzinfo=dt.timezone.utc), "ac", *row)
                         for i, row in enumerate(TYPE_ROWS)])
            for k in ("a", "ac", "p"):
                rows = await conn.fetch("SELECT iv, t, b, n, w FROM py_ty WHERE k = $1", k)
                type_rows_equal([tuple(r) for r in rows])
            assert await conn.fetchval("SELECT count(*) FROM py_ty WHERE iv > $1",
                                       dt.timedelta(hours=1)) == 7
        finally:
            await conn.close()
    asyncio.run(main())


@check("pg8000: parameters of every type, NULLs, errors, transactions")
def pg8000_checks():
    c = pg8000.native.Connection("strata", password="strata", host=HOST, port=PORT, database="strata")
    c.run("CREATE TABLE p8 (ts timestamptz NOT NULL, host text, v double precision, n numeric(10,2), "
          "iv interval, b bytea, t time, ok boolean)")
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    row = (t0, "a", 1.5, Decimal("12.34"), dt.timedelta(days=1, hours=2), b"\x00\xff", dt.time(1, 2, 3), True)
    c.run("INSERT INTO p8 VALUES (:ts, :h, :v, :n, :iv, :b, :t, :ok)",
          ts=row[0], h=row[1], v=row[2], n=row[3], iv=row[4], b=row[5], t=row[6], ok=row[7])
    c.run("INSERT INTO p8 VALUES (:ts, :h, NULL, NULL, NULL, NULL, NULL, NULL)",
          ts=t0 + dt.timedelta(seconds=1), h="b")
    rows = c.run("SELECT ts, host, v, n, iv, b, t, ok FROM p8 ORDER BY ts")
    assert rows == [list(row), [t0 + dt.timedelta(seconds=1), "b"] + [None] * 6], rows
    assert c.run("SELECT count(*) FROM p8 WHERE iv > :iv", iv=dt.timedelta(hours=1)) == [[1]]
    c.close()
    conn = pg8000.dbapi.connect("strata", password="strata", host=HOST, port=PORT, database="strata")
    cur = conn.cursor()
    cur.execute("SELECT host, n FROM p8 WHERE ts >= %s ORDER BY host", (t0,))
    assert cur.fetchall() == (["a", Decimal("12.34")], ["b", None])
    try:
        cur.execute("SELECT nope FROM p8")
        raise AssertionError("expected an error")
    except pg8000.dbapi.DatabaseError as e:
        assert e.args[0]["C"] == "42703", e
    conn.rollback()
    cur.execute("SELECT 1")
    assert cur.fetchall() == ([1],)
    conn.close()


@check("psycopg, asyncpg, psycopg2, pg8000: uuid as a uuid (objects, binary, COPY, a uuid tag)")
def uuid_checks():
    import psycopg2.extras
    u1 = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    u2 = uuid.UUID("6f1c0b8e-2d3a-4c5b-9e7f-0a1b2c3d4e5f")
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("CREATE TABLE py_uuid (ts timestamptz NOT NULL, id uuid, dev uuid, k text) WITH (tags = 'dev')")
        c.execute("INSERT INTO py_uuid VALUES (%s, %s, %s, 'text')", (t0, u1, u2))
        c.execute("INSERT INTO py_uuid VALUES (%s, %b, %b, 'binary')", (t0 + dt.timedelta(seconds=1), u1, u2))
        for binary in (False, True):
            cur = c.cursor(binary=binary)
            cur.execute("SELECT id, dev FROM py_uuid WHERE id = %s ORDER BY ts", (u1,))
            assert cur.fetchall() == [(u1, u2), (u1, u2)]
        with c.cursor() as cur:
            with cur.copy("COPY py_uuid (ts, id, dev, k) FROM STDIN (FORMAT binary)") as cp:
                cp.set_types(["timestamptz", "uuid", "uuid", "text"])
                cp.write_row((t0 + dt.timedelta(seconds=2), u1, u2, "copy"))
            with cur.copy("COPY (SELECT id, dev FROM py_uuid WHERE k = 'copy') TO STDOUT (FORMAT binary)") as cp:
                cp.set_types(["uuid", "uuid"])
                assert list(cp.rows()) == [(u1, u2)]
        try:
            c.execute("INSERT INTO py_uuid VALUES (%s, 'not-a-uuid', NULL, 'bad')", (t0,))
            raise AssertionError("expected an error")
        except psycopg.errors.InvalidTextRepresentation:
            pass

    async def main():
        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute("INSERT INTO py_uuid VALUES ($1, $2, $3, 'asyncpg')",
                               t0 + dt.timedelta(seconds=3), u1, u2)
            rows = await conn.fetch("SELECT id, dev FROM py_uuid WHERE id = $1 AND k = 'asyncpg'", u1)
            assert [tuple(r) for r in rows] == [(u1, u2)], rows
            await conn.copy_records_to_table(
                "py_uuid", columns=["ts", "id", "dev", "k"],
                records=[(t0 + dt.timedelta(seconds=4), u2, u1, "acopy")])
            assert await conn.fetchval("SELECT id FROM py_uuid WHERE k = 'acopy'") == u2
        finally:
            await conn.close()
    asyncio.run(main())
    psycopg2.extras.register_uuid()
    conn2 = psycopg2.connect(DSN)
    with conn2.cursor() as cur:
        cur.execute("SELECT id FROM py_uuid WHERE id = %s LIMIT 1", (u1,))
        assert cur.fetchone() == (u1,)
    conn2.close()
    p = pg8000.native.Connection("strata", password="strata", host=HOST, port=PORT, database="strata")
    assert p.run("SELECT id FROM py_uuid WHERE id = :u LIMIT 1", u=u1) == [[u1]]
    p.close()


@check("psycopg, psycopg2: DateStyle output and day-first input, parsed by the drivers")
def datestyle_checks():
    # Texts and values as PostgreSQL 15 prints and reads them under each DateStyle.
    day = dt.date(2024, 3, 5)
    stamp = dt.datetime(2024, 3, 5, 14, 7, 8, 500000)
    texts = {
        "ISO, MDY": ("2024-03-05", "2024-03-05 14:07:08.5", "2024-03-05 09:07:08-05"),
        "SQL, DMY": ("05/03/2024", "05/03/2024 14:07:08.5", "05/03/2024 09:07:08 EST"),
        "SQL, MDY": ("03/05/2024", "03/05/2024 14:07:08.5", "03/05/2024 09:07:08 EST"),
        "Postgres, MDY": ("03-05-2024", "Tue Mar 05 14:07:08.5 2024", "Tue Mar 05 09:07:08 2024 EST"),
        "Postgres, DMY": ("05-03-2024", "Tue 05 Mar 14:07:08.5 2024", "Tue 05 Mar 09:07:08 2024 EST"),
        "German, DMY": ("05.03.2024", "05.03.2024 14:07:08.5", "05.03.2024 09:07:08 EST"),
    }
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TABLE py_ds (ts timestamptz NOT NULL, d date, t timestamp)")
        conn.execute("SET TimeZone = 'America/New_York'")
        for style, (d_text, t_text, tz_text) in texts.items():
            conn.execute(f"SET DateStyle = '{style}'")
            assert conn.execute("SHOW DateStyle").fetchone() == (style,), style
            assert conn.info.parameter_status("DateStyle") == style
            row = conn.execute(
                "SELECT date '2024-03-05'::text, timestamp '2024-03-05 14:07:08.5'::text,"
                " timestamptz '2024-03-05 14:07:08+00'::text").fetchone()
            assert row == (d_text, t_text, tz_text), (style, row)
            # psycopg reads dates and timestamps (not timestamptz) in every DateStyle.
            got = conn.execute("SELECT date '2024-03-05', timestamp '2024-03-05 14:07:08.5'").fetchone()
            assert got == (day, stamp), (style, got)
            # Text written in the style's own order reads back as the same values.
            conn.execute(f"INSERT INTO py_ds VALUES (now(), '{d_text}', '{t_text}')")
            assert conn.execute(f"SELECT '{d_text}'::date, '{t_text}'::timestamp").fetchone() == (day, stamp)
        rows = conn.execute("SELECT d, t FROM py_ds").fetchall()
        assert rows == [(day, stamp)] * len(texts), rows
        conn.execute("SET DateStyle = 'ISO, DMY'")
        assert conn.execute("SELECT '03/05/2024'::date, '13/05/2024'::date").fetchone() == (
            dt.date(2024, 5, 3), dt.date(2024, 5, 13))
        conn.execute("SET DateStyle = 'ISO, MDY'")
        try:
            conn.execute("SELECT '13/05/2024'::date")
            raise AssertionError("13/05/2024 read as MDY")
        except psycopg.errors.DatetimeFieldOverflow:
            pass
        # COPY reads day-first text under DMY.
        conn.execute("SET DateStyle = 'German'")
        with conn.cursor().copy("COPY py_ds (ts, d, t) FROM STDIN") as copy:
            copy.write("2024-03-06 00:00:00+00\t06.03.2024\t06.03.2024 10:00:00\n")
        assert conn.execute("SELECT d, t FROM py_ds WHERE d > '2024-03-05'").fetchone() == (
            dt.date(2024, 3, 6), dt.datetime(2024, 3, 6, 10))
        conn.execute("DROP TABLE py_ds")
    # psycopg2 sets DateStyle to ISO when it connects with another one, keeping the order.
    conn2 = psycopg2.connect(DSN, options="-c DateStyle=SQL,DMY")
    with conn2.cursor() as cur:
        cur.execute("SHOW DateStyle")
        assert cur.fetchone() == ("ISO, DMY",)
        cur.execute("SELECT date '2024-03-05', '05/03/2024'::date::text")
        assert cur.fetchone() == (day, "2024-03-05")
    conn2.close()


if __name__ == "__main__":
    psycopg_checks()
    psycopg_transaction_checks()
    asyncpg_checks()
    asyncpg_transaction_checks()
    sqlalchemy_checks()
    cursor_checks()
    type_checks()
    pg8000_checks()
    uuid_checks()
    datestyle_checks()
    print("all client checks passed", flush=True)
