//! Tree-level effects: what one commit did, as recorded in its WAL frame and
//! replayed by recovery. Nothing here knows rows or schemas (DESIGN §2).
//!
//! Payload: `u32 count`, then per effect a `u8` tag and its fields; names and keys
//! are `u16`-length-prefixed, values `u32`-length-prefixed; then, in frames the
//! engine writes, the commit-time trailer: tag `0x10` and the commit's wall
//! clock time, `u64` microseconds since the Unix epoch (FORMAT.md, rules E*).
#![forbid(unsafe_code)]

use aedb_pager::format::{read_u16, read_u32};

/// One effect of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tag 1: a tree was created (by `open_tree`). Replay creates it if it is
    /// absent, under the next tree id.
    CreateTree {
        /// The tree's name (1..=255 bytes, not NUL-led; `u16`-length-prefixed).
        name: Vec<u8>,
    },
    /// Tag 2: a tree that existed was dropped. Replay deletes its directory entry
    /// and retires all its pages.
    DropTree {
        /// The dropped tree's name.
        name: Vec<u8>,
    },
    /// Tag 3: an insert or replace, logged for every insert, even of an unchanged
    /// value. Replay creates the tree if it is absent.
    Put {
        /// Name of the tree written.
        tree: Vec<u8>,
        /// The key (`u16`-length-prefixed; the tree's `key_limit` bounds it on write).
        key: Vec<u8>,
        /// The new value (`u32`-length-prefixed).
        value: Vec<u8>,
    },
    /// Tag 4: removal of a key that existed (deleting an absent key logs nothing).
    /// Replay removes it if the tree and the key exist.
    Delete {
        /// Name of the tree the key was removed from.
        tree: Vec<u8>,
        /// The removed key.
        key: Vec<u8>,
    },
    /// A large commit (engine invariant 14): its pages were made durable by two
    /// metas at its seq instead of being logged; the frame names the root
    /// directory it left (`None`: no trees). The only effect of its payload
    /// (rule E3), and never replayed: above the checkpoint it marks a commit that
    /// never reached its metas (rule W12).
    LargeCommit {
        /// The root directory's root after the commit, as its metas record it;
        /// `None` when no tree is left (written as root page 0).
        root: Option<LargeRoot>,
    },
}

/// The root directory a large commit left: its page and that page's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeRoot {
    /// Page id of the root directory's root page; never 0 (0 on disk decodes
    /// as `root: None`).
    pub page: u64,
    /// The generation that wrote that page: the metas' root generation, which
    /// the page's header must match when it is read (rule P6).
    pub generation: u64,
}

const CREATE: u8 = 1;
const DROP: u8 = 2;
const PUT: u8 = 3;
const DELETE: u8 = 4;
const LARGE: u8 = 5;
/// The commit-time trailer's tag (not an effect: it follows the last one).
const TIME: u8 = 0x10;
/// The commit-time trailer's length (tag and `u64`).
pub(crate) const TRAILER_LEN: usize = 9;

fn put_short(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_le_bytes());
    out.extend_from_slice(b);
}

/// Encodes a commit's effects.
pub fn encode(effects: &[Effect]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&(effects.len() as u32).to_le_bytes());
    for e in effects {
        match e {
            Effect::CreateTree { name } => {
                out.push(CREATE);
                put_short(&mut out, name);
            }
            Effect::DropTree { name } => {
                out.push(DROP);
                put_short(&mut out, name);
            }
            Effect::Put { tree, key, value } => {
                out.push(PUT);
                put_short(&mut out, tree);
                put_short(&mut out, key);
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
            Effect::Delete { tree, key } => {
                out.push(DELETE);
                put_short(&mut out, tree);
                put_short(&mut out, key);
            }
            Effect::LargeCommit { root } => {
                out.push(LARGE);
                let (page, generation) = root.map_or((0, 0), |r| (r.page, r.generation));
                out.extend_from_slice(&page.to_le_bytes());
                out.extend_from_slice(&generation.to_le_bytes());
            }
        }
    }
    out
}

/// Encodes a commit's effects with the commit-time trailer (`micros` since
/// the Unix epoch), as the engine writes every frame.
pub fn encode_at(effects: &[Effect], micros: u64) -> Vec<u8> {
    let mut out = encode(effects);
    out.push(TIME);
    out.extend_from_slice(&micros.to_le_bytes());
    out
}

struct Reader<'b> {
    b: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| format!("{n} bytes at offset {} past the payload end", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn short(&mut self) -> Result<Vec<u8>, String> {
        let len = self.take(2)?;
        let len = read_u16(len, 0) as usize;
        Ok(self.take(len)?.to_vec())
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| "8 bytes".to_string())?,
        ))
    }

    fn long(&mut self) -> Result<Vec<u8>, String> {
        let len = self.take(4)?;
        let len = read_u32(len, 0) as usize;
        Ok(self.take(len)?.to_vec())
    }
}

