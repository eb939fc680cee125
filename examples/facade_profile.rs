//! A hot loop of one facade operation, for profilers (`valgrind --tool=callgrind`
//! or `perf`): `cargo run --release --example facade_profile -- <pk|pk_as|range|kv|insert|insert_as> [rows] [iterations]`.
use aedb::AedbInstance;
use aedb::CommitFinality;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::{ColumnDef, IndexType};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::permission::{CallerContext, Permission};
use aedb::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("pk", String::as_str).to_string();
    let rows: i64 = args.get(1).map_or(Ok(10_000), |s| s.parse())?;
    let iters: usize = args.get(2).map_or(Ok(100_000), |s| s.parse())?;
    let dir = tempfile::tempdir_in(".")?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project("p").await?;
    let col = |name: &str, col_type| ColumnDef {
        name: name.into(),
        col_type,
        nullable: false,
    };
    db.commit(Mutation::Ddl(DdlOperation::CreateTable {
        project_id: "p".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        owner_id: None,
        columns: vec![
            col("id", ColumnType::Integer),
            col("name", ColumnType::Text),
            col("age", ColumnType::Integer),
        ],
        primary_key: vec!["id".into()],
    }))
    .await?;
    db.commit(Mutation::Ddl(DdlOperation::CreateIndex {
        project_id: "p".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        index_name: "by_age".into(),
        if_not_exists: false,
        columns: vec!["age".into()],
        index_type: IndexType::BTree,
        partial_filter: None,
    }))
    .await?;
    let user = |i: i64| {
        Row::from_values(vec![
            Value::Integer(i),
            Value::Text(format!("user-{i}")),
            Value::Integer(i / 10),
        ])
    };
    let ids: Vec<i64> = (0..rows).collect();
    for chunk in ids.chunks(5_000) {
        let m = Mutation::InsertBatch {
            project_id: "p".into(),
            scope_id: "app".into(),
            table_name: "users".into(),
            rows: chunk.iter().map(|&i| user(i)).collect(),
        };
        db.commit_with_finality(m, CommitFinality::Visible).await?;
    }
    db.kv_set("p", "app", b"key".to_vec(), b"value".to_vec())
        .await?;
    // `pk_as` reads as a caller holding exactly `TableRead` on the table,
    // `insert_as` writes as one holding exactly `TableWrite` (the cost of the
    // permission check, issue #12).
    let reader = CallerContext::new("reader");
    let writer = CallerContext::new("writer");
    let users = || ("p".to_string(), "app".to_string(), "users".to_string());
    let grants = [
        (&reader, {
            let (project_id, scope_id, table_name) = users();
            Permission::TableRead {
                project_id,
                scope_id,
                table_name,
            }
        }),
        (&writer, {
            let (project_id, scope_id, table_name) = users();
            Permission::TableWrite {
                project_id,
                scope_id,
                table_name,
            }
        }),
    ];
    for (caller, permission) in grants {
        db.commit(Mutation::Ddl(DdlOperation::GrantPermission {
            caller_id: caller.caller_id.clone(),
            permission,
            actor_id: None,
            delegable: false,
        }))
        .await?;
    }
    let mut rng = fastrand::Rng::with_seed(1);
    let t = std::time::Instant::now();
    let mut found = 0;
    for n in 0..iters {
        match what.as_str() {
            "pk" | "pk_as" => {
                let q = Query::select(&["*"])
                    .from("users")
                    .where_(Expr::Eq("id".into(), Value::Integer(rng.i64(0..rows))));
                let r = if what == "pk_as" {
                    let options = QueryOptions::default();
                    db.query_with_options_as(Some(&reader), "p", "app", q, options)
                        .await?
                } else {
                    db.query("p", "app", q).await?
                };
                found += r.rows.len();
            }
            "range" => {
                let a = rng.i64(0..rows / 10 - 10);
                let q = Query::select(&["*"])
                    .from("users")
                    .where_(Expr::Between(
                        "age".into(),
                        Value::Integer(a),
                        Value::Integer(a + 9),
                    ))
                    .limit(100);
                found += db.query("p", "app", q).await?.rows.len();
            }
            "kv" => {
                found += usize::from(
                    db.kv_get_no_auth("p", "app", b"key", ConsistencyMode::AtLatest)
                        .await?
                        .is_some(),
                )
            }
            "insert" | "insert_as" => {
                let id = rows + n as i64;
                let m = Mutation::Insert {
                    project_id: "p".into(),
                    scope_id: "app".into(),
                    table_name: "users".into(),
                    primary_key: vec![Value::Integer(id)],
                    row: user(id),
                };
                let done = if what == "insert_as" {
                    db.commit_as_with_finality(writer.clone(), m, CommitFinality::Visible)
                        .await?
                } else {
                    db.commit_with_finality(m, CommitFinality::Visible).await?
                };
                found += done.affected_rows as usize;
            }
            other => return Err(format!("unknown operation {other}").into()),
        }
    }
    let el = t.elapsed();
    println!(
        "{what}: {iters} in {:.3} s = {:.2} us each ({found} rows)",
        el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / iters as f64
    );
    Ok(())
}
