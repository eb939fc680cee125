//! The seed README's "Operational APIs": a fuzzy checkpoint, the operational
//! metrics, a full backup restored into a fresh directory and opened there
//! (the same keys at the same versions), and the whole-database invariant
//! check on both copies. `cargo run --example operations`

use aedb::AedbInstance;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::query::plan::ConsistencyMode;

const P: &str = "demo";
const S: &str = "app";

fn order(i: u64) -> Mutation {
    Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: format!("order:{i:03}").into_bytes(),
        value: i.to_be_bytes().to_vec(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let config = AedbConfig::default();
    let db = AedbInstance::open(config.clone(), tmp.path().join("db"))?;
    db.create_project(P).await?;
    db.commit_many_atomic((0..50).map(order).collect()).await?;

    // A fuzzy checkpoint: commits and queries go on while it syncs.
    let checkpoint_seq = db.checkpoint_now().await?;
    // A commit after it: the WAL, not the page file, holds this one.
    let last = db.commit(order(50)).await?;
    assert!(last.commit_seq > checkpoint_seq);

    let m = db.operational_metrics().await;
    println!(
        "commits {} (errors {}), average commit {} µs, queue depth {}, durable head lag {}",
        m.commits_total,
        m.commit_errors,
        m.avg_commit_latency_micros,
        m.queue_depth,
        m.durable_head_lag
    );
    println!(
        "checkpoint at seq {} ({} since open), {} WAL bytes since, page file {} bytes",
        m.checkpoint_seq, m.checkpoints_total, m.wal_bytes_since_checkpoint, m.page_file_bytes
    );
    assert!(m.checkpoint_seq >= checkpoint_seq && m.checkpoints_total >= 1);
    assert_eq!(m.visible_head_seq, last.commit_seq);
    assert_eq!(m.durable_head_lag, 0, "every commit here was durable");

    // A full backup, taken while commits could go on: the page file at its
    // checkpoint and the WAL through the latest commit.
    let backup_dir = tmp.path().join("backup");
    let manifest = db.backup_full(&backup_dir).await?;
    println!(
        "backup {}: checkpoint {}, WAL through seq {} ({} segment(s))",
        manifest.backup_id,
        manifest.checkpoint_seq,
        manifest.wal_head_seq,
        manifest.wal_segments.len()
    );
    assert_eq!(manifest.wal_head_seq, last.commit_seq);

    // Restore builds a new directory (it refuses one holding anything), to be
    // opened after; it returns the seq restored to.
    let restored_dir = tmp.path().join("restored");
    let seq = AedbInstance::restore_from_backup(&backup_dir, &restored_dir, &config)?;
    assert_eq!(seq, manifest.wal_head_seq);
    let copy = AedbInstance::open(config, &restored_dir)?;
    let at = ConsistencyMode::AtLatest;
    let original = db.kv_scan_prefix_no_auth(P, S, b"order:", 100, at).await?;
    let restored = copy
        .kv_scan_prefix_no_auth(P, S, b"order:", 100, at)
        .await?;
    assert_eq!(restored.len(), 51);
    assert_eq!(restored, original, "the same keys, values and versions");
    println!("restored to seq {seq}: {} orders", restored.len());

    // The whole-database check an operator runs: trees, page accounting,
    // catalog against trees, indexes against rows.
    for (name, instance) in [("original", &db), ("restored", &copy)] {
        let report = instance.check_invariants().await?;
        println!(
            "{name}: seq {}, {} trees, {} pages reachable, {} free, {} problem(s)",
            report.seq,
            report.trees,
            report.pages_reachable,
            report.pages_free,
            report.problems.len()
        );
        assert!(report.is_ok(), "{name}: {:?}", report.problems);
    }
    Ok(())
}
