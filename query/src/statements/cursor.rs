//! SQL cursors, as PostgreSQL runs them: `DECLARE name [INSENSITIVE] [[NO] SCROLL] CURSOR
//! [WITH[OUT] HOLD] FOR query`, `FETCH`, `MOVE` and `CLOSE` (psycopg's named cursors,
//! psql's `FETCH_COUNT`, SQLAlchemy's `stream_results`).
//!
//! A [`Cursor`] holds its query's running stream and PostgreSQL's position: 0 before the
//! first row, `n` on row `n`, or past the end once the stream is done. A cursor declared
//! without `SCROLL` (the default) keeps only the rows from its current one on, so it goes
//! forward in bounded memory and a move back fails with 55000; a `SCROLL` cursor keeps every
//! row it has read (up to [`MAX_SCROLL_BYTES`], 54000 beyond) and moves either way.
//!
//! Lifetimes follow PostgreSQL: a cursor without `HOLD` lives in a transaction block
//! (`DECLARE` outside one is 25P01) and closes when the block ends; a `WITH HOLD` cursor
//! outlives the `COMMIT` of its block (or is declared outside one) until `CLOSE`, and is
//! gone if its block rolls back. `ROLLBACK TO SAVEPOINT` closes the cursors declared after
//! the savepoint. Differences: a `WITH HOLD` cursor is not materialised at `COMMIT` (it
//! reads on from the same storage snapshot as it goes), and a `FETCH` that failed or was
//! interrupted leaves its cursor unusable (55000) until it is closed.

use std::collections::{HashMap, VecDeque};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    FetchDirection, FetchPosition, Ident, ObjectName, Statement, Value, ValueWithSpan,
};
use futures::StreamExt;
use parking_lot::Mutex;

use crate::error::{QueryError, Result};

/// The most a `SCROLL` cursor keeps of the rows it has read.
pub const MAX_SCROLL_BYTES: usize = 256 << 20;

/// Where a `FETCH` or `MOVE` goes, in PostgreSQL's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The next `n` rows (`NEXT` is 1); 0 is the current row again.
    Forward(u64),
    ForwardAll,
    /// The `n` rows before the current one, nearest first (`PRIOR` is 1); 0 is the current
    /// row again.
    Backward(u64),
    BackwardAll,
    /// Row `n` (negative: from the end; 0: before the first row). `FIRST` is 1, `LAST` -1.
    Absolute(i64),
    /// The row `n` rows from the current one.
    Relative(i64),
}

impl Direction {
    /// The direction of a parsed `FETCH`.
    pub fn of(direction: &FetchDirection) -> Result<Direction> {
        let n = |v: &ValueWithSpan| -> Result<i64> {
            match &v.value {
                Value::Number(text, _) => text
                    .parse::<i64>()
                    .map_err(|_| QueryError::Syntax(format!("invalid FETCH count \"{text}\""))),
                other => Err(QueryError::Syntax(format!(
                    "invalid FETCH count \"{other}\""
                ))),
            }
        };
        let signed_forward = |k: i64| {
            if k >= 0 {
                Direction::Forward(k.unsigned_abs())
            } else {
                Direction::Backward(k.unsigned_abs())
            }
        };
        Ok(match direction {
            FetchDirection::Count { limit } => signed_forward(n(limit)?),
            FetchDirection::Next | FetchDirection::Forward { limit: None } => Direction::Forward(1),
            FetchDirection::Prior | FetchDirection::Backward { limit: None } => {
                Direction::Backward(1)
            }
            FetchDirection::First => Direction::Absolute(1),
            FetchDirection::Last => Direction::Absolute(-1),
            FetchDirection::Absolute { limit } => Direction::Absolute(n(limit)?),
            FetchDirection::Relative { limit } => Direction::Relative(n(limit)?),
            FetchDirection::All | FetchDirection::ForwardAll => Direction::ForwardAll,
            FetchDirection::BackwardAll => Direction::BackwardAll,
            FetchDirection::Forward { limit: Some(l) } => signed_forward(n(l)?),
            FetchDirection::Backward { limit: Some(l) } => {
                let k = n(l)?;
                if k >= 0 {
                    Direction::Backward(k.unsigned_abs())
                } else {
                    Direction::Forward(k.unsigned_abs())
                }
            }
        })
    }
}

