//! The commit change feed: a subscriber from seq 0 sees exactly the changes a
//! model of the applied mutations predicts, in order, across a reopen; one
//! started later from seq s sees the same suffix; retention ends in
//! `ChangeFeedExpired`, never a gap; callers see only what they may read;
//! a waiting subscriber wakes on a commit.
//!
//! Seeded; `AEDB_SEED=<n>` replays a failure.

mod facade_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aedb::catalog::types::Value;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::feed::{ChangeFilter, ChangeTarget, ChangeValue, CommittedChange};
use aedb::permission::{CallerContext, Permission};
use aedb::{AedbError, AedbInstance};
use facade_common::{P, S, create_table, user, users_columns};

fn config(retain: u64) -> AedbConfig {
    AedbConfig {
        change_feed_retain_commits: retain,
        ..AedbConfig::default()
    }
}

/// A change reduced to what the model knows: seq, target, and the row values
/// or KV value before and after.
type Seen = (u64, String, Option<Vec<Value>>, Option<Vec<Value>>);

fn reduce(c: &CommittedChange) -> Seen {
    let side = |v: &Option<ChangeValue>| {
        v.as_ref().map(|v| match v {
            ChangeValue::Row(r) => r.values.clone(),
            ChangeValue::Kv(e) => vec![Value::Blob(e.value.clone())],
        })
    };
    let target = match &c.target {
        ChangeTarget::Row {
            table_name,
            primary_key,
        } => format!(
            "{}.{}.{table_name}{primary_key:?}",
            c.project_id, c.scope_id
        ),
        ChangeTarget::Kv { key } => format!("{}.{}.kv{key:?}", c.project_id, c.scope_id),
    };
    (c.seq, target, side(&c.old), side(&c.new))
}

/// The state by target, and the changes each commit made to it.
#[derive(Default)]
struct Model {
    state: BTreeMap<String, Vec<Value>>,
    changes: Vec<Seen>,
}

impl Model {
    /// Records the net effect of one commit's (target, new value) writes.
    fn commit(&mut self, seq: u64, writes: Vec<(String, Option<Vec<Value>>)>) {
        let mut order: Vec<String> = Vec::new();
        let mut before: BTreeMap<String, Option<Vec<Value>>> = BTreeMap::new();
        for (target, new) in writes {
            if !before.contains_key(&target) {
                before.insert(target.clone(), self.state.get(&target).cloned());
                order.push(target.clone());
            }
            match new {
                Some(v) => self.state.insert(target, v),
                None => self.state.remove(&target),
            };
        }
        for target in order {
            let old = before.remove(&target).flatten();
            let new = self.state.get(&target).cloned();
            if old != new {
                self.changes.push((seq, target, old, new));
            }
        }
    }
}

fn row_target(id: i64) -> String {
    format!("{P}.{S}.users[Integer({id})]")
}

fn kv_target(key: &[u8]) -> String {
    format!("{P}.{S}.kv{key:?}")
}

/// One random mutation and the write it makes (for the model).
fn random_mutation(rng: &mut fastrand::Rng) -> (Mutation, (String, Option<Vec<Value>>)) {
    let id = rng.i64(0..12);
    match rng.u8(0..4) {
        0 => {
            let r = user(
                id,
                &format!("u{}", rng.u32(..)),
                rng.bool().then(|| rng.i64(0..99)),
            );
            let m = Mutation::Upsert {
                project_id: P.into(),
                scope_id: S.into(),
                table_name: "users".into(),
                primary_key: vec![Value::Integer(id)],
                row: r.clone(),
            };
            (m, (row_target(id), Some(r.values)))
        }
        1 => {
            let m = Mutation::Delete {
                project_id: P.into(),
                scope_id: S.into(),
                table_name: "users".into(),
                primary_key: vec![Value::Integer(id)],
            };
            (m, (row_target(id), None))
        }
        2 => {
            let key = format!("k{}", id % 6).into_bytes();
            let value = rng.u32(..).to_be_bytes().to_vec();
            let target = kv_target(&key);
            let m = Mutation::KvSet {
                project_id: P.into(),
                scope_id: S.into(),
                key,
                value: value.clone(),
            };
            (m, (target, Some(vec![Value::Blob(value)])))
        }
        _ => {
            let key = format!("k{}", id % 6).into_bytes();
            let target = kv_target(&key);
            let m = Mutation::KvDel {
                project_id: P.into(),
                scope_id: S.into(),
                key,
            };
            (m, (target, None))
        }
    }
}

