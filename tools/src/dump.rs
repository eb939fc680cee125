//! `aedb dump export` and `aedb dump parity`: a logical dump of a database
//! (projects, scopes, table schemas and indexes, rows, KV entries; one JSON
//! record a line, in a fixed order: names, then keys) read from one
//! snapshot, and its comparison with a data directory, which names the first
//! record that differs.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use aedb::AedbInstance;
use aedb::query::plan::{ConsistencyMode, Query, QueryOptions};
use serde_json::{Value as Json, json};

use crate::pages::Verdict;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every record of the database's dump, in order, with the seq it was read at.
pub async fn records(db: &AedbInstance) -> Res<(u64, Vec<Json>)> {
    let seq = db.storage().visible_seq();
    let at = ConsistencyMode::AtSeq(seq);
    let mut out = Vec::new();
    let mut projects: Vec<String> = db
        .list_projects()
        .await?
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    projects.sort();
    for p in &projects {
        out.push(json!({ "project": p }));
        let mut scopes = db.list_scopes(p).await?;
        scopes.sort();
        for s in &scopes {
            out.push(json!({ "scope": [p, s] }));
            let mut tables = db.list_tables(p, s).await?;
            tables.sort_by(|a, b| a.table_name.cmp(&b.table_name));
            for t in &tables {
                let name = &t.table_name;
                let mut indexes = db.list_indexes(p, s, name).await?;
                indexes.sort_by(|a, b| a.index_name.cmp(&b.index_name));
                out.push(json!({ "table": [p, s, name], "schema": t, "indexes": indexes }));
                let mut cursor = None;
                loop {
                    let options = QueryOptions {
                        consistency: at,
                        cursor,
                        allow_full_scan: true,
                    };
                    let page = db
                        .query_with_options(p, s, Query::select(&["*"]).from(name), options)
                        .await?;
                    for row in &page.rows {
                        out.push(json!({ "row": [p, s, name], "values": row.values }));
                    }
                    match page.cursor {
                        Some(c) if !page.rows.is_empty() => cursor = Some(c),
                        _ => break,
                    }
                }
            }
            let entries = db.kv_scan_prefix_no_auth(p, s, b"", u64::MAX, at).await?;
            for (key, e) in entries {
                out.push(json!({
                    "kv": [p, s],
                    "key": hex(&key),
                    "value": hex(&e.value),
                    "version": e.version,
                    "created_at": e.created_at,
                }));
            }
        }
    }
    Ok((seq, out))
}

fn header(seq: u64, records: usize) -> Json {
    json!({ "dump": "aedb", "version": 1, "seq": seq, "records": records })
}

/// Writes the dump of `db` to `out`; returns the number of records.
pub async fn export(db: &AedbInstance, out: &Path, w: &mut dyn Write) -> Res<Verdict> {
    let (seq, recs) = records(db).await?;
    let mut f = BufWriter::new(File::create(out)?);
    writeln!(f, "{}", header(seq, recs.len()))?;
    for r in &recs {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    f.get_ref().sync_all()?;
    writeln!(
        w,
        "exported {} records at seq {seq} to {}",
        recs.len(),
        out.display()
    )?;
    Ok(Verdict::Clean)
}

/// Compares the dump in `dump` with `db`: `Damaged` (exit 2) naming the
/// first record that differs.
pub async fn parity(db: &AedbInstance, dump: &Path, w: &mut dyn Write) -> Res<Verdict> {
    let mut lines = BufReader::new(File::open(dump)?).lines();
    let head: Json = match lines.next() {
        Some(l) => serde_json::from_str(&l?)?,
        None => return Err(format!("{}: empty, not a dump", dump.display()).into()),
    };
    if head.get("dump").and_then(Json::as_str) != Some("aedb") {
        return Err(format!("{}: not an aedb dump (no header)", dump.display()).into());
    }
    let (seq, recs) = records(db).await?;
    let mut n = 0;
    for (i, line) in lines.enumerate() {
        let want: Json = serde_json::from_str(&line?)?;
        match recs.get(i) {
            Some(got) if *got == want => n += 1,
            Some(got) => {
                writeln!(
                    w,
                    "differs at record {}: the dump has {want}, the database has {got}",
                    i + 1
                )?;
                return Ok(Verdict::Damaged);
            }
            None => {
                writeln!(
                    w,
                    "differs at record {}: the dump has {want}, the database has nothing more",
                    i + 1
                )?;
                return Ok(Verdict::Damaged);
            }
        }
    }
    if let Some(extra) = recs.get(n) {
        writeln!(
            w,
            "differs at record {}: the dump ends, the database has {extra}",
            n + 1
        )?;
        return Ok(Verdict::Damaged);
    }
    writeln!(
        w,
        "parity: {n} records equal (dump at seq {}, database at seq {seq})",
        head["seq"]
    )?;
    Ok(Verdict::Clean)
}