/// What a `FETCH` returns.
pub enum Fetched {
    /// These rows (`MOVE`: none, with the count it passed).
    Rows {
        batches: Vec<RecordBatch>,
        count: u64,
    },
    /// The rest of a `NO SCROLL` cursor, streamed (`FETCH ALL`), so that it is never held
    /// in memory at once.
    Stream(SendableRecordBatchStream),
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetched::Rows { count, .. } => write!(f, "Rows({count})"),
            Fetched::Stream(_) => write!(f, "Stream"),
        }
    }
}

/// Options of `DECLARE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorOptions {
    pub scroll: bool,
    pub hold: bool,
}

/// An open cursor: its stream and position.
pub struct Cursor {
    name: String,
    schema: SchemaRef,
    options: CursorOptions,
    /// `None` once every row has been read (or handed out by [`Fetched::Stream`]).
    stream: Option<SendableRecordBatchStream>,
    /// Rows `dropped + 1 ..= read`, in batches.
    kept: VecDeque<RecordBatch>,
    kept_bytes: usize,
    dropped: u64,
    read: u64,
    /// 0: before the first row; `1..=read`: on that row; `read + 1` (stream done): past
    /// the end.
    pos: u64,
    /// The rest was streamed out (`FETCH ALL`); settled at the next move.
    detached: Option<std::sync::Arc<Detached>>,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("read", &self.read)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Cursor {
    pub fn new(name: &str, stream: SendableRecordBatchStream, options: CursorOptions) -> Cursor {
        Cursor {
            name: name.to_owned(),
            schema: stream.schema(),
            options,
            stream: Some(stream),
            kept: VecDeque::new(),
            kept_bytes: 0,
            dropped: 0,
            read: 0,
            pos: 0,
            detached: None,
        }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn past_end(&self) -> bool {
        self.stream.is_none() && self.pos > self.read
    }

    /// Reads until row `upto` has been read or the stream ends. A `NO SCROLL` cursor drops
    /// whole batches before row `need_from` as it goes.
    async fn fill(&mut self, upto: u64, need_from: u64) -> Result<()> {
        while self.read < upto {
            let Some(stream) = self.stream.as_mut() else {
                break;
            };
            match stream.next().await {
                None => self.stream = None,
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    self.read += batch.num_rows() as u64;
                    self.kept_bytes += batch.get_array_memory_size();
                    self.kept.push_back(batch);
                    if self.options.scroll && self.kept_bytes > MAX_SCROLL_BYTES {
                        return Err(QueryError::CursorTooLarge {
                            name: self.name.clone(),
                            limit: MAX_SCROLL_BYTES,
                        });
                    }
                    self.trim(need_from);
                }
            }
        }
        Ok(())
    }

    /// Drops the batches wholly before row `need_from` (`NO SCROLL` only).
    fn trim(&mut self, need_from: u64) {
        if self.options.scroll {
            return;
        }
        while let Some(first) = self.kept.front() {
            let end = self.dropped + first.num_rows() as u64;
            if end >= need_from {
                break;
            }
            self.dropped = end;
            self.kept_bytes -= first.get_array_memory_size();
            self.kept.pop_front();
        }
    }

    /// Rows `from..=to` (1-based, all kept), in order.
    fn rows(&self, from: u64, to: u64) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut start = self.dropped + 1;
        for b in &self.kept {
            let end = start + b.num_rows() as u64 - 1;
            if end >= from && start <= to {
                let lo = from.max(start);
                let hi = to.min(end);
                out.push(b.slice((lo - start) as usize, (hi - lo + 1) as usize));
            }
            start = end + 1;
        }
        out
    }

