//! `aedb-explorer`: look inside a database — projects, scopes, tables, a
//! table's schema and indexes, its rows, a scope's KV entries — printed as
//! aligned tables, all read from one snapshot.
//!
//! It opens the directory as the application would (exclusively: the
//! database must not be open in another process, which the open refuses
//! with `AlreadyOpen`; explore a restored backup of a live database) and
//! writes no data: only what any open's recovery and close write. A keyed
//! database's HMAC key comes from `--key-file` or `AEDB_KEY_HEX`, never the
//! command line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use aedb::AedbInstance;
use aedb::catalog::types::Value;
use aedb::config::AedbConfig;
use aedb::query::plan::{ConsistencyMode, Query, QueryOptions};
use clap::{Args, Parser, Subcommand};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(
    name = "aedb-explorer",
    version,
    about = "Look inside an aedb database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Db {
    /// The database directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// File holding a keyed database's HMAC key, as hex (surrounding whitespace
    /// ignored). Without it the key is read from the AEDB_KEY_HEX environment
    /// variable, if set.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

#[derive(Args)]
struct Scope {
    #[command(flatten)]
    db: Db,
    #[arg(long)]
    project: String,
    #[arg(long)]
    scope: String,
}

#[derive(Subcommand)]
enum Command {
    /// Every project, with its scope count.
    Projects(Db),
    /// The scopes of a project.
    Scopes {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        project: String,
    },
    /// The tables of a scope, with their columns and key.
    Tables(Scope),
    /// A table's columns, key, constraints and indexes.
    DescribeTable {
        #[command(flatten)]
        at: Scope,
        #[arg(long)]
        table: String,
    },
    /// The first rows of a table, in key order.
    ScanTable {
        #[command(flatten)]
        at: Scope,
        #[arg(long)]
        table: String,
        #[arg(long, default_value_t = 25)]
        limit: usize,
    },
    /// The first KV entries of a scope (keys and values shown as text when
    /// they are printable, else as hex).
    ScanKv {
        #[command(flatten)]
        at: Scope,
        #[arg(long, default_value = "")]
        prefix: String,
        #[arg(long, default_value_t = 25)]
        limit: u64,
    },
}

/// Prints `rows` under `header`, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.push(line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    out.extend(rows.iter().map(|r| line(r.clone())));
    let n = rows.len();
    out.push(format!("({n} row{})", if n == 1 { "" } else { "s" }));
    out.join("\n")
}

fn show(v: &Value) -> String {
    match v {
        Value::Text(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

fn open(db: &Db) -> Res<AedbInstance> {
    let dir = &db.data_dir;
    if !dir.join(aedb::pager::DATA_FILE_NAME).exists() {
        return Err(format!("{}: no database here (no data.aedb)", dir.display()).into());
    }
    let mut config = AedbConfig::default();
    if let Some(key) = aedb::config::hmac_key_from_file_or_env(db.key_file.as_deref())? {
        config = config.with_hmac_key(key);
    }
    Ok(AedbInstance::open(config, dir)?)
}

async fn run(command: Command) -> Res<String> {
    match command {
        Command::Projects(db) => {
            let db = open(&db)?;
            let mut rows: Vec<Vec<String>> = db
                .list_projects()
                .await?
                .into_iter()
                .map(|p| vec![p.project_id, p.scope_count.to_string()])
                .collect();
            rows.sort();
            Ok(table(&["project", "scopes"], &rows))
        }
        Command::Scopes { db, project } => {
            let db = open(&db)?;
            let mut rows: Vec<Vec<String>> = db
                .list_scopes(&project)
                .await?
                .into_iter()
                .map(|s| vec![s])
                .collect();
            rows.sort();
            Ok(table(&["scope"], &rows))
        }
        Command::Tables(at) => {
            let db = open(&at.db)?;
            let mut rows: Vec<Vec<String>> = db
                .list_tables(&at.project, &at.scope)
                .await?
                .into_iter()
                .map(|t| {
                    let cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
                    vec![t.table_name, cols.join(", "), t.primary_key.join(", ")]
                })
                .collect();
            rows.sort();
            Ok(table(&["table", "columns", "primary key"], &rows))
        }
        Command::DescribeTable { at, table: name } => {
            let db = open(&at.db)?;
            let t = db.describe_table(&at.project, &at.scope, &name).await?;
            let cols: Vec<Vec<String>> = t
                .columns
                .iter()
                .map(|c| {
                    let key = t.primary_key.contains(&c.name);
                    vec![
                        c.name.clone(),
                        c.col_type.to_string(),
                        if c.nullable { "null" } else { "not null" }.into(),
                        if key { "key" } else { "" }.into(),
                    ]
                })
                .collect();
            let indexes: Vec<Vec<String>> = db
                .list_indexes(&at.project, &at.scope, &name)
                .await?
                .into_iter()
                .map(|ix| {
                    let filter = ix
                        .partial_filter
                        .map(|f| format!("{f:?}"))
                        .unwrap_or_default();
                    vec![
                        ix.index_name,
                        ix.columns.join(", "),
                        format!("{:?}", ix.index_type),
                        filter,
                    ]
                })
                .collect();
            Ok(format!(
                "{}\n\n{}",
                table(&["column", "type", "nullable", ""], &cols),
                table(&["index", "columns", "type", "partial filter"], &indexes)
            ))
        }
        Command::ScanTable {
            at,
            table: name,
            limit,
        } => {
            let db = open(&at.db)?;
            let schema = db.describe_table(&at.project, &at.scope, &name).await?;
            let header: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            let options = QueryOptions {
                consistency: ConsistencyMode::AtLatest,
                ..QueryOptions::default()
            };
            let q = Query::select(&["*"]).from(&name).limit(limit);
            let r = db
                .query_with_options(&at.project, &at.scope, q, options)
                .await?;
            let rows: Vec<Vec<String>> = r
                .rows
                .iter()
                .map(|row| row.values.iter().map(show).collect())
                .collect();
            Ok(table(&header, &rows))
        }
        Command::ScanKv { at, prefix, limit } => {
            let db = open(&at.db)?;
            let entries = db
                .kv_scan_prefix_no_auth(
                    &at.project,
                    &at.scope,
                    prefix.as_bytes(),
                    limit,
                    ConsistencyMode::AtLatest,
                )
                .await?;
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|(k, e)| vec![bytes(k), bytes(&e.value), e.version.to_string()])
                .collect();
            Ok(table(&["key", "value", "version"], &rows))
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aedb-explorer: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("aedb-explorer: {e}");
            ExitCode::FAILURE
        }
    }
}
