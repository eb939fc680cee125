//! The KV space: versions, typed numerics against a reference model, compare-
//! and-* helpers (each passing and failing), sharded counters, paged scans that
//! resume on their snapshot while writers change the space, and reopen.
//!
//! The numeric model test is seeded; `AEDB_SEED=<n>` replays a failure.

mod facade_common;

use std::ops::Bound;

use aedb::commit::tx::{AssertionActual, ReadAssertion};
use aedb::commit::validation::{
    KvIntegerAmount, KvIntegerMissingPolicy, KvIntegerUnderflowPolicy, KvU64MissingPolicy,
    KvU64MutatorOp, KvU64OverflowPolicy, KvU64UnderflowPolicy, KvU256MissingPolicy,
    KvU256MutatorOp, KvU256OverflowPolicy, KvU256UnderflowPolicy, Mutation,
};
use aedb::error::AedbErrorCode;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::ConsistencyMode;
use aedb::{AedbError, AedbInstance, CommitFinality};
use facade_common::{P, S};

const AT: ConsistencyMode = ConsistencyMode::AtLatest;

async fn open() -> (tempfile::TempDir, AedbInstance) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = AedbInstance::open(Default::default(), dir.path()).expect("open");
    db.create_project(P).await.expect("project");
    (dir, db)
}

async fn value(db: &AedbInstance, key: &[u8]) -> Option<Vec<u8>> {
    db.kv_get_no_auth(P, S, key, AT)
        .await
        .unwrap()
        .map(|e| e.value)
}

async fn version(db: &AedbInstance, key: &[u8]) -> u64 {
    db.kv_get_no_auth(P, S, key, AT)
        .await
        .unwrap()
        .map_or(0, |e| e.version)
}

/// A U256 as (high, low) halves: the reference arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256(u128, u128);

impl U256 {
    const MAX: U256 = U256(u128::MAX, u128::MAX);

    fn be(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.0.to_be_bytes());
        out[16..].copy_from_slice(&self.1.to_be_bytes());
        out
    }

    fn from_be(b: &[u8]) -> U256 {
        let hi: [u8; 16] = b[..16].try_into().unwrap();
        let lo: [u8; 16] = b[16..].try_into().unwrap();
        U256(u128::from_be_bytes(hi), u128::from_be_bytes(lo))
    }

    fn add(self, o: U256) -> Option<U256> {
        let (lo, carry) = self.1.overflowing_add(o.1);
        let hi = self.0.checked_add(o.0)?.checked_add(u128::from(carry))?;
        Some(U256(hi, lo))
    }

    fn sub(self, o: U256) -> Option<U256> {
        let (lo, borrow) = self.1.overflowing_sub(o.1);
        let hi = self.0.checked_sub(o.0)?.checked_sub(u128::from(borrow))?;
        Some(U256(hi, lo))
    }
}

/// Operands that reach the edges: 0, 1, MAX, MAX - 1, powers of two at the
/// half boundaries, and random values.
fn u256_operand(rng: &mut fastrand::Rng) -> U256 {
    match rng.u8(0..8) {
        0 => U256(0, 0),
        1 => U256(0, 1),
        2 => U256::MAX,
        3 => U256(u128::MAX, u128::MAX - 1),
        4 => U256(0, u128::MAX),
        5 => U256(1, 0),
        6 => U256(0, rng.u128(..)),
        _ => U256(rng.u128(..), rng.u128(..)),
    }
}

fn u64_operand(rng: &mut fastrand::Rng) -> u64 {
    match rng.u8(0..6) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u64::MAX - 1,
        4 => rng.u64(0..1000),
        _ => rng.u64(..),
    }
}

/// What the reference says an operation does: the new value, unchanged, or
/// the error code.
enum Expect<T> {
    Value(T),
    Unchanged,
    Fails(AedbErrorCode),
}

const MISSING: AedbErrorCode = AedbErrorCode::Validation;

