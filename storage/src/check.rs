//! Whole-database check: the tree checker on the root directory and every tree,
//! plus exact page accounting (every page below the page count is reachable exactly
//! once or free). Used by tests, fuzz targets and tools.
#![forbid(unsafe_code)]

use aedb_btree::check;

use crate::database::Database;
use crate::error::Result;

/// What [`Database::check`] found.
#[derive(Debug, Clone, Default)]
pub struct DatabaseCheck {
    /// Named trees checked (the root directory is not counted).
    pub trees: usize,
    /// Entries summed over the named trees.
    pub entries: u64,
    /// Pages (nodes and overflow pages) reached from the root directory and
    /// every tree; a page reached twice counts twice and is also a problem.
    pub pages_reachable: usize,
    /// Free pages plus the pages holding the free list itself.
    pub pages_free: usize,
    /// One line per broken invariant; empty when the database is sound.
    pub problems: Vec<String>,
}

impl DatabaseCheck {
    /// Whether nothing was found: every tree verifies and every page below the
    /// page count is reached exactly once or free.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Database {
    /// Checks every tree and the page accounting of the latest snapshot.
    pub fn check(&self) -> Result<DatabaseCheck> {
        let mut out = DatabaseCheck::default();
        let view = self.pager().view()?;
        let dir = check(&view, self.root_directory(), crate::catalog::ROOT_DIR_OWNER);
        out.problems
            .extend(dir.problems.iter().map(|p| format!("root directory: {p}")));
        let mut reachable = dir.pages;
        for (name, id, root) in self.tree_roots()? {
            let report = check(&view, root, id);
            out.problems
                .extend(report.problems.iter().map(|p| format!("tree {name}: {p}")));
            out.entries += report.entries;
            out.trees += 1;
            reachable.extend(report.pages);
        }
        let pager = self.pager();
        out.pages_reachable = reachable.len();
        out.pages_free = pager.free_pages().len() + pager.free_list_pages().len();
        out.problems.extend(pager.account(reachable));
        Ok(out)
    }
}
