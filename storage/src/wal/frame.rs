//! WAL frames and segment headers: the byte layout (FORMAT.md, rules W*) and the
//! hash chain.
//!
//! ```text
//! segment header (64 bytes)
//! 0        8      12      16          24                   56      60      64
//! +--------+------+-------+-----------+--------------------+-------+-------+
//! | magic  | ver  | flags | first seq | chain hash before  | zero  | crc   |
//! +--------+------+-------+-----------+--------------------+-------+-------+
//!
//! frame
//! 0        4       8           16             24                  56          56+n   (+32 keyed)
//! +--------+-------+-----------+--------------+-------------------+-----------+------+
//! | len n  | crc   | seq       | synced upto  | previous hash     | payload   | HMAC |
//! +--------+-------+-----------+--------------+-------------------+-----------+------+
//! ```
//!
//! `synced upto` is the highest seq known durable when the frame was written: it
//! tells recovery whether a damaged frame followed by valid ones had been synced
//! (corruption) or was an unsynced write the crash lost while a later one survived
//! (a torn tail, rule W8). crc32c covers the frame without its crc field. The frame
//! hash is blake3(previous hash ‖ length ‖ seq ‖ synced upto ‖ payload); the keyed HMAC is
//! HMAC-SHA256(key, "aedb-wal" ‖ frame hash). The chain starts from 32 zero bytes.
#![forbid(unsafe_code)]

use aedb_pager::Key;
use aedb_pager::format::{read_u32, read_u64};

/// First 8 bytes of every segment, `AEDBWAL` and 0x1a (rule S1).
pub const SEGMENT_MAGIC: [u8; 8] = *b"AEDBWAL\x1a";
/// Segment format version at header offset 8; any other breaks S1.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes of a segment header; the first frame starts at this offset.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of a frame before its payload: length, crc, seq, synced upto and
/// previous hash.
pub const FRAME_HEADER_LEN: usize = 56;
/// Bytes of the HMAC-SHA256 tag after the payload, in keyed segments only.
pub const HMAC_LEN: usize = 32;
/// Rule W2: no frame payload is larger (a commit's effects are bounded by it).
pub const MAX_PAYLOAD: usize = 256 << 20;
/// Header flags bit 0: every frame of the segment carries an HMAC (rule S3).
pub const FLAG_KEYED: u32 = 1;

/// A position in the hash chain.
pub type ChainHash = [u8; 32];
/// The hash before the first frame ever written.
pub const GENESIS: ChainHash = [0; 32];

/// The segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Whether every frame carries an HMAC (flags bit 0); open requires it to
    /// match whether a key was given (S3).
    pub keyed: bool,
    /// Seq of the segment's first frame; recovery requires it to be at least 1
    /// and equal to the number in the file name (S1).
    pub first_seq: u64,
    /// Chain hash after seq `first_seq - 1` (`GENESIS` before seq 1); the
    /// first frame's previous hash must equal it (W4).
    pub prev_hash: ChainHash,
}

impl SegmentHeader {
    /// The 64 header bytes, crc32c included, as written at the segment's start.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(if self.keyed { FLAG_KEYED } else { 0 }).to_le_bytes());
        b[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        b[24..56].copy_from_slice(&self.prev_hash);
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Rules S1–S3.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, (&'static str, String)> {
        if b.len() < SEGMENT_HEADER_LEN {
            return Err((
                "S1",
                format!(
                    "a {SEGMENT_HEADER_LEN}-byte header, found {} bytes",
                    b.len()
                ),
            ));
        }
        if b[0..8] != SEGMENT_MAGIC || read_u32(b, 8) != SEGMENT_VERSION {
            return Err(("S1", "the WAL segment magic and version 1".into()));
        }
        if read_u32(b, 60) != crc32c::crc32c(&b[..60]) {
            return Err(("S2", "a segment header crc32c that matches".into()));
        }
        let flags = read_u32(b, 12);
        if flags & !FLAG_KEYED != 0 || b[56..60] != [0; 4] {
            return Err((
                "S3",
                format!("known flags and zero reserved bytes, found flags {flags:#x}"),
            ));
        }
        let mut prev_hash = [0u8; 32];
        prev_hash.copy_from_slice(&b[24..56]);
        Ok(SegmentHeader {
            keyed: flags & FLAG_KEYED != 0,
            first_seq: read_u64(b, 16),
            prev_hash,
        })
    }
}

/// The hash of a frame, chained to `prev`.
pub fn frame_hash(prev: &ChainHash, seq: u64, synced_upto: u64, payload: &[u8]) -> ChainHash {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.update(&synced_upto.to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

/// Domain of the frame HMAC (W5).
const WAL_DOMAIN: &[u8] = b"aedb-wal";

/// Encodes one frame; returns its bytes and its hash.
pub fn encode_frame(
    seq: u64,
    synced_upto: u64,
    prev: &ChainHash,
    payload: &[u8],
    key: Option<&Key>,
) -> (Vec<u8>, ChainHash) {
    let mut b = Vec::with_capacity(FRAME_HEADER_LEN + payload.len() + HMAC_LEN);
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&seq.to_le_bytes());
    b.extend_from_slice(&synced_upto.to_le_bytes());
    b.extend_from_slice(prev);
    b.extend_from_slice(payload);
    let hash = frame_hash(prev, seq, synced_upto, payload);
    if let Some(key) = key {
        b.extend_from_slice(&key.tag(WAL_DOMAIN, &[&hash]));
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..4]), &b[8..]);
    b[4..8].copy_from_slice(&crc.to_le_bytes());
    (b, hash)
}