fn u256_expect(
    rng: &mut fastrand::Rng,
    current: Option<U256>,
    key: &[u8],
) -> (Mutation, Expect<U256>) {
    let x = u256_operand(rng);
    let zero_ok = rng.bool();
    let on_missing = if zero_ok {
        KvU256MissingPolicy::TreatAsZero
    } else {
        KvU256MissingPolicy::Reject
    };
    let base = match current {
        Some(v) => Some(v),
        None if zero_ok => Some(U256(0, 0)),
        None => None,
    };
    let (p, s, k) = (P.to_string(), S.to_string(), key.to_vec());
    match rng.u8(0..7) {
        0 => {
            let m = Mutation::KvIncU256 {
                project_id: p,
                scope_id: s,
                key: k,
                amount_be: x.be(),
            };
            let base = current.unwrap_or(U256(0, 0));
            let e = base
                .add(x)
                .map_or(Expect::Fails(AedbErrorCode::Overflow), Expect::Value);
            (m, e)
        }
        1 => {
            let m = Mutation::KvDecU256 {
                project_id: p,
                scope_id: s,
                key: k,
                amount_be: x.be(),
            };
            let base = current.unwrap_or(U256(0, 0));
            let e = base
                .sub(x)
                .map_or(Expect::Fails(AedbErrorCode::Underflow), Expect::Value);
            (m, e)
        }
        2 => {
            let saturate = rng.bool();
            let m = Mutation::KvAddU256Ex {
                project_id: p,
                scope_id: s,
                key: k,
                amount_be: x.be(),
                on_missing,
                on_overflow: if saturate {
                    KvU256OverflowPolicy::Saturate
                } else {
                    KvU256OverflowPolicy::Reject
                },
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => match b.add(x) {
                    Some(v) => Expect::Value(v),
                    None if saturate => Expect::Value(U256::MAX),
                    None => Expect::Fails(AedbErrorCode::Overflow),
                },
            };
            (m, e)
        }
        3 => {
            let noop = rng.bool();
            let m = Mutation::KvSubU256Ex {
                project_id: p,
                scope_id: s,
                key: k,
                amount_be: x.be(),
                on_missing,
                on_underflow: if noop {
                    KvU256UnderflowPolicy::NoOp
                } else {
                    KvU256UnderflowPolicy::Reject
                },
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => match b.sub(x) {
                    Some(v) => Expect::Value(v),
                    None if noop => Expect::Unchanged,
                    None => Expect::Fails(AedbErrorCode::Underflow),
                },
            };
            (m, e)
        }
        4 | 5 => {
            let max = rng.bool();
            let m = if max {
                Mutation::KvMaxU256 {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    candidate_be: x.be(),
                    on_missing,
                }
            } else {
                Mutation::KvMinU256 {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    candidate_be: x.be(),
                    on_missing,
                }
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => Expect::Value(if max { b.max(x) } else { b.min(x) }),
            };
            (m, e)
        }
        _ => {
            let (op, e) = match rng.u8(0..3) {
                0 => (KvU256MutatorOp::Set, Expect::Value(x)),
                1 => (
                    KvU256MutatorOp::Add,
                    current
                        .unwrap_or(U256(0, 0))
                        .add(x)
                        .map_or(Expect::Fails(AedbErrorCode::Overflow), Expect::Value),
                ),
                _ => (
                    KvU256MutatorOp::Sub,
                    current
                        .unwrap_or(U256(0, 0))
                        .sub(x)
                        .map_or(Expect::Fails(AedbErrorCode::Underflow), Expect::Value),
                ),
            };
            let m = Mutation::KvMutateU256 {
                project_id: p,
                scope_id: s,
                key: k,
                op,
                operand_be: x.be(),
                expected_seq: None,
            };
            (m, e)
        }
    }
}

