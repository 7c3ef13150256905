use std::sync::Arc;

use arrow::array::{AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use super::*;

/// A stream of rows `1..=n` in batches of the given sizes (cycled).
fn stream(n: i64, sizes: &[usize]) -> SendableRecordBatchStream {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let mut batches = Vec::new();
    let mut next = 1;
    let mut i = 0;
    while next <= n {
        let size = sizes[i % sizes.len()] as i64;
        i += 1;
        let end = (next + size - 1).min(n);
        // Empty batches too: a stream may yield them.
        let values: Vec<i64> = if size == 0 {
            vec![]
        } else {
            (next..=end).collect()
        };
        next += values.len() as i64;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(values))],
        )
        .unwrap();
        batches.push(Ok(batch));
    }
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches),
    ))
}

async fn values(f: Fetched) -> (Vec<i64>, u64) {
    match f {
        Fetched::Rows { batches, count } => (
            batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect(),
            count,
        ),
        Fetched::Stream(s) => {
            let batches: Vec<RecordBatch> = s.map(|b| b.unwrap()).collect().await;
            let v: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect();
            let n = v.len() as u64;
            (v, n)
        }
    }
}

/// PostgreSQL's cursor semantics over rows `1..=n`, written directly.
struct Model {
    n: i64,
    pos: i64,
}

impl Model {
    fn fetch(&mut self, d: Direction) -> Vec<i64> {
        let n = self.n;
        let on_row = |p: i64| (1..=n).contains(&p);
        match d {
            Direction::Forward(0) | Direction::Backward(0) | Direction::Relative(0) => {
                if on_row(self.pos) {
                    vec![self.pos]
                } else {
                    vec![]
                }
            }
            Direction::Forward(k) => {
                if self.pos > n {
                    return vec![];
                }
                let k = k as i64;
                let out: Vec<i64> = (self.pos + 1..=(self.pos + k).min(n)).collect();
                self.pos = if self.pos + k > n {
                    n + 1
                } else {
                    self.pos + k
                };
                out
            }
            Direction::ForwardAll => {
                if self.pos > n {
                    return vec![];
                }
                let out = (self.pos + 1..=n).collect();
                self.pos = n + 1;
                out
            }
            Direction::Backward(k) => {
                let k = k as i64;
                let out: Vec<i64> = (1.max(self.pos - k)..self.pos).rev().collect();
                self.pos = (self.pos - k).max(0);
                out
            }
            Direction::BackwardAll => {
                let out = (1..self.pos).rev().collect();
                self.pos = 0;
                out
            }
            Direction::Absolute(k) => {
                let t = if k >= 0 { k } else { n + 1 + k };
                self.goto(t)
            }
            Direction::Relative(k) => {
                if k > 0 && self.pos > n {
                    return vec![];
                }
                self.goto(self.pos + k)
            }
        }
    }

    fn goto(&mut self, t: i64) -> Vec<i64> {
        if t <= 0 {
            self.pos = 0;
            vec![]
        } else if t > self.n {
            self.pos = self.n + 1;
            vec![]
        } else {
            self.pos = t;
            vec![t]
        }
    }
}

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn direction(&mut self, n: i64) -> Direction {
        let k = self.below(n as u64 + 3);
        let s = self.below(2 * n as u64 + 5) as i64 - n - 2;
        match self.below(8) {
            0 => Direction::Forward(k),
            1 => Direction::ForwardAll,
            2 => Direction::Backward(k),
            3 => Direction::BackwardAll,
            4 => Direction::Absolute(s),
            5 => Direction::Relative(s),
            _ => Direction::Forward(self.below(4)),
        }
    }
}

