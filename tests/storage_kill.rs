//! RELIABILITY G11: real process kills. A child process commits durably on real
//! files and reports each acknowledgement through a pipe; the parent SIGKILLs it at
//! a random moment and reopens. No acknowledged commit may be missing, no seq may be
//! issued twice, and the recovery check passes.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use aedb::pager::sim::test_seed;
use aedb::storage::{Database, Finality, StorageOptions};

const CHILD_ENV: &str = "AEDB_TEST_KILL_CHILD_DIR";

fn options() -> StorageOptions {
    StorageOptions {
        wal_segment_bytes: 16 << 10,
        checkpoint_wal_bytes: 48 << 10,
        ..StorageOptions::default()
    }
}

/// The child: commit forever, one key per commit, print each durable ack.
#[test]
#[ignore = "helper: runs only as the child of the kill test"]
fn kill_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Database::open(&dir, options()).unwrap_or_else(|e| panic!("{e}"));
    loop {
        let mut txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        let seq = txn.seq();
        let value = vec![(seq % 251) as u8; (seq % 5000) as usize];
        txn.open_tree("acks")
            .unwrap_or_else(|e| panic!("{e}"))
            .insert(&seq.to_be_bytes(), &value)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = txn
            .commit(Finality::Durable)
            .unwrap_or_else(|e| panic!("{e}"));
        println!("ACK {}", r.seq);
    }
}

#[test]
fn sigkilled_writers_lose_no_acknowledged_commit() {
    let seed = test_seed("process kills", 0x4111);
    let kills: u64 = std::env::var("AEDB_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let mut acked = BTreeSet::new();
    let started = std::time::Instant::now();
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| unreachable!());
        let want = rng.usize(0..40);
        let mut lines = BufReader::new(stdout).lines();
        let mut got = 0;
        while got < want {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(seq) = line
                .strip_prefix("ACK ")
                .and_then(|s| s.trim().parse::<u64>().ok())
            {
                assert!(
                    acked.insert(seq),
                    "kill {kill}: seq {seq} acknowledged twice"
                );
                got += 1;
            }
        }
        child.kill().unwrap_or_else(|e| panic!("{e}")); // SIGKILL
        child.wait().unwrap_or_else(|e| panic!("{e}"));
        // Acks printed after we stopped reading still count as acknowledged.
        for line in lines.map_while(Result::ok) {
            if let Some(seq) = line
                .strip_prefix("ACK ")
                .and_then(|s| s.trim().parse::<u64>().ok())
            {
                assert!(
                    acked.insert(seq),
                    "kill {kill}: seq {seq} acknowledged twice"
                );
            }
        }
        let db = Database::open(tmp.path(), options())
            .unwrap_or_else(|e| panic!("kill {kill}: reopen failed: {e}"));
        let read = db.begin_read().unwrap_or_else(|e| panic!("{e}"));
        if let Some(&max) = acked.last() {
            assert!(
                db.visible_seq() >= max,
                "kill {kill}: acknowledged seq {max} lost (recovered {})",
                db.visible_seq()
            );
            let tree = read
                .open_tree("acks")
                .unwrap_or_else(|e| panic!("kill {kill}: {e}"));
            for &seq in &acked {
                let v = tree
                    .get(&seq.to_be_bytes())
                    .unwrap_or_else(|e| panic!("kill {kill}: {e}"));
                assert_eq!(
                    v.map(|v| v.len()),
                    Some((seq % 5000) as usize),
                    "kill {kill}: acknowledged commit {seq} missing or wrong"
                );
            }
        }
        drop(read);
        common::check_all(&db)
            .unwrap_or_else(|e| panic!("kill {kill}: recovery check failed: {e}"));
    }
    println!(
        "{kills} SIGKILLs, {} acknowledged commits all recovered, in {:.1?}",
        acked.len(),
        started.elapsed()
    );
}
