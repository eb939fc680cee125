//! `aedb`: the operator's tool. Every command opens the database read-only, under
//! a shared lock (`vfs::lock_dir`), and writes nothing but a missing LOCK file. A
//! keyed database's key comes from a file or the environment, never argv.
#![forbid(unsafe_code)]

mod pages;
mod tree;
mod wal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use aedb_pager::Key;
use aedb_pager::vfs::RealFs;

/// The environment variable a keyed database's HMAC key can come from, as hex.
const KEY_ENV: &str = "AEDB_KEY_HEX";

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
        if self.key_hex.is_some() {
            return Err(format!(
                "--key-hex was removed (the command line is visible in `ps` and shell \
                 history): put the hex key in a file and pass --key-file PATH, or set {KEY_ENV}"
            ));
        }
        if let Some(path) = &self.key_file {
            let fail = |e: String| format!("--key-file {}: {e}", path.display());
            let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
            return pages::parse_hex(text.trim())
                .and_then(to_key)
                .map(Some)
                .map_err(fail);
        }
        match std::env::var(KEY_ENV) {
            Ok(hex) if !hex.trim().is_empty() => pages::parse_hex(hex.trim())
                .and_then(to_key)
                .map(Some)
                .map_err(|e| format!("{KEY_ENV}: {e}")),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{KEY_ENV}: not hex (not even UTF-8)"))
            }
        }
    }
}

#[derive(Parser)]
#[command(name = "aedb", version, about = "Inspect aedb databases (read-only)")]
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
}

#[derive(Subcommand)]
enum WalCommand {
    /// Check the hash chain from the older checkpoint to the head and print the head
    /// seq and chain hash (a commit receipt's hash can be compared with it). Exits 2
    /// when the chain is broken.
    Verify {
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Print every segment and frame with its tree-level effects.
    Dump {
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
}

#[derive(Subcommand)]
enum PagesCommand {
    /// Print both meta pages (which is current and why) and every page header,
    /// flagging checksum failures. Exits 2 when damage was found.
    ///
    /// Takes the directory's LOCK in shared mode: it refuses (AlreadyOpen) while a
    /// read-write handle has the database open, and never reads a file mid-write.
    Dump {
        /// The database directory.
        dir: PathBuf,
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
            pages::dump(&RealFs, &dir, key.load()?.as_ref(), entries, out)
        }
        Command::Wal(WalCommand::Verify { dir, key }) => {
            wal::verify(&RealFs, &dir, key.load()?.as_ref(), out)
        }
        Command::Wal(WalCommand::Dump { dir, key }) => {
            wal::dump(&RealFs, &dir, key.load()?.as_ref(), out)
        }
        Command::Pages(PagesCommand::Tree { dir, root, key }) => {
            tree::print(&RealFs, &dir, root, key.load()?.as_ref(), out)
        }
    }
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
