//! The commands that open a database through the facade (`AedbInstance`):
//! backups, restores, the invariant check and dumps. Unlike the page and
//! WAL commands they take the directory's exclusive lock (the database must
//! not be open elsewhere) and run its recovery, as any open does.

use std::io::Write;
use std::path::{Path, PathBuf};

use aedb::AedbInstance;
use aedb::config::AedbConfig;

use crate::pages::Verdict;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The configuration the tool opens with: the key if given, and no bound on
/// one page of a scan (a dump reads everything).
pub fn config(key: Option<Vec<u8>>) -> AedbConfig {
    let config = AedbConfig {
        max_scan_rows: 1 << 30,
        ..AedbConfig::default()
    };
    match key {
        Some(k) => config.with_hmac_key(k),
        None => config,
    }
}

/// A spinner with `what` and the elapsed time, on stderr when it is a
/// terminal (nothing otherwise, so pipes and scripts see only the output).
pub fn spinner(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

pub fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub fn open(dir: &Path, key: Option<Vec<u8>>) -> Res<AedbInstance> {
    if !dir.join(aedb::pager::DATA_FILE_NAME).exists() {
        return Err(format!("{}: no database here (no data.aedb)", dir.display()).into());
    }
    Ok(AedbInstance::open(config(key), dir)?)
}

pub async fn backup(
    db: &AedbInstance,
    out: &Path,
    parent: Option<&Path>,
    w: &mut dyn Write,
) -> Res<Verdict> {
    let m = match parent {
        Some(p) => db.backup_incremental(out, p).await?,
        None => db.backup_full(out).await?,
    };
    writeln!(
        w,
        "{} backup {} in {}: checkpoint seq {}, head seq {}, {} files",
        m.backup_type,
        m.backup_id,
        out.display(),
        m.checkpoint_seq,
        m.wal_head_seq,
        m.file_sha256.len()
    )?;
    Ok(Verdict::Clean)
}

/// Checks a backup's manifest (and signature, with a key) and every file's
/// SHA-256: `Damaged` (exit 2) naming the first bad file.
pub fn verify(dir: &Path, key: Option<&[u8]>, w: &mut dyn Write) -> Res<Verdict> {
    let m = aedb::backup::load_backup_manifest(dir, key)?;
    match aedb::backup::verify_backup_files(dir, &m) {
        Ok(()) => {
            writeln!(
                w,
                "backup {} ({}): {} files verified, head seq {}",
                m.backup_id,
                m.backup_type,
                m.file_sha256.len(),
                m.wal_head_seq
            )?;
            Ok(Verdict::Clean)
        }
        Err(e) => {
            writeln!(w, "{e}")?;
            Ok(Verdict::Damaged)
        }
    }
}

pub fn restore(
    chain: &[PathBuf],
    data_dir: &Path,
    key: Option<Vec<u8>>,
    seq: Option<u64>,
    w: &mut dyn Write,
) -> Res<Verdict> {
    let restored = AedbInstance::restore_from_backup_chain(chain, data_dir, &config(key), seq)?;
    writeln!(
        w,
        "restored {} backups into {} at seq {restored}",
        chain.len(),
        data_dir.display()
    )?;
    Ok(Verdict::Clean)
}

pub async fn check(db: &AedbInstance, w: &mut dyn Write) -> Res<Verdict> {
    let r = db.check_invariants().await?;
    writeln!(
        w,
        "seq {}: {} trees, {} tables, {} rows, {} index entries, {} pages reachable, {} free",
        r.seq, r.trees, r.tables, r.rows, r.index_entries, r.pages_reachable, r.pages_free
    )?;
    for p in &r.problems {
        writeln!(w, "problem: {p}")?;
    }
    if r.is_ok() {
        writeln!(w, "invariants hold")?;
        Ok(Verdict::Clean)
    } else {
        Ok(Verdict::Damaged)
    }
}
