//! The steps of [`Pager::open`](crate::Pager::open), in the order it runs them:
//! lock (creating the directory and page file if asked), choose a meta, check the
//! file's size against it, then read its free list. Each step reads only what the
//! previous ones checked.
//!
//! Invariants (numbers are `pager.rs`'s):
//! 1. **Locked before read** (pager inv. 7): [`lock_and_create`] takes the lock
//!    before anything reads the file, and a created file's lock is taken before it is
//!    opened.
//! 2. **Creation is atomic** (pager inv. 5): [`create_file`] builds
//!    `data.aedb.init`, syncs it, renames it into place and syncs the directory.
//! 3. **Durable directory entry** (pager inv. 6): a directory this open creates, or
//!    the directory of a page file it creates, is synced into its parent.
//! 4. **Nothing is trusted unchecked**: the meta passed M1–M11 and the free list
//!    F1–F3 before the allocator is built from it.
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::error::{CorruptionDetail, PagerError, Result};
use crate::format::DEFAULT_PAGE_SIZE;
use crate::format::freelist::{self, FreeRun};
use crate::format::meta::Meta;
use crate::format::page::PageKind;
use crate::map::ReadSide;
use crate::metas::read_metas;
use crate::vfs::{
    DirLock, LockMode, OpenMode, Vfs, VfsFile, create_dir_durable, lock_dir, parent_dir,
};
use crate::view::{Expect, ReadView};
use crate::{DATA_FILE_NAME, Key, PageId};

/// How to open a page file.
#[derive(Clone)]
pub struct PagerOptions {
    /// Page size for a new file; for an existing file, the size it must have
    /// (`None`: whatever it was created with).
    pub page_size: Option<u32>,
    /// HMAC key: required for keyed files, refused for unkeyed ones.
    pub key: Option<Key>,
    /// Open without writing anything, under a shared lock.
    pub read_only: bool,
    /// Create the directory and page file when missing.
    pub create: bool,
    /// Verify a mapped page's checksum and header on every read, not only on the
    /// first read in this process (review F13: catches damage that appears while
    /// the process runs, at the cost of a crc32c per page read).
    pub verify_every_read: bool,
}

impl std::fmt::Debug for PagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerOptions")
            .field("page_size", &self.page_size)
            .field("key", &self.key)
            .field("read_only", &self.read_only)
            .field("create", &self.create)
            .field("verify_every_read", &self.verify_every_read)
            .finish()
    }
}

impl Default for PagerOptions {
    fn default() -> Self {
        PagerOptions {
            page_size: None,
            key: None,
            read_only: false,
            create: true,
            verify_every_read: false,
        }
    }
}

/// What open found.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The meta in use and its slot.
    pub meta: Meta,
    /// The slot (0 or 1) holding that meta; the next commit writes the other.
    pub slot: u64,
    /// The other slot, when it failed validation (it was ignored).
    pub ignored: Option<CorruptionDetail>,
    /// The file was created by this open.
    pub created: bool,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PagerError {
    let path = path.to_path_buf();
    move |e| PagerError::io(op, path, e)
}

fn not_found(dir: &Path, path: &Path) -> PagerError {
    PagerError::NotFound {
        dir: dir.to_path_buf(),
        file: path.to_path_buf(),
    }
}

/// Locks `dir` (shared when read-only, exclusive otherwise), creating the directory
/// and the page file `path` when `options` ask for it (invariants 1–3). Returns the
/// lock and whether the page file was created.
pub(crate) fn lock_and_create(
    vfs: &dyn Vfs,
    dir: &Path,
    path: &Path,
    options: &PagerOptions,
) -> Result<(DirLock, bool)> {
    let (mut lock, made_dir) = if options.read_only {
        // A read-only open never creates the database, so a missing page file is
        // reported as such rather than as a failure to create LOCK.
        if !vfs.exists(path).map_err(io("checking", path))? {
            return Err(not_found(dir, path));
        }
        (lock_dir(vfs, dir, LockMode::Shared)?, false)
    } else {
        let mut made_dir = false;
        if options.create {
            made_dir = create_dir_durable(vfs, dir).map_err(io("creating directory", dir))?;
        } else if !vfs.exists(path).map_err(io("checking", path))? {
            return Err(not_found(dir, path));
        }
        (lock_dir(vfs, dir, LockMode::Exclusive)?, made_dir)
    };
    if vfs.exists(path).map_err(io("checking", path))? {
        return Ok((lock, false));
    }
    if options.read_only || !options.create {
        return Err(not_found(dir, path));
    }
    let page_size = options.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    create_file(vfs, dir, path, page_size, options.key.as_ref())?;
    if !made_dir {
        // The directory existed but may be as new as this database (an open that
        // created it and died before syncing its parent): make its entry durable
        // before the first Durable ack (F3).
        let parent = parent_dir(dir);
        vfs.sync_dir(parent)
            .map_err(io("syncing directory", parent))?;
    }
    lock.lock_data_file(vfs, dir)?;
    Ok((lock, true))
}

/// Writes a new, empty page file atomically (invariant 2): two valid metas
/// (generations 1 and 2) with no pages.
fn create_file(
    vfs: &dyn Vfs,
    dir: &Path,
    path: &Path,
    page_size: u32,
    key: Option<&Key>,
) -> Result<()> {
    let tmp = dir.join(format!("{DATA_FILE_NAME}.init"));
    let file = vfs
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(io("creating", &tmp))?;
    for slot in 0..2u64 {
        let meta = Meta {
            page_size,
            generation: slot + 1,
            checkpoint_seq: 0,
            root: None,
            root_generation: 0,
            free_list_head: None,
            free_list_runs: 0,
            page_count: 2,
            wal_chain_hash: [0; 32],
            keyed: key.is_some(),
        };
        file.write_at(&meta.encode(slot, key), slot * u64::from(page_size))
            .map_err(io("writing meta page to", &tmp))?;
    }
    file.sync_data().map_err(io("syncing", &tmp))?;
    vfs.rename(&tmp, path).map_err(io("renaming", &tmp))?;
    vfs.sync_dir(dir)
        .map_err(|e| PagerError::io("syncing directory", dir, e))?;
    Ok(())
}

