//! `aedb pages dump`: the page file as it is on disk.

use std::io::Write;
use std::path::Path;

use aedb_btree::node::{self, RawNode};
use aedb_pager::inspect::{Inspector, open_inspector};
use aedb_pager::vfs::Vfs;
use aedb_pager::{Key, Meta, PageKind};

/// Whether the dump found damage.
pub enum Verdict {
    Clean,
    Damaged,
}

fn kind_name(kind: PageKind) -> &'static str {
    match kind {
        PageKind::FREE_LIST => "free-list",
        node::LEAF => "leaf",
        node::BRANCH => "branch",
        node::OVERFLOW => "overflow",
        _ => "",
    }
}

/// Bytes as escaped ASCII, cut after 24 bytes.
pub fn show_bytes(b: &[u8]) -> String {
    let shown: String = b
        .iter()
        .take(24)
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect();
    if b.len() > 24 {
        format!("\"{shown}\"…({} bytes)", b.len())
    } else {
        format!("\"{shown}\"")
    }
}

/// One line (or, with `entries`, several) decoding a tree page's contents.
fn decode(bytes: &[u8], entries: bool) -> Vec<String> {
    let kind = PageKind(bytes[aedb_pager::format::page::KIND_AT]);
    if kind == node::OVERFLOW {
        let next = aedb_pager::format::read_u64(bytes, aedb_pager::PAGE_HEADER_LEN);
        let n = aedb_pager::format::read_u32(bytes, aedb_pager::PAGE_HEADER_LEN + 8);
        return vec![format!(
            "overflow: {n} value bytes, next page {}",
            if next == 0 {
                "none".to_string()
            } else {
                next.to_string()
            }
        )];
    }
    if kind != node::LEAF && kind != node::BRANCH {
        return Vec::new();
    }
    let node = match RawNode::parse(bytes) {
        Ok(n) => n,
        Err(f) => {
            return vec![format!(
                "UNDECODABLE: rule {}: expected {}, found {}",
                f.rule, f.expected, f.found
            )];
        }
    };
    let mut out = Vec::new();
    let first = if node.leaf { 0 } else { 1 };
    let key = |i: usize| {
        node.key(i)
            .map(show_bytes)
            .unwrap_or_else(|f| format!("<rule {}>", f.rule))
    };
    let range = if node.len() > first {
        format!("keys {} .. {}", key(first), key(node.len() - 1))
    } else {
        "no keys".to_string()
    };
    if node.leaf {
        out.push(format!("leaf: {} entries, {range}", node.len()));
    } else {
        let total: u64 = (0..node.len())
            .filter_map(|i| node.child(i).ok())
            .map(|c| c.count)
            .sum();
        out.push(format!(
            "branch: {} children, {total} entries below, separators {range}",
            node.len()
        ));
    }
    if let Err(f) = node.validate() {
        out.push(format!(
            "INVALID: rule {}: expected {}, found {}",
            f.rule, f.expected, f.found
        ));
    }
    if entries {
        for i in 0..node.len() {
            let line = if node.leaf {
                match node.value(i) {
                    Ok(node::StoredValue::Inline { start, end }) => {
                        format!("  {} = {}", key(i), show_bytes(&bytes[start..end]))
                    }
                    Ok(node::StoredValue::Overflow {
                        first,
                        len,
                        generation,
                    }) => format!(
                        "  {} = overflow page {first} ({len} bytes, generation {generation})",
                        key(i)
                    ),
                    Err(f) => format!("  {} = <rule {}>", key(i), f.rule),
                }
            } else {
                match node.child(i) {
                    Ok(c) => format!(
                        "  {} -> page {} (generation {}, {} entries)",
                        if i == 0 {
                            "(first)".to_string()
                        } else {
                            key(i)
                        },
                        c.page,
                        c.generation,
                        c.count
                    ),
                    Err(f) => format!("  <rule {}>", f.rule),
                }
            };
            out.push(line);
        }
    }
    out
}

