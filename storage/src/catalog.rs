//! The root directory: the tree that names every other tree. Key: the tree name;
//! value: tree id u64 ‖ root page u64 ‖ root generation u64 ‖ entry count u64 (root
//! page 0: empty tree). The key `"\0next"` holds the next tree id (FORMAT.md, rule C*).
#![forbid(unsafe_code)]

use aedb_btree::{PageSource, Tree, TreeRoot};
use aedb_pager::PageId;
use aedb_pager::format::read_u64;

use crate::error::{Result, StorageError};

/// Owner id of the root directory's own pages.
pub const ROOT_DIR_OWNER: u64 = 0;
pub const NEXT_ID_KEY: &[u8] = b"\0next";

/// A tree's entry in the root directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeEntry {
    pub id: u64,
    pub root: Option<TreeRoot>,
}

impl TreeEntry {
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&self.id.to_le_bytes());
        if let Some(r) = self.root {
            b[8..16].copy_from_slice(&r.page.0.to_le_bytes());
            b[16..24].copy_from_slice(&r.generation.to_le_bytes());
            b[24..32].copy_from_slice(&r.count.to_le_bytes());
        }
        b
    }

    pub fn decode(name: &[u8], b: &[u8]) -> Result<TreeEntry> {
        let bad = || {
            StorageError::Pager(aedb_pager::PagerError::corruption(
                "root directory",
                None,
                0,
                "C1",
                "a 32-byte tree entry",
                format!(
                    "{} bytes for tree {:?}",
                    b.len(),
                    String::from_utf8_lossy(name)
                ),
            ))
        };
        if b.len() != 32 {
            return Err(bad());
        }
        let u = |at: usize| read_u64(b, at);
        let (id, page, generation, count) = (u(0), u(8), u(16), u(24));
        if id == ROOT_DIR_OWNER {
            return Err(bad());
        }
        let root = (page != 0).then_some(TreeRoot {
            page: PageId(page),
            generation,
            count,
        });
        Ok(TreeEntry { id, root })
    }
}

/// Rule: names are 1..=255 bytes and do not start with NUL (reserved keys do).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.as_bytes()[0] == 0 {
        return Err(StorageError::InvalidTreeName(name.to_string()));
    }
    Ok(())
}

/// The (name, encoded entry) pairs of every tree in a root directory, skipping the
/// reserved keys (which start with NUL).
pub fn tree_entries<S: PageSource>(dir: &Tree<'_, S>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for e in dir.iter()? {
        let (k, v) = e?;
        if k.first() != Some(&0) {
            out.push((k.into_owned(), v.into_owned()));
        }
    }
    Ok(out)
}
