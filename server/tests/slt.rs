//! SQL semantics as sqllogictest files (`tests/slt/*.slt`), run over the wire against the
//! real server with tokio-postgres' simple query protocol. Values are compared as the
//! server's text output; NULL prints as `NULL` and the empty string as `(empty)`. Errors
//! include their SQLSTATE, so `statement error 42P01` checks the code.

mod common;

use std::path::PathBuf;

use async_trait::async_trait;
use common::Server;
use sqllogictest::{DBOutput, DefaultColumnType};

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

struct Conn(tokio_postgres::Client);

#[async_trait]
impl sqllogictest::AsyncDB for Conn {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let msgs = self.0.simple_query(sql).await.map_err(|e| {
            SltError(match e.as_db_error() {
                Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
                None => e.to_string(),
            })
        })?;
        let mut rows = Vec::new();
        let mut width = None;
        let mut count = 0;
        for m in &msgs {
            match m {
                tokio_postgres::SimpleQueryMessage::RowDescription(cols) => {
                    width = Some(cols.len())
                }
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    width = Some(r.len());
                    rows.push(
                        (0..r.len())
                            .map(|i| match r.get(i) {
                                None => "NULL".to_owned(),
                                Some("") => "(empty)".to_owned(),
                                Some(v) => v.to_owned(),
                            })
                            .collect(),
                    );
                }
                tokio_postgres::SimpleQueryMessage::CommandComplete(n) => count = *n,
                _ => {}
            }
        }
        match width {
            Some(w) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; w],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqllogictest_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    for file in files {
        // A fresh server per file, so files are independent.
        let server = Server::start();
        let conn_str = server.conn_str();
        let mut runner = sqllogictest::Runner::new(move || {
            let conn_str = conn_str.clone();
            async move {
                let (client, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(Conn(client))
            }
        });
        runner.with_column_validator(|_, _| true);
        if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}:\n{e}", file.display());
        }
    }
}
