//! The pager: owns the page file, hands out page ids, writes sealed pages, and
//! commits meta pages.
//!
//! Invariants (see also `docs/ARCHITECTURE.md`):
//! 1. **Commit order.** A meta commit writes the free list, extends the file to its
//!    page count, `fdatasync`s, writes the *other* meta slot, and `fdatasync`s again.
//!    A crash at any point leaves the previous or the new meta current, never a mix.
//! 2. **Only unreachable pages are written.** `write_page` accepts an id only if it
//!    was handed out by `allocate` while building the current generation, so no page a
//!    durable meta (or, by the allocator's epochs, a reader) reaches is overwritten.
//! 3. **Poison.** After a failed `fdatasync` nothing is written again until reopen.
//! 4. **Rollback.** A failed commit, or `rollback`, returns the allocator to the last
//!    durable meta; the pages the aborted generation wrote are simply free again.
//! 5. **Creation is atomic.** A new page file is built as `data.aedb.init`, synced,
//!    renamed into place and the directory synced, so a crash mid-create leaves no
//!    half-made `data.aedb`.
//! 6. **The directory entry is durable too.** A directory the open creates is synced
//!    into its parent (each new ancestor likewise) before open returns, and so is the
//!    directory of a page file the open creates (review F3): no Durable ack can
//!    precede a durable path to the database.
//! 7. **Locked before read.** `vfs::lock_dir` (LOCK, then `data.aedb`) precedes any
//!    read of the file, in every mode; nothing runs unlocked (review F6, F7).
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::alloc::Allocator;
use crate::error::{CorruptionDetail, PagerError, Result};
use crate::format::freelist::{self, FreeRun};
use crate::format::meta::Meta;
use crate::format::page::{self, PageKind};
use crate::format::{DEFAULT_PAGE_SIZE, is_valid_page_size};
use crate::metas::read_metas;
use crate::mmap::Mapping;
use crate::vfs::{
    DirLock, LockMode, OpenMode, Vfs, VfsFile, create_dir_durable, lock_dir, parent_dir,
};
use crate::view::ReadView;
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
        PagerOptions { page_size: None, key: None, read_only: false, create: true, verify_every_read: false }
    }
}

/// What open found.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The meta in use and its slot.
    pub meta: Meta,
    pub slot: u64,
    /// The other slot, when it failed validation (it was ignored).
    pub ignored: Option<CorruptionDetail>,
    /// The file was created by this open.
    pub created: bool,
}

/// The fields of a meta commit that the layer above chooses.
#[derive(Debug, Clone, Default)]
pub struct MetaUpdate {
    pub checkpoint_seq: u64,
    pub root: Option<PageId>,
    pub wal_chain_hash: [u8; 32],
}

/// The smallest address range a growing file is mapped with.
const MAP_RESERVE_MIN: u64 = 64 << 20;

/// How much address space to map for a file of `file_len` bytes: room to grow
/// into, so a growing file is remapped a logarithmic number of times rather than at
/// every commit (each remap starts with empty page tables, so every page faults in
/// again).
fn map_reserve(file_len: u64, page_size: u32) -> u64 {
    file_len.saturating_mul(2).max(MAP_RESERVE_MIN).next_multiple_of(u64::from(page_size))
}

/// The read-only half shared with every [`ReadView`].
#[derive(Debug)]
pub(crate) struct ReadSide {
    pub(crate) file: Arc<dyn VfsFile>,
    pub(crate) path: PathBuf,
    pub(crate) page_size: u32,
    pub(crate) page_shift: u32,
    /// The newest generation a page may carry: the one being built.
    pub(crate) max_generation: AtomicU64,
    /// Bytes known to exist in the file.
    pub(crate) file_len: AtomicU64,
    /// The current mapping (real files only).
    map: Option<ArcSwap<Mapping>>,
    /// Serialises remapping and clearing verified bits.
    remap: Mutex<()>,
    /// `PagerOptions::verify_every_read`.
    pub(crate) verify_every_read: bool,
}

