//! RELIABILITY G10: exclusive open. A second open of the directory, from this
//! process or a child process, gets `AlreadyOpen` at once and writes nothing; after
//! the holder is SIGKILLed, the next open succeeds.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aedb_pager::vfs::RealFs;
use aedb_pager::{MetaUpdate, PAGE_HEADER_LEN, PageKind, Pager, PagerError, PagerOptions};

const HOLDER_ENV: &str = "AEDB_TEST_LOCK_HOLDER_DIR";

/// The tests of this file run one at a time: while one spawns a child, the forked
/// child briefly shares every descriptor of this process (until its exec closes
/// them), including another test's LOCK descriptor, which keeps that flock alive.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every file of the directory with its length and bytes, to prove nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| {
            let path = e.unwrap_or_else(|e| panic!("{e}")).path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            (path.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    out
}

fn second_open_is_refused(dir: &Path) -> Duration {
    let before = snapshot(dir);
    let started = Instant::now();
    let result = Pager::open(&RealFs, dir, PagerOptions::default());
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(PagerError::AlreadyOpen { .. })),
        "second open: {:?}",
        result.map(|_| ())
    );
    let ro = Pager::open(
        &RealFs,
        dir,
        PagerOptions {
            read_only: true,
            ..PagerOptions::default()
        },
    );
    assert!(
        matches!(ro, Err(PagerError::AlreadyOpen { .. })),
        "read-only open beside a writer must be refused"
    );
    assert_eq!(snapshot(dir), before, "a refused open wrote something");
    // Never a blocking wait: the figure the goal names is 100 ms; a lock wait would be
    // unbounded, so this bound only catches blocking, not slowness.
    assert!(
        elapsed < Duration::from_secs(5),
        "open blocked for {elapsed:?}"
    );
    elapsed
}

fn commit_one_page(pager: &Pager, tag: u8) {
    let id = pager.allocate().unwrap_or_else(|e| panic!("{e}"));
    let mut buf = pager.page_buffer();
    buf[PAGE_HEADER_LEN..].fill(tag);
    pager
        .write_page(id, PageKind(9), 0, &mut buf)
        .unwrap_or_else(|e| panic!("{e}"));
    pager
        .commit(MetaUpdate {
            checkpoint_seq: u64::from(tag),
            root: Some(id),
            ..MetaUpdate::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn second_handle_in_the_same_process_gets_already_open() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    commit_one_page(&pager, 1);
    let elapsed = second_open_is_refused(tmp.path());
    println!("same-process second open refused in {elapsed:?}");
    drop(pager);
    let (_pager, report) =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.meta.checkpoint_seq, 1);
}

#[test]
fn read_only_opens_share_and_exclude_writers() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    drop(
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}")),
    );
    let ro = PagerOptions {
        read_only: true,
        ..PagerOptions::default()
    };
    let (a, _) = Pager::open(&RealFs, tmp.path(), ro.clone()).unwrap_or_else(|e| panic!("{e}"));
    let (b, _) = Pager::open(&RealFs, tmp.path(), ro).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()),
        Err(PagerError::AlreadyOpen { .. })
    ));
    assert!(matches!(a.allocate(), Err(PagerError::ReadOnly { .. })));
    drop((a, b));
    assert!(Pager::open(&RealFs, tmp.path(), PagerOptions::default()).is_ok());
}

/// Run by the child process only: holds the database open until killed.
#[test]
#[ignore = "helper: runs only as the child process of the cross-process lock test"]
fn lock_holder_child() {
    let Ok(dir) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let (pager, _) = Pager::open(&RealFs, Path::new(&dir), PagerOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    commit_one_page(&pager, 2);
    println!("LOCKED");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn second_open_from_a_child_process_gets_already_open_until_the_holder_is_killed() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "lock_holder_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| unreachable!());
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("LOCKED"));
    assert!(locked, "child never reported holding the lock");
    let elapsed = second_open_is_refused(tmp.path());
    println!("cross-process second open refused in {elapsed:?}");
    child.kill().unwrap_or_else(|e| panic!("{e}")); // SIGKILL
    child.wait().unwrap_or_else(|e| panic!("{e}"));
    let (pager, report) = Pager::open(&RealFs, tmp.path(), PagerOptions::default())
        .unwrap_or_else(|e| panic!("open after kill: {e}"));
    assert_eq!(
        report.meta.checkpoint_seq, 2,
        "the child's durable commit survives its death"
    );
    commit_one_page(&pager, 3);
}

