//! Reading both meta slots and choosing the current one.
//!
//! Rules (FORMAT.md): each slot is decoded alone (M1–M7, M11); a keyed database needs
//! its key (M8); of the valid slots the highest generation wins, and two valid slots
//! with one generation are corruption (M10). Slot 1 sits one page size after slot 0,
//! so when slot 0 is damaged every legal page size is tried for slot 1.
#![forbid(unsafe_code)]

use std::path::Path;

use crate::error::{CorruptionDetail, PagerError, Result};
use crate::format::meta::{Meta, PAGE_SIZE_AT};
use crate::format::{Fault, PAGE_SIZES, is_valid_page_size, read_u32};
use crate::vfs::VfsFile;
use crate::{Key, PageId};

/// What was found in one meta slot.
#[derive(Debug, Clone)]
pub struct SlotReport {
    /// The meta slot, 0 or 1 (the first or second page of the file).
    pub slot: u64,
    /// The decoded meta, or the rule the slot broke and where.
    pub result: Result<Meta, CorruptionDetail>,
}

/// Both slots and the verdict.
#[derive(Debug, Clone)]
pub struct MetaChoice {
    /// Slot 0 and slot 1, in that order.
    pub slots: [SlotReport; 2],
    /// The slot open uses, if any is valid.
    pub current: Option<u64>,
    /// Why that slot (or why none).
    pub why: String,
}

fn detail(path: &Path, slot: u64, slot_offset: u64, f: Fault) -> CorruptionDetail {
    CorruptionDetail {
        file: path.to_path_buf(),
        page: Some(PageId(slot)),
        offset: slot_offset + f.field_at as u64,
        rule: f.rule,
        expected: f.expected,
        found: f.found,
    }
}

fn read(file: &dyn VfsFile, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_at(&mut buf, offset)
        .map_err(|e| PagerError::io("reading meta page of", path, e))?;
    Ok(buf)
}

fn decode_slot(
    file: &dyn VfsFile,
    path: &Path,
    len: u64,
    slot: u64,
    page_size: u32,
    key: Option<&Key>,
) -> Result<Result<Meta, CorruptionDetail>> {
    let offset = slot * u64::from(page_size);
    if len < offset + u64::from(page_size) {
        return Ok(Err(detail(
            path,
            slot,
            offset,
            Fault::new(
                "M9",
                0,
                format!("a file of at least {} bytes", offset + u64::from(page_size)),
                format!("{len} bytes"),
            ),
        )));
    }
    let bytes = read(file, path, offset, page_size as usize)?;
    let meta = match Meta::decode(slot, &bytes) {
        Ok(m) => m,
        Err(f) => return Ok(Err(detail(path, slot, offset, f))),
    };
    match (meta.keyed, key) {
        (true, None) => {
            return Err(PagerError::KeyRequired {
                file: path.to_path_buf(),
            });
        }
        (false, Some(_)) => {
            return Err(PagerError::NotKeyed {
                file: path.to_path_buf(),
            });
        }
        (true, Some(key)) if !Meta::authenticate(slot, &bytes, key) => {
            return Ok(Err(detail(
                path,
                slot,
                offset,
                Fault::new(
                    "M8",
                    crate::format::meta::HMAC_AT,
                    "HMAC-SHA256 under the given key",
                    "a tag that does not match",
                ),
            )));
        }
        _ => {}
    }
    Ok(Ok(meta))
}

/// Reads and judges both meta slots. I/O errors and key errors are returned as
/// errors; damaged slots are reported inside the choice.
pub fn read_metas(file: &dyn VfsFile, path: &Path, key: Option<&Key>) -> Result<MetaChoice> {
    let len = file
        .len()
        .map_err(|e| PagerError::io("measuring", path, e))?;
    let claimed = if len >= 16 {
        read_u32(&read(file, path, 0, 16)?, PAGE_SIZE_AT)
    } else {
        0
    };
    let slot0 = if is_valid_page_size(claimed) {
        decode_slot(file, path, len, 0, claimed, key)?
    } else {
        Err(detail(
            path,
            0,
            0,
            Fault::new(
                if len >= 16 { "M4" } else { "M9" },
                PAGE_SIZE_AT,
                "a power-of-two page size in 4096..=65536",
                if len >= 16 {
                    claimed.to_string()
                } else {
                    format!("a {len}-byte file")
                },
            ),
        ))
    };
    let candidates: Vec<u32> = match &slot0 {
        Ok(m) => vec![m.page_size],
        Err(_) => {
            let mut c = Vec::new();
            for p in PAGE_SIZES {
                if len >= 2 * u64::from(p)
                    && read_u32(&read(file, path, u64::from(p), 16)?, PAGE_SIZE_AT) == p
                {
                    c.push(p);
                }
            }
            if c.is_empty() {
                c.push(if is_valid_page_size(claimed) {
                    claimed
                } else {
                    crate::format::DEFAULT_PAGE_SIZE
                });
            }
            c
        }
    };
    let mut slot1 = None;
    for p in candidates {
        let r = decode_slot(file, path, len, 1, p, key)?;
        let ok = r.is_ok();
        if slot1.is_none() || ok {
            slot1 = Some(r);
        }
        if ok {
            break;
        }
    }
    let slot1 = slot1.unwrap_or_else(|| unreachable!("at least one candidate page size"));
    let slots = [
        SlotReport {
            slot: 0,
            result: slot0,
        },
        SlotReport {
            slot: 1,
            result: slot1,
        },
    ];
    let (current, why) = match (&slots[0].result, &slots[1].result) {
        (Ok(a), Ok(b)) if a.generation == b.generation => (
            None,
            format!("both slots claim generation {} (rule M10)", a.generation),
        ),
        (Ok(a), Ok(b)) if a.page_size != b.page_size => (
            None,
            "the slots disagree on the page size (rule M4)".to_string(),
        ),
        (Ok(a), Ok(b)) => {
            let (cur, other) = if a.generation > b.generation {
                (0, b.generation)
            } else {
                (1, a.generation)
            };
            (
                Some(cur),
                format!("both slots valid; slot {cur} has the higher generation (other: {other})"),
            )
        }
        (Ok(_), Err(e)) => (
            Some(0),
            format!("slot 1 is invalid ({}: rule {})", e.found, e.rule),
        ),
        (Err(e), Ok(_)) => (
            Some(1),
            format!("slot 0 is invalid ({}: rule {})", e.found, e.rule),
        ),
        (Err(_), Err(_)) => (None, "both slots are invalid".to_string()),
    };
    let failed_hmac = |s: &SlotReport| matches!(&s.result, Err(d) if d.rule == "M8");
    if current.is_none() && failed_hmac(&slots[0]) && failed_hmac(&slots[1]) {
        return Err(PagerError::WrongKey {
            file: path.to_path_buf(),
        });
    }
    Ok(MetaChoice {
        slots,
        current,
        why,
    })
}
