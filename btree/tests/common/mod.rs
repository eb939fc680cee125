//! A model harness: operations run against a tree and a `BTreeMap`, with every
//! read, range and count compared, the checker run after each commit, page
//! accounting checked exactly, and old snapshots re-read after newer commits.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;

use aedb_btree::pager::sim::SimFs;
use aedb_btree::pager::{MetaUpdate, PageId, Pager, PagerOptions, ReadView};
use aedb_btree::{Tree, TreeConfig, TreeRoot, WriteTxn, check};

pub const OWNER: u64 = 7;

#[derive(Clone, Debug)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Insert(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Remove(Vec<u8>),
    Get(Vec<u8>),
    Commit,
    Abort,
    Snapshot,
    Release,
    Range(Bound<Vec<u8>>, Bound<Vec<u8>>, bool),
    Prefix(Vec<u8>),
    Rank(Vec<u8>),
    Nth(u64),
}

pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Deterministic value bytes of a given length.
pub fn value(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Keys of mixed sizes: mostly short from a small alphabet (so they collide),
/// some medium, a few near the key limit.
pub fn key(rng: &mut fastrand::Rng, limit: usize) -> Vec<u8> {
    match rng.u8(0..20) {
        0..=11 => (0..rng.usize(0..4)).map(|_| b'a' + rng.u8(0..5)).collect(),
        12..=17 => (0..rng.usize(0..40)).map(|_| rng.u8(..)).collect(),
        _ => {
            let len = rng.usize(limit.saturating_sub(64)..=limit);
            let mut k = vec![b'k'; len];
            if len > 0 {
                k[len - 1] = rng.u8(..);
            }
            k
        }
    }
}

/// Values from 0 bytes to several pages.
pub fn val(rng: &mut fastrand::Rng, page_size: usize) -> Vec<u8> {
    let len = match rng.u8(0..20) {
        0..=13 => rng.usize(0..120),
        14..=17 => rng.usize(page_size / 5..page_size / 3),
        _ => rng.usize(page_size..page_size * 3),
    };
    value(len, rng.u8(..))
}

pub fn bound(rng: &mut fastrand::Rng, limit: usize) -> Bound<Vec<u8>> {
    match rng.u8(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng, limit)),
        _ => Bound::Excluded(key(rng, limit)),
    }
}

pub fn random_op(rng: &mut fastrand::Rng, limit: usize, page_size: usize) -> Op {
    match rng.u8(0..100) {
        0..=39 => Op::Put(key(rng, limit), val(rng, page_size)),
        40..=49 => Op::Insert(key(rng, limit), val(rng, page_size)),
        50..=61 => Op::Delete(key(rng, limit)),
        62..=66 => Op::Remove(key(rng, limit)),
        67..=71 => Op::Get(key(rng, limit)),
        72..=79 => Op::Commit,
        80..=81 => Op::Abort,
        82..=84 => Op::Snapshot,
        85..=86 => Op::Release,
        87..=91 => Op::Range(bound(rng, limit), bound(rng, limit), rng.bool()),
        92..=94 => Op::Prefix((0..rng.usize(0..3)).map(|_| b'a' + rng.u8(0..5)).collect()),
        95..=97 => Op::Rank(key(rng, limit)),
        _ => Op::Nth(rng.u64(0..64)),
    }
}

struct Snapshot {
    view: ReadView,
    root: Option<TreeRoot>,
    model: Model,
    epoch: u64,
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn valid_bounds(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a < b,
        _ => true,
    }
}

