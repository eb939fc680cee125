//! Opening: the pager, WAL recovery, replay through the same transaction core a
//! commit uses, then (in `Database::open_with`) settling what was replayed.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aedb_btree::load_root;
use aedb_pager::vfs::Vfs;
use aedb_pager::{PageId, Pager, PagerOptions};

use crate::catalog::ROOT_DIR_OWNER;
use crate::core::{TxnCore, apply};
use crate::effects;
use crate::engine::{BackupGate, Engine, WriterState};
use crate::error::{Result, StorageError};
use crate::group_commit::GroupCommit;
use crate::notify::{CommitHeads, Notifier};
use crate::options::StorageOptions;
use crate::readers::Readers;
use crate::snapshot::{RecoveryReport, Snapshot};
use crate::stats::Stats;
use crate::wal::WalWriter;
use crate::wal::recover::{WalRecovery, recover, recover_anchored};

impl Engine {
    pub(crate) fn open(vfs: Arc<dyn Vfs>, dir: &Path, options: StorageOptions) -> Result<Engine> {
        let pager_options = PagerOptions {
            page_size: options.page_size,
            key: options.key.clone(),
            read_only: false,
            create: true,
            verify_every_read: options.verify_every_read,
        };
        let (pager, opened) = Pager::open(&*vfs, dir, pager_options)?;
        let wal_dir = dir.join("wal");
        let meta = opened.meta.clone();
        // W11: generations 1 and 2 are the metas `data.aedb` is created with; the
        // first open anchors (checkpoints) once its first segment is durable, so a
        // database past them always has a segment reaching its checkpoint, and a
        // missing `wal/` is loss, not a database that never had one.
        let anchored = meta.generation > 2;
        let recover = if anchored { recover_anchored } else { recover };
        let key = options.key.as_ref();
        let (seq, hash) = (meta.checkpoint_seq, meta.wal_chain_hash);
        let rec: WalRecovery = recover(&*vfs, &wal_dir, key, seq, hash, options.recovery)?;
        if !vfs
            .exists(&wal_dir)
            .map_err(|e| StorageError::io("checking", &wal_dir, e))?
        {
            vfs.create_dir_all(&wal_dir)
                .map_err(|e| StorageError::io("creating", &wal_dir, e))?;
            vfs.sync_dir(dir)
                .map_err(|e| StorageError::io("syncing directory", dir, e))?;
        }
        let view = pager.view()?;
        let meta_root = match meta.root {
            Some(page) => Some(load_root(
                &view,
                PageId(page),
                meta.root_generation,
                ROOT_DIR_OWNER,
            )?),
            None => None,
        };
        let mut root_dir = meta_root;
        let mut pages = 0u64;
        let replayed = rec.frames.len() as u64;
        for (seq, payload, _) in &rec.frames {
            let effects =
                effects::decode(payload).map_err(|detail| StorageError::WalCorruption {
                    segment: wal_dir.clone(),
                    offset: 0,
                    seq: *seq,
                    rule: "E1",
                    detail,
                })?;
            let mut core = TxnCore::new(&pager, &options, root_dir, *seq)?;
            apply(&mut core, effects)?;
            let (root, written) = core.finish()?;
            root_dir = root;
            pages += written as u64;
        }
        let wal = WalWriter::start(
            vfs.clone(),
            wal_dir,
            options.key.clone(),
            options.wal_segment_bytes,
            rec.segments.clone(),
            rec.head_seq,
            rec.head_hash,
        )?;
        let snapshot = Snapshot {
            view: pager.view()?,
            root_dir,
            seq: rec.head_seq,
            chain_hash: rec.head_hash,
            entries: Default::default(),
        };
        // Until the next checkpoint, the checkpointed state is the meta's own root,
        // from before any replay.
        let checkpoint_snapshot = Arc::new(Snapshot {
            view: view.clone(),
            root_dir: meta_root,
            seq: meta.checkpoint_seq,
            chain_hash: meta.wal_chain_hash,
            entries: Default::default(),
        });
        let heads = CommitHeads {
            visible: rec.head_seq,
            durable: rec.head_seq,
            checkpoint: meta.checkpoint_seq,
            stopped: false,
        };
        let notifier = Arc::new(Notifier::new(heads));
        let stats = Arc::new(Stats::default());
        let sync = GroupCommit::new(rec.head_seq, wal.current(), notifier.clone(), stats.clone());
        let report = RecoveryReport {
            checkpoint_seq: meta.checkpoint_seq,
            replayed,
            head_seq: rec.head_seq,
            truncated: rec.truncated.clone(),
            unvouched_tail_truncated: rec.unvouched_tail_truncated,
            dropped: rec.dropped.clone(),
            wal_missing: rec.wal_missing.clone(),
            ignored_meta: opened.ignored.as_ref().map(|d| d.to_string()),
        };
        let keep_for = Duration::from_millis(options.snapshot_retention_ms);
        let readers = Readers::new(
            snapshot,
            checkpoint_snapshot,
            options.snapshot_retention_count,
            keep_for,
        );
        let writer = WriterState {
            root_dir,
            seq: rec.head_seq,
            hash: rec.head_hash,
            wal,
            checkpoint_seq: meta.checkpoint_seq,
            pages_since_checkpoint: pages,
            last_checkpoint: Instant::now(),
        };
        Ok(Engine {
            dir: dir.to_path_buf(),
            vfs,
            backups: BackupGate::default(),
            checkpointing: Mutex::new(()),
            stats,
            options,
            pager,
            writer: Mutex::new(writer),
            sync,
            readers,
            report,
            notifier,
            coalescer: Default::default(),
        })
    }

    /// Invariant 4 at open: the frames recovery replayed may exist only in the page
    /// cache (a sync failed before the crash, and Linux then drops those pages at the
    /// next power loss however often they are synced again). Two checkpoints put the
    /// replayed state in both metas, so nothing acknowledged from now on depends on
    /// those frames.
    pub(crate) fn settle_recovery(&self) -> Result<()> {
        let mut st = self.writer()?;
        self.checkpoint_locked(&mut st)?;
        self.checkpoint_locked(&mut st)
    }

    /// W11 at open: a database whose metas are still the two it was created with
    /// takes its first checkpoint as soon as its first segment is durable, before
    /// any commit. From then on its meta generation is above 2, which tells a later
    /// open that a WAL reaching the checkpoint must exist (a crash before this point
    /// leaves a database that never acknowledged anything).
    pub(crate) fn anchor(&self) -> Result<()> {
        let mut st = self.writer()?;
        self.checkpoint_locked(&mut st)
    }
}
