//! A model workload for the storage engine: named trees, puts and deletes with
//! overflow values, Visible and Durable commits, large commits, checkpoints
//! (blocking and fuzzy), compaction, small WAL segments. Shared by the crash
//! matrix and the fault loops.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aedb::pager::sim::{FaultPlan, ImageMode, SimFs};
use aedb::storage::{
    Database, DurabilityMode, Finality, StorageError, StorageOptions, WriteTransaction,
};

pub type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

pub fn dir() -> PathBuf {
    PathBuf::from("/db")
}

pub fn options(page_size: u32) -> StorageOptions {
    StorageOptions {
        page_size: Some(page_size),
        durability: DurabilityMode::Full,
        wal_segment_bytes: 1500,
        checkpoint_wal_bytes: u64::MAX,
        checkpoint_dirty_bytes: u64::MAX,
        checkpoint_interval_ms: None,
        large_commit_bytes: Some(large_commit_bytes(page_size)),
        // Spill past 8 pages, so trees of many leaves spill while
        // a transaction edits them (btree write invariant 7).
        spill_dirty_bytes: 8 * u64::from(page_size),
        ..StorageOptions::default()
    }
}

/// Past this many bytes of effects a commit is large (engine invariant 14):
/// above what an ordinary `step` logs (at most 5 effects of values under two
/// pages), so only `large_step` makes large commits, never one made beside a
/// stalled fuzzy checkpoint (it would wait for that checkpoint's meta).
pub fn large_commit_bytes(page_size: u32) -> usize {
    12 * page_size as usize
}

pub fn open(fs: &SimFs, page_size: u32) -> Result<Database, StorageError> {
    Database::open_with(Arc::new(fs.clone()), &dir(), options(page_size))
}

/// What a workload got through.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Model state after each commit that returned Ok: (seq, state).
    pub states: Vec<(u64, Model)>,
    /// Highest seq acknowledged Durable.
    pub durable: u64,
    /// The commit in flight when an error stopped the run.
    pub in_flight: Option<(u64, Model)>,
    pub error: Option<StorageError>,
    pub commits: u64,
    /// Commits that change nothing (compaction's): every seq in `(from, to]`
    /// reads as this model.
    pub unchanged: Vec<(u64, u64, Model)>,
    /// Pages spilled by the run's transactions so far (as of its last large
    /// commit): the matrix checks that spilling happened.
    pub spilled: u64,
}

fn value(rng: &mut fastrand::Rng, page_size: u32) -> Vec<u8> {
    let len = match rng.u8(0..10) {
        0 => rng.usize(page_size as usize / 3..page_size as usize * 2),
        _ => rng.usize(0..40),
    };
    let b = rng.u8(..);
    vec![b; len]
}

/// The recovery check's state rule: a database recovered at `seq` holding `got`
/// is sound when `seq` is a committed state (or the commit in flight) at or after
/// the last durable acknowledgement, and `got` is that state.
pub fn admits(
    states: &[(u64, Model)],
    in_flight: Option<&(u64, Model)>,
    durable: u64,
    seq: u64,
    got: &Model,
) -> bool {
    states
        .iter()
        .chain(in_flight)
        .any(|(s, m)| *s == seq && *s >= durable && normalize(m) == *got)
}

impl Outcome {
    /// [`admits`] for this run, plus the seqs of commits that changed nothing.
    pub fn admits(&self, seq: u64, got: &Model) -> bool {
        admits(
            &self.states,
            self.in_flight.as_ref(),
            self.durable,
            seq,
            got,
        ) || self.unchanged.iter().any(|(from, to, m)| {
            *from < seq && seq <= *to && seq >= self.durable && normalize(m) == *got
        })
    }
}

