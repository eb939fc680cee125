//! Operational metrics: the facade's commit counters (atomics bumped once per
//! commit call, after it finished) and `OperationalMetrics`, 0.1.9's shape
//! filled from them and from the engine's counters (`Database::stats`).
//! Reading them takes no lock a commit takes, so they can be polled every
//! second.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::{AedbError, AedbErrorCode};
use crate::storage::EngineStats;

/// The facade's counters (one per instance).
#[derive(Debug, Default)]
pub(crate) struct CommitCounters {
    commits: AtomicU64,
    errors: AtomicU64,
    permission: AtomicU64,
    validation: AtomicU64,
    conflicts: AtomicU64,
    read_set_conflicts: AtomicU64,
    timeouts: AtomicU64,
    latency_micros: AtomicU64,
    applies: AtomicU64,
    apply_micros: AtomicU64,
    /// Commit calls waiting for an in-flight slot now.
    pub(crate) queued: AtomicUsize,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl CommitCounters {
    /// Counts a finished commit call that took `took` end to end.
    pub(crate) fn finished<T>(&self, r: &Result<T, AedbError>, took: Duration) {
        let bump = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        self.latency_micros
            .fetch_add(micros(took), Ordering::Relaxed);
        let Err(e) = r else {
            bump(&self.commits);
            return;
        };
        bump(&self.errors);
        match e.code() {
            AedbErrorCode::PermissionDenied => bump(&self.permission),
            AedbErrorCode::Validation | AedbErrorCode::TypeMismatch => bump(&self.validation),
            AedbErrorCode::Conflict => {
                bump(&self.conflicts);
                bump(&self.read_set_conflicts);
            }
            AedbErrorCode::AssertionFailed => bump(&self.conflicts),
            AedbErrorCode::Timeout => bump(&self.timeouts),
            _ => {}
        }
    }

    /// Counts the time a commit spent in its write transaction.
    pub(crate) fn applied(&self, took: Duration) {
        self.applies.fetch_add(1, Ordering::Relaxed);
        self.apply_micros.fetch_add(micros(took), Ordering::Relaxed);
    }
}

/// The heads and queue of an instance, as `operational_metrics` reads them.
pub(crate) struct Heads {
    pub(crate) visible: u64,
    pub(crate) durable: u64,
    pub(crate) checkpoint: u64,
    pub(crate) inflight: usize,
    pub(crate) recovered_seq: u64,
}

/// An instance's operational state (0.1.9's fields, then ours). Totals count
/// since open; averages are over them. 0.1.9's pipeline stages that this
/// engine does not have (pre-stage validation, epochs, group-commit flush
/// reasons, queue-full rejections: a full queue waits here) read 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationalMetrics {
    /// Commit calls that committed (or were duplicates).
    pub commits_total: u64,
    /// Commit calls that failed, whatever the reason.
    pub commit_errors: u64,
    /// Commit calls that failed with `PermissionDenied`.
    pub permission_rejections: u64,
    /// Commit calls that failed with `Validation` or `TypeMismatch`.
    pub validation_rejections: u64,
    /// Always 0: a full queue waits here.
    pub queue_full_rejections: u64,
    /// Commit calls that failed with `Timeout`.
    pub timeout_rejections: u64,
    /// Conflicts and failed assertions.
    pub conflict_rejections: u64,
    /// Commit calls that failed with `Conflict` (a failed assertion not included).
    pub read_set_conflicts: u64,
    /// `conflict_rejections` over all commit calls.
    pub conflict_rate: f64,
    /// A commit call, end to end (queueing, the write, the durable wait).
    pub avg_commit_latency_micros: u64,
    /// Write transactions run, and their average time (waiting for the
    /// writer lock, the commit and its durable wait included).
    pub coordinator_apply_attempts: u64,
    /// Average time of those write transactions, in microseconds.
    pub avg_coordinator_apply_micros: u64,
    /// WAL appends since open.
    pub wal_append_ops: u64,
    /// Bytes appended to the WAL since open.
    pub wal_append_bytes: u64,
    /// Average time of a WAL append, in microseconds.
    pub avg_wal_append_micros: u64,
    /// WAL syncs (one covers every commit appended before it: group commit).
    pub wal_sync_ops: u64,
    /// Average time of a WAL sync, in microseconds.
    pub avg_wal_sync_micros: u64,
    /// Always 0 (no pre-stage validation in this engine).
    pub prestage_validate_ops: u64,
    /// Always 0 (no pre-stage validation in this engine).
    pub avg_prestage_validate_micros: u64,
    /// Always 0 (no epochs in this engine).
    pub epoch_process_ops: u64,
    /// Always 0 (no epochs in this engine).
    pub avg_epoch_process_micros: u64,
    /// Always 0 (no epochs in this engine).
    pub group_commit_filling_epochs: u64,
    /// Always 0 (no epochs in this engine).
    pub group_commit_flushing_epochs: u64,
    /// Always 0 (no epochs in this engine).
    pub group_commit_complete_epochs: u64,
    /// Always 0 (no group-commit flush reasons in this engine).
    pub group_commit_flush_reason_max_group_size: u64,
    /// Always 0 (no group-commit flush reasons in this engine).
    pub group_commit_flush_reason_max_group_delay: u64,
    /// Always 0 (no group-commit flush reasons in this engine).
    pub group_commit_flush_reason_ingress_drained: u64,
    /// Always 0 (no group-commit flush reasons in this engine).
    pub group_commit_flush_reason_structural_barrier: u64,
    /// `Durable` commits' waits for a covering sync.
    pub durable_wait_ops: u64,
    /// Average time of such a wait, in microseconds.
    pub avg_durable_wait_micros: u64,
    /// Commits holding an in-flight slot now.
    pub inflight_commits: usize,
    /// Commit calls waiting for a slot now.
    pub queue_depth: usize,
    /// Commits visible but not yet durable.
    pub durable_head_lag: u64,
    /// The seq of the latest commit readers can see.
    pub visible_head_seq: u64,
    /// The seq up to which every commit is durable (survives a crash).
    pub durable_head_seq: u64,
    /// The same as `visible_head_seq`.
    pub current_seq: u64,
    /// How long the latest snapshot has been the latest (time since the last
    /// commit was published).
    pub snapshot_age_micros: u64,
    /// How long the open took, recovery included, and the seq it recovered to.
    pub startup_recovery_micros: u64,
    /// The seq the open recovered to.
    pub startup_recovered_seq: u64,
    /// Beyond 0.1.9: the checkpointed seq, checkpoints since open and their
    /// times.
    pub checkpoint_seq: u64,
    /// Checkpoints since open.
    pub checkpoints_total: u64,
    /// Average time of a checkpoint, in microseconds.
    pub avg_checkpoint_micros: u64,
    /// How long the last checkpoint took, in microseconds (0 before the first).
    pub last_checkpoint_micros: u64,
    /// WAL bytes and page bytes written since the last checkpoint: what the
    /// next open after a crash would replay, and the next checkpoint sync.
    pub wal_bytes_since_checkpoint: u64,
    /// Bytes of the pages written since the last checkpoint.
    pub dirty_bytes_since_checkpoint: u64,
    /// The page file's size (its high-water mark) and how much of it is free
    /// or waiting for readers to release it.
    pub page_file_bytes: u64,
    /// Bytes of the page file that are free, including pages held for old snapshots.
    pub free_page_bytes: u64,
    /// What old snapshots pin: pages retired but kept for them (or until two
    /// checkpoints pass), the oldest snapshot held — by a reader or by the
    /// `AtSeq` retention window (`snapshot_retention_commits`) — how many
    /// commits behind the head it is, and how many holds there are.
    pub pinned_page_bytes: u64,
    /// The oldest snapshot held; `None` when none is.
    pub oldest_snapshot_seq: Option<u64>,
    /// Commits between that snapshot and the visible head (0 when none is held).
    pub oldest_snapshot_lag_commits: u64,
    /// Snapshot holds now, by readers and by the retention window.
    pub snapshot_holds: u64,
}

