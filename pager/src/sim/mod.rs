//! A simulated file system that fails the way disks and kernels fail.
//!
//! # Fault model (RELIABILITY.md)
//!
//! - **Crash** at any I/O call: `write_at`, `sync_data`, `set_len`, file create,
//!   directory create, rename, unlink and directory sync. At a crash, each write since
//!   the last sync of its file is independently kept, dropped, or torn at 512-byte
//!   sector granularity. Unsynced `set_len` (and growth by writing past the end) and
//!   unsynced directory entries may be lost: a file created, renamed or unlinked since
//!   the last `sync_dir` of its directory, and a directory created since the last
//!   `sync_dir` of its parent, which then disappears with everything in it.
//! - **EIO on sync**, with Linux semantics: the unsynced pages become "clean", reads
//!   keep returning the new bytes, and those bytes are lost at the next crash.
//! - **ENOSPC** on `write_at` or `set_len`.
//! - **At-rest corruption**: bit flips, and misdirected or lost page writes.
//!
//! # How it is used
//!
//! Every persistence call (write, set_len, sync, create, mkdir, rename, unlink, dir
//! sync) gets
//! a number, counted from 0. A [`FaultPlan`] names the call at which to crash, fail
//! with EIO or ENOSPC, or misdirect or lose a write. After a crash every call fails;
//! [`SimFs::crash_image`] then builds the file system a rebooted machine would see,
//! under an [`ImageMode`]: all unsynced state lost, all kept, or a seeded random mix.
//!
//! # Invariants the simulation checks online (RELIABILITY G3)
//!
//! For the page file (`data.aedb`) in every test, see [`oracle`]:
//! (a) a meta page is written only when no write to the file is unsynced, so every
//! page it references is durable first; (b) likewise no unsynced growth; (c) no page
//! reachable from either durable meta is overwritten; (e) no truncation cuts what a
//! durable meta needs. A violation panics the test
//! with the seed.
//!
//! # Simplifications (deliberate)
//!
//! The LOCK file lives only in the lock table (its bytes carry nothing, and locks are
//! by path, so a deleted-and-recreated LOCK is not modelled). Directories are never
//! removed. Reads never fail.
#![forbid(unsafe_code)]

mod image;
pub mod oracle;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use image::ImageMode;
pub use oracle::ReachFn;

use crate::vfs::{LockGuard, LockMode, OpenMode, Vfs, VfsFile};

/// Torn writes keep or drop whole sectors of this size.
pub const SECTOR: u64 = 512;

/// Which calls fail, and how. Call numbers count persistence calls from 0.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// The process dies at this call: a write or set_len at this call is left
    /// unsynced, a sync does not happen, and every later call fails.
    pub crash_at: Option<u64>,
    /// This call fails with EIO (`eio_forever`: this and every later call). A failed
    /// sync loses its unsynced bytes at the next crash although reads still see them.
    pub eio_at: Option<u64>,
    /// With `eio_at`, every call after it fails with EIO too (a dead disk);
    /// ignored without `eio_at`.
    pub eio_forever: bool,
    /// This write or set_len fails with ENOSPC (`enospc_forever`: every later one too).
    pub enospc_at: Option<u64>,
    /// With `enospc_at`, every later write or set_len fails with ENOSPC too;
    /// ignored without `enospc_at`.
    pub enospc_forever: bool,
    /// The write at this call lands this many bytes away from where it was aimed.
    pub misdirect: Option<(u64, i64)>,
    /// The write at this call reports success but never reaches the file.
    pub lost_write_at: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Inode {
    /// What reads return.
    pub(crate) current: Vec<u8>,
    /// What survives a crash for sure.
    pub(crate) durable: Vec<u8>,
    /// Unsynced changes, oldest first; each may survive a crash or not.
    pub(crate) pending: Vec<Pending>,
}

impl Inode {
    fn apply(content: &mut Vec<u8>, op: &Pending) {
        match op {
            Pending::Write { offset, data } => {
                let end = *offset as usize + data.len();
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[*offset as usize..end].copy_from_slice(data);
            }
            Pending::SetLen(len) => content.resize(*len as usize, 0),
        }
    }