/// Runs `commits` random commits; stops at the first error.
pub fn run(fs: &SimFs, seed: u64, page_size: u32, commits: u64) -> Outcome {
    let mut out = Outcome::default();
    let db = match open(fs, page_size) {
        Ok(db) => db,
        Err(e) => {
            // Only a fresh directory can fail to open in these tests: the empty state.
            out.states.push((0, Model::new()));
            out.error = Some(e);
            return out;
        }
    };
    let mut model = match read_model(&db) {
        Ok(m) => m,
        Err(e) => panic!("seed {seed}: workload opened a database that fails its check: {e}"),
    };
    out.states.push((db.visible_seq(), model.clone()));
    out.durable = db.visible_seq();
    let mut rng = fastrand::Rng::with_seed(seed);
    for i in 0..commits {
        // Large commits with 64 KiB pages write ~1 MiB each: rarer there, to
        // keep the matrix's time (it replays every crash point).
        let large_one_in = if page_size > 4096 { 40 } else { 12 };
        let stepped = if rng.u8(0..large_one_in) == 0 {
            large_step(&db, &mut rng, page_size, &mut model, &mut out)
        } else {
            step(&db, &mut rng, page_size, &mut model, &mut out)
        };
        if let Err(e) = stepped {
            out.error = Some(e);
            return out;
        }
        // At least two checkpoints per workload, plus random ones; half of them
        // fuzzy with commits made while the checkpoint's page-file sync stalls.
        if i % 9 == 8 || rng.u8(0..8) == 0 {
            let checkpointed = if rng.bool() {
                // A checkpoint makes everything so far durable.
                db.checkpoint_now().map(|()| out.durable = model_seq(&out))
            } else {
                fuzzy_checkpoint(fs, &db, &mut rng, page_size, &mut model, &mut out)
            };
            if let Err(e) = checkpointed {
                out.error = Some(e);
                return out;
            }
        }
        // Now and then a compaction: relocation commits that change nothing,
        // and checkpoints that cut the file's free tail.
        if rng.u8(0..30) == 0 {
            let from = model_seq(&out);
            out.unchanged.push((from, u64::MAX, model.clone()));
            if let Err(e) = db.compact() {
                out.error = Some(e);
                return out;
            }
            let to = db.visible_seq();
            if let Some(last) = out.unchanged.last_mut() {
                last.1 = to;
            }
            out.states.push((to, model.clone()));
            out.durable = to;
        }
    }
    out
}

