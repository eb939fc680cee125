//! The I/O seam: every byte the database reads or writes goes through [`Vfs`] and
//! [`VfsFile`]. Production uses [`RealFs`]; tests use [`crate::sim::SimFs`], which can
//! lose, keep or tear unsynced writes and fail calls on purpose.
//!
//! Invariants every implementation keeps:
//! 1. `write_at`/`set_len` are volatile until `sync_data` on that file returns Ok; a
//!    new directory entry (file create, mkdir, rename, unlink) is volatile until
//!    `sync_dir` of the directory holding it.
//! 2. `sync_data` that returns an error may have dropped the unsynced bytes even
//!    though reads still return them (Linux); callers must not retry it.
//! 3. `lock` never blocks: a held lock is reported as `Ok(None)` at once.
//! 4. Files and directories are created owner-only ([`DEFAULT_FILE_MODE`],
//!    [`DEFAULT_DIR_MODE`]) unless the implementation was configured otherwise: the
//!    data is plaintext, and anyone who can open LOCK can hold it (review F7, F24).
//!
//! The two helpers below are the only way the layers above take the directory lock
//! and create the directory, so every opener (writer, read-only pager, inspector,
//! CLI) follows one sequence.
#![forbid(unsafe_code)]

mod real;

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use real::{RealFs, RealFsModes};

use crate::error::{PagerError, Result};
use crate::{DATA_FILE_NAME, LOCK_FILE_NAME};

/// Permission bits for every file the database creates: the data file, WAL
/// segments, set-aside `.dropped` copies and LOCK (before the umask).
pub const DEFAULT_FILE_MODE: u32 = 0o600;
/// Permission bits for a database directory an open creates (before the umask).
pub const DEFAULT_DIR_MODE: u32 = 0o700;

/// The locks one opener holds on a database directory; dropping it releases them.
#[derive(Debug)]
pub struct DirLock {
    mode: LockMode,
    guards: Vec<Box<dyn LockGuard>>,
}

fn take_lock(
    vfs: &dyn Vfs,
    dir: &Path,
    path: PathBuf,
    mode: LockMode,
) -> Result<Box<dyn LockGuard>> {
    match vfs.lock(&path, mode) {
        Ok(Some(guard)) => Ok(guard),
        Ok(None) => Err(PagerError::AlreadyOpen {
            dir: dir.to_path_buf(),
        }),
        Err(e) => Err(PagerError::io("locking", path, e)),
    }
}

/// Takes `<dir>/LOCK` in `mode`, creating LOCK if it is missing (a restored backup
/// may lack it; going on unlocked would let a writer start beside a mapped reader,
/// review F6), and then `data.aedb` itself in the same mode when it exists. Any
/// failure refuses: a conflicting holder is `AlreadyOpen`, every other error
/// (permissions, a replaced LOCK, a missing directory) is an I/O error.
///
/// Why the data file too: LOCK can be deleted while held, and a second opener then
/// creates and locks a new LOCK inode (review F7). The data file is never replaced
/// under a live database, so its lock still conflicts.
pub fn lock_dir(vfs: &dyn Vfs, dir: &Path, mode: LockMode) -> Result<DirLock> {
    let mut lock = DirLock {
        mode,
        guards: vec![take_lock(vfs, dir, dir.join(LOCK_FILE_NAME), mode)?],
    };
    let data = dir.join(DATA_FILE_NAME);
    if vfs
        .exists(&data)
        .map_err(|e| PagerError::io("checking", &data, e))?
    {
        lock.lock_data_file(vfs, dir)?;
    }
    Ok(lock)
}

impl DirLock {
    /// Locks `data.aedb` once a writer has created it.
    pub fn lock_data_file(&mut self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let guard = take_lock(vfs, dir, dir.join(DATA_FILE_NAME), self.mode)?;
        self.guards.push(guard);
        Ok(())
    }
}

/// Creates `dir` and its missing ancestors, and makes each new entry durable by
/// syncing its parent, up to the first ancestor that already existed (review F3: a
/// power loss must not take a new database directory, and the Durable commits in
/// it, away). Returns whether anything was created.
pub fn create_dir_durable(vfs: &dyn Vfs, dir: &Path) -> io::Result<bool> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || vfs.exists(ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    if missing.is_empty() {
        return Ok(false);
    }
    vfs.create_dir_all(dir)?;
    // Outermost first: an inner entry is worth nothing until the one above it is.
    for created in missing.iter().rev() {
        vfs.sync_dir(parent_dir(created))?;
    }
    Ok(true)
}

/// The directory holding `path`'s entry (`.` for a bare relative name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Reads only; the file must exist.
    ReadOnly,
    /// Reads and writes an existing file; never creates one.
    ReadWrite,
    /// Read-write, created empty (truncating any existing file).
    CreateTruncate,
}

/// Lock flavours for the directory's LOCK file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// One writer; excludes every other lock holder.
    Exclusive,
    /// Read-only inspectors; excludes an exclusive holder only.
    Shared,
}

/// A held lock; dropping it releases the lock.
pub trait LockGuard: Send + Sync + Debug {}

/// A file system: the directory-level half of the I/O seam.
pub trait Vfs: Send + Sync + Debug {
    /// Creates `dir` and its missing ancestors; the new entries are volatile
    /// until their parents are synced (`create_dir_durable` does both).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Whether a file or directory is at `path`; an error means it could not be
    /// determined (e.g. permissions).
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Opens `path`: `ReadOnly` and `ReadWrite` fail with `NotFound` when it is
    /// missing; `CreateTruncate` creates it, volatile until `sync_dir`.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>>;
    /// Takes `path` as a lock file without blocking; `Ok(None)` when someone else holds
    /// a conflicting lock. Creates the lock file when missing (both modes). After the
    /// lock is taken, the locked file must still be the one at `path` (same device and
    /// inode), else the lock is worthless and this returns an error (review F7).
    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>>;
    /// Makes the directory's entries (creates, renames, unlinks) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Moves `from` to `to`, replacing any file there; volatile until `sync_dir`
    /// of the directory.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Unlinks `path`; volatile until `sync_dir` of its directory.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The entries of `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// An open file: the byte-level half of the I/O seam.
#[allow(
    clippy::len_without_is_empty,
    reason = "a file length, not a collection"
)]
pub trait VfsFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, growing the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: makes earlier writes and size changes of this file durable.
    fn sync_data(&self) -> io::Result<()>;
    /// Current length in bytes, unsynced writes and `set_len` included.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or zero-extends the file to `len` bytes; volatile until
    /// `sync_data`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The OS file to memory-map, when this is a real file. Simulated files return
    /// `None` and are read with `read_at`.
    fn mappable(&self) -> Option<&std::fs::File> {
        None
    }
}