    /// Rows `to..=from` in reverse order (`FETCH BACKWARD`).
    fn rows_backward(&self, from: u64, to: u64) -> Result<Vec<RecordBatch>> {
        let forward = self.rows(to, from);
        let mut out = Vec::with_capacity(forward.len());
        for b in forward.iter().rev() {
            let n = b.num_rows() as u32;
            let idx = arrow::array::UInt32Array::from_iter_values((0..n).rev());
            out.push(arrow::compute::take_record_batch(b, &idx)?);
        }
        Ok(out)
    }

    /// Whether a cursor without `SCROLL` refuses this move (55000), by PostgreSQL's rules
    /// (`DoPortalRunFetch`): anything that reads backward, re-fetching the current row
    /// included, except a `MOVE` that passes no row and a rewind from the start.
    fn refuses(&self, direction: Direction, want_rows: bool) -> bool {
        if self.options.scroll {
            return false;
        }
        let on_row = self.pos >= 1 && !self.past_end();
        match direction {
            Direction::Forward(0) | Direction::Relative(0) => want_rows && on_row,
            Direction::Forward(_) | Direction::ForwardAll => false,
            Direction::Backward(0) => want_rows,
            Direction::Backward(_) => true,
            Direction::BackwardAll => want_rows || self.pos != 0,
            Direction::Absolute(0) => self.pos != 0,
            Direction::Absolute(k) if k > 0 => k.unsigned_abs() <= self.pos,
            Direction::Absolute(_) => true,
            Direction::Relative(k) => k < 0,
        }
    }

    /// Moves as `direction` says and returns the rows passed (none when `!want_rows`, as
    /// for `MOVE`, which still counts them).
    pub async fn fetch(&mut self, direction: Direction, want_rows: bool) -> Result<Fetched> {
        self.settle()?;
        if self.refuses(direction, want_rows) {
            return Err(QueryError::CursorForwardOnly);
        }
        let rows = |batches: Vec<RecordBatch>, count: u64| Ok(Fetched::Rows { batches, count });
        let none = || rows(vec![], 0);
        match direction {
            Direction::Forward(0) | Direction::Backward(0) | Direction::Relative(0) => {
                if self.pos >= 1 && !self.past_end() {
                    let pos = self.pos;
                    rows(self.take(pos, pos, want_rows), 1)
                } else {
                    none()
                }
            }
            Direction::Forward(n) => {
                if self.past_end() {
                    return none();
                }
                let target = self.pos.saturating_add(n);
                let need_from = if want_rows { self.pos + 1 } else { target };
                self.fill(target, need_from).await?;
                let last = target.min(self.read);
                let from = self.pos + 1;
                let batches = self.take(from, last, want_rows);
                let count = last.saturating_sub(self.pos);
                self.pos = if last < target { self.read + 1 } else { last };
                self.trim(self.pos);
                rows(batches, count)
            }
            Direction::ForwardAll => {
                if self.past_end() {
                    return none();
                }
                if want_rows && !self.options.scroll {
                    return Ok(self.detach());
                }
                let need_from = if want_rows { self.pos + 1 } else { u64::MAX };
                self.fill(u64::MAX, need_from).await?;
                let batches = self.take(self.pos + 1, self.read, want_rows);
                let count = self.read.saturating_sub(self.pos);
                self.pos = self.read + 1;
                self.trim(self.pos);
                rows(batches, count)
            }
            Direction::Backward(n) => {
                let target = self.pos.saturating_sub(n);
                if self.pos <= 1 {
                    self.pos = 0;
                    return none();
                }
                let from = self.pos - 1;
                let to = target.max(1);
                let batches = if want_rows {
                    self.rows_backward(from, to)?
                } else {
                    vec![]
                };
                self.pos = target;
                rows(batches, from - to + 1)
            }
            Direction::BackwardAll => {
                if self.pos <= 1 {
                    self.pos = 0;
                    return none();
                }
                let from = self.pos - 1;
                let batches = if want_rows {
                    self.rows_backward(from, 1)?
                } else {
                    vec![]
                };
                self.pos = 0;
                rows(batches, from)
            }
            Direction::Absolute(k) if k > 0 => self.goto(k.unsigned_abs(), want_rows).await,
            Direction::Absolute(0) => {
                self.pos = 0;
                none()
            }
            Direction::Absolute(k) => {
                // From the end: every row must be read first.
                self.fill(u64::MAX, self.pos.max(1)).await?;
                let from_end = k.unsigned_abs();
                if from_end > self.read {
                    self.pos = 0;
                    return none();
                }
                self.goto(self.read + 1 - from_end, want_rows).await
            }
            Direction::Relative(k) => {
                if k > 0 {
                    if self.past_end() {
                        return none();
                    }
                    self.goto(self.pos.saturating_add(k.unsigned_abs()), want_rows)
                        .await
                } else {
                    let target = self.pos.saturating_sub(k.unsigned_abs());
                    if target == 0 {
                        self.pos = 0;
                        return none();
                    }
                    self.goto(target, want_rows).await
                }
            }
        }
    }

