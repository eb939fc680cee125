//! The permission matrix (issue #12): every public call that reads or writes
//! data × {no caller, a caller without grants, the caller with exactly the grant
//! it needs, the same grant on another project / scope / table / KV prefix, the
//! grant revoked, and (for calls that read at a chosen seq) the grant given at a
//! later seq than the one read}, on an instance opened with `open_secure`.
//!
//! Pass criterion: each cell is allowed or `PermissionDenied` as the matrix
//! says; a denied cell changes nothing but one `denied` row in
//! `_system.app.authz_audit` (the data, the catalog, the KV space and every
//! other seq are as before) and returns no data. The number of cells checked is
//! printed.

use std::future::Future;
use std::ops::Bound;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use aedb::catalog::schema::{ColumnDef, IndexType};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::catalog::{DdlOperation, ResourceType};
use aedb::commit::action::ActionEnvelopeRequest;
use aedb::commit::tx::{
    IdempotencyKey, ReadAssertion, ReadSet, TransactionEnvelope, WriteClass, WriteIntent,
};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::pager::sim::SimFs;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};
use aedb::{AedbError, AedbErrorCode, AedbInstance, CommitFinality};

const P: &str = "p";
const S: &str = "s";
const ADMIN: &str = "admin";
const USER: &str = "u";

fn key() -> [u8; 32] {
    [9u8; 32]
}

fn column(name: &str, t: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        col_type: t,
        nullable,
    }
}

fn create_table(project: &str, scope: &str, table: &str) -> Mutation {
    Mutation::Ddl(DdlOperation::CreateTable {
        project_id: project.into(),
        scope_id: scope.into(),
        table_name: table.into(),
        owner_id: None,
        columns: vec![
            column("id", ColumnType::Integer, false),
            column("owner", ColumnType::Text, false),
            column("v", ColumnType::Integer, true),
        ],
        primary_key: vec!["id".into()],
    })
}

fn row(id: i64, owner: &str, v: i64) -> Row {
    Row::from_values(vec![
        Value::Integer(id),
        Value::Text(owner.into()),
        Value::Integer(v),
    ])
}

fn insert(table: &str, id: i64) -> Mutation {
    Mutation::Insert {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: table.into(),
        primary_key: vec![Value::Integer(id)],
        row: row(id, USER, 1),
    }
}

fn table_perm(
    kind: fn(String, String, String) -> Permission,
    p: &str,
    s: &str,
    t: &str,
) -> Permission {
    kind(p.into(), s.into(), t.into())
}

fn read(p: &str, s: &str, t: &str) -> Permission {
    table_perm(
        |project_id, scope_id, table_name| Permission::TableRead {
            project_id,
            scope_id,
            table_name,
        },
        p,
        s,
        t,
    )
}

fn write(p: &str, s: &str, t: &str) -> Permission {
    table_perm(
        |project_id, scope_id, table_name| Permission::TableWrite {
            project_id,
            scope_id,
            table_name,
        },
        p,
        s,
        t,
    )
}

fn kv(write: bool, p: &str, s: &str, prefix: &[u8]) -> Permission {
    let (project_id, scope_id, prefix) =
        (p.to_string(), Some(s.to_string()), Some(prefix.to_vec()));
    if write {
        Permission::KvWrite {
            project_id,
            scope_id,
            prefix,
        }
    } else {
        Permission::KvRead {
            project_id,
            scope_id,
            prefix,
        }
    }
}

/// A KV grant over a whole scope (what accumulators need, as in 0.1.9).
fn scope_kv(write: bool, p: &str, s: &str) -> Permission {
    let (project_id, scope_id) = (p.to_string(), Some(s.to_string()));
    if write {
        Permission::KvWrite {
            project_id,
            scope_id,
            prefix: None,
        }
    } else {
        Permission::KvRead {
            project_id,
            scope_id,
            prefix: None,
        }
    }
}

fn grant(caller: &str, permission: Permission) -> Mutation {
    Mutation::Ddl(DdlOperation::GrantPermission {
        caller_id: caller.into(),
        permission,
        actor_id: None,
        delegable: false,
    })
}

fn revoke(caller: &str, permission: Permission) -> Mutation {
    Mutation::Ddl(DdlOperation::RevokePermission {
        caller_id: caller.into(),
        permission,
        actor_id: None,
    })
}

