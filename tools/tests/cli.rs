//! `aedb pages dump` end to end: a clean database, a damaged page, a damaged meta,
//! and a database held open by a writer.

use std::process::Command;

use aedb_pager::vfs::RealFs;
use aedb_pager::{MetaUpdate, PAGE_HEADER_LEN, PageKind, Pager, PagerOptions};

/// One test at a time: a child forked by one test briefly holds every descriptor of
/// this process, including another test's LOCK, until its exec closes them.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn aedb(args: &[&str]) -> (i32, String, String) {
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

fn make_db(dir: &std::path::Path) -> u64 {
    let (pager, _) =
        Pager::open(&RealFs, dir, PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut last = 0;
    for round in 0..3u8 {
        let id = pager.allocate().unwrap_or_else(|e| panic!("{e}"));
        let mut buf = pager.page_buffer();
        buf[PAGE_HEADER_LEN..].fill(round);
        pager
            .write_page(id, PageKind(9), 5, &mut buf)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(old) = pager.meta().root {
            pager
                .retire(aedb_pager::PageId(old), u64::from(round))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        pager
            .commit(MetaUpdate {
                checkpoint_seq: u64::from(round),
                root: Some(id),
                ..MetaUpdate::default()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        last = id.0;
    }
    last
}

#[test]
fn dump_shows_metas_and_pages_and_flags_damage() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path();
    let root = make_db(dir);
    let d = dir.to_str().unwrap_or_else(|| unreachable!());
    let (code, out, err) = aedb(&["pages", "dump", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("meta slot 0 (page 0): generation"), "{out}");
    assert!(out.contains("meta slot 1 (page 1): generation"), "{out}");
    assert!(out.contains("<- current"), "{out}");
    assert!(out.contains("free-list"), "{out}");
    assert!(out.contains(" 0 failed"), "{out}");

    // Damage the root page: flagged, exit code 2.
    let path = dir.join(aedb_pager::DATA_FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    bytes[root as usize * 4096 + 100] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = aedb(&["pages", "dump", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("FAILED rule P2"), "{out}");

    // Damage meta slot 0: reported, slot 1 current.
    bytes[200] ^= 1;
    std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = aedb(&["pages", "dump", d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("meta slot 0 (page 0): INVALID"), "{out}");
}

#[test]
fn dump_refuses_while_a_writer_holds_the_database() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    make_db(tmp.path());
    let _writer =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = aedb(&[
        "pages",
        "dump",
        tmp.path().to_str().unwrap_or_else(|| unreachable!()),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("already open"), "{err}");
}

#[test]
fn dump_of_a_missing_database_is_a_clear_error() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = aedb(&[
        "pages",
        "dump",
        tmp.path()
            .join("nope")
            .to_str()
            .unwrap_or_else(|| unreachable!()),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no database"), "{err}");
}

#[test]
fn tree_command_prints_the_shape_and_checks_it() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
        .map(|i| {
            (
                format!("user/{i:06}").into_bytes(),
                if i == 5 {
                    vec![1u8; 9000]
                } else {
                    vec![2u8; 30]
                },
            )
        })
        .collect();
    let root = aedb_btree::bulk_load(&pager, 42, aedb_btree::TreeConfig::default(), entries)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| unreachable!());
    pager
        .commit(MetaUpdate {
            root: Some(root.page),
            ..MetaUpdate::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    drop(pager);
    let d = tmp.path().to_str().unwrap_or_else(|| unreachable!());
    let (code, out, err) = aedb(&["pages", "tree", d, &root.page.0.to_string()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("owner (tree id) 42, 3000 entries"), "{out}");
    assert!(
        out.contains("branch ") && out.contains("leaf ") && out.contains("-- separator \"user/"),
        "{out}"
    );
    assert!(
        out.contains("3 overflow), depth 2, 3000 entries: ok"),
        "{out}"
    );

    let (code, out, _) = aedb(&["pages", "dump", d, "--entries"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("leaf: ") && out.contains("keys \"user/000000\""),
        "{out}"
    );
    assert!(out.contains("\"user/000005\" = overflow page"), "{out}");
    assert!(
        out.contains("overflow: 4056 value bytes, next page 3"),
        "{out}"
    );
}

#[test]
fn wal_verify_and_dump_show_the_chain_and_its_effects() {
    use aedb::storage::{Database, Finality, StorageOptions};
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = tmp
        .path()
        .to_str()
        .unwrap_or_else(|| unreachable!())
        .to_string();
    let mut receipt = None;
    {
        let db =
            Database::open(tmp.path(), StorageOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..4u8 {
            let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
            txn.open_tree("accounts")
                .unwrap_or_else(|e| panic!("{e}"))
                .insert(&[b'a', i], b"balance")
                .unwrap_or_else(|e| panic!("{e}"));
            receipt = Some(
                txn.commit(Finality::Durable)
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
    }
    let receipt = receipt.unwrap_or_else(|| unreachable!());
    let hash: String = receipt
        .chain_hash
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (code, out, err) = aedb(&["wal", "verify", &d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("head: seq {} chain hash {hash}", receipt.seq)),
        "{out}"
    );
    assert!(out.contains("chain: ok"), "{out}");
    let (code, out, _) = aedb(&["wal", "dump", &d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("create tree \"accounts\"")
            && out.contains("put \"accounts\" \"a\\x03\" = \"balance\""),
        "{out}"
    );

    // Damage the second frame of the segment holding the frames (the close-time
    // checkpoint started an empty one after it): verify reports a broken chain.
    let seg = std::fs::read_dir(tmp.path().join("wal"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.unwrap_or_else(|e| panic!("{e}")).path())
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .unwrap_or_else(|| unreachable!());
    let mut bytes = std::fs::read(&seg).unwrap_or_else(|e| panic!("{e}"));
    let first_len = 56 + u32::from_le_bytes([bytes[64], bytes[65], bytes[66], bytes[67]]) as usize;
    bytes[64 + first_len + 60] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = aedb(&["wal", "verify", &d]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("chain: BROKEN"), "{out}");
}

fn aedb_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aedb"));
    cmd.args(args).env_remove("AEDB_KEY_HEX");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// F23: the HMAC key comes from a file or the environment, never argv (`ps` and shell
/// history show arguments); the old `--key-hex` explains its replacement. F24: the
/// WAL directory's segments are created owner-only like the data file.
#[test]
fn f23_key_comes_from_a_file_or_the_environment_not_argv() {
    use aedb::storage::{Database, Finality, StorageOptions};
    use std::os::unix::fs::PermissionsExt;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db_dir = tmp.path().join("db");
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    {
        let key = aedb::pager::Key::new(key.clone()).unwrap_or_else(|e| panic!("{e}"));
        let options = StorageOptions {
            key: Some(key),
            ..StorageOptions::default()
        };
        let db = Database::open(&db_dir, options).unwrap_or_else(|e| panic!("{e}"));
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        txn.open_tree("t")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(b"k", b"v")
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let d = db_dir.to_str().unwrap_or_else(|| unreachable!());
    let key_file = tmp.path().join("key.hex");
    std::fs::write(&key_file, format!("{hex}\n")).unwrap_or_else(|e| panic!("{e}"));
    let kf = key_file.to_str().unwrap_or_else(|| unreachable!());

    let (code, out, err) = aedb_env(&["wal", "verify", d, "--key-file", kf], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("chain: ok"), "{out}");
    let (code, out, err) = aedb_env(&["pages", "dump", d], &[("AEDB_KEY_HEX", &hex)]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = aedb_env(&["wal", "dump", d, "--key-hex", &hex], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--key-hex was removed") && err.contains("--key-file"),
        "{err}"
    );
    let (code, help, _) = aedb_env(&["pages", "dump", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(
        help.contains("--key-file") && !help.contains("key-hex"),
        "{help}"
    );
    // Without the key a keyed database is refused, with a clear error.
    let (code, _, err) = aedb_env(&["wal", "verify", d], &[]);
    assert_eq!(code, 1, "{err}");

    let mode =
        |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode() & 0o777);
    assert_eq!(mode(&db_dir), 0o700);
    assert_eq!(mode(&db_dir.join("wal")), 0o700);
    let segments = std::fs::read_dir(db_dir.join("wal")).unwrap_or_else(|e| panic!("{e}"));
    for seg in segments {
        let seg = seg.unwrap_or_else(|e| panic!("{e}")).path();
        assert_eq!(mode(&seg), 0o600, "{}", seg.display());
    }
}