    /// To row `target` (>= 1), returning it if it exists; past the end if it does not.
    async fn goto(&mut self, target: u64, want_rows: bool) -> Result<Fetched> {
        self.fill(target, target).await?;
        if target <= self.read {
            self.pos = target;
            let batches = self.take(target, target, want_rows);
            self.trim(self.pos);
            Ok(Fetched::Rows { batches, count: 1 })
        } else {
            self.pos = self.read + 1;
            self.trim(self.pos);
            Ok(Fetched::Rows {
                batches: vec![],
                count: 0,
            })
        }
    }

    fn take(&self, from: u64, to: u64, want_rows: bool) -> Vec<RecordBatch> {
        if want_rows && from <= to {
            self.rows(from, to)
        } else {
            vec![]
        }
    }

    /// Hands the rest of the rows out as one stream (`FETCH ALL` of a `NO SCROLL` cursor),
    /// counting them as they go out so that the cursor knows where its end was.
    fn detach(&mut self) -> Fetched {
        let buffered = self.rows(self.pos + 1, self.read);
        self.kept.clear();
        self.kept_bytes = 0;
        let counter = std::sync::Arc::new(Detached {
            base: self.pos,
            ..Detached::default()
        });
        self.detached = Some(std::sync::Arc::clone(&counter));
        let head = futures::stream::iter(buffered.into_iter().map(Ok));
        let rest = self.stream.take();
        let all = head.chain(futures::stream::iter(rest).flatten());
        let counted = all.map(move |b| {
            if let Ok(b) = &b {
                counter
                    .rows
                    .fetch_add(b.num_rows() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            b
        });
        let done = {
            let counter = std::sync::Arc::clone(self.detached.as_ref().expect("set above"));
            futures::stream::once(async move {
                counter
                    .done
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            })
            .filter_map(|()| async { None })
        };
        Fetched::Stream(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            counted.chain(done),
        )))
    }

    /// After a detached stream: the cursor is past the end it found, or unusable if the
    /// stream was not read to its end (the client went away, or the fetch failed).
    fn settle(&mut self) -> Result<()> {
        let Some(d) = self.detached.take() else {
            return Ok(());
        };
        if !d.done.load(std::sync::atomic::Ordering::Relaxed) {
            self.detached = Some(d);
            return Err(QueryError::CursorFailed(self.name.clone()));
        }
        self.read = d.base + d.rows.load(std::sync::atomic::Ordering::Relaxed);
        self.dropped = self.read;
        self.pos = self.read + 1;
        Ok(())
    }
}

/// The rows of a detached stream, counted as the client reads them.
#[derive(Debug, Default)]
struct Detached {
    /// The rows before the streamed ones.
    base: u64,
    rows: std::sync::atomic::AtomicU64,
    /// Set after the last row went out.
    done: std::sync::atomic::AtomicBool,
}