fn u64_expect(
    rng: &mut fastrand::Rng,
    current: Option<u64>,
    key: &[u8],
) -> (Mutation, Expect<u64>) {
    let x = u64_operand(rng);
    let zero_ok = rng.bool();
    let on_missing = if zero_ok {
        KvU64MissingPolicy::TreatAsZero
    } else {
        KvU64MissingPolicy::Reject
    };
    let base = match current {
        Some(v) => Some(v),
        None if zero_ok => Some(0),
        None => None,
    };
    let (p, s, k) = (P.to_string(), S.to_string(), key.to_vec());
    match rng.u8(0..6) {
        0 => {
            let saturate = rng.bool();
            let m = Mutation::KvAddU64Ex {
                project_id: p,
                scope_id: s,
                key: k,
                amount_be: x.to_be_bytes(),
                on_missing,
                on_overflow: if saturate {
                    KvU64OverflowPolicy::Saturate
                } else {
                    KvU64OverflowPolicy::Reject
                },
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => match b.checked_add(x) {
                    Some(v) => Expect::Value(v),
                    None if saturate => Expect::Value(u64::MAX),
                    None => Expect::Fails(AedbErrorCode::Overflow),
                },
            };
            (m, e)
        }
        1 | 2 => {
            let noop = rng.bool();
            let m = if rng.bool() {
                Mutation::KvSubU64Ex {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    amount_be: x.to_be_bytes(),
                    on_missing,
                    on_underflow: if noop {
                        KvU64UnderflowPolicy::NoOp
                    } else {
                        KvU64UnderflowPolicy::Reject
                    },
                }
            } else {
                Mutation::KvSubIntEx {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    amount: KvIntegerAmount::U64(x.to_be_bytes()),
                    on_missing: if zero_ok {
                        KvIntegerMissingPolicy::TreatAsZero
                    } else {
                        KvIntegerMissingPolicy::Reject
                    },
                    on_underflow: if noop {
                        KvIntegerUnderflowPolicy::NoOp
                    } else {
                        KvIntegerUnderflowPolicy::Reject
                    },
                }
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => match b.checked_sub(x) {
                    Some(v) => Expect::Value(v),
                    None if noop => Expect::Unchanged,
                    None => Expect::Fails(AedbErrorCode::Underflow),
                },
            };
            (m, e)
        }
        3 | 4 => {
            let max = rng.bool();
            let m = if max {
                Mutation::KvMaxU64 {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    candidate_be: x.to_be_bytes(),
                    on_missing,
                }
            } else {
                Mutation::KvMinU64 {
                    project_id: p,
                    scope_id: s,
                    key: k,
                    candidate_be: x.to_be_bytes(),
                    on_missing,
                }
            };
            let e = match base {
                None => Expect::Fails(MISSING),
                Some(b) => Expect::Value(if max { b.max(x) } else { b.min(x) }),
            };
            (m, e)
        }
        _ => {
            let b = current.unwrap_or(0);
            let (op, e) = match rng.u8(0..3) {
                0 => (KvU64MutatorOp::Set, Expect::Value(x)),
                1 => (
                    KvU64MutatorOp::Add,
                    b.checked_add(x)
                        .map_or(Expect::Fails(AedbErrorCode::Overflow), Expect::Value),
                ),
                _ => (
                    KvU64MutatorOp::Sub,
                    b.checked_sub(x)
                        .map_or(Expect::Fails(AedbErrorCode::Underflow), Expect::Value),
                ),
            };
            let m = Mutation::KvMutateU64 {
                project_id: p,
                scope_id: s,
                key: k,
                op,
                operand_be: x.to_be_bytes(),
                expected_seq: None,
            };
            (m, e)
        }
    }
}

/// Checks one committed operation against its expectation and returns the
/// reference's next value.
async fn check<T: Copy + std::fmt::Debug>(
    db: &AedbInstance,
    ctx: &str,
    m: Mutation,
    expect: Expect<T>,
    current: Option<T>,
    key: &[u8],
) -> Option<T> {
    let before = version(db, key).await;
    let r = db.commit_with_finality(m, CommitFinality::Visible).await;
    match (expect, r) {
        (Expect::Value(v), Ok(c)) => {
            assert_eq!(version(db, key).await, c.commit_seq, "{ctx}: version");
            Some(v)
        }
        (Expect::Unchanged, Ok(_)) => {
            assert_eq!(version(db, key).await, before, "{ctx}: NoOp wrote");
            current
        }
        (Expect::Fails(code), Err(e)) => {
            assert_eq!(e.code(), code, "{ctx}: {e}");
            assert_eq!(version(db, key).await, before, "{ctx}: failure wrote");
            current
        }
        (Expect::Value(v), Err(e)) => panic!("{ctx}: expected {v:?}, got {e}"),
        (Expect::Unchanged, Err(e)) => panic!("{ctx}: expected no change, got {e}"),
        (Expect::Fails(code), Ok(_)) => panic!("{ctx}: expected {code:?}, it committed"),
    }
}

