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
//! 8. **Fuzzy meta commits.** `begin_commit` writes the free list and extends the
//!    file under the lock, then starts the next generation; `finish_commit` syncs
//!    and writes the meta without it, while the next generation's pages are
//!    written. Those pages are fresh or were free in the meta being written, and
//!    the two-meta rule counts from the newest *durable* meta
//!    (`reuse_generation`), so no page the meta in flight or its predecessor
//!    reaches is overwritten; one meta at a time is in flight (`begin_commit`
//!    refuses a second; the synchronous `commit` waits for it to finish).
//! 9. **The file shrinks.** A meta commit gives the ready ids at the end of the
//!    file back (`Allocator::trim_tail`): the meta records the lower page count.
//!    Once a meta is durable, the file is cut to the longest of the two durable
//!    metas' page counts and the allocator's (G3(e): never below what a durable
//!    meta needs), so a tail freed now is cut one meta commit later. The recorded
//!    length falls before the cut; the pages past it are free, so no snapshot
//!    reaches them, and their verified bits are cleared.
//! 10. **Staged pages** (ARCHITECTURE pager invariant 13). A commit's tree
//!     pages are sealed and *staged* (`stage_page`), not written: readers find them in the read side's stage
//!     (view invariant 4) until the next meta commit. That commit takes, under
//!     the pager's lock, every staged page the new state reaches (staged and
//!     not free), writes them before its first sync, and then unstages them
//!     (unless an id was staged again meanwhile); a staged id that is free is
//!     never written, and dropped once no reader waits on it, so a page freed
//!     before the checkpoint never reaches the file. An id handed out again
//!     (`clear_verified`) or given back with the tail (`forget_tail`) loses its
//!     staged copy first, so a stale copy is neither read nor written over the
//!     id's next contents (found by the crash matrix: a leaf staged at id 41,
//!     freed, cut with the tail and handed out fresh as a free-list page, was
//!     then written over that free-list page).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::alloc::Allocator;
use crate::error::{PagerError, Result};
use crate::format::freelist::{self, FreeRun};
use crate::format::is_valid_page_size;
use crate::format::meta::Meta;
use crate::format::page::{self, PageKind};
use crate::id_hash::PageIdSet;
use crate::map::ReadSide;
use crate::mutation::{self, Mutation};
use crate::open::{self, OpenReport, PagerOptions};
use crate::vfs::{DirLock, OpenMode, Vfs};
use crate::view::ReadView;
use crate::{DATA_FILE_NAME, Key, PageId};

/// The fields of a meta commit that the layer above chooses.
#[derive(Debug, Clone, Default)]
pub struct MetaUpdate {
    /// The last commit seq of the layer above that the pages include; opaque
    /// to the pager, recorded in the meta (recovery replays the WAL past it).
    pub checkpoint_seq: u64,
    /// Root page of the layer above's root directory (`None`: none yet). It must
    /// be the current root or a page allocated in this generation, else `Misuse`.
    pub root: Option<PageId>,
    /// The WAL's hash-chain value at `checkpoint_seq`, recorded in the meta.
    pub wal_chain_hash: [u8; 32],
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
    reused: PageIdSet,
    /// Pages holding the newest free list (the current meta's, or the one a
    /// meta in flight will publish).
    free_chain: Vec<u64>,
    safe_below: u64,
    /// A meta begun by [`Pager::begin_commit`] is being made durable.
    in_flight: bool,
}

impl WriterState {
    /// The state right after open: `meta` is durable in `slot`, its free list holds
    /// `runs` on the pages `free_chain`, and nothing has been allocated yet.
    fn new(
        read: &ReadSide,
        meta: Meta,
        slot: u64,
        runs: &[FreeRun],
        free_chain: Vec<u64>,
    ) -> Result<WriterState> {
        let building = meta.generation + 1;
        let alloc = Allocator::from_runs(meta.page_count, runs, building).map_err(|found| {
            let head = meta.free_list_head.map(PageId);
            let expected = "each free page listed once";
            PagerError::corruption(&read.path, head, 0, "F3", expected, found)
        })?;
        Ok(WriterState {
            slot,
            committed: alloc.clone(),
            fresh_from: alloc.page_count,
            alloc,
            building,
            reused: PageIdSet::default(),
            free_chain,
            safe_below: u64::MAX,
            in_flight: false,
            meta,
        })
    }

