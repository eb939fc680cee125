//! Backups and restores (issue #17): full and incremental backups taken while
//! commits go on restore, as a chain, to exactly the model's state at every
//! covered seq; damaged files, wrong keys, broken chains, uncovered seqs and
//! occupied targets are refused with `AedbError::Backup` naming them; and a
//! crash at every persistence call of a backup and of a restore on the
//! simulated file leaves either a refused backup / an unopenable target or a
//! correct one, never a wrong database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use aedb::catalog::DdlOperation;
use aedb::catalog::schema::ColumnDef;
use aedb::catalog::types::{ColumnType, Row, Value};
use aedb::commit::validation::Mutation;
use aedb::config::AedbConfig;
use aedb::error::AedbErrorCode;
use aedb::pager::sim::{FaultPlan, ImageMode, SimFs, test_seed};
use aedb::query::plan::Query;
use aedb::{AedbError, AedbInstance};

const P: &str = "p";
const S: &str = "app";

type State = BTreeMap<i64, i64>;
/// The table's state after each user commit, by seq.
type Model = Arc<Mutex<BTreeMap<u64, State>>>;

fn config() -> AedbConfig {
    AedbConfig {
        // Several segments, so chains span rotations.
        max_segment_bytes: 16 << 10,
        ..AedbConfig::default()
    }
}

/// Creates what is missing of the schema (a crash may have left part of it).
async fn setup(db: &AedbInstance) -> Result<(), AedbError> {
    if !db.project_exists(P).await? {
        db.create_project(P).await?;
    }
    if db.describe_table(P, S, "t").await.is_ok() {
        return Ok(());
    }
    let col = |name: &str| ColumnDef {
        name: name.into(),
        col_type: ColumnType::Integer,
        nullable: false,
    };
    db.commit(Mutation::Ddl(DdlOperation::CreateTable {
        project_id: P.into(),
        scope_id: S.into(),
        table_name: "t".into(),
        owner_id: None,
        columns: vec![col("id"), col("v")],
        primary_key: vec!["id".into()],
    }))
    .await?;
    Ok(())
}

/// One random upsert or delete, recorded in the model under its seq.
async fn step(db: &AedbInstance, rng: &mut fastrand::Rng, model: &Model) -> Result<(), AedbError> {
    let id = rng.i64(0..40);
    let m = if rng.u8(0..4) == 0 {
        Mutation::Delete {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "t".into(),
            primary_key: vec![Value::Integer(id)],
        }
    } else {
        let v = rng.i64(0..1_000_000);
        let payload = vec![Value::Integer(id), Value::Integer(v)];
        Mutation::Upsert {
            project_id: P.into(),
            scope_id: S.into(),
            table_name: "t".into(),
            primary_key: vec![Value::Integer(id)],
            row: Row::from_values(payload),
        }
    };
    // The model's lock is held across the commit: seqs and states agree.
    let mut model = model.lock().await;
    let mut state = model.values().next_back().cloned().unwrap_or_default();
    let r = db.commit(m.clone()).await?.commit_seq;
    match m {
        Mutation::Delete { .. } => {
            state.remove(&id);
        }
        Mutation::Upsert { row, .. } => {
            let Value::Integer(v) = row.values[1] else {
                unreachable!()
            };
            state.insert(id, v);
        }
        _ => unreachable!(),
    }
    model.insert(r, state);
    Ok(())
}

async fn state_of(db: &AedbInstance) -> State {
    let r = db
        .query(P, S, Query::select(&["*"]).from("t"))
        .await
        .unwrap();
    r.rows
        .iter()
        .map(|row| match (&row.values[0], &row.values[1]) {
            (Value::Integer(id), Value::Integer(v)) => (*id, *v),
            other => panic!("{other:?}"),
        })
        .collect()
}

