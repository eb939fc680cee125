//! The commands that open a database through the facade: the seed README's
//! `dump export`, `dump parity` and `check invariants` lines, run with the
//! README's own arguments (only the two /tmp paths moved into a temporary
//! directory) on a database holding the Quick Start's data; parity failing
//! after one row changes, naming it; and backup full / verify / restore.

use std::path::{Path, PathBuf};
use std::process::Command;

use aedb::AedbInstance;
use aedb::catalog::DdlOperation;
use aedb::catalog::schema::ColumnDef;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;

fn aedb(args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aedb"))
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

fn user(id: i64, name: &str) -> Mutation {
    Mutation::Upsert {
        project_id: "demo".into(),
        scope_id: "app".into(),
        table_name: "users".into(),
        primary_key: vec![Value::Integer(id)],
        row: Row::from_values(vec![Value::Integer(id), Value::Text(name.into())]),
    }
}

/// The Quick Start's database (project, scope, `users`, alice), plus a row
/// and a KV entry.
fn quickstart_db(dir: &Path) {
    rt().block_on(async {
        let db = AedbInstance::open(Default::default(), dir).unwrap();
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
        db.commit(user(1, "alice")).await.unwrap();
        db.commit(user(2, "bob")).await.unwrap();
        db.commit(Mutation::KvSet {
            project_id: "demo".into(),
            scope_id: "app".into(),
            key: b"greeting".to_vec(),
            value: b"hello".to_vec(),
        })
        .await
        .unwrap();
        db.shutdown().await.unwrap();
    });
}

/// The README's `cargo run --bin aedb -- …` lines, as argument vectors with
/// its /tmp paths replaced.
fn readme_lines(data: &Path, dump: &Path) -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/seed-README.md"),
    )
    .unwrap();
    let lines: Vec<Vec<String>> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("cargo run --bin aedb -- "))
        .map(|rest| {
            rest.split_whitespace()
                .map(|a| match a {
                    "/tmp/aedb-data" => data.display().to_string(),
                    "/tmp/aedb-dump.aedbdump" => dump.display().to_string(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert_eq!(lines.len(), 3, "the README's three CLI lines");
    lines
}

#[test]
fn the_readmes_dump_parity_and_check_lines_run_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, dump) = (
        tmp.path().join("aedb-data"),
        tmp.path().join("aedb-dump.aedbdump"),
    );
    quickstart_db(&data);
    let lines = readme_lines(&data, &dump);
    for args in &lines {
        let (code, out, err) = aedb(args);
        assert_eq!(code, 0, "aedb {args:?}: {out}{err}");
        println!("aedb {}: {}", args[..2].join(" "), out.trim());
    }
    let (_, out, _) = aedb(&lines[1]);
    assert!(out.contains("records equal"), "{out}");
    let (_, out, _) = aedb(&lines[2]);
    assert!(out.contains("invariants hold"), "{out}");
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        text.contains("\"alice\"") && text.contains("\"users\""),
        "{text}"
    );
    assert!(
        text.contains(
            &"greeting"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    );

    // One row changed: parity fails (exit 2) naming that row.
    rt().block_on(async {
        let db = AedbInstance::open(Default::default(), &data).unwrap();
        db.commit(user(2, "bobby")).await.unwrap();
        db.shutdown().await.unwrap();
    });
    let (code, out, err) = aedb(&lines[1]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("differs at record") && out.contains("bob") && out.contains("bobby"),
        "{out}"
    );
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn backup_verify_and_restore_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    quickstart_db(&data);
    let (full, inc, restored) = (
        tmp.path().join("full"),
        tmp.path().join("inc"),
        tmp.path().join("restored"),
    );
    let run = |args: &[&str]| aedb(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    let (code, out, err) = run(&[
        "backup",
        "full",
        "--data-dir",
        &s(&data),
        "--out",
        &s(&full),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("full backup"), "{out}");
    rt().block_on(async {
        let db = AedbInstance::open(Default::default(), &data).unwrap();
        db.commit(user(3, "carol")).await.unwrap();
        db.shutdown().await.unwrap();
    });
    let (code, out, err) = run(&[
        "backup",
        "incremental",
        "--data-dir",
        &s(&data),
        "--parent",
        &s(&full),
        "--out",
        &s(&inc),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&["backup", "verify", "--dir", &s(&inc)]);
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = run(&[
        "backup",
        "restore",
        "--from",
        &s(&full),
        "--from",
        &s(&inc),
        "--data-dir",
        &s(&restored),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // The restored database equals the source, record for record.
    let dump = tmp.path().join("source.aedbdump");
    let (code, out, err) = run(&[
        "dump",
        "export",
        "--data-dir",
        &s(&data),
        "--out",
        &s(&dump),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&[
        "dump",
        "parity",
        "--dump",
        &s(&dump),
        "--data-dir",
        &s(&restored),
    ]);
    assert_eq!(code, 0, "restored vs source: {out}{err}");
    // A damaged backup file: verify exits 2 naming it.
    let seg: PathBuf = std::fs::read_dir(full.join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&seg, bytes).unwrap();
    let (code, out, _) = run(&["backup", "verify", "--dir", &s(&full)]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is damaged"), "{out}");
    // The page and WAL commands take --data-dir as the others do.
    let (code, out, err) = run(&["wal", "verify", "--data-dir", &s(&data)]);
    assert_eq!(code, 0, "{out}{err}");
    // A missing database is a clear error, not a new empty one.
    let (code, _, err) = run(&[
        "check",
        "invariants",
        "--data-dir",
        &s(&tmp.path().join("none")),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no database here"), "{err}");
}
