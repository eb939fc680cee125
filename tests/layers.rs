//! The facade's rooms import only downward (issue #19, ARCHITECTURE.md "Rooms").
//!
//! Goal: `src/` keeps the order of `ORDER` below (storage → vocab → error →
//! config → eval → … → commit → instance), with no import running up and no import
//! cycle between the files of one room. Pass criterion: every `crate::<room>`
//! reference (a `use` or an inline path, grouped `crate::{a, b}` imports too) in
//! `src/<room>.rs` or `src/<room>/**` names the same room or a lower one; a new
//! room must be given a place in `ORDER` before it compiles into a pass; and
//! within a room, the sibling files (not `mod.rs`) reference each other
//! without a cycle. A failure prints the file, line and the offending reference.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom to top. `storage`, `btree` and `pager` are the engine below the
/// facade; `vocab` is the facade's shared vocabulary, `error` and `config`
/// the leaves above it that every room may use.
const ORDER: &[&str] = &[
    "storage",
    "btree",
    "pager",
    "vocab",
    "error",
    "config",
    "backup",
    "checkpoint",
    "recovery",
    "metrics",
    "eval",
    "permission",
    "catalog",
    "auth",
    "table",
    "kv",
    "accumulator",
    "event",
    "feed",
    "query",
    "commit",
    "migration",
    "instance",
    "engine_interface",
    "repository",
    "declarative",
];

fn level(room: &str) -> Option<usize> {
    // The engine's crates are one level: none of them imports the facade.
    match room {
        "storage" | "btree" | "pager" => Some(0),
        _ => ORDER.iter().position(|r| *r == room),
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line without its `//` comment.
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// The rooms a line references through `crate::`, grouped imports included.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code(line);
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `aedb_crate::`, not `crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Sibling modules of `room` a line references (`crate::room::m` or `super::m`).
fn sibling_refs(line: &str, room: &str) -> Vec<String> {
    let line = code(line);
    let mut out = Vec::new();
    for prefix in [format!("crate::{room}::"), "super::".to_string()] {
        let mut rest = line;
        while let Some(i) = rest.find(&prefix) {
            rest = &rest[i + prefix.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // A lowercase name followed by `::` is a module; `crate::query::Limits` is
            // the room's door (mod.rs), not a sibling.
            let is_module = rest[name.len()..].starts_with("::") || rest.starts_with('{');
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_lowercase() || c == '_' || c.is_numeric())
                && is_module
            {
                out.push(name);
            }
        }
    }
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// (room, file) for every facade file: `src/<room>.rs` and `src/<room>/**`.
fn facade_files() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    rs_files(&src(), &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src()).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .to_string();
        let room = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if room == "lib" || room == "storage" {
            continue; // the root composes every room; the engine has its own rules
        }
        out.push((room, f));
    }
    out
}

#[test]
fn no_import_runs_up_the_rooms() {
    let mut bad = Vec::new();
    for (room, file) in facade_files() {
        let Some(own) = level(&room) else {
            bad.push(format!(
                "{}: room `{room}` has no place in ORDER (tests/layers.rs)",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(&file).expect("read");
        for (n, line) in text.lines().enumerate() {
            for target in crate_refs(line) {
                match level(&target) {
                    Some(l) if l <= own => {}
                    Some(_) => bad.push(format!(
                        "{}:{}: `{room}` imports `crate::{target}`, a higher room: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    )),
                    None => bad.push(format!(
                        "{}:{}: `crate::{target}` is not a room in ORDER: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    )),
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the room order:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_import_cycle_between_the_files_of_a_room() {
    // room -> (file module -> sibling modules it references)
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (room, file) in facade_files() {
        let stem = file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .to_string();
        let parent = file.parent().expect("parent");
        // Only the room's direct files: `src/<room>/<m>.rs` (not mod.rs, the door).
        if stem == "mod" || parent != src().join(&room) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("read");
        let refs: BTreeSet<String> = text
            .lines()
            .flat_map(|l| sibling_refs(l, &room))
            .filter(|m| *m != stem)
            .collect();
        graphs
            .entry(room)
            .or_default()
            .entry(stem)
            .or_default()
            .extend(refs);
    }
    let mut cycles = Vec::new();
    for (room, graph) in &graphs {
        // Depth-first search with colours: 1 = on the stack, 2 = done.
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            colour: &mut BTreeMap<String, u8>,
            path: &mut Vec<String>,
            out: &mut Vec<String>,
        ) {
            colour.insert(n.to_string(), 1);
            path.push(n.to_string());
            for m in g
                .get(n)
                .into_iter()
                .flatten()
                .filter(|m| g.contains_key(*m))
            {
                match colour.get(m.as_str()).copied().unwrap_or(0) {
                    1 => {
                        let from = path.iter().position(|p| p == m).unwrap_or(0);
                        out.push(format!("{} -> {m}", path[from..].join(" -> ")));
                    }
                    0 => visit(m, g, colour, path, out),
                    _ => {}
                }
            }
            path.pop();
            colour.insert(n.to_string(), 2);
        }
        let mut colour = BTreeMap::new();
        for n in graph.keys() {
            if colour.get(n).copied().unwrap_or(0) == 0 {
                let mut found = Vec::new();
                visit(n, graph, &mut colour, &mut Vec::new(), &mut found);
                cycles.extend(found.into_iter().map(|c| format!("src/{room}/: {c}")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between the files of a room:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_and_inline_references() {
    assert_eq!(
        crate_refs("use crate::{catalog::X, table::Y};"),
        ["catalog", "table"]
    );
    assert_eq!(
        crate_refs("let x = crate::query::run(); // crate::instance"),
        ["query"]
    );
    assert!(crate_refs("use aedb_crate::x;").is_empty());
    assert_eq!(
        sibling_refs("use crate::query::walk::visit_rows;", "query"),
        ["walk"]
    );
    assert!(sibling_refs("use crate::query::Limits;", "query").is_empty());
}