/// A frame that passed rules W1–W5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'b> {
    /// The commit's seq. Whether it follows the frame before (W3) is the
    /// caller's check.
    pub seq: u64,
    /// Highest seq durable when the frame was written; recovery uses it to
    /// tell damage from a torn tail (W8).
    pub synced_upto: u64,
    /// Chain hash of the frame before, already checked against `expect_prev` (W4).
    pub prev_hash: ChainHash,
    /// The commit's encoded effects (`effects::decode` reads them), borrowed
    /// from the decoded bytes.
    pub payload: &'b [u8],
    /// This frame's chain hash, computed (no frame stores its own): the next
    /// frame's `prev_hash`.
    pub hash: ChainHash,
    /// Bytes the frame occupies.
    pub len: usize,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the frame claims: a torn tail if nothing valid follows.
    Truncated,
    /// A rule broken: which, and what was found.
    Bad(&'static str, String),
}

/// Decodes the frame at the start of `b`. `expect_prev` is the chain hash the frame
/// must carry (W4); `key` is required exactly when the segment is keyed (W5).
pub fn decode_frame<'b>(
    b: &'b [u8],
    expect_prev: &ChainHash,
    key: Option<&Key>,
) -> Result<Frame<'b>, FrameError> {
    if b.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Truncated);
    }
    let n = read_u32(b, 0) as usize;
    if n > MAX_PAYLOAD {
        return Err(FrameError::Bad(
            "W2",
            format!("payload length {n} over the {MAX_PAYLOAD}-byte limit"),
        ));
    }
    let total = FRAME_HEADER_LEN + n + if key.is_some() { HMAC_LEN } else { 0 };
    if b.len() < total {
        return Err(FrameError::Truncated);
    }
    let stored = read_u32(b, 4);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..4]), &b[8..total]);
    if stored != crc && !aedb_pager::mutation::active(aedb_pager::mutation::Mutation::AcceptBadCrc)
    {
        return Err(FrameError::Bad(
            "W1",
            format!("crc32c {crc:#010x}, found {stored:#010x}"),
        ));
    }
    let seq = read_u64(b, 8);
    let synced_upto = read_u64(b, 16);
    let mut prev_hash = [0u8; 32];
    prev_hash.copy_from_slice(&b[24..56]);
    if &prev_hash != expect_prev {
        return Err(FrameError::Bad(
            "W4",
            format!("frame seq {seq} does not chain to the previous frame's hash"),
        ));
    }
    let payload = &b[FRAME_HEADER_LEN..FRAME_HEADER_LEN + n];
    let hash = frame_hash(&prev_hash, seq, synced_upto, payload);
    if let Some(key) = key {
        if !key.verify(WAL_DOMAIN, &[&hash], &b[FRAME_HEADER_LEN + n..total]) {
            return Err(FrameError::Bad(
                "W5",
                format!("frame seq {seq}: HMAC does not verify under the key"),
            ));
        }
    }
    Ok(Frame {
        seq,
        synced_upto,
        prev_hash,
        payload,
        hash,
        len: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_chain_and_every_bit_flip_is_caught() {
        let k = Key::new(b"k-for-frame-tests".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        for key in [None, Some(&k)] {
            let (f1, h1) = encode_frame(1, 0, &GENESIS, b"first", key);
            let (f2, h2) = encode_frame(2, 1, &h1, b"second payload", key);
            let d1 = decode_frame(&f1, &GENESIS, key).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!((d1.seq, d1.hash, d1.len), (1, h1, f1.len()));
            assert_eq!(decode_frame(&f2, &h1, key).map(|f| f.hash), Ok(h2));
            assert!(matches!(
                decode_frame(&f2, &GENESIS, key),
                Err(FrameError::Bad("W4", _))
            ));
            for bit in 0..f2.len() * 8 {
                let mut bad = f2.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    decode_frame(&bad, &h1, key).is_err(),
                    "bit {bit} not caught"
                );
            }
            assert_eq!(
                decode_frame(&f2[..f2.len() - 1], &h1, key),
                Err(FrameError::Truncated)
            );
        }
    }

    #[test]
    fn segment_header_round_trips() {
        let h = SegmentHeader {
            keyed: true,
            first_seq: 77,
            prev_hash: [3; 32],
        };
        assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
    }
}
