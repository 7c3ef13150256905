//! Acknowledged writes survive SIGKILL: INSERTs and a COPY are acknowledged, the server
//! is killed with SIGKILL, restarted on the same data directory, and every acknowledged
//! row is there. A writer keeps inserting while the kill lands, and every INSERT that got
//! its CommandComplete must be found.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use futures::SinkExt;

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_inserts_and_copy_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let c = s.client().await;
    c.batch_execute("CREATE TABLE k (time timestamptz, host text, seq bigint)")
        .await
        .unwrap();
    c.batch_execute("CREATE TABLE ref (id bigint, name text)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO ref VALUES (1, 'one'), (2, 'two')")
        .await
        .unwrap();

    // COPY 10,000 rows, acknowledged.
    let mut text = String::new();
    for i in 0..10_000i64 {
        text.push_str(&format!("2023-11-14 22:13:20.{i:06}+00\th{}\t{i}\n", i % 7));
    }
    let sink = c.copy_in("COPY k FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 10_000);

    // A writer inserting one row per statement, recording what was acknowledged, while
    // the server is killed under it.
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let acked = Arc::clone(&acked);
        let c2 = s.client().await;
        tokio::spawn(async move {
            for i in 0u64.. {
                let sql = format!(
                    "INSERT INTO k VALUES ('2024-01-01 00:00:00+00'::timestamptz + interval '{i} seconds', 'w', {})",
                    100_000 + i
                );
                if c2.batch_execute(&sql).await.is_err() {
                    break;
                }
                acked.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill9();
    writer.await.unwrap();
    let acked = acked.load(Ordering::SeqCst);
    assert!(
        acked > 0,
        "the writer got no acknowledgement before the kill"
    );

    let s = Server::start_in(&data, &[]);
    let c = s.client().await;
    let r = c
        .query_one("SELECT count(*) FROM k WHERE host <> 'w'", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 10_000);
    let r = c
        .query_one(
            "SELECT count(*), min(seq), max(seq) FROM k WHERE host = 'w'",
            &[],
        )
        .await
        .unwrap();
    let (n, min, max): (i64, Option<i64>, Option<i64>) = (r.get(0), r.get(1), r.get(2));
    // Every acknowledged insert is there; the one in flight at the kill may be too.
    assert!(
        n as u64 >= acked && n as u64 <= acked + 1,
        "found {n}, acknowledged {acked}"
    );
    assert_eq!(min, Some(100_000));
    assert_eq!(max, Some(100_000 + n - 1));
    let r = c.query_one("SELECT count(*) FROM ref", &[]).await.unwrap();
    assert_eq!(r.get::<_, i64>(0), 2);
}
