//! Background jobs: one scheduler for every duty the engine does on its own (flush,
//! purge, retention, compaction, tiering).
//!
//! A *job* is a kind of duty ([`JobKind`]) for one table, or for the whole engine (flush,
//! which freezes every memtable at once so that the WAL can be checkpointed). Each kind
//! says when it has work (`Inner::pending_jobs`); the scheduler thread asks every
//! `TICK`, or at once when woken (a write crossed a threshold, a writer waits for memory),
//! and queues what is due. `max_concurrent_jobs` worker threads take jobs from the queue.
//!
//! Invariants:
//! - A job never runs twice at once; a request for a running job runs it again afterwards.
//! - At most `max_concurrent_jobs` runs are under way, manual ones ([`Engine::run_jobs`])
//!   included. With more than one allowed, non-flush jobs leave one place free, so a flush
//!   (which writers may be waiting for) never waits behind a long merge.
//! - Every run is recorded: start, end, outcome, rows and bytes moved, error. The last
//!   `HISTORY` runs are kept ([`Engine::job_runs`]); counters per kind are never reset.
//! - A failed job is retried after a back-off that doubles per failure in a row (1 s to
//!   60 s), so a broken disk or store does not spin; a manual run ignores the back-off.
//! - Shutdown stops the scheduler, lets each running job reach its next safe point (a job
//!   never leaves a half-written catalog change; an interrupted merge leaves only a file the
//!   next start-up deletes), and joins every thread.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};

use super::{Engine, Inner};
use crate::error::{Error, Result};

/// How often the scheduler looks for due jobs when nothing wakes it.
const TICK: Duration = Duration::from_millis(250);
/// Runs kept for [`Engine::job_runs`].
const HISTORY: usize = 1000;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A kind of background duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// Memtables to segments, then the WAL checkpoint. One job for the whole engine.
    Flush,
    /// Merging runs of segments of a table's partitions. One job per table.
    Compaction,
    /// Moving a table's partitions older than its `cold_after` to the cold store. One job
    /// per table that has `cold_after`.
    Tiering,
    /// Dropping a table's partitions older than its `retention`, in every tier. One job per
    /// table that has `retention`.
    Retention,
    /// Removing what pending erasures hid from memtables, the WAL, segments and cold
    /// objects, then verifying and filing their receipts. One job for the whole engine.
    Purge,
}

impl JobKind {
    /// Every kind, in the order a manual run takes them (the order data flows; a purge
    /// last, so that it files the receipts of what the others did).
    pub const ALL: [JobKind; 5] = [
        JobKind::Flush,
        JobKind::Retention,
        JobKind::Compaction,
        JobKind::Tiering,
        JobKind::Purge,
    ];

    /// The name SQL and metrics use.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Flush => "flush",
            JobKind::Compaction => "compaction",
            JobKind::Tiering => "tiering",
            JobKind::Retention => "retention",
            JobKind::Purge => "purge",
        }
    }

    /// The kind called `name` (as [`JobKind::name`] spells it, any case).
    pub fn parse(name: &str) -> Option<JobKind> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a job is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Idle,
    /// Due, waiting for a free place.
    Queued,
    Running,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Idle => "idle",
            JobState::Queued => "queued",
            JobState::Running => "running",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    Failed,
    /// Stopped by shutdown at a safe point; it runs again after the restart.
    Cancelled,
}

impl JobOutcome {
    pub fn name(self) -> &'static str {
        match self {
            JobOutcome::Succeeded => "succeeded",
            JobOutcome::Failed => "failed",
            JobOutcome::Cancelled => "cancelled",
        }
    }
}

/// Rows and bytes a run moved (for flush: rows and segment bytes written; for compaction:
/// rows and bytes of the segments written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

impl std::ops::AddAssign for Moved {
    fn add_assign(&mut self, o: Moved) {
        self.rows += o.rows;
        self.bytes += o.bytes;
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub kind: JobKind,
    /// The table, or `None` for an engine-wide job.
    pub table: Option<String>,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub outcome: JobOutcome,
    pub rows: u64,
    pub bytes: u64,
    pub error: Option<String>,
}

/// A job as `system.jobs` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub kind: JobKind,
    pub table: Option<String>,
    pub state: JobState,
    /// The last finished run.
    pub last: Option<JobRun>,
    /// Start of the run under way, if any.
    pub running_since: Option<SystemTime>,
    pub runs: u64,
    pub failures: u64,
    /// When it is next due: now if it has work, later if a threshold or back-off says so,
    /// `None` when nothing is pending.
    pub next_run: Option<SystemTime>,
}

