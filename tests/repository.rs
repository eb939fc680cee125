//! `aedb::repository` (issue #18): rows decoded into the application's own
//! types, cursor pages that cover a table exactly once, a page with its total
//! counted on the page's own snapshot, an offset, lookup-then-hydrate through
//! an index, typed errors that name the column, and a caller's grants applied
//! to every call of a context that has one.

mod facade_common;

use aedb::catalog::types::{Row, Value};
use aedb::permission::CallerContext;
use aedb::query::plan::{ConsistencyMode, Expr, Order, Query};
use aedb::repository::{
    PageRequest, RepositoryContext, RepositoryError, RowDecodeError, TryFromRow, decode_rows,
    i64_at, text_at,
};
use aedb::{AedbErrorCode, AedbInstance};
use facade_common::*;

#[derive(Debug, Clone, PartialEq, Eq)]
struct User {
    id: i64,
    name: String,
    age: Option<i64>,
}

impl TryFromRow for User {
    fn try_from_row(row: Row) -> Result<Self, RowDecodeError> {
        let id = i64_at(&row, 0, "id")?;
        let name = text_at(&row, 1, "name")?.to_string();
        let age = match row.values.get(2) {
            Some(Value::Null) => None,
            _ => Some(i64_at(&row, 2, "age")?),
        };
        Ok(User { id, name, age })
    }
}

fn expected(id: i64) -> User {
    User {
        id,
        name: format!("u{id}"),
        age: (id % 5 != 0).then_some(20 + id % 7),
    }
}