    /// The generation the allocator's two-meta rule counts from: the one after
    /// the newest *durable* meta. While a meta is in flight this is one below
    /// `building`, so nothing that meta's predecessor still reaches is reused
    /// before the meta is durable (alloc invariant 2).
    fn reuse_generation(&self) -> u64 {
        self.meta.generation + 1
    }

    /// The generation the root `root` of a new meta was written by (rule P6 on the
    /// way down), refusing a root that is not an allocated page.
    fn root_generation(&self, root: Option<PageId>) -> Result<u64> {
        let Some(r) = root else { return Ok(0) };
        if r.0 < 2 || r.0 >= self.alloc.page_count || self.alloc.is_free(r.0) {
            return Err(PagerError::Misuse(format!(
                "meta root {} is not an allocated page",
                r.0
            )));
        }
        if r.0 >= self.fresh_from || self.reused.contains(&r.0) {
            Ok(self.building)
        } else if Some(r.0) == self.meta.root {
            Ok(self.meta.root_generation)
        } else {
            Err(PagerError::Misuse(format!(
                "meta root {} was neither written in generation {} nor the current root",
                r.0, self.building
            )))
        }
    }
}

/// A meta written by [`Pager::begin_commit`]'s preparation, to be made durable
/// by [`Pager::finish_commit`] (the pager stays unusable for another meta
/// until then).
#[derive(Debug)]
#[must_use = "a begun meta commit must be finished"]
pub struct PendingMeta {
    meta: Meta,
    slot: u64,
    chain: Vec<u64>,
    /// The pages staged up to this meta's generation, written before its sync.
    staged: Vec<(u64, Arc<[u8]>)>,
}

