//! A model workload for the pager: pages with known contents, a root page that lists
//! them, and meta commits. Shared by the crash, fault and corruption tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use aedb_pager::format::{read_u64, write_u64};
use aedb_pager::sim::SimFs;
use aedb_pager::{
    Expect, MetaUpdate, PAGE_HEADER_LEN, PageId, PageKind, Pager, PagerError, PagerOptions,
    ReadView,
};

pub const ROOT: PageKind = PageKind(10);
pub const DATA: PageKind = PageKind(11);
pub const OWNER: u64 = 77;

/// One committed state: which pages are live, with the generation that wrote them
/// and the tag their contents derive from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct State {
    pub live: BTreeMap<u64, (u64, u64)>,
    /// Commit number (checkpoint seq) of this state; 0 for the empty file.
    pub seq: u64,
}

pub fn dir() -> PathBuf {
    PathBuf::from("/db")
}

pub fn fill(tag: u64, payload: &mut [u8]) {
    let mut rng = fastrand::Rng::with_seed(tag);
    rng.fill(payload);
}

/// The root page payload: seq, count, then (id, generation, tag) triples.
pub fn encode_root(state: &State, page: &mut [u8]) {
    let p = &mut page[PAGE_HEADER_LEN..];
    write_u64(p, 0, state.seq);
    write_u64(p, 8, state.live.len() as u64);
    for (i, (id, (generation, tag))) in state.live.iter().enumerate() {
        let at = 16 + i * 24;
        write_u64(p, at, *id);
        write_u64(p, at + 8, *generation);
        write_u64(p, at + 16, *tag);
    }
}

pub fn decode_root(payload: &[u8]) -> Option<State> {
    let seq = read_u64(payload, 0);
    let n = read_u64(payload, 8);
    if n > (payload.len() as u64 - 16) / 24 {
        return None;
    }
    let n = n as usize;
    let live = (0..n)
        .map(|i| {
            let at = 16 + i * 24;
            (
                read_u64(payload, at),
                (read_u64(payload, at + 8), read_u64(payload, at + 16)),
            )
        })
        .collect();
    Some(State { live, seq })
}

pub fn max_live(page_size: u32) -> usize {
    ((page_size as usize - PAGE_HEADER_LEN - 16) / 24).min(40)
}

/// Tells the sim oracle which pages a durable meta reaches: the root's list.
pub fn register_reachability(fs: &SimFs) {
    fs.set_reachability(Arc::new(
        |read: &dyn Fn(u64) -> Option<Vec<u8>>, meta: &aedb_pager::Meta| {
            let Some(root) = meta.root else {
                return Vec::new();
            };
            let Some(page) = read(root) else {
                return Vec::new();
            };
            decode_root(&page[PAGE_HEADER_LEN..])
                .map(|s| s.live.keys().copied().collect())
                .unwrap_or_default()
        },
    ));
}

/// What a workload run got through.
#[derive(Debug, Default)]
pub struct Outcome {
    /// States whose commit returned Ok, oldest first (the empty state first).
    pub committed: Vec<State>,
    /// The state whose commit was in progress when an error stopped the run.
    pub in_flight: Option<State>,
    pub error: Option<PagerError>,
    pub pager: Option<Pager>,
}

pub fn open(fs: &SimFs, page_size: u32) -> aedb_pager::Result<Pager> {
    Pager::open(
        fs,
        &dir(),
        PagerOptions {
            page_size: Some(page_size),
            ..PagerOptions::default()
        },
    )
    .map(|(p, _)| p)
}

