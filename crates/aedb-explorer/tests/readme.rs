//! The seed README's explorer lines, run with its own arguments (the /tmp
//! path moved into a temporary directory) on a database holding the Quick
//! Start's data; the other commands; and the refusal while a writer has the
//! database open.

use std::path::Path;
use std::process::Command;

use aedb::AedbInstance;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::ColumnDef;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;

fn explorer(args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aedb-explorer"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn quickstart(db: &AedbInstance) {
    db.create_project("demo").await.unwrap();
    db.create_scope("demo", "app").await.unwrap();
    let col = |name: &str, col_type| ColumnDef {
        name: name.into(),
        col_type,
        nullable: false,
    };
    db.commit(Mutation::Ddl(DdlOperation::CreateTable {
        project_id: "demo".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        owner_id: None,
        columns: vec![
            col("id", ColumnType::Integer),
            col("username", ColumnType::Text),
        ],
        primary_key: vec!["id".into()],
    }))
    .await
    .unwrap();
    for (id, name) in [(1, "alice"), (2, "bob")] {
        db.commit(Mutation::Insert {
            project_id: "demo".into(),
            scope_id: "app".into(),
            table_name: "users".into(),
            primary_key: vec![Value::Integer(id)],
            row: Row::from_values(vec![Value::Integer(id), Value::Text(name.into())]),
        })
        .await
        .unwrap();
    }
    db.commit(Mutation::KvSet {
        project_id: "demo".into(),
        scope_id: "app".into(),
        key: b"greeting".to_vec(),
        value: b"hello".to_vec(),
    })
    .await
    .unwrap();
}

fn readme_lines(data: &Path) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/seed-README.md"),
    )
    .unwrap();
    let lines: Vec<Vec<String>> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("cargo run -p aedb-explorer -- "))
        .map(|rest| {
            rest.split_whitespace()
                .map(|a| match a {
                    "/tmp/aedb-data" => data.display().to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(lines.len(), 3, "the README's three explorer lines");
    lines
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_readmes_explorer_lines_run_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("aedb-data");
    rt().block_on(async {
        let db = AedbInstance::open(Default::default(), &data).unwrap();
        quickstart(&db).await;
        db.shutdown().await.unwrap();
    });
    let lines = readme_lines(&data);
    let mut outs = Vec::new();
    for a in &lines {
        let (code, out, err) = explorer(a);
        assert_eq!(code, 0, "aedb-explorer {a:?}: {out}{err}");
        println!("$ aedb-explorer {}\n{out}", a[0]);
        outs.push(out);
    }
    assert!(outs[0].contains("demo"), "{}", outs[0]);
    assert!(
        outs[1].contains("users") && outs[1].contains("id, username"),
        "{}",
        outs[1]
    );
    assert!(outs[2].contains("alice") && outs[2].contains("bob") && outs[2].contains("(2 rows)"));

    let d = data.display().to_string();
    let (code, out, _) = explorer(&args(&["scopes", "--data-dir", &d, "--project", "demo"]));
    assert_eq!(code, 0);
    assert!(out.contains("app"), "{out}");
    let at = ["--data-dir", &d, "--project", "demo", "--scope", "app"];
    let mut describe = args(&["describe-table", "--table", "users"]);
    describe.extend(args(&at));
    let (code, out, _) = explorer(&describe);
    assert_eq!(code, 0);
    assert!(
        out.contains("username") && out.contains("Text") && out.contains("key"),
        "{out}"
    );
    let mut kv = args(&["scan-kv"]);
    kv.extend(args(&at));
    let (code, out, _) = explorer(&kv);
    assert_eq!(code, 0);
    assert!(out.contains("greeting") && out.contains("hello"), "{out}");
    let mut limited = args(&["scan-table", "--table", "users", "--limit", "1"]);
    limited.extend(args(&at));
    let (_, out, _) = explorer(&limited);
    assert!(out.contains("(1 row)") && !out.contains("bob"), "{out}");

    // While a writer has the database open: refused, saying so.
    let rt = rt();
    let held = AedbInstance::open(Default::default(), &data).unwrap();
    let (code, _, err) = explorer(&lines[0]);
    assert_eq!(code, 1);
    assert!(err.contains("already open"), "{err}");
    rt.block_on(held.shutdown()).unwrap();
    // A directory without a database: a clear error, nothing created.
    let none = tmp.path().join("none");
    let (code, _, err) = explorer(&args(&[
        "projects",
        "--data-dir",
        &none.display().to_string(),
    ]));
    assert_eq!(code, 1);
    assert!(err.contains("no database here") && !none.exists(), "{err}");
}

/// A keyed database opens with its key from `--key-file` or `AEDB_KEY_HEX`;
/// without it, or with another key, the explorer refuses with the reason.
#[test]
fn a_keyed_database_is_explored_with_its_key_from_a_file_or_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("db");
    let key = [0x5au8; 32];
    let rt = rt();
    {
        let config = aedb::config::AedbConfig::default().with_hmac_key(key.to_vec());
        let db = AedbInstance::open(config, &data).unwrap();
        rt.block_on(async {
            db.create_project("keyed").await.unwrap();
            db.shutdown().await.unwrap();
        });
    }
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let key_file = tmp.path().join("key.hex");
    std::fs::write(&key_file, format!("{hex}\n")).unwrap();
    let dir = data.display().to_string();
    let run = |extra: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aedb-explorer"));
        cmd.args(["projects", "--data-dir", &dir]).args(extra);
        match env {
            Some(v) => cmd.env("AEDB_KEY_HEX", v),
            None => cmd.env_remove("AEDB_KEY_HEX"),
        };
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&[], None);
    assert_eq!(code, 1, "a keyed database without its key");
    assert!(err.to_lowercase().contains("key"), "{err}");
    let (code, out, err) = run(&["--key-file", &key_file.display().to_string()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("keyed"), "{out}");
    let (code, out, err) = run(&[], Some(&hex));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("keyed"), "{out}");
    let (code, _, err) = run(&[], Some(&"77".repeat(32)));
    assert_eq!(code, 1, "another key");
    assert!(err.to_lowercase().contains("key"), "{err}");
    let (code, _, err) = run(&[], Some("not hex"));
    assert_eq!(code, 1);
    assert!(
        err.contains("AEDB_KEY_HEX") && err.contains("not hex"),
        "{err}"
    );
}