impl PendingMeta {
    /// The meta that will be written.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }
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
    /// Signalled when a meta in flight finishes (`commit` waits for it).
    settled: Condvar,
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
    /// Opens (or creates) the page file in `dir`: lock, create if asked, choose a
    /// meta, check the file's size, map it, load the free list, build the allocator.
    pub fn open(vfs: &dyn Vfs, dir: &Path, options: PagerOptions) -> Result<(Pager, OpenReport)> {
        if let Some(ps) = options.page_size.filter(|p| !is_valid_page_size(*p)) {
            return Err(PagerError::InvalidPageSize(ps));
        }
        let path = dir.join(DATA_FILE_NAME);
        let (lock, created) = open::lock_and_create(vfs, dir, &path, &options)?;
        let mode = if options.read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::ReadWrite
        };
        let file = vfs
            .open(&path, mode)
            .map_err(|e| PagerError::io("opening", &path, e))?;
        let (meta, slot, ignored) = open::choose_meta(&*file, &path, &options)?;
        let file_len = open::check_len(&*file, &path, &meta)?;
        let building = meta.generation + 1;
        let read = ReadSide::new(
            file,
            path,
            meta.page_size,
            file_len,
            building,
            options.verify_every_read,
        )?;
        let read = Arc::new(read);
        let (runs, free_chain) = open::load_free_list(&read, &meta)?;
        let report = OpenReport {
            meta: meta.clone(),
            slot,
            ignored,
            created,
        };
        let state = WriterState::new(&read, meta, slot, &runs, free_chain)?;
        let pager = Pager {
            read,
            dir: dir.to_path_buf(),
            read_only: options.read_only,
            key: options.key,
            poisoned: AtomicBool::new(false),
            state: Mutex::new(state),
            settled: Condvar::new(),
            _lock: lock,
        };
        Ok((pager, report))
    }

    fn state(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Page size of the file in bytes, fixed at creation.
    pub fn page_size(&self) -> u32 {
        self.read.page_size
    }

    /// The database directory this pager holds locked.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The page file, `<dir>/data.aedb`.
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

    /// True after a failed sync (or a failed fuzzy commit or tail truncate):
    /// every write then fails with `Poisoned` until the database is reopened.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// A view to read pages through (remapping first if the file grew).
    pub fn view(&self) -> Result<ReadView> {
        ReadView::new(self.read.clone())
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(PagerError::ReadOnly {
                file: self.read.path.clone(),
            });
        }
        if self.is_poisoned() {
            return Err(PagerError::Poisoned {
                file: self.read.path.clone(),
            });
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
        st.alloc
            .retire(id.0, generation, Some(retired_at))
            .map_err(PagerError::Misuse)?;
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
        let generation = st.reuse_generation();
        st.alloc.promote(generation, safe_below);
    }

    /// Seals `page` (a full page buffer whose payload the caller filled) with its
    /// header and writes it at `id`.
    pub fn write_page(
        &self,
        id: PageId,
        kind: PageKind,
        owner: u64,
        page: &mut [u8],
    ) -> Result<()> {
        let generation = self.writable_page(id, kind, page.len())?;
        self.write_sealed(id, kind, owner, generation, page)
    }

    /// Seals `page` like [`Pager::write_page`] but stages it instead of
    /// writing it (invariant 10): readers find it in the stage until the next
    /// meta commit writes it, so a commit costs no page write, and its pages
    /// reach the file once, at the checkpoint.
    pub fn stage_page(
        &self,
        id: PageId,
        kind: PageKind,
        owner: u64,
        page: Box<[u8]>,
    ) -> Result<()> {
        let generation = self.writable_page(id, kind, page.len())?;
        let mut page = page;
        page::seal(&mut page, id, kind, generation, owner);
        self.read.stage(id.0, Arc::from(page));
        Ok(())
    }

    /// Checks that `id` may be written in this generation with a `len`-byte
    /// page of `kind`; returns the generation to seal it with.
    fn writable_page(&self, id: PageId, kind: PageKind, len: usize) -> Result<u64> {
        self.check_writable()?;
        if len != self.read.page_size as usize {
            return Err(PagerError::Misuse(format!(
                "page buffer of {len} bytes, page size is {}",
                self.read.page_size
            )));
        }
        if kind.0 == 0 {
            return Err(PagerError::Misuse("page kind 0 is reserved".into()));
        }
        let st = self.state();
        let writable = id.0 >= 2
            && id.0 < st.alloc.page_count
            && (id.0 >= st.fresh_from || st.reused.contains(&id.0))
            && !st.alloc.is_free(id.0);
        if !writable {
            return Err(PagerError::Misuse(format!(
                "write to page {} which was not allocated in generation {} (a durable meta or reader may reach it)",
                id.0, st.building
            )));
        }
        Ok(st.building)
    }

    fn write_sealed(
        &self,
        id: PageId,
        kind: PageKind,
        owner: u64,
        generation: u64,
        page: &mut [u8],
    ) -> Result<()> {
        page::seal(page, id, kind, generation, owner);
        self.write_at_id(id.0, page)
    }

    /// Writes a sealed page at its id and records the file's new length.
    fn write_at_id(&self, id: u64, page: &[u8]) -> Result<()> {
        let offset = id << self.read.page_shift;
        self.read
            .file
            .write_at(page, offset)
            .map_err(|e| PagerError::io("writing page to", &self.read.path, e))?;
        self.read.note_len(offset + page.len() as u64);
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

    /// Makes everything written in this generation durable under a new meta,
    /// holding the pager's lock throughout (nothing else is written meanwhile).
    /// A meta in flight (invariant 8) is waited for first: its
    /// [`Pager::finish_commit`] takes no lock but the pager's. A failure leaves
    /// the allocator as it was (invariant 4).
    pub fn commit(&self, update: MetaUpdate) -> Result<Meta> {
        self.check_writable()?;
        let mut st = self.state();
        while st.in_flight {
            st = self.settled.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        self.check_writable()?;
        let before = st.alloc.clone();
        let result = self.prepare_locked(&mut st, update).and_then(|pending| {
            self.make_durable(&pending)?;
            Ok(pending)
        });
        match result {
            Ok(pending) => {
                self.advance_generation(&mut st, &pending);
                let older = Self::settle_meta(&mut st, pending.meta.clone(), pending.slot);
                self.truncate_tail(&st, older)?;
                Ok(pending.meta)
            }
            Err(e) => {
                st.alloc = before;
                Err(e)
            }
        }
    }

    /// The first half of a fuzzy checkpoint (invariant 8): writes the free list
    /// and extends the file under the pager's lock, then starts the next
    /// generation at once, so pages written from here on belong to it. The
    /// returned meta is not durable until [`Pager::finish_commit`]; until then
    /// nothing its predecessor reaches is reused and no other meta can begin.
    pub fn begin_commit(&self, update: MetaUpdate) -> Result<PendingMeta> {
        self.check_writable()?;
        let mut st = self.state();
        let before = st.alloc.clone();
        match self.prepare_locked(&mut st, update) {
            Ok(pending) => {
                self.advance_generation(&mut st, &pending);
                st.in_flight = true;
                Ok(pending)
            }
            Err(e) => {
                st.alloc = before;
                Err(e)
            }
        }
    }

    /// The second half: sync, the other meta slot, sync, without the pager's
    /// lock, so pages of the next generation are allocated and written
    /// meanwhile. Any failure poisons the pager: the next generation already
    /// builds on this meta.
    pub fn finish_commit(&self, pending: PendingMeta) -> Result<Meta> {
        let result = self
            .check_writable()
            .and_then(|()| self.make_durable(&pending));
        let mut st = self.state();
        st.in_flight = false;
        self.settled.notify_all();
        if let Err(e) = result {
            self.poisoned.store(true, Ordering::Release);
            return Err(e);
        }
        let older = Self::settle_meta(&mut st, pending.meta.clone(), pending.slot);
        self.truncate_tail(&st, older)?;
        Ok(pending.meta)
    }

    /// Invariant 9: cuts the file to the longest of what the two durable metas
    /// and the allocator need (under the pager's lock, so no page past that is
    /// allocated meanwhile). A failure poisons: the recorded length already
    /// fell, and a disk that fails a truncate is not trusted further.
    fn truncate_tail(&self, st: &WriterState, older_count: u64) -> Result<()> {
        let keep =
            older_count.max(st.meta.page_count).max(st.alloc.page_count) << self.read.page_shift;
        if self.read_only || self.read.file_len() <= keep {
            return Ok(());
        }
        self.read.truncate(keep).inspect_err(|_| {
            self.poisoned.store(true, Ordering::Release);
        })
    }

    /// Commit order (invariant 1), first part: the free list and the file's
    /// length, written but not synced; the meta to write next.
    fn prepare_locked(&self, st: &mut WriterState, update: MetaUpdate) -> Result<PendingMeta> {
        if st.in_flight {
            return Err(PagerError::Misuse(
                "a meta commit began while another is in flight".into(),
            ));
        }
        debug_assert_eq!(st.building, st.meta.generation + 1, "building generation");
        let root_generation = st.root_generation(update.root)?;
        // Free pages at the end are not listed: the meta records a shorter file
        // (invariant 9; the cut itself waits until no durable meta needs it).
        let count = st.alloc.page_count;
        st.alloc.trim_tail();
        // Invariant 10: an id given back is handed out again as a fresh one.
        self.read.forget_tail(st.alloc.page_count, count);
        let (chain, free_runs) = self.write_free_list(st)?;
        self.extend_file(st.alloc.page_count)?;
        let meta = Meta {
            page_size: self.read.page_size,
            generation: st.building,
            checkpoint_seq: update.checkpoint_seq,
            root: update.root.map(|r| r.0),
            root_generation,
            free_list_head: chain.first().copied(),
            free_list_runs: free_runs as u64,
            page_count: st.alloc.page_count,
            wal_chain_hash: update.wal_chain_hash,
            keyed: self.key.is_some(),
        };
        Ok(PendingMeta {
            meta,
            slot: 1 - st.slot,
            chain,
            staged: self.staged_to_write(st),
        })
    }

    /// Invariant 10: the staged pages this meta needs, taken under the
    /// pager's lock (every page staged so far carries this generation or an
    /// older one). A staged id that is free holds nothing the meta reaches:
    /// it is not written; when no reader waits on it its staged copy is
    /// dropped too, so a page freed before the checkpoint never reaches the
    /// file. One that readers may still reach stays staged until its id is
    /// handed out again (`clear_verified`).
    fn staged_to_write(&self, st: &WriterState) -> Vec<(u64, Arc<[u8]>)> {
        let mut write = Vec::new();
        let mut dead = Vec::new();
        for (id, page) in self.read.staged_pages() {
            if st.alloc.is_ready(id) {
                dead.push((id, page));
            } else if !st.alloc.is_free(id) {
                write.push((id, page));
            }
        }
        self.read.unstage(&dead);
        write
    }

    /// Commit order, second part: the staged pages the meta reaches, a sync
    /// (everything the meta reaches is then durable), the other meta slot, a
    /// sync.
    fn make_durable(&self, pending: &PendingMeta) -> Result<()> {
        // Invariant 10: the staged pages reach the file before the sync that
        // precedes the meta; once written, the mapping serves them.
        for (id, page) in &pending.staged {
            self.write_at_id(*id, page)?;
        }
        self.read.note_flushed(pending.staged.len());
        self.read.unstage(&pending.staged);
        if !mutation::active(Mutation::SkipSyncBeforeMeta) {
            self.sync()?;
        }
        self.write_meta(&pending.meta, pending.slot)
    }

    /// Writes the allocator's free runs as a chain of free-list pages sealed with
    /// the building generation; returns the chain and the number of runs it lists.
    fn write_free_list(&self, st: &mut WriterState) -> Result<(Vec<u64>, usize)> {
        // The current free list's pages stay reachable from the current meta, which
        // becomes the older one: retire them with this generation (alloc inv. 2).
        for &id in &st.free_chain {
            st.alloc
                .retire(id, st.building, None)
                .map_err(PagerError::Misuse)?;
        }
        let per_page = freelist::runs_per_page(self.read.page_size);
        // The list's own pages come out of the free set first (so a steady state
        // does not grow the file), and are then not listed. Taking one can split
        // a run in two: a page retired fresh (generation 0) that still waits
        // for readers is listed in one run with the ready ids beside it, and the
        // lowest ready id may sit in that run's middle (found by the stress
        // suite). So the runs are counted again after the pages are taken, and
        // more taken while the chain cannot hold them all: each page holds at
        // least two runs and each take adds at most one, and listing the runs
        // costs their number, so this is counted once or twice, not per page.
        let mut chain = Vec::new();
        let runs = loop {
            let runs = st.alloc.runs();
            let needed = runs.len().div_ceil(per_page);
            if chain.len() >= needed {
                break runs;
            }
            for _ in chain.len()..needed {
                let (id, reused) = st.alloc.allocate();
                if reused {
                    self.read.clear_verified(id);
                }
                chain.push(id);
            }
        };
        let pieces: Vec<&[FreeRun]> = if runs.is_empty() {
            Vec::new()
        } else {
            runs.chunks(per_page).collect()
        };
        for (i, &id) in chain.iter().enumerate() {
            let mut buf = self.page_buffer();
            let next = chain.get(i + 1).copied().unwrap_or(0);
            freelist::encode(&mut buf, next, pieces.get(i).copied().unwrap_or(&[]));
            self.write_sealed(PageId(id), PageKind::FREE_LIST, 0, st.building, &mut buf)?;
        }
        Ok((chain, runs.len()))
    }

    /// Makes the file at least `page_count` pages long.
    fn extend_file(&self, page_count: u64) -> Result<()> {
        let needed = page_count << self.read.page_shift;
        if self.read.file_len() < needed {
            self.read
                .file
                .set_len(needed)
                .map_err(|e| PagerError::io("extending", &self.read.path, e))?;
            self.read.note_len(needed);
        }
        Ok(())
    }

    /// Writes `meta` into `slot` and syncs it: the commit point.
    fn write_meta(&self, meta: &Meta, slot: u64) -> Result<()> {
        let bytes = meta.encode(slot, self.key.as_ref());
        self.read
            .file
            .write_at(&bytes, slot << self.read.page_shift)
            .map_err(|e| PagerError::io("writing meta page to", &self.read.path, e))?;
        self.sync()
    }

    /// Starts the generation after `pending`'s: pages allocated from here on are
    /// fresh in it, and `pending.chain` is the newest free list.
    fn advance_generation(&self, st: &mut WriterState, pending: &PendingMeta) {
        debug_assert_eq!(pending.meta.generation, st.building, "committed generation");
        st.building += 1;
        self.read.set_max_generation(st.building);
        st.fresh_from = st.alloc.page_count;
        st.reused.clear();
        st.free_chain = pending.chain.clone();
        st.committed = st.alloc.clone();
    }

    /// `meta` is durable in `slot`: it is the current meta, and what its
    /// predecessor alone reached may now wait out one meta less. Returns the
    /// predecessor's page count (the older durable meta's).
    fn settle_meta(st: &mut WriterState, meta: Meta, slot: u64) -> u64 {
        debug_assert_ne!(slot, st.slot, "a commit overwrote the current meta slot");
        let older_count = st.meta.page_count;
        st.meta = meta;
        st.slot = slot;
        let (generation, safe_below) = (st.reuse_generation(), st.safe_below);
        st.alloc.promote(generation, safe_below);
        st.committed = st.alloc.clone();
        older_count
    }

    /// Abandons the generation being built: every id it allocated is free again.
    pub fn rollback(&self) {
        let mut st = self.state();
        st.alloc = st.committed.clone();
        st.reused.clear();
    }

    /// Every free page id (for accounting checks).
    pub fn free_pages(&self) -> Vec<PageId> {
        self.state()
            .alloc
            .free_ids()
            .into_iter()
            .map(PageId)
            .collect()
    }

    /// How many retired pages wait for readers or the two-meta rule before
    /// they can be reused (for metrics).
    pub fn pending_page_count(&self) -> u64 {
        self.state().alloc.pending_count()
    }

    /// How many pages are free or waiting for readers to let them be (for
    /// metrics: proportional to the free runs, not the pages).
    pub fn free_page_count(&self) -> u64 {
        self.state().alloc.free_count()
    }

    /// How many free pages can be handed out now (compaction plans with it).
    pub fn ready_page_count(&self) -> u64 {
        self.state().alloc.ready_count()
    }

    /// The page file's length as recorded (what reads may reach).
    pub fn file_len(&self) -> u64 {
        self.read.file_len()
    }

    /// Pages holding the current meta's free list.
    pub fn free_list_pages(&self) -> Vec<PageId> {
        self.state()
            .free_chain
            .iter()
            .copied()
            .map(PageId)
            .collect()
    }

    /// Pages committed and staged, not yet written (invariant 10).
    pub fn staged_page_count(&self) -> u64 {
        self.read.staged_count()
    }

    /// Staged pages meta commits have written since open: with
    /// `staged_page_count`, how many committed page versions never reached
    /// the file (freed before a checkpoint) can be told.
    pub fn flushed_page_count(&self) -> u64 {
        self.read.flushed()
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
        let free = st
            .alloc
            .free_ids()
            .into_iter()
            .chain(st.free_chain.iter().copied());
        for id in reachable.into_iter().map(|p| p.0).chain(free) {
            match seen.get_mut(id as usize).filter(|_| id >= 2) {
                Some(n) => {
                    *n = n.saturating_add(1);
                    if *n == 2 {
                        problems.push(format!(
                            "page {id} is accounted twice (reachable twice, or reachable and free)"
                        ));
                    }
                }
                None => problems.push(format!("page {id} lies outside 2..{}", seen.len())),
            }
        }
        problems.extend(
            seen.iter()
                .enumerate()
                .skip(2)
                .filter(|(_, n)| **n == 0)
                .map(|(id, _)| format!("page {id} leaked: neither reachable nor free")),
        );
        problems
    }
}