async fn at(model: &Model, seq: u64) -> State {
    let m = model.lock().await;
    m.range(..=seq)
        .next_back()
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_restore_every_covered_seq_to_the_models_state() {
    let seed = test_seed("backup chain", 0xb4c);
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(), tmp.path().join("db")).unwrap();
    setup(&db).await.unwrap();
    let model: Model = Arc::default();
    let first_user_seq = db.storage().visible_seq() + 1;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut manifests = Vec::new();
    for round in 0..4 {
        for _ in 0..30 {
            step(&db, &mut rng, &model).await.unwrap();
        }
        if round % 2 == 1 {
            db.checkpoint_now().await.unwrap();
        }
        // Commits go on while the backup copies.
        let writer = {
            let (db, model) = (db.clone(), model.clone());
            let mut rng = fastrand::Rng::with_seed(seed ^ round);
            tokio::spawn(async move {
                for _ in 0..20 {
                    step(&db, &mut rng, &model).await.unwrap();
                }
            })
        };
        let dir = tmp.path().join(format!("backup{round}"));
        let manifest = match dirs.last() {
            None => db.backup_full(&dir).await.unwrap(),
            Some(parent) => db.backup_incremental(&dir, parent).await.unwrap(),
        };
        writer.await.unwrap();
        aedb::backup::verify_backup_files(&dir, &manifest).unwrap();
        println!(
            "backup {round}: {} checkpoint {} head {}, {} WAL segments",
            manifest.backup_type,
            manifest.checkpoint_seq,
            manifest.wal_head_seq,
            manifest.wal_segments.len()
        );
        dirs.push(dir);
        manifests.push(manifest);
    }
    let mut restores = 0;
    for k in 0..dirs.len() {
        let lo = manifests[0].checkpoint_seq.max(first_user_seq);
        let hi = manifests[k].wal_head_seq;
        let mut targets = vec![hi, lo];
        targets.extend((0..6).map(|_| rng.u64(lo..=hi)));
        for target in targets {
            let to = tmp.path().join(format!("restore-{k}-{target}-{restores}"));
            restores += 1;
            let got =
                AedbInstance::restore_from_backup_chain(&dirs[..=k], &to, &config(), Some(target))
                    .unwrap_or_else(|e| panic!("seed {seed}: chain of {} to {target}: {e}", k + 1));
            assert_eq!(got, target);
            let restored = AedbInstance::open(config(), &to).unwrap();
            assert_eq!(restored.storage().visible_seq(), target);
            assert_eq!(
                state_of(&restored).await,
                at(&model, target).await,
                "seed {seed}: chain of {} restored to {target}",
                k + 1
            );
            // The restored database takes commits.
            step(&restored, &mut rng, &Arc::default()).await.unwrap();
        }
    }
    println!("{restores} restores, each equal to the model at its seq (seed {seed})");
    // The default: the last head.
    let to = tmp.path().join("restore-last");
    let got = AedbInstance::restore_from_backup(&dirs[0], &to, &config()).unwrap();
    assert_eq!(got, manifests[0].wal_head_seq);
}

