//! Commit notifications (`Database::subscribe`): a subscriber sees every
//! `Visible(seq)` and `Durable(seq)` in order, never a seq durable before it is
//! visible, checkpoints as they happen; a subscriber that reads late (or never)
//! loses nothing and holds nothing up; poison and close end the stream.

mod common;

use std::sync::Arc;
use std::time::Duration;

use aedb::pager::sim::{FaultPlan, SimFs, test_seed};
use aedb::storage::{CommitEvent, CommitSubscription, Database, Finality};
use common::open;

fn commit(db: &Database, i: u32, finality: Finality) -> u64 {
    let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    txn.open_tree("t")
        .unwrap_or_else(|e| panic!("{e}"))
        .insert(&i.to_be_bytes(), b"v")
        .unwrap_or_else(|e| panic!("{e}"));
    txn.commit(finality).unwrap_or_else(|e| panic!("{e}")).seq
}

/// Reads events until `Durable(last)` and a checkpoint at or past `checkpoint`
/// have both arrived; checks the order rules on the way.
fn drain(
    sub: &mut CommitSubscription,
    from: u64,
    last: u64,
    checkpoint: u64,
) -> (Vec<u64>, Vec<u64>, u64) {
    let (mut visible, mut durable, mut cp) = (Vec::new(), Vec::new(), 0);
    while durable.last() != Some(&last) || cp < checkpoint {
        match sub.next_blocking(Duration::from_secs(10)) {
            Some(CommitEvent::Visible(s)) => visible.push(s),
            Some(CommitEvent::Durable(s)) => {
                assert!(
                    visible.contains(&s) || s <= from,
                    "Durable({s}) before Visible({s})"
                );
                durable.push(s);
            }
            Some(CommitEvent::Checkpoint(s)) => {
                assert!(s > cp, "checkpoints only move forward");
                cp = s;
            }
            Some(other) => panic!("unexpected event {other:?}"),
            None => panic!("no event within 10 s (visible {visible:?}, durable {durable:?})"),
        }
    }
    (visible, durable, cp)
}

#[test]
fn a_subscriber_sees_every_visible_and_durable_seq_in_order() {
    let seed = test_seed("notify order", 0x0401);
    let fs = SimFs::new(seed);
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let from = db.visible_seq();
    let mut sub = db.subscribe();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut last = from;
    for i in 0..200 {
        let finality = if rng.u8(0..4) == 0 {
            Finality::Durable
        } else {
            Finality::Visible
        };
        last = commit(&db, i, finality);
    }
    db.checkpoint_now().unwrap_or_else(|e| panic!("{e}"));
    let (visible, durable, cp) = drain(&mut sub, from, last, last);
    assert_eq!(visible, (from + 1..=last).collect::<Vec<_>>());
    assert_eq!(durable, (from + 1..=last).collect::<Vec<_>>());
    assert_eq!(cp, last);
    assert_eq!(sub.try_next(), None, "nothing more");
    println!(
        "notify: {} visible, {} durable events in order, checkpoint {cp}",
        visible.len(),
        durable.len()
    );
}

#[test]
fn concurrent_committers_and_an_async_subscriber() {
    let seed = test_seed("notify concurrent", 0x0402);
    let fs = SimFs::new(seed);
    let db = Arc::new(open(&fs, 4096).unwrap_or_else(|e| panic!("{e}")));
    let from = db.visible_seq();
    let mut sub = db.subscribe();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let reader = rt.spawn(async move {
        let (mut visible, mut durable) = (Vec::new(), Vec::new());
        while durable.len() < 200 {
            match sub.next().await {
                Some(CommitEvent::Visible(s)) => visible.push(s),
                Some(CommitEvent::Durable(s)) => durable.push(s),
                Some(_) => {}
                None => break,
            }
        }
        (visible, durable)
    });
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    commit(&db, t * 1000 + i, Finality::Durable);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer panicked"));
    }
    let (visible, durable) = rt.block_on(reader).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visible, (from + 1..=from + 200).collect::<Vec<_>>());
    assert_eq!(durable, (from + 1..=from + 200).collect::<Vec<_>>());
}

#[test]
fn a_subscriber_that_reads_late_loses_nothing() {
    let fs = SimFs::new(test_seed("notify late", 0x0403));
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let from = db.visible_seq();
    let mut idle = db.subscribe();
    for i in 0..1000 {
        commit(&db, i, Finality::Durable);
    }
    // Nothing was queued for it: it holds three numbers, and catches up now.
    let (visible, durable, _) = drain(&mut idle, from, from + 1000, 0);
    assert_eq!(visible.len(), 1000);
    assert_eq!(durable.len(), 1000);
}

#[test]
fn poison_and_close_end_the_stream() {
    let fs = SimFs::new(test_seed("notify poison", 0x0404));
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let mut sub = db.subscribe();
    commit(&db, 1, Finality::Visible);
    fs.set_plan(FaultPlan {
        eio_at: Some(fs.calls()),
        eio_forever: true,
        ..FaultPlan::default()
    });
    assert!(db.sync().is_err());
    assert!(db.commit_heads().stopped);
    assert!(matches!(
        sub.next_blocking(Duration::from_secs(5)),
        Some(CommitEvent::Visible(_))
    ));
    assert_eq!(
        sub.next_blocking(Duration::from_secs(5)),
        None,
        "a stopped engine ends the stream"
    );
    drop(db);

    let fs = SimFs::new(test_seed("notify close", 0x0405));
    let db = open(&fs, 4096).unwrap_or_else(|e| panic!("{e}"));
    let mut sub = db.subscribe();
    let waiter = std::thread::spawn(move || sub.next_blocking(Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(50));
    drop(db);
    assert_eq!(
        waiter.join().unwrap_or_else(|_| panic!("waiter panicked")),
        None,
        "closing wakes and ends a waiting subscriber"
    );
}
