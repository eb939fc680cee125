//! The tree checker: an ordinary function that walks a tree and reports every
//! broken invariant it finds instead of panicking. Used by tests, fuzz targets and
//! the CLI.
//!
//! It verifies: checksums and page headers (through the page source), page kinds,
//! each node's layout (N*, L*, B*), strictly ascending keys, separator fences (every
//! key of child i lies in [separator i, separator i+1)), uniform leaf depth, subtree
//! counts, overflow chains (O*), and that no page is reachable twice.
#![forbid(unsafe_code)]

use aedb_pager::{Expect, PageId, PageIdSet};

use crate::node::{ChildRef, RawNode, StoredValue};
use crate::overflow;
use crate::read::TreeRoot;
use crate::source::PageSource;

/// What the checker found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Every page the tree reaches (nodes and overflow pages).
    pub pages: Vec<PageId>,
    /// Entries in the leaves that passed their checks (compare with the root's
    /// count).
    pub entries: u64,
    /// Leaf pages that passed their checks.
    pub leaves: u64,
    /// Branch pages that passed their checks.
    pub branches: u64,
    /// Overflow pages in chains that read back whole.
    pub overflow_pages: u64,
    /// Leaf depth (1 for a root leaf; 0 for an empty tree).
    pub depth: u32,
    /// One line per broken invariant, naming the page.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when the walk found no broken invariant (`problems` is empty).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Walker<'a, S: PageSource> {
    src: &'a S,
    owner: u64,
    seen: PageIdSet,
    leaf_depth: Option<u32>,
    report: CheckReport,
}

/// Checks the tree at `root` whose pages carry `owner`.
pub fn check<S: PageSource>(src: &S, root: Option<TreeRoot>, owner: u64) -> CheckReport {
    let mut w = Walker {
        src,
        owner,
        seen: PageIdSet::default(),
        leaf_depth: None,
        report: CheckReport::default(),
    };
    if let Some(root) = root {
        let child = ChildRef {
            page: root.page.0,
            generation: root.generation,
            count: root.count,
        };
        if let Some(n) = w.walk(child, None, None, 1) {
            if n != root.count {
                w.report.problems.push(format!(
                    "root page {}: tree holds {n} entries, root records {}",
                    root.page.0, root.count
                ));
            }
        }
    }
    w.report.depth = w.leaf_depth.unwrap_or(0);
    w.report
}

impl<S: PageSource> Walker<'_, S> {
    fn problem(&mut self, page: u64, what: impl std::fmt::Display) {
        self.report.problems.push(format!("page {page}: {what}"));
    }

    fn visit(&mut self, page: u64) -> bool {
        if !self.seen.insert(page) {
            self.problem(page, "reachable twice");
            return false;
        }
        self.report.pages.push(PageId(page));
        true
    }

    /// Returns the subtree's entry count, or None if it could not be read.
    fn walk(
        &mut self,
        child: ChildRef,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        depth: u32,
    ) -> Option<u64> {
        if depth as usize > crate::MAX_DEPTH {
            self.problem(child.page, "deeper than the depth limit (a cycle?)");
            return None;
        }
        if !self.visit(child.page) {
            return None;
        }
        let expect = Expect {
            kind: None,
            generation: (child.generation != 0).then_some(child.generation),
            owner: Some(self.owner),
        };
        let page = match self.src.page(PageId(child.page), expect) {
            Ok(p) => p,
            Err(e) => {
                self.problem(child.page, e);
                return None;
            }
        };
        let node = match RawNode::parse(page.bytes()).and_then(|n| n.validate().map(|()| n)) {
            Ok(n) => n,
            Err(f) => {
                self.problem(
                    child.page,
                    format!(
                        "rule {}: expected {}, found {}",
                        f.rule, f.expected, f.found
                    ),
                );
                return None;
            }
        };
        // validate() succeeded, so every key and value below decodes.
        let first = node.key(if node.leaf { 0 } else { 1 }).ok();
        let last = node.key(node.len().saturating_sub(1)).ok();
        if let (Some(lo), Some(first)) =
            (lo, first.filter(|_| node.len() > usize::from(!node.leaf)))
        {
            if first < lo {
                self.problem(child.page, "a key below its separator (rule T2)");
            }
        }
        if let (Some(hi), Some(last)) = (hi, last.filter(|_| node.len() > usize::from(!node.leaf)))
        {
            if last >= hi {
                self.problem(child.page, "a key at or above the next separator (rule T2)");
            }
        }
        let count = if node.leaf {
            match self.leaf_depth {
                None => self.leaf_depth = Some(depth),
                Some(d) if d != depth => self.problem(
                    child.page,
                    format!("leaf at depth {depth}, others at {d} (rule T1)"),
                ),
                Some(_) => {}
            }
            self.report.leaves += 1;
            for i in 0..node.len() {
                if let Ok(StoredValue::Overflow {
                    first,
                    len,
                    generation,
                }) = node.value(i)
                {
                    self.check_overflow(child.page, first, len, generation);
                }
            }
            self.report.entries += node.len() as u64;
            node.len() as u64
        } else {
            self.report.branches += 1;
            let mut total = 0u64;
            for i in 0..node.len() {
                let (Ok(c), Ok(sep)) = (node.child(i), node.key(i)) else {
                    return None;
                };
                let lo_i = if i == 0 { lo } else { Some(sep) };
                let hi_i = if i + 1 < node.len() {
                    node.key(i + 1).ok()
                } else {
                    hi
                };
                if let Some(n) = self.walk(c, lo_i, hi_i, depth + 1) {
                    if n != c.count {
                        self.problem(
                            child.page,
                            format!(
                                "child {} holds {n} entries, its entry records {} (rule B3)",
                                c.page, c.count
                            ),
                        );
                    }
                }
                // Damaged counts may not fit; B3 above already reports them.
                total = total.saturating_add(c.count);
            }
            total
        };
        Some(count)
    }

    fn check_overflow(&mut self, leaf: u64, first: u64, len: u64, generation: u64) {
        match overflow::pages(self.src, self.owner, first, len, generation) {
            Ok(ids) => {
                for id in ids {
                    if self.visit(id) {
                        self.report.overflow_pages += 1;
                    }
                }
            }
            Err(e) => self.problem(leaf, format!("overflow chain at page {first}: {e}")),
        }
    }
}
