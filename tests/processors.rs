//! Reactive processors: derived state applied exactly once across a stop and
//! a restart (an idempotent handler over the at-least-once stream), ticks
//! without events, the dead-letter rule, retries, a stalled handler that does
//! not hold up commits, SLO enforcement, the lifecycle controls (pause,
//! resume, list, health, SLO lists), and secure mode's caller id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::query::plan::{ConsistencyMode, Query};
use aedb::{AedbError, AedbInstance, ReactiveProcessorOptions};

const P: &str = "p";
const S: &str = "app";
const AT: ConsistencyMode = ConsistencyMode::AtLatest;

fn options() -> ReactiveProcessorOptions {
    ReactiveProcessorOptions {
        topic_filter: Some("in".into()),
        max_events_per_run: 50,
        idle_backoff_ms: 20,
        checkpoint_watermark_commits: 16,
        max_retries: 1,
        retry_backoff_ms: 1,
        ..ReactiveProcessorOptions::default()
    }
}

async fn emit(db: &AedbInstance, from: u64, to: u64) -> u64 {
    let mut last = 0;
    for i in from..to {
        last = db
            .emit_event(P, S, "in", format!("e{i}"), format!("{{\"i\":{i}}}"))
            .await
            .unwrap()
            .commit_seq;
    }
    last
}

