//! The pager's one error type.
//!
//! Invariants:
//! 1. Every report of damaged bytes is a [`PagerError::Corruption`] built by
//!    [`PagerError::corruption`], so each one names the file, the page id, the byte
//!    offset, what was expected and what was found, and cites the FORMAT.md rule.
//! 2. Nothing read from disk is ever asserted on: it is input, and bad input is an
//!    error value, never a panic.
//! 3. A failed `fdatasync` turns the pager into a poisoned state that only a reopen
//!    clears ([`PagerError::Poisoned`]); the original failure is reported once.

use std::io;
use std::path::PathBuf;

use crate::PageId;

/// Result alias for the pager.
pub type Result<T, E = PagerError> = std::result::Result<T, E>;

/// Where damaged bytes were found and how they differ from what the format requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptionDetail {
    /// The file holding the damaged bytes.
    pub file: PathBuf,
    /// The page holding them (`None` when the damage is not inside a page, e.g. a
    /// file shorter than its meta page claims).
    pub page: Option<PageId>,
    /// Byte offset in the file where the checked field starts.
    pub offset: u64,
    /// The FORMAT.md rule that was broken, e.g. `"P3"`.
    pub rule: &'static str,
    /// What the format requires there.
    pub expected: String,
    /// What is actually there.
    pub found: String,
}

impl std::fmt::Display for CorruptionDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(page) = self.page {
            write!(f, " page {}", page.0)?;
        }
        write!(
            f,
            " at offset {}: rule {}: expected {}, found {}",
            self.offset, self.rule, self.expected, self.found
        )
    }
}

/// Everything the pager can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PagerError {
    /// Bytes on disk break a FORMAT.md rule.
    #[error("corruption in {0}")]
    Corruption(Box<CorruptionDetail>),

    /// Another handle (this process or another one) holds the directory's LOCK file.
    #[error("database directory {dir} is already open (LOCK is held by another handle)")]
    AlreadyOpen {
        /// The database directory whose LOCK (or `data.aedb`) another handle holds.
        dir: PathBuf,
    },

    /// The directory has no page file and the caller asked not to create one.
    #[error("no database at {dir} (missing {file})")]
    NotFound {
        /// The database directory that was opened.
        dir: PathBuf,
        /// The missing page file, `<dir>/data.aedb`.
        file: PathBuf,
    },

    /// The caller asked for a page size the file was not created with.
    #[error(
        "page size mismatch for {file}: opened with {requested}, file was created with {found}"
    )]
    PageSizeMismatch {
        /// The page file.
        file: PathBuf,
        /// The page size the caller asked for, in bytes.
        requested: u32,
        /// The page size in the file's current meta, in bytes; open without a
        /// page size to accept it.
        found: u32,
    },

    /// A page size that is not a power of two between 4 KiB and 64 KiB.
    #[error("invalid page size {0}: must be a power of two between 4096 and 65536")]
    InvalidPageSize(u32),

    /// The database was created with a key and none was given.
    #[error("{file} is keyed (HMAC-SHA256 authenticated); open it with its key")]
    KeyRequired {
        /// The page file whose meta carries the keyed flag.
        file: PathBuf,
    },

    /// A key was given for a database that was created without one.
    #[error("{file} was created without a key, but a key was given")]
    NotKeyed {
        /// The unkeyed page file; open it without a key.
        file: PathBuf,
    },

    /// A key the caller gave cannot be used (too short, or bad hex text).
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// Both meta pages pass their checksums but neither authenticates with the key.
    #[error("wrong key for {file}: meta page HMAC does not match")]
    WrongKey {
        /// The keyed page file whose meta pages the given key does not authenticate.
        file: PathBuf,
    },

    /// The file system has no room for a write or a file extension.
    #[error("out of space while {op} {file}: {source}")]
    OutOfSpace {
        /// What the pager was doing, worded for the message (e.g. `"extending"`,
        /// `"writing page to"`).
        op: &'static str,
        /// The file or directory the failed call touched.
        file: PathBuf,
        /// The OS error (`ENOSPC` or `StorageFull`).
        source: io::Error,
    },

    /// Any other I/O failure.
    #[error("I/O error while {op} {file}: {source}")]
    Io {
        /// What the pager was doing, worded for the message (e.g. `"syncing"`,
        /// `"mapping"`).
        op: &'static str,
        /// The file or directory the failed call touched.
        file: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// An earlier `fdatasync` failed; the kernel may have dropped dirty pages, so
    /// nothing more is written until the database is reopened.
    #[error("pager is poisoned by an earlier failed sync of {file}; reopen the database")]
    Poisoned {
        /// The page file; nothing more is written to it until the database is reopened.
        file: PathBuf,
    },

    /// The pager was opened read-only.
    #[error("{file} is open read-only")]
    ReadOnly {
        /// The page file; the write was refused and nothing changed.
        file: PathBuf,
    },

    /// A caller broke the pager's contract (a bug in the layer above, reported as an
    /// error rather than a panic so a release build refuses the operation).
    #[error("pager misuse: {0}")]
    Misuse(String),
}

impl PagerError {
    /// The one constructor for corruption reports (STYLE §8).
    pub fn corruption(
        file: impl Into<PathBuf>,
        page: Option<PageId>,
        offset: u64,
        rule: &'static str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        PagerError::Corruption(Box::new(CorruptionDetail {
            file: file.into(),
            page,
            offset,
            rule,
            expected: expected.into(),
            found: found.into(),
        }))
    }

    /// Wraps an I/O error, classifying out-of-space separately.
    pub fn io(op: &'static str, file: impl Into<PathBuf>, source: io::Error) -> Self {
        let file = file.into();
        let out_of_space = source.kind() == io::ErrorKind::StorageFull
            || source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error());
        if out_of_space {
            PagerError::OutOfSpace { op, file, source }
        } else {
            PagerError::Io { op, file, source }
        }
    }

    /// The corruption detail, if this is a corruption error.
    pub fn as_corruption(&self) -> Option<&CorruptionDetail> {
        match self {
            PagerError::Corruption(d) => Some(d),
            _ => None,
        }
    }
}
