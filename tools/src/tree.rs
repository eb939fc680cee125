//! `aedb pages tree`: the shape of one B+tree, and the checker's verdict on it.

use std::io::Write;
use std::path::Path;

use aedb_btree::node::RawNode;
use aedb_btree::{TreeRoot, check};
use aedb_pager::vfs::Vfs;
use aedb_pager::{Expect, Key, PageId, Pager, PagerOptions, ReadView};

use crate::pages::{Verdict, show_bytes};

fn walk(
    view: &ReadView,
    id: u64,
    owner: u64,
    depth: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let indent = "  ".repeat(depth);
    if depth > aedb_btree::MAX_DEPTH {
        return writeln!(
            out,
            "{indent}page {id}: deeper than {} levels, stopping",
            aedb_btree::MAX_DEPTH
        );
    }
    let page = match view.page_expect(
        PageId(id),
        Expect {
            owner: Some(owner),
            ..Expect::default()
        },
    ) {
        Ok(p) => p,
        Err(e) => return writeln!(out, "{indent}page {id}: {e}"),
    };
    let node = match RawNode::parse(page.bytes()) {
        Ok(n) => n,
        Err(f) => {
            return writeln!(
                out,
                "{indent}page {id}: not a tree node (rule {}: expected {}, found {})",
                f.rule, f.expected, f.found
            );
        }
    };
    let key = |i: usize| {
        node.key(i)
            .map(show_bytes)
            .unwrap_or_else(|f| format!("<rule {}>", f.rule))
    };
    if node.leaf {
        let range = if node.is_empty() {
            "empty".to_string()
        } else {
            format!("{} .. {}", key(0), key(node.len() - 1))
        };
        return writeln!(
            out,
            "{indent}leaf {id} (generation {}): {} entries, {range}",
            page.generation(),
            node.len()
        );
    }
    writeln!(
        out,
        "{indent}branch {id} (generation {}): {} children",
        page.generation(),
        node.len()
    )?;
    for i in 0..node.len() {
        match node.child(i) {
            Ok(c) => {
                if i > 0 {
                    writeln!(out, "{indent}  -- separator {}", key(i))?;
                }
                walk(view, c.page, owner, depth + 1, out)?;
            }
            Err(f) => writeln!(out, "{indent}  child {i}: rule {}", f.rule)?,
        }
    }
    Ok(())
}

/// Prints the tree rooted at `root` and checks it.
pub fn print(
    vfs: &dyn Vfs,
    dir: &Path,
    root: u64,
    key: Option<&Key>,
    out: &mut dyn Write,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let key = key.cloned();
    let options = PagerOptions {
        read_only: true,
        key,
        ..PagerOptions::default()
    };
    let (pager, _) = Pager::open(vfs, dir, options)?;
    let view = pager.view()?;
    let head = view.page(PageId(root))?;
    let (owner, generation) = (head.owner(), head.generation());
    // The root's entry count is not stored in the page: sum it from the root node.
    let count = match RawNode::parse(head.bytes()) {
        Ok(n) if n.leaf => n.len() as u64,
        Ok(n) => (0..n.len())
            .filter_map(|i| n.child(i).ok())
            .map(|c| c.count)
            .sum(),
        Err(f) => {
            return Err(format!(
                "page {root} is not a tree node (rule {}: expected {}, found {})",
                f.rule, f.expected, f.found
            )
            .into());
        }
    };
    drop(head);
    writeln!(
        out,
        "tree rooted at page {root}: owner (tree id) {owner}, {count} entries"
    )?;
    walk(&view, root, owner, 0, out)?;
    let report = check(
        &view,
        Some(TreeRoot {
            page: PageId(root),
            generation,
            count,
        }),
        owner,
    );
    writeln!(
        out,
        "check: {} pages ({} branches, {} leaves, {} overflow), depth {}, {} entries: {}",
        report.pages.len(),
        report.branches,
        report.leaves,
        report.overflow_pages,
        report.depth,
        report.entries,
        if report.is_ok() {
            "ok".to_string()
        } else {
            format!("{} problems", report.problems.len())
        }
    )?;
    for p in &report.problems {
        writeln!(out, "  {p}")?;
    }
    Ok(if report.is_ok() {
        Verdict::Clean
    } else {
        Verdict::Damaged
    })
}
