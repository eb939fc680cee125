//! Shared workload: deterministic keys, the driver that runs every row against
//! an [`Engine`], timing, and the file-size / memory probes. The child process
//! prints each result as `ROW <name> <value>` (and footnotes as
//! `NOTE <row> <text>`) for the parent to parse.

use std::error::Error;
use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::engines::Engine;

pub type Res<T> = Result<T, Box<dyn Error>>;

pub const KEY_LEN: usize = 24;
pub const VALUE_LEN: usize = 150;
pub type Key = [u8; KEY_LEN];

pub const SINGLE_COMMITS: usize = 1_000;
pub const BATCH_COMMITS: usize = 100;
pub const BATCH_KEYS: usize = 1_000;
pub const WRITER_THREADS: usize = 64;
pub const COMMITS_PER_WRITER: usize = 50;
pub const RANGE_READS: usize = 100_000;
pub const RANGE_LEN: usize = 10;
pub const LATENCY_COMMITS: usize = 1_000;

/// Every key and value the run uses, generated from fixed seeds so all engines
/// see exactly the same bytes in the same order.
pub struct Workload {
    /// The N keys of the bulk load.
    pub keys: Vec<Key>,
    /// Fresh keys for the commit rows (2), (3) and (4), disjoint from `keys`
    /// (24 random bytes: a collision has probability ~2^-150).
    pub extra: Vec<Key>,
    pub value: Vec<u8>,
    /// Indices into `keys` for the point reads and range starts.
    pub read_order: Vec<usize>,
    pub range_starts: Vec<usize>,
    /// Fresh keys for the latency rows (13) and (14), generated last so the
    /// other rows see the same bytes as before those rows existed.
    pub latency: Vec<Key>,
}

impl Workload {
    pub fn new(n: usize) -> Workload {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut gen_keys = |count: usize| {
            (0..count)
                .map(|_| {
                    let mut k = [0u8; KEY_LEN];
                    rng.fill(&mut k);
                    k
                })
                .collect::<Vec<Key>>()
        };
        let keys = gen_keys(n);
        let extra = gen_keys(
            SINGLE_COMMITS + BATCH_COMMITS * BATCH_KEYS + WRITER_THREADS * COMMITS_PER_WRITER,
        );
        let mut value = vec![0u8; VALUE_LEN];
        rng.fill(&mut value);
        let read_order = (0..n).map(|_| rng.usize(..n.max(1))).collect();
        let range_starts = (0..RANGE_READS).map(|_| rng.usize(..n.max(1))).collect();
        let latency = (0..2 * LATENCY_COMMITS)
            .map(|_| {
                let mut k = [0u8; KEY_LEN];
                rng.fill(&mut k);
                k
            })
            .collect();
        Workload {
            latency,
            keys,
            extra,
            value,
            read_order,
            range_starts,
        }
    }
}

pub fn row(name: &str, value: f64) {
    println!("ROW {name} {value:.3}");
}

pub fn note(row: &str, text: &str) {
    println!("NOTE {row} {text}");
}

/// Runs `f` and returns its wall time in milliseconds.
pub fn time_ms(f: impl FnOnce() -> Res<()>) -> Res<f64> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64() * 1e3)
}

/// Bytes of every file under `dir` (recursively), in MiB.
pub fn dir_size_mib(dir: &Path) -> Res<f64> {
    fn walk(dir: &Path) -> Res<u64> {
        let mut total = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            total += if meta.is_dir() {
                walk(&entry.path())?
            } else {
                meta.len()
            };
        }
        Ok(total)
    }
    Ok(walk(dir)? as f64 / (1024.0 * 1024.0))
}

/// A `kB` field of /proc/self/status (VmHWM, RssAnon), in MiB.
pub fn proc_status_mib(field: &str) -> Res<f64> {
    let status = fs::read_to_string("/proc/self/status")?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kb: f64 = rest.trim().trim_end_matches("kB").trim().parse()?;
            return Ok(kb / 1024.0);
        }
    }
    Err(format!("{field} not found in /proc/self/status").into())
}

