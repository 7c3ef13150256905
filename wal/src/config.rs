//! WAL configuration.

use std::path::PathBuf;
use std::time::Duration;

/// When appended records are forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fdatasync` before acknowledging; concurrent appends share one sync (group commit).
    /// An acknowledged record survives `kill -9` and power loss. The default.
    #[default]
    Always,
    /// Acknowledge after `write(2)`; `fdatasync` at most this long after the first unsynced
    /// write. Survives `kill -9` (the page cache outlives the process) but power loss may
    /// lose up to the interval.
    Interval(Duration),
    /// Acknowledge after `write(2)`; never sync except on rollover and close.
    /// Survives `kill -9`, not power loss.
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    /// Parses `always`, `none` / `never`, or `interval(<ms>)` / `<ms>ms`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let ms = |digits: &str| {
            digits
                .parse::<u64>()
                .map(|ms| FsyncPolicy::Interval(Duration::from_millis(ms.max(1))))
                .map_err(|_| format!("bad fsync interval {digits:?}: expected milliseconds"))
        };
        match s.as_str() {
            "always" => Ok(FsyncPolicy::Always),
            "none" | "never" => Ok(FsyncPolicy::Never),
            _ => {
                if let Some(inner) = s
                    .strip_prefix("interval(")
                    .and_then(|r| r.strip_suffix(')'))
                {
                    ms(inner.trim().trim_end_matches("ms"))
                } else if let Some(digits) = s.strip_suffix("ms") {
                    ms(digits)
                } else {
                    Err(format!(
                        "unknown fsync policy {s:?}: expected always, none or interval(<ms>)"
                    ))
                }
            }
        }
    }
}

/// Settings of one WAL directory.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// Directory holding the segment files. Created if missing.
    pub dir: PathBuf,
    /// A segment is rolled once it grows past this many bytes. Default 64 MiB.
    pub segment_size: u64,
    /// Durability policy. Default [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// Upper bound on the bytes one group commit writes at once. Default 8 MiB.
    pub max_batch_bytes: usize,
}

impl WalConfig {
    /// The defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig {
            dir: dir.into(),
            segment_size: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            max_batch_bytes: 8 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies() {
        assert_eq!("always".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Always));
        assert_eq!("None".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Never));
        assert_eq!(
            "interval(25)".parse::<FsyncPolicy>(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(25)))
        );
        assert_eq!(
            "100ms".parse::<FsyncPolicy>(),
            Ok(FsyncPolicy::Interval(Duration::from_millis(100)))
        );
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}