fn backup_err(e: AedbError, says: &str) {
    assert_eq!(e.code(), AedbErrorCode::Backup, "{e}");
    assert!(e.to_string().contains(says), "{e} (expected {says:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_keyless_broken_or_uncovered_restores_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    let keyed = config().with_hmac_key(key.to_vec());
    let db = AedbInstance::open(keyed.clone(), tmp.path().join("db")).unwrap();
    setup(&db).await.unwrap();
    let model: Model = Arc::default();
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..20 {
        step(&db, &mut rng, &model).await.unwrap();
    }
    let (full, inc1, inc2) = (
        tmp.path().join("full"),
        tmp.path().join("inc1"),
        tmp.path().join("inc2"),
    );
    let m0 = db.backup_full(&full).await.unwrap();
    for _ in 0..20 {
        step(&db, &mut rng, &model).await.unwrap();
    }
    db.backup_incremental(&inc1, &full).await.unwrap();
    for _ in 0..20 {
        step(&db, &mut rng, &model).await.unwrap();
    }
    let m2 = db.backup_incremental(&inc2, &inc1).await.unwrap();
    let restore = |dirs: &[&Path], cfg: &AedbConfig, target| {
        let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
        let to = tempfile::tempdir().unwrap().keep().join("r");
        AedbInstance::restore_from_backup_chain(&dirs, &to, cfg, target)
    };
    // The whole chain restores; a wrong key and no key on a signed one...
    restore(&[&full, &inc1, &inc2], &keyed, None).unwrap();
    // A directory holding anything else: refused, its files left alone.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"mine").unwrap();
    let e =
        AedbInstance::restore_from_backup_chain(std::slice::from_ref(&full), &other, &keyed, None)
            .unwrap_err();
    backup_err(e, "is not empty");
    assert_eq!(std::fs::read(other.join("notes.txt")).unwrap(), b"mine");
    let wrong = config().with_hmac_key(vec![8u8; 32]);
    backup_err(
        restore(&[&full], &wrong, None).unwrap_err(),
        "signature does not match",
    );
    // A chain missing its middle, or starting with an incremental.
    backup_err(
        restore(&[&full, &inc2], &keyed, None).unwrap_err(),
        "broken chain",
    );
    backup_err(
        restore(&[&inc1, &inc2], &keyed, None).unwrap_err(),
        "starts with a full backup",
    );
    // Seqs the chain does not cover.
    backup_err(
        restore(&[&full, &inc1, &inc2], &keyed, Some(m2.wal_head_seq + 1)).unwrap_err(),
        "outside the chain",
    );
    // A damaged WAL segment: named, nothing restored.
    let seg = m0.wal_segments.last().unwrap();
    let path = full.join(seg);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let to = tmp.path().join("never");
    let e = AedbInstance::restore_from_backup_chain(std::slice::from_ref(&full), &to, &keyed, None)
        .unwrap_err();
    backup_err(e, &format!("{seg} is damaged"));
    assert!(!to.join("data.aedb").exists(), "nothing restored");
    // A missing manifest: not a backup (a backup that never finished).
    std::fs::remove_file(inc1.join("manifest.json")).unwrap();
    backup_err(
        aedb::backup::load_backup_manifest(&inc1, Some(&key)).unwrap_err(),
        "no manifest.json",
    );
    // An occupied target.
    let e = AedbInstance::restore_from_backup_chain(
        std::slice::from_ref(&full),
        &tmp.path().join("db"),
        &keyed,
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::Backup, "{e}");
    // A backup never overwrites one.
    let e = db.backup_full(&inc2).await.unwrap_err();
    backup_err(e, "already holds a backup");
}

fn open_sim(fs: &SimFs, dir: &str) -> Result<AedbInstance, AedbError> {
    AedbInstance::open_with_vfs(config(), Arc::new(fs.clone()), Path::new(dir))
}

/// On the simulated file: commits, a full backup, more commits, an
/// incremental, then a restore of the chain.
async fn sim_workload(fs: &SimFs, model: &Model) -> Result<(), AedbError> {
    let db = open_sim(fs, "/db")?;
    setup(&db).await?;
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..6 {
        step(&db, &mut rng, model).await?;
    }
    db.backup_full(Path::new("/b0")).await?;
    for _ in 0..6 {
        step(&db, &mut rng, model).await?;
    }
    db.checkpoint_now().await?;
    db.backup_incremental(Path::new("/b1"), Path::new("/b0"))
        .await?;
    drop(db);
    let dirs = [PathBuf::from("/b0"), PathBuf::from("/b1")];
    AedbInstance::restore_from_backup_chain_with_vfs(
        Arc::new(fs.clone()),
        &dirs,
        Path::new("/r"),
        &config(),
        None,
    )?;
    Ok(())
}

#[test]
fn a_crash_in_a_backup_or_a_restore_never_yields_a_wrong_database() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = test_seed("backup crash matrix", 0xb4d);
    let clean = SimFs::new(seed);
    let model: Model = Arc::default();
    rt.block_on(sim_workload(&clean, &model))
        .expect("clean run");
    // Where the workload's setup and first commits end: crash points before
    // the first backup only exercise what the facade crash matrix covers.
    let calls = clean.calls();
    println!("backup crash matrix: {calls} crash points x 2 images");
    let (mut refused, mut restored) = (0, 0);
    for crash_at in 0..calls {
        let fs = SimFs::new(seed);
        fs.set_plan(FaultPlan {
            crash_at: Some(crash_at),
            ..FaultPlan::default()
        });
        let run: Model = Arc::default();
        let _ = rt.block_on(sim_workload(&fs, &run));
        for (i, mode) in [ImageMode::LoseAll, ImageMode::Random(seed ^ crash_at)]
            .into_iter()
            .enumerate()
        {
            let image = fs.crash_image(mode);
            let ctx = format!("seed {seed}, crash at call {crash_at}, image {i}");
            rt.block_on(async {
                // Each backup directory is refused or restores to its head's state.
                for (dirs, name) in [(vec!["/b0"], "/x0"), (vec!["/b0", "/b1"], "/x1")] {
                    let dirs: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
                    match AedbInstance::restore_from_backup_chain_with_vfs(
                        Arc::new(image.clone()),
                        &dirs,
                        Path::new(name),
                        &config(),
                        None,
                    ) {
                        Ok(seq) => {
                            let db = open_sim(&image, name)
                                .unwrap_or_else(|e| panic!("{ctx}: open {name}: {e}"));
                            assert_eq!(
                                state_of(&db).await,
                                at(&run, seq).await,
                                "{ctx}: {name} at {seq}"
                            );
                            restored += 1;
                        }
                        Err(e) => {
                            assert_eq!(e.code(), AedbErrorCode::Backup, "{ctx}: {e}");
                            refused += 1;
                        }
                    }
                }
                // The crashed restore's target: unopenable, or exactly the chain's head.
                match open_sim(&image, "/r") {
                    Err(e) if e.code() == AedbErrorCode::Backup => {}
                    Err(e) => panic!("{ctx}: /r: {e}"),
                    Ok(db) => {
                        let seq = db.storage().visible_seq();
                        if seq > 0 && db.describe_table(P, S, "t").await.is_ok() {
                            assert_eq!(state_of(&db).await, at(&run, seq).await, "{ctx}: /r");
                        }
                    }
                }
            });
        }
    }
    println!("{refused} refused, {restored} restored and equal to the model (seed {seed})");
    assert!(restored > 0 && refused > 0);
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_restores_at_a_wall_clock_time() {
    let tmp = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(), tmp.path().join("db")).unwrap();
    setup(&db).await.unwrap();
    let model: Model = Arc::default();
    let mut rng = fastrand::Rng::with_seed(9);
    let full = tmp.path().join("full");
    db.backup_full(&full).await.unwrap();
    // Instants between commits, each with the seq committed before it.
    let mut marks = Vec::new();
    for _ in 0..8 {
        for _ in 0..3 {
            step(&db, &mut rng, &model).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        marks.push((now_micros(), db.storage().visible_seq()));
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let inc = tmp.path().join("inc");
    db.backup_incremental(&inc, &full).await.unwrap();
    let chain = vec![full.clone(), inc];
    for (i, (when, seq)) in marks.iter().enumerate() {
        let to = tmp.path().join(format!("at{i}"));
        let got =
            AedbInstance::restore_from_backup_chain_at_time(&chain, &to, &config(), *when).unwrap();
        assert_eq!(got, *seq, "the last commit before mark {i}");
        let restored = AedbInstance::open(config(), &to).unwrap();
        assert_eq!(state_of(&restored).await, at(&model, *seq).await);
    }
    // Before the chain's first commit: refused, saying when that was.
    let e = AedbInstance::restore_from_backup_chain_at_time(
        &chain,
        &tmp.path().join("early"),
        &config(),
        1,
    )
    .unwrap_err();
    backup_err(e, "no restorable commit at or before 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_namespace_restores_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let db = AedbInstance::open(config(), tmp.path().join("db")).unwrap();
    setup(&db).await.unwrap();
    db.create_scope(P, "other").await.unwrap();
    db.create_project("q").await.unwrap();
    let model: Model = Arc::default();
    let mut rng = fastrand::Rng::with_seed(11);
    for _ in 0..10 {
        step(&db, &mut rng, &model).await.unwrap();
    }
    for (p, s) in [(P, S), (P, "other"), ("q", "app")] {
        db.kv_set(p, s, b"k".to_vec(), format!("{p}.{s}").into_bytes())
            .await
            .unwrap();
    }
    let full = tmp.path().join("full");
    let m = db.backup_full(&full).await.unwrap();
    let to = tmp.path().join("ns");
    let seq = AedbInstance::restore_namespace_from_backup_chain(
        std::slice::from_ref(&full),
        &to,
        &config(),
        P,
        S,
        None,
    )
    .unwrap();
    assert_eq!(seq, m.wal_head_seq);
    let r = AedbInstance::open(config(), &to).unwrap();
    let projects: Vec<String> = r
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    assert!(
        projects.contains(&P.to_string()) && !projects.contains(&"q".to_string()),
        "{projects:?}"
    );
    assert_eq!(r.list_scopes(P).await.unwrap(), vec![S.to_string()]);
    assert_eq!(state_of(&r).await, at(&model, seq).await);
    let v = r
        .kv_get_no_auth(P, S, b"k", aedb::ConsistencyMode::AtLatest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.value, format!("{P}.{S}").into_bytes());
    assert!(!tmp.path().join("ns.restoring-namespace").exists());
    // A scope the chain does not hold: NotFound, nothing left behind.
    let e = AedbInstance::restore_namespace_from_backup_chain(
        std::slice::from_ref(&full),
        &tmp.path().join("none"),
        &config(),
        P,
        "missing",
        None,
    )
    .unwrap_err();
    assert_eq!(e.code(), AedbErrorCode::ScopeNotFound, "{e}");
    assert!(
        !tmp.path().join("none").exists() && !tmp.path().join("none.restoring-namespace").exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_restore_and_refuse_damage_wrong_keys_and_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let key = [42u8; 32];
    let db_config = config().with_backup_encryption_key(key);
    let db = AedbInstance::open(db_config.clone(), tmp.path().join("db")).unwrap();
    setup(&db).await.unwrap();
    let model: Model = Arc::default();
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..30 {
        step(&db, &mut rng, &model).await.unwrap();
    }
    // Enough bytes for several 1 MiB chunks.
    for i in 0..24u8 {
        db.kv_set(P, S, vec![i], vec![i; 200_000]).await.unwrap();
    }
    let sealed = tmp.path().join("b.aedbbackup");
    let m = db.backup_full_to_file(&sealed).await.unwrap();
    let size = std::fs::metadata(&sealed).unwrap().len();
    assert!(size > 4 << 20, "{size} bytes");
    let to = tmp.path().join("r1");
    let seq = AedbInstance::restore_from_backup_file(&sealed, &to, &db_config).unwrap();
    assert_eq!(seq, m.wal_head_seq);
    let r = AedbInstance::open(config(), &to).unwrap();
    assert_eq!(state_of(&r).await, at(&model, seq).await);
    let big = r
        .kv_get_no_auth(P, S, &[23], aedb::ConsistencyMode::AtLatest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(big.value, vec![23u8; 200_000]);
    // No key, a wrong key: refused before anything is restored.
    let e = AedbInstance::restore_from_backup_file(&sealed, &tmp.path().join("r2"), &config())
        .unwrap_err();
    backup_err(e, "give its key");
    let wrong = config().with_backup_encryption_key([7u8; 32]);
    let e = AedbInstance::restore_from_backup_file(&sealed, &tmp.path().join("r3"), &wrong)
        .unwrap_err();
    backup_err(e, "does not open");
    assert!(!tmp.path().join("r3").join("data.aedb").exists());
    // A flipped byte in the middle, and an archive cut short.
    let bytes = std::fs::read(&sealed).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let f = tmp.path().join("flipped");
    std::fs::write(&f, &flipped).unwrap();
    let e =
        AedbInstance::restore_from_backup_file(&f, &tmp.path().join("r4"), &db_config).unwrap_err();
    backup_err(e, "does not open");
    let c = tmp.path().join("cut");
    std::fs::write(&c, &bytes[..bytes.len() - 100]).unwrap();
    let e =
        AedbInstance::restore_from_backup_file(&c, &tmp.path().join("r5"), &db_config).unwrap_err();
    backup_err(e, "cut short");
    // Without a key the archive is plain; the manifest's hashes still guard it.
    let plain_db = AedbInstance::open(config(), tmp.path().join("db2")).unwrap();
    setup(&plain_db).await.unwrap();
    let plain = tmp.path().join("plain.aedbbackup");
    plain_db.backup_full_to_file(&plain).await.unwrap();
    AedbInstance::restore_from_backup_file(&plain, &tmp.path().join("r6"), &config()).unwrap();
    let e = AedbInstance::restore_from_backup_file(&plain, &tmp.path().join("r7"), &db_config)
        .unwrap_err();
    backup_err(e, "not encrypted");
}
