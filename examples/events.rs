// The seed README's event-stream blocks, run unchanged between the markers
// (`tests/readme_blocks.rs` checks they are the README's text): the event part
// of its first block (emit, read a page, acknowledge a processor checkpoint
// before any processor ran, its lag) and the watermark-batched ACK; around
// them, the values they promise, asserted. The blocks sit in functions that
// rustfmt leaves alone, so they stay the README's text.
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbInstance, EventStreamPage, ReactiveProcessorLag};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[rustfmt::skip]
async fn event_part(db: &AedbInstance) -> Res<(EventStreamPage, ReactiveProcessorLag)> {
    // --- README block begins ---
    // Tier-2 event stream + processor checkpoint primitives
    db.emit_event(
        "casino",
        "app",
        "hand_settled",
        "hand_42".into(),
        r#"{"user_id":"u1","wager":100,"pnl":-120}"#.into(),
    )
    .await?;

    let page = db
        .read_event_stream(Some("hand_settled"), 0, 100, ConsistencyMode::AtLatest)
        .await?;
    db.ack_reactive_processor_checkpoint("points_processor", page.next_commit_seq.unwrap_or(0))
        .await?;
    let processor_lag = db
        .reactive_processor_lag("points_processor", ConsistencyMode::AtLatest)
        .await?;
    // --- README block ends ---
    Ok((page, processor_lag))
}

#[rustfmt::skip]
async fn watermark_ack(db: &AedbInstance, processed_seq: u64) -> Res<()> {
    // --- README block begins ---
    db.ack_reactive_processor_checkpoint_batched(
        "points_processor",
        processed_seq,
        100, // persist every 100 commits advanced
    )
    .await?;
    // --- README block ends ---
    Ok(())
}

#[tokio::main]
async fn main() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project("casino").await?;

    let (page, lag) = event_part(&db).await?;
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert_eq!(
        (event.topic.as_str(), event.event_key.as_str()),
        ("hand_settled", "hand_42")
    );
    let emitted = event.commit_seq;
    assert_eq!(page.next_commit_seq, Some(emitted));
    // Acknowledged before any processor was started; the ACK is a commit.
    assert_eq!(lag.checkpoint_seq, emitted);
    assert_eq!(lag.lag_commits, lag.head_seq - emitted);

    // Watermark ACKs: the first persists, the next ones only every 100 commits.
    for _ in 0..150 {
        db.emit_event("casino", "app", "tick", "t".into(), "{}".into())
            .await?;
    }
    let head = db.storage().visible_seq();
    watermark_ack(&db, head - 120).await?; // persisted: the first for this processor
    watermark_ack(&db, head - 60).await?; // 60 past it: cached only
    let at = ConsistencyMode::AtLatest;
    let lag = db.reactive_processor_lag("points_processor", at).await?;
    assert_eq!(lag.checkpoint_seq, head - 120);
    watermark_ack(&db, head - 20).await?; // 100 past it: persisted
    let lag = db.reactive_processor_lag("points_processor", at).await?;
    assert_eq!(lag.checkpoint_seq, head - 20);
    println!("checkpoint {} of head {}", lag.checkpoint_seq, lag.head_seq);
    Ok(())
}