/// Compares everything readable from `tree` with `model`.
pub fn compare<S: aedb_btree::PageSource>(
    tree: &Tree<'_, S>,
    model: &Model,
    what: &str,
) -> Result<(), String> {
    let err = |e: aedb_btree::BtreeError| format!("{what}: {e}");
    if tree.len() != model.len() as u64 {
        return Err(format!(
            "{what}: len {} vs model {}",
            tree.len(),
            model.len()
        ));
    }
    let all: Vec<(Vec<u8>, Vec<u8>)> = tree
        .iter()
        .map_err(err)?
        .map(|r| r.map(|(k, v)| (k.into_owned(), v.into_owned())))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if all != want {
        return Err(format!(
            "{what}: full scan differs ({} vs {} entries)",
            all.len(),
            want.len()
        ));
    }
    let rev: Vec<Vec<u8>> = tree
        .range_rev(Bound::Unbounded, Bound::Unbounded)
        .map_err(err)?
        .map(|r| r.map(|(k, _)| k.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    if !rev.iter().eq(model.keys().rev()) {
        return Err(format!("{what}: reverse scan differs"));
    }
    for (k, v) in model.iter().step_by(7) {
        if tree.get(k).map_err(err)?.as_deref() != Some(v.as_slice()) {
            return Err(format!("{what}: get({k:?}) differs"));
        }
    }
    let first = tree.first().map_err(err)?.map(|(k, _)| k.into_owned());
    let last = tree.last().map_err(err)?.map(|(k, _)| k.into_owned());
    if first.as_ref() != model.keys().next() || last.as_ref() != model.keys().next_back() {
        return Err(format!("{what}: first/last differ"));
    }
    Ok(())
}

pub struct Harness {
    pub pager: Pager,
    _tmp: Option<tempfile::TempDir>,
    pub page_size: u32,
    pub config: TreeConfig,
    pub root: Option<TreeRoot>,
    pub model: Model,
    epoch: u64,
    snapshots: Vec<Snapshot>,
    pub commits: u64,
}

impl Harness {
    pub fn new(page_size: u32, seed: u64) -> Harness {
        let fs = SimFs::new(seed);
        let (pager, _) = Pager::open(
            &fs,
            Path::new("/db"),
            PagerOptions {
                page_size: Some(page_size),
                ..PagerOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Harness::with_pager(pager, None, page_size)
    }

    /// A harness on real files: reads go through the memory map (zero copy).
    pub fn new_real(page_size: u32) -> Harness {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let opts = PagerOptions {
            page_size: Some(page_size),
            ..PagerOptions::default()
        };
        let (pager, _) = Pager::open(&aedb_btree::pager::vfs::RealFs, tmp.path(), opts)
            .unwrap_or_else(|e| panic!("{e}"));
        Harness::with_pager(pager, Some(tmp), page_size)
    }

    fn with_pager(pager: Pager, tmp: Option<tempfile::TempDir>, page_size: u32) -> Harness {
        Harness {
            pager,
            _tmp: tmp,
            page_size,
            config: TreeConfig::default(),
            root: None,
            model: Model::new(),
            epoch: 1,
            snapshots: Vec::new(),
            commits: 0,
        }
    }

    fn safe_below(&self) -> u64 {
        self.snapshots
            .iter()
            .map(|s| s.epoch + 1)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Runs `ops`; one write transaction is open at a time.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        let view = self.pager.view().map_err(|e| e.to_string())?;
        let mut txn = WriteTxn::new(&self.pager, view, OWNER, self.root, self.config, self.epoch)
            .map_err(|e| e.to_string())?;
        let mut pending = self.model.clone();
        for (step, op) in ops.iter().enumerate() {
            let at = format!("step {step} {op:?}", op = short(op));
            match op {
                Op::Put(k, v) => {
                    let replaced = txn.put(k, v).map_err(|e| format!("{at}: {e}"))?;
                    if replaced != pending.insert(k.clone(), v.clone()).is_some() {
                        return Err(format!("{at}: put replaced mismatch"));
                    }
                }
                Op::Insert(k, v) => {
                    let old = txn.insert(k, v).map_err(|e| format!("{at}: {e}"))?;
                    if old != pending.insert(k.clone(), v.clone()) {
                        return Err(format!("{at}: insert old value mismatch"));
                    }
                }
                Op::Delete(k) => {
                    let was = txn.delete(k).map_err(|e| format!("{at}: {e}"))?;
                    if was != pending.remove(k).is_some() {
                        return Err(format!("{at}: delete mismatch"));
                    }
                }
                Op::Remove(k) => {
                    let old = txn.remove(k).map_err(|e| format!("{at}: {e}"))?;
                    if old != pending.remove(k) {
                        return Err(format!("{at}: remove mismatch"));
                    }
                }
                Op::Get(k) => {
                    if txn.get(k).map_err(|e| format!("{at}: {e}"))? != pending.get(k).cloned() {
                        return Err(format!("{at}: get in transaction mismatch"));
                    }
                    if txn.len() != pending.len() as u64 {
                        return Err(format!(
                            "{at}: len in transaction {} vs {}",
                            txn.len(),
                            pending.len()
                        ));
                    }
                }
                Op::Commit | Op::Abort => {
                    if matches!(op, Op::Commit) {
                        let commit = txn.commit().map_err(|e| format!("{at}: {e}"))?;
                        self.finish_commit(commit, &at)?;
                        self.model = pending.clone();
                    } else {
                        drop(txn);
                        pending = self.model.clone();
                    }
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    txn =
                        WriteTxn::new(&self.pager, view, OWNER, self.root, self.config, self.epoch)
                            .map_err(|e| e.to_string())?;
                }
                Op::Snapshot => {
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    self.snapshots.push(Snapshot {
                        view,
                        root: self.root,
                        model: self.model.clone(),
                        epoch: self.epoch - 1,
                    });
                }
                Op::Release => {
                    if !self.snapshots.is_empty() {
                        let s = self.snapshots.remove(0);
                        let tree = Tree::new(&s.view, s.root, OWNER);
                        compare(&tree, &s.model, &format!("{at}: released snapshot"))?;
                        self.pager.release_readers_below(self.safe_below());
                    }
                }
                Op::Range(lo, hi, rev) => {
                    if !valid_bounds(lo, hi) {
                        continue;
                    }
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    let tree = Tree::new(&view, self.root, OWNER);
                    let it = if *rev {
                        tree.range_rev(as_ref(lo), as_ref(hi))
                    } else {
                        tree.range(as_ref(lo), as_ref(hi))
                    };
                    let got: Vec<Vec<u8>> = it
                        .map_err(|e| format!("{at}: {e}"))?
                        .map(|r| r.map(|(k, _)| k.into_owned()))
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("{at}: {e}"))?;
                    let mut want: Vec<Vec<u8>> = self
                        .model
                        .range::<[u8], _>((as_ref(lo), as_ref(hi)))
                        .map(|(k, _)| k.clone())
                        .collect();
                    if *rev {
                        want.reverse();
                    }
                    if got != want {
                        return Err(format!(
                            "{at}: range gave {} keys, model {}",
                            got.len(),
                            want.len()
                        ));
                    }
                    let count = tree
                        .count_range(as_ref(lo), as_ref(hi))
                        .map_err(|e| format!("{at}: {e}"))?;
                    if count != want.len() as u64 {
                        return Err(format!("{at}: count_range {count} vs {}", want.len()));
                    }
                }
                Op::Prefix(p) => {
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    let tree = Tree::new(&view, self.root, OWNER);
                    let got: Vec<Vec<u8>> = tree
                        .prefix(p)
                        .map_err(|e| format!("{at}: {e}"))?
                        .map(|r| r.map(|(k, _)| k.into_owned()))
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("{at}: {e}"))?;
                    let want: Vec<Vec<u8>> = self
                        .model
                        .keys()
                        .filter(|k| k.starts_with(p))
                        .cloned()
                        .collect();
                    if got != want {
                        return Err(format!(
                            "{at}: prefix gave {} keys, model {}",
                            got.len(),
                            want.len()
                        ));
                    }
                }
                Op::Rank(k) => {
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    let tree = Tree::new(&view, self.root, OWNER);
                    let rank = tree.rank(k).map_err(|e| format!("{at}: {e}"))?;
                    let want = self
                        .model
                        .range::<[u8], _>((Bound::Unbounded, Bound::Excluded(k.as_slice())))
                        .count() as u64;
                    if rank != want {
                        return Err(format!("{at}: rank {rank} vs {want}"));
                    }
                }
                Op::Nth(n) => {
                    let view = self.pager.view().map_err(|e| e.to_string())?;
                    let tree = Tree::new(&view, self.root, OWNER);
                    let got = tree
                        .nth(*n)
                        .map_err(|e| format!("{at}: {e}"))?
                        .map(|(k, v)| (k.into_owned(), v.into_owned()));
                    let want = self
                        .model
                        .iter()
                        .nth(*n as usize)
                        .map(|(k, v)| (k.clone(), v.clone()));
                    if got != want {
                        return Err(format!("{at}: nth differs"));
                    }
                }
            }
        }
        let commit = txn.commit().map_err(|e| format!("final commit: {e}"))?;
        self.finish_commit(commit, "final commit")?;
        self.model = pending;
        self.verify_all("after the last commit")
    }

    /// Replaces the tree with one bulk-loaded from sorted `entries`.
    pub fn bulk_load(&mut self, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
        let old = self.root;
        let root = aedb_btree::bulk_load(
            &self.pager,
            OWNER,
            self.config,
            entries.iter().map(|(k, v)| (k, v)),
        )
        .map_err(|e| e.to_string())?;
        // The old tree's pages are all retired.
        let retired = match old {
            Some(r) => {
                let view = self.pager.view().map_err(|e| e.to_string())?;
                check(&view, Some(r), OWNER).pages
            }
            None => Vec::new(),
        };
        self.finish_commit(
            aedb_btree::Commit {
                root,
                retired,
                written: 0,
            },
            "bulk load",
        )?;
        self.model = entries.iter().cloned().collect();
        self.verify_all("after bulk load")
    }

    fn finish_commit(&mut self, commit: aedb_btree::Commit, at: &str) -> Result<(), String> {
        for id in &commit.retired {
            self.pager
                .retire(*id, self.epoch)
                .map_err(|e| format!("{at}: retire: {e}"))?;
        }
        self.root = commit.root;
        self.pager
            .commit(MetaUpdate {
                checkpoint_seq: self.epoch,
                root: self.root.map(|r| r.page),
                ..MetaUpdate::default()
            })
            .map_err(|e| format!("{at}: pager commit: {e}"))?;
        self.epoch += 1;
        self.commits += 1;
        self.pager.release_readers_below(self.safe_below());
        let report = {
            let view = self.pager.view().map_err(|e| e.to_string())?;
            check(&view, self.root, OWNER)
        };
        if !report.is_ok() {
            let shown: Vec<&String> = report.problems.iter().take(5).collect();
            return Err(format!(
                "{at}: checker found {} problems, first: {shown:?}",
                report.problems.len()
            ));
        }
        self.accounting(&report.pages)
            .map_err(|e| format!("{at}: {e}"))?;
        Ok(())
    }

    /// Every page below the page count is reachable exactly once or free.
    fn accounting(&self, reachable: &[PageId]) -> Result<(), String> {
        match self.pager.account(reachable.iter().copied()).first() {
            None => Ok(()),
            Some(problem) => Err(problem.clone()),
        }
    }

    pub fn verify_all(&self, what: &str) -> Result<(), String> {
        let view = self.pager.view().map_err(|e| e.to_string())?;
        compare(&Tree::new(&view, self.root, OWNER), &self.model, what)?;
        for (i, s) in self.snapshots.iter().enumerate() {
            compare(
                &Tree::new(&s.view, s.root, OWNER),
                &s.model,
                &format!("{what}: snapshot {i}"),
            )?;
        }
        Ok(())
    }
}

fn short(op: &Op) -> String {
    let k = |k: &Vec<u8>| {
        if k.len() > 12 {
            format!("{}B key", k.len())
        } else {
            format!("{k:?}")
        }
    };
    match op {
        Op::Put(key, v) | Op::Insert(key, v) => format!(
            "{} {} {}B",
            if matches!(op, Op::Put(..)) {
                "put"
            } else {
                "insert"
            },
            k(key),
            v.len()
        ),
        Op::Delete(key) | Op::Remove(key) | Op::Get(key) | Op::Rank(key) => {
            format!("{:?} {}", std::mem::discriminant(op), k(key))
        }
        other => format!("{other:?}").chars().take(60).collect(),
    }
}