fn describe_meta(m: &Meta) -> String {
    let root = m.root.map_or("none".to_string(), |r| {
        format!("page {r} (generation {})", m.root_generation)
    });
    let free = m.free_list_head.map_or("none".to_string(), |h| {
        format!("page {h} ({} runs)", m.free_list_runs)
    });
    format!(
        "generation {}, checkpoint seq {}, root {root}, free list {free}, page count {}, page size {}, {}, WAL hash {}",
        m.generation,
        m.checkpoint_seq,
        m.page_count,
        m.page_size,
        if m.keyed {
            "keyed (HMAC-SHA256)"
        } else {
            "unkeyed"
        },
        m.wal_chain_hash
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            + "…"
    )
}

/// Writes the dump of `dir` to `out`.
/// Pages are read and printed one at a time (review F20: a copy of every page in
/// memory ran large databases out of RAM).
pub fn dump(
    vfs: &dyn Vfs,
    dir: &Path,
    key: Option<&Key>,
    entries: bool,
    out: &mut dyn Write,
) -> Result<Verdict, Box<dyn std::error::Error>> {
    let ins: Inspector = open_inspector(vfs, dir, key)?;
    let mut damaged = false;
    writeln!(
        out,
        "file {} : {} bytes, page size {}",
        dir.join(aedb_pager::DATA_FILE_NAME).display(),
        ins.file_len,
        ins.page_size
    )?;
    for slot in &ins.metas.slots {
        let current = if ins.metas.current == Some(slot.slot) {
            "  <- current"
        } else {
            ""
        };
        match &slot.result {
            Ok(m) => writeln!(
                out,
                "meta slot {} (page {}): {}{current}",
                slot.slot,
                slot.slot,
                describe_meta(m)
            )?,
            Err(d) => {
                damaged = true;
                writeln!(
                    out,
                    "meta slot {} (page {}): INVALID at offset {}: rule {}: expected {}, found {}",
                    slot.slot, slot.slot, d.offset, d.rule, d.expected, d.found
                )?;
            }
        }
    }
    writeln!(out, "current meta: {}", ins.metas.why)?;
    if ins.metas.current.is_none() {
        damaged = true;
    }
    let page_count = ins
        .metas
        .current
        .and_then(|s| ins.metas.slots[s as usize].result.as_ref().ok())
        .map(|m| m.page_count);
    writeln!(
        out,
        "{:>10}  {:<12} {:>10} {:>20}  {:<10}  status",
        "page", "kind", "generation", "owner", "crc32c"
    )?;
    let (mut ok, mut bad, mut zero, mut total) = (0u64, 0u64, 0u64, 0u64);
    for p in ins.pages() {
        let p = p?;
        total += 1;
        let beyond = page_count.is_some_and(|n| p.id.0 >= n);
        let status = if p.zeroed {
            zero += 1;
            "zero (never written)".to_string()
        } else if let Some(f) = &p.fault {
            if beyond {
                // Past the meta's page count: leftovers of an uncommitted generation.
                format!("unreferenced tail, fails rule {}", f.rule)
            } else {
                bad += 1;
                format!(
                    "FAILED rule {}: expected {}, found {}",
                    f.rule, f.expected, f.found
                )
            }
        } else {
            ok += 1;
            if beyond {
                "ok (past the page count: uncommitted)".to_string()
            } else {
                "ok".to_string()
            }
        };
        let kind = format!("{} {}", p.header.kind.0, kind_name(p.header.kind));
        writeln!(
            out,
            "{:>10}  {:<12} {:>10} {:>20}  {:#010x}  {status}",
            p.id.0,
            kind.trim_end(),
            p.header.generation,
            p.header.owner,
            p.stored_crc
        )?;
        if p.fault.is_none() && !p.zeroed {
            for line in decode(&p.bytes, entries) {
                writeln!(out, "{:>10}  {line}", "")?;
            }
        }
    }
    writeln!(
        out,
        "{total} pages: {ok} verified, {bad} failed, {zero} zero"
    )?;
    damaged |= bad > 0;
    Ok(if damaged {
        Verdict::Damaged
    } else {
        Verdict::Clean
    })
}
