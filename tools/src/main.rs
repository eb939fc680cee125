//! `aedb`: the operator's tool. Every command opens the database read-only and
//! never writes.
#![forbid(unsafe_code)]

mod pages;
mod tree;
mod wal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        #[arg(long, value_name = "HEX")]
        key_hex: Option<String>,
    },
    /// Print every segment and frame with its tree-level effects.
    Dump {
        dir: PathBuf,
        #[arg(long, value_name = "HEX")]
        key_hex: Option<String>,
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
        /// HMAC key of a keyed database, as hex.
        #[arg(long, value_name = "HEX")]
        key_hex: Option<String>,
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
        /// HMAC key of a keyed database, as hex.
        #[arg(long, value_name = "HEX")]
        key_hex: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pages(PagesCommand::Dump { dir, key_hex, entries }) => pages::dump(&dir, key_hex.as_deref(), entries, &mut std::io::stdout().lock()),
        Command::Wal(WalCommand::Verify { dir, key_hex }) => wal::verify(&dir, key_hex.as_deref(), &mut std::io::stdout().lock()),
        Command::Wal(WalCommand::Dump { dir, key_hex }) => wal::dump(&dir, key_hex.as_deref(), &mut std::io::stdout().lock()),
        Command::Pages(PagesCommand::Tree { dir, root, key_hex }) => tree::print(&dir, root, key_hex.as_deref(), &mut std::io::stdout().lock()),
    };
    match result {
        Ok(pages::Verdict::Clean) => ExitCode::SUCCESS,
        Ok(pages::Verdict::Damaged) => ExitCode::from(2),
        Err(e) => {
            eprintln!("aedb: {e}");
            ExitCode::FAILURE
        }
    }
}