    fn push(&mut self, op: Pending) {
        Inode::apply(&mut self.current, &op);
        self.pending.push(op);
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// The namespace as the running process sees it.
    pub(crate) entries: BTreeMap<PathBuf, u64>,
    /// The namespace as of the last directory sync of each directory.
    pub(crate) durable_entries: BTreeMap<PathBuf, u64>,
    /// Directories as the running process sees them.
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Directories whose entry in their parent was synced (roots always are).
    pub(crate) durable_dirs: BTreeSet<PathBuf>,
    locks: HashMap<PathBuf, (bool, usize)>,
    calls: u64,
    plan: FaultPlan,
    crashed: bool,
    /// Injected misdirected/lost writes: (file, aimed offset, landed offset, lost).
    silent_faults: Vec<(PathBuf, u64, u64, bool)>,
    /// Call numbers of the `write_at` calls made so far.
    write_calls: Vec<u64>,
    pub(crate) oracle: oracle::Oracle,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// A sync to hold back (see [`SimFs::stall_next_sync`]).
    stall: Mutex<Option<Arc<SyncStall>>>,
}

/// A sync the simulation holds back until released: the next `sync_data` of a
/// file with a given name blocks (holding no lock of the simulation, so every
/// other call goes on) until [`SyncStall::release`], then happens as usual. For
/// tests that show work continuing while a sync is slow.
#[derive(Debug)]
pub struct SyncStall {
    file_name: std::ffi::OsString,
    state: Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

impl SyncStall {
    /// Waits until the stalled sync has begun (true), or `timeout` passed.
    pub fn wait_stalled(&self, timeout: std::time::Duration) -> bool {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (st, _) = self
            .changed
            .wait_timeout_while(st, timeout, |(stalled, _)| !*stalled)
            .unwrap_or_else(|p| p.into_inner());
        st.0
    }

    /// Lets the stalled sync (or the next one, if it has not begun) proceed.
    pub fn release(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.changed.notify_all();
    }

    fn hold(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0 = true;
        self.changed.notify_all();
        while !st.1 {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The simulated file system. Cheap to clone; clones share one state.
#[derive(Debug, Clone)]
pub struct SimFs {
    pub(crate) shared: Arc<Shared>,
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: the process is dead")
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error())
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error())
}

/// Kinds of persistence calls, for fault decisions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Write,
    SetLen,
    Sync,
    Namespace,
}

/// What the fault plan decided for one call.
enum Verdict {
    Proceed,
    /// Do the (volatile) effect, then die.
    CrashAfter,
    /// Die without the effect.
    CrashBefore,
    Fail(io::Error),
}

impl SimFs {
    /// An empty file system whose random choices derive from `seed`.
    pub fn new(seed: u64) -> SimFs {
        let state = State {
            seed,
            next_ino: 1,
            ..State::default()
        };
        SimFs {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                stall: Mutex::new(None),
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (an oracle violation) already failed the
        // test; later users just see the state as it was.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds back the next `sync_data` of a file named `file_name` (in any
    /// directory) until the returned stall is released.
    pub fn stall_next_sync(&self, file_name: &str) -> Arc<SyncStall> {
        let stall = Arc::new(SyncStall {
            file_name: file_name.into(),
            state: Mutex::new((false, false)),
            changed: std::sync::Condvar::new(),
        });
        *self.shared.stall.lock().unwrap_or_else(|p| p.into_inner()) = Some(stall.clone());
        stall
    }

    /// Takes the stall aimed at `path`'s file name, if one is set.
    fn take_stall(&self, path: &Path) -> Option<Arc<SyncStall>> {
        let mut slot = self.shared.stall.lock().unwrap_or_else(|p| p.into_inner());
        let aimed = slot
            .as_ref()
            .is_some_and(|s| path.file_name() == Some(s.file_name.as_os_str()));
        if aimed { slot.take() } else { None }
    }

    /// The seed this file system was made with.
    pub fn seed(&self) -> u64 {
        self.state().seed
    }

    /// Replaces the fault plan; call numbers keep counting from where they are.
    pub fn set_plan(&self, plan: FaultPlan) {
        self.state().plan = plan;
    }

    /// Number of persistence calls made so far.
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Whether a planned crash has happened.
    pub fn crashed(&self) -> bool {
        self.state().crashed
    }

    /// Registers how to find the pages each durable meta reaches (beyond the pager's
    /// own root and free-list pages), for the G3(c) check.
    pub fn set_reachability(&self, reach: Arc<ReachFn>) {
        self.state().oracle.reach = Some(reach);
    }

    /// Misdirected or lost writes injected so far: (file, offset aimed at, offset
    /// landed at, lost entirely).
    pub fn silent_faults(&self) -> Vec<(PathBuf, u64, u64, bool)> {
        self.state().silent_faults.clone()
    }

    /// Call numbers of every `write_at` so far (to aim write faults).
    pub fn write_calls(&self) -> Vec<u64> {
        self.state().write_calls.clone()
    }

    /// G3 violations seen so far (each also panicked the call that caused it).
    pub fn violations(&self) -> Vec<String> {
        self.state().oracle.violations.clone()
    }

    /// The current (process-visible) bytes of a file.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state();
        let ino = st.entries.get(path)?;
        st.inodes.get(ino).map(|i| i.current.clone())
    }

    /// Flips one bit of a file at rest (both the visible and the durable copy).
    pub fn flip_bit(&self, path: &Path, byte: u64, bit: u8) {
        self.corrupt_with(path, |content| {
            if let Some(b) = content.get_mut(byte as usize) {
                *b ^= 1 << (bit & 7);
            }
        });
    }

    /// Overwrites bytes of a file at rest (both copies); out-of-range bytes are ignored.
    pub fn overwrite(&self, path: &Path, offset: u64, bytes: &[u8]) {
        self.corrupt_with(path, |content| {
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = content.get_mut(offset as usize + i) {
                    *slot = *b;
                }
            }
        });
    }

