//! The seed README's "Preflight and commits": `preflight` and `preflight_plan`
//! answer for the state now and promise nothing (it may change before the
//! commit); `commit_with_preflight` checks under the writer lock, so nothing
//! slips in between; a `Visible` commit returns before the WAL sync and
//! `wait_for_durable` waits for it; a `Durable` commit returns after it.
//! `cargo run --example preflight`

use aedb::commit::PreflightResult;
use aedb::commit::validation::{KvU256MissingPolicy, KvU256UnderflowPolicy, Mutation};
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbError, AedbInstance, CommitFinality};

const P: &str = "demo";
const S: &str = "app";
const KEY: &[u8] = b"balance";

/// `n` as a U256: 32 bytes, big-endian.
fn u256(n: u64) -> [u8; 32] {
    let mut be = [0u8; 32];
    be[24..].copy_from_slice(&n.to_be_bytes());
    be
}

fn set_balance(n: u64) -> Mutation {
    Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key: KEY.to_vec(),
        value: u256(n).to_vec(),
    }
}

/// A strict withdrawal: below zero it is `Underflow`.
fn withdraw(n: u64) -> Mutation {
    Mutation::KvSubU256Ex {
        project_id: P.into(),
        scope_id: S.into(),
        key: KEY.to_vec(),
        amount_be: u256(n),
        on_missing: KvU256MissingPolicy::Reject,
        on_underflow: KvU256UnderflowPolicy::Reject,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project(P).await?;
    db.commit(set_balance(10)).await?;

    // Advisory checks: would these commit now? Neither writes anything.
    let seq = db.storage().visible_seq();
    let fits = db.preflight(withdraw(8)).await;
    assert!(matches!(fits, PreflightResult::Ok { .. }), "{fits:?}");
    let too_much = db.preflight(withdraw(11)).await;
    assert!(
        matches!(&too_much, PreflightResult::Err { reason } if reason.contains("underflow")),
        "{too_much:?}"
    );
    let plan = db.preflight_plan(withdraw(8)).await;
    assert!(plan.valid && plan.errors.is_empty(), "{plan:?}");
    println!(
        "preflight: {fits:?}, {too_much:?}; plan at seq {}: {} key read, ~{} affected",
        plan.base_seq,
        plan.read_set.points.len(),
        plan.estimated_affected_rows
    );
    assert_eq!(db.storage().visible_seq(), seq, "preflight commits nothing");

    // The state changes before our commit: another withdrawal of 5 lands...
    db.commit(withdraw(5)).await?;
    // ...so the withdrawal of 8 that preflight approved is refused now, by
    // the check `commit_with_preflight` makes under the writer lock.
    match db.commit_with_preflight(withdraw(8)).await {
        Err(AedbError::Underflow) => println!("commit_with_preflight: underflow, nothing written"),
        other => return Err(format!("expected Underflow, got {other:?}").into()),
    }
    let done = db.commit_with_preflight(withdraw(5)).await?;
    println!("withdrew 5 at seq {}", done.commit_seq);

    // Visible: acknowledged before the WAL sync (a crash before the next
    // sync would lose it); then wait until it is durable.
    let visible = db
        .commit_with_finality(set_balance(100), CommitFinality::Visible)
        .await?;
    println!(
        "visible commit {} returned with the durable head at {}",
        visible.commit_seq, visible.durable_head_seq
    );
    db.wait_for_durable(visible.commit_seq).await?;
    assert!(db.storage().durable_seq() >= visible.commit_seq);

    // Durable: the call returns once the WAL is synced through the commit.
    let durable = db
        .commit_with_finality(withdraw(1), CommitFinality::Durable)
        .await?;
    assert!(
        durable.durable_head_seq >= durable.commit_seq,
        "{durable:?}"
    );

    let balance = db
        .kv_get_no_auth(P, S, KEY, ConsistencyMode::AtLatest)
        .await?
        .ok_or("the balance is missing")?;
    assert_eq!(balance.value, u256(99));
    println!("durable commit {}: balance 99", durable.commit_seq);
    Ok(())
}
