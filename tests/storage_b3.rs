//! RELIABILITY G2 (B3-style bounded exhaustive workloads): every sequence of up to
//! three operations from thirteen kinds (among them a large commit of an
//! overflow value and a compaction, whose commits change nothing and whose
//! checkpoints cut the file's tail), on a fresh database, crashed at every
//! persistence call and recovered from three images. Same pass criterion as G1.

mod common;

use std::collections::BTreeMap;

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs};
use aedb::storage::{Database, Finality, ReadTransaction, StorageError};
use common::*;

const KINDS: u8 = 13;

/// Applies one operation; returns the commit outcome for the model.
struct Runner {
    db: Option<Database>,
    model: Model,
    states: Vec<(u64, Model)>,
    durable: u64,
    in_flight: Option<(u64, Model)>,
    snapshot: Option<ReadTransaction>,
    /// Compactions' commits change nothing: every seq in `(from, to]` reads
    /// as the model (`to` is `u64::MAX` while one runs).
    unchanged: Vec<(u64, u64, Model)>,
    /// Whether a compaction of this run cut the page file.
    shrank: bool,
}

impl Runner {
    fn commit(
        &mut self,
        next: Model,
        f: impl FnOnce(&mut aedb::storage::WriteTransaction<'_>) -> Result<(), StorageError>,
        finality: Finality,
    ) -> Result<(), StorageError> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| StorageError::Poisoned("closed".into()))?;
        let mut txn = db.begin_write()?;
        f(&mut txn)?;
        self.in_flight = Some((txn.seq(), next.clone()));
        let r = txn.commit(finality)?;
        self.in_flight = None;
        self.model = next;
        self.states.push((r.seq, self.model.clone()));
        if finality == Finality::Durable {
            self.durable = r.seq;
        }
        Ok(())
    }

    fn op(&mut self, kind: u8) -> Result<(), StorageError> {
        let mut next = self.model.clone();
        match kind {
            0 | 1 => {
                next.entry("a".into())
                    .or_default()
                    .insert(b"k1".to_vec(), vec![kind; 10]);
                let f = if kind == 0 {
                    Finality::Visible
                } else {
                    Finality::Durable
                };
                self.commit(
                    next,
                    |t| t.open_tree("a")?.insert(b"k1", &[kind; 10]).map(|_| ()),
                    f,
                )
            }
            2 => {
                next.entry("a".into()).or_default().remove(&b"k1".to_vec());
                self.commit(
                    next,
                    |t| t.open_tree("a")?.remove(b"k1").map(|_| ()),
                    Finality::Durable,
                )
            }
            3 => {
                next.entry("b".into())
                    .or_default()
                    .insert(b"x".to_vec(), b"y".to_vec());
                self.commit(
                    next,
                    |t| t.open_tree("b")?.insert(b"x", b"y").map(|_| ()),
                    Finality::Visible,
                )
            }
            4 => {
                next.remove("a");
                self.commit(next, |t| t.delete_tree("a").map(|_| ()), Finality::Durable)
            }
            5 => self
                .db
                .as_ref()
                .map_or(Ok(()), |db| db.checkpoint_now())
                .map(|()| self.durable = self.states.last().map_or(0, |s| s.0)),
            6 => {
                // Two kilobytes: more than a test segment, so the next append rotates.
                next.entry("a".into())
                    .or_default()
                    .insert(b"big".to_vec(), vec![6; 2000]);
                self.commit(
                    next,
                    |t| t.open_tree("a")?.insert(b"big", &[6; 2000]).map(|_| ()),
                    Finality::Visible,
                )
            }
            7 => {
                self.snapshot = None;
                self.db = None; // clean shutdown (checkpoints)
                let fs = FS.with(|f| f.borrow().clone());
                let fs = fs.ok_or_else(|| StorageError::Poisoned("no fs".into()))?;
                self.db = Some(open(&fs, 4096)?);
                self.durable = self.states.last().map_or(0, |s| s.0);
                Ok(())
            }
            8 => {
                self.snapshot = self.db.as_ref().map(|db| db.begin_read()).transpose()?;
                Ok(())
            }
            9 => {
                self.snapshot = None;
                Ok(())
            }
            10 => {
                // An overflow value past `large_commit_bytes`: a large commit
                // (engine invariant 14), its pages made durable by two metas.
                const LEN: usize = 50_000;
                assert!(LEN > large_commit_bytes(4096));
                next.entry("a".into())
                    .or_default()
                    .insert(b"large".to_vec(), vec![10; LEN]);
                self.commit(
                    next,
                    |t| {
                        t.open_tree("a")?.insert(b"large", &[10; LEN])?;
                        assert!(t.is_large(), "a {LEN}-byte put is a large commit");
                        Ok(())
                    },
                    Finality::Durable,
                )
            }
            12 => {
                let Some(db) = self.db.as_ref() else {
                    return Ok(());
                };
                let from = self.states.last().map_or(0, |s| s.0);
                self.unchanged.push((from, u64::MAX, self.model.clone()));
                let report = db.compact()?;
                self.shrank |= report.bytes_after < report.bytes_before;
                let to = db.visible_seq();
                if let Some(last) = self.unchanged.last_mut() {
                    last.1 = to;
                }
                // It ends with the checkpoints that cut the tail: durable.
                self.states.push((to, self.model.clone()));
                self.durable = to;
                Ok(())
            }
            _ => {
                let tree = next.entry("c".into()).or_default();
                for i in 0..40u8 {
                    tree.insert(vec![i], vec![i; 30]);
                }
                self.commit(
                    next,
                    |t| {
                        let mut tr = t.open_tree("c")?;
                        for i in 0..40u8 {
                            tr.insert(&[i], &[i; 30])?;
                        }
                        Ok(())
                    },
                    Finality::Durable,
                )
            }
        }
    }
}