impl ReadSide {
    fn lock_remap(&self) -> MutexGuard<'_, ()> {
        self.remap.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current mapping, remapped first if the file has outgrown it.
    fn mapping(&self) -> Result<Option<Arc<Mapping>>> {
        let Some(map) = &self.map else { return Ok(None) };
        let current = map.load_full();
        let file_len = self.file_len.load(Ordering::Acquire);
        if current.len() as u64 >= file_len {
            return Ok(Some(current));
        }
        let _guard = self.lock_remap();
        let current = map.load_full();
        if current.len() as u64 >= file_len {
            return Ok(Some(current));
        }
        let Some(file) = self.file.mappable() else { return Ok(Some(current)) };
        let fresh = Arc::new(
            Mapping::new(file, map_reserve(file_len, self.page_size), self.page_shift, Some(&current)).map_err(|e| PagerError::io("mapping", &self.path, e))?,
        );
        map.store(fresh.clone());
        Ok(Some(fresh))
    }

    fn clear_verified(&self, id: u64) {
        if let Some(map) = &self.map {
            let _guard = self.lock_remap();
            map.load().clear_verified(id);
        }
    }
}

#[derive(Debug)]
struct WriterState {
    /// The current durable meta and its slot.
    meta: Meta,
    slot: u64,
    alloc: Allocator,
    /// The allocator as of the last durable meta, for rollback.
    committed: Allocator,
    /// The generation being built (`meta.generation + 1`).
    building: u64,
    /// Ids at or above this were fresh in the building generation.
    fresh_from: u64,
    /// Reused ids handed out in the building generation.
    reused: HashSet<u64>,
    /// Pages holding the current meta's free list.
    free_chain: Vec<u64>,
    safe_below: u64,
}

/// An open page file. `Send + Sync`; one writer at a time is the caller's contract,
/// enforced by an internal lock.
pub struct Pager {
    read: Arc<ReadSide>,
    dir: PathBuf,
    read_only: bool,
    key: Option<Key>,
    poisoned: AtomicBool,
    state: Mutex<WriterState>,
    _lock: DirLock,
}

