//! Event streams and processor checkpoints: events are records of the commit
//! that emits them (a failed commit emits nothing, a malformed payload is
//! refused), pages hold whole commits and resume without skipping, topic
//! filters, retention ends in `EventsExpired`, callers read only their scopes'
//! events, checkpoints move forward only and never past the head, and
//! survive a reopen.

use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbError, AedbInstance};

const P: &str = "p";
const S: &str = "app";
const AT: ConsistencyMode = ConsistencyMode::AtLatest;

fn emit(topic: &str, key: &str, payload: &str) -> Mutation {
    Mutation::EmitEvent {
        project_id: P.into(),
        scope_id: S.into(),
        topic: topic.into(),
        event_key: key.into(),
        payload_json: payload.into(),
    }
}

async fn open(config: AedbConfig) -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config, dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    (dir, db)
}

#[tokio::test]
async fn events_are_records_of_their_commit() {
    let (_d, db) = open(AedbConfig::default()).await;
    // Three events in one commit, with a KV write.
    let r = db
        .commit_many_atomic(vec![
            emit("a", "1", r#"{"n":1}"#),
            Mutation::KvSet {
                project_id: P.into(),
                scope_id: S.into(),
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            emit("b", "2", "[1,2]"),
            emit("a", "3", "null"),
        ])
        .await
        .unwrap();
    let page = db.read_event_stream(None, 0, 100, AT).await.unwrap();
    let keys: Vec<_> = page.events.iter().map(|e| e.event_key.as_str()).collect();
    assert_eq!(keys, ["1", "2", "3"], "in the order emitted");
    assert!(page.events.iter().all(|e| e.commit_seq == r.commit_seq));
    // A commit that fails emits nothing.
    let seq = db.storage().visible_seq();
    let e = db
        .commit_many_atomic(vec![
            emit("a", "4", "{}"),
            Mutation::KvDecU256 {
                project_id: P.into(),
                scope_id: S.into(),
                key: b"zero".to_vec(),
                amount_be: [1; 32],
            },
        ])
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Underflow);
    // A malformed payload: refused, nothing written.
    let e = db
        .emit_event(P, S, "a", "5".into(), "{not json".into())
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    assert!(e.to_string().contains("not JSON"), "{e}");
    assert_eq!(db.storage().visible_seq(), seq);
    let page = db
        .read_event_stream(None, r.commit_seq, 100, AT)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next_commit_seq, None);
    // The event of an earlier snapshot is not in a later one's past: AtSeq
    // reads see the stream as it was.
    let before = db
        .read_event_stream(None, 0, 100, ConsistencyMode::AtSeq(r.commit_seq - 1))
        .await
        .unwrap();
    assert!(before.events.is_empty());
}

#[tokio::test]
async fn pages_hold_whole_commits_and_resume_without_skipping() {
    let (_d, db) = open(AedbConfig::default()).await;
    let mut expected = Vec::new();
    for c in 0..10 {
        // Commits of 1 to 3 events; topic `t` on even positions.
        let n = 1 + c % 3;
        let batch: Vec<_> = (0..n)
            .map(|i| {
                let topic = if (c + i) % 2 == 0 { "t" } else { "u" };
                emit(topic, &format!("{c}.{i}"), "{}")
            })
            .collect();
        for i in 0..n {
            expected.push((format!("{c}.{i}"), (c + i) % 2 == 0));
        }
        db.commit_many_atomic(batch).await.unwrap();
    }
    for (filter, limit) in [(None, 2usize), (Some("t"), 1), (None, 5)] {
        let mut from = 0;
        let mut got = Vec::new();
        loop {
            let page = db.read_event_stream(filter, from, limit, AT).await.unwrap();
            let Some(next) = page.next_commit_seq else {
                break;
            };
            let seqs: std::collections::BTreeSet<_> =
                page.events.iter().map(|e| e.commit_seq).collect();
            for s in &seqs {
                // Whole commits: a page never ends inside one.
                let all = db.read_event_stream(filter, s - 1, 100, AT).await.unwrap();
                let in_commit = all.events.iter().filter(|e| e.commit_seq == *s).count();
                let in_page = page.events.iter().filter(|e| e.commit_seq == *s).count();
                assert_eq!(
                    in_page, in_commit,
                    "{filter:?} limit {limit}: commit {s} split"
                );
            }
            got.extend(page.events.iter().map(|e| e.event_key.clone()));
            from = next;
        }
        let want: Vec<_> = expected
            .iter()
            .filter(|(_, t)| filter.is_none() || *t)
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(got, want, "{filter:?} limit {limit}");
    }
}

#[tokio::test]
async fn retention_ends_in_events_expired() {
    let config = AedbConfig {
        event_retention_commits: Some(5),
        ..AedbConfig::default()
    };
    let (_d, db) = open(config).await;
    let first = db
        .emit_event(P, S, "t", "0".into(), "0".into())
        .await
        .unwrap();
    for i in 1..20 {
        db.emit_event(P, S, "t", i.to_string(), "0".into())
            .await
            .unwrap();
    }
    let e = db.read_event_stream(None, 0, 100, AT).await.unwrap_err();
    let AedbError::EventsExpired { oldest_after, .. } = e else {
        panic!("expected EventsExpired, got {e}");
    };
    assert!(oldest_after >= first.commit_seq);
    let page = db
        .read_event_stream(None, oldest_after, 100, AT)
        .await
        .unwrap();
    assert!(
        !page.events.is_empty() && page.events.len() <= 6,
        "{}",
        page.events.len()
    );
    assert_eq!(page.events.last().unwrap().event_key, "19");
}