thread_local! {
    static FS: std::cell::RefCell<Option<SimFs>> = const { std::cell::RefCell::new(None) };
}

fn run_sequence(fs: &SimFs, ops: &[u8]) -> Runner {
    FS.with(|f| *f.borrow_mut() = Some(fs.clone()));
    let mut r = Runner {
        db: None,
        model: BTreeMap::new(),
        states: vec![(0, BTreeMap::new())],
        durable: 0,
        in_flight: None,
        snapshot: None,
        unchanged: Vec::new(),
        shrank: false,
    };
    match open(fs, 4096) {
        Ok(db) => r.db = Some(db),
        Err(_) => return r,
    }
    for &op in ops {
        if r.op(op).is_err() {
            break;
        }
    }
    r.snapshot = None;
    // Leave without a clean shutdown: a crashed process runs no destructors that
    // write, so forget the handle's checkpoint-on-drop by poisoning nothing; the
    // crash plan already stopped every call.
    r
}

fn sequences(max_len: usize) -> Vec<Vec<u8>> {
    let mut all = vec![vec![]];
    let mut frontier = vec![vec![]];
    for _ in 0..max_len {
        let mut next = Vec::new();
        for s in &frontier {
            for k in 0..KINDS {
                let mut t: Vec<u8> = s.clone();
                t.push(k);
                next.push(t);
            }
        }
        all.extend(next.iter().cloned());
        frontier = next;
    }
    all.retain(|s| !s.is_empty());
    all
}

/// Crash points tried, and whether the clean run's compaction cut the file.
fn check_sequence(ops: &[u8]) -> (u64, bool) {
    let clean = SimFs::new(1);
    let r = run_sequence(&clean, ops);
    let shrank = r.shrank;
    drop(r);
    let calls = clean.calls();
    let mut points = 0;
    for crash_at in 0..calls {
        let fs = SimFs::new(1);
        fs.set_plan(FaultPlan {
            crash_at: Some(crash_at),
            ..FaultPlan::default()
        });
        let r = run_sequence(&fs, ops);
        let (states, durable, in_flight) = (r.states.clone(), r.durable, r.in_flight.clone());
        let unchanged = r.unchanged.clone();
        drop(r);
        if !fs.crashed() {
            continue;
        }
        points += 1;
        for mode in [
            ImageMode::LoseAll,
            ImageMode::KeepAll,
            ImageMode::Random(crash_at),
        ] {
            let image = fs.crash_image(mode);
            let ctx = format!("ops {ops:?}, crash at call {crash_at}, {mode:?}");
            let db = open(&image, 4096).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got =
                read_model(&db).unwrap_or_else(|e| panic!("{ctx}: recovery check failed: {e}"));
            let seq = db.visible_seq();
            let ok = admits(&states, in_flight.as_ref(), durable, seq, &got)
                || unchanged.iter().any(|(from, to, m)| {
                    *from < seq && seq <= *to && seq >= durable && normalize(m) == got
                });
            assert!(
                ok,
                "{ctx}: recovered seq {seq} not a committed state at or after durable {durable}"
            );
        }
    }
    (points, shrank)
}

fn part(which: usize) {
    let all = sequences(3);
    let started = std::time::Instant::now();
    let mut points = 0;
    let mut n = 0;
    let mut shrinking = 0;
    for (i, ops) in all.iter().enumerate() {
        if i % 2 == which {
            let (p, shrank) = check_sequence(ops);
            points += p;
            shrinking += u32::from(shrank);
            n += 1;
        }
    }
    println!(
        "part {which}: {n} sequences, {points} crash points, {} recoveries in {:.1?}; \
         {shrinking} sequences whose compaction cut the file",
        points * 3,
        started.elapsed()
    );
    assert!(
        shrinking > 0,
        "no compaction cut the file: the truncation path went untested"
    );
}

#[test]
fn all_sequences_of_up_to_three_operations_even() {
    part(0);
}

#[test]
fn all_sequences_of_up_to_three_operations_odd() {
    part(1);
}