/// One edit of a step.
enum Op {
    DeleteTree(&'static str),
    Insert(&'static str, Vec<u8>, Vec<u8>),
    Remove(&'static str, Vec<u8>),
}

fn apply_ops(txn: &mut WriteTransaction<'_>, ops: &[Op]) -> Result<(), StorageError> {
    for op in ops {
        match op {
            Op::DeleteTree(name) => {
                txn.delete_tree(name)?;
            }
            Op::Insert(name, key, v) => {
                txn.open_tree(name)?.insert(key, v)?;
            }
            Op::Remove(name, key) => {
                txn.open_tree(name)?.remove(key)?;
            }
        }
    }
    Ok(())
}

/// One random commit (or abort) applied to `model`; errors leave the commit in
/// flight in `out`. One in three goes through `Database::submit` (commit
/// coalescing: here a batch of one, led by this thread).
fn step(
    db: &Database,
    rng: &mut fastrand::Rng,
    page_size: u32,
    model: &mut Model,
    out: &mut Outcome,
) -> Result<(), StorageError> {
    let names = ["alpha", "beta", "gamma", "delta"];
    let mut next = model.clone();
    let mut ops = Vec::new();
    for _ in 0..rng.usize(1..6) {
        let name = names[rng.usize(0..names.len())];
        match rng.u8(0..20) {
            0 => {
                ops.push(Op::DeleteTree(name));
                next.remove(name);
            }
            1..=13 => {
                let key = format!("k{}", rng.u8(0..40)).into_bytes();
                let v = value(rng, page_size);
                next.entry(name.to_string())
                    .or_default()
                    .insert(key.clone(), v.clone());
                ops.push(Op::Insert(name, key, v));
            }
            _ => {
                let key = format!("k{}", rng.u8(0..40)).into_bytes();
                next.entry(name.to_string()).or_default().remove(&key);
                ops.push(Op::Remove(name, key));
            }
        }
    }
    let abort = rng.u8(0..8) == 0;
    let finality = if rng.bool() {
        Finality::Durable
    } else {
        Finality::Visible
    };
    let seq = if rng.u8(0..3) == 0 {
        // Submitted: the closure runs in the leader's transaction; a refusal
        // (the abort) leaves nothing.
        out.in_flight = Some((db.visible_seq() + 1, next.clone()));
        let submitted = db.submit(finality, move |txn| -> Result<(), Refused> {
            apply_ops(txn, &ops)?;
            if abort { Err(Refused::Abort) } else { Ok(()) }
        });
        match submitted {
            Ok(((), r)) => {
                record_commit(r.seq, next, model, out);
                r.seq
            }
            Err(Refused::Abort) => {
                out.in_flight = None;
                return Ok(());
            }
            Err(Refused::Storage(e)) => return Err(e),
        }
    } else {
        let mut txn = db.begin_write()?;
        apply_ops(&mut txn, &ops)?;
        if abort {
            txn.abort();
            return Ok(());
        }
        commit_recorded(txn, finality, next, model, out)?
    };
    if finality == Finality::Durable {
        out.durable = seq;
    }
    Ok(())
}

/// A submitted step's error: its own abort, or the engine's.
enum Refused {
    Abort,
    Storage(StorageError),
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

/// Commits `txn`, whose result is `next`: in flight in `out` until it
/// returns, then the model's new state; returns its seq.
fn commit_recorded(
    txn: aedb::storage::WriteTransaction<'_>,
    finality: Finality,
    next: Model,
    model: &mut Model,
    out: &mut Outcome,
) -> Result<u64, StorageError> {
    out.in_flight = Some((txn.seq(), next.clone()));
    let r = txn.commit(finality)?;
    record_commit(r.seq, next, model, out);
    Ok(r.seq)
}

/// A commit returned: `next` is the model's state at `seq`.
fn record_commit(seq: u64, next: Model, model: &mut Model, out: &mut Outcome) {
    out.in_flight = None;
    *model = next;
    out.states.push((seq, model.clone()));
    out.commits += 1;
}

/// A large commit: puts past `large_commit_bytes` into one tree (and a few
/// deletes), durable on return whatever the finality.
fn large_step(
    db: &Database,
    rng: &mut fastrand::Rng,
    page_size: u32,
    model: &mut Model,
    out: &mut Outcome,
) -> Result<(), StorageError> {
    let names = ["alpha", "beta", "gamma", "delta"];
    let name = names[rng.usize(0..names.len())];
    let mut next = model.clone();
    let mut txn = db.begin_write()?;
    let mut tree = txn.open_tree(name)?;
    let entries = next.entry(name.to_string()).or_default();
    for _ in 0..rng.usize(1..4) {
        let key = format!("k{}", rng.u8(0..40)).into_bytes();
        tree.remove(&key)?;
        entries.remove(&key);
    }
    // Either overflow values under a few keys, or many small entries (a tree
    // of many leaves, which the transaction spills as it grows).
    let small = page_size <= 4096 && rng.u8(0..8) == 0;
    if small {
        for _ in 0..rng.usize(0..200) {
            let key = format!("n{:04}", rng.u16(0..400)).into_bytes();
            tree.remove(&key)?;
            entries.remove(&key);
        }
    }
    let mut logged = 0;
    while logged <= large_commit_bytes(page_size) {
        let (key, v) = if small {
            let key = format!("n{:04}", rng.u16(0..400)).into_bytes();
            (key, vec![rng.u8(..); rng.usize(100..200)])
        } else {
            let key = format!("k{}", rng.u8(0..60)).into_bytes();
            let v = vec![rng.u8(..); rng.usize(page_size as usize / 2..page_size as usize * 2)];
            (key, v)
        };
        logged += 9 + name.len() + key.len() + v.len();
        tree.insert(&key, &v)?;
        entries.insert(key, v);
    }
    drop(tree);
    assert!(
        txn.is_large(),
        "{logged} bytes of effects did not make the commit large"
    );
    if rng.u8(0..8) == 0 {
        txn.abort();
        return Ok(());
    }
    let seq = commit_recorded(txn, Finality::Visible, next, model, out)?;
    out.spilled = db.stats().spilled_pages;
    // A large commit is durable when it returns (its two metas).
    out.durable = seq;
    Ok(())
}

/// `checkpoint_now` on another thread, its page-file sync held back while this
/// thread makes a few commits beside it (engine invariant 3: the writer lock is
/// free between the cut and the trim); then the sync goes on. Deterministic:
/// the checkpoint runs alone until it stalls, the commits run while it is
/// stalled, and it finishes alone.
fn fuzzy_checkpoint(
    fs: &SimFs,
    db: &Database,
    rng: &mut fastrand::Rng,
    page_size: u32,
    model: &mut Model,
    out: &mut Outcome,
) -> Result<(), StorageError> {
    let cut = model_seq(out);
    let stall = fs.stall_next_sync(aedb::pager::DATA_FILE_NAME);
    // Released even if a commit beside it panics (a G3 violation), so the
    // scope can join the checkpoint thread instead of hanging.
    struct ReleaseOnDrop<'a>(&'a aedb::pager::sim::SyncStall);
    impl Drop for ReleaseOnDrop<'_> {
        fn drop(&mut self) {
            self.0.release();
        }
    }
    std::thread::scope(|scope| {
        let _release = ReleaseOnDrop(&stall);
        let checkpoint = scope.spawn(|| db.checkpoint_now());
        // The checkpoint stalls at its sync, or fails before it (a crash).
        while !stall.wait_stalled(std::time::Duration::from_millis(1)) {
            if checkpoint.is_finished() {
                break;
            }
        }
        let beside = (0..rng.usize(1..4)).try_for_each(|_| step(db, rng, page_size, model, out));
        stall.release();
        let done = checkpoint
            .join()
            .unwrap_or_else(|_| panic!("the checkpoint thread panicked"));
        beside?;
        done?;
        // The checkpoint made everything through its cut durable.
        out.durable = out.durable.max(cut);
        Ok(())
    })
}

fn model_seq(out: &Outcome) -> u64 {
    out.states.last().map_or(0, |(s, _)| *s)
}

/// Reads every tree, runs the checker on each, and checks page accounting exactly.
pub fn read_model(db: &Database) -> Result<Model, String> {
    let model = read_contents(db)?;
    check_all(db)?;
    Ok(model)
}

/// The latest state's trees as a model, without the page accounting (for a
/// poisoned engine, whose allocator is never used again).
pub fn read_contents(db: &Database) -> Result<Model, String> {
    let read = db.begin_read().map_err(|e| e.to_string())?;
    let mut model = Model::new();
    for name in read.list_trees().map_err(|e| e.to_string())? {
        let tree = read.open_tree(&name).map_err(|e| e.to_string())?;
        let mut entries = BTreeMap::new();
        for e in tree.iter().map_err(|e| e.to_string())? {
            let (k, v) = e.map_err(|e| format!("tree {name}: {e}"))?;
            entries.insert(k.into_owned(), v.into_owned());
        }
        model.insert(name, entries);
    }
    Ok(model.into_iter().filter(|(_, t)| !t.is_empty()).collect())
}

/// Tree checker on the root directory and every tree, plus exact page accounting.
pub fn check_all(db: &Database) -> Result<(), String> {
    let report = db.check().map_err(|e| e.to_string())?;
    match report.problems.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} problems, first: {first}",
            report.problems.len()
        )),
    }
}

