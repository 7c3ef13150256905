//! The PostgreSQL wire protocol against the real `strata` binary, with tokio-postgres:
//! simple and extended query, text and binary formats, DDL, INSERT, COPY, SET/SHOW,
//! DELETE, TRUNCATE, ERASE SUBJECT and their receipts, errors and their SQLSTATEs,
//! cancellation, pushdown on and off.

mod common;

use std::time::Duration;

use common::Server;
use futures::{SinkExt, StreamExt};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::SimpleQueryMessage;

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_owned())
        .unwrap_or_else(|| format!("not a server error: {e}"))
}

fn simple_rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

async fn setup_cpu(c: &tokio_postgres::Client) {
    c.batch_execute(
        "CREATE TABLE cpu (time timestamptz, host text, region text, usage double precision, cores integer)
           WITH (partition_interval = '1 hour');
         INSERT INTO cpu VALUES
           ('2024-01-01 00:00:00+00', 'a', 'eu', 10.5, 4),
           ('2024-01-01 00:30:00+00', 'b', 'us', 20.0, 8),
           ('2024-01-01 01:00:00+00', 'a', 'eu', 30.25, 4),
           ('2024-01-01 02:00:00+00', 'c', 'us', NULL, 2);",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_and_extended_queries_return_typed_rows() {
    let s = Server::start();
    let c = s.client().await;
    setup_cpu(&c).await;

    // Simple protocol, text format.
    let msgs = c
        .simple_query("SELECT host, usage, cores FROM cpu ORDER BY time")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&msgs),
        vec![
            vec![Some("a".into()), Some("10.5".into()), Some("4".into())],
            vec![Some("b".into()), Some("20".into()), Some("8".into())],
            vec![Some("a".into()), Some("30.25".into()), Some("4".into())],
            vec![Some("c".into()), None, Some("2".into())],
        ]
    );

    // Extended protocol, binary results, typed parameters.
    let stmt = c
        .prepare("SELECT host, usage, cores, time FROM cpu WHERE host = $1 AND cores >= $2 ORDER BY time")
        .await
        .unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::TEXT);
    assert_eq!(stmt.columns()[1].type_(), &Type::FLOAT8);
    assert_eq!(stmt.columns()[2].type_(), &Type::INT4);
    assert_eq!(stmt.columns()[3].type_(), &Type::TIMESTAMPTZ);
    let rows = c.query(&stmt, &[&"a", &4i32]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let usage: Vec<f64> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(usage, vec![10.5, 30.25]);
    let t: std::time::SystemTime = rows[1].get(3);
    assert_eq!(
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        1_704_070_800
    );

    // INSERT with parameters reports its row count.
    let n = c
        .execute(
            "INSERT INTO cpu (time, host, region, usage, cores) VALUES ($1, $2, $3, $4, $5)",
            &[
                &(std::time::UNIX_EPOCH + Duration::from_secs(1_704_081_600)),
                &"d",
                &"ap",
                &99.5f64,
                &16i32,
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let row = c
        .query_one("SELECT count(*), max(usage) FROM cpu", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5);
    assert_eq!(row.get::<_, f64>(1), 99.5);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_sqlstates_and_the_connection_stays_usable() {
    let s = Server::start();
    let c = s.client().await;
    setup_cpu(&c).await;
    let cases: &[(&str, &str)] = &[
        ("SELEC 1", "42601"),
        ("SELECT * FROM nope", "42P01"),
        ("SELECT nope FROM cpu", "42703"),
        (
            "CREATE TABLE cpu (time timestamptz, v double precision)",
            "42P07",
        ),
        (
            "INSERT INTO cpu (time, host, usage) VALUES ('2024-01-01', 'x', 'lots')",
            "22P02",
        ),
        ("UPDATE cpu SET usage = 1", "0A000"),
        ("DELETE FROM cpu WHERE usage > 1 RETURNING *", "0A000"),
        ("CREATE TABLE t2 (id integer PRIMARY KEY)", "0A000"),
        ("CREATE TABLE t3 (p point)", "0A000"),
        ("SET no_such_parameter = 1", "42704"),
        ("SET statement_timeout = 'soon'", "22023"),
        ("CREATE TABLE t4 (id integer NOT NULL, name text)", ""),
        ("INSERT INTO t4 (name) VALUES ('x')", "23502"),
        ("SELECT usage + 'x'::text FROM cpu", "42883"),
    ];
    for (sql, want) in cases {
        let r = c.simple_query(sql).await;
        match (want.is_empty(), r) {
            (true, Ok(_)) => {}
            (true, Err(e)) => panic!("{sql}: {e}"),
            (false, Ok(_)) => panic!("{sql}: expected {want}, succeeded"),
            (false, Err(e)) => assert_eq!(&code(&e), want, "{sql}: {e}"),
        }
        // The connection is still fine.
        let r = c.query_one("SELECT count(*) FROM cpu", &[]).await.unwrap();
        assert_eq!(r.get::<_, i64>(0), 4, "after {sql}");
    }
}

/// What PostgreSQL 15 answers for each mistake (code, message, `position`), in the simple
/// and the extended protocol. `None` for a message or position marks where Strata's differs
/// (README, "Differences from PostgreSQL"): the code must still be PostgreSQL's.
#[tokio::test(flavor = "multi_thread")]
async fn planning_errors_have_postgres_codes_messages_and_positions() {
    let s = Server::start();
    let c = s.client().await;
    setup_cpu(&c).await;
    let insert_extra = "INSERT INTO cpu VALUES (now(), 'a', 'eu', 1, 2, 3)";
    let cases: &[(&str, &str, Option<&str>, Option<usize>)] = &[
        ("SELEC 1", "42601", None, Some(1)),
        ("SELECT 1 FROM", "42601", None, None),
        (
            "SELECT * FROM nope",
            "42P01",
            Some(r#"relation "nope" does not exist"#),
            Some(15),
        ),
        (
            "SELECT v FROM public.nope v",
            "42P01",
            Some(r#"relation "public.nope" does not exist"#),
            Some(15),
        ),
        (
            "WITH w AS (SELECT 1 AS x) SELECT * FROM w JOIN nope ON true",
            "42P01",
            Some(r#"relation "nope" does not exist"#),
            Some(48),
        ),
        (
            "SELECT nope FROM cpu",
            "42703",
            Some(r#"column "nope" does not exist"#),
            Some(8),
        ),
        (
            "SELECT cpu.nope FROM cpu",
            "42703",
            Some("column cpu.nope does not exist"),
            Some(8),
        ),
        (
            "SELECT host FROM cpu a JOIN cpu b ON true",
            "42702",
            Some(r#"column reference "host" is ambiguous"#),
            None,
        ),
        ("SELECT no_such_fn(1)", "42883", None, Some(8)),
        ("SELECT * FROM generate_nope(1)", "42883", None, Some(15)),
        (
            "SELECT sum(host) FROM cpu",
            "42883",
            Some("function sum(text) does not exist"),
            Some(8),
        ),
        (
            "SELECT lower(host, region) FROM cpu",
            "42883",
            Some("function lower(text, text) does not exist"),
            Some(8),
        ),
        (
            "SELECT usage + 'x'::text FROM cpu",
            "42883",
            Some("operator does not exist: double precision + text"),
            None,
        ),
        (
            "SELECT host, count(*) FROM cpu",
            "42803",
            Some(
                r#"column "cpu.host" must appear in the GROUP BY clause or be used in an aggregate function"#,
            ),
            Some(8),
        ),
        (
            "SELECT c.region, max(usage) FROM cpu c GROUP BY c.host",
            "42803",
            Some(
                r#"column "c.region" must appear in the GROUP BY clause or be used in an aggregate function"#,
            ),
            Some(8),
        ),
        (
            "SELECT 1 FROM cpu HAVING host = 'a'",
            "42803",
            Some(
                r#"column "cpu.host" must appear in the GROUP BY clause or be used in an aggregate function"#,
            ),
            Some(26),
        ),
        ("SELECT\n  nope\nFROM cpu", "42703", None, Some(10)),
        ("SELECT ROUND(usage, 'x') FROM cpu", "42883", None, Some(8)),
        (
            insert_extra,
            "42601",
            Some("INSERT has more expressions than target columns"),
            Some(insert_extra.find(", 3)").unwrap() + 3),
        ),
        (
            "INSERT INTO cpu (time, host) VALUES (now())",
            "42601",
            Some("INSERT has more target columns than expressions"),
            Some(24),
        ),
        ("SELECT 1/0", "22012", None, None),
        (
            "SELECT 9223372036854775807 + 1",
            "22003",
            Some("bigint out of range"),
            None,
        ),
        (
            "SELECT cores * 4611686018427387904 FROM cpu",
            "22003",
            Some("bigint out of range"),
            None,
        ),
        (
            "SELECT -9223372036854775807 - 2",
            "22003",
            Some("bigint out of range"),
            None,
        ),
        ("SELECT 'abc'::int", "22P02", None, None),
    ];
    let mut wrong = Vec::new();
    for (sql, code_want, message, position) in cases {
        let simple = c.simple_query(sql).await.map(|_| ()).unwrap_err();
        // Parse errors come from Parse in the extended protocol; the last three fail when
        // run, so they are bound and executed.
        let extended = match c.prepare(sql).await {
            Err(e) => e,
            Ok(st) => c.execute(&st, &[]).await.map(|_| ()).unwrap_err(),
        };
        for (protocol, e) in [("simple", simple), ("extended", extended)] {
            let Some(db) = e.as_db_error() else {
                wrong.push(format!("{protocol} {sql}: not a server error: {e}"));
                continue;
            };
            let want_position =
                position.map(|p| tokio_postgres::error::ErrorPosition::Original(p as u32));
            if db.code().code() != *code_want
                || message.is_some_and(|m| db.message() != m)
                || want_position.is_some() && db.position() != want_position.as_ref()
            {
                wrong.push(format!(
                    "{protocol} {sql}: got {} {:?} at {:?}, want {code_want} {message:?} at {position:?}",
                    db.code().code(),
                    db.message(),
                    db.position()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing was stored by the failed INSERTs, and the connection is fine.
    let r = c.query_one("SELECT count(*) FROM cpu", &[]).await.unwrap();
    assert_eq!(r.get::<_, i64>(0), 4);
    // Checked arithmetic answers as before where nothing overflows.
    let r = c
        .query_one(
            "SELECT 9223372036854775806 + 1, sum(cores * 2 - 1), max(cores + 1) FROM cpu",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), i64::MAX);
    assert_eq!(r.get::<_, i64>(1), 2 * 18 - 4);
    // max(integer + integer) is an integer, as in PostgreSQL.
    assert_eq!(r.get::<_, i32>(2), 9);
}

/// `now()` and `::timestamptz` are `timestamptz` (OID 1184) like stored time columns, not
/// `timestamp`: drivers decode them as instants.
#[tokio::test(flavor = "multi_thread")]
async fn now_and_timestamptz_casts_have_the_timestamptz_type() {
    let s = Server::start();
    let c = s.client().await;
    let st = c
        .prepare(
            "SELECT now(), '2024-01-01 01:00:00-05'::timestamptz, '2024-01-01 01:00:00'::timestamp",
        )
        .await
        .unwrap();
    let types: Vec<_> = st.columns().iter().map(|c| c.type_().clone()).collect();
    use tokio_postgres::types::Type;
    assert_eq!(
        types,
        [Type::TIMESTAMPTZ, Type::TIMESTAMPTZ, Type::TIMESTAMP]
    );
    let row = c.query_one(&st, &[]).await.unwrap();
    let at: std::time::SystemTime = row.get(1);
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs, 1_704_088_800, "2024-01-01 06:00:00 UTC");
}

/// Timestamp text as PostgreSQL reads it: without seconds, with short offsets and zone
/// names, and without a zone in the session's `TimeZone` (a `timestamp` ignores a zone).
#[tokio::test(flavor = "multi_thread")]
async fn timestamp_text_is_read_in_the_session_time_zone() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE t (time timestamptz, v integer, host text);
         INSERT INTO t VALUES ('2024-01-01 01:00', 1, 'a');
         SET TimeZone = 'Europe/Berlin';
         INSERT INTO t VALUES ('2024-01-01 02:00', 2, 'b'), ('2024-01-01 02:00:00+01', 3, 'c'),
                              ('2024-01-01 01:00 UTC', 4, 'd'), ('2023-12-31 20:00-05', 5, 'e');
         PREPARE p (text, integer) AS INSERT INTO t VALUES ($1::timestamptz, $2, 'f');
         EXECUTE p ('2024-01-01 02:00', 6);
         RESET TimeZone;",
    )
    .await
    .unwrap();
    let rows = c
        .query("SELECT v, time FROM t ORDER BY v", &[])
        .await
        .unwrap();
    let h1 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_704_070_800);
    for r in &rows {
        let v: i32 = r.get(0);
        assert_eq!(r.get::<_, std::time::SystemTime>(1), h1, "row {v}");
    }
    assert_eq!(rows.len(), 6);
    let r = c
        .query_one("SELECT '2024-01-01 01:00+05'::timestamp", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, std::time::SystemTime>(0), h1);
    // Casts to text print as PostgreSQL does, a timestamptz in the session's TimeZone.
    c.batch_execute("SET TimeZone = 'Europe/Berlin'")
        .await
        .unwrap();
    let r = c
        .query_one(
            "SELECT time::text, '2024-01-01 01:00:00.5'::timestamp::text FROM t WHERE v = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "2024-01-01 02:00:00+01");
    assert_eq!(r.get::<_, String>(1), "2024-01-01 01:00:00.5");
    let e = c
        .simple_query("SELECT 'garbage'::timestamptz")
        .await
        .unwrap_err();
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "22007");
    assert_eq!(
        db.message(),
        r#"invalid input syntax for type timestamp with time zone: "garbage""#
    );
}

/// `DEFAULT`: for columns an INSERT leaves out, the `DEFAULT` keyword in VALUES and
/// `DEFAULT VALUES`; checked at CREATE TABLE as PostgreSQL does; kept across a restart.
#[tokio::test(flavor = "multi_thread")]
async fn column_defaults_fill_what_inserts_leave_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE ev (ts timestamptz NOT NULL DEFAULT now(), kind text DEFAULT 'click',
                          n integer DEFAULT 1 + 1, note text);
         CREATE TABLE r (id integer DEFAULT 7, name text);",
    )
    .await
    .unwrap();
    for (sql, want) in [
        ("CREATE TABLE bad (a integer DEFAULT true)", "42804"),
        ("CREATE TABLE bad (a integer DEFAULT b)", "0A000"),
        ("CREATE TABLE bad (a integer DEFAULT nope())", "42883"),
        ("ALTER TABLE r ADD COLUMN z integer DEFAULT 3", "0A000"),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), want, "{sql}: {e}");
    }
    let rows = |c: tokio_postgres::Client| async move {
        let ev: Vec<(bool, String, Option<i32>, String)> = c
            .query(
                "SELECT ts > now() - interval '1 hour', kind, n, note FROM ev ORDER BY note",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let r: Vec<(i32, Option<String>)> = c
            .query("SELECT id, name FROM r ORDER BY name NULLS FIRST", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (ev, r)
    };
    c.batch_execute(
        "INSERT INTO ev (note) VALUES ('a');
         INSERT INTO ev (kind, note) VALUES ('view', 'b');
         INSERT INTO ev (n, note) VALUES (NULL, 'c');
         INSERT INTO ev VALUES (DEFAULT, DEFAULT, 5, 'd');
         INSERT INTO r (name) VALUES ('x');
         INSERT INTO r VALUES (DEFAULT, 'y');
         INSERT INTO r DEFAULT VALUES;",
    )
    .await
    .unwrap();
    let want_ev = vec![
        (true, "click".to_owned(), Some(2), "a".to_owned()),
        (true, "view".to_owned(), Some(2), "b".to_owned()),
        (true, "click".to_owned(), None, "c".to_owned()),
        (true, "click".to_owned(), Some(5), "d".to_owned()),
    ];
    let want_r = vec![
        (7, None),
        (7, Some("x".to_owned())),
        (7, Some("y".to_owned())),
    ];
    assert_eq!(rows(c).await, (want_ev.clone(), want_r.clone()));
    // The defaults are in the catalog: after kill -9 they still apply and are listed.
    s.kill9();
    let s = Server::start_in(&data, &[]);
    let c = s.client().await;
    c.batch_execute("INSERT INTO r (name) VALUES ('z')")
        .await
        .unwrap();
    let r = c
        .query_one("SELECT id FROM r WHERE name = 'z'", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i32>(0), 7);
    let listed: Vec<(String, Option<String>)> = c
        .query(
            "SELECT column_name, column_default FROM information_schema.columns \
             WHERE table_name = 'ev' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("ts", Some("now()")),
        ("kind", Some("'click'")),
        ("n", Some("1 + 1")),
        ("note", None),
    ];
    assert_eq!(
        listed,
        want.map(|(c, d)| (c.to_owned(), d.map(str::to_owned)))
            .to_vec()
    );
    // COPY fills the columns it leaves out with their defaults, each evaluated once for
    // the statement (`now()` is one time for every row, as in PostgreSQL).
    let sink = c.copy_in("COPY r (name) FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from("copied\n")).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1);
    let id: i32 = c
        .query_one("SELECT id FROM r WHERE name = 'copied'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 7);
    let sink = c.copy_in("COPY ev (kind, note) FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from("k1\tcopy1\nk2\tcopy2\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    let row = c
        .query_one(
            "SELECT count(*), count(DISTINCT ts), min(n), max(n) FROM ev WHERE note LIKE 'copy%'",
            &[],
        )
        .await
        .unwrap();
    let got: (i64, i64, Option<i32>, Option<i32>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(got, (2, 1, Some(2), Some(2)));
    // A volatile default is a value per row in PostgreSQL: leaving it out is refused.
    c.batch_execute("CREATE TABLE rv (x double precision DEFAULT random(), name text)")
        .await
        .unwrap();
    let Err(e) = c
        .copy_in::<_, bytes::Bytes>("COPY rv (name) FROM STDIN")
        .await
    else {
        panic!("COPY leaving out a column with a volatile DEFAULT started");
    };
    assert_eq!(code(&e), "0A000", "{e}");
    // Refused at Parse, as PostgreSQL refuses a bad COPY: the connection stays in step.
    let Err(e) = c.copy_in::<_, bytes::Bytes>("COPY nope FROM STDIN").await else {
        panic!("COPY into a missing table started");
    };
    assert_eq!(code(&e), "42P01", "{e}");
    let mut want_ev = want_ev;
    want_ev.insert(3, (true, "k1".to_owned(), Some(2), "copy1".to_owned()));
    want_ev.insert(4, (true, "k2".to_owned(), Some(2), "copy2".to_owned()));
    assert_eq!(rows(c).await.0, want_ev);
}

/// `CREATE TABLE ... AS`: columns and types from the query, its rows, tag `SELECT n`; a
/// query that fails to plan or to run leaves no table behind.
#[tokio::test(flavor = "multi_thread")]
async fn create_table_as_takes_the_querys_columns_and_rows() {
    let s = Server::start();
    let c = s.client().await;
    setup_cpu(&c).await;
    let messages = c
        .simple_query(
            "CREATE TABLE hourly AS SELECT date_trunc('hour', time) AS hour, host, \
             avg(usage) AS avg_usage, count(*) AS n FROM cpu GROUP BY 1, 2",
        )
        .await
        .unwrap();
    let rows = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    assert_eq!(rows, Some(4), "tag SELECT 4");
    let types: Vec<(String, String)> = c
        .query(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = 'hourly' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("hour", "timestamp with time zone"),
        ("host", "text"),
        ("avg_usage", "double precision"),
        ("n", "bigint"),
    ];
    assert_eq!(
        types,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    let copied: Vec<(String, i64)> = c
        .query("SELECT host, n FROM hourly ORDER BY hour, host", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [("a", 1), ("b", 1), ("a", 1), ("c", 1)];
    assert_eq!(copied, want.map(|(h, n)| (h.to_owned(), n)).to_vec());
    // An ordinary table (no time column), and an existing name with IF NOT EXISTS.
    c.batch_execute("CREATE TABLE regions AS SELECT DISTINCT region FROM cpu")
        .await
        .unwrap();
    let r = c
        .query_one("SELECT count(*) FROM regions", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 2);
    c.batch_execute("CREATE TABLE IF NOT EXISTS regions AS SELECT 1 AS x")
        .await
        .unwrap();
    let e = c
        .batch_execute("CREATE TABLE regions AS SELECT 1 AS x")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P07", "{e}");
    // Failing to plan creates nothing; failing while inserting drops the new table.
    for (sql, want) in [
        ("CREATE TABLE bad1 AS SELECT * FROM nope", "42P01"),
        (
            "CREATE TABLE bad2 AS SELECT 10 / (cores - 4) AS q FROM cpu",
            "22012",
        ),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), want, "{sql}: {e}");
    }
    let r = c
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'bad%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        r.get::<_, i64>(0),
        0,
        "no table left by a failed CREATE TABLE AS"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_covers_unpartitioned_tables_add_column_and_drop() {
    let s = Server::start();
    let c = s.client().await;
    setup_cpu(&c).await;
    // Reference data without a timestamp: every row kept, joinable.
    c.batch_execute(
        "CREATE TABLE hosts (host text NOT NULL, owner varchar(20), rack smallint, price numeric(10,2), since date);
         INSERT INTO hosts VALUES ('a', 'ann', 1, 12.34, '2023-05-01'), ('b', 'bob', 2, 0.5, '2023-06-01'),
                                  ('a', 'ann', 1, 12.34, '2023-05-01');",
    )
    .await
    .unwrap();
    let r = c
        .query_one("SELECT count(*) FROM hosts", &[])
        .await
        .unwrap();
    assert_eq!(
        r.get::<_, i64>(0),
        3,
        "unpartitioned tables keep duplicate rows"
    );
    let rows = c
        .query(
            "SELECT h.owner, max(c.usage) FROM cpu c JOIN (SELECT DISTINCT host, owner FROM hosts) h ON c.host = h.host GROUP BY h.owner ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, f64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![("ann".into(), 30.25), ("bob".into(), 20.0)]);
    let types = c
        .prepare("SELECT rack, price, since FROM hosts")
        .await
        .unwrap();
    assert_eq!(types.columns()[0].type_(), &Type::INT2);
    assert_eq!(types.columns()[1].type_(), &Type::NUMERIC);
    assert_eq!(types.columns()[2].type_(), &Type::DATE);
    let msgs = c
        .simple_query("SELECT price, since FROM hosts WHERE owner = 'bob'")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&msgs),
        vec![vec![Some("0.50".into()), Some("2023-06-01".into())]]
    );

    // ADD COLUMN: old rows read NULL.
    c.batch_execute("ALTER TABLE cpu ADD COLUMN note text")
        .await
        .unwrap();
    c.batch_execute(
        "INSERT INTO cpu (time, host, note) VALUES ('2024-01-01 03:00:00+00', 'a', 'new')",
    )
    .await
    .unwrap();
    let msgs = c
        .simple_query("SELECT count(note), count(*) FROM cpu")
        .await
        .unwrap();
    assert_eq!(
        simple_rows(&msgs),
        vec![vec![Some("1".into()), Some("5".into())]]
    );

    // DROP, IF EXISTS.
    c.batch_execute("DROP TABLE hosts").await.unwrap();
    assert_eq!(
        code(&c.simple_query("SELECT * FROM hosts").await.unwrap_err()),
        "42P01"
    );
    assert_eq!(
        code(&c.simple_query("DROP TABLE hosts").await.unwrap_err()),
        "42P01"
    );
    c.batch_execute("DROP TABLE IF EXISTS hosts").await.unwrap();
}

/// Runs a `COPY ... TO STDOUT` and returns its output as text.
async fn copy_out_text(c: &tokio_postgres::Client, sql: &str) -> String {
    let out = c.copy_out(sql).await.unwrap();
    let chunks: Vec<_> = out.collect::<Vec<_>>().await;
    chunks
        .into_iter()
        .map(|c| String::from_utf8(c.unwrap().to_vec()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_in_text_csv_binary_and_copy_out() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute("CREATE TABLE m (time timestamptz, host text, v double precision, n bigint)")
        .await
        .unwrap();

    let text = "2024-01-01 00:00:00+00\ta\t1.5\t1\n2024-01-01 00:00:01+00\tb\t\\N\t2\n";
    let sink = c.copy_in("COPY m FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);

    let csv = "time,host,v,n\n2024-01-01T00:00:02Z,\"c,d\",2.5,3\n";
    let sink = c
        .copy_in("COPY m FROM STDIN WITH (FORMAT csv, HEADER true)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(csv)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1);

    let sink = c
        .copy_in("COPY m (time, host, n) FROM STDIN BINARY")
        .await
        .unwrap();
    let writer = tokio_postgres::binary_copy::BinaryCopyInWriter::new(
        sink,
        &[Type::TIMESTAMPTZ, Type::TEXT, Type::INT8],
    );
    futures::pin_mut!(writer);
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_704_067_203);
    writer.as_mut().write(&[&t, &"e", &4i64]).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 1);

    // A bad row stores nothing and says where it is.
    let sink = c.copy_in("COPY m FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(
        "2024-01-01 00:00:09+00\tz\t1\t1\n2024-01-01 00:00:10+00\tz\tnot-a-number\t1\n",
    ))
    .await
    .unwrap();
    let e = sink.finish().await.unwrap_err();
    assert_eq!(code(&e), "22P02", "{e}");
    assert!(e.as_db_error().unwrap().message().contains("line 2"), "{e}");
    let sink = c.copy_in("COPY m FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from("2024-01-01 00:00:11+00\tz\t1\n"))
        .await
        .unwrap();
    assert_eq!(code(&sink.finish().await.unwrap_err()), "22P04");

    let r = c.query_one("SELECT count(*) FROM m", &[]).await.unwrap();
    assert_eq!(r.get::<_, i64>(0), 4);

    // COPY TO STDOUT in text and CSV.
    let text = copy_out_text(
        &c,
        "COPY (SELECT host, v, n FROM m ORDER BY time) TO STDOUT",
    )
    .await;
    assert_eq!(text, "a\t1.5\t1\nb\t\\N\t2\nc,d\t2.5\t3\ne\t\\N\t4\n");
    let csv = copy_out_text(&c, "COPY m (host, n) TO STDOUT WITH (FORMAT csv)").await;
    let mut lines: Vec<&str> = csv.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["\"c,d\",3", "a,1", "b,2", "e,4"]);

    // COPY TO prints timestamptz in the session's TimeZone, as Postgres does.
    c.batch_execute("SET TimeZone = 'Asia/Kolkata'")
        .await
        .unwrap();
    let csv = copy_out_text(
        &c,
        "COPY (SELECT time FROM m WHERE host = 'a') TO STDOUT WITH (FORMAT csv)",
    )
    .await;
    assert_eq!(csv, "2024-01-01 05:30:00+05:30\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_transactions_and_functions() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "SET application_name = 'wire-test'; SET TimeZone = 'UTC'; SET extra_float_digits = 3",
    )
    .await
    .unwrap();
    let r = c.query_one("SHOW application_name", &[]).await.unwrap();
    assert_eq!(r.get::<_, String>(0), "wire-test");
    let r = c
        .query_one("SELECT current_setting('application_name'), current_database(), current_schema(), version()", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "wire-test");
    assert_eq!(r.get::<_, String>(1), "strata");
    assert_eq!(r.get::<_, String>(2), "public");
    assert!(r.get::<_, String>(3).starts_with("PostgreSQL 16"));
    c.batch_execute("RESET application_name").await.unwrap();
    let r = c.query_one("SHOW application_name", &[]).await.unwrap();
    assert_eq!(r.get::<_, String>(0), "");
    // Transactions are accepted (autocommit semantics).
    c.batch_execute("BEGIN; CREATE TABLE tx (time timestamptz, v double precision); COMMIT;")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        code(&c.simple_query("SELECT * FROM missing").await.unwrap_err()),
        "42P01"
    );
    // In a failed transaction block only ROLLBACK/COMMIT are accepted, as in Postgres.
    assert_eq!(
        code(&c.simple_query("SELECT 1").await.unwrap_err()),
        "25P02"
    );
    c.batch_execute("ROLLBACK").await.unwrap();
    c.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_and_statement_timeout_stop_a_running_query() {
    let s = Server::start();
    let c = s.client().await;
    let token = c.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let started = std::time::Instant::now();
    let e = c.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20));
    canceller.await.unwrap();
    c.batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let e = c.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
    c.batch_execute("SET statement_timeout = 0").await.unwrap();
    c.simple_query("SELECT pg_sleep(0.01)").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_database_are_rejected() {
    let s = Server::start();
    let bad = format!(
        "host={} port={} user=strata password=wrong dbname=strata sslmode=disable",
        s.addr.ip(),
        s.addr.port()
    );
    let e = tokio_postgres::connect(&bad, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&e), "28P01");
    let nobody = bad.replace("user=strata", "user=nobody");
    let e = tokio_postgres::connect(&nobody, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&e), "28P01");
    let other_db = s.conn_str().replace("dbname=strata", "dbname=postgres");
    let e = tokio_postgres::connect(&other_db, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code(&e), "3D000");
}

#[tokio::test(flavor = "multi_thread")]
async fn pushdown_on_and_off_give_identical_results_and_explain_shows_pruning() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE p (time timestamptz, host text, v double precision) WITH (partition_interval = '1 hour')",
    )
    .await
    .unwrap();
    let mut values = Vec::new();
    for h in 0..6 {
        for m in 0..(6 * 60) {
            values.push(format!(
                "('2024-01-01 00:00:00+00'::timestamptz + interval '{m} minutes', 'h{h}', {})",
                (h * 1000 + m) as f64 / 7.0
            ));
        }
    }
    for chunk in values.chunks(500) {
        c.batch_execute(&format!("INSERT INTO p VALUES {}", chunk.join(",")))
            .await
            .unwrap();
    }
    let queries = [
        "SELECT count(*), sum(v) FROM p WHERE time >= '2024-01-01 01:00:00+00' AND time < '2024-01-01 02:30:00+00'",
        "SELECT host, max(v) FROM p WHERE host IN ('h1', 'h3') GROUP BY host ORDER BY host",
        "SELECT * FROM p WHERE host = 'h2' AND time > '2024-01-01 05:00:00+00' ORDER BY time",
        "SELECT * FROM p WHERE host = 'h4' OR host = 'h5' ORDER BY time, host LIMIT 7",
        "SELECT time, v FROM p WHERE time BETWEEN '2024-01-01 00:10:00+00' AND '2024-01-01 00:20:00+00' AND v > 100 ORDER BY time, v",
        "SELECT count(*) FROM p WHERE time = '2024-01-01 03:03:00+00'",
        "SELECT * FROM p ORDER BY time DESC, host LIMIT 3",
    ];
    let mut on = Vec::new();
    for q in queries {
        on.push(simple_rows(&c.simple_query(q).await.unwrap()));
    }
    c.batch_execute("SET strata.pushdown = off").await.unwrap();
    for (q, want) in queries.iter().zip(&on) {
        assert_eq!(&simple_rows(&c.simple_query(q).await.unwrap()), want, "{q}");
        assert!(!want.is_empty(), "{q} returned nothing");
    }
    let plan = simple_rows(
        &c.simple_query(&format!("EXPLAIN {}", queries[0]))
            .await
            .unwrap(),
    );
    let text = format!("{plan:?}");
    assert!(text.contains("pruning=off"), "{text}");
    c.batch_execute("SET strata.pushdown = on").await.unwrap();
    let plan = simple_rows(
        &c.simple_query(&format!("EXPLAIN {}", queries[0]))
            .await
            .unwrap(),
    );
    let text = format!("{plan:?}");
    assert!(text.contains("StrataScanExec"), "{text}");
    assert!(text.contains("partitions=2/6"), "{text}");
    assert!(
        text.contains("time=[2024-01-01T01:00:00Z, 2024-01-01T02:30:00Z)"),
        "{text}"
    );
}

async fn cold_after(c: &tokio_postgres::Client) -> Option<i64> {
    c.query_one(
        "SELECT cold_after_ns FROM system.tables WHERE table_name = 't'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// `cold_after` over SQL: `WITH (...)`, `ALTER TABLE ... SET (...)` / `RESET (...)`,
/// `system.tables`, tiering by `CALL strata.run_job('tiering')`, `system.partitions` showing
/// each tier, and queries reading cold and local rows together.
#[tokio::test(flavor = "multi_thread")]
async fn cold_after_moves_old_partitions_and_queries_span_tiers() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE t (time timestamptz NOT NULL, host text, v double precision, n integer, d date)
           WITH (partition_interval = '1 hour', cold_after = '1 day');
         INSERT INTO t VALUES
           ('2024-01-01 00:10:00+00', 'a', 1.5, 1, '2024-01-01'),
           ('2024-01-01 00:20:00+00', 'b', 2.5, 2, '2024-01-02'),
           ('2024-01-01 01:10:00+00', 'a', 3.5, 3, NULL);
         INSERT INTO t VALUES (now(), 'a', 9.0, 9, NULL);",
    )
    .await
    .unwrap();
    assert_eq!(cold_after(&c).await, Some(86_400_000_000_000));
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    let runs = c
        .query("CALL strata.run_job('tiering')", &[])
        .await
        .unwrap();
    assert!(runs.len() <= 1);
    for r in &runs {
        assert_eq!(
            r.get::<_, String>("outcome"),
            "succeeded",
            "{:?}",
            r.get::<_, Option<String>>("error")
        );
    }
    // The scheduler may have moved them first (the call then finds nothing left).
    let moved: i64 = c
        .query_one(
            "SELECT CAST(sum(rows) AS bigint) FROM system.job_runs WHERE kind = 'tiering'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 3);
    let tiers: Vec<(String, i64)> = c
        .query(
            "SELECT tier, CAST(rows AS bigint) FROM system.partitions WHERE table_name = 't' ORDER BY partition_start",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        tiers,
        vec![("cold".into(), 2), ("cold".into(), 1), ("local".into(), 1)]
    );
    let rows: Vec<(String, f64, i32, Option<String>)> = c
        .query(
            "SELECT host, v, n, CAST(d AS text) FROM t ORDER BY time",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("a".into(), 1.5, 1, Some("2024-01-01".into())),
            ("b".into(), 2.5, 2, Some("2024-01-02".into())),
            ("a".into(), 3.5, 3, None),
            ("a".into(), 9.0, 9, None),
        ]
    );
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM t WHERE host = 'a' AND time < '2024-01-01 01:00:00+00'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // EXPLAIN shows what each tier reads: one of two cold partitions, its one row group.
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT count(*) FROM t WHERE host = 'a' AND time < '2024-01-01 01:00:00+00'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(1))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("cold=[partitions=1/2, objects=1/2, row_groups=1/1, rows=2/2]"),
        "{plan}"
    );
    assert!(
        plan.contains("local=[partitions=0/1, segments=0/1]"),
        "{plan}"
    );

    c.batch_execute("ALTER TABLE t SET (cold_after = '2 days')")
        .await
        .unwrap();
    assert_eq!(cold_after(&c).await, Some(2 * 86_400_000_000_000));
    c.batch_execute("ALTER TABLE t RESET (cold_after)")
        .await
        .unwrap();
    assert_eq!(cold_after(&c).await, None);
    let e = c
        .batch_execute("ALTER TABLE t SET (cold_after = 'soon')")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P16");
    let e = c
        .batch_execute("CREATE TABLE plain (id integer) WITH (cold_after = '1 day')")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P16");
}

/// The cold tier on a real S3 server (moto on loopback, signatures checked), configured in
/// the `[s3]` section: `system.partitions` names the `s3://` location and queries span
/// tiers. Once the server is stopped, a query over cold rows the cold-read cache holds is
/// still answered, one that needs an uncached cold partition fails with 58030, and queries
/// over local rows and other sessions carry on.
#[tokio::test(flavor = "multi_thread")]
async fn an_s3_cold_store_serves_queries_and_an_unreachable_one_fails_them_with_58030() {
    let mut s3 = strata_tests::s3::S3Server::start();
    let s = Server::start_with_config(&format!(
        "cold_store = \"s3://{}/sql\"\n[s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = true\n",
        s3.bucket, s3.endpoint, s3.access_key_id, s3.secret_access_key
    ));
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE t (time timestamptz NOT NULL, host text, v double precision)
           WITH (partition_interval = '1 hour', cold_after = '1 day');
         INSERT INTO t VALUES ('2024-01-01 00:10:00+00', 'a', 1.5),
                              ('2024-01-01 00:20:00+00', 'b', 2.5),
                              ('2024-01-01 05:20:00+00', 'b', 4.0),
                              (now(), 'a', 9.0);
         CALL strata.run_job('flush');",
    )
    .await
    .unwrap();
    // The scheduler may have moved the partitions first; then the call moves nothing.
    for r in c
        .query("CALL strata.run_job('tiering')", &[])
        .await
        .unwrap()
    {
        assert_eq!(r.get::<_, String>("outcome"), "succeeded");
    }
    let parts: Vec<(String, String)> = c
        .query(
            "SELECT tier, location FROM system.partitions WHERE table_name = 't'
              ORDER BY partition_start",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!((parts[0].0.as_str(), parts[1].0.as_str()), ("cold", "cold"));
    assert!(
        parts[0]
            .1
            .starts_with(&format!("s3://{}/sql/t/p", s3.bucket)),
        "{parts:?}"
    );
    assert_eq!(s3.list("sql/t").len(), 2);
    let first_hour = "SELECT sum(v) FROM t WHERE time < '2024-01-01 01:00:00+00'";
    let sum: f64 = c.query_one(first_hour, &[]).await.unwrap().get(0);
    assert_eq!(sum, 4.0);

    s3.stop();
    let sum: f64 = c.query_one(first_hour, &[]).await.unwrap().get(0);
    assert_eq!(sum, 4.0, "served from the cold-read cache");
    let e = c.query("SELECT sum(v) FROM t", &[]).await.unwrap_err();
    assert_eq!(code(&e), "58030", "{e:?}");
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM t WHERE time > now() - interval '1 hour'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "local rows are still served");
    let other = s.client().await;
    let n: i64 = other
        .query_one("SELECT count(*) FROM system.tables", &[])
        .await
        .unwrap()
        .get(0);
    assert!(n >= 1);
}

/// DELETE, TRUNCATE and ERASE SUBJECT over both protocols: exact counts, rows invisible when
/// the statement returns, receipts in `system.erasures` (the subject by hash only) that the
/// purge job verifies, `retention` and `subject_column` as table options.
#[tokio::test(flavor = "multi_thread")]
async fn delete_truncate_and_erase_subject_leave_verified_receipts() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE ev (time timestamptz NOT NULL, user_id text, host text, v double precision)
           WITH (partition_interval = '1 hour', subject_column = 'user_id');
         CREATE TABLE other (time timestamptz NOT NULL, user_id text, v double precision)
           WITH (subject_column = user_id);
         INSERT INTO ev VALUES
           ('2024-01-01 00:00:00+00', 'u1', 'a', 1), ('2024-01-01 00:10:00+00', 'u2', 'a', 2),
           ('2024-01-01 01:00:00+00', 'u1', 'b', 3), ('2024-01-01 01:10:00+00', 'u2', 'b', 4),
           ('2024-01-01 02:00:00+00', 'u3', 'a', 5), ('2024-01-01 02:10:00+00', 'u3', NULL, 6);
         INSERT INTO other VALUES ('2024-01-01 00:00:00+00', 'u2', 7), ('2024-01-01 00:00:00+00', 'u1', 8);",
    )
    .await
    .unwrap();
    let count = |t: &'static str| {
        let c = &c;
        async move {
            c.query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    // Some rows flushed, some in the memtable.
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    c.execute(
        "INSERT INTO ev VALUES ('2024-01-01 03:00:00+00', 'u2', 'c', 9)",
        &[],
    )
    .await
    .unwrap();

    // Extended protocol, with a parameter and an expression.
    let n = c
        .execute(
            "DELETE FROM ev WHERE host = $1 AND time < TIMESTAMPTZ '2024-01-01 01:00:00+00' + interval '30 minutes'",
            &[&"b"],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(count("ev").await, 5);
    let n = c
        .execute(
            "DELETE FROM ev WHERE host IS NULL OR time = '2024-01-01 00:00:00+00'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(count("ev").await, 3);

    // ERASE SUBJECT reaches every table with a subject column; the result is one row.
    let rows = simple_rows(&c.simple_query("ERASE SUBJECT 'u2'").await.unwrap());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0][1].as_deref(),
        Some("3"),
        "2 in ev, 1 in other: {rows:?}"
    );
    assert_eq!(count("ev").await, 1);
    assert_eq!(count("other").await, 1);
    let hash: String = c
        .query_one("SELECT strata.subject_hash('u2')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hash.len(), 64);
    // With FROM, only the tables named; a parameter as the subject.
    let row = c
        .query_one("ERASE SUBJECT $1 FROM other", &[&"u1"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(1), 1);
    assert_eq!(count("ev").await, 1, "u1's row in ev stays");

    // Receipts: pending until the purge, then verified; the subject only by hash.
    c.simple_query("CALL strata.run_job('purge')")
        .await
        .unwrap();
    let receipts = c
        .query(
            "SELECT erasure_id, kind, requested_by, tables, rows, state, subject_hash, verification
               FROM system.erasures ORDER BY erasure_id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(receipts.len(), 4);
    let kinds: Vec<String> = receipts.iter().map(|r| r.get(1)).collect();
    assert_eq!(kinds, ["delete", "delete", "subject", "subject"]);
    assert!(receipts.iter().all(|r| r.get::<_, String>(2) == "strata"));
    assert_eq!(receipts[2].get::<_, String>(3), "ev,other");
    assert_eq!(receipts[2].get::<_, i64>(4), 3);
    assert_eq!(receipts[2].get::<_, Option<String>>(6), Some(hash));
    for r in &receipts {
        assert_eq!(r.get::<_, String>(5), "verified", "{r:?}");
        assert!(r.get::<_, String>(7).contains("0 matching rows"));
    }
    let files: i64 = c
        .query_one(
            "SELECT count(*) FROM system.erasure_files WHERE length(sha256_before) = 64",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(files >= 2, "{files}");

    // TRUNCATE empties the table (`other` is empty already: both its subjects are erased).
    c.batch_execute("TRUNCATE ev").await.unwrap();
    assert_eq!(count("ev").await, 0);
    assert_eq!(count("other").await, 0);

    // Options and the errors around them.
    c.batch_execute("ALTER TABLE ev SET (retention = '30 days')")
        .await
        .unwrap();
    let row = c
        .query_one(
            "SELECT retention_ns, subject_column FROM system.tables WHERE table_name = 'ev'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<i64>>(0), Some(30 * 86_400_000_000_000));
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("user_id"));
    for (sql, want) in [
        ("DELETE FROM nope", "42P01"),
        ("ERASE SUBJECT 'x' FROM nope", "42P01"),
        ("ALTER TABLE ev SET (subject_column = v)", "42P16"),
    ] {
        let e = c.batch_execute(sql).await.unwrap_err();
        assert_eq!(code(&e), want, "{sql}: {e}");
    }
}

/// DELETE by conditions storage cannot keep as a predicate (fields, LIKE on a tag,
/// arithmetic): exact counts over both protocols, rows in the memtable and in segments,
/// an error that deletes nothing, receipts verified by the purge.
#[tokio::test(flavor = "multi_thread")]
async fn delete_by_field_conditions_removes_exactly_the_matching_rows() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE m (time timestamptz NOT NULL, host text, status text, n integer, v double precision)
           WITH (partition_interval = '1 hour', tags = 'host')",
    )
    .await
    .unwrap();
    // (host, n): 40 rows over 4 hours, flushed to segments; then every fifth written again
    // with status 'bad' (a newer version of the same point, in the memtable), and 20 more
    // rows, n + 100, one second later.
    let row = |n: i32, status: &str| {
        let host = if n % 2 == 0 { "a" } else { "b" };
        let base = n % 100;
        let secs = base * 360 + i32::from(n >= 100);
        format!(
            "(TIMESTAMPTZ '2024-01-01 00:00:00+00' + interval '{secs} seconds', '{host}', {status}, {n}, {})",
            f64::from(base) * 1.5
        )
    };
    let insert = |ns: Vec<i32>, status: &'static str| {
        let values: Vec<String> = ns.into_iter().map(|n| row(n, status)).collect();
        format!("INSERT INTO m VALUES {}", values.join(", "))
    };
    c.batch_execute(&insert((0..40).collect(), "NULL"))
        .await
        .unwrap();
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    c.batch_execute(&insert((0..40).filter(|n| n % 5 == 0).collect(), "'bad'"))
        .await
        .unwrap();
    c.batch_execute(&insert((100..120).filter(|n| n % 5 != 0).collect(), "NULL"))
        .await
        .unwrap();
    c.batch_execute(&insert(
        (100..120).filter(|n| n % 5 == 0).collect(),
        "'bad'",
    ))
    .await
    .unwrap();
    let host = |n: i32| if n % 2 == 0 { "a" } else { "b" }.to_owned();
    let mut rows: Vec<(String, i32)> = (0..40).chain(100..120).map(|n| (host(n), n)).collect();
    let bad = |n: i32| n % 5 == 0;
    let remaining = || {
        let c = &c;
        async move {
            let mut got: Vec<(String, i32)> = c
                .query("SELECT host, n FROM m", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            got.sort();
            got
        }
    };
    let check = |rows: &Vec<(String, i32)>| {
        let mut want = rows.clone();
        want.sort();
        want
    };
    assert_eq!(remaining().await, check(&rows));

    // A text field and a tag (the tag part prunes, the field part is tested row by row).
    let n = c
        .execute("DELETE FROM m WHERE status = 'bad' AND host = 'a'", &[])
        .await
        .unwrap();
    let before = rows.len();
    rows.retain(|(h, n)| !(h == "a" && bad(n % 100)));
    assert_eq!(n as usize, before - rows.len());
    assert_eq!(remaining().await, check(&rows));
    // An integer field with a parameter (extended protocol).
    let n = c
        .execute("DELETE FROM m WHERE n >= $1 AND n < $2", &[&30i32, &34i32])
        .await
        .unwrap();
    let before = rows.len();
    rows.retain(|(_, n)| !(30..34).contains(n));
    assert_eq!(n as usize, before - rows.len());
    // Arithmetic and LIKE on a tag (simple protocol).
    let done = c
        .simple_query("DELETE FROM m WHERE host LIKE 'b%' AND v * 2 > 100")
        .await
        .unwrap();
    let before = rows.len();
    rows.retain(|(h, n)| !(h == "b" && f64::from(n % 100) * 1.5 * 2.0 > 100.0));
    assert!(
        matches!(done.last(), Some(SimpleQueryMessage::CommandComplete(k)) if *k as usize == before - rows.len()),
        "{done:?}"
    );
    assert_eq!(remaining().await, check(&rows));
    // A condition that fails on some row deletes nothing.
    let e = c
        .batch_execute("DELETE FROM m WHERE 1 / (n - 7) > 0")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "22012", "{e}");
    assert_eq!(remaining().await, check(&rows));

    // The purge removes them from every file; the survivors are as they were.
    c.simple_query("CALL strata.run_job('purge')")
        .await
        .unwrap();
    let states: Vec<String> = c
        .query("SELECT state FROM system.erasures", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, ["verified"; 3]);
    assert_eq!(remaining().await, check(&rows));

    // Rows of an append-only table have no key: only time and tag conditions.
    c.batch_execute(
        "CREATE TABLE plain (id integer, name text);
         INSERT INTO plain VALUES (1, 'x'), (2, 'y')",
    )
    .await
    .unwrap();
    let e = c
        .batch_execute("DELETE FROM plain WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&e), "0A000", "{e}");
}

/// Runs `sql`, again while it fails with 57014: a cancel request sent for an earlier
/// statement may reach the server only once this one started (as on PostgreSQL).
async fn execute_past_late_cancels(c: &tokio_postgres::Client, sql: &str) {
    loop {
        match c.batch_execute(sql).await {
            Ok(()) => return,
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => continue,
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// Point 5 of issue 14: a write stopped by a cancel or `statement_timeout` has stored
/// nothing, and a write that stored its rows never reports 57014 (a client that retries
/// on 57014 must not duplicate rows). Races interrupts at random moments against
/// INSERTs of every size and against COMMITs of transaction blocks, then checks each
/// statement's outcome against what the table holds.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_write_stores_nothing_and_a_stored_one_never_reports_57014() {
    use rand::{Rng, SeedableRng};

    let s = Server::start();
    let c = s.client().await;
    c.batch_execute("CREATE TABLE race (time timestamptz, batch bigint, k bigint)")
        .await
        .unwrap();
    let seed: u64 = std::env::var("STRATA_RACE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("STRATA_RACE_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // batch -> rows it stored (None: it reported 57014, so it must have stored nothing).
    let mut expected: Vec<(i64, Option<u64>)> = Vec::new();
    for batch in 0..240i64 {
        let rows: u64 = [1, 40, 2_000, 30_000, 120_000][rng.random_range(0..5)];
        let in_block = rng.random_bool(0.3);
        let by_cancel = rng.random_bool(0.5);
        // Half the interrupts come within 2 ms, when most writes are still running.
        let within_us = if rng.random_bool(0.5) { 2_000 } else { 40_000 };
        let delay = Duration::from_micros(rng.random_range(0..within_us));
        // Each batch has times of its own: the table has no tags, so a row at an earlier
        // batch's time would replace that row (last write wins).
        let base = batch * 1_000_000;
        let insert = if rows <= 40 {
            let values: Vec<String> = (0..rows)
                .map(|k| format!("(to_timestamp({base} + {k}), {batch}, {k})"))
                .collect();
            format!("INSERT INTO race VALUES {}", values.join(", "))
        } else {
            format!(
                "INSERT INTO race SELECT to_timestamp({base} + k), {batch}, k FROM generate_series(1, {rows}) AS g(k)"
            )
        };
        if in_block {
            execute_past_late_cancels(&c, "BEGIN").await;
            match c.simple_query(&insert).await {
                Ok(_) => {}
                Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
                    // A late cancel failed the block: nothing of it may be stored.
                    execute_past_late_cancels(&c, "ROLLBACK").await;
                    expected.push((batch, None));
                    continue;
                }
                Err(e) => panic!("{insert}: {e}"),
            }
        }
        if !by_cancel {
            let ms = delay.as_millis().max(1);
            execute_past_late_cancels(&c, &format!("SET statement_timeout = {ms}")).await;
        }
        let canceller = by_cancel.then(|| {
            let token = c.cancel_token();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                token.cancel_query(tokio_postgres::NoTls).await.unwrap();
            })
        });
        let statement = if in_block { "COMMIT" } else { insert.as_str() };
        let outcome = c.simple_query(statement).await;
        if let Some(h) = canceller {
            h.await.unwrap();
        }
        match outcome {
            Ok(msgs) => {
                if !in_block {
                    let reported = msgs.iter().find_map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    });
                    assert_eq!(reported, Some(rows), "batch {batch}");
                }
                expected.push((batch, Some(rows)));
            }
            // A COMMIT interrupted before its commit point ends the block with nothing
            // stored, as a failed COMMIT does on PostgreSQL.
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => expected.push((batch, None)),
            Err(e) => panic!("batch {batch}: {statement}: {e}"),
        }
        execute_past_late_cancels(&c, "SET statement_timeout = 0").await;
    }

    execute_past_late_cancels(&c, "SELECT 1").await;
    let stored: std::collections::HashMap<i64, i64> = c
        .query("SELECT batch, count(*) FROM race GROUP BY batch", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (batch, rows) in &expected {
        let found = stored.get(batch).copied().unwrap_or(0);
        match rows {
            Some(n) => assert_eq!(found, *n as i64, "batch {batch} committed, seed {seed}"),
            None => assert_eq!(found, 0, "batch {batch} reported 57014, seed {seed}"),
        }
    }
    let interrupted = expected.iter().filter(|(_, r)| r.is_none()).count();
    let committed = expected.len() - interrupted;
    eprintln!("{committed} writes committed, {interrupted} interrupted");
    assert!(
        committed >= 10 && interrupted >= 10,
        "the race must exercise both outcomes: {committed} committed, {interrupted} interrupted (seed {seed})"
    );
}