async fn workload(db: &AedbInstance, model: &mut Model, rng: &mut fastrand::Rng, commits: usize) {
    for _ in 0..commits {
        let n = rng.usize(1..4);
        let (mutations, writes): (Vec<_>, Vec<_>) = (0..n).map(|_| random_mutation(rng)).unzip();
        let r = db.commit_many_atomic(mutations).await.expect("commit");
        model.commit(r.commit_seq, writes);
    }
}

/// Every change the subscription yields up to the latest commit.
async fn drain(db: &AedbInstance, from: u64, filter: ChangeFilter) -> Vec<CommittedChange> {
    let mut sub = db.subscribe_commits(from, filter).await.expect("subscribe");
    let mut out = Vec::new();
    while let Some(c) = sub.try_next().expect("next") {
        out.push(c);
    }
    assert_eq!(sub.position(), db.storage().visible_seq());
    out
}

#[tokio::test]
async fn subscribers_see_exactly_the_committed_changes_across_a_reopen() {
    let seed = aedb::pager::sim::test_seed("change feed", 0xfeed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::default();
    {
        let db = AedbInstance::open(config(10_000), dir.path()).unwrap();
        db.create_project(P).await.unwrap();
        db.commit(create_table("users", users_columns(), &["id"]))
            .await
            .unwrap();
        workload(&db, &mut model, &mut rng, 60).await;
        let got: Vec<Seen> = drain(&db, 0, ChangeFilter::default())
            .await
            .iter()
            .map(reduce)
            .collect();
        assert_eq!(got, model.changes, "seed {seed}: before the reopen");
    }
    let db = AedbInstance::open(config(10_000), dir.path()).unwrap();
    let middle = db.storage().visible_seq();
    workload(&db, &mut model, &mut rng, 60).await;
    let all = drain(&db, 0, ChangeFilter::default()).await;
    let got: Vec<Seen> = all.iter().map(reduce).collect();
    assert_eq!(got, model.changes, "seed {seed}: across the reopen");
    // New KV entries carry the seq that wrote them.
    for c in &all {
        if let Some(ChangeValue::Kv(e)) = &c.new {
            assert_eq!(e.version, c.seq, "seed {seed}");
        }
    }
    // A subscriber from `middle` sees the same suffix.
    let suffix: Vec<Seen> = drain(&db, middle, ChangeFilter::default())
        .await
        .iter()
        .map(reduce)
        .collect();
    let expected: Vec<Seen> = model
        .changes
        .iter()
        .filter(|c| c.0 > middle)
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(suffix, expected, "seed {seed}: from {middle}");
    // Filters: KV only.
    let kv_only = ChangeFilter {
        tables: Some(vec![]),
        ..ChangeFilter::default()
    };
    let got: Vec<Seen> = drain(&db, 0, kv_only).await.iter().map(reduce).collect();
    let expected: Vec<Seen> = model
        .changes
        .iter()
        .filter(|c| c.1.contains(".kv"))
        .cloned()
        .collect();
    assert_eq!(got, expected, "seed {seed}: KV only");
}

#[tokio::test]
async fn retention_ends_in_an_error_never_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(5), dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    let mut sub = db
        .subscribe_commits(0, ChangeFilter::default())
        .await
        .unwrap();
    for i in 0..20u32 {
        db.kv_set(P, S, b"k".to_vec(), i.to_be_bytes().to_vec())
            .await
            .unwrap();
    }
    // The subscriber fell behind the 5 commits the log keeps.
    let e = sub.next().await.unwrap_err();
    let AedbError::ChangeFeedExpired {
        requested,
        oldest_after,
    } = e
    else {
        panic!("expected ChangeFeedExpired, got {e}");
    };
    assert_eq!(requested, 0);
    let head = db.storage().visible_seq();
    assert!(
        oldest_after >= head - 5 && oldest_after < head,
        "{oldest_after} vs {head}"
    );
    let e = db
        .subscribe_commits(0, ChangeFilter::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::ChangeFeedExpired);
    // From within the window: the last commits, complete.
    let got = drain(&db, oldest_after, ChangeFilter::default()).await;
    assert_eq!(got.len() as u64, head - oldest_after);
    // The feed off: a clear error.
    let dir = tempfile::tempdir().unwrap();
    let off = AedbInstance::open(config(0), dir.path()).unwrap();
    let e = off
        .subscribe_commits(0, ChangeFilter::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::InvalidConfig, "{e}");
}