fn avg(total_nanos_or_micros: u64, count: u64) -> u64 {
    total_nanos_or_micros.checked_div(count).unwrap_or(0)
}

impl CommitCounters {
    /// The metrics from these counters, the engine's and the heads.
    pub(crate) fn metrics(&self, e: &EngineStats, h: &Heads) -> OperationalMetrics {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (commits, errors) = (get(&self.commits), get(&self.errors));
        let conflicts = get(&self.conflicts);
        let calls = commits + errors;
        let ps = u64::from(e.page_size);
        OperationalMetrics {
            commits_total: commits,
            commit_errors: errors,
            permission_rejections: get(&self.permission),
            validation_rejections: get(&self.validation),
            queue_full_rejections: 0,
            timeout_rejections: get(&self.timeouts),
            conflict_rejections: conflicts,
            read_set_conflicts: get(&self.read_set_conflicts),
            conflict_rate: if calls == 0 {
                0.0
            } else {
                conflicts as f64 / calls as f64
            },
            avg_commit_latency_micros: avg(get(&self.latency_micros), calls),
            coordinator_apply_attempts: get(&self.applies),
            avg_coordinator_apply_micros: avg(get(&self.apply_micros), get(&self.applies)),
            wal_append_ops: e.wal_appends,
            wal_append_bytes: e.wal_append_bytes,
            avg_wal_append_micros: avg(e.wal_append_nanos, e.wal_appends) / 1_000,
            wal_sync_ops: e.wal_syncs,
            avg_wal_sync_micros: avg(e.wal_sync_nanos, e.wal_syncs) / 1_000,
            durable_wait_ops: e.durable_waits,
            avg_durable_wait_micros: avg(e.durable_wait_nanos, e.durable_waits) / 1_000,
            inflight_commits: h.inflight,
            queue_depth: self.queued.load(Ordering::Relaxed),
            durable_head_lag: h.visible.saturating_sub(h.durable),
            visible_head_seq: h.visible,
            durable_head_seq: h.durable,
            current_seq: h.visible,
            snapshot_age_micros: e.nanos_since_last_commit / 1_000,
            startup_recovery_micros: e.open_nanos / 1_000,
            startup_recovered_seq: h.recovered_seq,
            checkpoint_seq: h.checkpoint,
            checkpoints_total: e.checkpoints,
            avg_checkpoint_micros: avg(e.checkpoint_nanos, e.checkpoints) / 1_000,
            last_checkpoint_micros: e.last_checkpoint_nanos / 1_000,
            wal_bytes_since_checkpoint: e.wal_bytes_since_checkpoint,
            dirty_bytes_since_checkpoint: e.pages_since_checkpoint * ps,
            page_file_bytes: e.page_count * ps,
            free_page_bytes: e.free_pages * ps,
            pinned_page_bytes: e.pending_pages * ps,
            oldest_snapshot_seq: e.oldest_reader_seq,
            oldest_snapshot_lag_commits: e
                .oldest_reader_seq
                .map_or(0, |s| h.visible.saturating_sub(s)),
            snapshot_holds: e.readers,
            ..OperationalMetrics::default()
        }
    }
}
