//! `aedb`: the operator's tool. The `pages` and `wal` commands open the
//! database read-only, under a shared lock (`vfs::lock_dir`), and write nothing
//! but a missing LOCK file. `dump`, `check`, and `backup full|incremental` open
//! it through the facade (exclusively, with recovery, as any open; they write
//! no data); `backup restore` builds a new directory. A keyed database's key
//! comes from a file or the environment, never argv. Exit codes: 0 clean, 2
//! damage or a difference found, 1 an error.
#![forbid(unsafe_code)]

mod dump;
mod ops;
mod pages;
mod tree;
mod wal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use aedb_pager::Key;
use aedb_pager::vfs::RealFs;

/// Where the HMAC key of a keyed database comes from. Never argv: `ps` and shell
/// history show a process's arguments to other users (review F23).
#[derive(Args)]
struct KeyArgs {
    /// File holding the HMAC key of a keyed database, as hex (surrounding whitespace
    /// ignored). Without it the key is read from the AEDB_KEY_HEX environment
    /// variable, if set.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Removed: a key on the command line is visible to other users. Kept hidden
    /// only to explain the replacement.
    #[arg(long, value_name = "HEX", hide = true)]
    key_hex: Option<String>,
}

/// A key needs at least 16 bytes (`aedb_pager::MIN_KEY_LEN`).
fn to_key(bytes: Vec<u8>) -> Result<Key, String> {
    Key::new(bytes).map_err(|e| e.to_string())
}

impl KeyArgs {
    fn load(&self) -> Result<Option<Key>, String> {
        self.bytes()?.map(to_key).transpose()
    }

    /// The key's bytes, from the file or the environment.
    fn bytes(&self) -> Result<Option<Vec<u8>>, String> {
        if self.key_hex.is_some() {
            return Err(format!(
                "--key-hex was removed (the command line is visible in `ps` and shell \
                 history): put the hex key in a file and pass --key-file PATH, or set {}",
                aedb::config::HMAC_KEY_ENV
            ));
        }
        aedb::config::hmac_key_from_file_or_env(self.key_file.as_deref()).map_err(|e| e.to_string())
    }
}

