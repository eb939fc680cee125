//! `operational_metrics()` (issue #17): its counters follow what happened —
//! commits, errors by kind, WAL appends and syncs, durable waits, checkpoints,
//! heads, queue depth and in-flight commits under load — and read 0 for the
//! 0.1.9 stages this engine does not have.

use std::sync::Arc;

use aedb::AedbInstance;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::permission::CallerContext;

const P: &str = "p";
const S: &str = "app";

fn kv_set(key: &str) -> Mutation {
    Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_commits_errors_checkpoints_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = AedbConfig {
        max_inflight_commits: 2,
        ..AedbConfig::default()
    };
    let db = Arc::new(AedbInstance::open(config, dir.path()).unwrap());
    db.create_project(P).await.unwrap();
    let before = db.operational_metrics().await;
    for i in 0..20 {
        db.commit(kv_set(&format!("k{i}"))).await.unwrap();
    }
    let m = db.operational_metrics().await;
    assert_eq!(m.commits_total - before.commits_total, 20, "{m:?}");
    assert!(m.wal_append_ops - before.wal_append_ops >= 20);
    assert!(m.wal_append_bytes > before.wal_append_bytes);
    assert!(m.wal_sync_ops > before.wal_sync_ops);
    assert!(m.durable_wait_ops - before.durable_wait_ops >= 20);
    assert!(m.avg_commit_latency_micros > 0);
    assert_eq!(m.visible_head_seq, db.storage().visible_seq());
    assert_eq!(m.durable_head_seq, db.storage().durable_seq());
    assert_eq!(m.durable_head_lag, 0, "every commit was durable");
    assert_eq!((m.queue_depth, m.inflight_commits), (0, 0), "idle");
    assert!(m.wal_bytes_since_checkpoint > 0 && m.dirty_bytes_since_checkpoint > 0);
    assert!(m.page_file_bytes > 0);
    assert_eq!(m.startup_recovered_seq, db.recovery_report().head_seq);
    assert_eq!((m.epoch_process_ops, m.queue_full_rejections), (0, 0));

    // Errors by kind.
    let e = db.commit(Mutation::KvSet {
        project_id: "nope".into(),
        scope_id: S.into(),
        key: b"k".to_vec(),
        value: b"v".to_vec(),
    });
    assert!(e.await.is_err());
    let e = db.commit(Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: Vec::new(),
        value: b"v".to_vec(),
    });
    assert!(e.await.is_err());
    let denied = db
        .commit_as(CallerContext::new("mallory"), kv_set("x"))
        .await;
    assert!(denied.is_err());
    let v = db
        .kv_get_no_auth(P, S, b"k0", aedb::ConsistencyMode::AtLatest)
        .await
        .unwrap()
        .unwrap();
    let conflict = db
        .kv_compare_and_swap(P, S, b"k0".to_vec(), b"w".to_vec(), v.version + 1)
        .await;
    assert!(conflict.is_err());
    let after = db.operational_metrics().await;
    assert_eq!(after.commit_errors - m.commit_errors, 4, "{after:?}");
    assert_eq!(after.permission_rejections - m.permission_rejections, 1);
    assert!(after.validation_rejections > m.validation_rejections);
    assert_eq!(after.conflict_rejections - m.conflict_rejections, 1);
    assert!(after.conflict_rate > 0.0);

    // A checkpoint: counted and timed, and nothing is pending after it.
    db.checkpoint_now().await.unwrap();
    let c = db.operational_metrics().await;
    assert_eq!(c.checkpoints_total, after.checkpoints_total + 1);
    assert!(c.last_checkpoint_micros > 0);
    assert_eq!(c.checkpoint_seq, db.storage().checkpoint_seq());
    assert_eq!(
        (c.wal_bytes_since_checkpoint, c.dirty_bytes_since_checkpoint),
        (0, 0)
    );

    // An old snapshot pins what commits retire, and the metrics say so.
    let held = db.storage().begin_read().unwrap();
    let held_seq = held.seq();
    for i in 0..30 {
        db.commit(kv_set(&format!("k{}", i % 5))).await.unwrap();
    }
    let p = db.operational_metrics().await;
    assert!(
        p.oldest_snapshot_seq.is_some_and(|s| s <= held_seq),
        "{p:?}"
    );
    assert!(
        p.oldest_snapshot_lag_commits >= 30 && p.snapshot_holds >= 1,
        "{p:?}"
    );
    assert!(p.pinned_page_bytes > 0, "{p:?}");
    let holds = p.snapshot_holds;
    drop(held);
    let p = db.operational_metrics().await;
    assert_eq!(p.snapshot_holds, holds - 1, "the reader's hold is released");

    // Under load: 32 tasks through 2 slots queue, and never more than 2 run.
    let base = db.operational_metrics().await.commits_total;
    let writers: Vec<_> = (0..32)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    db.commit(kv_set(&format!("t{t}.{i}"))).await.unwrap();
                }
            })
        })
        .collect();
    let (mut max_queue, mut max_inflight) = (0, 0);
    while !writers.iter().all(|w| w.is_finished()) {
        let m = db.operational_metrics().await;
        max_queue = max_queue.max(m.queue_depth);
        max_inflight = max_inflight.max(m.inflight_commits);
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    println!("under load: queue depth up to {max_queue}, in flight up to {max_inflight}");
    assert!(max_queue > 0, "32 callers through 2 slots must queue");
    assert!((1..=2).contains(&max_inflight), "{max_inflight}");
    let done = db.operational_metrics().await;
    assert_eq!(done.commits_total - base, 320);
    assert_eq!((done.queue_depth, done.inflight_commits), (0, 0));
}