impl std::fmt::Debug for Pager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("path", &self.read.path)
            .field("page_size", &self.read.page_size)
            .field("read_only", &self.read_only)
            .field("key", &self.key)
            .field("poisoned", &self.poisoned)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Pager {
    /// Opens (or creates) the page file in `dir`.
    pub fn open(vfs: &dyn Vfs, dir: &Path, options: PagerOptions) -> Result<(Pager, OpenReport)> {
        if let Some(ps) = options.page_size.filter(|p| !is_valid_page_size(*p)) {
            return Err(PagerError::InvalidPageSize(ps));
        }
        let path = dir.join(DATA_FILE_NAME);
        let io = |op: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |e| PagerError::io(op, p, e)
        };
        let (mut lock, made_dir) = if options.read_only {
            // A read-only open never creates the database, so a missing page file is
            // reported as such rather than as a failure to create LOCK.
            if !vfs.exists(&path).map_err(io("checking", &path))? {
                return Err(PagerError::NotFound { dir: dir.to_path_buf(), file: path });
            }
            (lock_dir(vfs, dir, LockMode::Shared)?, false)
        } else {
            let mut made_dir = false;
            if options.create {
                made_dir = create_dir_durable(vfs, dir).map_err(io("creating directory", dir))?;
            } else if !vfs.exists(&path).map_err(io("checking", &path))? {
                return Err(PagerError::NotFound { dir: dir.to_path_buf(), file: path });
            }
            (lock_dir(vfs, dir, LockMode::Exclusive)?, made_dir)
        };
        let mut created = false;
        if !vfs.exists(&path).map_err(io("checking", &path))? {
            if options.read_only || !options.create {
                return Err(PagerError::NotFound { dir: dir.to_path_buf(), file: path });
            }
            let page_size = options.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
            create_file(vfs, dir, &path, page_size, options.key.as_ref())?;
            if !made_dir {
                // The directory existed but may be as new as this database (an open
                // that created it and died before syncing its parent): make its entry
                // durable before the first Durable ack (F3).
                let parent = parent_dir(dir);
                vfs.sync_dir(parent).map_err(io("syncing directory", parent))?;
            }
            lock.lock_data_file(vfs, dir)?;
            created = true;
        }
        let mode = if options.read_only { OpenMode::ReadOnly } else { OpenMode::ReadWrite };
        let file = vfs.open(&path, mode).map_err(io("opening", &path))?;
        let choice = read_metas(&*file, &path, options.key.as_ref())?;
        let Some(slot) = choice.current else {
            let describe = |r: &Result<Meta, CorruptionDetail>| match r {
                Ok(m) => format!("generation {}", m.generation),
                Err(d) => format!("rule {} at offset {}: found {}", d.rule, d.offset, d.found),
            };
            return Err(PagerError::corruption(
                &path,
                Some(PageId(0)),
                0,
                "M10",
                "at least one valid meta page",
                format!("{}; slot 0: {}; slot 1: {}", choice.why, describe(&choice.slots[0].result), describe(&choice.slots[1].result)),
            ));
        };
        let [s0, s1] = choice.slots;
        let (meta, other) = if slot == 0 { (s0.result, s1.result) } else { (s1.result, s0.result) };
        let meta = meta.map_err(|d| PagerError::Corruption(Box::new(d)))?;
        if let Some(requested) = options.page_size.filter(|p| *p != meta.page_size) {
            return Err(PagerError::PageSizeMismatch { file: path, requested, found: meta.page_size });
        }
        let file_len = file.len().map_err(io("measuring", &path))?;
        let needed = meta.page_count.saturating_mul(u64::from(meta.page_size));
        if file_len < needed {
            return Err(PagerError::corruption(
                &path,
                None,
                file_len,
                "M9",
                format!("a file of at least {needed} bytes (page count {})", meta.page_count),
                format!("{file_len} bytes"),
            ));
        }
        let page_shift = meta.page_size.trailing_zeros();
        let map = match file.mappable() {
            Some(f) => Some(ArcSwap::from_pointee(Mapping::new(f, map_reserve(file_len, meta.page_size), page_shift, None).map_err(io("mapping", &path))?)),
            None => None,
        };
        let building = meta.generation + 1;
        let read = Arc::new(ReadSide {
            file,
            path: path.clone(),
            page_size: meta.page_size,
            page_shift,
            max_generation: AtomicU64::new(building),
            file_len: AtomicU64::new(file_len),
            map,
            remap: Mutex::new(()),
            verify_every_read: options.verify_every_read,
        });
        let (runs, free_chain) = load_free_list(&read, &meta)?;
        let alloc = Allocator::from_runs(meta.page_count, &runs, building).map_err(|found| {
            PagerError::corruption(&path, meta.free_list_head.map(PageId), 0, "F3", "each free page listed once", found)
        })?;
        let report = OpenReport { meta: meta.clone(), slot, ignored: other.err(), created };
        let state = WriterState {
            slot,
            committed: alloc.clone(),
            fresh_from: alloc.page_count,
            alloc,
            building,
            reused: HashSet::new(),
            free_chain,
            safe_below: u64::MAX,
            meta,
        };
        let pager = Pager {
            read,
            dir: dir.to_path_buf(),
            read_only: options.read_only,
            key: options.key,
            poisoned: AtomicBool::new(false),
            state: Mutex::new(state),
            _lock: lock,
        };
        Ok((pager, report))
    }

    fn state(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn page_size(&self) -> u32 {
        self.read.page_size
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> &Path {
        &self.read.path
    }

    /// The current durable meta.
    pub fn meta(&self) -> Meta {
        self.state().meta.clone()
    }

    /// The generation pages written now will carry.
    pub fn building_generation(&self) -> u64 {
        self.state().building
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// A view to read pages through (remapping first if the file grew).
    pub fn view(&self) -> Result<ReadView> {
        Ok(ReadView { side: self.read.clone(), map: self.read.mapping()? })
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(PagerError::ReadOnly { file: self.read.path.clone() });
        }
        if self.is_poisoned() {
            return Err(PagerError::Poisoned { file: self.read.path.clone() });
        }
        Ok(())
    }

    /// Hands out a page id to write in this generation.
    pub fn allocate(&self) -> Result<PageId> {
        self.check_writable()?;
        let mut st = self.state();
        let (id, reused) = st.alloc.allocate();
        if reused {
            st.reused.insert(id);
            self.read.clear_verified(id);
        }
        Ok(PageId(id))
    }

    /// Frees `id`, which stopped being reachable from the state being built. Readers
    /// with an epoch at or below `retired_at` may still read it; it is reused only
    /// after [`Pager::release_readers_below`] passes that epoch and no durable meta
    /// can reach it.
    pub fn retire(&self, id: PageId, retired_at: u64) -> Result<()> {
        self.check_writable()?;
        let mut st = self.state();
        let st = &mut *st;
        let fresh = id.0 >= st.fresh_from || st.reused.contains(&id.0);
        // A page no durable meta reached needs no wait for the metas (alloc inv. 2).
        let generation = if fresh { 0 } else { st.building };
        st.alloc.retire(id.0, generation, Some(retired_at)).map_err(PagerError::Misuse)?;
        if fresh {
            st.reused.remove(&id.0);
        }
        // Promotion happens at commit and at `release_readers_below`, where it pops
        // whole queues; doing it per retire would make each retire cost O(pending).
        Ok(())
    }

    /// Every live reader has an epoch at or above `safe_below`.
    pub fn release_readers_below(&self, safe_below: u64) {
        let mut st = self.state();
        st.safe_below = safe_below;
        let building = st.building;
        st.alloc.promote(building, safe_below);
    }

    /// Seals `page` (a full page buffer whose payload the caller filled) with its
    /// header and writes it at `id`.
    pub fn write_page(&self, id: PageId, kind: PageKind, owner: u64, page: &mut [u8]) -> Result<()> {
        self.check_writable()?;
        if page.len() != self.read.page_size as usize {
            return Err(PagerError::Misuse(format!("page buffer of {} bytes, page size is {}", page.len(), self.read.page_size)));
        }
        if kind.0 == 0 {
            return Err(PagerError::Misuse("page kind 0 is reserved".into()));
        }
        let st = self.state();
        let writable = id.0 >= 2 && id.0 < st.alloc.page_count && (id.0 >= st.fresh_from || st.reused.contains(&id.0)) && !st.alloc.is_free(id.0);
        if !writable {
            return Err(PagerError::Misuse(format!(
                "write to page {} which was not allocated in generation {} (a durable meta or reader may reach it)",
                id.0, st.building
            )));
        }
        let generation = st.building;
        drop(st);
        self.write_sealed(id, kind, owner, generation, page)
    }

    fn write_sealed(&self, id: PageId, kind: PageKind, owner: u64, generation: u64, page: &mut [u8]) -> Result<()> {
        page::seal(page, id, kind, generation, owner);
        let offset = id.0 << self.read.page_shift;
        self.read.file.write_at(page, offset).map_err(|e| PagerError::io("writing page to", &self.read.path, e))?;
        self.read.file_len.fetch_max(offset + page.len() as u64, Ordering::AcqRel);
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        self.read.file.sync_data().map_err(|e| {
            // Invariant 3: the kernel may have dropped the dirty pages; never retry.
            self.poisoned.store(true, Ordering::Release);
            PagerError::io("syncing", &self.read.path, e)
        })
    }

    /// A fresh zeroed page buffer.
    pub fn page_buffer(&self) -> Vec<u8> {
        vec![0u8; self.read.page_size as usize]
    }

    /// Makes everything written in this generation durable under a new meta.
    pub fn commit(&self, update: MetaUpdate) -> Result<Meta> {
        self.check_writable()?;
        let mut st = self.state();
        let before = st.alloc.clone();
        match self.commit_locked(&mut st, update) {
            Ok(meta) => Ok(meta),
            Err(e) => {
                st.alloc = before;
                Err(e)
            }
        }
    }

    fn commit_locked(&self, st: &mut WriterState, update: MetaUpdate) -> Result<Meta> {
        if let Some(root) = update.root.filter(|r| r.0 < 2 || r.0 >= st.alloc.page_count || st.alloc.is_free(r.0)) {
            return Err(PagerError::Misuse(format!("meta root {} is not an allocated page", root.0)));
        }
        // The meta records which generation wrote its root (rule P6 on the way down).
        let root_generation = match update.root {
            None => 0,
            Some(r) if r.0 >= st.fresh_from || st.reused.contains(&r.0) => st.building,
            Some(r) if Some(r.0) == st.meta.root => st.meta.root_generation,
            Some(r) => {
                return Err(PagerError::Misuse(format!(
                    "meta root {} was neither written in generation {} nor the current root",
                    r.0, st.building
                )));
            }
        };
        // The current free list's pages stay reachable from the current meta, which
        // becomes the older one: retire them with this generation (alloc inv. 2).
        for &id in &st.free_chain {
            st.alloc.retire(id, st.building, None).map_err(PagerError::Misuse)?;
        }
        let per_page = freelist::runs_per_page(self.read.page_size);
        // The list's own pages come out of the free set first (so a steady state
        // does not grow the file), and are then not listed. Taking the lowest free
        // ids never splits a run, so the count taken before is enough after.
        let chain_len = st.alloc.runs().len().div_ceil(per_page);
        let mut chain = Vec::with_capacity(chain_len);
        for _ in 0..chain_len {
            let (id, reused) = st.alloc.allocate();
            if reused {
                self.read.clear_verified(id);
            }
            chain.push(id);
        }
        let runs = st.alloc.runs();
        let pieces: Vec<&[FreeRun]> = if runs.is_empty() { Vec::new() } else { runs.chunks(per_page).collect() };
        for (i, &id) in chain.iter().enumerate() {
            let mut buf = self.page_buffer();
            freelist::encode(&mut buf, chain.get(i + 1).copied().unwrap_or(0), pieces.get(i).copied().unwrap_or(&[]));
            self.write_sealed(PageId(id), PageKind::FREE_LIST, 0, st.building, &mut buf)?;
        }
        let needed = st.alloc.page_count << self.read.page_shift;
        if self.read.file_len.load(Ordering::Acquire) < needed {
            self.read.file.set_len(needed).map_err(|e| PagerError::io("extending", &self.read.path, e))?;
            self.read.file_len.fetch_max(needed, Ordering::AcqRel);
        }
        if !crate::mutation::active(crate::mutation::Mutation::SkipSyncBeforeMeta) {
            self.sync()?;
        }
        let meta = Meta {
            page_size: self.read.page_size,
            generation: st.building,
            checkpoint_seq: update.checkpoint_seq,
            root: update.root.map(|r| r.0),
            root_generation,
            free_list_head: chain.first().copied(),
            free_list_runs: runs.len() as u64,
            page_count: st.alloc.page_count,
            wal_chain_hash: update.wal_chain_hash,
            keyed: self.key.is_some(),
        };
        let slot = 1 - st.slot;
        let bytes = meta.encode(slot, self.key.as_ref());
        self.read
            .file
            .write_at(&bytes, slot << self.read.page_shift)
            .map_err(|e| PagerError::io("writing meta page to", &self.read.path, e))?;
        self.sync()?;
        st.meta = meta.clone();
        st.slot = slot;
        st.building += 1;
        self.read.max_generation.store(st.building, Ordering::Release);
        st.fresh_from = st.alloc.page_count;
        st.reused.clear();
        st.free_chain = chain;
        let (building, safe_below) = (st.building, st.safe_below);
        st.alloc.promote(building, safe_below);
        st.committed = st.alloc.clone();
        Ok(meta)
    }

    /// Abandons the generation being built: every id it allocated is free again.
    pub fn rollback(&self) {
        let mut st = self.state();
        st.alloc = st.committed.clone();
        st.reused.clear();
    }

    /// Every free page id (for accounting checks).
    pub fn free_pages(&self) -> Vec<PageId> {
        self.state().alloc.free_ids().into_iter().map(PageId).collect()
    }

    /// Pages holding the current meta's free list.
    pub fn free_list_pages(&self) -> Vec<PageId> {
        self.state().free_chain.iter().copied().map(PageId).collect()
    }

    /// The high-water mark of the generation being built.
    pub fn page_count(&self) -> u64 {
        self.state().alloc.page_count
    }

    /// Exact page accounting: given every page the layers above reach, each id in
    /// `2..page count` must be reached exactly once or be free (free pages and the
    /// free list's own pages). Returns one line per violation; empty means exact.
    pub fn account(&self, reachable: impl IntoIterator<Item = PageId>) -> Vec<String> {
        let st = self.state();
        let mut seen = vec![0u8; st.alloc.page_count as usize];
        let mut problems = Vec::new();
        let free = st.alloc.free_ids().into_iter().chain(st.free_chain.iter().copied());
        for id in reachable.into_iter().map(|p| p.0).chain(free) {
            match seen.get_mut(id as usize).filter(|_| id >= 2) {
                Some(n) => {
                    *n = n.saturating_add(1);
                    if *n == 2 {
                        problems.push(format!("page {id} is accounted twice (reachable twice, or reachable and free)"));
                    }
                }
                None => problems.push(format!("page {id} lies outside 2..{}", seen.len())),
            }
        }
        problems.extend(seen.iter().enumerate().skip(2).filter(|(_, n)| **n == 0).map(|(id, _)| format!("page {id} leaked: neither reachable nor free")));
        problems
    }
}

/// Writes a new, empty page file atomically (invariant 5): two valid metas
/// (generations 1 and 2) with no pages.
fn create_file(vfs: &dyn Vfs, dir: &Path, path: &Path, page_size: u32, key: Option<&Key>) -> Result<()> {
    let tmp = dir.join(format!("{DATA_FILE_NAME}.init"));
    let io = |op: &'static str| {
        let tmp = tmp.clone();
        move |e| PagerError::io(op, tmp, e)
    };
    let file = vfs.open(&tmp, OpenMode::CreateTruncate).map_err(io("creating"))?;
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
        file.write_at(&meta.encode(slot, key), slot * u64::from(page_size)).map_err(io("writing meta page to"))?;
    }
    file.sync_data().map_err(io("syncing"))?;
    vfs.rename(&tmp, path).map_err(io("renaming"))?;
    vfs.sync_dir(dir).map_err(|e| PagerError::io("syncing directory", dir, e))?;
    Ok(())
}