/// Runs `f(i)` on `threads` scoped threads; a thread's error is carried back
/// as a string because engine errors need not be `Send`.
fn parallel(threads: usize, f: impl Fn(usize) -> Res<()> + Sync) -> Res<()> {
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let f = &f;
                s.spawn(move || f(i).map_err(|e| e.to_string()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("worker thread panicked".into()))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    Ok(())
}

/// The p99 of `keys.len()` serial durable 1-key commits, in microseconds.
fn commit_p99_us(engine: &dyn Engine, keys: &[Key], value: &[u8]) -> Res<f64> {
    let mut micros = Vec::with_capacity(keys.len());
    for k in keys {
        let started = Instant::now();
        engine.insert_txn(std::slice::from_ref(k), value)?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    Ok(micros[(micros.len() * 99 / 100).min(micros.len() - 1)])
}

/// Rows (13) and (14): what a checkpoint costs commits. 1,000 serial durable
/// 1-key commits alone, then 1,000 more while another thread runs checkpoints
/// back to back (engines without a checkpoint call print n/a for (14)).
fn commit_latency_rows(engine: &dyn Engine, w: &Workload) -> Res<()> {
    let (quiet, busy) = w.latency.split_at(LATENCY_COMMITS);
    row("commit_p99_us", commit_p99_us(engine, quiet, &w.value)?);
    if !engine.checkpoint()? {
        println!("ROW commit_p99_ckpt_us n/a");
        note(
            "commit_p99_ckpt_us",
            "n/a: the engine has no checkpoint to run beside commits",
        );
        return Ok(());
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let (p99, checkpoints) = std::thread::scope(|scope| {
        // Errors cross the thread as text (`Box<dyn Error>` is not `Send`).
        let checkpointer = scope.spawn(|| -> Result<u64, String> {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                engine.checkpoint().map_err(|e| e.to_string())?;
                n += 1;
            }
            Ok(n)
        });
        let p99 = commit_p99_us(engine, busy, &w.value);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let checkpoints = checkpointer
            .join()
            .map_err(|_| "the checkpoint thread panicked")?;
        Ok::<_, Box<dyn Error>>((p99?, checkpoints?))
    })?;
    row("commit_p99_ckpt_us", p99);
    note(
        "commit_p99_ckpt_us",
        &format!("{checkpoints} checkpoints ran during the 1,000 commits"),
    );
    Ok(())
}

/// The KV suite, row by row, in a fixed order so every engine sees the same
/// database state at each row.
pub fn drive(engine: &mut dyn Engine, w: &Workload, dir: &Path) -> Res<()> {
    let n = w.keys.len();
    let v = &w.value[..];

    row("load_ms", time_ms(|| engine.bulk_load(&w.keys, v))?);
    row("size_loaded_mib", dir_size_mib(dir)?);

    let (single, rest) = w.extra.split_at(SINGLE_COMMITS);
    let (batched, concurrent) = rest.split_at(BATCH_COMMITS * BATCH_KEYS);
    row(
        "commit1_ms",
        time_ms(|| {
            for k in single {
                engine.insert_txn(std::slice::from_ref(k), v)?;
            }
            Ok(())
        })?,
    );
    row(
        "commit1000_ms",
        time_ms(|| {
            for chunk in batched.chunks(BATCH_KEYS) {
                engine.insert_txn(chunk, v)?;
            }
            Ok(())
        })?,
    );

    engine.prepare_threads(WRITER_THREADS)?;
    let eng: &dyn Engine = &*engine;
    let ms = time_ms(|| {
        parallel(WRITER_THREADS, |t| {
            for k in &concurrent[t * COMMITS_PER_WRITER..(t + 1) * COMMITS_PER_WRITER] {
                eng.insert_concurrent(k, v)?;
            }
            Ok(())
        })
    })?;
    row(
        "concurrent_commits_per_s",
        (WRITER_THREADS * COMMITS_PER_WRITER) as f64 / (ms / 1e3),
    );

    commit_latency_rows(eng, w)?;

    let read_keys: Vec<Key> = w.read_order.iter().map(|&i| w.keys[i]).collect();
    let found = std::sync::atomic::AtomicUsize::new(0);
    let count = |f: usize| {
        found.fetch_add(f, std::sync::atomic::Ordering::Relaxed);
    };
    row(
        "get1_ms",
        time_ms(|| {
            count(eng.get_all(&read_keys)?);
            Ok(())
        })?,
    );
    let half = read_keys.len().div_ceil(2);
    row(
        "get2_ms",
        time_ms(|| {
            parallel(2, |t| {
                let part = if t == 0 {
                    &read_keys[..half]
                } else {
                    &read_keys[half..]
                };
                count(eng.get_all(part)?);
                Ok(())
            })
        })?,
    );
    // Every read key was loaded, so anything else means a broken engine adapter.
    if found.load(std::sync::atomic::Ordering::Relaxed) != 2 * n {
        return Err(format!("point reads found {} of {} keys", found.into_inner(), 2 * n).into());
    }

    let starts: Vec<Key> = w.range_starts.iter().map(|&i| w.keys[i]).collect();
    let mut entries = 0;
    row(
        "range_ms",
        time_ms(|| {
            entries = eng.range_all(&starts, RANGE_LEN)?;
            Ok(())
        })?,
    );
    if entries == 0 && n > 0 {
        return Err("range reads returned no entries".into());
    }

    let removed: Vec<Key> = w.keys.iter().step_by(2).copied().collect();
    row("remove_half_ms", time_ms(|| engine.remove_txn(&removed))?);
    if let Some(why) = engine.compact()? {
        note("size_compacted_mib", why);
    }
    row("size_compacted_mib", dir_size_mib(dir)?);

    engine.close()?;
    let opened = time_ms(|| engine.open());
    // Peak memory after the reopen attempt, so it covers every row above; printed
    // even when the reopen failed.
    row("vmhwm_mib", proc_status_mib("VmHWM")?);
    row("rssanon_mib", proc_status_mib("RssAnon")?);
    match opened {
        Ok(ms) => row("open_ms", ms),
        Err(e) => {
            println!("ROW open_ms n/a");
            note(
                "open_ms",
                &format!(
                    "n/a: the engine could not reopen its own database after the clean shutdown: {e}"
                ),
            );
            return Ok(());
        }
    }
    engine.close()
}
