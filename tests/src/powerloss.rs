//! A file system that forgets what was not fsynced: power loss for tests.
//!
//! `kill -9` leaves the page cache alone, so it cannot show a missing fsync. [`PowerLossFs`]
//! is a small in-memory FUSE file system (LazyFS-style, built on `fuser`, mounted without
//! libfuse; needs `/dev/fuse` and root) whose [`PowerLossFs::power_loss`] discards every
//! change that was not made durable, the way a strict POSIX disk would after a power cut:
//! - a file's contents (and size) are durable as of its last `fsync`/`fdatasync`;
//! - a directory's entries (create, mkdir, rename, unlink) are durable as of its last
//!   `fsync` of the directory itself, so a new file or directory whose parent was never
//!   fsynced disappears, and a rename whose directory was not fsynced is undone.
//!
//! After a power loss the file system is unmounted and mounted again, so the kernel keeps
//! no cached pages, attributes or entries from before it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

/// Entries and attributes are never cached by the kernel: every lookup asks.
const TTL: Duration = Duration::ZERO;

#[derive(Debug, Default)]
struct File {
    data: Vec<u8>,
    /// The contents as of the last fsync.
    durable: Vec<u8>,
    /// Changes since the last fsync, in the order they were made.
    pending: Vec<Change>,
}

#[derive(Debug)]
enum Change {
    Write { at: usize, bytes: Vec<u8> },
    SetLen(usize),
}

impl Change {
    fn apply(&self, to: &mut Vec<u8>) {
        match self {
            Change::Write { at, bytes } => {
                let end = at + bytes.len();
                if to.len() < end {
                    to.resize(end, 0);
                }
                to[*at..end].copy_from_slice(bytes);
            }
            Change::SetLen(len) => to.resize(*len, 0),
        }
    }
}

impl File {
    fn change(&mut self, change: Change) {
        change.apply(&mut self.data);
        self.pending.push(change);
    }

    fn sync(&mut self) {
        for change in self.pending.drain(..) {
            change.apply(&mut self.durable);
        }
    }

    /// A power cut in the middle of writing back: the changes since the last fsync reach
    /// the disk in order up to a random one, which is torn: a random prefix of its bytes
    /// arrives, the rest of its extent reads back as stale bytes (the size had grown). The
    /// rest is lost. Returns whether a write was torn.
    fn tear(&mut self, rng: &mut SplitMix) -> bool {
        let n = self.pending.len();
        if n == 0 {
            return false;
        }
        let cut = rng.below(n as u64) as usize;
        for change in &self.pending[..cut] {
            change.apply(&mut self.durable);
        }
        let torn = match &self.pending[cut] {
            Change::Write { at, bytes } if !bytes.is_empty() => {
                let keep = rng.below(bytes.len() as u64) as usize;
                let mut arrived = bytes[..keep].to_vec();
                arrived.extend((keep..bytes.len()).map(|_| rng.next() as u8 | 0x80));
                Change::Write {
                    at: *at,
                    bytes: arrived,
                }
                .apply(&mut self.durable);
                true
            }
            change => {
                change.apply(&mut self.durable);
                false
            }
        };
        self.pending.clear();
        torn
    }
}

/// A small deterministic generator (SplitMix64) for torn power cuts.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), near enough for tests.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Default)]
struct Dir {
    entries: BTreeMap<OsString, u64>,
    /// The entries as of the last fsync of the directory.
    durable: BTreeMap<OsString, u64>,
}

#[derive(Debug)]
enum Node {
    File(File),
    Dir(Dir),
}

#[derive(Debug)]
struct State {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    fsyncs: u64,
}