/// The state every cell starts from, made in open mode with plain calls:
/// projects `p` (scopes `s`, `tmp`) and `q` (scope `s`), tables `p.s.t1` (rows
/// 1 and 2, index `by_owner`), `p.s.t2`, `q.s.t1`, KV keys `k/1` and `z/1` in
/// `p.s`, and `GlobalAdmin` for `admin`.
async fn seed(db: &AedbInstance) -> Result<(), AedbError> {
    for p in [P, "q"] {
        db.create_project(p).await?;
        db.create_scope(p, S).await?;
    }
    db.create_scope(P, "tmp").await?;
    db.create_accumulator(P, S, "acc", None, 10).await?;
    db.accumulate(P, S, "acc", 1_000, "fund".into(), 1).await?;
    for (p, t) in [(P, "t1"), (P, "t2"), ("q", "t1")] {
        db.commit(create_table(p, S, t)).await?;
    }
    db.commit(Mutation::Ddl(DdlOperation::CreateIndex {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "t1".into(),
        index_name: "by_owner".into(),
        if_not_exists: false,
        columns: vec!["owner".into()],
        index_type: IndexType::BTree,
        partial_filter: None,
    }))
    .await?;
    for (id, owner) in [(1, USER), (2, "x")] {
        db.commit(Mutation::Insert {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "t1".into(),
            primary_key: vec![Value::Integer(id)],
            row: row(id, owner, id * 10),
        })
        .await?;
    }
    db.kv_set(P, S, b"k/1".to_vec(), b"a".to_vec()).await?;
    db.kv_set(P, S, b"z/1".to_vec(), b"b".to_vec()).await?;
    db.commit(grant(ADMIN, Permission::GlobalAdmin)).await?;
    Ok(())
}

type Outcome = Pin<Box<dyn Future<Output = Result<(), AedbError>> + Send>>;

/// One public call: `caller` `None` runs the plain form, `Some` the `*_as`
/// form; `at` is the seq a reading call reads at.
type Run = fn(AedbInstance, Option<CallerContext>, ConsistencyMode) -> Outcome;

struct Case {
    name: &'static str,
    /// Exactly the grant the call needs...
    needs: Permission,
    /// ...with this one, for calls that need two (a predicated write reads).
    with: Option<Permission>,
    /// The same kind of grant on a neighbouring resource.
    other: Permission,
    /// The call reads at a chosen seq.
    reads_at: bool,
    run: Run,
}

fn q_err(e: aedb::query::QueryError) -> AedbError {
    match e {
        aedb::query::QueryError::Engine(e) => e,
        other => AedbError::Validation(other.to_string()),
    }
}

/// A plain preflight's advisory failure, as the error it reports.
fn advisory(reason: String) -> AedbError {
    match reason.strip_prefix("permission denied: ") {
        Some(r) => AedbError::PermissionDenied(r.to_string()),
        None => AedbError::Validation(reason),
    }
}

fn t1() -> Query {
    Query::select(&["*"]).from("t1")
}

fn opts(at: ConsistencyMode) -> QueryOptions {
    QueryOptions {
        consistency: at,
        ..QueryOptions::default()
    }
}

