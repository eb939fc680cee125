//! A KV entry as stored: the value behind a 16-byte header that says which
//! commit last wrote it and which commit created it (FORMAT "KV entries").

use serde::{Deserialize, Serialize};

use crate::error::AedbError;

/// Bytes before the value: version (u64 BE), then created_at (u64 BE).
pub(crate) const HEADER: usize = 16;

/// A KV value and its history (0.1.9's `KvEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The stored bytes, without the engine's 16-byte header.
    pub value: Vec<u8>,
    /// Seq of the commit that last wrote the key.
    pub version: u64,
    /// Seq of the commit that created the key (kept across overwrites; a key
    /// deleted and set again is created anew).
    pub created_at: u64,
}

impl KvEntry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.value.len());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out.extend_from_slice(&self.value);
        out
    }

    /// Decodes the stored bytes of `key` in tree `tree`; a record shorter than
    /// its header is damage, reported with where it is.
    pub(crate) fn decode(tree: &str, key: &[u8], bytes: &[u8]) -> Result<KvEntry, AedbError> {
        let Some((head, value)) = bytes.split_at_checked(HEADER) else {
            return Err(AedbError::IntegrityError {
                message: format!(
                    "KV entry {key:?} in tree {tree}: {} bytes, shorter than its {HEADER}-byte header",
                    bytes.len()
                ),
            });
        };
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&head[i..i + 8]);
            u64::from_be_bytes(w)
        };
        Ok(KvEntry {
            value: value.to_vec(),
            version: word(0),
            created_at: word(8),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::KvEntry;

    #[test]
    fn entries_round_trip_and_short_records_are_damage() {
        let e = KvEntry {
            value: b"v".to_vec(),
            version: 7,
            created_at: 3,
        };
        assert_eq!(KvEntry::decode("k1", b"a", &e.encode()).unwrap(), e);
        let err = KvEntry::decode("k1", b"a", &e.encode()[..15]).unwrap_err();
        assert!(err.to_string().contains("k1"), "{err}");
    }
}
