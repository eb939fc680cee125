//! The meta page (pages 0 and 1 of the page file).
//!
//! ```text
//! 0        8     12     16           24            32          40         48
//! +--------+-----+------+------------+-------------+-----------+----------+
//! | magic  | ver | psz  | generation | ckpt seq    | root page | root gen |
//! +--------+-----+------+------------+-------------+-----------+----------+
//! 48          56          64           72                  104     112             144   148
//! +-----------+-----------+------------+-------------------+-------+---------------+-----+-- zero
//! | free head | free runs | page count | WAL chain hash    | flags | HMAC-SHA256   | crc |
//! +-----------+-----------+------------+-------------------+-------+---------------+-----+--
//! ```
//!
//! The crc32c covers the slot number (8 bytes LE, not stored) and every byte of the
//! page except the crc itself, so a bit flip anywhere in the page, or a meta written
//! into the wrong slot, is detected (rule M2). Bytes after the crc must be zero (M11).

use crate::key::Key;

use crate::format::{Fault, is_valid_page_size, read_u32, read_u64, write_u32, write_u64};

/// Identifies an aedb page file; the CR LF and 0x1a bytes catch text-mode mangling.
pub const MAGIC: [u8; 8] = [0x89, b'A', b'E', b'D', b'B', b'\r', b'\n', 0x1a];
/// The only format version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Offset of the 8-byte `MAGIC` (rule M1).
pub const MAGIC_AT: usize = 0;
/// Offset of the format version, u32 (rule M3).
pub const VERSION_AT: usize = MAGIC_AT + 8;
/// Offset of the page size in bytes, u32; also the stride from slot 0 to
/// slot 1 (rule M4).
pub const PAGE_SIZE_AT: usize = VERSION_AT + 4;
/// Offset of the generation, u64 (at least 1, rule M5).
pub const GENERATION_AT: usize = PAGE_SIZE_AT + 4;
/// Offset of the checkpoint seq, u64.
pub const CHECKPOINT_SEQ_AT: usize = GENERATION_AT + 8;
/// Offset of the root page id, u64 (0: no root; rule M6).
pub const ROOT_AT: usize = CHECKPOINT_SEQ_AT + 8;
/// Offset of the generation that wrote the root page, u64 (0 exactly when
/// there is no root).
pub const ROOT_GENERATION_AT: usize = ROOT_AT + 8;
/// Offset of the first free-list page id, u64 (0: nothing is free).
pub const FREE_HEAD_AT: usize = ROOT_GENERATION_AT + 8;
/// Offset of the number of runs in the free list, u64.
pub const FREE_RUNS_AT: usize = FREE_HEAD_AT + 8;
/// Offset of the page count, u64 (at least 2).
pub const PAGE_COUNT_AT: usize = FREE_RUNS_AT + 8;
/// Offset of the 32-byte WAL chain hash.
pub const WAL_HASH_AT: usize = PAGE_COUNT_AT + 8;
/// Offset of the flags, u64: bit 0 is `FLAG_KEYED`, the rest must be zero
/// (rule M7).
pub const FLAGS_AT: usize = WAL_HASH_AT + 32;
/// Offset of the 32-byte HMAC-SHA256 over the slot number and bytes
/// `0..HMAC_AT`; zero when unkeyed (rule M8).
pub const HMAC_AT: usize = FLAGS_AT + 8;
/// Offset of the crc32c, u32, over the slot number and every other byte of
/// the page (rule M2).
pub const CRC_AT: usize = HMAC_AT + 32;
/// Bytes of the meta page that carry fields; the rest of the page is zero.
pub const META_LEN: usize = CRC_AT + 4;
const _: () = assert!(META_LEN == 148);

/// Flag bit: the meta (and the WAL) carry an HMAC-SHA256 under the database key.
pub const FLAG_KEYED: u64 = 1;
const KNOWN_FLAGS: u64 = FLAG_KEYED;

