//! The I/O seam: every byte the database reads or writes goes through [`Vfs`] and
//! [`VfsFile`]. Production uses [`RealFs`]; tests use [`crate::sim::SimFs`], which can
//! lose, keep or tear unsynced writes and fail calls on purpose.
//!
//! Invariants every implementation keeps:
//! 1. `write_at`/`set_len` are volatile until `sync_data` on that file returns Ok; a
//!    new directory entry (create, rename, unlink) is volatile until `sync_dir`.
//! 2. `sync_data` that returns an error may have dropped the unsynced bytes even
//!    though reads still return them (Linux); callers must not retry it.
//! 3. `lock` never blocks: a held lock is reported as `Ok(None)` at once.
#![forbid(unsafe_code)]

mod real;

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use real::RealFs;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    ReadOnly,
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
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>>;
    /// Takes `path` as a lock file without blocking; `Ok(None)` when someone else holds
    /// a conflicting lock. `Shared` never creates the lock file.
    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>>;
    /// Makes the directory's entries (creates, renames, unlinks) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The entries of `dir`, sorted.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// An open file: the byte-level half of the I/O seam.
#[allow(clippy::len_without_is_empty, reason = "a file length, not a collection")]
pub trait VfsFile: Send + Sync + Debug {
    /// Fills `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, growing the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// `fdatasync`: makes earlier writes and size changes of this file durable.
    fn sync_data(&self) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The OS file to memory-map, when this is a real file. Simulated files return
    /// `None` and are read with `read_at`.
    fn mappable(&self) -> Option<&std::fs::File> {
        None
    }
}
