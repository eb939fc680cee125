//! Continuous archiving under real kills (issue #17): a child process commits
//! numbered writes while it archives to a local object store every 20 ms, and
//! is SIGKILLed at random moments (`AEDB_ARCHIVE_KILLS`, default 8). After
//! each kill, a restore from the archive alone holds a consistent prefix of the
//! writes that reaches at least the last backup the child saw shipped.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use aedb::AedbInstance;
use aedb::backup::ObjectStoreBackupAdapter;
use aedb::commit::validation::Mutation;
use aedb::pager::sim::test_seed;
use aedb::query::plan::ConsistencyMode;

const P: &str = "p";
const S: &str = "app";
const KEYS: u64 = 50;
const CHILD_DB: &str = "AEDB_ARCHIVE_CHILD_DB";
const CHILD_ARCHIVE: &str = "AEDB_ARCHIVE_CHILD_ARCHIVE";

fn adapter(dir: &std::path::Path) -> Arc<ObjectStoreBackupAdapter> {
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir).expect("store");
    Arc::new(ObjectStoreBackupAdapter::new(Arc::new(store)))
}

async fn count(db: &AedbInstance) -> u64 {
    db.kv_get_no_auth(P, S, b"n", ConsistencyMode::AtLatest)
        .await
        .expect("read n")
        .map_or(0, |e| u64::from_be_bytes(e.value.try_into().expect("u64")))
}

/// Write i sets key i % KEYS to i, and the count to i + 1, in one commit.
fn write(i: u64) -> Vec<Mutation> {
    let set = |key: Vec<u8>, value: Vec<u8>| Mutation::KvSet {
        project_id: P.into(),
        scope_id: S.into(),
        key,
        value,
    };
    vec![
        set(
            format!("k{}", i % KEYS).into_bytes(),
            i.to_be_bytes().to_vec(),
        ),
        set(b"n".to_vec(), (i + 1).to_be_bytes().to_vec()),
    ]
}

#[test]
#[ignore = "helper: runs only as the child of the archive kill test"]
fn archive_kill_child() {
    let (Ok(db_dir), Ok(archive)) = (std::env::var(CHILD_DB), std::env::var(CHILD_ARCHIVE)) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let db = AedbInstance::open(Default::default(), &db_dir).expect("open");
        if !db.project_exists(P).await.expect("exists") {
            db.create_project(P).await.expect("project");
        }
        let first = db
            .start_continuous_archiving(adapter(archive.as_ref()), "db", 20)
            .await
            .expect("archiving");
        // The first (full) backup is stored when the call returns.
        println!("SHIPPED {}", first.wal_head_seq);
        let watcher = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut seen = first.wal_head_seq;
                loop {
                    let s = db.continuous_archiving_status();
                    if s.last_shipped_seq > seen {
                        seen = s.last_shipped_seq;
                        println!("SHIPPED {seen}");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            })
        };
        let mut i = count(&db).await;
        loop {
            db.commit_many_atomic(write(i)).await.expect("commit");
            i += 1;
            println!("ACK {i}");
            if watcher.is_finished() {
                panic!("the watcher stopped");
            }
        }
    });
}

#[test]
fn a_killed_archiver_leaves_a_restorable_prefix() {
    let seed = test_seed("archive kills", 0xa2c);
    let kills: u64 = std::env::var("AEDB_ARCHIVE_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (db_dir, archive) = (tmp.path().join("db"), tmp.path().join("archive"));
    std::fs::create_dir_all(&archive).expect("archive dir");
    let exe = std::env::current_exe().expect("exe");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut shipped_ever = 0u64;
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "archive_kill_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &db_dir)
            .env(CHILD_ARCHIVE, &archive)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let want = rng.usize(20..150);
        let (mut acks, mut shipped) = (0, 0u64);
        let mut lines = BufReader::new(stdout).lines();
        while acks < want {
            match lines.next() {
                // The harness prints "test … " before the child's first line.
                Some(Ok(l)) if l.contains("ACK ") => acks += 1,
                Some(Ok(l)) if l.contains("SHIPPED ") => {
                    let at = l.find("SHIPPED ").unwrap_or(0) + 8;
                    shipped = shipped.max(l[at..].trim().parse().expect("seq"));
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        child.kill().expect("kill");
        child.wait().expect("wait");
        shipped_ever = shipped_ever.max(shipped);
        // The archive alone.
        let to = tmp.path().join(format!("restored-{kill}"));
        let seq =
            AedbInstance::restore_from_remote(&*adapter(&archive), "db", &to, &Default::default())
                .unwrap_or_else(|e| panic!("seed {seed}, kill {kill}: {e}"));
        assert!(
            seq >= shipped,
            "seed {seed}, kill {kill}: restored seq {seq}, but seq {shipped} was shipped"
        );
        rt.block_on(async {
            let r = AedbInstance::open(Default::default(), &to).expect("open restored");
            let n = count(&r).await;
            for k in 0..KEYS.min(n) {
                // The last write i < n with i % KEYS == k.
                let last = (0..n).rev().find(|i| i % KEYS == k).expect("a write");
                let got = r
                    .kv_get_no_auth(P, S, format!("k{k}").as_bytes(), ConsistencyMode::AtLatest)
                    .await
                    .expect("read")
                    .map(|e| u64::from_be_bytes(e.value.try_into().expect("u64")));
                assert_eq!(got, Some(last), "seed {seed}, kill {kill}: k{k} after {n} writes");
            }
            println!("kill {kill} after {acks} acks: shipped seq {shipped}, restored seq {seq} with {n} writes");
        });
    }
    assert!(shipped_ever > 0, "seed {seed}: nothing was ever shipped");
    println!(
        "{kills} kills: every restore a consistent prefix reaching the shipped seq (seed {seed})"
    );
}