#[tokio::test]
async fn numerics_match_the_reference_model() {
    let seed = aedb::pager::sim::test_seed("kv numerics", 0x6e75_6d73);
    let mut rng = fastrand::Rng::with_seed(seed);
    let (_d, db) = open().await;
    let mut wide: [Option<U256>; 2] = [None, None];
    let mut narrow: [Option<u64>; 2] = [None, None];
    for step in 0..400 {
        let i = rng.usize(0..2);
        if rng.bool() {
            let key = [b'w', i as u8];
            let ctx = format!("seed {seed} step {step} U256 key {i}");
            let (m, e) = u256_expect(&mut rng, wide[i], &key);
            wide[i] = check(&db, &ctx, m, e, wide[i], &key).await;
            let stored = value(&db, &key).await.map(|v| U256::from_be(&v));
            assert_eq!(stored, wide[i], "{ctx}");
        } else {
            let key = [b'n', i as u8];
            let ctx = format!("seed {seed} step {step} U64 key {i}");
            let (m, e) = u64_expect(&mut rng, narrow[i], &key);
            narrow[i] = check(&db, &ctx, m, e, narrow[i], &key).await;
            let stored = value(&db, &key)
                .await
                .map(|v| u64::from_be_bytes(v.try_into().unwrap()));
            assert_eq!(stored, narrow[i], "{ctx}");
        }
        if rng.u8(0..40) == 0 {
            let key = [if rng.bool() { b'w' } else { b'n' }, i as u8];
            db.kv_del(P, S, key.to_vec()).await.unwrap();
            if key[0] == b'w' {
                wide[i] = None;
            } else {
                narrow[i] = None;
            }
        }
    }
}

#[tokio::test]
async fn numerics_refuse_values_of_another_width() {
    let (_d, db) = open().await;
    db.kv_set(P, S, b"text".to_vec(), b"hello".to_vec())
        .await
        .unwrap();
    let e = db
        .kv_inc_u256(P, S, b"text".to_vec(), [1; 32])
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    assert!(e.to_string().contains("5 bytes"), "{e}");
    let e = db
        .kv_add_u64_ex(
            P,
            S,
            b"text".to_vec(),
            1u64.to_be_bytes(),
            KvU64MissingPolicy::TreatAsZero,
            KvU64OverflowPolicy::Reject,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
    assert_eq!(value(&db, b"text").await.unwrap(), b"hello");
}

#[tokio::test]
async fn entries_carry_their_version_and_creation_seq() {
    let (_d, db) = open().await;
    let first = db.kv_set(P, S, b"k".to_vec(), b"1".to_vec()).await.unwrap();
    let second = db.kv_set(P, S, b"k".to_vec(), b"2".to_vec()).await.unwrap();
    let e = db.kv_get_no_auth(P, S, b"k", AT).await.unwrap().unwrap();
    assert_eq!(
        (e.value.as_slice(), e.version, e.created_at),
        (&b"2"[..], second.commit_seq, first.commit_seq)
    );
    db.kv_del(P, S, b"k".to_vec()).await.unwrap();
    let third = db.kv_set(P, S, b"k".to_vec(), b"3".to_vec()).await.unwrap();
    let e = db.kv_get_no_auth(P, S, b"k", AT).await.unwrap().unwrap();
    assert_eq!(e.created_at, third.commit_seq, "re-created after a delete");
    // An older snapshot reads the older entry.
    let old = db
        .kv_get_no_auth(P, S, b"k", ConsistencyMode::AtSeq(second.commit_seq))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.value, b"2");
    let many = db
        .kv_get_many_no_auth(P, S, &[b"k".to_vec(), b"absent".to_vec()], AT)
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many[0].as_ref().unwrap().value, b"3");
    assert!(many[1].is_none());
}