/// Normalizes a model (trees that exist but are empty are the same as absent: an
/// empty tree and a dropped one read alike through the model).
pub fn normalize(m: &Model) -> Model {
    m.iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub fn path_of(p: &str) -> PathBuf {
    Path::new(p).to_path_buf()
}

/// G1: crash at every persistence call of one seeded workload, three images each;
/// panics on any recovery-check failure.
/// Pages spilled by the clean runs of every `matrix` so far (the crash
/// matrix checks that its workloads spill).
pub static SPILLED_PAGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn matrix(seed: u64, page_size: u32, commits: u64, points: &mut u64) {
    let clean = SimFs::new(seed);
    let out = run(&clean, seed, page_size, commits);
    SPILLED_PAGES.fetch_add(out.spilled, std::sync::atomic::Ordering::Relaxed);
    assert!(
        out.error.is_none(),
        "seed {seed}: clean run failed: {:?}",
        out.error
    );
    let calls = clean.calls();
    for crash_at in 0..calls {
        *points += 1;
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan {
            crash_at: Some(crash_at),
            ..FaultPlan::default()
        });
        let out = run(&fs, seed, page_size, commits);
        assert!(fs.crashed(), "seed {seed}: no crash at call {crash_at}");
        let images = [
            ImageMode::LoseAll,
            ImageMode::KeepAll,
            ImageMode::Random(seed ^ (crash_at << 8)),
        ];
        for (i, mode) in images.into_iter().enumerate() {
            let image = fs.crash_image(mode);
            let ctx = format!(
                "seed {seed}, page size {page_size}, crash at call {crash_at}, image {i} ({mode:?})"
            );
            let db =
                open(&image, page_size).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            let got =
                read_model(&db).unwrap_or_else(|e| panic!("{ctx}: recovery check failed: {e}"));
            let seq = db.visible_seq();
            assert!(
                out.admits(seq, &got),
                "{ctx}: recovered seq {seq} does not match the model (durable {}, committed up to {:?}, in flight {:?})",
                out.durable,
                out.states.last().map(|(s, _)| *s),
                out.in_flight.as_ref().map(|(s, _)| *s)
            );
            drop(db);
            // The recovered database takes new commits, and they survive a reopen.
            let more = run(&image, seed.wrapping_add(7), page_size, 3);
            assert!(
                more.error.is_none(),
                "{ctx}: commits after recovery failed: {:?}",
                more.error
            );
            let db = open(&image, page_size)
                .unwrap_or_else(|e| panic!("{ctx}: second reopen failed: {e}"));
            read_model(&db)
                .unwrap_or_else(|e| panic!("{ctx}: check after further commits failed: {e}"));
            assert!(
                image.violations().is_empty(),
                "{ctx}: {:?}",
                image.violations()
            );
        }
        assert!(
            fs.violations().is_empty(),
            "seed {seed}: {:?}",
            fs.violations()
        );
    }
}

