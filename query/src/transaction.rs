//! Transaction blocks and the commit point of a statement.
//!
//! **Commit point.** Every statement that changes storage passes [`CommitGate::begin_commit`]
//! right before it does. Whoever interrupts a statement (a cancel request, its
//! `statement_timeout`) first calls [`CommitGate::interrupt`]: before the commit point that
//! succeeds, the statement is dropped having stored nothing, and the client gets 57014;
//! after it, the interrupt is refused and the statement runs to its end and reports its own
//! result. So 57014 never follows a commit, and a client that retries after 57014 never
//! stores a row twice.
//!
//! **Transaction blocks** (`BEGIN` ... `COMMIT`): `INSERT` and `COPY` rows are held here,
//! converted to write batches, and written as one atomic write group
//! ([`strata_storage::Engine::write_group`]) at `COMMIT`, so they become visible together,
//! or are discarded by `ROLLBACK` (or `ROLLBACK TO SAVEPOINT`, back to the savepoint).
//! What a block may hold is bounded (`max_transaction_bytes`, 53200 beyond). Outside a
//! block, a statement's rows are one write group of their own: a multi-row `INSERT` or a
//! `COPY` stores every row or none.
//!
//! Strata's transactions are READ COMMITTED: each statement reads what was committed when
//! it started. Reading a table that the block has written but not committed fails with
//! 0A000 (Strata does not read a block's own uncommitted rows), as does a `DELETE`,
//! `TRUNCATE` or `ERASE SUBJECT` of such a table. DDL, `DELETE`, `TRUNCATE` and `ERASE
//! SUBJECT` inside a block take effect when they run; `ROLLBACK` cannot undo them and says
//! so in a warning naming them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use strata_storage::{Engine, WriteBatch};

use crate::error::{QueryError, Result};

/// Default bound on a transaction block's uncommitted writes.
pub const DEFAULT_MAX_TRANSACTION_BYTES: usize = 64 * 1024 * 1024;

const RUNNING: u8 = 0;
const INTERRUPTED: u8 = 1;
const COMMITTING: u8 = 2;

/// Whether the running statement may still be interrupted (see the module docs).
#[derive(Debug, Default)]
pub struct CommitGate(AtomicU8);

impl CommitGate {
    /// A statement starts: it may be interrupted until its commit point.
    pub fn reset(&self) {
        self.0.store(RUNNING, Ordering::SeqCst);
    }

    /// Asks to interrupt the statement. True: it has stored nothing and never will (drop
    /// it, report 57014). False: its commit has begun; let it finish.
    pub fn interrupt(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, INTERRUPTED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state == INTERRUPTED,
        }
    }

    /// The statement is about to change storage; fails if it was interrupted first.
    pub(crate) fn begin_commit(&self) -> Result<()> {
        match self
            .0
            .compare_exchange(RUNNING, COMMITTING, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Ok(()),
            Err(COMMITTING) => Ok(()),
            Err(_) => Err(QueryError::Canceled),
        }
    }
}

/// A session's transaction state, as the protocol reports it (ReadyForQuery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block.
    Idle,
    /// In a block.
    InBlock,
    /// In a block that failed: only its end (or `ROLLBACK TO SAVEPOINT`) is accepted.
    Failed,
}

/// What `COMMIT` found.
#[derive(Debug)]
pub(crate) enum Commit {
    /// No block was open (a warning, as in PostgreSQL).
    NoBlock,
    /// The block had failed: it is rolled back (tag `ROLLBACK`).
    RolledBack,
    /// Write these as one group.
    Write(Vec<WriteBatch>),
}

#[derive(Debug)]
struct Savepoint {
    name: String,
    batches: usize,
    bytes: usize,
    immediate: usize,
}

#[derive(Debug, Default)]
struct Block {
    failed: bool,
    read_only: bool,
    batches: Vec<WriteBatch>,
    bytes: usize,
    savepoints: Vec<Savepoint>,
    /// Statements that took effect when they ran (ROLLBACK cannot undo them).
    immediate: Vec<String>,
}

