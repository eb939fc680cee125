// The seed README's "Consistency modes" block, run unchanged (the indented part
// between the markers) after a Quick Start-like setup that gives it `db`.
// tests/readme_blocks.rs checks the block still matches the README.
use aedb::AedbInstance;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::ColumnDef;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;
    db.create_project("demo").await?;
    db.commit(Mutation::Ddl(DdlOperation::CreateTable {
        project_id: "demo".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        owner_id: None,
        columns: vec![
            ColumnDef {
                name: "id".into(),
                col_type: ColumnType::Integer,
                nullable: false,
            },
            ColumnDef {
                name: "username".into(),
                col_type: ColumnType::Text,
                nullable: false,
            },
        ],
        primary_key: vec!["id".into()],
    }))
    .await?;
    for (id, name) in [(1, "alice"), (2, "bob")] {
        db.commit(Mutation::Upsert {
            project_id: "demo".into(),
            scope_id: "app".into(),
            table_name: "users".into(),
            primary_key: vec![Value::Integer(id)],
            row: Row::from_values(vec![Value::Integer(id), Value::Text(name.into())]),
        })
        .await?;
    }
    db.checkpoint_now().await?;

    // --- README block begins ---
    use aedb::query::plan::{ConsistencyMode, Query, QueryOptions};

    let result = db
        .query_with_options(
            "demo",
            "app",
            Query::select(&["*"]).from("users"),
            QueryOptions {
                consistency: ConsistencyMode::AtCheckpoint,
                ..QueryOptions::default()
            },
        )
        .await?;

    println!("snapshot seq = {}", result.snapshot_seq);
    // --- README block ends ---

    assert_eq!(result.rows.len(), 2, "the checkpoint holds both users");
    Ok(())
}
