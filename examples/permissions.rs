//! The seed README's "Security and Permissions": the first operator is granted
//! once in open mode, then the database is served by an `open_secure` instance
//! (`open_production` behaves the same on any config), where every data call
//! names its caller. A granted caller's `*_as` call succeeds; another caller's,
//! and a plain call, are refused with `PermissionDenied`; each denial is a row
//! of `_system.app.authz_audit`. `cargo run --example permissions`

use aedb::catalog::DdlOperation;
use aedb::catalog::types::Value;
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};
use aedb::{AedbError, AedbInstance, CommitResult};

fn grant(caller_id: &str, permission: Permission) -> Mutation {
    Mutation::Ddl(DdlOperation::GrantPermission {
        caller_id: caller_id.into(),
        permission,
        actor_id: None,
        delegable: false,
    })
}

/// The reason `r` was refused; an error unless it was `PermissionDenied`.
fn denied(who: &str, r: Result<CommitResult, AedbError>) -> Result<String, String> {
    match r {
        Err(AedbError::PermissionDenied(why)) => Ok(why),
        other => Err(format!("{who}: expected PermissionDenied, got {other:?}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let key = [7u8; 32]; // from your secret store

    // A new database has no grants and a secure instance refuses plain
    // calls, so the first operator is granted once, in open mode.
    {
        let db = AedbInstance::open(AedbConfig::production(key), dir.path())?;
        db.commit(grant("ops", Permission::GlobalAdmin)).await?;
        db.shutdown().await?;
    } // the last clone dropped: the database is closed
    let db = AedbInstance::open_secure(AedbConfig::production(key), dir.path())?;

    let ops = CallerContext::new("ops");
    let alice = CallerContext::new("alice");
    let mallory = CallerContext::new("mallory");
    db.create_project_as(ops.clone(), "acme").await?;
    // alice may write and read the keys under `alice/` of acme.app.
    let writes = Permission::KvWrite {
        project_id: "acme".into(),
        scope_id: Some("app".into()),
        prefix: Some(b"alice/".to_vec()),
    };
    let reads = Permission::KvRead {
        project_id: "acme".into(),
        scope_id: Some("app".into()),
        prefix: Some(b"alice/".to_vec()),
    };
    for permission in [writes, reads] {
        db.commit_as(ops.clone(), grant("alice", permission))
            .await?;
    }

    // Granted: alice writes and reads her key.
    let score = b"alice/score".to_vec();
    db.kv_set_as(alice.clone(), "acme", "app", score.clone(), b"10".to_vec())
        .await?;
    let got = db
        .kv_get("acme", "app", &score, ConsistencyMode::AtLatest, &alice)
        .await?;
    assert_eq!(got.map(|e| e.value), Some(b"10".to_vec()));

    // Not granted: mallory is refused, and so is a plain call (no caller).
    let by_mallory = db
        .kv_set_as(mallory, "acme", "app", score.clone(), b"0".to_vec())
        .await;
    println!("mallory: {}", denied("mallory", by_mallory)?);
    let plain = db.kv_set("acme", "app", score.clone(), b"0".to_vec()).await;
    println!("plain call: {}", denied("plain call", plain)?);

    // Each denial was recorded in `_system.app.authz_audit`, which a caller
    // reads with a grant like any table (here `GlobalAdmin`).
    let audit = Query::select(&["caller_id", "call", "detail"])
        .from("authz_audit")
        .where_(Expr::Eq("event".into(), Value::Text("denied".into())));
    let options = QueryOptions {
        allow_full_scan: true,
        ..QueryOptions::default()
    };
    let rows = db
        .query_with_options_as(Some(&ops), "_system", "app", audit, options)
        .await?
        .rows;
    for row in &rows {
        println!("authz_audit: {:?}", row.values);
    }
    let callers: Vec<&Value> = rows.iter().filter_map(|r| r.values.first()).collect();
    assert_eq!(
        callers,
        [&Value::Text("mallory".into()), &Value::Null],
        "one row per denial; a plain call has no caller id"
    );

    // And nothing was written by the refused calls.
    let still = db
        .kv_get("acme", "app", &score, ConsistencyMode::AtLatest, &alice)
        .await?;
    assert_eq!(still.map(|e| e.value), Some(b"10".to_vec()));
    Ok(())
}
