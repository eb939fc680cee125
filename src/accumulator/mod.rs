//! Accumulators: exactly-once additive state with an exposure circuit
//! breaker, as data in the page file (tree `a<id>`, FORMAT "Accumulators").
//!
//! A delta is identified by its dedupe key (a repeat within
//! `dedupe_retain_commits` is a no-op) and ordered by an order key that must
//! strictly increase. The materialized value is refreshed by the projector
//! every `snapshot_every` deltas; the effective value is the materialized
//! value plus the running total of the deltas not yet projected, both in the
//! state record, so it costs one read. Exposures reserve amounts against
//! `available` = effective value × (1 − margin) − open exposure; one that
//! would go below zero is refused. Open exposures expire after
//! `exposure_ttl_commits`.
//!
//! `state` is the records, `apply` the writes (inside a write transaction),
//! `read` the reads on a snapshot.
//!
//! Invariants:
//! 1. The state record's `pending` is the sum of the delta records not yet
//!    projected and `unapplied` their number; `total_exposure` and
//!    `open_exposures` are the sum and number of the exposure records. Every
//!    write changes a record and the state in the same transaction.
//! 2. A read at a snapshot is that snapshot's state: exposures past their TTL
//!    but not yet pruned by a write are left out by the read itself.

pub(crate) mod apply;
pub(crate) mod read;
pub(crate) mod state;

/// How far the materialized value trails the deltas (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorLag {
    /// The order key of the newest delta applied (0 before the first delta).
    pub latest_order_key: u64,
    /// The order key of the newest delta in the materialized value (0 before
    /// the first projection).
    pub last_applied_order_key: u64,
    /// Order keys between the last projected delta and the latest one.
    pub lag_orders: u64,
    /// Seq of the last delta.
    pub latest_seq: u64,
    /// Seq of the last projection.
    pub materialized_seq: u64,
    /// Commit seqs between the last projection and the last delta
    /// (`latest_seq - materialized_seq`, 0 when caught up).
    pub lag_commits: u64,
    /// Deltas not yet in the materialized value.
    pub unapplied_deltas: usize,
    /// Always `None` here: the projector runs inside the commits, so it
    /// cannot fail apart from them.
    pub projector_error: Option<String>,
}

/// The circuit breaker's state (0.1.9's shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorExposureMetrics {
    /// Sum of the open exposures, leaving out those past their TTL.
    pub total_exposure: i64,
    /// What a new exposure may still reserve: the effective value less the
    /// margin, less `total_exposure`. Can be negative.
    pub available: i64,
    /// Exposures refused since the accumulator was created.
    pub rejection_count: u64,
    /// Number of open exposures, leaving out those past their TTL.
    pub open_exposure_count: usize,
}