impl State {
    fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(INodeNo::ROOT.0, Node::Dir(Dir::default()));
        State {
            nodes,
            next_ino: INodeNo::ROOT.0 + 1,
            fsyncs: 0,
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, size, perm, nlink) = match self.nodes.get(&ino)? {
            Node::File(f) => (FileType::RegularFile, f.data.len() as u64, 0o644, 1),
            Node::Dir(_) => (FileType::Directory, 0, 0o755, 2),
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        })
    }

    fn dir(&mut self, ino: u64) -> Result<&mut Dir, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn file(&mut self, ino: u64) -> Result<&mut File, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn add(&mut self, parent: u64, name: &OsStr, node: Node) -> Result<u64, Errno> {
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        self.dir(parent)?.entries.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// Reverts every file and directory to its durable state and forgets what is no longer
    /// reachable. With `torn`, each file's last changes are torn instead of dropped
    /// ([`File::tear`]); returns the paths of the files whose write was torn.
    fn power_loss(&mut self, mut torn: Option<&mut SplitMix>) -> Vec<PathBuf> {
        let mut torn_inodes = std::collections::HashSet::new();
        let mut inodes: Vec<u64> = self.nodes.keys().copied().collect();
        inodes.sort_unstable(); // the same seed tears the same writes
        for ino in inodes {
            match self.nodes.get_mut(&ino).expect("listed") {
                Node::File(f) => {
                    if let Some(rng) = torn.as_deref_mut() {
                        if f.tear(rng) {
                            torn_inodes.insert(ino);
                        }
                    }
                    f.data = f.durable.clone();
                    f.pending.clear();
                }
                Node::Dir(d) => d.entries = d.durable.clone(),
            }
        }
        // What a walk from the root reaches survives, under the path it is reached by.
        let mut reachable = std::collections::HashSet::new();
        let mut torn_paths = Vec::new();
        let mut walk = vec![(INodeNo::ROOT.0, PathBuf::new())];
        while let Some((ino, path)) = walk.pop() {
            reachable.insert(ino);
            if torn_inodes.contains(&ino) {
                torn_paths.push(path.clone());
            }
            if let Some(Node::Dir(d)) = self.nodes.get(&ino) {
                walk.extend(d.entries.iter().map(|(name, &i)| (i, path.join(name))));
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
        torn_paths.sort();
        torn_paths
    }
}

/// The FUSE side: every call takes the state's lock.
struct Fs(Arc<Mutex<State>>);

impl Fs {
    fn reply_entry(&self, st: &State, ino: u64, reply: ReplyEntry) {
        match st.attr(ino) {
            Some(a) => reply.entry(&TTL, &a, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.0.lock().unwrap();
        let ino = match st.dir(parent.0) {
            Ok(d) => d.entries.get(name).copied(),
            Err(e) => return reply.error(e),
        };
        match ino {
            Some(ino) => self.reply_entry(&st, ino, reply),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.0.lock().unwrap().attr(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.0.lock().unwrap();
        if let Some(size) = size {
            match st.file(ino.0) {
                Ok(f) => f.change(Change::SetLen(size as usize)),
                Err(e) => return reply.error(e),
            }
        }
        match st.attr(ino.0) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.0.lock().unwrap();
        match st.add(parent.0, name, Node::Dir(Dir::default())) {
            Ok(ino) => self.reply_entry(&st, ino, reply),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.0.lock().unwrap();
        match st.add(parent.0, name, Node::File(File::default())) {
            Ok(ino) => self.reply_entry(&st, ino, reply),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.0.lock().unwrap();
        let existing = match st.dir(parent.0) {
            Ok(d) => d.entries.get(name).copied(),
            Err(e) => return reply.error(e),
        };
        let ino = match existing {
            Some(_) if flags & libc::O_EXCL != 0 => return reply.error(Errno::EEXIST),
            Some(ino) => {
                if flags & libc::O_TRUNC != 0 {
                    if let Ok(f) = st.file(ino) {
                        f.data.clear();
                    }
                }
                ino
            }
            None => match st.add(parent.0, name, Node::File(File::default())) {
                Ok(ino) => ino,
                Err(e) => return reply.error(e),
            },
        };
        match st.attr(ino) {
            Some(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.0.lock().unwrap();
        match st.dir(parent.0) {
            Ok(d) => match d.entries.remove(name) {
                Some(_) => reply.ok(),
                None => reply.error(Errno::ENOENT),
            },
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.0.lock().unwrap();
        let ino = match st.dir(parent.0) {
            Ok(d) => d.entries.get(name).copied(),
            Err(e) => return reply.error(e),
        };
        let Some(ino) = ino else {
            return reply.error(Errno::ENOENT);
        };
        match st.dir(ino) {
            Ok(d) if !d.entries.is_empty() => return reply.error(Errno::ENOTEMPTY),
            Ok(_) => {}
            Err(e) => return reply.error(e),
        }
        if let Ok(d) = st.dir(parent.0) {
            d.entries.remove(name);
        }
        reply.ok();
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.0.lock().unwrap();
        let ino = match st.dir(parent.0) {
            Ok(d) => d.entries.remove(name),
            Err(e) => return reply.error(e),
        };
        let Some(ino) = ino else {
            return reply.error(Errno::ENOENT);
        };
        match st.dir(newparent.0) {
            Ok(d) => {
                d.entries.insert(newname.to_owned(), ino);
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.0.lock().unwrap();
        if flags.0 & libc::O_TRUNC != 0 {
            if let Ok(f) = st.file(ino.0) {
                f.data.clear();
            }
        }
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut st = self.0.lock().unwrap();
        match st.file(ino.0) {
            Ok(f) => {
                let start = (offset as usize).min(f.data.len());
                let end = (start + size as usize).min(f.data.len());
                reply.data(&f.data[start..end]);
            }
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.0.lock().unwrap();
        match st.file(ino.0) {
            Ok(f) => {
                f.change(Change::Write {
                    at: offset as usize,
                    bytes: data.to_vec(),
                });
                reply.written(data.len() as u32);
            }
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() is not a sync.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.0.lock().unwrap();
        st.fsyncs += 1;
        match st.file(ino.0) {
            Ok(f) => {
                f.sync();
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut st = self.0.lock().unwrap();
        let entries: Vec<(OsString, u64)> = match st.dir(ino.0) {
            Ok(d) => d.entries.iter().map(|(n, i)| (n.clone(), *i)).collect(),
            Err(e) => return reply.error(e),
        };
        let mut all: Vec<(OsString, u64, FileType)> = vec![
            (".".into(), ino.0, FileType::Directory),
            ("..".into(), ino.0, FileType::Directory),
        ];
        for (name, child) in entries {
            let kind = match st.nodes.get(&child) {
                Some(Node::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            all.push((name, child, kind));
        }
        for (i, (name, child, kind)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.0.lock().unwrap();
        st.fsyncs += 1;
        match st.dir(ino.0) {
            Ok(d) => {
                d.durable = d.entries.clone();
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut st = self.0.lock().unwrap();
        match st.file(ino.0) {
            Ok(f) => {
                let end = (offset + length) as usize;
                if f.data.len() < end {
                    f.change(Change::SetLen(end));
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted [`PowerLossFs`] in a fresh temporary directory; unmounted when dropped.
pub struct PowerLossFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for PowerLossFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerLossFs")
            .field("mountpoint", &self.mountpoint)
            .finish()
    }
}

fn mount(state: &Arc<Mutex<State>>, at: &Path) -> BackgroundSession {
    let mut config = fuser::Config::default();
    config.mount_options.extend([
        MountOption::FSName("strata-powerloss".into()),
        MountOption::RW,
    ]);
    fuser::spawn_mount2(Fs(Arc::clone(state)), at, &config).unwrap_or_else(|e| {
        panic!(
            "mounting the power-loss file system at {} failed ({e}); it needs /dev/fuse and root",
            at.display()
        )
    })
}

impl PowerLossFs {
    /// Mounts an empty file system.
    pub fn mount() -> PowerLossFs {
        let dir = tempfile::tempdir().unwrap();
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        let state = Arc::new(Mutex::new(State::new()));
        let session = mount(&state, &mountpoint);
        PowerLossFs {
            state,
            session: Some(session),
            mountpoint,
            _dir: dir,
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// fsync and fsyncdir calls served so far.
    pub fn fsyncs(&self) -> u64 {
        self.state.lock().unwrap().fsyncs
    }

    /// Cuts the power: every change not made durable is lost. No process may have files
    /// open on it (kill the writer first). The file system is mounted again afterwards,
    /// with no kernel cache left from before.
    pub fn power_loss(&mut self) {
        self.cut_power(None);
    }

    /// Cuts the power in the middle of writing back: in each file, the writes since its
    /// last fsync reach the disk in order up to a random one (chosen by `seed`), which
    /// arrives torn: a prefix of its bytes, then stale bytes to its end. Returns the paths
    /// (relative to [`PowerLossFs::path`]) of the files left with a torn write.
    pub fn torn_power_loss(&mut self, seed: u64) -> Vec<PathBuf> {
        self.cut_power(Some(&mut SplitMix(seed)))
    }

    fn cut_power(&mut self, torn: Option<&mut SplitMix>) -> Vec<PathBuf> {
        if let Some(s) = self.session.take() {
            // The session's loop can end with ECONNABORTED when the kernel tears the
            // connection down first during the unmount: the unmount still happened.
            match s.umount_and_join() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => panic!("unmounting the power-loss file system: {e}"),
            }
        }
        let torn = self.state.lock().unwrap().power_loss(torn);
        self.session = Some(mount(&self.state, &self.mountpoint));
        torn
    }
}

impl Drop for PowerLossFs {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}
