//! Read-only inspection of a page file, for the `aedb` CLI and checks.
//!
//! Safety with a live database: inspection takes the directory's lock in *shared*
//! mode through `vfs::lock_dir` (creating a missing LOCK, refusing on any error),
//! which an open read-write database (exclusive) excludes, so it refuses with
//! `AlreadyOpen` instead of reading a file that is being written. Several
//! inspections may run at once. It writes nothing but a missing LOCK.
//!
//! Memory: [`open_inspector`] reads the two metas only; [`Inspector::pages`] reads
//! one page at a time (review F20).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{PagerError, Result};
use crate::format::page::{self, PageHeader};
use crate::metas::{MetaChoice, read_metas};
use crate::vfs::{DirLock, LockMode, OpenMode, Vfs, VfsFile, lock_dir};
use crate::{DATA_FILE_NAME, Key, PageId};

/// One page as found on disk.
#[derive(Debug, Clone)]
pub struct PageSummary {
    /// Page id (2 and up; the metas are in `Inspector::metas`).
    pub id: PageId,
    /// The header as stored (meaningless if the checksum failed).
    pub header: PageHeader,
    /// The crc32c stored at offset 0, whether or not it matches.
    pub stored_crc: u32,
    /// `None` when the page verifies; otherwise the broken rule and details.
    pub fault: Option<page::PageFault>,
    /// The page is all zeros (allocated but never written, e.g. file growth).
    pub zeroed: bool,
    /// The page's bytes, for decoders of the layers above.
    pub bytes: Vec<u8>,
}

/// An open, locked page file whose metas have been read. Pages are read one at a
/// time by [`Inspector::pages`], so memory stays one page whatever the file size
/// (review F20); `aedb wal verify` needs only the metas and reads no page at all.
#[derive(Debug)]
pub struct Inspector {
    /// Length of the page file in bytes at open; `pages` reads every whole
    /// page below it.
    pub file_len: u64,
    /// Both meta slots as read and judged, with the current one if any.
    pub metas: MetaChoice,
    /// Page size in bytes: the current meta's, else any valid slot's, else
    /// `DEFAULT_PAGE_SIZE` when no slot is valid.
    pub page_size: u32,
    path: PathBuf,
    file: Arc<dyn VfsFile>,
    /// Generation bound for rule P5: the current meta's, if any.
    max_generation: u64,
    _lock: DirLock,
}

/// Everything the dump tool prints, collected (tests and small files; the tool
/// itself streams through [`Inspector`]).
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Length of the page file in bytes.
    pub file_len: u64,
    /// Both meta slots as read and judged, with the current one if any.
    pub metas: MetaChoice,
    /// Page size in bytes, chosen as for `Inspector::page_size`.
    pub page_size: u32,
    /// Every whole page after the two metas, in id order.
    pub pages: Vec<PageSummary>,
}

/// Locks `dir` in shared mode, opens `<dir>/data.aedb` read-only and reads both
/// metas; no page beyond them is read.
pub fn open_inspector(vfs: &dyn Vfs, dir: &Path, key: Option<&Key>) -> Result<Inspector> {
    let path = dir.join(DATA_FILE_NAME);
    if !vfs
        .exists(&path)
        .map_err(|e| PagerError::io("checking", &path, e))?
    {
        return Err(PagerError::NotFound {
            dir: dir.to_path_buf(),
            file: path,
        });
    }
    let lock = lock_dir(vfs, dir, LockMode::Shared)?;
    let file = vfs
        .open(&path, OpenMode::ReadOnly)
        .map_err(|e| PagerError::io("opening", &path, e))?;
    let metas = read_metas(&*file, &path, key)?;
    let file_len = file
        .len()
        .map_err(|e| PagerError::io("measuring", &path, e))?;
    let current = metas
        .current
        .and_then(|s| metas.slots.get(s as usize))
        .and_then(|s| s.result.as_ref().ok());
    let any_valid = metas.slots.iter().find_map(|s| s.result.as_ref().ok());
    let page_size = current
        .or(any_valid)
        .map_or(crate::format::DEFAULT_PAGE_SIZE, |m| m.page_size);
    let max_generation = current.map_or(u64::MAX, |m| m.generation);
    Ok(Inspector {
        file_len,
        metas,
        page_size,
        path,
        file,
        max_generation,
        _lock: lock,
    })
}

impl Inspector {
    /// Every whole page after the metas, read and checked one at a time.
    pub fn pages(&self) -> impl Iterator<Item = Result<PageSummary>> + '_ {
        let ps = u64::from(self.page_size);
        let count = self.file_len / ps;
        (2..count).map(move |id| {
            let mut buf = vec![0u8; self.page_size as usize];
            self.file
                .read_at(&mut buf, id * ps)
                .map_err(|e| PagerError::io("reading", &self.path, e))?;
            let (stored_crc, header) = page::header_unchecked(&buf);
            let zeroed = buf.iter().all(|&b| b == 0);
            let fault = page::verify(PageId(id), &buf, self.max_generation).err();
            Ok(PageSummary {
                id: PageId(id),
                header,
                stored_crc,
                fault,
                zeroed,
                bytes: buf,
            })
        })
    }
}

/// Inspects `<dir>/data.aedb` without writing (see the module doc for locking),
/// keeping every page in memory: for tests and small files only.
pub fn inspect(vfs: &dyn Vfs, dir: &Path, key: Option<&Key>) -> Result<Inspection> {
    let ins = open_inspector(vfs, dir, key)?;
    let pages = ins.pages().collect::<Result<Vec<_>>>()?;
    Ok(Inspection {
        file_len: ins.file_len,
        metas: ins.metas.clone(),
        page_size: ins.page_size,
        pages,
    })
}
