//! Portals with row limits and SQL cursors over the extended protocol (tokio-postgres),
//! against the real server. The cursor semantics themselves (every direction, lifetimes in
//! blocks, PostgreSQL's refusals) are in `tests/slt/09_cursors.slt`; psql's `FETCH_COUNT`
//! is in `psql.rs`.

mod common;

use std::time::Duration;

use common::Server;

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_owned())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

async fn setup(c: &tokio_postgres::Client, rows: i64) {
    c.batch_execute("CREATE TABLE pc (ts timestamptz NOT NULL, k bigint)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=rows)
        .map(|k| format!("(to_timestamp({k}), {k})"))
        .collect();
    c.batch_execute(&format!("INSERT INTO pc VALUES {}", values.join(", ")))
        .await
        .unwrap();
}

fn ks(rows: &[tokio_postgres::Row]) -> Vec<i64> {
    rows.iter().map(|r| r.get::<_, i64>(0)).collect()
}

/// JDBC's `setFetchSize` and asyncpg's cursors: Execute with a row limit suspends the
/// portal, the next Execute resumes it, and each Execute gets its own `statement_timeout`.
#[tokio::test(flavor = "multi_thread")]
async fn portals_with_row_limits_resume_where_they_stopped() {
    let s = Server::start();
    let mut c = s.client().await;
    // More rows than one batch (8,192), so that resuming a portal reads on from its query.
    let n = 20_000;
    setup(&c, n).await;
    c.batch_execute("SET statement_timeout = '1s'")
        .await
        .unwrap();
    let tx = c.transaction().await.unwrap();
    let stmt = tx.prepare("SELECT k FROM pc ORDER BY k").await.unwrap();
    let a = tx.bind(&stmt, &[]).await.unwrap();
    let b = tx.bind(&stmt, &[]).await.unwrap();
    assert_eq!(ks(&tx.query_portal(&a, 4).await.unwrap()), [1, 2, 3, 4]);
    // Two portals of one statement go at their own pace.
    assert_eq!(ks(&tx.query_portal(&b, 3).await.unwrap()), [1, 2, 3]);
    // Longer than statement_timeout between Executes: the clock starts at each one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let next = ks(&tx.query_portal(&a, 9000).await.unwrap());
    assert_eq!(next, (5..9005).collect::<Vec<i64>>());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rest = ks(&tx.query_portal(&a, 0).await.unwrap());
    assert_eq!(rest, (9005..=n).collect::<Vec<i64>>());
    assert!(tx.query_portal(&a, 4).await.unwrap().is_empty());
    let rest = ks(&tx.query_portal(&b, 0).await.unwrap());
    assert_eq!(rest, (4..=n).collect::<Vec<i64>>());
    tx.commit().await.unwrap();
}

/// DECLARE with bound parameters, FETCH with typed rows and MOVE through the extended
/// protocol; the errors have PostgreSQL's codes there too.
#[tokio::test(flavor = "multi_thread")]
async fn cursors_work_through_the_extended_protocol() {
    let s = Server::start();
    let mut c = s.client().await;
    setup(&c, 100).await;

    let e = c
        .execute("DECLARE c CURSOR FOR SELECT k FROM pc", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "25P01", "{e}");
    let e = c.query("FETCH 1 FROM nope", &[]).await.unwrap_err();
    assert_eq!(code(&e), "34000", "{e}");

    let tx = c.transaction().await.unwrap();
    tx.execute(
        "DECLARE c CURSOR FOR SELECT k, k * 2 AS twice FROM pc WHERE k > $1 ORDER BY k",
        &[&90i64],
    )
    .await
    .unwrap();
    let rows = tx.query("FETCH 2 FROM c", &[]).await.unwrap();
    assert_eq!(ks(&rows), [91, 92]);
    assert_eq!(rows[1].get::<_, i64>("twice"), 184);
    assert_eq!(tx.execute("MOVE FORWARD 3 IN c", &[]).await.unwrap(), 3);
    assert_eq!(ks(&tx.query("FETCH NEXT FROM c", &[]).await.unwrap()), [96]);
    assert_eq!(
        ks(&tx.query("FETCH ALL FROM c", &[]).await.unwrap()),
        [97, 98, 99, 100]
    );
    assert!(tx.query("FETCH c", &[]).await.unwrap().is_empty());
    let e = tx
        .execute("DECLARE c CURSOR FOR SELECT 1", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&e), "42P03", "{e}");
    tx.rollback().await.unwrap();

    let tx = c.transaction().await.unwrap();
    tx.batch_execute("DECLARE f NO SCROLL CURSOR FOR SELECT k FROM pc ORDER BY k")
        .await
        .unwrap();
    assert_eq!(
        ks(&tx.query("FETCH 5 FROM f", &[]).await.unwrap()),
        [1, 2, 3, 4, 5]
    );
    let e = tx.query("FETCH PRIOR FROM f", &[]).await.unwrap_err();
    assert_eq!(code(&e), "55000", "{e}");
    tx.rollback().await.unwrap();

    // The connection is fine after all that.
    let n: i64 = c
        .query_one("SELECT count(*) FROM pc", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
}