/// A job: its kind and table id (`None` for engine-wide jobs). Ids, not names, so a table
/// re-created under a dropped one's name starts with a fresh record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct JobKey {
    pub(super) kind: JobKind,
    pub(super) table: Option<u64>,
}

impl JobKey {
    pub(super) const FLUSH: JobKey = JobKey {
        kind: JobKind::Flush,
        table: None,
    };
}

/// A job with work, as a kind's due check reports it.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) key: JobKey,
    pub(super) table: Option<String>,
    /// Has work now.
    pub(super) due: bool,
    pub(super) next_run: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct Status {
    table: Option<String>,
    queued: bool,
    running_since: Option<SystemTime>,
    /// Runs finished.
    finished: u64,
    failures: u64,
    failures_in_a_row: u32,
    retry_at: Option<Instant>,
    last: Option<JobRun>,
}

#[derive(Debug, Default)]
struct Registry {
    jobs: BTreeMap<JobKey, Status>,
    queue: VecDeque<JobKey>,
    running: usize,
    running_other: usize,
    history: VecDeque<JobRun>,
    /// (runs, failures) per kind, never reset.
    per_kind: BTreeMap<JobKind, (u64, u64)>,
    woken: bool,
}

/// The scheduler's shared state.
#[derive(Debug)]
pub(super) struct Jobs {
    pub(super) limit: usize,
    reg: Mutex<Registry>,
    changed: Condvar,
}

impl Jobs {
    pub(super) fn new(max_concurrent: usize) -> Self {
        Jobs {
            limit: max_concurrent.max(1),
            reg: Mutex::new(Registry::default()),
            changed: Condvar::new(),
        }
    }

    /// Asks the scheduler to look for due jobs now.
    pub(super) fn wake(&self) {
        self.reg.lock().woken = true;
        self.changed.notify_all();
    }

    /// Whether the job has run or been queued since the engine opened.
    pub(super) fn has_status(&self, key: JobKey) -> bool {
        self.reg.lock().jobs.contains_key(&key)
    }

    /// Forgets the jobs of a dropped table (a running one finishes and is then dropped).
    pub(super) fn forget_table(&self, id: u64) {
        let mut reg = self.reg.lock();
        reg.queue.retain(|k| k.table != Some(id));
        reg.jobs
            .retain(|k, s| k.table != Some(id) || s.running_since.is_some());
    }

    fn admits(&self, reg: &Registry, kind: JobKind) -> bool {
        let other_limit = if self.limit > 1 { self.limit - 1 } else { 1 };
        reg.running < self.limit && (kind == JobKind::Flush || reg.running_other < other_limit)
    }

    /// Queues the due jobs that are neither queued, running nor backing off.
    fn enqueue_due(&self, pending: &[Pending], now: Instant) {
        let mut reg = self.reg.lock();
        for p in pending.iter().filter(|p| p.due) {
            let status = reg.jobs.entry(p.key).or_default();
            status.table.clone_from(&p.table);
            if status.queued
                || status.running_since.is_some()
                || status.retry_at.is_some_and(|t| now < t)
            {
                continue;
            }
            status.queued = true;
            // Flushes first: writers may be waiting for the memory they free.
            if p.key.kind == JobKind::Flush {
                reg.queue.push_front(p.key);
            } else {
                reg.queue.push_back(p.key);
            }
        }
        drop(reg);
        self.changed.notify_all();
    }

    /// Blocks until a queued job may run and marks it running; `None` on shutdown.
    fn next_queued(&self, inner: &Inner) -> Option<(JobKey, Option<String>, SystemTime)> {
        let mut reg = self.reg.lock();
        loop {
            if inner.is_shut_down() {
                return None;
            }
            let pick = reg.queue.iter().position(|k| {
                self.admits(&reg, k.kind)
                    && reg.jobs.get(k).is_some_and(|s| s.running_since.is_none())
            });
            if let Some(i) = pick {
                let key = reg.queue.remove(i).expect("position is in range");
                let started = SystemTime::now();
                let table = mark_running(&mut reg, key, started);
                return Some((key, table, started));
            }
            self.changed.wait_for(&mut reg, TICK);
        }
    }

    /// Blocks until `key` is not running and a place is free, then marks it running (taking
    /// it off the queue if it was there).
    fn begin_manual(&self, key: JobKey, table: Option<String>) -> SystemTime {
        let mut reg = self.reg.lock();
        loop {
            let busy = reg
                .jobs
                .get(&key)
                .is_some_and(|s| s.running_since.is_some());
            if !busy && self.admits(&reg, key.kind) {
                reg.queue.retain(|k| *k != key);
                reg.jobs.entry(key).or_default().table = table;
                let started = SystemTime::now();
                mark_running(&mut reg, key, started);
                return started;
            }
            self.changed.wait_for(&mut reg, TICK);
        }
    }