/// Reads the free list of `meta` (rules F1–F3).
fn load_free_list(read: &Arc<ReadSide>, meta: &Meta) -> Result<(Vec<FreeRun>, Vec<u64>)> {
    let view = ReadView { side: read.clone(), map: read.mapping()? };
    let mut runs = Vec::new();
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut next = meta.free_list_head;
    while let Some(id) = next {
        if chain.len() as u64 >= meta.page_count || !seen.insert(id) {
            return Err(PagerError::corruption(&read.path, Some(PageId(id)), id << read.page_shift, "F1", "an acyclic free-list chain", "a cycle"));
        }
        chain.push(id);
        // Rule F1: every free-list page was written by the meta's own commit.
        let expect = crate::view::Expect { kind: Some(PageKind::FREE_LIST), generation: Some(meta.generation), owner: Some(0) };
        let page = view.page_expect(PageId(id), expect)?;
        let (link, piece) = freelist::decode(page.bytes()).map_err(|f| {
            PagerError::corruption(&read.path, Some(PageId(id)), (id << read.page_shift) + f.field_at as u64, f.rule, f.expected, f.found)
        })?;
        for run in &piece {
            let end = run.start.checked_add(u64::from(run.len));
            if run.len == 0 || run.start < 2 || end.is_none_or(|e| e > meta.page_count) || run.retired_generation > meta.generation {
                return Err(PagerError::corruption(
                    &read.path,
                    Some(PageId(id)),
                    id << read.page_shift,
                    "F3",
                    format!("free runs inside 2..{} retired by generation <= {}", meta.page_count, meta.generation),
                    format!("{run:?}"),
                ));
            }
        }
        runs.extend(piece);
        next = (link != 0).then_some(link);
        if let Some(n) = next.filter(|&n| n < 2 || n >= meta.page_count) {
            return Err(PagerError::corruption(&read.path, Some(PageId(id)), id << read.page_shift, "F1", format!("next link in 2..{}", meta.page_count), n.to_string()));
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
        if let Some(&id) = sorted_chain.get(i).filter(|&&c| c < r.start + u64::from(r.len)) {
            return Err(PagerError::corruption(&read.path, Some(PageId(id)), id << read.page_shift, "F3", "free-list pages not listed as free", "its own page listed"));
        }
    }
    Ok((runs, chain))
}
