// The seed README's processor blocks, run unchanged between the markers
// (`tests/readme_blocks.rs` checks they are the README's text): the built-in
// scheduler (start, status, health, list, stop) and the restart (register
// the handler again: the enabled processor resumes from its durable
// checkpoint). Around them, the values they promise, asserted.
use std::time::Duration;

use aedb::catalog::DdlOperation;
use aedb::commit::validation::Mutation;
use aedb::permission::Permission;
use aedb::query::plan::ConsistencyMode;
use aedb::{
    AedbInstance, ReactiveProcessorHealth, ReactiveProcessorInfo, ReactiveProcessorRuntimeStatus,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

type Seen = (
    Option<ReactiveProcessorRuntimeStatus>,
    ReactiveProcessorHealth,
    Vec<ReactiveProcessorInfo>,
);

#[rustfmt::skip]
async fn scheduler_block(db: AedbInstance) -> Res<(std::sync::Arc<AedbInstance>, Seen)> {
    // --- README block begins ---
    use std::sync::Arc;

    let db = Arc::new(db);
    db.start_reactive_processor(
        "points_processor",
        aedb::ReactiveProcessorOptions {
            caller_id: Some("processor_points".into()),
            topic_filter: Some("hand_settled".into()),
            run_on_interval: false,
            max_allowed_lag_commits: Some(2_000),
            max_allowed_stall_ms: Some(30_000),
            max_events_per_run: 256,
            max_bytes_per_run: 2 * 1024 * 1024,
            max_run_duration_ms: 250,
            run_interval_ms: 20,
            idle_backoff_ms: 50,
            checkpoint_watermark_commits: 64,
            max_retries: 3,
            retry_backoff_ms: 100,
        },
        move |db, events| async move {
            // Your derived-state logic (idempotent)
            for event in events {
                let _ = db
                    .emit_event(
                        "casino",
                        "app",
                        "points_applied",
                        format!("points:{}", event.event_key),
                        event.payload_json,
                    )
                    .await?;
            }
            Ok(())
        },
    )
    .await?;

    let status = db
        .reactive_processor_runtime_status("points_processor")
        .await;

    let health = db
        .reactive_processor_health("points_processor", ConsistencyMode::AtLatest)
        .await?;

    let processors = db
        .list_reactive_processors(ConsistencyMode::AtLatest)
        .await?;

    db.stop_reactive_processor("points_processor").await?;
    // --- README block ends ---
    Ok((db, (status, health, processors)))
}

#[rustfmt::skip]
#[allow(unused_variables)] // the README's handler ignores its arguments
async fn restart_block(db: std::sync::Arc<AedbInstance>) -> Res<std::sync::Arc<AedbInstance>> {
    // --- README block begins ---
    let resumed = db
        .register_reactive_processor_handler("points_processor", move |db, events| async move {
            // same handler logic
            Ok(())
        })
        .await?;
    assert!(resumed); // true when durable registry had enabled processor config
    // --- README block ends ---
    Ok(db)
}

/// Emits hands `from..to`; returns the seq of the last one.
async fn emit_hands(db: &AedbInstance, from: u32, to: u32) -> Res<u64> {
    let mut last = 0;
    for i in from..to {
        let payload = format!(r#"{{"user_id":"u{i}","pnl":{i}}}"#);
        let key = format!("hand_{i}");
        last = db
            .emit_event("casino", "app", "hand_settled", key, payload)
            .await?
            .commit_seq;
    }
    Ok(last)
}

async fn points(db: &AedbInstance) -> Res<usize> {
    let at = ConsistencyMode::AtLatest;
    let page = db
        .read_event_stream(Some("points_applied"), 0, 10_000, at)
        .await?;
    Ok(page.events.len())
}

#[tokio::main]
async fn main() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project("casino").await?;
    // The processor's identity reads and writes the scope's events.
    for permission in [
        Permission::KvRead {
            project_id: "casino".into(),
            scope_id: Some("app".into()),
            prefix: None,
        },
        Permission::KvWrite {
            project_id: "casino".into(),
            scope_id: Some("app".into()),
            prefix: None,
        },
    ] {
        db.commit(Mutation::Ddl(DdlOperation::GrantPermission {
            caller_id: "processor_points".into(),
            permission,
            actor_id: None,
            delegable: false,
        }))
        .await?;
    }
    emit_hands(&db, 0, 5).await?;

    let (db, (status, health, processors)) = scheduler_block(db).await?;
    assert!(status.is_some(), "a started processor has a runtime status");
    assert!(health.enabled);
    assert_eq!(processors.len(), 1);
    assert!(
        processors[0].enabled
            && processors[0].options.caller_id.as_deref() == Some("processor_points")
    );
    let stopped = db
        .reactive_processor_runtime_status("points_processor")
        .await;
    assert!(!stopped.map(|s| s.running).unwrap_or(true), "stopped");

    // A restart: the registry still has the processor enabled.
    drop(db);
    let db = std::sync::Arc::new(AedbInstance::open(Default::default(), dir.path())?);
    let last_hand = emit_hands(&db, 5, 8).await?;
    let db = restart_block(db).await?;
    // The resumed processor catches up from its durable checkpoint.
    let at = ConsistencyMode::AtLatest;
    for _ in 0..500 {
        let status = db
            .reactive_processor_runtime_status("points_processor")
            .await;
        if status.is_some_and(|s| s.last_processed_seq >= last_hand) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    db.stop_reactive_processor("points_processor").await?;
    let lag = db.reactive_processor_lag("points_processor", at).await?;
    assert!(
        lag.checkpoint_seq >= last_hand,
        "checkpointed at stop: {lag:?}"
    );
    println!(
        "points applied before the restart: {}, checkpoint {} of head {}",
        points(&db).await?,
        lag.checkpoint_seq,
        lag.head_seq
    );
    Ok(())
}