/// A session's open cursors by name.
#[derive(Debug, Default)]
pub struct Cursors {
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Debug)]
struct Slot {
    /// `None` while a `FETCH` runs, and for good once one failed or was interrupted.
    cursor: Option<Box<Cursor>>,
    hold: bool,
    /// The number of savepoints when it was declared in the open block; `None` for a
    /// holdable cursor whose block committed (or that was declared outside one).
    depth: Option<usize>,
}

impl Cursors {
    /// `DECLARE`: `depth` as in [`Slot::depth`].
    pub fn declare(&self, cursor: Cursor, depth: Option<usize>) -> Result<()> {
        let mut slots = self.slots.lock();
        if slots.contains_key(&cursor.name) {
            return Err(QueryError::DuplicateCursor(cursor.name));
        }
        slots.insert(
            cursor.name.clone(),
            Slot {
                hold: cursor.options.hold,
                cursor: Some(Box::new(cursor)),
                depth,
            },
        );
        Ok(())
    }

    pub fn exists(&self, name: &str) -> bool {
        self.slots.lock().contains_key(name)
    }

    /// The columns of cursor `name`'s rows.
    pub fn schema(&self, name: &str) -> Result<SchemaRef> {
        match self.slots.lock().get(name) {
            None => Err(QueryError::UndefinedCursor(name.to_owned())),
            Some(Slot {
                cursor: Some(c), ..
            }) => Ok(c.schema().clone()),
            Some(_) => Err(QueryError::CursorFailed(name.to_owned())),
        }
    }

    /// Takes the cursor out for a `FETCH`; [`Cursors::put_back`] returns it. Until then (and
    /// for good if the fetch never finishes) it cannot be run.
    pub fn take(&self, name: &str) -> Result<Box<Cursor>> {
        match self.slots.lock().get_mut(name) {
            None => Err(QueryError::UndefinedCursor(name.to_owned())),
            Some(slot) => slot
                .cursor
                .take()
                .ok_or_else(|| QueryError::CursorFailed(name.to_owned())),
        }
    }

    pub fn put_back(&self, cursor: Box<Cursor>) {
        if let Some(slot) = self.slots.lock().get_mut(&cursor.name) {
            slot.cursor = Some(cursor);
        }
    }

    /// `CLOSE name`.
    pub fn close(&self, name: &str) -> Result<()> {
        self.slots
            .lock()
            .remove(name)
            .map(drop)
            .ok_or_else(|| QueryError::UndefinedCursor(name.to_owned()))
    }

    /// `CLOSE ALL`.
    pub fn close_all(&self) {
        self.slots.lock().clear();
    }

    /// The block ended: cursors without `HOLD` close; holdable ones declared in it stay if
    /// it committed and close if it rolled back.
    pub fn end_block(&self, committed: bool) {
        self.slots.lock().retain(|_, slot| {
            let keep = slot.hold && (committed || slot.depth.is_none());
            if keep {
                slot.depth = None;
            }
            keep
        });
    }

    /// `ROLLBACK TO SAVEPOINT`, leaving `depth` savepoints: cursors declared since close.
    pub fn rollback_to(&self, depth: usize) {
        self.slots
            .lock()
            .retain(|_, slot| slot.depth.is_none_or(|d| d < depth));
    }

    /// `RELEASE SAVEPOINT`, leaving `depth` savepoints: its cursors belong to the parent.
    pub fn release(&self, depth: usize) {
        for slot in self.slots.lock().values_mut() {
            if let Some(d) = slot.depth.as_mut() {
                *d = (*d).min(depth);
            }
        }
    }
}

/// The marker `FETCH` statements of `MOVE` carry in their (otherwise unused) `INTO`: a name
/// no parsed statement can have (an unquoted identifier with a space).
fn move_marker() -> ObjectName {
    ObjectName::from(vec![Ident::new(" move")])
}

/// Whether a `FETCH` statement is a `MOVE`.
pub fn is_move(statement: &Statement) -> bool {
    matches!(statement, Statement::Fetch { into: Some(into), .. } if *into == move_marker())
}