/// F6: a directory without LOCK (a restored backup, say) used to be opened read-only
/// with no lock at all, so a writer could start beside the mapped reader. Now the
/// read-only open creates LOCK and holds it shared: the writer is refused.
#[test]
fn f6_read_only_open_without_lock_file_takes_a_lock() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pager, _) =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    commit_one_page(&pager, 1);
    drop(pager);
    std::fs::remove_file(tmp.path().join(aedb_pager::LOCK_FILE_NAME))
        .unwrap_or_else(|e| panic!("{e}"));
    let ro = PagerOptions {
        read_only: true,
        ..PagerOptions::default()
    };
    let (reader, _) = Pager::open(&RealFs, tmp.path(), ro).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        tmp.path().join(aedb_pager::LOCK_FILE_NAME).exists(),
        "the read-only open made no LOCK"
    );
    let writer = Pager::open(&RealFs, tmp.path(), PagerOptions::default());
    assert!(
        matches!(writer, Err(PagerError::AlreadyOpen { .. })),
        "writer beside an unlocked reader: {:?}",
        writer.map(|_| ())
    );
    drop(reader);

    // The inspector (the CLI's `pages dump` and `wal verify`) follows the same rule.
    std::fs::remove_file(tmp.path().join(aedb_pager::LOCK_FILE_NAME))
        .unwrap_or_else(|e| panic!("{e}"));
    let ins = aedb_pager::inspect::open_inspector(&RealFs, tmp.path(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let writer = Pager::open(&RealFs, tmp.path(), PagerOptions::default());
    assert!(
        matches!(writer, Err(PagerError::AlreadyOpen { .. })),
        "writer beside an unlocked inspector: {:?}",
        writer.map(|_| ())
    );
    drop(ins);
    assert!(Pager::open(&RealFs, tmp.path(), PagerOptions::default()).is_ok());
}

/// F7: deleting LOCK while a writer holds it used to let a second writer create a
/// new LOCK inode and lock it: two writers on one file. The data file is locked too,
/// so the second writer is refused.
#[test]
fn f7_replaced_lock_file_is_detected() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (first, _) =
        Pager::open(&RealFs, tmp.path(), PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    commit_one_page(&first, 1);
    std::fs::remove_file(tmp.path().join(aedb_pager::LOCK_FILE_NAME))
        .unwrap_or_else(|e| panic!("{e}"));
    let second = Pager::open(&RealFs, tmp.path(), PagerOptions::default());
    assert!(
        matches!(second, Err(PagerError::AlreadyOpen { .. })),
        "second writer after LOCK deletion: {:?}",
        second.map(|_| ())
    );
    let ro = Pager::open(
        &RealFs,
        tmp.path(),
        PagerOptions {
            read_only: true,
            ..PagerOptions::default()
        },
    );
    assert!(
        matches!(ro, Err(PagerError::AlreadyOpen { .. })),
        "reader beside a writer after LOCK deletion"
    );
    drop(first);
    assert!(Pager::open(&RealFs, tmp.path(), PagerOptions::default()).is_ok());
}

/// F7/F24: the data file and LOCK are created owner-only (0600), a directory the
/// open creates 0700: the data is plaintext, and whoever can read LOCK can hold it.
#[test]
fn f7_files_created_0600() {
    use std::os::unix::fs::PermissionsExt;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("new").join("db");
    let (pager, _) =
        Pager::open(&RealFs, &dir, PagerOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    commit_one_page(&pager, 1);
    drop(pager);
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&dir.join(aedb_pager::DATA_FILE_NAME)), 0o600);
    assert_eq!(mode(&dir.join(aedb_pager::LOCK_FILE_NAME)), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("new")), 0o700);

    // Configured otherwise, the modes are the caller's (still under the umask).
    let fs = aedb_pager::vfs::RealFsModes {
        file_mode: 0o640,
        dir_mode: 0o750,
    };
    let other = tmp.path().join("group");
    drop(Pager::open(&fs, &other, PagerOptions::default()).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(mode(&other.join(aedb_pager::DATA_FILE_NAME)) & 0o740, 0o640);
    assert_eq!(mode(&other) & 0o750, 0o750);
}