/// `users` with ids 1..=45 (every fifth age NULL) and an index on age.
async fn users() -> (tempfile::TempDir, AedbInstance) {
    let (dir, db) = with_users().await;
    db.commit(create_by_age())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for id in 1..=45 {
        let u = expected(id);
        db.commit(insert_user(id, &u.name, u.age))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    (dir, db)
}

fn all_users() -> Query {
    Query::select(&["id", "name", "age"])
        .from("users")
        .order_by("id", Order::Asc)
}

#[tokio::test]
async fn cursor_pages_cover_the_table_once_in_order() {
    let (_dir, db) = users().await;
    let repo = RepositoryContext::new(&db, P, S);
    let (mut got, mut request, mut pages) = (Vec::new(), PageRequest::new(10), 0);
    loop {
        let page = repo
            .query_page::<User>(all_users(), request.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(page.items.len() <= 10);
        got.extend(page.items);
        pages += 1;
        match page.next_cursor {
            Some(cursor) => request = PageRequest::new(10).with_cursor(cursor),
            None => break,
        }
    }
    assert_eq!(got, (1..=45).map(expected).collect::<Vec<_>>());
    assert_eq!(pages, 5);
    assert!(
        repo.query_page::<User>(all_users(), PageRequest::new(0))
            .await
            .is_err(),
        "a page of 0 rows is a caller's mistake"
    );
}

#[tokio::test]
async fn a_page_with_its_total_counts_the_whole_query_on_its_snapshot() {
    let (_dir, db) = users().await;
    let repo = RepositoryContext::new(&db, P, S);
    let adults = all_users().where_(Expr::Gte("age".into(), Value::Integer(23)));
    let want: Vec<User> = (1..=45)
        .map(expected)
        .filter(|u| u.age.is_some_and(|a| a >= 23))
        .collect();
    let page = repo
        .query_page_with_total::<User>(adults.clone(), PageRequest::new(4), Some(3))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.total_count, want.len());
    assert_eq!(page.items, want[3..7].to_vec(), "the offset skips 3 rows");
    // A later commit does not change the total of a page read before it.
    let seq = page.snapshot_seq;
    db.commit(insert_user(46, "u46", Some(40)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let at =
        RepositoryContext::new(&db, P, S).with_default_consistency(ConsistencyMode::AtSeq(seq));
    let again = at
        .query_page_with_total::<User>(adults.clone(), PageRequest::new(4), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.total_count, again.snapshot_seq), (want.len(), seq));
    let now = repo
        .query_page_with_total::<User>(adults, PageRequest::new(4), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(now.total_count, want.len() + 1);
    assert!(
        repo.exists(all_users().where_(Expr::Eq("id".into(), Value::Integer(46))))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    );
    assert!(
        !repo
            .exists(all_users().where_(Expr::Eq("id".into(), Value::Integer(99))))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    );
}

#[tokio::test]
async fn lookup_then_hydrate_reads_rows_through_an_index() {
    let (_dir, db) = users().await;
    let repo = RepositoryContext::new(&db, P, S);
    let ids_aged_24 = Query::select(&["id"])
        .from("users")
        .where_(Expr::Eq("age".into(), Value::Integer(24)));
    let plan = repo
        .explain(ids_aged_24.clone(), repo.base_query_options())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.index_used.as_deref(), Some("by_age"));
    let mut got: Vec<Row> = repo
        .lookup_then_hydrate(ids_aged_24, "users", "id")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    got.sort_by_key(|r| i64_at(r, 0, "id").unwrap_or(0));
    let users: Vec<User> = got
        .into_iter()
        .map(|r| {
            // Hydrated rows hold every column (`balance` last): keep the three.
            let mut v = r.values;
            v.truncate(3);
            Row::from_values(v)
        })
        .map(User::try_from_row)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<User> = (1..=45)
        .map(expected)
        .filter(|u| u.age == Some(24))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(users, want);
}

/// Reads the columns in the wrong order: `name` where an Integer is expected.
#[derive(Debug)]
struct Swapped;

impl TryFromRow for Swapped {
    fn try_from_row(row: Row) -> Result<Self, RowDecodeError> {
        i64_at(&row, 1, "name")?;
        Ok(Swapped)
    }
}

#[tokio::test]
async fn a_row_that_does_not_fit_names_its_column() {
    let (_dir, db) = users().await;
    let repo = RepositoryContext::new(&db, P, S);
    let err = repo
        .query_page::<Swapped>(all_users(), PageRequest::new(5))
        .await
        .expect_err("a Text column read as an Integer");
    match err {
        RepositoryError::Decode(RowDecodeError::TypeMismatch {
            column,
            expected,
            actual,
        }) => assert_eq!(
            (column.as_str(), expected, actual),
            ("name", "Integer", "Text")
        ),
        e => panic!("wrong error: {e}"),
    }
    let rows = repo
        .query(Query::select(&["id"]).from("users").limit(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .rows;
    match decode_rows::<User>(rows) {
        Err(RowDecodeError::MissingColumn { column, index }) => {
            assert_eq!((column.as_str(), index), ("name", 1));
        }
        other => panic!("a one-column row decoded as a User: {other:?}"),
    }
}

#[tokio::test]
async fn a_context_with_a_caller_applies_the_callers_grants() {
    let (_dir, db) = users().await;
    let stranger = RepositoryContext::new(&db, P, S).with_caller(CallerContext::new("stranger"));
    assert_eq!(
        stranger.caller().map(|c| c.caller_id.as_str()),
        Some("stranger")
    );
    let err = stranger
        .query_page::<User>(all_users(), PageRequest::new(5))
        .await
        .expect_err("a caller without grants read the table");
    match err {
        RepositoryError::Query(e) => assert_eq!(e.code(), AedbErrorCode::PermissionDenied),
        e => panic!("wrong error: {e}"),
    }
    let denied = stranger
        .commit_checked(insert_user(99, "u99", None))
        .await
        .expect_err("a caller without grants committed");
    assert_eq!(denied.code(), AedbErrorCode::PermissionDenied);
    // Without a caller, the same calls are the process's own.
    let own = RepositoryContext::new(&db, P, S);
    own.commit_checked(insert_user(99, "u99", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        own.query(all_users())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .rows
            .len(),
        46
    );
}
