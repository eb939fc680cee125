//! `check_invariants`: the whole-database check an operator runs (the `aedb
//! check invariants` command): the engine's tree checker and exact page
//! accounting, the catalog against the trees (every table and index has its
//! tree, no tree of a dropped object is left), and every table against its
//! indexes (each index equals a rebuild from the rows).

use std::collections::BTreeSet;

use crate::auth::{Call, authorize};
use crate::catalog::{accumulator_tree, index_tree, kv_tree};
use crate::error::AedbError;
use crate::instance::{AedbInstance, engine};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;
use crate::table::check::check_table;

/// What `check_invariants` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvariantReport {
    /// The snapshot checked.
    pub seq: u64,
    /// Named trees the storage checker walked.
    pub trees: usize,
    /// Tables checked against their indexes.
    pub tables: usize,
    /// Rows in those tables.
    pub rows: u64,
    /// Entries in their index trees, unique-constraint indexes included.
    pub index_entries: u64,
    /// Pages reached from the root directory and every tree.
    pub pages_reachable: usize,
    /// Free pages, plus the pages that hold the free list.
    pub pages_free: usize,
    /// One line per broken invariant; empty when the database is sound.
    pub problems: Vec<String>,
}

impl InvariantReport {
    /// True when no invariant is broken (`problems` is empty).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Whether `name` is a facade object's tree (`t<id>`, `i<id>`, `k<id>`,
/// `a<id>`), which the catalog must name.
fn object_tree(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('t' | 'i' | 'k' | 'a'))
        && !chars.as_str().is_empty()
        && chars.all(|c| c.is_ascii_digit())
}

impl AedbInstance {
    /// Checks the latest snapshot end to end (needs the right to administer
    /// the database). Reads every page of every table: minutes for large
    /// databases, never a write.
    pub async fn check_invariants(&self) -> Result<InvariantReport, AedbError> {
        self.check_for(self.call("check_invariants", None)).await
    }

    /// `check_invariants` for `caller`, who needs the right to administer the
    /// database: the form a production or secure instance accepts.
    pub async fn check_invariants_as(
        &self,
        caller: CallerContext,
    ) -> Result<InvariantReport, AedbError> {
        self.check_for(self.call("check_invariants_as", Some(caller)))
            .await
    }

    async fn check_for(&self, call: Call<'static>) -> Result<InvariantReport, AedbError> {
        let (this, checker) = (self.clone(), call.clone());
        let r = tokio::task::spawn_blocking(move || {
            let txn = this.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            let cat = this.catalog_of(&txn)?;
            authorize(&cat, &checker, &Need::Global)?;
            let storage = this.storage().check()?;
            let mut report = InvariantReport {
                seq: txn.seq(),
                trees: storage.trees,
                pages_reachable: storage.pages_reachable,
                pages_free: storage.pages_free,
                problems: storage.problems,
                ..InvariantReport::default()
            };
            let mut named: BTreeSet<String> = BTreeSet::new();
            for t in cat.tables.values() {
                named.insert(t.rows_tree.clone());
                named.extend(t.record.indexes.iter().map(|ix| index_tree(ix.id)));
                let counts = check_table(&txn, t, &mut report.problems)?;
                report.tables += 1;
                report.rows += counts.rows;
                report.index_entries += counts.index_entries;
            }
            // KV and accumulator trees are made by their first write.
            named.extend(cat.scopes.values().map(|s| kv_tree(s.id)));
            named.extend(cat.accumulators.values().map(|a| accumulator_tree(a.id)));
            for tree in txn.list_trees()? {
                if object_tree(&tree) && !named.contains(&tree) {
                    report
                        .problems
                        .push(format!("tree {tree:?} belongs to nothing in the catalog"));
                }
            }
            Ok::<_, AedbError>(report)
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("check task failed: {e}"),
        })?;
        self.audited(&call, r).await
    }
}