fn version_failure(e: &AedbError) -> Option<(u64, u64)> {
    match e {
        AedbError::AssertionFailed {
            assertion, actual, ..
        } => match (&**assertion, &**actual) {
            (ReadAssertion::KeyVersion { expected_seq, .. }, AssertionActual::Version(actual)) => {
                Some((*expected_seq, *actual))
            }
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn compare_and_helpers_pass_on_the_version_and_fail_naming_the_actual_one() {
    let (_d, db) = open().await;
    let one256 = {
        let mut b = [0u8; 32];
        b[31] = 1;
        b
    };
    let v = |n: u64| n.to_be_bytes();
    // Absent keys have version 0.
    let c = db
        .kv_compare_and_set_u256(P, S, b"w".to_vec(), one256, 0)
        .await
        .unwrap();
    let c = db
        .kv_compare_and_inc_u256(P, S, b"w".to_vec(), one256, c.commit_seq)
        .await
        .unwrap();
    let stale = c.commit_seq - 1;
    let e = db
        .kv_compare_and_dec_u256(P, S, b"w".to_vec(), one256, stale)
        .await
        .unwrap_err();
    assert_eq!(version_failure(&e), Some((stale, c.commit_seq)), "{e}");
    assert_eq!(e.code(), AedbErrorCode::AssertionFailed);
    db.kv_compare_and_dec_u256(P, S, b"w".to_vec(), one256, c.commit_seq)
        .await
        .unwrap();
    assert_eq!(value(&db, b"w").await.unwrap(), one256);

    let c = db
        .kv_compare_and_set_u64(P, S, b"n".to_vec(), v(5), 0)
        .await
        .unwrap();
    let e = db
        .kv_compare_and_set_u64(P, S, b"n".to_vec(), v(6), 0)
        .await
        .unwrap_err();
    assert_eq!(version_failure(&e), Some((0, c.commit_seq)), "{e}");
    let c = db
        .kv_compare_and_add_u64(P, S, b"n".to_vec(), v(3), c.commit_seq)
        .await
        .unwrap();
    let e = db
        .kv_compare_and_sub_u64(P, S, b"n".to_vec(), v(1), c.commit_seq + 99)
        .await
        .unwrap_err();
    assert_eq!(version_failure(&e), Some((c.commit_seq + 99, c.commit_seq)));
    db.kv_compare_and_sub_u64(P, S, b"n".to_vec(), v(1), c.commit_seq)
        .await
        .unwrap();
    assert_eq!(value(&db, b"n").await.unwrap(), v(7));
    // The strict mutators refuse to wrap even when the version matches.
    let seq = version(&db, b"n").await;
    let e = db
        .kv_compare_and_sub_u64(P, S, b"n".to_vec(), v(8), seq)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Underflow);
}

#[tokio::test]
async fn sharded_counters_sum_their_shards_in_one_snapshot() {
    let (_d, db) = open().await;
    let mut total = 0u64;
    for hint in 0..20u32 {
        db.counter_add_sharded(
            P,
            S,
            b"hits".to_vec(),
            u64::from(hint).to_be_bytes(),
            4,
            hint,
        )
        .await
        .unwrap();
        total += u64::from(hint);
    }
    assert_eq!(
        db.counter_read_sharded(P, S, b"hits", 4, AT).await.unwrap(),
        total
    );
    // The shards are four keys after the logical key.
    let keys = db
        .kv_scan_prefix_no_auth(P, S, b"hits", 10, AT)
        .await
        .unwrap();
    assert_eq!(keys.len(), 4);
    let e = db
        .counter_add_sharded(P, S, b"hits".to_vec(), [0; 8], 0, 0)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Validation, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paged_scans_resume_on_their_snapshot_while_writers_change_the_space() {
    let (_d, db) = open().await;
    let admin = CallerContext::new("admin");
    db.commit(Mutation::Ddl(
        aedb::catalog::DdlOperation::GrantPermission {
            caller_id: "admin".into(),
            permission: Permission::GlobalAdmin,
            actor_id: None,
            delegable: false,
        },
    ))
    .await
    .unwrap();
    for i in 0..50u32 {
        db.kv_set(P, S, format!("k{i:03}").into_bytes(), vec![1])
            .await
            .unwrap();
    }
    let expected: Vec<Vec<u8>> = (0..50u32)
        .map(|i| format!("k{i:03}").into_bytes())
        .collect();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = db
            .kv_scan_prefix(P, S, b"k", 7, cursor, AT, &admin)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.entries.iter().map(|(k, _)| k.clone()));
        // Between pages: new keys before and after the cursor, a deletion and
        // an overwrite. The scan must not see any of them.
        let n = pages as u32;
        db.kv_set(P, S, format!("k{:03}a", n * 3).into_bytes(), vec![2])
            .await
            .unwrap();
        db.kv_del(P, S, format!("k{:03}", 49 - n).into_bytes())
            .await
            .unwrap();
        cursor = page.cursor;
        if cursor.is_none() {
            assert!(!page.truncated);
            break;
        }
        assert!(page.truncated);
    }
    assert_eq!(
        seen, expected,
        "every key of the first snapshot, once, in order"
    );
    assert_eq!(pages, 8);
    // A range scan with open bounds needs the whole scope; this one has it.
    let range = db
        .kv_scan_range(
            P,
            S,
            Bound::Excluded(b"k010".to_vec()),
            Bound::Included(b"k012".to_vec()),
            100,
            None,
            AT,
            &admin,
        )
        .await
        .unwrap();
    let keys: Vec<_> = range.entries.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![b"k011".to_vec(), b"k012".to_vec()]);
}

