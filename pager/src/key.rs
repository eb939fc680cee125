//! The database key: one type for every layer that holds it (pager, WAL writer,
//! engine options, the CLI), and the one place HMAC-SHA256 is built.
//!
//! Invariants:
//! 1. **Never printed.** `Debug` shows the length only, so `{:?}` of any options
//!    struct that holds a key is safe to log (review F23).
//! 2. **Zeroized once.** The bytes live in one `Zeroizing` buffer shared by every
//!    clone (`Arc`); they are wiped when the last clone drops, and no layer keeps a
//!    plain copy.
//! 3. **Long enough.** A key has at least [`MIN_KEY_LEN`] bytes: a short key is a
//!    caller's mistake, refused where the key is made, not a weakly keyed database.
//! 4. **Domain-separated tags, compared in constant time.** Every tag is
//!    HMAC-SHA256(key, domain ‖ parts…); metas use `"aedb-meta"`, WAL frames
//!    `"aedb-wal"` (FORMAT M8, W5), and checks go through `hmac`'s `verify_slice`.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{PagerError, Result};

/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// An HMAC key (see the module invariants).
#[derive(Clone)]
pub struct Key(Arc<Zeroizing<Vec<u8>>>);

impl Key {
    /// A key from `bytes` (taken, not copied); `InvalidKey` when shorter than
    /// [`MIN_KEY_LEN`].
    pub fn new(bytes: Vec<u8>) -> Result<Key> {
        let bytes = Zeroizing::new(bytes);
        if bytes.len() < MIN_KEY_LEN {
            return Err(PagerError::InvalidKey(format!(
                "{} bytes; a key has at least {MIN_KEY_LEN}",
                bytes.len()
            )));
        }
        Ok(Key(Arc::new(bytes)))
    }

    /// Key length in bytes (at least `MIN_KEY_LEN`).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: `Key::new` refuses keys shorter than `MIN_KEY_LEN`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn hmac(&self, domain: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so construction cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        m.update(domain);
        for p in parts {
            m.update(p);
        }
        m
    }

    /// HMAC-SHA256(key, domain ‖ parts…).
    pub fn tag(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(domain, parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `domain ‖ parts…`, compared in constant time.
    pub fn verify(&self, domain: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
        self.hmac(domain, parts).verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused_and_debug_never_shows_bytes() {
        assert!(matches!(
            Key::new(vec![7; 15]),
            Err(PagerError::InvalidKey(_))
        ));
        let key = Key::new(b"0123456789abcdef".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{key:?}");
        assert!(
            !shown.contains("0123") && shown.contains("16 bytes"),
            "{shown}"
        );
    }

    #[test]
    fn tags_are_domain_separated_and_verified() {
        let key = Key::new(vec![1; 32]).unwrap_or_else(|e| panic!("{e}"));
        let tag = key.tag(b"aedb-meta", &[b"a", b"b"]);
        assert!(
            key.verify(b"aedb-meta", &[b"ab"], &tag),
            "parts are concatenated"
        );
        assert!(!key.verify(b"aedb-wal", &[b"a", b"b"], &tag));
        let other = Key::new(vec![2; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!other.verify(b"aedb-meta", &[b"a", b"b"], &tag));
    }
}
