//! The writer thread and group commit.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::config::{FsyncPolicy, WalConfig};
use crate::error::{Error, Result};
use crate::reader::Recovered;
use crate::record::{encode_into, Lsn, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN};
use crate::segment::{self, SegmentFile, SEGMENT_HEADER_LEN};

enum Command {
    Append {
        kind: u8,
        payload: Vec<u8>,
        done: oneshot::Sender<Result<Lsn>>,
    },
    Checkpoint {
        upto: Lsn,
        done: oneshot::Sender<Result<usize>>,
    },
    Sync {
        done: oneshot::Sender<Result<()>>,
    },
    Roll {
        done: oneshot::Sender<Result<()>>,
    },
    FirstLsn {
        done: oneshot::Sender<Lsn>,
    },
}

/// Handle to an open WAL. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Wal {
    tx: Mutex<Option<mpsc::Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    last_lsn: Arc<AtomicU64>,
    dir: PathBuf,
}

/// Completes when an appended record is durable under the WAL's policy.
#[derive(Debug)]
pub struct AppendFuture {
    rx: Option<oneshot::Receiver<Result<Lsn>>>,
}

impl Future for AppendFuture {
    type Output = Result<Lsn>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.rx.as_mut() {
            None => Poll::Ready(Err(Error::Closed)),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(Error::Closed))),
        }
    }
}

impl Wal {
    /// Starts the writer thread on a recovered directory. New records continue at
    /// [`Recovered::next_lsn`].
    pub fn start(config: WalConfig, recovered: Recovered) -> Result<Wal> {
        let dir = recovered.dir.clone();
        let last_lsn = Arc::new(AtomicU64::new(recovered.next_lsn - 1));
        let mut state = WriterState::open(config, recovered, Arc::clone(&last_lsn))?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("strata-wal".into())
            .spawn(move || state.run(rx))
            .map_err(|e| Error::io(&dir, e))?;
        Ok(Wal {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            last_lsn,
            dir,
        })
    }

    /// The directory of this log.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The highest LSN written so far (0 if none).
    pub fn last_lsn(&self) -> Lsn {
        Lsn(self.last_lsn.load(Ordering::Acquire))
    }

    fn send(&self, cmd: Command) -> Result<()> {
        let tx = self.tx.lock();
        match tx.as_ref() {
            Some(tx) => tx.send(cmd).map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    /// Queues a record; the future resolves with its LSN once it is durable.
    pub fn append_async(&self, kind: u8, payload: Vec<u8>) -> AppendFuture {
        if payload.len() > MAX_PAYLOAD_LEN {
            let (tx, rx) = oneshot::channel();
            let _ = tx.send(Err(Error::PayloadTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            }));
            return AppendFuture { rx: Some(rx) };
        }
        let (done, rx) = oneshot::channel();
        match self.send(Command::Append {
            kind,
            payload,
            done,
        }) {
            Ok(()) => AppendFuture { rx: Some(rx) },
            Err(_) => AppendFuture { rx: None },
        }
    }

    /// Appends a record and blocks until it is durable. Do not call from an async task;
    /// use [`Wal::append_async`] there.
    pub fn append(&self, kind: u8, payload: Vec<u8>) -> Result<Lsn> {
        let fut = self.append_async(kind, payload);
        match fut.rx {
            None => Err(Error::Closed),
            Some(rx) => rx.blocking_recv().unwrap_or(Err(Error::Closed)),
        }
    }

    /// Forces everything written so far to stable storage, whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Sync { done })?;
        rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }

    /// Deletes every segment whose records all have LSN `<= upto`, returning how many were
    /// deleted. The active segment is rolled first if it is entirely covered.
    pub fn checkpoint(&self, upto: Lsn) -> Result<usize> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Checkpoint { upto, done })?;
        rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }

    /// Seals the active segment if it holds records, so that the records written so far
    /// end a segment: once they are all checkpointed, [`Wal::checkpoint`] deletes that file
    /// even while new records keep arriving. (Erasure relies on it: no WAL file may keep an
    /// erased row after the purge.)
    pub fn roll(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Roll { done })?;
        rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }

    /// The LSN of the oldest record any segment file may still hold: the first LSN of the
    /// oldest segment (the next LSN to be written if the log holds no record).
    pub fn first_lsn(&self) -> Result<Lsn> {
        let (done, rx) = oneshot::channel();
        self.send(Command::FirstLsn { done })?;
        rx.blocking_recv().map_err(|_| Error::Closed)
    }

    /// Syncs and stops the writer thread. Later appends fail with [`Error::Closed`].
    pub fn close(&self) {
        self.tx.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

struct Waiter {
    lsn: Lsn,
    done: oneshot::Sender<Result<Lsn>>,
}

struct WriterState {
    config: WalConfig,
    dir: PathBuf,
    /// Sealed segments, oldest first.
    sealed: VecDeque<SegmentFile>,
    active: File,
    active_path: PathBuf,
    active_first_lsn: u64,
    active_len: u64,
    next_lsn: u64,
    last_lsn: Arc<AtomicU64>,
    /// Set when bytes were written but not yet synced.
    unsynced_since: Option<Instant>,
    poisoned: bool,
    buf: Vec<u8>,
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

fn clone_err(e: &Error) -> Error {
    match e {
        Error::Io { path, source } => Error::Io {
            path: path.clone(),
            source: clone_io(source),
        },
        Error::Corruption { file, offset, kind } => Error::Corruption {
            file: file.clone(),
            offset: *offset,
            kind: kind.clone(),
        },
        Error::PayloadTooLarge { len, max } => Error::PayloadTooLarge {
            len: *len,
            max: *max,
        },
        Error::Poisoned => Error::Poisoned,
        Error::Closed => Error::Closed,
    }
}

impl WriterState {
    fn open(config: WalConfig, recovered: Recovered, last_lsn: Arc<AtomicU64>) -> Result<Self> {
        let dir = recovered.dir;
        let mut sealed: VecDeque<SegmentFile> = recovered.segments.into();
        let next_lsn = recovered.next_lsn;
        if next_lsn != recovered.natural_next {
            // The caller raised next_lsn above every record here: all are covered.
            for seg in sealed.drain(..) {
                std::fs::remove_file(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
            }
            segment::sync_dir(&dir)?;
        }
        // Continue in the last segment if there is one, otherwise start one.
        let (active, active_path, active_first_lsn, active_len) =
            match (sealed.pop_back(), recovered.last_len) {
                (Some(last), Some(len)) => {
                    let file = OpenOptions::new()
                        .append(true)
                        .open(&last.path)
                        .map_err(|e| Error::io(&last.path, e))?;
                    (file, last.path, last.first_lsn, len)
                }
                _ => {
                    let (file, path) = create_segment(&dir, next_lsn)?;
                    (file, path, next_lsn, SEGMENT_HEADER_LEN as u64)
                }
            };
        last_lsn.store(next_lsn - 1, Ordering::Release);
        Ok(WriterState {
            config,
            dir,
            sealed,
            active,
            active_path,
            active_first_lsn,
            active_len,
            next_lsn,
            last_lsn,
            unsynced_since: None,
            poisoned: false,
            buf: Vec::with_capacity(1 << 20),
        })
    }

    fn run(&mut self, rx: mpsc::Receiver<Command>) {
        let mut pending: Option<Command> = None;
        loop {
            let cmd = match pending.take() {
                Some(cmd) => cmd,
                None => match self.next_deadline() {
                    None => match rx.recv() {
                        Ok(cmd) => cmd,
                        Err(_) => break,
                    },
                    Some(deadline) => {
                        let wait = deadline.saturating_duration_since(Instant::now());
                        match rx.recv_timeout(wait) {
                            Ok(cmd) => cmd,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if let Err(e) = self.sync() {
                                    tracing::error!(error = %e, "wal interval sync failed");
                                }
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                },
            };
            match cmd {
                Command::Append {
                    kind,
                    payload,
                    done,
                } => {
                    let mut batch = vec![(kind, payload, done)];
                    let mut bytes = batch[0].1.len();
                    while bytes < self.config.max_batch_bytes {
                        match rx.try_recv() {
                            Ok(Command::Append {
                                kind,
                                payload,
                                done,
                            }) => {
                                bytes += payload.len() + RECORD_HEADER_LEN;
                                batch.push((kind, payload, done));
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit(batch);
                }
                Command::Checkpoint { upto, done } => {
                    let _ = done.send(self.checkpoint(upto));
                }
                Command::Sync { done } => {
                    let _ = done.send(self.sync());
                }
                Command::Roll { done } => {
                    let result = if self.poisoned {
                        Err(Error::Poisoned)
                    } else if self.active_first_lsn < self.next_lsn {
                        self.roll().inspect_err(|_| self.poisoned = true)
                    } else {
                        Ok(())
                    };
                    let _ = done.send(result);
                }
                Command::FirstLsn { done } => {
                    let first = self
                        .sealed
                        .front()
                        .map_or(self.active_first_lsn, |s| s.first_lsn);
                    // An empty active segment holds nothing below the next LSN.
                    let first = if self.sealed.is_empty() && self.active_first_lsn >= self.next_lsn
                    {
                        self.next_lsn
                    } else {
                        first
                    };
                    let _ = done.send(Lsn(first));
                }
            }
        }
        if let Err(e) = self.sync() {
            tracing::error!(error = %e, "wal sync on close failed");
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.config.fsync, self.unsynced_since) {
            (FsyncPolicy::Interval(d), Some(since)) => Some(since + d),
            _ => None,
        }
    }

    fn commit(&mut self, batch: Vec<(u8, Vec<u8>, oneshot::Sender<Result<Lsn>>)>) {
        if self.poisoned {
            for (_, _, done) in batch {
                let _ = done.send(Err(Error::Poisoned));
            }
            return;
        }
        let mut waiters = Vec::with_capacity(batch.len());
        let result = self.write_batch(batch, &mut waiters);
        match result {
            Ok(()) => {
                for w in waiters {
                    let _ = w.done.send(Ok(w.lsn));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "wal write failed; the log is now poisoned");
                self.poisoned = true;
                for w in waiters {
                    let _ = w.done.send(Err(clone_err(&e)));
                }
            }
        }
    }

    fn write_batch(
        &mut self,
        batch: Vec<(u8, Vec<u8>, oneshot::Sender<Result<Lsn>>)>,
        waiters: &mut Vec<Waiter>,
    ) -> Result<()> {
        self.buf.clear();
        let mut first_error = None;
        for (kind, payload, done) in batch {
            let rec_len = (RECORD_HEADER_LEN + payload.len()) as u64;
            let has_records = self.active_len + self.buf.len() as u64 > SEGMENT_HEADER_LEN as u64;
            if has_records
                && self.active_len + self.buf.len() as u64 + rec_len > self.config.segment_size
            {
                if let Err(e) = self.write_buf().and_then(|()| self.roll()) {
                    first_error.get_or_insert(e);
                }
            }
            let lsn = Lsn(self.next_lsn);
            encode_into(&mut self.buf, lsn, kind, &payload);
            self.next_lsn += 1;
            waiters.push(Waiter { lsn, done });
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.write_buf()?;
        fail::fail_point!("wal::before_sync");
        if self.config.fsync == FsyncPolicy::Always {
            self.sync()?;
        }
        self.last_lsn.store(self.next_lsn - 1, Ordering::Release);
        Ok(())
    }

    fn write_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.active
            .write_all(&self.buf)
            .map_err(|e| Error::io(&self.active_path, e))?;
        self.active_len += self.buf.len() as u64;
        self.buf.clear();
        self.unsynced_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        if self.unsynced_since.is_some() {
            self.active
                .sync_data()
                .map_err(|e| Error::io(&self.active_path, e))?;
            self.unsynced_since = None;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `next_lsn`.
    fn roll(&mut self) -> Result<()> {
        self.sync()?;
        let (file, path) = create_segment(&self.dir, self.next_lsn)?;
        let old_path = std::mem::replace(&mut self.active_path, path);
        self.sealed.push_back(SegmentFile {
            first_lsn: self.active_first_lsn,
            path: old_path,
        });
        self.active = file;
        self.active_first_lsn = self.next_lsn;
        self.active_len = SEGMENT_HEADER_LEN as u64;
        Ok(())
    }

    fn checkpoint(&mut self, upto: Lsn) -> Result<usize> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        let active_has_records = self.active_first_lsn < self.next_lsn;
        if active_has_records && self.next_lsn - 1 <= upto.0 {
            if let Err(e) = self.roll() {
                self.poisoned = true;
                return Err(e);
            }
        }
        let mut deleted = 0;
        // A sealed segment's last LSN is one below the first LSN of the segment after it.
        while !self.sealed.is_empty() {
            let next_first = self
                .sealed
                .get(1)
                .map(|s| s.first_lsn)
                .unwrap_or(self.active_first_lsn);
            if next_first - 1 > upto.0 {
                break;
            }
            let Some(seg) = self.sealed.pop_front() else {
                break;
            };
            std::fs::remove_file(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
            deleted += 1;
        }
        if deleted > 0 {
            segment::sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }
}

/// Creates a segment file with its header, durably (file and directory synced).
fn create_segment(dir: &std::path::Path, first_lsn: u64) -> Result<(File, PathBuf)> {
    let path = dir.join(segment::file_name(first_lsn));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    file.write_all(&segment::header_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&path, e))?;
    segment::sync_dir(dir)?;
    Ok((file, path))
}