#[tokio::test]
async fn kv_scan_all_scopes_reads_only_the_scopes_the_caller_may_scan() {
    let (_d, db) = open().await;
    db.create_scope(P, "other").await.unwrap();
    db.create_scope(P, "secret").await.unwrap();
    for scope in [S, "other", "secret"] {
        db.kv_set(P, scope, b"x/1".to_vec(), scope.as_bytes().to_vec())
            .await
            .unwrap();
    }
    for scope in [S, "other"] {
        db.commit(Mutation::Ddl(
            aedb::catalog::DdlOperation::GrantPermission {
                caller_id: "reader".into(),
                permission: Permission::KvRead {
                    project_id: P.into(),
                    scope_id: Some(scope.into()),
                    prefix: Some(b"x/".to_vec()),
                },
                actor_id: None,
                delegable: false,
            },
        ))
        .await
        .unwrap();
    }
    let reader = CallerContext::new("reader");
    let got = db
        .kv_scan_all_scopes(P, b"x/", 10, AT, &reader)
        .await
        .unwrap();
    let scopes: Vec<_> = got.iter().map(|e| e.scope_id.as_str()).collect();
    assert_eq!(scopes, vec![S, "other"], "by scope, without the secret one");
    let stranger = CallerContext::new("stranger");
    let e = db
        .kv_scan_all_scopes(P, b"x/", 10, AT, &stranger)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied);
}

#[tokio::test]
async fn versions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (seq, created) = {
        let db = AedbInstance::open(Default::default(), dir.path()).unwrap();
        db.create_project(P).await.unwrap();
        let a = db.kv_set(P, S, b"k".to_vec(), b"1".to_vec()).await.unwrap();
        let b = db.kv_inc_u256(P, S, b"c".to_vec(), [1; 32]).await.unwrap();
        (b.commit_seq, a.commit_seq)
    };
    let db = AedbInstance::open(Default::default(), dir.path()).unwrap();
    let k = db.kv_get_no_auth(P, S, b"k", AT).await.unwrap().unwrap();
    assert_eq!((k.version, k.created_at), (created, created));
    let c = db.kv_get_no_auth(P, S, b"c", AT).await.unwrap().unwrap();
    assert_eq!((c.value, c.version), (vec![1; 32], seq));
}