fn cases() -> Vec<Case> {
    let r = || read(P, S, "t1");
    let w = || write(P, S, "t1");
    vec![
        Case {
            name: "query",
            needs: r(),
            other: read(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.query(P, S, t1()).await,
                        Some(c) => db.query_as(&c, P, S, t1()).await,
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "query_with_options",
            needs: r(),
            other: read("q", S, "t1"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.query_with_options(P, S, t1(), opts(at)).await,
                        Some(c) => {
                            db.query_with_options_as(Some(&c), P, S, t1(), opts(at))
                                .await
                        }
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "query_no_auth",
            needs: r(),
            other: read(P, "s2", "t1"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.query_no_auth(P, S, t1(), opts(at)).await,
                        Some(c) => {
                            db.query_with_options_as(Some(&c), P, S, t1(), opts(at))
                                .await
                        }
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "query (join)",
            needs: r(),
            other: read(P, "tmp", "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let q = t1().inner_join("t1", "id", "id").with_last_join_alias("b");
                    match c {
                        None => db.query(P, S, q).await,
                        Some(c) => db.query_as(&c, P, S, q).await,
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "explain_query",
            needs: r(),
            other: read(P, S, "t2"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.explain_query(P, S, t1(), opts(at)).await,
                        Some(c) => db.explain_query_as(Some(&c), P, S, t1(), opts(at)).await,
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "query of a missing table",
            needs: read(P, S, "missing"),
            other: r(),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let q = Query::select(&["*"]).from("missing");
                    let r = match c {
                        None => db.query(P, S, q).await,
                        Some(c) => db.query_as(&c, P, S, q).await,
                    };
                    // With the grant, the answer is that it does not exist;
                    // without, only that the caller may not ask.
                    match r {
                        Err(e) if e.code() == AedbErrorCode::TableNotFound => Ok(()),
                        Err(e) => match q_err(e) {
                            AedbError::PermissionDenied(m) => Err(AedbError::PermissionDenied(m)),
                            other => panic!("query of a missing table: {other:?}"),
                        },
                        Ok(r) => panic!("query of a missing table answered {r:?}"),
                    }
                })
            },
        },
        Case {
            name: "commit",
            needs: w(),
            other: write(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.commit(insert("t1", 7)).await,
                        Some(c) => db.commit_as(c, insert("t1", 7)).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "commit_with_finality",
            needs: w(),
            other: write("q", S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let v = CommitFinality::Visible;
                    match c {
                        None => db.commit_with_finality(insert("t1", 7), v).await,
                        Some(c) => db.commit_as_with_finality(c, insert("t1", 7), v).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "commit_with_preflight",
            needs: w(),
            other: read(P, S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.commit_with_preflight(insert("t1", 7)).await,
                        Some(c) => db.commit_as_with_preflight(c, insert("t1", 7)).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "commit_many_atomic",
            needs: w(),
            other: write(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let ms = vec![insert("t1", 7), insert("t1", 8)];
                    match c {
                        None => db.commit_many_atomic(ms).await,
                        Some(c) => db.commit_many_atomic_as(c, ms).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "delete_where (reads and writes)",
            needs: w(),
            other: write(P, S, "t2"),
            reads_at: false,
            with: Some(r()),
            run: |db, c, _| {
                Box::pin(async move {
                    let m = Mutation::DeleteWhere {
                        project_id: P.into(),
                        scope_id: S.into(),
                        table_name: "t1".into(),
                        predicate: Expr::Eq("id".into(), Value::Integer(2)),
                        limit: None,
                    };
                    match c {
                        None => db.commit(m).await,
                        Some(c) => db.commit_as(c, m).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "preflight",
            needs: w(),
            other: write(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => match db.preflight(insert("t1", 7)).await {
                            aedb::commit::PreflightResult::Ok { .. } => Ok(()),
                            aedb::commit::PreflightResult::Err { reason } => Err(advisory(reason)),
                        },
                        Some(c) => db.preflight_as(&c, insert("t1", 7)).await.map(|_| ()),
                    }
                })
            },
        },
        Case {
            name: "preflight_plan",
            needs: w(),
            other: write(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => {
                            let p = db.preflight_plan(insert("t1", 7)).await;
                            if p.valid {
                                Ok(())
                            } else {
                                Err(advisory(p.errors.join("; ")))
                            }
                        }
                        Some(c) => db.preflight_plan_as(&c, insert("t1", 7)).await.map(|_| ()),
                    }
                })
            },
        },
        Case {
            name: "kv_set",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, P, S, b"z/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let (k, v) = (b"k/2".to_vec(), b"c".to_vec());
                    match c {
                        None => db.kv_set(P, S, k, v).await,
                        Some(c) => db.kv_set_as(c, P, S, k, v).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "kv_del",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, "q", S, b"k/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let k = b"k/1".to_vec();
                    match c {
                        None => db.kv_del(P, S, k).await,
                        Some(c) => db.kv_del_as(c, P, S, k).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "kv_get",
            needs: kv(false, P, S, b"k/"),
            other: kv(false, P, "tmp", b"k/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.kv_get_no_auth(P, S, b"k/1", at).await,
                        Some(c) => db.kv_get(P, S, b"k/1", at, &c).await,
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "kv_scan_prefix",
            needs: kv(false, P, S, b"k/"),
            other: kv(false, P, S, b"k/1/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db
                            .kv_scan_prefix_no_auth(P, S, b"k/", 10, at)
                            .await
                            .map(|_| ()),
                        Some(c) => db
                            .kv_scan_prefix(P, S, b"k/", 10, None, at, &c)
                            .await
                            .map(|_| ()),
                    }
                    .map_err(q_err)
                })
            },
        },
        // The KV calls of issue #13. A caller-only call's "no caller" cell runs
        // its plain sibling (`*_no_auth`, or the plain numeric call).
        Case {
            name: "kv_get_many",
            needs: kv(false, P, S, b"k/"),
            other: kv(false, P, "tmp", b"k/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    let keys = [b"k/1".to_vec(), b"k/9".to_vec()];
                    match c {
                        None => db.kv_get_many_no_auth(P, S, &keys, at).await,
                        Some(c) => db.kv_get_many(P, S, &keys, at, &c).await,
                    }
                    .map(|_| ())
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "kv_scan_range",
            needs: kv(false, P, S, b"k/"),
            other: kv(false, P, S, b"k/1/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db
                            .kv_scan_prefix_no_auth(P, S, b"k/", 10, at)
                            .await
                            .map(|_| ()),
                        Some(c) => {
                            let (lo, hi) = (b"k/".to_vec(), b"k/\xff".to_vec());
                            db.kv_scan_range(
                                P,
                                S,
                                Bound::Included(lo),
                                Bound::Excluded(hi),
                                10,
                                None,
                                at,
                                &c,
                            )
                            .await
                            .map(|_| ())
                        }
                    }
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "kv_scan_all_scopes",
            needs: kv(false, P, S, b"k/"),
            // A grant in another scope of the project is not a denial: the
            // call reads the scopes it may. Another project's is.
            other: kv(false, "q", S, b"k/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db
                            .kv_scan_prefix_no_auth(P, S, b"k/", 10, at)
                            .await
                            .map(|_| ()),
                        Some(c) => db
                            .kv_scan_all_scopes(P, b"k/", 10, at, &c)
                            .await
                            .map(|_| ()),
                    }
                    .map_err(q_err)
                })
            },
        },
        Case {
            name: "counter_read_sharded",
            needs: kv(false, P, S, b"k/"),
            other: kv(false, P, S, b"z/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.counter_read_sharded(P, S, b"k/c", 4, at).await,
                        Some(c) => db.counter_read_sharded_as(&c, P, S, b"k/c", 4, at).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "counter_add_sharded",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, P, S, b"z/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let (k, one) = (b"k/c".to_vec(), 1u64.to_be_bytes());
                    match c {
                        None => db.counter_add_sharded(P, S, k, one, 4, 1).await,
                        Some(c) => db.counter_add_sharded_as(c, P, S, k, one, 4, 1).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "kv_inc_u256",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, "q", S, b"k/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let k = b"k/n".to_vec();
                    match c {
                        None => db.kv_inc_u256(P, S, k, [1; 32]).await,
                        Some(c) => db.kv_inc_u256_as(c, P, S, k, [1; 32]).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "kv_compare_and_swap",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, P, S, b"z/"),
            reads_at: false,
            // The version check reads the key.
            with: Some(kv(false, P, S, b"k/")),
            run: |db, c, _| {
                Box::pin(async move {
                    let (k, v) = (b"k/new".to_vec(), b"v".to_vec());
                    match c {
                        None => db.kv_compare_and_swap(P, S, k, v, 0).await,
                        Some(c) => db.kv_compare_and_swap_as(c, P, S, k, v, 0).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "commit_envelope",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, P, "tmp", b"k/"),
            reads_at: false,
            // Its assertion reads `k/1`.
            with: Some(kv(false, P, S, b"k/")),
            run: |db, c, _| {
                Box::pin(async move {
                    let env = TransactionEnvelope {
                        caller: c,
                        idempotency_key: None,
                        write_class: WriteClass::Standard,
                        assertions: vec![ReadAssertion::KeyExists {
                            project_id: P.into(),
                            scope_id: S.into(),
                            key: b"k/1".to_vec(),
                            expected: true,
                        }],
                        read_set: ReadSet::default(),
                        write_intent: WriteIntent {
                            mutations: vec![Mutation::KvSet {
                                project_id: P.into(),
                                scope_id: S.into(),
                                key: b"k/3".to_vec(),
                                value: b"e".to_vec(),
                            }],
                        },
                        base_seq: 0,
                    };
                    db.commit_envelope(env).await.map(|_| ())
                })
            },
        },
        Case {
            name: "commit_action_envelope",
            needs: kv(true, P, S, b"k/"),
            other: kv(true, P, S, b"z/"),
            reads_at: false,
            with: Some(kv(false, P, S, b"k/")),
            run: |db, c, _| {
                Box::pin(async move {
                    let req = ActionEnvelopeRequest {
                        caller: c,
                        idempotency_key: IdempotencyKey([1; 16]),
                        write_class: WriteClass::Standard,
                        base_seq: 0,
                        assertions: vec![ReadAssertion::KeyExists {
                            project_id: P.into(),
                            scope_id: S.into(),
                            key: b"k/1".to_vec(),
                            expected: true,
                        }],
                        mutations: vec![Mutation::KvSet {
                            project_id: P.into(),
                            scope_id: S.into(),
                            key: b"k/4".to_vec(),
                            value: b"a".to_vec(),
                        }],
                    };
                    db.commit_action_envelope(req).await.map(|_| ())
                })
            },
        },
        // Accumulators (issue #14): a KV grant over the whole scope; one
        // limited to a key prefix does not reach them.
        Case {
            name: "accumulate",
            needs: scope_kv(true, P, S),
            other: kv(true, P, S, b"k/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let k = "d2".to_string();
                    match c {
                        None => db.accumulate(P, S, "acc", 5, k, 2).await,
                        Some(c) => db.accumulate_as(c, P, S, "acc", 5, k, 2).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "expose_accumulator",
            needs: scope_kv(true, P, S),
            other: scope_kv(true, P, "tmp"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let id = "hold".to_string();
                    match c {
                        None => db.expose_accumulator(P, S, "acc", 10, id).await,
                        Some(c) => db.expose_accumulator_as(c, P, S, "acc", 10, id).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "accumulator_value_strong",
            needs: scope_kv(false, P, S),
            other: kv(false, P, S, b"k/"),
            reads_at: true,
            with: None,
            run: |db, c, at| {
                Box::pin(async move {
                    match c {
                        None => db.accumulator_value_strong(P, S, "acc", at).await,
                        Some(c) => db.accumulator_value_strong_as(&c, P, S, "acc", at).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "create_accumulator",
            needs: Permission::TableDdl {
                project_id: P.into(),
            },
            other: Permission::TableDdl {
                project_id: "q".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.create_accumulator(P, S, "acc2", None, 10).await,
                        Some(c) => db.create_accumulator_as(c, P, S, "acc2", None, 10).await,
                    }
                    .map(|_| ())
                })
            },
        },
        // Events (issue #15): a KV grant over the scope; checkpoints: GlobalAdmin.
        Case {
            name: "emit_event",
            needs: scope_kv(true, P, S),
            other: kv(true, P, S, b"k/"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let (k, v) = ("e".to_string(), "{}".to_string());
                    match c {
                        None => db.emit_event(P, S, "t", k, v).await,
                        Some(c) => db.emit_event_as(c, P, S, "t", k, v).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "ack_reactive_processor_checkpoint",
            needs: Permission::GlobalAdmin,
            other: Permission::ProjectAdmin {
                project_id: P.into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.ack_reactive_processor_checkpoint("proc", 1).await,
                        Some(c) => db.ack_reactive_processor_checkpoint_as(c, "proc", 1).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "describe_table",
            needs: r(),
            other: read(P, S, "t2"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.describe_table(P, S, "t1").await,
                        Some(c) => db.describe_table_as(&c, P, S, "t1").await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "list_indexes",
            needs: r(),
            other: read("q", S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.list_indexes(P, S, "t1").await,
                        Some(c) => db.list_indexes_as(&c, P, S, "t1").await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "list_tables",
            needs: r(),
            other: read(P, "tmp", "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.list_tables(P, S).await,
                        Some(c) => db.list_tables_as(&c, P, S).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "list_scopes",
            needs: r(),
            other: read("q", S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.list_scopes(P).await,
                        Some(c) => db.list_scopes_as(&c, P).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "project_exists",
            needs: r(),
            other: read("q", S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.project_exists(P).await,
                        Some(c) => db.project_exists_as(&c, P).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "create_project",
            needs: Permission::GlobalAdmin,
            other: Permission::ProjectAdmin {
                project_id: "new".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.create_project("new").await,
                        Some(c) => db.create_project_as(c, "new").await,
                    }
                })
            },
        },
        Case {
            name: "drop_project",
            needs: Permission::ProjectAdmin {
                project_id: P.into(),
            },
            other: Permission::ProjectAdmin {
                project_id: "q".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.drop_project(P).await,
                        Some(c) => db.drop_project_as(c, P).await,
                    }
                })
            },
        },
        Case {
            name: "create_scope",
            needs: Permission::ProjectAdmin {
                project_id: P.into(),
            },
            other: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: "new".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.create_scope(P, "new").await,
                        Some(c) => db.create_scope_as(c, P, "new").await,
                    }
                })
            },
        },
        Case {
            name: "drop_scope",
            needs: Permission::ProjectAdmin {
                project_id: P.into(),
            },
            other: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: S.into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.drop_scope(P, "tmp").await,
                        Some(c) => db.drop_scope_as(c, P, "tmp").await,
                    }
                })
            },
        },
        Case {
            name: "create table (DDL)",
            needs: Permission::TableDdl {
                project_id: P.into(),
            },
            other: Permission::TableDdl {
                project_id: "q".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    match c {
                        None => db.commit(create_table(P, S, "t3")).await,
                        Some(c) => db.commit_as(c, create_table(P, S, "t3")).await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "set_read_policy",
            needs: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: S.into(),
            },
            other: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: "tmp".into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let pred = Expr::EqCaller("owner".into());
                    match c {
                        None => db.set_read_policy(P, S, "t1", pred).await,
                        Some(c) => db.set_read_policy_as(c, P, S, "t1", pred).await,
                    }
                })
            },
        },
        Case {
            name: "transfer_ownership",
            needs: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: S.into(),
            },
            other: Permission::TableDdl {
                project_id: P.into(),
            },
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let (r, t) = (ResourceType::Table, Some("t1"));
                    match c {
                        None => db.transfer_ownership(r, P, Some(S), t, "y").await,
                        Some(c) => db.transfer_ownership_as(c, r, P, Some(S), t, "y").await,
                    }
                    .map(|_| ())
                })
            },
        },
        Case {
            name: "grant (as a grantor)",
            needs: Permission::ScopeAdmin {
                project_id: P.into(),
                scope_id: S.into(),
            },
            other: read(P, S, "t1"),
            reads_at: false,
            with: None,
            run: |db, c, _| {
                Box::pin(async move {
                    let g = grant("third", read(P, S, "t2"));
                    match c {
                        None => db.commit(g).await,
                        Some(c) => db.commit_as(c, g).await,
                    }
                    .map(|_| ())
                })
            },
        },
    ]
}

/// Everything a denied call must leave alone, as the admin sees it: the rows
/// of every table, the KV space, the catalog listings.
async fn fingerprint(db: &AedbInstance) -> String {
    let admin = CallerContext::new(ADMIN);
    let mut out = String::new();
    let projects = db.list_projects_as(&admin).await.unwrap();
    for p in projects.iter().filter(|p| p.project_id != "_system") {
        out += &format!("{}:", p.project_id);
        for s in db.list_scopes_as(&admin, &p.project_id).await.unwrap() {
            for t in db.list_tables_as(&admin, &p.project_id, &s).await.unwrap() {
                let q = Query::select(&["*"]).from(&t.table_name);
                let rows = db.query_as(&admin, &p.project_id, &s, q).await.unwrap();
                out += &format!(" {s}.{}={:?}/{:?}", t.table_name, rows.rows, t.owner_id);
            }
            let kv = db
                .kv_scan_prefix(
                    &p.project_id,
                    &s,
                    b"",
                    100,
                    None,
                    ConsistencyMode::AtLatest,
                    &admin,
                )
                .await
                .unwrap()
                .entries;
            out += &format!(" kv={kv:?}");
        }
        out += "\n";
    }
    out
}

/// `denied` rows in the audit, as the admin reads them.
async fn denials(db: &AedbInstance) -> usize {
    let admin = CallerContext::new(ADMIN);
    let q = Query::select(&["*"])
        .from("authz_audit")
        .where_(Expr::Eq("event".into(), Value::Text("denied".into())));
    let opts = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    db.query_with_options_as(Some(&admin), "_system", "app", q, opts)
        .await
        .unwrap()
        .rows
        .len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    NoCaller,
    NoGrant,
    Exact,
    Other,
    Revoked,
    LaterSeq,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn permission_matrix_in_secure_mode() {
    let rt = rt();
    let mut cells = 0;
    let cases = cases();
    let expected: usize = cases.iter().map(|c| if c.reads_at { 6 } else { 5 }).sum();
    for case in cases {
        let columns: &[Column] = if case.reads_at {
            &[
                Column::NoCaller,
                Column::NoGrant,
                Column::Exact,
                Column::Other,
                Column::Revoked,
                Column::LaterSeq,
            ]
        } else {
            &[
                Column::NoCaller,
                Column::NoGrant,
                Column::Exact,
                Column::Other,
                Column::Revoked,
            ]
        };
        for &column in columns {
            let ctx = format!("{} × {column:?}", case.name);
            rt.block_on(async {
                let fs = SimFs::new(0x5ec);
                {
                    let db = AedbInstance::open_with_vfs(
                        AedbConfig::production(key()),
                        Arc::new(fs.clone()),
                        Path::new("/db"),
                    )
                    .unwrap();
                    seed(&db)
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: seed: {e}"));
                }
                let db = AedbInstance::open_secure_with_vfs(
                    AedbConfig::production(key()),
                    Arc::new(fs.clone()),
                    Path::new("/db"),
                )
                .unwrap();
                let admin = CallerContext::new(ADMIN);
                let give = |p: Permission| db.commit_as(admin.clone(), grant(USER, p));
                let mut at = ConsistencyMode::AtLatest;
                if let (Some(with), Column::Exact | Column::Revoked | Column::LaterSeq) =
                    (&case.with, column)
                {
                    give(with.clone()).await.unwrap();
                }
                match column {
                    Column::NoCaller | Column::NoGrant => {}
                    Column::Exact => {
                        give(case.needs.clone()).await.unwrap();
                    }
                    Column::Other => {
                        give(case.other.clone()).await.unwrap();
                    }
                    Column::Revoked => {
                        give(case.needs.clone()).await.unwrap();
                        db.commit_as(admin.clone(), revoke(USER, case.needs.clone()))
                            .await
                            .unwrap();
                    }
                    Column::LaterSeq => {
                        // A commit of this process to read at (the state found
                        // at open is not a retained snapshot).
                        db.commit_as(admin.clone(), grant("someone else", case.needs.clone()))
                            .await
                            .unwrap();
                        at = ConsistencyMode::AtSeq(db.storage().visible_seq());
                        give(case.needs.clone()).await.unwrap();
                    }
                }
                let caller = (column != Column::NoCaller).then(|| CallerContext::new(USER));
                let before = fingerprint(&db).await;
                let denied_before = denials(&db).await;
                let seq_before = db.storage().visible_seq();
                let got = (case.run)(db.clone(), caller, at).await;
                let allowed = column == Column::Exact;
                match (&got, allowed) {
                    (Ok(()), true) => {}
                    (Err(AedbError::PermissionDenied(_)), false) => {
                        assert_eq!(
                            fingerprint(&db).await,
                            before,
                            "{ctx}: a denied call changed the data"
                        );
                        assert_eq!(
                            db.storage().visible_seq(),
                            seq_before + 1,
                            "{ctx}: a denial commits its audit row and nothing else"
                        );
                        assert_eq!(
                            denials(&db).await,
                            denied_before + 1,
                            "{ctx}: the denial is audited"
                        );
                    }
                    (other, _) => panic!(
                        "{ctx}: expected {}, got {other:?}",
                        if allowed { "Ok" } else { "PermissionDenied" }
                    ),
                }
            });
            cells += 1;
        }
    }
    println!("permission matrix: {cells} cells checked in secure mode");
    assert_eq!(cells, expected);
}

/// An open-mode instance on the simulated file system, seeded.
async fn seeded() -> AedbInstance {
    let fs = SimFs::new(0x5eed);
    let db = AedbInstance::open_with_vfs(
        AedbConfig::production(key()),
        Arc::new(fs),
        Path::new("/db"),
    )
    .unwrap();
    seed(&db).await.unwrap();
    db
}

#[tokio::test]
async fn read_policy_filters_through_the_planner() {
    let db = seeded().await;
    for (id, owner) in (3..40).map(|i| (i, if i % 10 == 0 { USER } else { "x" })) {
        db.commit(Mutation::Insert {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "t1".into(),
            primary_key: vec![Value::Integer(id)],
            row: row(id, owner, id),
        })
        .await
        .unwrap();
    }
    db.set_read_policy(P, S, "t1", Expr::EqCaller("owner".into()))
        .await
        .unwrap();
    db.commit(grant(USER, read(P, S, "t1"))).await.unwrap();
    db.commit(grant(USER, write(P, S, "t1"))).await.unwrap();
    let u = CallerContext::new(USER);
    let mine = db.query_as(&u, P, S, t1()).await.unwrap();
    let ids: Vec<Value> = mine.rows.iter().map(|r| r.values[0].clone()).collect();
    assert_eq!(
        ids,
        [1, 10, 20, 30].map(Value::Integer),
        "only the caller's rows"
    );
    assert_eq!(
        mine.rows_examined, 4,
        "the policy's index walk reads only them"
    );
    let plan = db
        .explain_query_as(Some(&u), P, S, t1(), QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.index_used.as_deref(), Some("by_owner"), "{plan:?}");
    assert_eq!(plan.estimated_scan_rows, 4);
    // Without an index on the policy's column the walk reads every row, but
    // counts only those the caller may see.
    let by_v = t1().where_(Expr::Gte("v".into(), Value::Integer(0)));
    db.commit(Mutation::Ddl(DdlOperation::DropIndex {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "t1".into(),
        index_name: "by_owner".into(),
        if_exists: false,
    }))
    .await
    .unwrap();
    let r = db.query_as(&u, P, S, by_v.clone()).await.unwrap();
    assert_eq!((r.rows.len(), r.rows_examined), (4, 4));
    let plan = db
        .explain_query_as(Some(&u), P, S, by_v, QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(
        plan.estimated_scan_rows, 0,
        "withheld: it would count hidden rows"
    );
    // A predicated write touches only visible rows.
    let all = Mutation::DeleteWhere {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "t1".into(),
        predicate: Expr::Gte("id".into(), Value::Integer(0)),
        limit: None,
    };
    assert_eq!(db.commit_as(u.clone(), all).await.unwrap().affected_rows, 4);
    // The plain call (trusted) and a PolicyBypass holder see the rest.
    assert_eq!(db.query(P, S, t1()).await.unwrap().rows.len(), 35);
    let bypass = Permission::PolicyBypass {
        project_id: P.into(),
        table_name: Some("t1".into()),
    };
    db.commit(grant("auditor", read(P, S, "t1"))).await.unwrap();
    let auditor = CallerContext::new("auditor");
    assert_eq!(
        db.query_as(&auditor, P, S, t1()).await.unwrap().rows.len(),
        0,
        "policy: owner = auditor"
    );
    db.commit(grant("auditor", bypass)).await.unwrap();
    assert_eq!(
        db.query_as(&auditor, P, S, t1()).await.unwrap().rows.len(),
        35
    );
}

#[tokio::test]
async fn index_read_serves_only_queries_through_its_index() {
    let db = seeded().await;
    let idx = Permission::IndexRead {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "t1".into(),
        index_name: "by_owner".into(),
    };
    db.commit(grant(USER, idx)).await.unwrap();
    let u = CallerContext::new(USER);
    let lookup = t1().where_(Expr::Eq("owner".into(), Value::Text("x".into())));
    let r = db.query_as(&u, P, S, lookup).await.unwrap();
    assert_eq!(r.rows.len(), 1);
    let scan = db.query_as(&u, P, S, t1()).await.unwrap_err();
    assert_eq!(scan.code(), AedbErrorCode::PermissionDenied, "{scan}");
    let by_pk = t1().where_(Expr::Eq("id".into(), Value::Integer(1)));
    let e = db.query_as(&u, P, S, by_pk).await.unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied, "{e}");
    assert!(db.describe_table_as(&u, P, S, "t1").await.is_ok());
}

#[tokio::test]
async fn system_project_is_written_only_by_the_engine() {
    let db = seeded().await;
    let admin = CallerContext::new(ADMIN);
    let audit_row = |n: i64| Mutation::Insert {
        project_id: "_system".into(),
        scope_id: "app".into(),
        table_name: "authz_audit".into(),
        primary_key: vec![Value::Integer(0), Value::Integer(n)],
        row: Row::from_values(vec![
            Value::Integer(0),
            Value::Integer(n),
            Value::Timestamp(0),
            Value::Null,
            Value::Text("grant".into()),
            Value::Text("forged".into()),
            Value::Text("".into()),
            Value::Text("".into()),
        ]),
    };
    for (who, r) in [
        (
            "GlobalAdmin",
            db.commit_as(admin.clone(), audit_row(1)).await.map(|_| ()),
        ),
        ("plain call", db.commit(audit_row(2)).await.map(|_| ())),
        (
            "GlobalAdmin DDL",
            db.drop_project_as(admin.clone(), "_system").await,
        ),
        (
            "plain DDL",
            db.commit(create_table("_system", "app", "mine"))
                .await
                .map(|_| ()),
        ),
    ] {
        match r {
            Err(AedbError::PermissionDenied(_)) => {}
            other => panic!("{who}: {other:?}"),
        }
    }
    let q = Query::select(&["*"])
        .from("authz_audit")
        .where_(Expr::Eq("call".into(), Value::Text("forged".into())));
    let opts = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    let forged = db
        .query_with_options_as(Some(&admin), "_system", "app", q, opts)
        .await
        .unwrap();
    assert!(forged.rows.is_empty());
    // Reading needs a grant like any table.
    let audit = Query::select(&["*"]).from("authz_audit").limit(5);
    let e = db
        .query_as(&CallerContext::new(USER), "_system", "app", audit)
        .await
        .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::PermissionDenied);
}

#[test]
fn open_secure_refuses_configs_that_are_not_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (AedbConfig::default(), "manifest_hmac_key"),
        (AedbConfig::low_latency(key()), "durability_mode"),
        (AedbConfig::development(), "durability_mode"),
        (
            AedbConfig {
                recovery_mode: aedb::config::RecoveryMode::Permissive,
                ..AedbConfig::production(key())
            },
            "recovery_mode",
        ),
        (
            AedbConfig::production(key()).with_hmac_key(vec![1; 16]),
            "at least 32",
        ),
        (
            AedbConfig {
                hash_chain_required: false,
                ..AedbConfig::production(key())
            },
            "hash_chain_required",
        ),
    ];
    for (config, names) in cases {
        let e = AedbInstance::open_secure(config, dir.path())
            .err()
            .expect("refused");
        assert_eq!(e.code(), AedbErrorCode::InvalidConfig);
        assert!(e.to_string().contains(names), "{e}");
    }
    let db = AedbInstance::open_secure(AedbConfig::production(key()), dir.path()).unwrap();
    drop(db);
    // The README's low-latency profile opens with plain `open`.
    AedbInstance::open(AedbConfig::low_latency(key()), dir.path()).unwrap();
}
