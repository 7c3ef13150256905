"""InfluxDB's official Python client libraries writing to a running Strata server over
HTTP, with the rows read back over the PostgreSQL wire protocol (psycopg).

Usage: python influx.py HOST PG_PORT HTTP_PORT

`influxdb-client` speaks the v2 API (/api/v2/write, token auth, gzip); `influxdb` speaks
the v1 API (/write, u/p auth). Any failure raises and exits non-zero.
"""
import datetime as dt
import sys

import psycopg
from influxdb import InfluxDBClient as V1Client
from influxdb.exceptions import InfluxDBClientError
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

HOST, PG_PORT, HTTP_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
URL = f"http://{HOST}:{HTTP_PORT}"
DSN = f"postgresql://strata:strata@{HOST}:{PG_PORT}/strata?sslmode=disable"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def expect_status(status, f):
    try:
        f()
    except ApiException as e:
        assert e.status == status, (e.status, e.body)
        return e.body
    except InfluxDBClientError as e:
        assert e.code == status, (e.code, e.content)
        return e.content
    raise AssertionError(f"expected HTTP {status}")


def v2_checks():
    print("-- influxdb-client (v2 API)", flush=True)
    with InfluxDBClient(url=URL, token="strata:strata", org="any") as c:
        assert c.ping()
        w = c.write_api(write_options=SYNCHRONOUS)
        w.write(
            bucket="strata",
            record=[
                Point("weather").tag("city", "Oslo").field("temp", 1.5).field("ok", True)
                .time(T0, WritePrecision.S),
                Point("weather").tag("city", "Rome").field("temp", 20.5)
                .field("note", 'sunny, "warm"').time(T0, WritePrecision.S),
            ],
            write_precision=WritePrecision.S,
        )
        # Raw line protocol with escapes, in milliseconds.
        w.write(
            bucket="strata",
            record="weather,city=New\\ York temp=-3.25,visits=7i 1704067260000",
            write_precision=WritePrecision.MS,
        )
        # An unknown bucket is a 404; a type conflict is a 400 naming the line, and the
        # valid line of the same request is written.
        expect_status(404, lambda: w.write(bucket="nope", record="weather temp=1"))
        body = expect_status(400, lambda: w.write(
            bucket="strata",
            record="weather,city=Lima temp=18 1704067320\nweather,city=Bad temp=\"hot\" 1704067320",
            write_precision=WritePrecision.S,
        ))
        assert "line 2" in body and "field type conflict" in body, body
    # A bare token (the password) and gzip-compressed bodies.
    with InfluxDBClient(url=URL, token="strata", org="any", enable_gzip=True) as c:
        c.write_api(write_options=SYNCHRONOUS).write(
            bucket="strata", record="weather,city=Gz temp=3 1704067380",
            write_precision=WritePrecision.S)
    with InfluxDBClient(url=URL, token="wrong", org="any") as c:
        expect_status(401, lambda: c.write_api(write_options=SYNCHRONOUS).write(
            bucket="strata", record="weather temp=1"))


def v1_checks():
    print("-- influxdb (v1 API)", flush=True)
    c = V1Client(host=HOST, port=HTTP_PORT, username="strata", password="strata",
                 database="strata")
    assert c.ping()
    assert c.write_points([
        {"measurement": "cpu", "tags": {"host": "a"}, "time": "2024-01-01T00:00:00Z",
         "fields": {"usage": 12.5, "cores": 4}},
        {"measurement": "cpu", "tags": {"host": "b"}, "time": "2024-01-01T00:00:10Z",
         "fields": {"usage": 99.0, "cores": 8}},
    ], time_precision="s")
    expect_status(404, lambda: c.write_points(
        [{"measurement": "cpu", "fields": {"usage": 1.0}}], database="other"))
    bad = V1Client(host=HOST, port=HTTP_PORT, username="strata", password="nope",
                   database="strata")
    expect_status(401, lambda: bad.write_points([{"measurement": "cpu", "fields": {"usage": 1.0}}]))


def read_back():
    print("-- read back over the PostgreSQL wire", flush=True)
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(
            "SELECT time, city, temp, ok, note, visits FROM weather ORDER BY time, city"
        ).fetchall()
        got = [(r[0].isoformat(), r[1], r[2], r[3], r[4], r[5]) for r in rows]
        assert got == [
            ("2024-01-01T00:00:00+00:00", "Oslo", 1.5, True, None, None),
            ("2024-01-01T00:00:00+00:00", "Rome", 20.5, None, 'sunny, "warm"', None),
            ("2024-01-01T00:01:00+00:00", "New York", -3.25, None, None, 7),
            ("2024-01-01T00:02:00+00:00", "Lima", 18.0, None, None, None),
            ("2024-01-01T00:03:00+00:00", "Gz", 3.0, None, None, None),
        ], got
        rows = conn.execute("SELECT host, usage, cores FROM cpu ORDER BY host").fetchall()
        assert rows == [("a", 12.5, 4), ("b", 99.0, 8)], rows


if __name__ == "__main__":
    v2_checks()
    v1_checks()
    read_back()
    print("all influx client checks passed", flush=True)