/// Runs `commits` random commits (seeded) against `fs`, stopping at the first error.
pub fn run_workload(fs: &SimFs, seed: u64, page_size: u32, commits: u64) -> Outcome {
    let mut out = Outcome {
        committed: vec![State::default()],
        ..Outcome::default()
    };
    let pager = match open(fs, page_size) {
        Ok(p) => p,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let mut rng = fastrand::Rng::with_seed(seed);
    // Continue from whatever the file holds.
    let mut state = match read_state(&pager) {
        Ok(s) => s,
        Err(e) => panic!("seed {seed}: workload opened a file that fails its check: {e}"),
    };
    out.committed = vec![state.clone()];
    let mut root: Option<u64> = pager.meta().root;
    let first = state.seq + 1;
    for seq in first..first + commits {
        let mut next = state.clone();
        next.seq = seq;
        let step = (|| -> aedb_pager::Result<u64> {
            // Drop a few pages, rewrite a few (copy-on-write), add a few.
            let ids: Vec<u64> = next.live.keys().copied().collect();
            for id in ids {
                match rng.u8(0..10) {
                    0 => {
                        next.live.remove(&id);
                        pager.retire(PageId(id), seq)?;
                    }
                    1 => {
                        next.live.remove(&id);
                        pager.retire(PageId(id), seq)?;
                        add_page(&pager, &mut next, &mut rng)?;
                    }
                    _ => {}
                }
            }
            let adds = rng.usize(0..6);
            for _ in 0..adds {
                if next.live.len() < max_live(page_size) {
                    add_page(&pager, &mut next, &mut rng)?;
                }
            }
            if let Some(old) = root {
                pager.retire(PageId(old), seq)?;
            }
            let new_root = pager.allocate()?;
            let mut buf = pager.page_buffer();
            encode_root(&next, &mut buf);
            pager.write_page(new_root, ROOT, OWNER, &mut buf)?;
            pager.commit(MetaUpdate {
                checkpoint_seq: seq,
                root: Some(new_root),
                wal_chain_hash: [seq as u8; 32],
            })?;
            Ok(new_root.0)
        })();
        match step {
            Ok(r) => {
                root = Some(r);
                state = next;
                out.committed.push(state.clone());
            }
            Err(e) => {
                out.in_flight = Some(next);
                out.error = Some(e);
                out.pager = Some(pager);
                return out;
            }
        }
    }
    out.pager = Some(pager);
    out
}

fn add_page(pager: &Pager, state: &mut State, rng: &mut fastrand::Rng) -> aedb_pager::Result<()> {
    let id = pager.allocate()?;
    let tag = rng.u64(..);
    let mut buf = pager.page_buffer();
    fill(tag, &mut buf[PAGE_HEADER_LEN..]);
    pager.write_page(id, DATA, OWNER, &mut buf)?;
    state.live.insert(id.0, (pager.building_generation(), tag));
    Ok(())
}

/// Reads the state a pager holds and checks every page it reaches, plus exact page
/// accounting: each id in 2..page_count is reachable exactly once or free.
pub fn read_state(pager: &Pager) -> Result<State, String> {
    let meta = pager.meta();
    let view: ReadView = pager.view().map_err(|e| e.to_string())?;
    let Some(root) = meta.root else {
        check_accounting(pager, &[])?;
        return Ok(State::default());
    };
    let expect = Expect {
        kind: Some(ROOT),
        owner: Some(OWNER),
        generation: Some(meta.root_generation),
    };
    let page = view
        .page_expect(PageId(root), expect)
        .map_err(|e| e.to_string())?;
    let state = decode_root(page.payload()).ok_or("root page list overflows")?;
    let mut reachable = vec![root];
    for (&id, &(generation, tag)) in &state.live {
        let page = view
            .page_expect(
                PageId(id),
                Expect {
                    kind: Some(DATA),
                    generation: Some(generation),
                    owner: Some(OWNER),
                },
            )
            .map_err(|e| e.to_string())?;
        let mut want = vec![0u8; page.payload().len()];
        fill(tag, &mut want);
        if page.payload() != want.as_slice() {
            return Err(format!("page {id} has wrong contents"));
        }
        reachable.push(id);
    }
    check_accounting(pager, &reachable)?;
    Ok(state)
}

pub fn check_accounting(pager: &Pager, reachable: &[u64]) -> Result<(), String> {
    match pager.account(reachable.iter().copied().map(PageId)).first() {
        None => Ok(()),
        Some(problem) => Err(problem.clone()),
    }
}

pub fn data_path() -> PathBuf {
    dir().join(aedb_pager::DATA_FILE_NAME)
}

pub fn page_offset(id: u64, page_size: u32) -> u64 {
    id * u64::from(page_size)
}