/// A query string that is one `FETCH` or `MOVE`, in PostgreSQL's whole grammar (sqlparser's
/// needs `FROM` or `IN`, has no `MOVE` and no signed counts): `None` for anything else.
///
/// `{FETCH | MOVE} [ NEXT | PRIOR | FIRST | LAST | {ABSOLUTE | RELATIVE} n | n | ALL |
/// FORWARD [n | ALL] | BACKWARD [n | ALL] ] [FROM | IN] name`
pub fn parse_fetch(sql: &str) -> Option<Result<Statement>> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let head = sql.trim_start();
    let first: String = head.chars().take_while(char::is_ascii_alphabetic).collect();
    if !(first.eq_ignore_ascii_case("fetch") || first.eq_ignore_ascii_case("move")) {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut solid: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    while solid.last() == Some(&Token::SemiColon) {
        solid.pop();
    }
    if solid.contains(&Token::SemiColon) {
        // Several statements: the general parser splits them.
        return None;
    }
    Some(fetch_tokens(&solid))
}

fn fetch_tokens(tokens: &[datafusion::sql::sqlparser::tokenizer::Token]) -> Result<Statement> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let syntax = |what: &str| QueryError::Syntax(format!("syntax error in FETCH or MOVE: {what}"));
    let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let [verb, rest @ ..] = tokens else {
        return Err(syntax("empty statement"));
    };
    let is_move = word(verb, "move");
    // The cursor's name is the last token, after an optional FROM or IN.
    let Some((name, mut rest)) = rest.split_last() else {
        return Err(syntax("a cursor name is expected"));
    };
    let name = match name {
        Token::Word(w) => Ident {
            value: w.value.clone(),
            quote_style: w.quote_style,
            span: datafusion::sql::sqlparser::tokenizer::Span::empty(),
        },
        other => return Err(syntax(&format!("a cursor name is expected, found {other}"))),
    };
    if let [body @ .., last] = rest {
        if word(last, "from") || word(last, "in") {
            rest = body;
        }
    }
    let number = |tokens: &[Token]| -> Result<ValueWithSpan> {
        let text = match tokens {
            [Token::Number(n, _)] => n.clone(),
            [Token::Minus, Token::Number(n, _)] => format!("-{n}"),
            [Token::Plus, Token::Number(n, _)] => n.clone(),
            _ => return Err(syntax("a whole number is expected")),
        };
        if text.parse::<i64>().is_err() {
            return Err(syntax(&format!("\"{text}\" is not a whole number")));
        }
        Ok(Value::Number(text, false).into())
    };
    let direction = match rest {
        [] => FetchDirection::Next,
        [w] if word(w, "next") => FetchDirection::Next,
        [w] if word(w, "prior") => FetchDirection::Prior,
        [w] if word(w, "first") => FetchDirection::First,
        [w] if word(w, "last") => FetchDirection::Last,
        [w] if word(w, "all") => FetchDirection::All,
        [w] if word(w, "forward") => FetchDirection::Forward { limit: None },
        [w] if word(w, "backward") => FetchDirection::Backward { limit: None },
        [w, a] if word(w, "forward") && word(a, "all") => FetchDirection::ForwardAll,
        [w, a] if word(w, "backward") && word(a, "all") => FetchDirection::BackwardAll,
        [w, n @ ..] if word(w, "absolute") => FetchDirection::Absolute { limit: number(n)? },
        [w, n @ ..] if word(w, "relative") => FetchDirection::Relative { limit: number(n)? },
        [w, n @ ..] if word(w, "forward") => FetchDirection::Forward {
            limit: Some(number(n)?),
        },
        [w, n @ ..] if word(w, "backward") => FetchDirection::Backward {
            limit: Some(number(n)?),
        },
        n => FetchDirection::Count { limit: number(n)? },
    };
    Ok(Statement::Fetch {
        name,
        direction,
        position: FetchPosition::From,
        into: is_move.then(move_marker),
    })
}

#[cfg(test)]
mod tests;