/// G8: EIO at every call of one workload; every crash image recovers a committed
/// state at or after the last durable ack. Panics otherwise; returns how many calls
/// failed the workload.
pub fn sync_failure_matrix(seed: u64, commits: u64) -> u64 {
    let clean = SimFs::new(seed);
    run(&clean, seed, 4096, commits);
    let mut failed = 0;
    // Each failing call is tried twice: the process runs on to the end, and the
    // process dies two calls later. The second catches an acknowledgement given
    // after a failed sync (a retried sync "succeeds" on pages the kernel dropped)
    // before a checkpoint could rewrite the lost frames into the page file.
    let cases = (0..clean.calls()).flat_map(|k| [(k, None), (k, Some(k + 2))]);
    for (k, crash_at) in cases {
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan {
            eio_at: Some(k),
            crash_at,
            ..FaultPlan::default()
        });
        let out = run(&fs, seed, 4096, commits);
        // A run that reported no error is checked too: a failed sync that went
        // unreported (retried, say) shows up as a lost acknowledged commit below.
        failed += u64::from(crash_at.is_none() && out.error.is_some());
        // A crash after the failed sync loses what it covered (clean but lost).
        for mode in [ImageMode::LoseAll, ImageMode::KeepAll, ImageMode::Random(k)] {
            let image = fs.crash_image(mode);
            let db = open(&image, 4096)
                .unwrap_or_else(|e| panic!("k {k} crash {crash_at:?} {mode:?}: {e}"));
            let got = read_model(&db)
                .unwrap_or_else(|e| panic!("k {k} crash {crash_at:?} {mode:?}: {e}"));
            let seq = db.visible_seq();
            assert!(
                out.admits(seq, &got),
                "k {k} crash {crash_at:?} {mode:?}: recovered seq {seq}, but seq {} was acknowledged durable",
                out.durable
            );
        }
    }
    failed
}
