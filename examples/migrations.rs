// The seed README's `aedb::declarative` area (docs/AEDB_MIGRATION_SYSTEM.md):
// versioned migrations run once each and recorded in the scope's history,
// then a declared schema planned (a dry run), applied, and planned again
// (nothing left to do). `cargo run --example migrations`

use aedb::AedbInstance;
use aedb::catalog::schema::{ColumnDef, IndexType};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::declarative::{
    IndexSpec, MigrationSpec, SchemaMigrationPlan, SchemaSpec, TableMigrationBuilder, TableSpec,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = AedbInstance::open(Default::default(), dir.path())?;

    // Versioned: three migrations, each applied once, in order.
    let users = TableSpec::new("users")
        .column("id", ColumnType::U64, false)
        .column("name", ColumnType::Text, false)
        .primary_key(&["id"]);
    let plan = SchemaMigrationPlan::new("shop", "app")
        .with_namespace_bootstrap(true)
        .with_spec(
            MigrationSpec::new(1, "create users")
                .up_table("shop", "app", &users)?
                .down_drop_table("shop", "app", &users),
        )
        .with_spec(
            TableMigrationBuilder::new(2, "email", "shop", "app", "users")
                .add_column(ColumnDef {
                    name: "email".into(),
                    col_type: ColumnType::Text,
                    nullable: true,
                })
                .add_index(IndexSpec::new("by_email", &["email"], IndexType::BTree))
                .build()?,
        )
        .with_spec(
            TableMigrationBuilder::new(3, "rename name", "shop", "app", "users")
                .rename_column("name", "full_name")
                .build()?,
        );
    let report = plan.run(&db).await?;
    println!(
        "applied {:?}, now at version {}",
        report
            .applied
            .iter()
            .map(|(v, name, _)| (v, name))
            .collect::<Vec<_>>(),
        report.current_version
    );
    let again = plan.run(&db).await?;
    assert!(again.applied.is_empty());
    println!("second run: skipped {:?}", again.skipped);
    for r in db.applied_migrations("shop", "app").await? {
        println!(
            "  v{} {:?} at seq {} ({})",
            r.version,
            r.name,
            r.applied_seq,
            &r.checksum_hex[..12]
        );
    }

    // Declared: an `orders` table with rows, then a new shape for it.
    let orders_v1 = TableSpec::new("orders")
        .column("id", ColumnType::Integer, false)
        .column("customer", ColumnType::Text, false)
        .column("cents", ColumnType::Integer, false)
        .primary_key(&["id"]);
    SchemaSpec::new("shop", "app")
        .table(orders_v1)
        .apply(&db)
        .await?;
    for (id, customer, cents) in [(1, "ada", 1200), (2, "bob", 350)] {
        let values = vec![
            Value::Integer(id),
            Value::Text(customer.into()),
            Value::Integer(cents),
        ];
        db.commit(Mutation::Insert {
            project_id: "shop".into(),
            scope_id: "app".into(),
            table_name: "orders".into(),
            primary_key: vec![Value::Integer(id)],
            row: Row::from_values(values),
        })
        .await?;
    }
    // The id becomes U64 (a rebuild: every row converts exactly), a nullable
    // note is appended, and customers get an index.
    let orders_v2 = TableSpec::new("orders")
        .column("id", ColumnType::U64, false)
        .column("customer", ColumnType::Text, false)
        .column("cents", ColumnType::Integer, false)
        .column("note", ColumnType::Text, true)
        .primary_key(&["id"])
        .add_index(IndexSpec::new(
            "by_customer",
            &["customer"],
            IndexType::BTree,
        ));
    let spec = SchemaSpec::new("shop", "app")
        .table(users_now())
        .table(orders_v2);
    println!("plan (dry run):\n{}", spec.plan(&db).await?);
    let applied = spec.apply(&db).await?;
    println!(
        "applied in commit {:?}",
        applied.commit.map(|c| c.commit_seq)
    );
    assert!(spec.plan(&db).await?.is_empty());
    println!("plan again:\n{}", spec.plan(&db).await?);
    Ok(())
}

/// `users` as the three migrations left it (declared so the schema spec
/// keeps it as it is).
fn users_now() -> TableSpec {
    TableSpec::new("users")
        .column("id", ColumnType::U64, false)
        .column("full_name", ColumnType::Text, false)
        .column("email", ColumnType::Text, true)
        .primary_key(&["id"])
        .add_index(IndexSpec::new("by_email", &["email"], IndexType::BTree))
}
