//! Building the file system a rebooted machine sees after a simulated crash.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::{Inode, Pending, SECTOR, Shared, SimFs, State, is_root};

/// What happens to unsynced state at a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageMode {
    /// Every unsynced write, size change and directory entry is lost.
    LoseAll,
    /// Every unsynced write, size change and directory entry survives (except bytes
    /// already lost to a failed sync).
    KeepAll,
    /// Each unsynced write is kept, dropped or torn per 512-byte sector, each size
    /// change and directory entry kept or lost, all chosen by this seed.
    Random(u64),
}

fn survive(
    durable: &[u8],
    pending: &[Pending],
    mode: ImageMode,
    rng: &mut fastrand::Rng,
) -> Vec<u8> {
    let mut content = durable.to_vec();
    for op in pending {
        match (mode, op) {
            (ImageMode::LoseAll, _) => {}
            (ImageMode::KeepAll, op) => Inode::apply(&mut content, op),
            (ImageMode::Random(_), Pending::SetLen(_)) => {
                if rng.bool() {
                    Inode::apply(&mut content, op);
                }
            }
            (ImageMode::Random(_), Pending::Write { offset, data }) => match rng.u8(0..3) {
                0 => {}
                1 => Inode::apply(&mut content, op),
                _ => {
                    // Torn: each sector the write touches is kept or dropped alone.
                    let end = offset + data.len() as u64;
                    let mut at = *offset;
                    while at < end {
                        let sector_end = ((at / SECTOR) + 1) * SECTOR;
                        let piece_end = sector_end.min(end);
                        if rng.bool() {
                            let piece = data[(at - offset) as usize..(piece_end - offset) as usize]
                                .to_vec();
                            Inode::apply(
                                &mut content,
                                &Pending::Write {
                                    offset: at,
                                    data: piece,
                                },
                            );
                        }
                        at = piece_end;
                    }
                }
            },
        }
    }
    if let ImageMode::Random(_) = mode {
        // Growth is metadata: the new size may not have reached the disk even if
        // data blocks did (the redb fd82cedb failure class).
        if content.len() > durable.len() && rng.u8(0..4) == 0 {
            content.truncate(durable.len());
        }
    }
    content
}

impl SimFs {
    /// The file system after a crash of this one, under `mode`. The result has no
    /// pending state, no fault plan and no locks; the oracle's reachability hook and
    /// its durable view carry over.
    pub fn crash_image(&self, mode: ImageMode) -> SimFs {
        let st = self.state();
        let seed = match mode {
            ImageMode::Random(s) => s,
            _ => st.seed,
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut entries = st.durable_entries.clone();
        match mode {
            ImageMode::LoseAll => {}
            ImageMode::KeepAll => entries = st.entries.clone(),
            ImageMode::Random(_) => {
                let paths: BTreeSet<_> = st
                    .entries
                    .keys()
                    .chain(st.durable_entries.keys())
                    .cloned()
                    .collect();
                for path in paths {
                    let now = st.entries.get(&path).copied();
                    let before = st.durable_entries.get(&path).copied();
                    if now != before && rng.bool() {
                        match now {
                            Some(ino) => entries.insert(path, ino),
                            None => entries.remove(&path),
                        };
                    }
                }
            }
        }
        // A directory survives only if its parent did and its entry was synced (or
        // the image keeps it); everything inside a lost directory is lost with it.
        // `BTreeSet` order visits a parent before its children.
        let mut dirs = BTreeSet::new();
        for dir in &st.dirs {
            let parent_kept = dir.parent().is_none_or(|p| dirs.contains(p));
            let entry_kept = is_root(dir)
                || st.durable_dirs.contains(dir)
                || match mode {
                    ImageMode::LoseAll => false,
                    ImageMode::KeepAll => true,
                    ImageMode::Random(_) => rng.bool(),
                };
            if parent_kept && entry_kept {
                dirs.insert(dir.clone());
            }
        }
        entries.retain(|path, _| path.parent().is_some_and(|p| dirs.contains(p)));
        let mut inodes = std::collections::HashMap::new();
        for ino in entries.values() {
            if let Some(inode) = st.inodes.get(ino) {
                let content = survive(&inode.durable, &inode.pending, mode, &mut rng);
                inodes.insert(
                    *ino,
                    Inode {
                        current: content.clone(),
                        durable: content,
                        pending: Vec::new(),
                    },
                );
            }
        }
        let mut oracle = st.oracle.clone_for_image();
        // Recompute the oracle's protected set from what actually survived.
        for (path, ino) in &entries {
            if let Some(inode) = inodes.get(ino) {
                oracle.after_sync(path, &inode.durable);
            }
        }
        let state = State {
            seed: seed.wrapping_add(1),
            inodes,
            next_ino: st.inodes.keys().max().copied().unwrap_or(0) + 1,
            durable_entries: entries.clone(),
            entries,
            durable_dirs: dirs.clone(),
            dirs,
            oracle,
            ..State::default()
        };
        SimFs {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                stall: Mutex::new(None),
            }),
        }
    }
}