#[tokio::test]
async fn scroll_cursors_move_as_postgresql_does() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..300 {
        let n = rng.below(40) as i64;
        let sizes: Vec<usize> = (0..3).map(|_| rng.below(7) as usize).collect();
        let sizes = if sizes.iter().all(|&s| s == 0) {
            vec![1]
        } else {
            sizes
        };
        let options = CursorOptions {
            scroll: true,
            hold: false,
        };
        let mut cursor = Cursor::new("c", stream(n, &sizes), options);
        let mut model = Model { n, pos: 0 };
        for step in 0..25 {
            let d = rng.direction(n);
            let want = rng.below(4) != 0;
            let expected = model.fetch(d);
            let (got, count) = values(cursor.fetch(d, want).await.unwrap()).await;
            let context = format!("round {round} step {step}: {d:?} over 1..={n} in {sizes:?}");
            assert_eq!(count, expected.len() as u64, "{context}");
            if want {
                assert_eq!(got, expected, "{context}");
            } else {
                assert!(got.is_empty(), "{context}: MOVE returns no rows");
            }
        }
    }
}

#[tokio::test]
async fn no_scroll_cursors_go_forward_and_refuse_to_go_back() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for round in 0..300 {
        let n = rng.below(40) as i64;
        let sizes = [1 + rng.below(6) as usize, rng.below(5) as usize];
        let options = CursorOptions {
            scroll: false,
            hold: false,
        };
        let mut cursor = Cursor::new("c", stream(n, &sizes), options);
        let mut model = Model { n, pos: 0 };
        for step in 0..25 {
            let d = rng.direction(n);
            let want = rng.below(4) != 0;
            let before = model.pos;
            let mut probe = Model { n, pos: model.pos };
            let expected = probe.fetch(d);
            let context = format!("round {round} step {step}: {d:?} at {before} over 1..={n}");
            match cursor.fetch(d, want).await {
                Err(QueryError::CursorForwardOnly) => {
                    // Only a move that reads backward (or re-reads the current row) is
                    // refused; the exact set is PostgreSQL's, checked against it in
                    // server/tests/slt/09_cursors.slt.
                    let forward = match d {
                        Direction::Forward(k) => k > 0,
                        Direction::ForwardAll => true,
                        Direction::Relative(k) => k > 0,
                        Direction::Absolute(k) => k > before,
                        _ => false,
                    };
                    assert!(!forward, "{context}: refused a forward move");
                    // A refused FETCH fails its portal; the session drops the cursor.
                    break;
                }
                Err(e) => panic!("{context}: {e}"),
                Ok(f) => {
                    let (got, count) = values(f).await;
                    model.pos = probe.pos;
                    assert_eq!(count, expected.len() as u64, "{context}");
                    if want {
                        assert_eq!(got, expected, "{context}");
                    }
                }
            }
            // Forward-only cursors keep at most the current row's batch and what the last
            // fetch read.
            assert!(cursor.kept.len() <= n as usize + 1, "{context}");
        }
    }
}

#[tokio::test]
async fn a_no_scroll_cursor_keeps_only_what_is_ahead() {
    let options = CursorOptions {
        scroll: false,
        hold: false,
    };
    let mut cursor = Cursor::new("c", stream(100_000, &[1000]), options);
    for _ in 0..99 {
        let (got, _) = values(cursor.fetch(Direction::Forward(1000), true).await.unwrap()).await;
        assert_eq!(got.len(), 1000);
        assert!(cursor.kept.len() <= 2, "kept {} batches", cursor.kept.len());
    }
    let (_, count) = values(cursor.fetch(Direction::Forward(0), false).await.unwrap()).await;
    assert_eq!(count, 1, "MOVE 0 on a row");
    assert!(matches!(
        cursor.fetch(Direction::Forward(0), true).await,
        Err(QueryError::CursorForwardOnly)
    ));
    let (_, moved) = values(cursor.fetch(Direction::ForwardAll, false).await.unwrap()).await;
    assert_eq!(moved, 1000, "MOVE ALL counts what it passes");
    assert!(cursor.kept.is_empty());
}