/// A session's transaction block and commit gate; shared with the table providers through
/// the session config.
#[derive(Debug)]
pub struct Transactions {
    gate: CommitGate,
    block: Mutex<Option<Block>>,
    max_bytes: usize,
}

impl Transactions {
    pub(crate) fn new(max_bytes: usize) -> Arc<Transactions> {
        Arc::new(Transactions {
            gate: CommitGate::default(),
            block: Mutex::new(None),
            max_bytes,
        })
    }

    pub fn gate(&self) -> &CommitGate {
        &self.gate
    }

    pub fn status(&self) -> TransactionStatus {
        match &*self.block.lock() {
            None => TransactionStatus::Idle,
            Some(b) if b.failed => TransactionStatus::Failed,
            Some(_) => TransactionStatus::InBlock,
        }
    }

    /// `BEGIN`: false if a block was already open (PostgreSQL warns and carries on).
    pub(crate) fn begin(&self, read_only: bool) -> bool {
        let mut block = self.block.lock();
        if block.is_some() {
            return false;
        }
        *block = Some(Block {
            read_only,
            ..Block::default()
        });
        true
    }

    /// `SET TRANSACTION READ ONLY | READ WRITE` inside a block (false: no block).
    pub(crate) fn set_read_only(&self, read_only: bool) -> bool {
        match self.block.lock().as_mut() {
            Some(b) => {
                b.read_only = read_only;
                true
            }
            None => false,
        }
    }

    /// Whether the open block is `READ ONLY` (`None`: no block).
    pub(crate) fn read_only(&self) -> Option<bool> {
        self.block.lock().as_ref().map(|b| b.read_only)
    }

    /// The number of savepoints of the open block (`None`: no block).
    pub(crate) fn depth(&self) -> Option<usize> {
        self.block.lock().as_ref().map(|b| b.savepoints.len())
    }

    /// An error in the block: it fails (no-op outside a block).
    pub fn fail(&self) {
        if let Some(b) = self.block.lock().as_mut() {
            b.failed = true;
        }
    }

    /// `COMMIT`: ends the block.
    pub(crate) fn commit(&self) -> Commit {
        match self.block.lock().take() {
            None => Commit::NoBlock,
            Some(b) if b.failed => Commit::RolledBack,
            Some(b) => Commit::Write(b.batches),
        }
    }

    /// `ROLLBACK`: ends the block; `None` if there was none, else what it could not undo.
    pub(crate) fn rollback(&self) -> Option<Vec<String>> {
        self.block.lock().take().map(|b| b.immediate)
    }

    pub(crate) fn savepoint(&self, name: &str) -> Result<()> {
        let mut block = self.block.lock();
        let b = block
            .as_mut()
            .ok_or_else(|| QueryError::NoActiveTransaction("SAVEPOINT".into()))?;
        b.savepoints.push(Savepoint {
            name: name.to_owned(),
            batches: b.batches.len(),
            bytes: b.bytes,
            immediate: b.immediate.len(),
        });
        Ok(())
    }

    /// `RELEASE SAVEPOINT`: forgets it and every later one.
    pub(crate) fn release(&self, name: &str) -> Result<()> {
        let mut block = self.block.lock();
        let b = block
            .as_mut()
            .ok_or_else(|| QueryError::NoActiveTransaction("RELEASE SAVEPOINT".into()))?;
        let i = find(b, name)?;
        b.savepoints.truncate(i);
        Ok(())
    }

    /// `ROLLBACK TO SAVEPOINT`: discards the writes since, keeps the savepoint, and clears
    /// a failure. Returns what it could not undo.
    pub(crate) fn rollback_to(&self, name: &str) -> Result<Vec<String>> {
        let mut block = self.block.lock();
        let b = block
            .as_mut()
            .ok_or_else(|| QueryError::NoActiveTransaction("ROLLBACK TO SAVEPOINT".into()))?;
        let i = find(b, name)?;
        let (batches, bytes, immediate) = {
            let s = &b.savepoints[i];
            (s.batches, s.bytes, s.immediate)
        };
        b.savepoints.truncate(i + 1);
        b.batches.truncate(batches);
        b.bytes = bytes;
        b.failed = false;
        Ok(b.immediate[immediate..].to_vec())
    }

