//! Query cancellation: cancel requests (which arrive on a separate connection, naming a
//! backend key) and `statement_timeout`.
//!
//! Each connection registers a [`CancelToken`] under its (pid, secret key). A cancel sets
//! the token; every running statement races its work (and each batch of its result
//! stream) against the token and its deadline, and stops with 57014 when either fires.
//! A cancel that arrives while the connection is idle is forgotten when the next
//! statement starts, as in Postgres. A statement past its commit point is not stopped
//! ([`guard_commit`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use strata_query::CommitGate;
use tokio::sync::Notify;

/// One connection's cancel state.
#[derive(Debug)]
pub(crate) struct CancelToken {
    cancelled: AtomicBool,
    notify: Notify,
    /// When the running statement (or the running Execute of a suspended portal) started:
    /// `statement_timeout` counts from here, as PostgreSQL's does per Execute message.
    started: Mutex<tokio::time::Instant>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken {
            cancelled: AtomicBool::new(false),
            notify: Notify::new(),
            started: Mutex::new(tokio::time::Instant::now()),
        }
    }
}

impl CancelToken {
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Forgets an earlier cancel and restarts the statement clock: called when a
    /// statement starts, and when an Execute resumes a suspended portal.
    pub(crate) fn reset(&self) {
        self.cancelled.store(false, Ordering::SeqCst);
        *self.started.lock() = tokio::time::Instant::now();
    }

    /// When `timeout` runs out for the running statement.
    pub(crate) fn deadline(&self, timeout: Duration) -> tokio::time::Instant {
        *self.started.lock() + timeout
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves when the token is cancelled.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Why a statement stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    Cancelled,
    TimedOut,
}

/// Resolves when `timeout` has passed (never without one).
async fn deadline(timeout: Option<Duration>) {
    match timeout {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// Runs `work` until it finishes, the token is cancelled or the timeout passes.
pub(crate) async fn guard<T>(
    token: &CancelToken,
    timeout: Option<Duration>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Interrupt> {
    let deadline = deadline(timeout);
    tokio::select! {
        r = work => Ok(r),
        _ = token.cancelled() => Err(Interrupt::Cancelled),
        _ = deadline => Err(Interrupt::TimedOut),
    }
}

/// Runs a statement that may change storage: like [`guard`], but an interrupt is honoured
/// only while the statement's [`CommitGate`] allows it. Once the statement passed its
/// commit point it runs to its end and its own result is returned, so a client never sees
/// 57014 for a statement that stored something.
pub(crate) async fn guard_commit<T>(
    token: &CancelToken,
    timeout: Option<Duration>,
    gate: &CommitGate,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Interrupt> {
    let deadline = deadline(timeout);
    tokio::pin!(work);
    let why = tokio::select! {
        r = &mut work => return Ok(r),
        _ = token.cancelled() => Interrupt::Cancelled,
        _ = deadline => Interrupt::TimedOut,
    };
    if gate.interrupt() {
        Err(why)
    } else {
        Ok(work.await)
    }
}

/// Backend keys of live connections.
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    tokens: Mutex<HashMap<(i32, Bytes), Arc<CancelToken>>>,
}

impl CancelRegistry {
    pub(crate) fn register(
        self: &Arc<Self>,
        pid: i32,
        key: Bytes,
        token: Arc<CancelToken>,
    ) -> Registration {
        self.tokens.lock().insert((pid, key.clone()), token);
        Registration {
            registry: Arc::clone(self),
            pid,
            key,
        }
    }

    /// Cancels the connection with this key, if there is one; a wrong key does nothing
    /// (and says nothing, as in Postgres).
    pub(crate) fn cancel(&self, pid: i32, key: &Bytes) {
        let token = self.tokens.lock().get(&(pid, key.clone())).cloned();
        if let Some(t) = token {
            t.cancel();
        }
    }
}

/// Removes a connection's key when the connection ends.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<CancelRegistry>,
    pid: i32,
    key: Bytes,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry
            .tokens
            .lock()
            .remove(&(self.pid, self.key.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_statement_clock_restarts_with_each_execute() {
        let token = CancelToken::default();
        let second = Duration::from_secs(1);
        let first = token.deadline(second);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(token.deadline(second), first, "one statement, one deadline");
        token.cancel();
        token.reset();
        assert!(
            !token.is_cancelled(),
            "a cancel before the statement is forgotten"
        );
        assert!(
            token.deadline(second) >= first + Duration::from_millis(20),
            "a resumed portal's Execute counts from its own start"
        );
    }
}