#[tokio::test]
async fn callers_see_only_what_they_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(100), dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(Mutation::Ddl(
        aedb::catalog::DdlOperation::GrantPermission {
            caller_id: "reader".into(),
            permission: Permission::KvRead {
                project_id: P.into(),
                scope_id: Some(S.into()),
                prefix: Some(b"pub/".to_vec()),
            },
            actor_id: None,
            delegable: false,
        },
    ))
    .await
    .unwrap();
    for key in [&b"pub/1"[..], b"secret", b"pub/2"] {
        db.kv_set(P, S, key.to_vec(), b"v".to_vec()).await.unwrap();
    }
    let mut sub = db
        .subscribe_commits_as(CallerContext::new("reader"), 0, ChangeFilter::default())
        .await
        .unwrap();
    let mut keys = Vec::new();
    while let Some(c) = sub.try_next().unwrap() {
        if let ChangeTarget::Kv { key } = c.target {
            keys.push(key);
        }
    }
    assert_eq!(keys, vec![b"pub/1".to_vec(), b"pub/2".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_subscriber_wakes_on_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(100), Path::new(dir.path())).unwrap();
    db.create_project(P).await.unwrap();
    let from = db.storage().visible_seq();
    let mut sub = db
        .subscribe_commits(from, ChangeFilter::default())
        .await
        .unwrap();
    let writer = db.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer
            .kv_set(P, S, b"late".to_vec(), b"1".to_vec())
            .await
            .unwrap();
    });
    let c = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(
        c.target,
        ChangeTarget::Kv {
            key: b"late".to_vec()
        }
    );
    assert!(c.old.is_none());
}

#[tokio::test]
async fn a_column_drop_is_logged_with_each_side_in_its_own_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(100), dir.path()).unwrap();
    db.create_project(P).await.unwrap();
    db.commit(create_table("users", users_columns(), &["id"]))
        .await
        .unwrap();
    db.commit(facade_common::insert_user(1, "ann", Some(30)))
        .await
        .unwrap();
    let from = db.storage().visible_seq();
    db.commit(Mutation::Ddl(aedb::catalog::DdlOperation::AlterTable {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "users".into(),
        alteration: aedb::catalog::schema::TableAlteration::DropColumn { name: "age".into() },
    }))
    .await
    .expect("a DropColumn commits with the feed on");
    let got = drain(&db, from, ChangeFilter::default()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let (Some(ChangeValue::Row(old)), Some(ChangeValue::Row(new))) = (&got[0].old, &got[0].new)
    else {
        panic!("{got:?}");
    };
    assert_eq!(old.values.len(), new.values.len() + 1);
    assert_eq!(old.values[2], Value::Integer(30));
}