#[tokio::test]
async fn callers_read_only_their_scopes_events() {
    let (_d, db) = open(AedbConfig::default()).await;
    db.create_scope(P, "other").await.unwrap();
    db.emit_event(P, S, "t", "mine".into(), "1".into())
        .await
        .unwrap();
    db.emit_event(P, "other", "t", "theirs".into(), "2".into())
        .await
        .unwrap();
    db.commit(Mutation::Ddl(
        aedb::catalog::DdlOperation::GrantPermission {
            caller_id: "reader".into(),
            permission: Permission::KvRead {
                project_id: P.into(),
                scope_id: Some(S.into()),
                prefix: None,
            },
            actor_id: None,
            delegable: false,
        },
    ))
    .await
    .unwrap();
    let reader = CallerContext::new("reader");
    let page = db
        .read_event_stream_as(&reader, None, 0, 10, AT)
        .await
        .unwrap();
    let keys: Vec<_> = page.events.iter().map(|e| e.event_key.as_str()).collect();
    assert_eq!(keys, ["mine"]);
    // Emitting needs the write grant over the scope.
    let e = db
        .emit_event_as(reader, P, S, "t", "x".into(), "1".into())
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied);
}

#[tokio::test]
async fn checkpoints_move_forward_only_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let acked = {
        let db = AedbInstance::open(AedbConfig::default(), dir.path()).unwrap();
        db.create_project(P).await.unwrap();
        let r = db
            .emit_event(P, S, "t", "1".into(), "1".into())
            .await
            .unwrap();
        db.ack_reactive_processor_checkpoint("proc", r.commit_seq)
            .await
            .unwrap();
        // Backwards: nothing changes, nothing is committed.
        let head = db.storage().visible_seq();
        db.ack_reactive_processor_checkpoint("proc", 1)
            .await
            .unwrap();
        assert_eq!(db.storage().visible_seq(), head);
        // Past the head: refused.
        let e = db
            .ack_reactive_processor_checkpoint("proc", head + 10)
            .await
            .unwrap_err();
        assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
        r.commit_seq
    };
    let db = AedbInstance::open(AedbConfig::default(), dir.path()).unwrap();
    let lag = db.reactive_processor_lag("proc", AT).await.unwrap();
    assert_eq!(lag.checkpoint_seq, acked);
    assert_eq!(lag.lag_commits, lag.head_seq - acked);
    // A processor never acknowledged is at 0.
    let lag = db.reactive_processor_lag("never", AT).await.unwrap();
    assert_eq!(lag.checkpoint_seq, 0);
    // Checkpoints belong to the database: a caller needs GlobalAdmin.
    let e = db
        .ack_reactive_processor_checkpoint_as(CallerContext::new("nobody"), "proc", acked)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied);
}

/// Concurrent commits are coalesced (the engine's `submit`: one thread
/// commits the queued plans one after another): each keeps its own seq and
/// events; a plan that fails after its KV write (an invalid payload after
/// it) commits nothing, its batch-mates everything, and a plan refused
/// before writing keeps its own error.
#[tokio::test]
async fn concurrent_commits_share_seqs_without_losing_an_event() {
    let (_d, db) = open(AedbConfig::default()).await;
    db.create_scope(P, S).await.unwrap();
    let tasks: Vec<_> = (0..48u32)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let payload = if i % 12 == 5 { "{broken" } else { "{}" };
                let mut mutations = vec![
                    Mutation::KvSet {
                        project_id: P.into(),
                        scope_id: S.into(),
                        key: format!("k{i}").into_bytes(),
                        value: b"v".to_vec(),
                    },
                    emit("t", &format!("{i}.a"), "{}"),
                    emit("t", &format!("{i}.b"), payload),
                ];
                if i % 12 == 7 {
                    // Refused before anything is written.
                    mutations.insert(0, emit("t", &format!("{i}.x"), "{broken"));
                }
                (i, db.commit_many_atomic(mutations).await)
            })
        })
        .collect();
    let mut ok = std::collections::BTreeMap::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(r) => {
                assert!(i % 12 != 5 && i % 12 != 7, "commit {i} should fail");
                ok.insert(i, r.commit_seq);
            }
            Err(e) => assert!(i % 12 == 5 || i % 12 == 7, "commit {i} failed: {e}"),
        }
    }
    assert_eq!(ok.len(), 40);
    let page = db.read_event_stream(None, 0, 1000, AT).await.unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for e in &page.events {
        let i: u32 = e.event_key.split('.').next().unwrap().parse().unwrap();
        assert_eq!(
            Some(&e.commit_seq),
            ok.get(&i),
            "event {} of commit {i}",
            e.event_key
        );
        seen.entry(i)
            .or_insert_with(Vec::new)
            .push(e.event_key.clone());
    }
    for i in ok.keys() {
        assert_eq!(seen.get(i), Some(&vec![format!("{i}.a"), format!("{i}.b")]));
    }
    assert_eq!(page.events.len(), 80, "two events per successful commit");
    for i in 0..48u32 {
        let kv = db
            .kv_get_no_auth(P, S, format!("k{i}").as_bytes(), AT)
            .await
            .unwrap();
        assert_eq!(kv.is_some(), ok.contains_key(&i), "commit {i}'s KV write");
    }
    let seqs: std::collections::BTreeSet<_> = ok.values().collect();
    assert_eq!(seqs.len(), ok.len(), "a seq per commit");
    let stats = db.storage().stats();
    println!(
        "{} submitted commits in {} batches",
        stats.coalesced_commits, stats.coalesced_batches
    );
}
