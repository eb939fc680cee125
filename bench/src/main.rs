//! `cargo run --release -p aedb-bench -- kv [--n N] [--quick] [--engines a,b,..]`
//!
//! The parent measures the machine's fdatasync floor, then runs each engine in
//! its own child process (`child <engine> <n> <dir>`, one after another) so one
//! engine's memory, page cache state and threads cannot skew another's, and
//! so VmHWM is per engine. Children print `ROW <name> <value>` and
//! `NOTE <row> <text>` lines; the parent turns them into a markdown table.

mod engines;
mod seed;
mod workload;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use workload::Res;

const DEFAULT_N: usize = 1_000_000;
const QUICK_N: usize = 100_000;

/// (row name, label, unit); the order of the table.
const ROWS: [(&str, &str, &str); 15] = [
    ("load_ms", "(1) bulk load, N keys in 1 txn", "ms"),
    ("commit1_ms", "(2) 1,000 durable commits of 1 key", "ms"),
    (
        "commit1000_ms",
        "(3) 100 durable commits of 1,000 keys",
        "ms",
    ),
    (
        "concurrent_commits_per_s",
        "(4) 64 threads x 50 durable 1-key commits",
        "commits/s",
    ),
    ("get1_ms", "(5) N random point reads, 1 thread", "ms"),
    ("get2_ms", "(6) N random point reads, 2 threads", "ms"),
    ("range_ms", "(7) 100,000 range reads of 10 entries", "ms"),
    ("remove_half_ms", "(8) remove N/2 keys in 1 txn", "ms"),
    ("size_loaded_mib", "(9) files after load", "MiB"),
    (
        "size_compacted_mib",
        "(10) files after removals + checkpoint/compaction",
        "MiB",
    ),
    ("vmhwm_mib", "(11) peak memory VmHWM", "MiB"),
    ("rssanon_mib", "(11) RssAnon at the end", "MiB"),
    ("open_ms", "(12) open after clean shutdown", "ms"),
    (
        "commit_p99_us",
        "(13) p99 of 1,000 serial durable 1-key commits",
        "us",
    ),
    (
        "commit_p99_ckpt_us",
        "(14) the same while checkpoints run back to back",
        "us",
    ),
];

#[derive(Default)]
struct EngineResult {
    rows: BTreeMap<String, String>,
    notes: Vec<(String, String)>,
}

fn usage() -> String {
    format!(
        "usage: aedb-bench kv [--n N] [--quick] [--engines {}] (also: aedb+sub)\n       aedb-bench seed [--n N[,N..]] [--engines {}]",
        engines::ENGINES.join(","),
        seed::ENGINES.join(",")
    )
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("child") => {
            let [_, engine, n, dir] = &args[..] else {
                return Err(usage().into());
            };
            engines::run(engine, n.parse()?, Path::new(dir))
        }
        Some("seed-child") => {
            let [_, engine, n, dir] = &args[..] else {
                return Err(usage().into());
            };
            seed::run(engine, n.parse()?, Path::new(dir))
        }
        Some("kv") => parent(&args[1..]),
        Some("seed") => seed_parent(&args[1..]),
        _ => Err(usage().into()),
    }
}

fn parent(args: &[String]) -> Res<()> {
    let mut n = DEFAULT_N;
    let mut selected: Vec<String> = engines::ENGINES.iter().map(|s| s.to_string()).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => n = QUICK_N,
            "--n" => n = it.next().ok_or_else(usage)?.parse()?,
            "--engines" => {
                selected = it
                    .next()
                    .ok_or_else(usage)?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            _ => return Err(usage().into()),
        }
    }
    for e in &selected {
        if !engines::ENGINES.contains(&e.as_str()) && !engines::EXTRA_ENGINES.contains(&e.as_str())
        {
            return Err(format!("unknown engine {e:?}; {}", usage()).into());
        }
    }

    let (median, p99) = fdatasync_floor()?;
    eprintln!("fdatasync floor: median {median:.1} us, p99 {p99:.1} us");
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for e in &selected {
        eprintln!("running {e} (n = {n}) ...");
        // A fresh directory on the real disk (not a tmpfs /tmp), removed on drop.
        let dir = tempfile::tempdir_in(".")?;
        let started = Instant::now();
        let out = Command::new(&exe)
            .arg("child")
            .arg(e)
            .arg(n.to_string())
            .arg(dir.path())
            .stderr(Stdio::inherit())
            .output()?;
        let mut r = parse(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            r.notes.push((
                "all".into(),
                format!(
                    "{e}: child failed ({}); rows without a value did not run",
                    out.status
                ),
            ));
        }
        eprintln!("{e} done in {:.1} s", started.elapsed().as_secs_f64());
        results.push((e.clone(), r));
    }

    let report = render(n, &results, median, p99)?;
    print!("{report}");
    // Next to this crate's manifest, wherever the binary is run from.
    let results_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    fs::create_dir_all(&results_dir)?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let path = results_dir.join(format!("kv-{stamp}.md"));
    fs::File::create(&path)?.write_all(report.as_bytes())?;
    eprintln!("written to {}", path.display());
    Ok(())
}

