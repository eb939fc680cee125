//! The real file system: positional I/O and `fdatasync` through `rustix`, `flock`
//! for the directory lock.
//!
//! `flock` (not POSIX `fcntl` locks) is deliberate: `fcntl` locks belong to the
//! process, so a second handle in the same process would silently share them. An
//! `flock` belongs to the open file description, so a second open of LOCK in the same
//! process conflicts exactly like one from another process (RELIABILITY G10).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FlockOperation;

use super::{LockGuard, LockMode, OpenMode, Vfs, VfsFile};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

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

impl Vfs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn VfsFile>> {
        let mut options = OpenOptions::new();
        match mode {
            OpenMode::ReadOnly => options.read(true),
            OpenMode::ReadWrite => options.read(true).write(true),
            OpenMode::CreateTruncate => options.read(true).write(true).create(true).truncate(true),
        };
        Ok(Arc::new(RealFile { file: options.open(path)? }))
    }

    fn lock(&self, path: &Path, mode: LockMode) -> io::Result<Option<Box<dyn LockGuard>>> {
        let (file, op) = match mode {
            LockMode::Exclusive => (
                OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?,
                FlockOperation::NonBlockingLockExclusive,
            ),
            LockMode::Shared => (OpenOptions::new().read(true).open(path)?, FlockOperation::NonBlockingLockShared),
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(Box::new(FlockGuard { _file: file }))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
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
        let mut entries = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }
}

impl VfsFile for RealFile {
    fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match rustix::io::pread(&self.file, &mut *buf, offset) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of file")),
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
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwrite wrote nothing")),
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
