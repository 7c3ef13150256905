//! Recovery: reading every segment back, validating it, and cutting a torn tail.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use crate::error::{CorruptionKind, Error, Result};
use crate::record::{decode_header, Lsn, Record, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN};
use crate::segment::{self, SegmentFile, SEGMENT_HEADER_LEN};

/// Reads a WAL directory record by record, in LSN order.
///
/// Call [`WalReader::next_record`] until it returns `Ok(None)`, then [`WalReader::finish`]
/// to truncate a torn tail and obtain the [`Recovered`] state that [`crate::Wal::start`]
/// continues from. Any error other than a torn tail of the last segment is returned and
/// stops recovery: the caller decides, nothing is skipped.
#[derive(Debug)]
pub struct WalReader {
    dir: PathBuf,
    segments: Vec<SegmentFile>,
    /// Index into `segments` of the segment in `data`.
    current: usize,
    data: Vec<u8>,
    pos: usize,
    expected: Option<u64>,
    /// Where the last segment must be cut: (path, valid length).
    torn_tail: Option<(PathBuf, u64)>,
    finished_reading: bool,
}

/// Whether `data[from..]` holds, at any offset, a whole record that passes both checksums
/// and has an LSN of at least `min_lsn`: then a damaged record before it is not the final
/// record of its file. Two CRC32s must match by chance for garbage to pass (about 2^-64 per
/// offset). Runs only when a record in the newest file fails a check.
fn valid_record_after(data: &[u8], from: usize, min_lsn: u64) -> bool {
    (from..data.len().saturating_sub(RECORD_HEADER_LEN - 1)).any(|at| {
        let header = decode_header(data[at..at + RECORD_HEADER_LEN].try_into().expect("len"));
        let end = at + RECORD_HEADER_LEN + header.payload_len;
        header.stored_crc == header.computed_crc
            && header.lsn.0 >= min_lsn
            && header.payload_len <= MAX_PAYLOAD_LEN
            && end <= data.len()
            && crc32fast::hash(&data[at + RECORD_HEADER_LEN..end]) == header.payload_crc
    })
}

/// What recovery found: the segments that remain and the next LSN to write.
#[derive(Debug)]
pub struct Recovered {
    pub(crate) dir: PathBuf,
    pub(crate) segments: Vec<SegmentFile>,
    pub(crate) next_lsn: u64,
    /// The LSN after the last record actually in the log.
    pub(crate) natural_next: u64,
    /// Bytes in the last segment (after truncation), `None` if there is no segment.
    pub(crate) last_len: Option<u64>,
}

impl Recovered {
    /// The LSN the next appended record will get.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.next_lsn)
    }

    /// Makes sure new records get LSNs above `lsn`, e.g. when the caller's own state has
    /// seen LSNs of segments already deleted by a checkpoint. If this raises the next LSN,
    /// every record in the log is `<= lsn`, so [`crate::Wal::start`] deletes the old
    /// segments and starts a fresh one (keeping LSNs dense within the files).
    pub fn ensure_next_lsn_above(&mut self, lsn: Lsn) {
        if self.next_lsn <= lsn.0 {
            self.next_lsn = lsn.0 + 1;
        }
    }
}