    /// Records the end of a run.
    fn finish(&self, key: JobKey, run: JobRun) {
        let mut reg = self.reg.lock();
        reg.running -= 1;
        if key.kind != JobKind::Flush {
            reg.running_other -= 1;
        }
        let counters = reg.per_kind.entry(key.kind).or_default();
        counters.0 += 1;
        if run.outcome == JobOutcome::Failed {
            counters.1 += 1;
        }
        if reg.history.len() == HISTORY {
            reg.history.pop_front();
        }
        reg.history.push_back(run.clone());
        let status = reg.jobs.entry(key).or_default();
        status.running_since = None;
        status.finished += 1;
        match run.outcome {
            JobOutcome::Failed => {
                status.failures += 1;
                status.failures_in_a_row = status.failures_in_a_row.saturating_add(1);
                let backoff = BACKOFF_MIN
                    .saturating_mul(1 << status.failures_in_a_row.min(6).saturating_sub(1))
                    .min(BACKOFF_MAX);
                status.retry_at = Some(Instant::now() + backoff);
            }
            JobOutcome::Succeeded => {
                status.failures_in_a_row = 0;
                status.retry_at = None;
            }
            JobOutcome::Cancelled => {}
        }
        status.last = Some(run);
        drop(reg);
        self.changed.notify_all();
    }
}

fn mark_running(reg: &mut Registry, key: JobKey, started: SystemTime) -> Option<String> {
    reg.running += 1;
    if key.kind != JobKind::Flush {
        reg.running_other += 1;
    }
    let status = reg.jobs.entry(key).or_default();
    status.queued = false;
    status.running_since = Some(started);
    status.table.clone()
}

/// Marks a run failed if its job panicked, so the job is not stuck "running".
struct RunGuard<'a> {
    jobs: &'a Jobs,
    key: JobKey,
    table: Option<String>,
    started: SystemTime,
    done: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.jobs.finish(
                self.key,
                JobRun {
                    kind: self.key.kind,
                    table: self.table.take(),
                    started: self.started,
                    ended: SystemTime::now(),
                    outcome: JobOutcome::Failed,
                    rows: 0,
                    bytes: 0,
                    error: Some("the job panicked".into()),
                },
            );
        }
    }
}

/// Starts the scheduler and the worker threads.
pub(super) fn start(inner: &Arc<Inner>) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let mut threads = Vec::with_capacity(inner.jobs.limit + 1);
    let sched = Arc::clone(inner);
    threads.push(
        std::thread::Builder::new()
            .name("strata-jobs".into())
            .spawn(move || sched.schedule_loop())?,
    );
    for i in 0..inner.jobs.limit {
        let worker = Arc::clone(inner);
        threads.push(
            std::thread::Builder::new()
                .name(format!("strata-job-{i}"))
                .spawn(move || {
                    while let Some((key, table, started)) = worker.jobs.next_queued(&worker) {
                        // The error is in the run record and the log; the job is retried.
                        let _ = worker.run_marked(key, table, started);
                    }
                })?,
        );
    }
    Ok(threads)
}

impl Inner {
    /// Every job with work. `manual`: as a manual run sees it (flush has work whenever a row
    /// is unflushed); otherwise as the schedule does (flush waits for its thresholds).
    pub(super) fn pending_jobs(&self, manual: bool, kinds: &[JobKind]) -> Vec<Pending> {
        let now = Instant::now();
        let mut out = Vec::new();
        for &kind in kinds {
            match kind {
                JobKind::Flush => {
                    let (due, next_run) = self.flush_due(manual, now);
                    out.push(Pending {
                        key: JobKey::FLUSH,
                        table: None,
                        due,
                        next_run,
                    });
                }
                JobKind::Compaction => out.extend(self.compaction_pending()),
                JobKind::Tiering => out.extend(self.tiering_pending()),
                JobKind::Retention => out.extend(self.retention_pending()),
                JobKind::Purge => out.extend(self.purge_pending()),
            }
        }
        out
    }

    fn schedule_loop(&self) {
        while !self.is_shut_down() {
            let pending = self.pending_jobs(false, &JobKind::ALL);
            self.jobs.enqueue_due(&pending, Instant::now());
            let mut reg = self.jobs.reg.lock();
            if !reg.woken {
                self.jobs.changed.wait_for(&mut reg, TICK);
            }
            reg.woken = false;
        }
        // Wake the workers so they see the shutdown.
        self.jobs.changed.notify_all();
    }

