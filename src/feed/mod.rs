//! The commit change feed (beyond 0.1.9): every committed change to a table
//! row or a KV key, in commit order, as data in the page file.
//!
//! When `AedbConfig::change_feed_retain_commits` is set, each commit appends
//! its net changes (one record per key it changed: the value before the
//! commit and after it) to the system tree `_changes`, in the same
//! transaction, keyed by seq. A subscriber reads that tree on the latest
//! snapshot, so it never holds up a commit and a slow one loses nothing: it
//! resumes from the tree. Records older than the last `retain` commits are
//! pruned a few per commit; `_changes_floor` says from which seq on the log is
//! complete, and subscribing from before it fails with `ChangeFeedExpired`.
//!
//! Invariant: a record says what changed in user terms (project, scope,
//! table and primary key or KV key, old and new row or value), decoded when
//! it is written, so reading it never needs the catalog of its seq.

pub(crate) mod log;

use serde::{Deserialize, Serialize};

use crate::kv::KvEntry;
use crate::vocab::types::{Row, Value};

/// What a change is to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChangeTarget {
    /// A table row.
    Row {
        /// The table's name in the change's scope.
        table_name: String,
        /// The row's primary key values, in key-column order.
        primary_key: Vec<Value>,
    },
    /// A KV key.
    Kv {
        /// The key in the scope's KV space.
        key: Vec<u8>,
    },
}

/// A row or a KV entry, before or after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChangeValue {
    /// The whole row, decoded when the change was written.
    Row(Row),
    /// The KV value with its version and creation seq.
    Kv(KvEntry),
}

/// One committed change: `old` is `None` for an insert, `new` for a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedChange {
    /// The commit that made the change.
    pub seq: u64,
    /// The project of the changed scope.
    pub project_id: String,
    /// The scope the change is in.
    pub scope_id: String,
    /// The row or KV key that changed.
    pub target: ChangeTarget,
    /// The value before the commit; `None` when the commit created it.
    pub old: Option<ChangeValue>,
    /// The value after the commit; `None` when the commit deleted it.
    pub new: Option<ChangeValue>,
}

/// Which changes a subscriber wants; the default wants all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only this project's changes.
    pub project_id: Option<String>,
    /// Only this scope's (of any project, or of `project_id`).
    pub scope_id: Option<String>,
    /// Only rows of these tables (`None`: every table; empty: no table).
    pub tables: Option<Vec<String>>,
    /// Only KV keys starting with this prefix (`None`: every key; KV changes
    /// are left out entirely with `exclude_kv`).
    pub kv_prefix: Option<Vec<u8>>,
    /// Leave out KV changes.
    pub exclude_kv: bool,
}

impl ChangeFilter {
    /// Whether `c` passes the filter.
    pub fn admits(&self, c: &CommittedChange) -> bool {
        if self.project_id.as_ref().is_some_and(|p| *p != c.project_id)
            || self.scope_id.as_ref().is_some_and(|s| *s != c.scope_id)
        {
            return false;
        }
        match &c.target {
            ChangeTarget::Row { table_name, .. } => self
                .tables
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| t == table_name)),
            ChangeTarget::Kv { key } => {
                !self.exclude_kv && self.kv_prefix.as_ref().is_none_or(|p| key.starts_with(p))
            }
        }
    }
}
