//! The seed README's `aedb::repository` area: rows decoded into your own
//! type, read a page at a time with the total, then looked up through an
//! index and hydrated. `cargo run --example repository`

use aedb::AedbInstance;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::{ColumnDef, IndexType};
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::query::plan::{Expr, Order, Query};
use aedb::repository::{
    PageRequest, RepositoryContext, RowDecodeError, TryFromRow, i64_at, text_at,
};

struct User {
    id: i64,
    name: String,
    age: i64,
}

impl TryFromRow for User {
    fn try_from_row(row: Row) -> Result<Self, RowDecodeError> {
        Ok(User {
            id: i64_at(&row, 0, "id")?,
            name: text_at(&row, 1, "name")?.to_string(),
            age: i64_at(&row, 2, "age")?,
        })
    }
}

fn column(name: &str, column_type: ColumnType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        col_type: column_type,
        nullable: false,
    }
}

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
            column("id", ColumnType::Integer),
            column("name", ColumnType::Text),
            column("age", ColumnType::Integer),
        ],
        primary_key: vec!["id".into()],
    }))
    .await?;
    db.commit(Mutation::Ddl(DdlOperation::CreateIndex {
        project_id: "demo".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        index_name: "by_age".into(),
        if_not_exists: false,
        columns: vec!["age".into()],
        index_type: IndexType::BTree,
        partial_filter: None,
    }))
    .await?;
    for id in 1..=25i64 {
        db.commit(Mutation::Insert {
            project_id: "demo".into(),
            scope_id: "app".into(),
            table_name: "users".into(),
            primary_key: vec![Value::Integer(id)],
            row: Row::from_values(vec![
                Value::Integer(id),
                Value::Text(format!("user{id}")),
                Value::Integer(18 + id % 10),
            ]),
        })
        .await?;
    }

    let repo = RepositoryContext::new(&db, "demo", "app");
    let adults = Query::select(&["id", "name", "age"])
        .from("users")
        .where_(Expr::Gte("age".into(), Value::Integer(21)))
        .order_by("id", Order::Asc);
    let mut request = PageRequest::new(8);
    loop {
        let page = repo
            .query_page_with_total::<User>(adults.clone(), request, None)
            .await?;
        let names: Vec<&str> = page.items.iter().map(|u| u.name.as_str()).collect();
        println!("{} of {}: {names:?}", page.items.len(), page.total_count);
        match page.next_cursor {
            Some(cursor) => request = PageRequest::new(8).with_cursor(cursor),
            None => break,
        }
    }

    let aged_25 = Query::select(&["id"])
        .from("users")
        .where_(Expr::Eq("age".into(), Value::Integer(25)));
    let found: Vec<User> = repo.lookup_then_hydrate(aged_25, "users", "id").await?;
    for user in found {
        println!("aged {}: #{} {}", user.age, user.id, user.name);
    }
    Ok(())
}
