//! The real file system: positional I/O and `fdatasync` through `rustix`, `flock`
//! for the directory lock.
//!
//! `flock` (not POSIX `fcntl` locks) is deliberate: `fcntl` locks belong to the
//! process, so a second handle in the same process would silently share them. An
//! `flock` belongs to the open file description, so a second open of LOCK in the same
//! process conflicts exactly like one from another process (RELIABILITY G10).

//!
//! Files are created [`DEFAULT_FILE_MODE`] and directories [`DEFAULT_DIR_MODE`]
//! (owner only) by [`RealFs`]; [`RealFsModes`] takes other modes.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FlockOperation;

use super::{DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, LockGuard, LockMode, OpenMode, Vfs, VfsFile};

/// The operating system's file system, creating files 0600 and directories 0700.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

/// The operating system's file system with chosen creation modes (the umask still
/// applies), e.g. `0o640`/`0o750` to let a group of operators read a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealFsModes {
    /// Permission bits for created files (default `DEFAULT_FILE_MODE`, 0o600).
    pub file_mode: u32,
    /// Permission bits for created directories (default `DEFAULT_DIR_MODE`, 0o700).
    pub dir_mode: u32,
}

impl Default for RealFsModes {
    fn default() -> Self {
        RealFsModes {
            file_mode: DEFAULT_FILE_MODE,
            dir_mode: DEFAULT_DIR_MODE,
        }
    }
}

#[derive(Debug)]
struct RealFile {
    file: File,
}

#[derive(Debug)]
struct FlockGuard {
    // Closing the descriptor releases the flock.
    _file: File,
}

impl LockGuard for FlockGuard {}

#[allow(
    clippy::unnecessary_cast,
    reason = "st_dev/st_ino are u64 on some targets only"
)]
fn identity(stat: &rustix::fs::Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// The file at `path` must still be the inode we hold (device, inode).
fn check_identity(path: &Path, held: (u64, u64)) -> io::Result<()> {
    let replaced = || {
        io::Error::other(format!(
            "{} was deleted or replaced after it was locked; another process may hold a \
             lock on a different LOCK file, so the lock protects nothing (refusing)",
            path.display()
        ))
    };
    match rustix::fs::stat(path) {
        Ok(now) if identity(&now) == held => Ok(()),
        Ok(_) => Err(replaced()),
        Err(rustix::io::Errno::NOENT) => Err(replaced()),
        Err(e) => Err(e.into()),
    }
}

/// Locks `file` (opened from `path`) without blocking, then checks that `path` still
/// names it: a LOCK deleted and recreated between our open and our flock would
/// otherwise let a second process lock the new file while we lock the old one.
fn flock_checked(file: File, path: &Path, op: FlockOperation) -> io::Result<Option<FlockGuard>> {
    match rustix::fs::flock(&file, op) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let held = identity(&rustix::fs::fstat(&file)?);
    check_identity(path, held)?;
    Ok(Some(FlockGuard { _file: file }))
}

impl RealFsModes {
    fn create_options(&self) -> OpenOptions {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .create(true)
            .mode(self.file_mode);
        options
    }
}

impl Vfs for RealFsModes {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(self.dir_mode)
            .create(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let file = match mode {
            OpenMode::ReadOnly => OpenOptions::new().read(true).open(path)?,
            OpenMode::ReadWrite => OpenOptions::new().read(true).write(true).open(path)?,
            OpenMode::CreateTruncate => self.create_options().truncate(true).open(path)?,
        };
        Ok(Arc::new(RealFile { file }))
    }

    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>> {
        let (file, op) = match mode {
            LockMode::Exclusive => (
                self.create_options().truncate(false).open(path)?,
                FlockOperation::NonBlockingLockExclusive,
            ),
            // A shared holder needs only read access to an existing LOCK (an operator
            // may inspect a database they cannot write); a missing one is created.
            LockMode::Shared => {
                let file = match OpenOptions::new().read(true).open(path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        self.create_options().truncate(false).open(path)?
                    }
                    other => other?,
                };
                (file, FlockOperation::NonBlockingLockShared)
            }
        };
        Ok(flock_checked(file, path, op)?.map(|g| Box::new(g) as Box<dyn LockGuard>))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let d = File::open(dir)?;
        rustix::fs::fsync(&d)?;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }
}

/// The defaults, without a value to carry: `RealFs` is used as a unit value
/// throughout (`Arc::new(RealFs)`).
impl Vfs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFsModes::default().create_dir_all(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        RealFsModes::default().exists(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        RealFsModes::default().open(path, mode)
    }

    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>> {
        RealFsModes::default().lock(path, mode)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        RealFsModes::default().sync_dir(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFsModes::default().rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFsModes::default().remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        RealFsModes::default().list_dir(dir)
    }
}

impl VfsFile for RealFile {
    fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match rustix::io::pread(&self.file, &mut *buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "read past end of file",
                    ));
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn write_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match rustix::io::pwrite(&self.file, buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "pwrite wrote nothing",
                    ));
                }
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        rustix::fs::fdatasync(&self.file)?;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(rustix::fs::fstat(&self.file)?.st_size as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        rustix::fs::ftruncate(&self.file, len)?;
        Ok(())
    }

    fn mappable(&self) -> Option<&File> {
        Some(&self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F7: LOCK replaced between our open and our flock (the window in which a second
    /// process can lock the new file): the lock is refused, not silently held on an
    /// orphaned inode.
    #[test]
    fn f7_replaced_lock_file_is_detected_after_flock() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = tmp.path().join("LOCK");
        let file = RealFsModes::default()
            .create_options()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let got = flock_checked(file, &path, FlockOperation::NonBlockingLockExclusive);
        let err = got
            .err()
            .unwrap_or_else(|| panic!("a lock on a deleted LOCK was accepted"));
        assert!(err.to_string().contains("deleted or replaced"), "{err}");

        let file = RealFsModes::default()
            .create_options()
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("{e}"));
        let got = flock_checked(file, &path, FlockOperation::NonBlockingLockExclusive);
        assert!(got.is_err(), "a lock on a replaced LOCK was accepted");
    }
}