#[derive(Parser)]
#[command(
    name = "aedb",
    version,
    about = "Inspect, check, dump, back up and restore aedb databases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Page-file commands.
    #[command(subcommand)]
    Pages(PagesCommand),
    /// Redo-log commands.
    #[command(subcommand)]
    Wal(WalCommand),
    /// Logical dumps: export a database, compare a dump with one.
    #[command(subcommand)]
    Dump(DumpCommand),
    /// Whole-database checks.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Online-consistent backups, their verification, and restores.
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand)]
enum DumpCommand {
    /// Write every project, scope, table (schema, indexes, rows) and KV entry,
    /// one JSON record a line, read from one snapshot.
    Export {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Compare a dump with a database: exit 2 naming the first record that
    /// differs.
    Parity {
        #[arg(long)]
        dump: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
enum CheckCommand {
    /// The tree checker and page accounting, the catalog against the trees,
    /// and every index against a rebuild from its rows. Exit 2 on a problem.
    Invariants {
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// A full backup of the database into a new directory.
    Full {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// A backup of what changed since the backup in --parent.
    Incremental {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        parent: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Check a backup's manifest and files (exit 2 naming a damaged file).
    Verify {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Restore a chain (--from the full backup, then each incremental) into a
    /// new data directory, at --seq or the last head.
    Restore {
        #[arg(long = "from", required = true)]
        from: Vec<PathBuf>,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        seq: Option<u64>,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
enum WalCommand {
    /// Check the hash chain from the older checkpoint to the head and print the head
    /// seq and chain hash (a commit receipt's hash can be compared with it). Exits 2
    /// when the chain is broken.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Print every segment and frame with its tree-level effects.
    Dump {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// The database directory: positional, or `--data-dir` as the other commands
/// take it.
#[derive(Args)]
struct DirArg {
    /// The database directory.
    #[arg(required_unless_present = "data_dir")]
    dir: Option<PathBuf>,
    /// The database directory (the same as the positional argument).
    #[arg(long, conflicts_with = "dir")]
    data_dir: Option<PathBuf>,
}

impl DirArg {
    fn path(self) -> PathBuf {
        self.dir.or(self.data_dir).unwrap_or_default()
    }
}

#[derive(Subcommand)]
enum PagesCommand {
    /// Print both meta pages (which is current and why) and every page header,
    /// flagging checksum failures. Exits 2 when damage was found.
    ///
    /// Takes the directory's LOCK in shared mode: it refuses (AlreadyOpen) while a
    /// read-write handle has the database open, and never reads a file mid-write.
    Dump {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        key: KeyArgs,
        /// Also list every entry of leaf and branch pages.
        #[arg(long)]
        entries: bool,
    },
    /// Print the shape of the B+tree rooted at a page (levels, pages, key ranges,
    /// counts) and run the tree checker on it. Exits 2 when the checker finds damage.
    Tree {
        /// The database directory.
        dir: PathBuf,
        /// The root page id.
        root: u64,
        #[command(flatten)]
        key: KeyArgs,
    },
}

fn run(command: Command) -> Result<pages::Verdict, Box<dyn std::error::Error>> {
    let out = &mut std::io::stdout().lock();
    match command {
        Command::Pages(PagesCommand::Dump { dir, key, entries }) => {
            pages::dump(&RealFs, &dir.path(), key.load()?.as_ref(), entries, out)
        }
        Command::Wal(WalCommand::Verify { dir, key }) => {
            wal::verify(&RealFs, &dir.path(), key.load()?.as_ref(), out)
        }
        Command::Wal(WalCommand::Dump { dir, key }) => {
            wal::dump(&RealFs, &dir.path(), key.load()?.as_ref(), out)
        }
        Command::Pages(PagesCommand::Tree { dir, root, key }) => {
            tree::print(&RealFs, &dir, root, key.load()?.as_ref(), out)
        }
        Command::Backup(BackupCommand::Verify { dir, key }) => {
            ops::verify(&dir, key.bytes()?.as_deref(), out)
        }
        Command::Backup(BackupCommand::Restore {
            from,
            data_dir,
            seq,
            key,
        }) => {
            let spinner = ops::spinner("restoring");
            let r = ops::restore(&from, &data_dir, key.bytes()?, seq, out);
            spinner.finish_and_clear();
            r
        }
        Command::Backup(BackupCommand::Full {
            data_dir,
            out: to,
            key,
        }) => with_db(&data_dir, &key, |db| async move {
            ops::backup(&db, &to, None, out).await
        }),
        Command::Backup(BackupCommand::Incremental {
            data_dir,
            parent,
            out: to,
            key,
        }) => with_db(&data_dir, &key, |db| async move {
            ops::backup(&db, &to, Some(&parent), out).await
        }),
        Command::Check(CheckCommand::Invariants { data_dir, key }) => with_db(
            &data_dir,
            &key,
            |db| async move { ops::check(&db, out).await },
        ),
        Command::Dump(DumpCommand::Export {
            data_dir,
            out: to,
            key,
        }) => with_db(&data_dir, &key, |db| async move {
            dump::export(&db, &to, out).await
        }),
        Command::Dump(DumpCommand::Parity {
            dump: from,
            data_dir,
            key,
        }) => with_db(&data_dir, &key, |db| async move {
            dump::parity(&db, &from, out).await
        }),
    }
}

/// Opens the database in `dir` and runs `f` on it in a runtime; the instance
/// is shut down (checkpointed) before returning.
fn with_db<F, Fut>(
    dir: &std::path::Path,
    key: &KeyArgs,
    f: F,
) -> Result<pages::Verdict, Box<dyn std::error::Error>>
where
    F: FnOnce(aedb::AedbInstance) -> Fut,
    Fut: std::future::Future<Output = Result<pages::Verdict, Box<dyn std::error::Error>>>,
{
    let rt = ops::runtime()?;
    let spinner = ops::spinner("opening");
    let db = ops::open(dir, key.bytes()?)?;
    spinner.set_message("working");
    let r = rt.block_on(async {
        let verdict = f(db.clone()).await?;
        db.shutdown().await?;
        Ok(verdict)
    });
    spinner.finish_and_clear();
    r
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli.command);
    match result {
        Ok(pages::Verdict::Clean) => ExitCode::SUCCESS,
        Ok(pages::Verdict::Damaged) => ExitCode::from(2),
        Err(e) => {
            eprintln!("aedb: {e}");
            ExitCode::FAILURE
        }
    }
}
