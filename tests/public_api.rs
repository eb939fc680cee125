//! The public surface is on purpose (issue #19, ARCHITECTURE.md "Public surface").
//!
//! Goal: the only public module paths of `aedb` are those the seed README names
//! (`aedb::catalog`, `aedb::catalog::schema`, `aedb::catalog::types`,
//! `aedb::commit`, `aedb::commit::validation`, `aedb::config`, `aedb::error`,
//! `aedb::query`, `aedb::query::plan`), the engine door `aedb::storage` with the
//! crates below it (`aedb::btree`, `aedb::pager`), and `#[doc(hidden)]` harness
//! doors for tests and fuzz targets. Pass criterion: the modules that
//! `src/lib.rs` and the files it reaches declare `pub mod` (or re-export as
//! `pub use <crate> as <name>`), followed only through public modules, are
//! exactly `PUBLIC` below, with the same doc-hidden marks. A failure names the
//! path that was added or lost: make a new module `pub(crate)`, or add it here
//! on purpose (and to ARCHITECTURE.md).
//!
//! `storage` is not descended into: the engine's own surface is its door's
//! business (it may become its own crate, re-exported under the same name).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Every public module path, `(path, doc_hidden)`.
const PUBLIC: &[(&str, bool)] = &[
    // Backups and restores (issue #17; 0.1.9's `aedb::backup`).
    ("backup", false),
    ("btree", false),
    ("catalog", false),
    ("catalog::schema", false),
    ("catalog::types", false),
    // The README's durability paths (issue #17): re-exports with docs.
    ("checkpoint", false),
    ("commit", false),
    ("commit::action", false),
    ("commit::tx", false),
    ("commit::validation", false),
    ("config", false),
    // Declared schemas and migration builders (issue #18; 0.1.9's `aedb::declarative`).
    ("declarative", false),
    // Effect batches, keyed state, processor pull/commit/context (issue #15).
    ("engine_interface", false),
    ("error", false),
    // The commit change feed's types (issue #13; beyond 0.1.9).
    ("feed", false),
    // Versioned migrations and their history (issue #18; 0.1.9's `aedb::migration`).
    ("migration", false),
    ("pager", false),
    // `CallerContext` and `Permission` (0.1.9's `aedb::permission`, issue #12).
    ("permission", false),
    ("query", false),
    ("query::plan", false),
    ("recovery", false),
    // Typed repository and pagination helpers (issue #18; 0.1.9's `aedb::repository`).
    ("repository", false),
    ("storage", false),
    // The `table_decode` fuzz harness (fuzz/fuzz_targets, tests/fuzz_replay.rs).
    ("table", true),
    ("table::fuzzing", true),
];

/// The paths the seed README names that exist in this release.
const README_PATHS: &[&str] = &[
    "backup",
    "catalog",
    "catalog::schema",
    "catalog::types",
    "checkpoint",
    "commit",
    "commit::validation",
    "config",
    "declarative",
    "engine_interface",
    "error",
    "query",
    "query::plan",
    "recovery",
    "repository",
];

/// The file of module `name` declared in `file`.
fn module_file(file: &Path, name: &str) -> PathBuf {
    let dir = match file.file_name().and_then(|f| f.to_str()) {
        Some("lib.rs" | "mod.rs") => file.parent().expect("parent").to_path_buf(),
        _ => file.with_extension(""),
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// `(name, doc_hidden, inline)` of every `pub mod` / `pub use <x> as <name>;` at
/// the top level of a module's source.
fn public_modules(text: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut hidden = false;
    let mut depth = 0i32;
    for line in text.lines() {
        let t = line.trim();
        if depth == 0 {
            if t.starts_with("#[doc(hidden)]") {
                hidden = true;
                continue;
            }
            let decl = t.strip_prefix("pub mod ").map(|r| (r, false)).or_else(|| {
                // `pub use aedb_btree as btree;`: a whole crate re-exported as a module.
                let r = t.strip_prefix("pub use ")?;
                let (src, name) = r.strip_suffix(';')?.split_once(" as ")?;
                (!src.contains("::")).then_some((name, false))
            });
            if let Some((rest, _)) = decl {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push((name, hidden, rest.contains('{')));
            }
            if !t.starts_with("#[") {
                hidden = false;
            }
        }
        let code = t.split("//").next().unwrap_or("");
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
    }
    out
}

fn walk(file: &Path, prefix: &str, out: &mut BTreeSet<(String, bool)>) {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for (name, hidden, inline) in public_modules(&text) {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}::{name}")
        };
        out.insert((path.clone(), hidden));
        let sub = module_file(file, &name);
        if !inline && path != "storage" && sub.exists() {
            walk(&sub, &path, out);
        }
    }
}

#[test]
fn public_modules_are_exactly_the_listed_ones() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let mut found = BTreeSet::new();
    walk(&lib, "", &mut found);
    let expected: BTreeSet<(String, bool)> =
        PUBLIC.iter().map(|(p, h)| (p.to_string(), *h)).collect();
    let added: Vec<_> = found.difference(&expected).collect();
    let lost: Vec<_> = expected.difference(&found).collect();
    assert!(
        added.is_empty() && lost.is_empty(),
        "public modules changed (path, doc_hidden):\n  public but not listed: {added:?}\n  listed but not public: {lost:?}\n\
         make the module pub(crate), or list it in tests/public_api.rs on purpose"
    );
}

#[test]
fn every_readme_path_is_public_and_documented() {
    for path in README_PATHS {
        assert!(
            PUBLIC.contains(&(path, false)),
            "the README names aedb::{path}; it must stay public"
        );
    }
}

#[test]
fn the_parser_reads_declarations() {
    let src = "#[doc(hidden)]\npub mod a;\npub(crate) mod b;\nmod c;\npub mod d {\n    pub mod e;\n}\npub use x_y as z;\npub use m::N;\n";
    let got = public_modules(src);
    assert_eq!(
        got,
        vec![
            ("a".to_string(), true, false),
            ("d".to_string(), false, true),
            ("z".to_string(), false, false)
        ]
    );
}

// The README's paths, used: this file does not compile if one is lost.
#[allow(unused_imports)]
use aedb::{
    AedbInstance,
    catalog::{
        DdlOperation,
        schema::ColumnDef,
        types::{ColumnType, Row, Value},
    },
    commit::validation::Mutation,
    config::AedbConfig,
    error::{AedbError, AedbErrorCode},
    query::plan::{ConsistencyMode, Expr, Query, QueryOptions},
};