/// The current meta of `file` (rules M1–M11, and the page size `options` require),
/// its slot, and why the other slot was ignored, if it was.
pub(crate) fn choose_meta(
    file: &dyn VfsFile,
    path: &Path,
    options: &PagerOptions,
) -> Result<(Meta, u64, Option<CorruptionDetail>)> {
    let choice = read_metas(file, path, options.key.as_ref())?;
    let Some(slot) = choice.current else {
        let describe = |r: &Result<Meta, CorruptionDetail>| match r {
            Ok(m) => format!("generation {}", m.generation),
            Err(d) => format!("rule {} at offset {}: found {}", d.rule, d.offset, d.found),
        };
        let [s0, s1] = &choice.slots;
        return Err(PagerError::corruption(
            path,
            Some(PageId(0)),
            0,
            "M10",
            "at least one valid meta page",
            format!(
                "{}; slot 0: {}; slot 1: {}",
                choice.why,
                describe(&s0.result),
                describe(&s1.result)
            ),
        ));
    };
    let [s0, s1] = choice.slots;
    let (meta, other) = if slot == 0 {
        (s0.result, s1.result)
    } else {
        (s1.result, s0.result)
    };
    let meta = meta.map_err(|d| PagerError::Corruption(Box::new(d)))?;
    if let Some(requested) = options.page_size.filter(|p| *p != meta.page_size) {
        return Err(PagerError::PageSizeMismatch {
            file: path.to_path_buf(),
            requested,
            found: meta.page_size,
        });
    }
    Ok((meta, slot, other.err()))
}

/// The file's length, checked to hold every page `meta` counts (rule M9).
pub(crate) fn check_len(file: &dyn VfsFile, path: &Path, meta: &Meta) -> Result<u64> {
    let file_len = file.len().map_err(io("measuring", path))?;
    let needed = meta.page_count.saturating_mul(u64::from(meta.page_size));
    if file_len < needed {
        return Err(PagerError::corruption(
            path,
            None,
            file_len,
            "M9",
            format!(
                "a file of at least {needed} bytes (page count {})",
                meta.page_count
            ),
            format!("{file_len} bytes"),
        ));
    }
    Ok(file_len)
}

/// Reads the free list of `meta` (rules F1–F3): its runs and the pages holding it.
pub(crate) fn load_free_list(
    read: &Arc<ReadSide>,
    meta: &Meta,
) -> Result<(Vec<FreeRun>, Vec<u64>)> {
    let view = ReadView::new(read.clone())?;
    let at = |id: u64| id << read.page_shift;
    let corruption = |id: u64, rule: &'static str, expected: String, found: String| {
        PagerError::corruption(&read.path, Some(PageId(id)), at(id), rule, expected, found)
    };
    let mut runs = Vec::new();
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut next = meta.free_list_head;
    while let Some(id) = next {
        if chain.len() as u64 >= meta.page_count || !seen.insert(id) {
            return Err(corruption(
                id,
                "F1",
                "an acyclic free-list chain".into(),
                "a cycle".into(),
            ));
        }
        chain.push(id);
        // Rule F1: every free-list page was written by the meta's own commit.
        let expect = Expect {
            kind: Some(PageKind::FREE_LIST),
            generation: Some(meta.generation),
            owner: Some(0),
        };
        let page = view.page_expect(PageId(id), expect)?;
        let (link, piece) = freelist::decode(page.bytes()).map_err(|f| {
            let offset = at(id) + f.field_at as u64;
            let page = Some(PageId(id));
            PagerError::corruption(&read.path, page, offset, f.rule, f.expected, f.found)
        })?;
        for run in &piece {
            let end = run.start.checked_add(u64::from(run.len));
            let outside = end.is_none_or(|e| e > meta.page_count);
            if run.len == 0 || run.start < 2 || outside || run.retired_generation > meta.generation
            {
                let (count, generation) = (meta.page_count, meta.generation);
                return Err(corruption(
                    id,
                    "F3",
                    format!("free runs inside 2..{count} retired by generation <= {generation}"),
                    format!("{run:?}"),
                ));
            }
        }
        runs.extend(piece);
        next = (link != 0).then_some(link);
        if let Some(n) = next.filter(|&n| n < 2 || n >= meta.page_count) {
            let expected = format!("next link in 2..{}", meta.page_count);
            return Err(corruption(id, "F1", expected, n.to_string()));
        }
    }
    if runs.len() as u64 != meta.free_list_runs {
        return Err(PagerError::corruption(
            &read.path,
            meta.free_list_head.map(PageId),
            0,
            "F2",
            format!("{} free runs (meta)", meta.free_list_runs),
            format!("{} runs in the chain", runs.len()),
        ));
    }
    let mut sorted_chain = chain.clone();
    sorted_chain.sort_unstable();
    for r in &runs {
        // The first chain page at or after the run's start must lie past its end.
        let i = sorted_chain.partition_point(|&c| c < r.start);
        if let Some(&id) = sorted_chain
            .get(i)
            .filter(|&&c| c < r.start + u64::from(r.len))
        {
            let expected = "free-list pages not listed as free".into();
            return Err(corruption(id, "F3", expected, "its own page listed".into()));
        }
    }
    Ok((runs, chain))
}