impl WalReader {
    /// Opens `dir` (creating it if missing) for recovery.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            // A new directory is durable only once its parent is synced.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                segment::sync_dir(parent)?;
            }
        }
        let segments = segment::list(&dir)?;
        Ok(WalReader {
            dir,
            segments,
            current: usize::MAX,
            data: Vec::new(),
            pos: 0,
            expected: None,
            torn_tail: None,
            finished_reading: false,
        })
    }

    fn corrupt(&self, offset: usize, kind: CorruptionKind) -> Error {
        Error::Corruption {
            file: self.segments[self.current].path.clone(),
            offset: offset as u64,
            kind,
        }
    }

    fn is_last(&self) -> bool {
        self.current + 1 == self.segments.len()
    }

    /// Loads the next segment; returns false when there is none.
    fn load_next_segment(&mut self) -> Result<bool> {
        let next = self.current.wrapping_add(1);
        if next >= self.segments.len() {
            return Ok(false);
        }
        self.current = next;
        let seg = &self.segments[next];
        self.data = std::fs::read(&seg.path).map_err(|e| Error::io(&seg.path, e))?;
        self.pos = SEGMENT_HEADER_LEN;
        match self.expected {
            None => self.expected = Some(seg.first_lsn),
            Some(expected) if expected != seg.first_lsn => {
                return Err(self.corrupt(
                    0,
                    CorruptionKind::SequenceGap {
                        expected,
                        found: seg.first_lsn,
                    },
                ))
            }
            Some(_) => {}
        }
        if self.data.len() < SEGMENT_HEADER_LEN && self.is_last() {
            // Crashed while creating the segment: rewrite its header in `finish`.
            self.torn_tail = Some((self.segments[next].path.clone(), 0));
            self.pos = self.data.len();
            return Ok(true);
        }
        if let Err(e) = segment::check_header(&self.segments[next].path, &self.data) {
            // A newest file whose header was torn as it was created holds no record yet.
            if !self.is_last() || valid_record_after(&self.data, 0, 0) {
                return Err(e);
            }
            tracing::warn!(file = %self.segments[next].path.display(), error = %e,
                "the newest wal file has a damaged header and no record: a torn write, rewritten");
            self.torn_tail = Some((self.segments[next].path.clone(), 0));
            self.pos = self.data.len();
        }
        Ok(true)
    }

    /// Returns the next valid record, `Ok(None)` at the end of the log.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if self.finished_reading {
            return Ok(None);
        }
        loop {
            if self.current == usize::MAX || self.pos >= self.data.len() {
                if !self.load_next_segment()? {
                    self.finished_reading = true;
                    return Ok(None);
                }
                continue;
            }
            return self.decode_at_pos();
        }
    }

    fn decode_at_pos(&mut self) -> Result<Option<Record>> {
        let pos = self.pos;
        let rest = &self.data[pos..];
        let torn = |this: &mut Self| -> Result<Option<Record>> {
            if this.is_last() {
                this.torn_tail = Some((this.segments[this.current].path.clone(), pos as u64));
                this.pos = this.data.len();
                this.finished_reading = true;
                Ok(None)
            } else {
                Err(this.corrupt(pos, CorruptionKind::TruncatedSealedSegment))
            }
        };
        if rest.iter().all(|&b| b == 0) {
            // Zero fill to the end: a write that never reached the disk.
            return torn(self);
        }
        if rest.len() < RECORD_HEADER_LEN {
            return torn(self);
        }
        let header = decode_header(rest[..RECORD_HEADER_LEN].try_into().expect("header length"));
        let expected = self.expected.unwrap_or(header.lsn.0);
        // A record that fails a check is the torn tail when it is the final record of the
        // newest file (no valid record follows it there); anywhere else it is corruption.
        let damaged = |this: &mut Self, kind: CorruptionKind| -> Result<Option<Record>> {
            let min_lsn = this.expected.unwrap_or(0);
            if this.is_last() && !valid_record_after(&this.data, pos + 1, min_lsn) {
                tracing::warn!(
                    file = %this.segments[this.current].path.display(),
                    offset = pos,
                    %kind,
                    "the final wal record is damaged: a torn write, cut off"
                );
                torn(this)
            } else {
                Err(this.corrupt(pos, kind))
            }
        };
        if header.stored_crc != header.computed_crc {
            let kind = CorruptionKind::HeaderChecksum {
                expected: header.stored_crc,
                actual: header.computed_crc,
            };
            return damaged(self, kind);
        }
        if header.payload_len > MAX_PAYLOAD_LEN {
            let kind = CorruptionKind::OversizedRecord {
                len: header.payload_len as u64,
            };
            return damaged(self, kind);
        }
        let end = RECORD_HEADER_LEN + header.payload_len;
        if rest.len() < end {
            return torn(self);
        }
        let payload = &rest[RECORD_HEADER_LEN..end];
        let actual = crc32fast::hash(payload);
        if actual != header.payload_crc {
            let kind = CorruptionKind::PayloadChecksum {
                expected: header.payload_crc,
                actual,
            };
            return damaged(self, kind);
        }
        if header.lsn.0 != expected {
            return Err(self.corrupt(
                pos,
                CorruptionKind::SequenceGap {
                    expected,
                    found: header.lsn.0,
                },
            ));
        }
        let record = Record {
            lsn: header.lsn,
            kind: header.kind,
            payload: payload.to_vec(),
        };
        self.expected = Some(expected + 1);
        self.pos = pos + end;
        Ok(Some(record))
    }

    /// Drains any unread records, truncates a torn tail, and returns the state to resume
    /// writing from.
    pub fn finish(mut self) -> Result<Recovered> {
        while self.next_record()?.is_some() {}
        let mut last_len = self.segments.last().map(|_| self.data.len() as u64);
        if let Some((path, len)) = self.torn_tail.take() {
            tracing::warn!(file = %path.display(), offset = len, "truncating torn wal tail");
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            if len == 0 {
                use std::io::Write;
                file.set_len(0).map_err(|e| Error::io(&path, e))?;
                (&file)
                    .write_all(&segment::header_bytes())
                    .map_err(|e| Error::io(&path, e))?;
                last_len = Some(SEGMENT_HEADER_LEN as u64);
            } else {
                file.set_len(len).map_err(|e| Error::io(&path, e))?;
                last_len = Some(len);
            }
            file.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        let next_lsn = self
            .expected
            .or_else(|| self.segments.last().map(|s| s.first_lsn))
            .unwrap_or(1);
        Ok(Recovered {
            dir: self.dir,
            segments: self.segments,
            next_lsn,
            natural_next: next_lsn,
            last_len,
        })
    }
}