/// Waits until the processor has handled the commits up to `seq`.
async fn caught_up(db: &AedbInstance, name: &str, seq: u64) {
    let t = Instant::now();
    while db
        .reactive_processor_runtime_status(name)
        .await
        .is_none_or(|s| s.last_processed_seq < seq)
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{name} never reached {seq}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The derived state: +1 per event, exactly once by its key.
async fn derive(
    db: Arc<AedbInstance>,
    events: Vec<aedb::EventOutboxRecord>,
) -> Result<(), AedbError> {
    for e in events {
        let order: u64 = e.event_key[1..].parse::<u64>().unwrap() + 1;
        let r = db
            .accumulate(P, S, "derived", 1, e.event_key.clone(), order)
            .await;
        match r {
            Ok(_) => {}
            // A replay after a restart: this key's order was applied already.
            Err(AedbError::OrderKeyNotIncreasing { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_state_is_applied_exactly_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
        db.create_project(P).await.unwrap();
        db.create_accumulator(P, S, "derived", None, 10)
            .await
            .unwrap();
        let last = emit(&db, 0, 200).await;
        db.start_reactive_processor("derive", options(), derive)
            .await
            .unwrap();
        caught_up(&db, "derive", last).await;
        emit(&db, 200, 230).await;
        // Stopped mid-stream, without a clean shutdown of what follows.
        db.stop_reactive_processor("derive").await.unwrap();
    }
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    let last = emit(&db, 230, 300).await;
    assert!(
        db.register_reactive_processor_handler("derive", derive)
            .await
            .unwrap()
    );
    caught_up(&db, "derive", last).await;
    let value = db
        .accumulator_value_strong(P, S, "derived", AT)
        .await
        .unwrap();
    assert_eq!(value, 300, "every event applied exactly once");
    let lag = db.reactive_processor_lag("derive", AT).await.unwrap();
    assert!(
        lag.checkpoint_seq <= last,
        "the checkpoint never passes an unhandled event"
    );
    db.shutdown().await.unwrap();
    let lag = db.reactive_processor_lag("derive", AT).await.unwrap();
    assert!(
        lag.checkpoint_seq >= last,
        "shutdown checkpoints what was handled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_run_the_handler_without_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    let calls = Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let options = ReactiveProcessorOptions {
        run_on_interval: true,
        run_interval_ms: 20,
        ..options()
    };
    db.start_reactive_processor("ticker", options, move |_db, events| {
        let seen = seen.clone();
        async move {
            assert!(events.is_empty());
            seen.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.stop_reactive_processor("ticker").await.unwrap();
    let n = calls.load(Ordering::Relaxed);
    assert!(n >= 4, "{n} ticks in 300 ms at 20 ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_dead_letter_the_batch_and_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    db.create_project(P).await.unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    db.start_reactive_processor("strict", options(), move |_db, events| {
        let h = h.clone();
        async move {
            if events.iter().any(|e| e.payload_json.contains("poison")) {
                return Err(AedbError::Validation("cannot handle poison".into()));
            }
            h.fetch_add(events.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
    .unwrap();
    emit(&db, 0, 3).await;
    let poison = db
        .emit_event(P, S, "in", "bad".into(), r#"{"poison":true}"#.into())
        .await
        .unwrap()
        .commit_seq;
    caught_up(&db, "strict", poison).await;
    let last = emit(&db, 3, 6).await;
    caught_up(&db, "strict", last).await;
    let status = db
        .reactive_processor_runtime_status("strict")
        .await
        .unwrap();
    assert_eq!(status.dead_lettered_total, 1);
    assert!(status.retries_total >= 1);
    assert_eq!(
        handled.load(Ordering::Relaxed),
        6,
        "the events around it were handled"
    );
    let q =
        Query::select(&["processor", "event_key", "error"]).from("reactive_processor_dead_letters");
    let rows = db.query("_system", "app", q).await.unwrap().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].values[1],
        aedb::catalog::types::Value::Text("bad".into())
    );
    let lag = db.reactive_processor_lag("strict", AT).await.unwrap();
    assert!(
        lag.checkpoint_seq >= poison,
        "the checkpoint moved past the dead letter"
    );
    db.stop_reactive_processor("strict").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_fails_its_run_and_the_batch_is_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    db.create_project(P).await.unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let h = handled.clone();
    db.start_reactive_processor("fragile", options(), move |_db, events| {
        let h = h.clone();
        async move {
            if events.iter().any(|e| e.payload_json.contains("poison")) {
                panic!("the handler cannot parse a poison event");
            }
            h.fetch_add(events.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    })
    .await
    .unwrap();
    let poison = db
        .emit_event(P, S, "in", "bad".into(), r#"{"poison":true}"#.into())
        .await
        .unwrap()
        .commit_seq;
    caught_up(&db, "fragile", poison).await;
    let last = emit(&db, 0, 3).await;
    caught_up(&db, "fragile", last).await;
    let status = db
        .reactive_processor_runtime_status("fragile")
        .await
        .unwrap();
    assert!(
        status.running,
        "a panicking handler must not stop the processor"
    );
    assert_eq!(status.dead_lettered_total, 1);
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("panicked"),
        "{status:?}"
    );
    assert_eq!(
        handled.load(Ordering::Relaxed),
        3,
        "the events after it were handled"
    );
    let q = Query::select(&["event_key", "error"]).from("reactive_processor_dead_letters");
    let rows = db.query("_system", "app", q).await.unwrap().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].values[0],
        aedb::catalog::types::Value::Text("bad".into())
    );
    db.stop_reactive_processor("fragile").await.unwrap();
    let status = db
        .reactive_processor_runtime_status("fragile")
        .await
        .unwrap();
    assert!(!status.running, "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handler_holds_up_no_commit_and_breaches_its_slo() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    db.create_project(P).await.unwrap();
    let options = ReactiveProcessorOptions {
        // A stop waits for the run in progress, at most this long.
        max_run_duration_ms: 1_000,
        max_retries: 0,
        max_allowed_lag_commits: Some(5),
        ..options()
    };
    db.start_reactive_processor("stuck", options, |_db, events| async move {
        if !events.is_empty() {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Ok(())
    })
    .await
    .unwrap();
    emit(&db, 0, 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    emit(&db, 1, 101).await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "100 commits took {took:?} beside a stalled handler"
    );
    let e = db.enforce_reactive_processor_slos(AT).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Unavailable, "{e}");
    assert!(e.to_string().contains("stuck"), "{e}");
    let slo = db.reactive_processor_slo_status("stuck", AT).await.unwrap();
    assert!(slo.breached && slo.lag_commits > 5, "{slo:?}");
    db.pause_reactive_processor("stuck").await.unwrap();
    let listed = db.list_reactive_processors(AT).await.unwrap();
    assert!(!listed[0].enabled && !listed[0].running);
    db.enforce_reactive_processor_slos(AT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_health_and_slo_lists_report_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(AedbInstance::open(AedbConfig::default(), dir.path()).unwrap());
    db.create_project(P).await.unwrap();
    db.create_accumulator(P, S, "derived", None, 10)
        .await
        .unwrap();
    let options = ReactiveProcessorOptions {
        max_allowed_lag_commits: Some(1_000),
        ..options()
    };
    db.start_reactive_processor("life", options.clone(), derive)
        .await
        .unwrap();
    let last = emit(&db, 0, 20).await;
    caught_up(&db, "life", last).await;
    let health = db.reactive_processor_health("life", AT).await.unwrap();
    assert!(health.enabled && health.running, "{health:?}");
    assert_eq!(health.processed_events_total, 20, "{health:?}");
    assert!(health.runs_total >= 1 && health.last_success_micros.is_some());
    assert_eq!(health.last_processed_seq, last);

    // Paused: disabled in the registry, not running, events wait.
    db.pause_reactive_processor("life").await.unwrap();
    let listed = db.list_reactive_processors(AT).await.unwrap();
    let info = listed.iter().find(|i| i.processor_name == "life").unwrap();
    assert!(!info.enabled && !info.running, "{info:?}");
    assert_eq!(info.options, options, "the durable config");
    let waiting = emit(&db, 20, 30).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let value = db.accumulator_value_strong(P, S, "derived", AT).await;
    assert_eq!(value.unwrap(), 20, "a paused processor handles nothing");
    let health = db.reactive_processor_health("life", AT).await.unwrap();
    assert!(!health.enabled && !health.running && health.lag_commits >= 10);

    // Resumed with the registered handler: enabled, running, caught up.
    db.resume_reactive_processor("life").await.unwrap();
    caught_up(&db, "life", waiting).await;
    let value = db.accumulator_value_strong(P, S, "derived", AT).await;
    assert_eq!(value.unwrap(), 30);
    let listed = db.list_reactive_processors(AT).await.unwrap();
    let info = listed.iter().find(|i| i.processor_name == "life").unwrap();
    assert!(info.enabled && info.running, "{info:?}");
    let slos = db.list_reactive_processor_slo_statuses(AT).await.unwrap();
    let slo = slos.iter().find(|s| s.processor_name == "life").unwrap();
    assert!(!slo.breached && slo.reasons.is_empty(), "{slo:?}");
    assert_eq!(slo.max_allowed_lag_commits, Some(1_000));
    db.enforce_reactive_processor_slos(AT).await.unwrap();
    // A processor never started cannot be paused or resumed.
    let e = db.resume_reactive_processor("nope").await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    db.stop_reactive_processor("life").await.unwrap();
}

#[tokio::test]
async fn secure_instances_need_a_processor_identity() {
    let fs = aedb::pager::sim::SimFs::new(7);
    let key = [9u8; 32];
    let db = Arc::new(
        AedbInstance::open_secure_with_vfs(
            AedbConfig::production(key),
            Arc::new(fs),
            std::path::Path::new("/db"),
        )
        .unwrap(),
    );
    let e = db
        .start_reactive_processor("anon", options(), |_db, _events| async { Ok(()) })
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied, "{e}");
    assert!(e.to_string().contains("caller_id"), "{e}");
}
