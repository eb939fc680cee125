// The seed README's "Low-latency profile" block, run unchanged (between the
// markers), then one visible and one durable commit on the instance it opens.
use aedb::CommitFinality;
use aedb::commit::validation::Mutation;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;

    // --- README block begins ---
    use aedb::config::AedbConfig;

    let config = AedbConfig::low_latency([7u8; 32]);
    let db = aedb::AedbInstance::open(config, dir.path())?;
    // --- README block ends ---

    db.create_project("demo").await?;
    let visible = db
        .commit_with_finality(
            Mutation::KvSet {
                project_id: "demo".into(),
                scope_id: "app".into(),
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            CommitFinality::Visible,
        )
        .await?;
    db.wait_for_durable(visible.commit_seq).await?;
    println!(
        "visible commit {} is durable (durable head {})",
        visible.commit_seq,
        db.storage().durable_seq()
    );
    Ok(())
}