    fn corrupt_with(&self, path: &Path, f: impl Fn(&mut Vec<u8>)) {
        let mut st = self.state();
        let st = &mut *st;
        if let Some(ino) = st.entries.get(path).copied() {
            if let Some(inode) = st.inodes.get_mut(&ino) {
                f(&mut inode.current);
                f(&mut inode.durable);
                // Damage at rest changes what the durable metas reach (a damaged
                // meta reaches nothing).
                let durable = inode.durable.clone();
                st.oracle.after_sync(path, &durable);
            }
        }
    }

    /// Counts the call and decides its fate under the plan.
    fn decide(st: &mut State, call: Call) -> Verdict {
        if st.crashed {
            return Verdict::Fail(crashed_error());
        }
        let idx = st.calls;
        st.calls += 1;
        let plan = &st.plan;
        if plan.crash_at == Some(idx) {
            st.crashed = true;
            return if call == Call::Sync {
                Verdict::CrashBefore
            } else {
                Verdict::CrashAfter
            };
        }
        let hits =
            |at: Option<u64>, forever: bool| at.is_some_and(|k| idx == k || (forever && idx > k));
        if hits(plan.eio_at, plan.eio_forever) {
            return Verdict::Fail(eio());
        }
        if matches!(call, Call::Write | Call::SetLen) && hits(plan.enospc_at, plan.enospc_forever) {
            return Verdict::Fail(enospc());
        }
        Verdict::Proceed
    }

    fn file(&self, st: &State, path: &Path) -> io::Result<u64> {
        st.entries.get(path).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} not found", path.display()),
            )
        })
    }
}

/// A file open on a [`SimFs`].
#[derive(Debug)]
struct SimFile {
    fs: SimFs,
    ino: u64,
    path: PathBuf,
    writable: bool,
}

#[derive(Debug)]
struct SimLock {
    fs: SimFs,
    path: PathBuf,
    exclusive: bool,
}

impl LockGuard for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut st = self.fs.state();
        if let Some((excl, shared)) = st.locks.get_mut(&self.path) {
            if self.exclusive {
                *excl = false;
            } else {
                *shared = shared.saturating_sub(1);
            }
        }
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A directory with no parent entry to lose ("/", or "" for relative paths).
pub(crate) fn is_root(dir: &Path) -> bool {
    dir.parent().is_none() || dir.as_os_str().is_empty()
}

