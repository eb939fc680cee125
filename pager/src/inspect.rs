//! Read-only inspection of a page file, for `aedb pages dump` and checks.
//!
//! Safety with a live database: inspection takes the directory's LOCK in *shared*
//! mode, which an open read-write database (exclusive) excludes, so it refuses with
//! `AlreadyOpen` instead of reading a file that is being written. Several
//! inspections may run at once. It never writes anything.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::error::{PagerError, Result};
use crate::format::page::{self, PageHeader};
use crate::metas::{MetaChoice, read_metas};
use crate::vfs::{LockMode, OpenMode, Vfs};
use crate::{DATA_FILE_NAME, LOCK_FILE_NAME, PageId};

/// One page as found on disk.
#[derive(Debug, Clone)]
pub struct PageSummary {
    pub id: PageId,
    /// The header as stored (meaningless if the checksum failed).
    pub header: PageHeader,
    pub stored_crc: u32,
    /// `None` when the page verifies; otherwise the broken rule and details.
    pub fault: Option<page::PageFault>,
    /// The page is all zeros (allocated but never written, e.g. file growth).
    pub zeroed: bool,
    /// The page's bytes, for decoders of the layers above.
    pub bytes: Vec<u8>,
}

/// Everything the dump tool prints.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub file_len: u64,
    pub metas: MetaChoice,
    pub page_size: u32,
    pub pages: Vec<PageSummary>,
}

/// Inspects `<dir>/data.aedb` without writing (see the module doc for locking).
pub fn inspect(vfs: &dyn Vfs, dir: &Path, key: Option<&[u8]>) -> Result<Inspection> {
    let lock_path = dir.join(LOCK_FILE_NAME);
    let _lock = match vfs.lock(&lock_path, LockMode::Shared) {
        Ok(Some(guard)) => Some(guard),
        Ok(None) => return Err(PagerError::AlreadyOpen { dir: dir.to_path_buf() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(PagerError::io("locking", lock_path, e)),
    };
    let path = dir.join(DATA_FILE_NAME);
    if !vfs.exists(&path).map_err(|e| PagerError::io("checking", &path, e))? {
        return Err(PagerError::NotFound { dir: dir.to_path_buf(), file: path });
    }
    let file = vfs.open(&path, OpenMode::ReadOnly).map_err(|e| PagerError::io("opening", &path, e))?;
    let metas = read_metas(&*file, &path, key)?;
    let file_len = file.len().map_err(|e| PagerError::io("measuring", &path, e))?;
    let current = metas.current.and_then(|s| metas.slots[s as usize].result.as_ref().ok());
    let any_valid = metas.slots.iter().find_map(|s| s.result.as_ref().ok());
    let page_size = current.or(any_valid).map_or(crate::format::DEFAULT_PAGE_SIZE, |m| m.page_size);
    let max_generation = current.map_or(u64::MAX, |m| m.generation);
    let mut pages = Vec::new();
    let mut buf = vec![0u8; page_size as usize];
    let mut id = 2u64;
    while (id + 1) * u64::from(page_size) <= file_len {
        file.read_at(&mut buf, id * u64::from(page_size)).map_err(|e| PagerError::io("reading", &path, e))?;
        let (stored_crc, header) = page::header_unchecked(&buf);
        let zeroed = buf.iter().all(|&b| b == 0);
        let fault = page::verify(PageId(id), &buf, max_generation).err();
        pages.push(PageSummary { id: PageId(id), header, stored_crc, fault, zeroed, bytes: buf.clone() });
        id += 1;
    }
    Ok(Inspection { file_len, metas, page_size, pages })
}