/// Runs `child_cmd <engine> <n> <dir>` in a fresh directory on the real disk.
fn run_child(child_cmd: &str, engine: &str, n: usize) -> Res<EngineResult> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir_in(".")?;
    let started = Instant::now();
    let out = Command::new(&exe)
        .arg(child_cmd)
        .arg(engine)
        .arg(n.to_string())
        .arg(dir.path())
        .stderr(Stdio::inherit())
        .output()?;
    let mut r = parse(&String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        r.notes.push((
            "all".into(),
            format!(
                "{engine} (n = {n}): child failed ({}); rows without a value did not run",
                out.status
            ),
        ));
    }
    eprintln!(
        "{engine} (n = {n}) done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(r)
}

/// The seed suite: each engine at each size in its own child; one table with a
/// column per (engine, size) and ratios to aedb 0.1.9 at the same size.
fn seed_parent(args: &[String]) -> Res<()> {
    let mut sizes = vec![10_000usize, 1_000_000];
    let mut selected: Vec<String> = seed::ENGINES.iter().map(|s| s.to_string()).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--n" => {
                sizes = it
                    .next()
                    .ok_or_else(usage)?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--engines" => {
                selected = it
                    .next()
                    .ok_or_else(usage)?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            _ => return Err(usage().into()),
        }
    }
    let mut columns = Vec::new();
    for &n in &sizes {
        for e in &selected {
            eprintln!("seed suite: {e}, n = {n} ...");
            columns.push((e.clone(), n, run_child("seed-child", e, n)?));
        }
    }
    use std::fmt::Write as _;
    let mut s = String::new();
    writeln!(s, "# aedb seed-API benchmark\n")?;
    writeln!(
        s,
        "Table users(id Integer PK, name Text, age Integer), BTree index on age; every commit durable. Ratios are to aedb 0.1.9 at the same N (for rates, higher is better; for times, lower).\n"
    )?;
    write!(s, "| row | unit |")?;
    for (e, n, _) in &columns {
        write!(s, " {e} N={n} |")?;
    }
    write!(s, "\n|---|---|")?;
    for _ in &columns {
        write!(s, "---:|")?;
    }
    writeln!(s)?;
    for (name, label, unit) in seed::ROWS {
        write!(s, "| {label} | {unit} |")?;
        for (_, n, r) in &columns {
            let base = columns
                .iter()
                .find(|(e, m, _)| e == "aedb019" && m == n)
                .and_then(|(_, _, r)| r.rows.get(name))
                .and_then(|v| v.parse::<f64>().ok());
            let cell = match (r.rows.get(name).and_then(|v| v.parse::<f64>().ok()), base) {
                (None, _) => "n/a".to_string(),
                (Some(x), Some(b)) if b > 0.0 => format!("{} ({:.2}x)", fmt_num(x), x / b),
                (Some(x), _) => fmt_num(x),
            };
            write!(s, " {cell} |")?;
        }
        writeln!(s)?;
    }
    writeln!(s, "\nMachine: {}\n", machine())?;
    let notes: Vec<_> = columns
        .iter()
        .flat_map(|(_, _, r)| r.notes.iter())
        .collect();
    if !notes.is_empty() {
        writeln!(s, "Notes:\n")?;
        for (row, text) in notes {
            writeln!(s, "- `{row}`: {text}")?;
        }
    }
    print!("{s}");
    let results_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    fs::create_dir_all(&results_dir)?;
    let path = results_dir.join(format!(
        "seed-{}.md",
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs()
    ));
    fs::File::create(&path)?.write_all(s.as_bytes())?;
    eprintln!("written to {}", path.display());
    Ok(())
}

