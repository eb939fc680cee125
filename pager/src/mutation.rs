//! Planted bugs for the harness self-test (RELIABILITY G13). With the
//! `mutation-testing` feature off (always, outside that self-test) `active` is a
//! constant `false` and every planted branch compiles away.
#![forbid(unsafe_code)]

/// The planted bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutation {
    /// Pager: skip the fdatasync between the pages and the meta write.
    SkipSyncBeforeMeta = 1,
    /// WAL: skip the directory sync after creating a segment.
    SkipDirSyncAfterSegmentCreate = 2,
    /// WAL: accept a frame whose crc does not match.
    AcceptBadCrc = 3,
    /// Allocator: reuse a page before a checkpoint that no longer reaches it is
    /// durable (ignore the two-meta wait).
    ReuseBeforeCheckpoint = 4,
    /// Engine: retry a failed sync instead of poisoning.
    RetryFailedSync = 5,
    /// WAL recovery: treat a bad segment header as a torn creation even when
    /// frames follow it (review F1; FORMAT S4).
    TornHeaderWithFrames = 6,
    /// WAL recovery: cut a damaged frame as a torn tail even when crc-valid frames
    /// follow it, as long as none vouches for it (review F5; FORMAT W10).
    TruncateDamageBeforeValidFrames = 7,
    /// Commit coalescing: answer a `Durable` submitter at its publish, before
    /// the sync covers it.
    AnswerDurableBeforeSync = 8,
}

#[cfg(feature = "mutation-testing")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether `m` is planted right now.
#[inline(always)]
pub fn active(m: Mutation) -> bool {
    #[cfg(feature = "mutation-testing")]
    {
        ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == m as u8
    }
    #[cfg(not(feature = "mutation-testing"))]
    {
        let _ = m;
        false
    }
}

/// Plants `m` (or removes every planted bug with `None`).
#[cfg(feature = "mutation-testing")]
pub fn plant(m: Option<Mutation>) {
    ACTIVE.store(
        m.map_or(0, |m| m as u8),
        std::sync::atomic::Ordering::Relaxed,
    );
}