    /// A statement that took effect at once inside a block (no-op outside one).
    pub(crate) fn note_immediate(&self, what: String) {
        if let Some(b) = self.block.lock().as_mut() {
            b.immediate.push(what);
        }
    }

    /// Tables the open block has written and not committed.
    pub(crate) fn staged_tables(&self) -> BTreeSet<String> {
        match &*self.block.lock() {
            None => BTreeSet::new(),
            Some(b) => b.batches.iter().map(|w| w.table().to_owned()).collect(),
        }
    }

    /// Fails with 0A000 if the open block has uncommitted writes to `table` (`what` names
    /// the operation that would need to see them).
    pub(crate) fn check_unstaged(&self, table: &str, what: &str) -> Result<()> {
        if self.staged_tables().contains(table) {
            return Err(QueryError::Unsupported(format!(
                "{what} of table \"{table}\" after writing it in the same transaction block (Strata applies a block's writes at COMMIT; COMMIT first)"
            )));
        }
        Ok(())
    }

    /// Writes a statement's rows: held in the open block, or else written now as one
    /// atomic group past the commit point.
    pub(crate) async fn write(&self, engine: &Arc<Engine>, batches: Vec<WriteBatch>) -> Result<()> {
        {
            let mut block = self.block.lock();
            if let Some(b) = block.as_mut() {
                if b.failed {
                    return Err(QueryError::InFailedTransaction);
                }
                if b.read_only {
                    return Err(QueryError::ReadOnlyTransaction("INSERT".into()));
                }
                let bytes: usize = batches.iter().map(WriteBatch::memory_bytes).sum();
                if b.bytes + bytes > self.max_bytes {
                    return Err(QueryError::TransactionTooLarge {
                        limit: self.max_bytes,
                    });
                }
                b.bytes += bytes;
                b.batches
                    .extend(batches.into_iter().filter(|w| !w.is_empty()));
                return Ok(());
            }
        }
        self.write_now(engine, batches).await
    }

    /// Writes batches as one group now, past the commit point.
    pub(crate) async fn write_now(
        &self,
        engine: &Arc<Engine>,
        batches: Vec<WriteBatch>,
    ) -> Result<()> {
        if batches.iter().all(WriteBatch::is_empty) {
            return Ok(());
        }
        self.gate.begin_commit()?;
        let engine = Arc::clone(engine);
        crate::session::blocking(move || engine.write_group(&batches).map_err(QueryError::from))
            .await?;
        Ok(())
    }
}

fn find(b: &Block, name: &str) -> Result<usize> {
    b.savepoints
        .iter()
        .rposition(|s| s.name == name)
        .ok_or_else(|| QueryError::UndefinedSavepoint(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_an_interrupt_once_the_commit_began() {
        let g = CommitGate::default();
        assert!(g.interrupt());
        assert!(g.begin_commit().is_err(), "interrupted first: no commit");
        g.reset();
        g.begin_commit().unwrap();
        assert!(!g.interrupt(), "committing: the statement runs to its end");
        g.begin_commit().unwrap();
    }

    #[test]
    fn savepoints_truncate_and_clear_failure() {
        let t = Transactions::new(1 << 20);
        assert!(t.savepoint("a").is_err());
        assert!(t.begin(false));
        assert!(!t.begin(false));
        t.savepoint("a").unwrap();
        t.note_immediate("DELETE".into());
        t.fail();
        assert_eq!(t.status(), TransactionStatus::Failed);
        assert_eq!(t.rollback_to("a").unwrap(), vec!["DELETE".to_owned()]);
        assert_eq!(t.status(), TransactionStatus::InBlock);
        assert!(matches!(
            t.release("nope"),
            Err(QueryError::UndefinedSavepoint(_))
        ));
        t.release("a").unwrap();
        assert!(t.rollback_to("a").is_err());
        assert!(matches!(t.commit(), Commit::Write(b) if b.is_empty()));
        assert_eq!(t.status(), TransactionStatus::Idle);
    }
}