impl Effect {
    /// Bytes a put of `key`, `value` into `tree` adds to a payload (counted
    /// before the effect is built: a large transaction builds none).
    pub fn put_len(tree: &[u8], key: &[u8], value: &[u8]) -> usize {
        1 + 2 + tree.len() + 2 + key.len() + 4 + value.len()
    }

    /// Bytes a delete of `key` from `tree` adds to a payload.
    pub fn delete_len(tree: &[u8], key: &[u8]) -> usize {
        1 + 2 + tree.len() + 2 + key.len()
    }

    /// Bytes this effect adds to an encoded payload (the layout above).
    pub fn encoded_len(&self) -> usize {
        match self {
            Effect::CreateTree { name } | Effect::DropTree { name } => 1 + 2 + name.len(),
            Effect::Put { tree, key, value } => Self::put_len(tree, key, value),
            Effect::Delete { tree, key } => Self::delete_len(tree, key),
            Effect::LargeCommit { .. } => 1 + 8 + 8,
        }
    }
}

/// Whether `payload` is a large commit's (rule E3: its one effect is tag 5),
/// read without decoding the rest: recovery asks this of every frame above the
/// checkpoint (rule W12).
pub fn is_large_commit(payload: &[u8]) -> bool {
    payload.len() >= 5 && payload[..4] == 1u32.to_le_bytes() && payload[4] == LARGE
}

/// Decodes a payload (rules E1–E2); the error says what broke.
pub fn decode(payload: &[u8]) -> Result<Vec<Effect>, String> {
    decode_timed(payload).map(|(effects, _)| effects)
}

/// Decodes a payload and its commit time (`None`: a payload without the
/// trailer).
pub fn decode_timed(payload: &[u8]) -> Result<(Vec<Effect>, Option<u64>), String> {
    let mut r = Reader { b: payload, at: 0 };
    let count = r.take(4)?;
    let count = read_u32(count, 0) as usize;
    let mut out = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let effect = match r.u8()? {
            CREATE => Effect::CreateTree { name: r.short()? },
            DROP => Effect::DropTree { name: r.short()? },
            PUT => Effect::Put {
                tree: r.short()?,
                key: r.short()?,
                value: r.long()?,
            },
            DELETE => Effect::Delete {
                tree: r.short()?,
                key: r.short()?,
            },
            LARGE if count == 1 => {
                let (page, generation) = (r.u64()?, r.u64()?);
                let root = (page != 0).then_some(LargeRoot { page, generation });
                Effect::LargeCommit { root }
            }
            LARGE => {
                return Err(format!(
                    "rule E3: a large-commit effect among {count} effects (it must be the only one)"
                ));
            }
            tag => {
                return Err(format!(
                    "rule E1: unknown effect tag {tag} at offset {}",
                    r.at - 1
                ));
            }
        };
        out.push(effect);
    }
    let rest = &payload[r.at..];
    match rest {
        [] => Ok((out, None)),
        [TIME, micros @ ..] if rest.len() == TRAILER_LEN => {
            let micros: [u8; 8] = micros
                .try_into()
                .map_err(|_| "rule E2: trailer".to_string())?;
            Ok((out, Some(u64::from_le_bytes(micros))))
        }
        _ => Err(format!(
            "rule E2: {} trailing bytes after {count} effects that are not a commit-time trailer",
            rest.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let effects = vec![
            Effect::CreateTree {
                name: b"t".to_vec(),
            },
            Effect::Put {
                tree: b"t".to_vec(),
                key: b"k".to_vec(),
                value: vec![9; 70_000],
            },
            Effect::Delete {
                tree: b"t".to_vec(),
                key: vec![],
            },
            Effect::DropTree {
                name: b"t".to_vec(),
            },
        ];
        let len: usize = 4 + effects.iter().map(Effect::encoded_len).sum::<usize>();
        assert_eq!(encode(&effects).len(), len);
        assert_eq!(decode(&encode(&effects)), Ok(effects.clone()));
        assert_eq!(
            decode_timed(&encode_at(&effects, 1_700_000_000_000_000)),
            Ok((effects.clone(), Some(1_700_000_000_000_000)))
        );
        let mut long = encode_at(&effects, 7);
        long.push(0);
        assert!(decode(&long).is_err(), "a trailer must be exactly 9 bytes");
        assert!(decode(&[1, 0, 0, 0, 9]).is_err());
        let large = vec![Effect::LargeCommit {
            root: Some(LargeRoot {
                page: 7,
                generation: 12,
            }),
        }];
        let bytes = encode_at(&large, 5);
        assert!(is_large_commit(&bytes));
        assert!(!is_large_commit(&encode(&effects)));
        assert_eq!(decode(&bytes), Ok(large.clone()));
        let none = vec![Effect::LargeCommit { root: None }];
        assert_eq!(decode(&encode(&none)), Ok(none));
        let mut two = large.clone();
        two.push(Effect::DropTree { name: vec![] });
        let err = decode(&encode(&two)).expect_err("E3");
        assert!(err.contains("E3"), "{err}");
        assert!(decode(&[0, 0, 0, 0, 0]).is_err());
    }
}