#[test]
fn fetch_and_move_parse_postgresqls_grammar() {
    let dir = |sql: &str| match parse_fetch(sql).unwrap().unwrap() {
        Statement::Fetch {
            name, direction, ..
        } => (name.value, Direction::of(&direction).unwrap()),
        other => panic!("{other}"),
    };
    assert_eq!(dir("FETCH c"), ("c".into(), Direction::Forward(1)));
    assert_eq!(dir("fetch 10 c;"), ("c".into(), Direction::Forward(10)));
    assert_eq!(dir("FETCH -2 FROM c"), ("c".into(), Direction::Backward(2)));
    assert_eq!(
        dir("FETCH FORWARD 2000 FROM \"My Cursor\""),
        ("My Cursor".into(), Direction::Forward(2000))
    );
    assert_eq!(
        dir("FETCH forward all in c"),
        ("c".into(), Direction::ForwardAll)
    );
    assert_eq!(dir("FETCH ALL FROM c"), ("c".into(), Direction::ForwardAll));
    assert_eq!(
        dir("FETCH BACKWARD c"),
        ("c".into(), Direction::Backward(1))
    );
    assert_eq!(
        dir("FETCH BACKWARD -3 c"),
        ("c".into(), Direction::Forward(3))
    );
    assert_eq!(
        dir("FETCH PRIOR FROM c"),
        ("c".into(), Direction::Backward(1))
    );
    assert_eq!(dir("FETCH LAST c"), ("c".into(), Direction::Absolute(-1)));
    assert_eq!(
        dir("FETCH ABSOLUTE -3 c"),
        ("c".into(), Direction::Absolute(-3))
    );
    assert_eq!(
        dir("MOVE RELATIVE +2 IN c"),
        ("c".into(), Direction::Relative(2))
    );
    assert!(is_move(&parse_fetch("move c").unwrap().unwrap()));
    assert!(!is_move(&parse_fetch("fetch c").unwrap().unwrap()));
    assert!(parse_fetch("SELECT 1").is_none());
    assert!(parse_fetch("FETCH 1 FROM c; FETCH 1 FROM c").is_none());
    for bad in [
        "FETCH",
        "FETCH 1.5 FROM c",
        "FETCH SIDEWAYS 2 FROM c",
        "FETCH 1 FROM 'c'",
    ] {
        assert!(
            matches!(parse_fetch(bad), Some(Err(QueryError::Syntax(_)))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn cursors_follow_their_transaction_block() {
    let cursors = Cursors::default();
    let open = |name: &str, hold: bool| {
        Cursor::new(
            name,
            stream(3, &[2]),
            CursorOptions {
                scroll: false,
                hold,
            },
        )
    };
    cursors.declare(open("a", false), Some(0)).unwrap();
    cursors.declare(open("h", true), Some(0)).unwrap();
    assert!(matches!(
        cursors.declare(open("a", false), Some(0)),
        Err(QueryError::DuplicateCursor(_))
    ));
    cursors.declare(open("s", false), Some(1)).unwrap();
    cursors.rollback_to(1);
    assert!(!cursors.exists("s"), "declared after the savepoint");
    assert!(cursors.exists("a"));
    cursors.end_block(true);
    assert!(!cursors.exists("a"), "no HOLD: closed at COMMIT");
    assert!(cursors.exists("h"), "WITH HOLD outlives COMMIT");
    cursors.end_block(false);
    assert!(cursors.exists("h"), "a later rollback does not close it");
    cursors.declare(open("h2", true), Some(0)).unwrap();
    cursors.end_block(false);
    assert!(!cursors.exists("h2"), "its own block rolled back");
    // A fetch that never returned its cursor leaves it unusable, not gone.
    let taken = cursors.take("h").unwrap();
    drop(taken);
    assert!(matches!(
        cursors.take("h"),
        Err(QueryError::CursorFailed(_))
    ));
    assert!(matches!(
        cursors.close("nope"),
        Err(QueryError::UndefinedCursor(_))
    ));
    cursors.close("h").unwrap();
    assert!(!cursors.exists("h"));
}