impl Vfs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed_error());
        }
        let missing: Vec<PathBuf> = dir
            .ancestors()
            .filter(|a| !st.dirs.contains(*a))
            .map(Path::to_path_buf)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // Creating a directory is a namespace change like a file create: a crash
        // point of its own, and volatile until its parent is synced.
        let verdict = SimFs::decide(&mut st, Call::Namespace);
        match verdict {
            Verdict::Fail(e) => return Err(e),
            Verdict::CrashBefore => return Err(crashed_error()),
            Verdict::Proceed | Verdict::CrashAfter => {}
        }
        for created in missing {
            if is_root(&created) {
                st.durable_dirs.insert(created.clone());
            }
            st.dirs.insert(created);
        }
        if let Verdict::CrashAfter = verdict {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = self.state();
        Ok(st.entries.contains_key(path) || st.dirs.contains(path))
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let mut st = self.state();
        if !st.dirs.contains(&parent_of(path)) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no directory for {}", path.display()),
            ));
        }
        let ino = match mode {
            OpenMode::ReadOnly | OpenMode::ReadWrite => {
                if st.crashed {
                    return Err(crashed_error());
                }
                self.file(&st, path)?
            }
            OpenMode::CreateTruncate => {
                let verdict = SimFs::decide(&mut st, Call::Namespace);
                match verdict {
                    Verdict::Fail(e) => return Err(e),
                    Verdict::CrashBefore => return Err(crashed_error()),
                    Verdict::Proceed | Verdict::CrashAfter => {}
                }
                let ino = match st.entries.get(path).copied() {
                    Some(ino) => {
                        if let Some(inode) = st.inodes.get_mut(&ino) {
                            inode.push(Pending::SetLen(0));
                        }
                        ino
                    }
                    None => {
                        let ino = st.next_ino;
                        st.next_ino += 1;
                        st.inodes.insert(ino, Inode::default());
                        st.entries.insert(path.to_path_buf(), ino);
                        ino
                    }
                };
                if st.crashed {
                    return Err(crashed_error());
                }
                ino
            }
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            ino,
            path: path.to_path_buf(),
            writable: mode != OpenMode::ReadOnly,
        }))
    }

    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>> {
        let mut st = self.state();
        if st.crashed {
            return Err(crashed_error());
        }
        let entry = st.locks.entry(path.to_path_buf()).or_insert((false, 0));
        let exclusive = mode == LockMode::Exclusive;
        let free = if exclusive {
            !entry.0 && entry.1 == 0
        } else {
            !entry.0
        };
        if !free {
            return Ok(None);
        }
        if exclusive {
            entry.0 = true;
        } else {
            entry.1 += 1;
        }
        Ok(Some(Box::new(SimLock {
            fs: self.clone(),
            path: path.to_path_buf(),
            exclusive,
        })))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.state();
        match SimFs::decide(&mut st, Call::Sync) {
            Verdict::Proceed => {}
            Verdict::Fail(e) => return Err(e),
            Verdict::CrashBefore | Verdict::CrashAfter => return Err(crashed_error()),
        }
        // `vfs::parent_dir` names a bare relative name's directory ".".
        let dir = if dir == Path::new(".") {
            Path::new("")
        } else {
            dir
        };
        let in_dir = |p: &PathBuf| parent_of(p) == dir;
        let current: Vec<(PathBuf, u64)> = st
            .entries
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        st.durable_entries.retain(|p, _| !in_dir(p));
        st.durable_entries.extend(current);
        let subdirs: Vec<PathBuf> = st
            .dirs
            .iter()
            .filter(|d| in_dir(d) && !is_root(d))
            .cloned()
            .collect();
        st.durable_dirs.extend(subdirs);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.state();
        let verdict = SimFs::decide(&mut st, Call::Namespace);
        if let Verdict::Fail(e) = verdict {
            return Err(e);
        }
        if let Verdict::CrashBefore = verdict {
            return Err(crashed_error());
        }
        let ino = self.file(&st, from)?;
        st.entries.remove(from);
        st.entries.insert(to.to_path_buf(), ino);
        if let Verdict::CrashAfter = verdict {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state();
        let verdict = SimFs::decide(&mut st, Call::Namespace);
        if let Verdict::Fail(e) = verdict {
            return Err(e);
        }
        if let Verdict::CrashBefore = verdict {
            return Err(crashed_error());
        }
        self.file(&st, path)?;
        st.entries.remove(path);
        if let Verdict::CrashAfter = verdict {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let st = self.state();
        let mut out: Vec<PathBuf> = st
            .entries
            .keys()
            .filter(|p| parent_of(p) == dir)
            .cloned()
            .collect();
        out.extend(
            st.dirs
                .iter()
                .filter(|p| p.as_path() != dir && parent_of(p) == dir)
                .cloned(),
        );
        out.sort();
        Ok(out)
    }
}

impl SimFile {
    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "file opened read-only",
            ))
        }
    }
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let st = self.fs.state();
        if st.crashed {
            return Err(crashed_error());
        }
        let inode = st.inodes.get(&self.ino).ok_or_else(crashed_error)?;
        let start = offset as usize;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= inode.current.len());
        match end {
            Some(end) => {
                buf.copy_from_slice(&inode.current[start..end]);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end of file",
            )),
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.check_writable()?;
        let mut violation = None;
        {
            let mut st = self.fs.state();
            let idx = st.calls;
            let verdict = SimFs::decide(&mut st, Call::Write);
            match verdict {
                Verdict::Fail(e) => return Err(e),
                Verdict::CrashBefore => return Err(crashed_error()),
                Verdict::Proceed | Verdict::CrashAfter => {}
            }
            let st = &mut *st;
            st.write_calls.push(idx);
            if let Some(inode) = st.inodes.get(&self.ino) {
                violation = st
                    .oracle
                    .before_write(&self.path, inode, offset, buf, st.seed);
            }
            let mut target = offset;
            if let Some((at, delta)) = st.plan.misdirect {
                if at == idx {
                    target = offset.saturating_add_signed(delta);
                }
            }
            let lost = st.plan.lost_write_at == Some(idx);
            if lost || target != offset {
                st.silent_faults
                    .push((self.path.clone(), offset, target, lost));
                // The durable image no longer shows what the pager wrote, so the
                // reachability it implies is no longer the pager's (oracle doc).
                st.oracle.image_damaged = true;
            }
            if !lost {
                if let Some(inode) = st.inodes.get_mut(&self.ino) {
                    inode.push(Pending::Write {
                        offset: target,
                        data: buf.to_vec(),
                    });
                }
            }
            if let Verdict::CrashAfter = verdict {
                return Err(crashed_error());
            }
        }
        if let Some(v) = violation {
            panic!("{v}");
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        if let Some(stall) = self.fs.take_stall(&self.path) {
            stall.hold();
        }
        let mut st = self.fs.state();
        let verdict = SimFs::decide(&mut st, Call::Sync);
        let st = &mut *st;
        let inode = st.inodes.get_mut(&self.ino).ok_or_else(crashed_error)?;
        match verdict {
            Verdict::Proceed => {
                for op in std::mem::take(&mut inode.pending) {
                    Inode::apply(&mut inode.durable, &op);
                }
                let durable = inode.durable.clone();
                st.oracle.after_sync(&self.path, &durable);
                Ok(())
            }
            Verdict::Fail(e) => {
                // Linux "clean but lost": the pages stay visible but are no longer
                // dirty, so nothing will ever write them; a crash loses them.
                inode.pending.clear();
                Err(e)
            }
            Verdict::CrashBefore | Verdict::CrashAfter => Err(crashed_error()),
        }
    }

    fn len(&self) -> io::Result<u64> {
        let st = self.fs.state();
        if st.crashed {
            return Err(crashed_error());
        }
        Ok(st
            .inodes
            .get(&self.ino)
            .map_or(0, |i| i.current.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let (verdict, violation) = {
            let mut st = self.fs.state();
            let verdict = SimFs::decide(&mut st, Call::SetLen);
            match verdict {
                Verdict::Fail(e) => return Err(e),
                Verdict::CrashBefore => return Err(crashed_error()),
                Verdict::Proceed | Verdict::CrashAfter => {}
            }
            let st = &mut *st;
            let violation = st.oracle.before_set_len(&self.path, len, st.seed);
            if let Some(inode) = st.inodes.get_mut(&self.ino) {
                inode.push(Pending::SetLen(len));
            }
            (verdict, violation)
        };
        // Panic outside the lock, as `write_at` does.
        if let Some(v) = violation {
            panic!("{v}");
        }
        if let Verdict::CrashAfter = verdict {
            return Err(crashed_error());
        }
        Ok(())
    }
}

/// The seed for a randomized test: `AEDB_SEED` if set (to replay a failure),
/// otherwise `default`. Printed either way, so a failing run names its seed (G15).
pub fn test_seed(test: &str, default: u64) -> u64 {
    let seed = std::env::var("AEDB_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    println!("{test}: seed {seed} (replay with AEDB_SEED={seed})");
    seed
}
