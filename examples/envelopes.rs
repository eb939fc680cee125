//! The seed README's "Action envelopes and typed KV numerics": one action (its
//! effect and its metadata) committed under an idempotency key, `Applied` and
//! then `Duplicate` with nothing written; the U256 KV mutations and their
//! policies, read back; and the idempotency fields of `CommitResult`.
//! `cargo run --example envelopes`

use aedb::commit::action::{ActionCommitOutcome, ActionEnvelopeRequest};
use aedb::commit::tx::{IdempotencyKey, ReadSet, TransactionEnvelope, WriteClass, WriteIntent};
use aedb::commit::validation::{
    KvU256MissingPolicy, KvU256OverflowPolicy, KvU256UnderflowPolicy, Mutation,
};
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbError, AedbInstance, IdempotencyOutcome};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const P: &str = "demo";
const S: &str = "app";

/// `n` as a U256: 32 bytes, big-endian.
fn u256(n: u64) -> [u8; 32] {
    let mut be = [0u8; 32];
    be[24..].copy_from_slice(&n.to_be_bytes());
    be
}

/// The U256 under `key`, as a u64 (this example's values are small).
async fn read(db: &AedbInstance, key: &[u8]) -> Res<u64> {
    let entry = db
        .kv_get_no_auth(P, S, key, ConsistencyMode::AtLatest)
        .await?
        .ok_or("the key is missing")?;
    let low: [u8; 8] = entry.value.get(24..).ok_or("not a U256")?.try_into()?;
    Ok(u64::from_be_bytes(low))
}

fn add(key: &[u8], n: u64) -> Mutation {
    Mutation::KvAddU256Ex {
        project_id: P.into(),
        scope_id: S.into(),
        key: key.to_vec(),
        amount_be: u256(n),
        on_missing: KvU256MissingPolicy::TreatAsZero,
        on_overflow: KvU256OverflowPolicy::Reject,
    }
}

fn sub(key: &[u8], n: u64, on_underflow: KvU256UnderflowPolicy) -> Mutation {
    Mutation::KvSubU256Ex {
        project_id: P.into(),
        scope_id: S.into(),
        key: key.to_vec(),
        amount_be: u256(n),
        on_missing: KvU256MissingPolicy::Reject,
        on_underflow,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project(P).await?;

    // One action: its effect (credit alice) and its metadata, atomically,
    // under a key the caller chose (16 bytes).
    let settle = || ActionEnvelopeRequest {
        caller: None,
        idempotency_key: IdempotencyKey(*b"settle-hand-0042"),
        write_class: WriteClass::Economic,
        base_seq: 0,
        assertions: vec![],
        mutations: vec![
            add(b"balance:alice", 100),
            Mutation::KvSet {
                project_id: P.into(),
                scope_id: S.into(),
                key: b"hand:42".to_vec(),
                value: b"settled".to_vec(),
            },
        ],
    };
    let first = db.commit_action_envelope(settle()).await?;
    assert_eq!(first.outcome, ActionCommitOutcome::Applied);
    let head = db.storage().visible_seq();
    // A retry of the same action: a duplicate, and no writes applied.
    let retry = db.commit_action_envelope(settle()).await?;
    assert!(matches!(retry.outcome, ActionCommitOutcome::Duplicate));
    assert_eq!(retry.commit_seq, first.commit_seq, "the first commit's seq");
    assert_eq!(db.storage().visible_seq(), head, "nothing was committed");
    assert_eq!(read(&db, b"balance:alice").await?, 100, "credited once");
    println!(
        "action: {:?} at seq {}, retry: {:?}",
        first.outcome, first.commit_seq, retry.outcome
    );

    // A strict decrement below zero is refused, and writes nothing...
    match db
        .commit(sub(b"balance:alice", 150, KvU256UnderflowPolicy::Reject))
        .await
    {
        Err(AedbError::Underflow) => println!("strict -150: refused (underflow)"),
        other => return Err(format!("expected Underflow, got {other:?}").into()),
    }
    // ...a soft one leaves the value as it is; one that fits applies.
    db.commit(sub(b"balance:alice", 150, KvU256UnderflowPolicy::NoOp))
        .await?;
    assert_eq!(read(&db, b"balance:alice").await?, 100);
    db.commit(sub(b"balance:alice", 30, KvU256UnderflowPolicy::Reject))
        .await?;
    assert_eq!(read(&db, b"balance:alice").await?, 70);

    // Bounded updates: a high-water mark keeps the larger value (a missing
    // key counts as zero), a cap keeps the smaller one.
    for candidate in [70, 60] {
        db.commit(Mutation::KvMaxU256 {
            project_id: P.into(),
            scope_id: S.into(),
            key: b"peak:alice".to_vec(),
            candidate_be: u256(candidate),
            on_missing: KvU256MissingPolicy::TreatAsZero,
        })
        .await?;
    }
    db.commit(Mutation::KvMinU256 {
        project_id: P.into(),
        scope_id: S.into(),
        key: b"balance:alice".to_vec(),
        candidate_be: u256(60),
        on_missing: KvU256MissingPolicy::Reject,
    })
    .await?;
    assert_eq!(read(&db, b"peak:alice").await?, 70);
    assert_eq!(read(&db, b"balance:alice").await?, 60);
    println!("balance 60 (capped), peak 70");

    // `CommitResult` carries the same idempotency facts for envelopes.
    let deposit = || TransactionEnvelope {
        caller: None,
        idempotency_key: Some(IdempotencyKey(*b"deposit-bob-0001")),
        write_class: WriteClass::Standard,
        assertions: vec![],
        read_set: ReadSet::default(),
        write_intent: WriteIntent {
            mutations: vec![add(b"balance:bob", 25)],
        },
        base_seq: 0,
    };
    let applied = db.commit_envelope(deposit()).await?;
    let again = db.commit_envelope(deposit()).await?;
    for r in [&applied, &again] {
        println!(
            "commit_seq {} idempotency {:?} canonical_commit_seq {}",
            r.commit_seq, r.idempotency, r.canonical_commit_seq
        );
    }
    assert_eq!(applied.idempotency, IdempotencyOutcome::Applied);
    assert_eq!(again.idempotency, IdempotencyOutcome::Duplicate);
    assert_eq!(again.canonical_commit_seq, applied.commit_seq);
    assert_eq!(read(&db, b"balance:bob").await?, 25);
    Ok(())
}