fn parse(stdout: &str) -> EngineResult {
    let mut r = EngineResult::default();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("ROW ") {
            if let Some((name, value)) = rest.split_once(' ') {
                r.rows.insert(name.to_string(), value.trim().to_string());
            }
        } else if let Some(rest) = line.strip_prefix("NOTE ") {
            if let Some((row, text)) = rest.split_once(' ') {
                r.notes.push((row.to_string(), text.to_string()));
            }
        }
    }
    r
}

/// 2,000 x (pwrite 4 KiB at offset 0 + fdatasync) on a preallocated file in
/// the current directory: the cheapest durable commit this disk allows.
fn fdatasync_floor() -> Res<(f64, f64)> {
    let dir = tempfile::tempdir_in(".")?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.path().join("floor"))?;
    let block = [0xa5u8; 4096];
    // Preallocate and sync once, so the loop overwrites allocated blocks and
    // fdatasync has no size/allocation metadata to write.
    file.write_all_at(&block, 0)?;
    file.sync_all()?;
    let mut us = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let t = Instant::now();
        file.write_all_at(&block, 0)?;
        file.sync_data()?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    Ok((us[us.len() / 2], us[us.len() * 99 / 100]))
}

fn machine() -> String {
    let cores = fs::read_to_string("/proc/cpuinfo")
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("processor"))
                .count()
                .to_string()
        })
        .unwrap_or_else(|_| "unknown".into());
    let model = fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!(
        "{cores} cores{}, Linux {kernel}, file system {}",
        model.map(|m| format!(" ({m})")).unwrap_or_default(),
        fs_type()
    )
}

/// Best effort: the type of the longest /proc/mounts mount point containing
/// the current directory.
fn fs_type() -> String {
    let (Ok(cwd), Ok(mounts)) = (
        std::env::current_dir().and_then(|d| d.canonicalize()),
        fs::read_to_string("/proc/mounts"),
    ) else {
        return "unknown".into();
    };
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            cwd.starts_with(point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

fn render(n: usize, results: &[(String, EngineResult)], median: f64, p99: f64) -> Res<String> {
    use std::fmt::Write as _;
    let mut s = String::new();
    writeln!(s, "# aedb KV benchmark\n")?;
    writeln!(
        s,
        "N = {n}; 24-byte random keys, 150-byte values, seed 42. Ratios are to redb (lower is better except commits/s).\n"
    )?;
    write!(s, "| row | unit |")?;
    for (e, _) in results {
        write!(s, " {e} |")?;
    }
    write!(s, "\n|---|---|")?;
    for _ in results {
        write!(s, "---:|")?;
    }
    writeln!(s)?;
    let redb = results.iter().find(|(e, _)| e == "redb").map(|(_, r)| r);
    for (name, label, unit) in ROWS {
        write!(s, "| {label} | {unit} |")?;
        let base = redb
            .and_then(|r| r.rows.get(name))
            .and_then(|v| v.parse::<f64>().ok());
        for (_, r) in results {
            let cell = match r.rows.get(name) {
                None => "-".to_string(),
                Some(v) => match (v.parse::<f64>(), base) {
                    (Ok(x), Some(b)) if b > 0.0 => format!("{} ({:.2}x)", fmt_num(x), x / b),
                    (Ok(x), _) => fmt_num(x),
                    (Err(_), _) => v.clone(),
                },
            };
            write!(s, " {cell} |")?;
        }
        writeln!(s)?;
    }
    writeln!(
        s,
        "\nfdatasync floor (2,000 x pwrite 4 KiB + fdatasync): median {median:.1} us, p99 {p99:.1} us\n"
    )?;
    writeln!(s, "Machine: {}\n", machine())?;
    let notes: Vec<_> = results.iter().flat_map(|(_, r)| r.notes.iter()).collect();
    if !notes.is_empty() {
        writeln!(s, "Notes:\n")?;
        for (row, text) in notes {
            writeln!(s, "- `{row}`: {text}")?;
        }
    }
    Ok(s)
}

fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