    /// Runs a job that the caller has marked running, and records the run.
    fn run_marked(&self, key: JobKey, table: Option<String>, started: SystemTime) -> Result<Moved> {
        let mut guard = RunGuard {
            jobs: &self.jobs,
            key,
            table,
            started,
            done: false,
        };
        let result = match key.kind {
            JobKind::Flush => self.flush(),
            JobKind::Compaction => match key.table {
                Some(id) => self.compact_table(id),
                None => Ok(Moved::default()),
            },
            JobKind::Tiering => match key.table {
                Some(id) => self.tier_table(id),
                None => self.collect_cold_garbage_job(),
            },
            JobKind::Retention => match key.table {
                Some(id) => self.apply_retention(id),
                None => Ok(Moved::default()),
            },
            JobKind::Purge => self.purge(),
        };
        let (outcome, error) = match &result {
            Ok(_) => (JobOutcome::Succeeded, None),
            Err(Error::Closed) => (JobOutcome::Cancelled, None),
            Err(e) => {
                tracing::error!(job = %key.kind, table = ?guard.table, error = %e, "background job failed");
                (JobOutcome::Failed, Some(e.to_string()))
            }
        };
        let moved = result.as_ref().copied().unwrap_or_default();
        guard.done = true;
        self.jobs.finish(
            key,
            JobRun {
                kind: key.kind,
                table: guard.table.take(),
                started,
                ended: SystemTime::now(),
                outcome,
                rows: moved.rows,
                bytes: moved.bytes,
                error,
            },
        );
        result
    }

    /// Runs one job now on the calling thread (waiting for a run under way to finish).
    pub(super) fn run_now(&self, key: JobKey, table: Option<String>) -> Result<Moved> {
        let started = self.jobs.begin_manual(key, table.clone());
        self.run_marked(key, table, started)
    }
}

impl Engine {
    /// Runs every job of `kind` (every kind if `None`) that has work now, on the calling
    /// thread, and returns when they have finished: `CALL strata.run_jobs()` and
    /// `CALL strata.run_job('kind')`. Flush has work whenever a row is unflushed (its size
    /// and age thresholds are for the schedule); other kinds by their own rules. A failed
    /// run is reported in its [`JobRun`], not as an error.
    pub fn run_jobs(&self, kind: Option<JobKind>) -> Vec<JobRun> {
        let kinds: Vec<JobKind> = match kind {
            Some(k) => vec![k],
            None => JobKind::ALL.to_vec(),
        };
        let mut runs = Vec::new();
        // One kind after the other: a flush's new segments may make compaction due.
        for k in kinds {
            for p in self.inner.pending_jobs(true, &[k]) {
                if !p.due {
                    continue;
                }
                let _ = self.inner.run_now(p.key, p.table.clone());
                let reg = self.inner.jobs.reg.lock();
                if let Some(last) = reg.jobs.get(&p.key).and_then(|s| s.last.clone()) {
                    runs.push(last);
                }
            }
        }
        runs
    }

    /// Flushes every memtable to segments and checkpoints the WAL (a manual run of the
    /// flush job).
    pub fn flush(&self) -> Result<()> {
        self.inner.run_now(JobKey::FLUSH, None).map(|_| ())
    }

    /// Every job: the engine-wide ones and one of each per-table kind for every table, with
    /// its state, last run and when it is next due.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let pending = self.inner.pending_jobs(false, &JobKind::ALL);
        let now = Instant::now();
        let reg = self.inner.jobs.reg.lock();
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            let status = reg.jobs.get(&p.key);
            let state = match status {
                Some(s) if s.running_since.is_some() => JobState::Running,
                Some(s) if s.queued => JobState::Queued,
                _ => JobState::Idle,
            };
            let next_run = match status.and_then(|s| s.retry_at) {
                Some(at) if p.next_run.is_some() => {
                    Some(SystemTime::now() + at.saturating_duration_since(now))
                }
                _ => p.next_run,
            };
            out.push(JobInfo {
                kind: p.key.kind,
                table: p.table,
                state,
                last: status.and_then(|s| s.last.clone()),
                running_since: status.and_then(|s| s.running_since),
                runs: status.map_or(0, |s| s.finished),
                failures: status.map_or(0, |s| s.failures),
                next_run,
            });
        }
        out
    }

    /// The most recent job runs (up to 1,000), oldest first.
    pub fn job_runs(&self) -> Vec<JobRun> {
        self.inner.jobs.reg.lock().history.iter().cloned().collect()
    }

    /// Runs and failures per job kind since the engine opened (for `/metrics`).
    pub fn job_counters(&self) -> Vec<(JobKind, u64, u64)> {
        let reg = self.inner.jobs.reg.lock();
        JobKind::ALL
            .into_iter()
            .map(|k| {
                let (runs, failures) = reg.per_kind.get(&k).copied().unwrap_or_default();
                (k, runs, failures)
            })
            .collect()
    }
}
