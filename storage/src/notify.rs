//! Commit notifications: the one seam through which the engine tells the layers
//! above that commits became visible, durable, or checkpointed. Durability waits,
//! event streams, processors, the change feed and metrics all hang on it.
//!
//! Invariants:
//! 1. **The writer never waits for a subscriber.** Publishing stores three heads
//!    (visible, durable, checkpoint seq) under a short lock and wakes whoever
//!    waits; nothing is queued per subscriber, so a subscriber that never reads
//!    costs the writer nothing and cannot fall behind into lost events.
//! 2. **Every seq, in order.** Seqs are consecutive, so a subscriber that remembers
//!    the last seq it returned can hand out every `Visible(s)` and `Durable(s)` one
//!    by one, however far the heads moved while it was away (a lagging subscriber
//!    re-reads what it needs from the trees at those seqs). Checkpoints are not
//!    consecutive; a subscriber sees the newest one it has not seen.
//! 3. **Heads only move forward**, and durable ≤ visible: a seq is published as
//!    visible before any sync can cover it.
//!
//! Deliberately absent: payloads. A notification says "seq s is visible"; what the
//! commit wrote is read from a snapshot, which keeps this seam free of rows, and
//! free of memory that grows with a slow reader.
#![forbid(unsafe_code)]

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One step of the commit stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommitEvent {
    /// Commit `seq` is published to new readers.
    Visible(u64),
    /// Commit `seq` is on stable storage.
    Durable(u64),
    /// A checkpoint at `seq` is durable in the page file.
    Checkpoint(u64),
}

/// The three heads, as last published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitHeads {
    /// Highest seq published to new readers.
    pub visible: u64,
    /// Highest seq on stable storage; never above `visible`.
    pub durable: u64,
    /// Seq of the newest durable checkpoint (a large commit is one).
    pub checkpoint: u64,
    /// The engine stopped (poisoned, or closed): no head moves any more.
    pub stopped: bool,
}

/// The publisher side, owned by the engine.
#[derive(Debug)]
pub(crate) struct Notifier {
    heads: Mutex<CommitHeads>,
    /// Blocking subscribers.
    changed: Condvar,
    /// Async subscribers.
    notify: tokio::sync::Notify,
}

fn lock(m: &Mutex<CommitHeads>) -> MutexGuard<'_, CommitHeads> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Notifier {
    pub(crate) fn new(heads: CommitHeads) -> Notifier {
        Notifier {
            heads: Mutex::new(heads),
            changed: Condvar::new(),
            notify: tokio::sync::Notify::new(),
        }
    }

    fn publish(&self, f: impl FnOnce(&mut CommitHeads)) {
        f(&mut lock(&self.heads));
        // Both are cheap when nobody waits: an atomic check each.
        self.changed.notify_all();
        self.notify.notify_waiters();
    }

    pub(crate) fn visible(&self, seq: u64) {
        self.publish(|h| h.visible = h.visible.max(seq));
    }

    pub(crate) fn durable(&self, seq: u64) {
        self.publish(|h| h.durable = h.durable.max(seq));
    }

    pub(crate) fn checkpoint(&self, seq: u64) {
        self.publish(|h| h.checkpoint = h.checkpoint.max(seq));
    }

    pub(crate) fn stopped(&self) {
        self.publish(|h| h.stopped = true);
    }

    pub(crate) fn heads(&self) -> CommitHeads {
        *lock(&self.heads)
    }
}

/// A subscriber: yields every commit event after the heads it started from.
/// Cheap to hold; it keeps three numbers, not a queue.
#[derive(Debug)]
pub struct CommitSubscription {
    notifier: Arc<Notifier>,
    seen: CommitHeads,
}

impl CommitSubscription {
    /// A subscription that yields the events after `heads` (usually the current
    /// ones: only what happens from now on).
    pub(crate) fn new(notifier: Arc<Notifier>, heads: CommitHeads) -> CommitSubscription {
        CommitSubscription {
            notifier,
            seen: heads,
        }
    }

    /// The heads this subscriber has returned events up to.
    pub fn seen(&self) -> CommitHeads {
        self.seen
    }

    /// The next event if one is pending: visible seqs first (each in turn), then
    /// durable seqs, then a checkpoint.
    pub fn try_next(&mut self) -> Option<CommitEvent> {
        let now = self.notifier.heads();
        self.step(&now)
    }

    fn step(&mut self, now: &CommitHeads) -> Option<CommitEvent> {
        if self.seen.visible < now.visible {
            self.seen.visible += 1;
            return Some(CommitEvent::Visible(self.seen.visible));
        }
        if self.seen.durable < now.durable {
            self.seen.durable += 1;
            return Some(CommitEvent::Durable(self.seen.durable));
        }
        if self.seen.checkpoint < now.checkpoint {
            self.seen.checkpoint = now.checkpoint;
            return Some(CommitEvent::Checkpoint(now.checkpoint));
        }
        None
    }

    /// Waits (blocking the thread) up to `timeout` for the next event; `None` on
    /// timeout or once the engine stopped with nothing pending.
    pub fn next_blocking(&mut self, timeout: Duration) -> Option<CommitEvent> {
        let deadline = Instant::now() + timeout;
        let n = self.notifier.clone();
        let mut heads = lock(&n.heads);
        loop {
            if let Some(e) = self.step(&heads) {
                return Some(e);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if heads.stopped {
                return None;
            }
            heads = n
                .changed
                .wait_timeout(heads, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits for the next event; `None` once the engine stopped with nothing
    /// pending. Cancel-safe: dropping the future loses no event.
    pub async fn next(&mut self) -> Option<CommitEvent> {
        let n = self.notifier.clone();
        loop {
            // Register before looking, so a publish in between is not missed.
            let notified = n.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let now = n.heads();
            if let Some(e) = self.step(&now) {
                return Some(e);
            }
            if now.stopped {
                return None;
            }
            notified.await;
        }
    }

    /// Waits until commit `seq` is durable; false if the engine stopped first.
    /// Does not sync: someone else's sync (a `Durable` commit, the flusher, a
    /// checkpoint) must cover it.
    pub async fn durable_at_least(&self, seq: u64) -> bool {
        let n = &self.notifier;
        loop {
            let notified = n.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let now = n.heads();
            if now.durable >= seq {
                return true;
            }
            if now.stopped {
                return false;
            }
            notified.await;
        }
    }
}