/// The fields of a meta page. A value of this type has passed every rule M1–M11
/// (or was built by this process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Bytes per page, fixed when the file is created: a power of two in
    /// 4096..=65536 (rule M4).
    pub page_size: u32,
    /// Bumped by one at every meta commit; the valid meta with the highest wins.
    pub generation: u64,
    /// The last commit seq of the layer above that this state includes.
    pub checkpoint_seq: u64,
    /// Root page of the layer above's root directory (`None` before the first one).
    pub root: Option<u64>,
    /// The generation that wrote the root page (0 when there is none), so a lost or
    /// misdirected root write that left an older valid page there is caught (P6).
    pub root_generation: u64,
    /// First page of the persisted free list (`None` when nothing is free).
    pub free_list_head: Option<u64>,
    /// Number of free runs the free list holds (checked when it is read back).
    pub free_list_runs: u64,
    /// High-water mark: every page id in use is below this.
    pub page_count: u64,
    /// The WAL chain hash at `checkpoint_seq`.
    pub wal_chain_hash: [u8; 32],
    /// The file was created with a key: metas and WAL frames carry HMAC-SHA256
    /// tags and opening needs the key (flag bit `FLAG_KEYED`).
    pub keyed: bool,
}

/// Why a meta slot was rejected (the one [`Fault`] type, under its old name).
pub type MetaFault = Fault;

fn fault(
    rule: &'static str,
    field_at: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Fault {
    Fault::new(rule, field_at, expected, found)
}

fn checksum(slot: u64, page: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&slot.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &page[..CRC_AT]);
    crc32c::crc32c_append(crc, &page[META_LEN..])
}

/// Domain of the meta HMAC (M8).
const META_DOMAIN: &[u8] = b"aedb-meta";

impl Meta {
    /// Encodes this meta for `slot` (0 or 1) into a zeroed page of `page_size` bytes.
    pub fn encode(&self, slot: u64, key: Option<&Key>) -> Vec<u8> {
        let mut page = vec![0u8; self.page_size as usize];
        page[MAGIC_AT..MAGIC_AT + 8].copy_from_slice(&MAGIC);
        write_u32(&mut page, VERSION_AT, FORMAT_VERSION);
        write_u32(&mut page, PAGE_SIZE_AT, self.page_size);
        write_u64(&mut page, GENERATION_AT, self.generation);
        write_u64(&mut page, CHECKPOINT_SEQ_AT, self.checkpoint_seq);
        write_u64(&mut page, ROOT_AT, self.root.unwrap_or(0));
        write_u64(&mut page, ROOT_GENERATION_AT, self.root_generation);
        write_u64(&mut page, FREE_HEAD_AT, self.free_list_head.unwrap_or(0));
        write_u64(&mut page, FREE_RUNS_AT, self.free_list_runs);
        write_u64(&mut page, PAGE_COUNT_AT, self.page_count);
        page[WAL_HASH_AT..WAL_HASH_AT + 32].copy_from_slice(&self.wal_chain_hash);
        let flags = if key.is_some() { FLAG_KEYED } else { 0 };
        write_u64(&mut page, FLAGS_AT, flags);
        if let Some(key) = key {
            let tag = key.tag(META_DOMAIN, &[&slot.to_le_bytes(), &page[..HMAC_AT]]);
            page[HMAC_AT..HMAC_AT + 32].copy_from_slice(&tag);
        }
        let crc = checksum(slot, &page);
        write_u32(&mut page, CRC_AT, crc);
        page
    }

    /// Checks rules M1–M7 and M11 on the page in `slot`; the HMAC (M8) is checked
    /// separately by [`Meta::authenticate`] because it needs the key.
    pub fn decode(slot: u64, page: &[u8]) -> Result<Meta, Fault> {
        if page.len() < META_LEN {
            return Err(fault(
                "M4",
                PAGE_SIZE_AT,
                format!("at least {META_LEN} bytes"),
                page.len().to_string(),
            ));
        }
        if page[MAGIC_AT..MAGIC_AT + 8] != MAGIC {
            return Err(fault(
                "M1",
                MAGIC_AT,
                format!("magic {MAGIC:02x?}"),
                format!("{:02x?}", &page[..8]),
            ));
        }
        let page_size = read_u32(page, PAGE_SIZE_AT);
        if !is_valid_page_size(page_size) || page_size as usize != page.len() {
            return Err(fault(
                "M4",
                PAGE_SIZE_AT,
                format!("page size {} (the slot's stride)", page.len()),
                page_size.to_string(),
            ));
        }
        let stored = read_u32(page, CRC_AT);
        let computed = checksum(slot, page);
        if stored != computed {
            return Err(fault(
                "M2",
                CRC_AT,
                format!("crc32c {computed:#010x} (slot {slot} + page bytes)"),
                format!("{stored:#010x}"),
            ));
        }
        if page[META_LEN..].iter().any(|&b| b != 0) {
            return Err(fault(
                "M11",
                META_LEN,
                "zero bytes after the crc",
                "non-zero bytes",
            ));
        }
        let version = read_u32(page, VERSION_AT);
        if version != FORMAT_VERSION {
            return Err(fault(
                "M3",
                VERSION_AT,
                format!("format version {FORMAT_VERSION}"),
                version.to_string(),
            ));
        }
        let generation = read_u64(page, GENERATION_AT);
        if generation == 0 {
            return Err(fault("M5", GENERATION_AT, "generation >= 1", "0"));
        }
        let page_count = read_u64(page, PAGE_COUNT_AT);
        if page_count < 2 {
            return Err(fault(
                "M6",
                PAGE_COUNT_AT,
                "page count >= 2",
                page_count.to_string(),
            ));
        }
        let page_ref = |at: usize| -> Result<Option<u64>, Fault> {
            match read_u64(page, at) {
                0 => Ok(None),
                id if (2..page_count).contains(&id) => Ok(Some(id)),
                id => Err(fault(
                    "M6",
                    at,
                    format!("page id in 2..{page_count} or 0"),
                    id.to_string(),
                )),
            }
        };
        let root = page_ref(ROOT_AT)?;
        let root_generation = read_u64(page, ROOT_GENERATION_AT);
        if root.is_none() != (root_generation == 0) || root_generation > generation {
            return Err(fault(
                "M6",
                ROOT_GENERATION_AT,
                format!("root generation in 1..={generation} exactly when a root is set"),
                root_generation.to_string(),
            ));
        }
        let free_list_head = page_ref(FREE_HEAD_AT)?;
        let free_list_runs = read_u64(page, FREE_RUNS_AT);
        if free_list_head.is_none() != (free_list_runs == 0) {
            return Err(fault(
                "M6",
                FREE_RUNS_AT,
                "free runs > 0 exactly when a free-list head is set",
                free_list_runs.to_string(),
            ));
        }
        let flags = read_u64(page, FLAGS_AT);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(fault(
                "M7",
                FLAGS_AT,
                format!("only flag bits {KNOWN_FLAGS:#x}"),
                format!("{flags:#x}"),
            ));
        }
        let keyed = flags & FLAG_KEYED != 0;
        if !keyed && page[HMAC_AT..HMAC_AT + 32].iter().any(|&b| b != 0) {
            return Err(fault(
                "M8",
                HMAC_AT,
                "a zero HMAC field (unkeyed)",
                "non-zero bytes",
            ));
        }
        let mut wal_chain_hash = [0u8; 32];
        wal_chain_hash.copy_from_slice(&page[WAL_HASH_AT..WAL_HASH_AT + 32]);
        Ok(Meta {
            page_size,
            generation,
            checkpoint_seq: read_u64(page, CHECKPOINT_SEQ_AT),
            root,
            root_generation,
            free_list_head,
            free_list_runs,
            page_count,
            wal_chain_hash,
            keyed,
        })
    }

    /// Rule M8: a keyed meta carries HMAC-SHA256(key, "aedb-meta" || slot || bytes
    /// `0..HMAC_AT`). Constant-time comparison through `hmac`'s verifier.
    pub fn authenticate(slot: u64, page: &[u8], key: &Key) -> bool {
        key.verify(
            META_DOMAIN,
            &[&slot.to_le_bytes(), &page[..HMAC_AT]],
            &page[HMAC_AT..HMAC_AT + 32],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Meta {
        Meta {
            page_size: 4096,
            generation: 7,
            checkpoint_seq: 42,
            root: Some(9),
            root_generation: 6,
            free_list_head: Some(3),
            free_list_runs: 2,
            page_count: 10,
            wal_chain_hash: [5; 32],
            keyed: false,
        }
    }

    #[test]
    fn round_trips_and_binds_the_slot() {
        let m = sample();
        let page = m.encode(1, None);
        assert_eq!(Meta::decode(1, &page), Ok(m));
        assert_eq!(Meta::decode(0, &page).unwrap_err().rule, "M2");
    }

    #[test]
    fn keyed_meta_authenticates_only_with_its_key() {
        let mut m = sample();
        m.keyed = true;
        let key = |k: &[u8]| Key::new(k.to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let page = m.encode(0, Some(&key(b"secret-secret-16")));
        assert!(Meta::decode(0, &page).is_ok_and(|m| m.keyed));
        assert!(Meta::authenticate(0, &page, &key(b"secret-secret-16")));
        assert!(!Meta::authenticate(0, &page, &key(b"secret-secreT-16")));
    }
}
