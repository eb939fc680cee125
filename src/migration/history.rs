//! The migration history: `_system.app.schema_migrations`, one row per applied
//! migration, keyed by (project, scope, version). A real table in the page
//! file, created when an instance opens, written only here, in the commit of
//! the migration it records (or of its rollback, which deletes the row).

use std::ops::Bound;

use crate::auth::SYSTEM_PROJECT;
use crate::catalog::schema::ColumnDef;
use crate::catalog::{Catalog, DEFAULT_SCOPE_ID, DdlOperation, TableInfo};
use crate::commit::context::WriteCtx;
use crate::commit::mutation::Mutation;
use crate::commit::now_micros;
use crate::error::{AedbError, MigrationProblem};
use crate::query::source::Source;
use crate::table::write::{put_row, remove_row};
use crate::table::{KeyedRow, decode};
use crate::vocab::types::{ColumnType, Value};

use super::{Migration, MigrationRecord};

pub(crate) const MIGRATIONS_TABLE: &str = "schema_migrations";

/// The DDL that creates the history table (run by the system caller when an
/// instance opens and it is missing).
pub(crate) fn bootstrap() -> DdlOperation {
    let column = |name: &str, col_type, nullable| ColumnDef {
        name: name.into(),
        col_type,
        nullable,
    };
    DdlOperation::CreateTable {
        project_id: SYSTEM_PROJECT.into(),
        scope_id: DEFAULT_SCOPE_ID.into(),
        table_name: MIGRATIONS_TABLE.into(),
        owner_id: None,
        columns: vec![
            column("project_id", ColumnType::Text, false),
            column("scope_id", ColumnType::Text, false),
            column("version", ColumnType::U64, false),
            column("name", ColumnType::Text, false),
            column("checksum_hex", ColumnType::Text, false),
            column("applied_at_micros", ColumnType::Timestamp, false),
            column("applied_seq", ColumnType::U64, false),
        ],
        primary_key: vec!["project_id".into(), "scope_id".into(), "version".into()],
    }
}

/// The history table in `catalog` (its absence is damage: it is created at open).
pub(crate) fn table(catalog: &Catalog) -> Result<std::sync::Arc<TableInfo>, AedbError> {
    catalog
        .table(SYSTEM_PROJECT, DEFAULT_SCOPE_ID, MIGRATIONS_TABLE)
        .cloned()
        .map_err(|e| AedbError::IntegrityError {
            message: format!(
                "the migration history {SYSTEM_PROJECT}.{DEFAULT_SCOPE_ID}.{MIGRATIONS_TABLE} is missing: {e}"
            ),
        })
}

fn row_of(r: &MigrationRecord) -> Vec<Value> {
    vec![
        Value::Text(r.project_id.clone()),
        Value::Text(r.scope_id.clone()),
        Value::U64(r.version),
        Value::Text(r.name.clone()),
        Value::Text(r.checksum_hex.clone()),
        Value::Timestamp(r.applied_at_micros as i64),
        Value::U64(r.applied_seq),
    ]
}

fn record_of(row: Vec<Value>) -> Result<MigrationRecord, AedbError> {
    let bad = |row: &[Value]| AedbError::IntegrityError {
        message: format!("a row of {MIGRATIONS_TABLE} does not hold a migration record: {row:?}"),
    };
    match <[Value; 7]>::try_from(row) {
        Ok(
            [
                Value::Text(project_id),
                Value::Text(scope_id),
                Value::U64(version),
                Value::Text(name),
                Value::Text(checksum_hex),
                Value::Timestamp(at),
                Value::U64(applied_seq),
            ],
        ) => Ok(MigrationRecord {
            version,
            name,
            project_id,
            scope_id,
            applied_at_micros: at.max(0) as u64,
            applied_seq,
            checksum_hex,
        }),
        Ok(other) => Err(bad(&other)),
        Err(other) => Err(bad(&other)),
    }
}

/// The applied migrations of (project, scope) in `src`, oldest first, each
/// with its row's key.
fn stored<S: Source>(
    src: &mut S,
    t: &TableInfo,
    project: &str,
    scope: &str,
) -> Result<Vec<(Vec<u8>, MigrationRecord)>, AedbError> {
    let mut rows: Vec<KeyedRow> = Vec::new();
    src.scan(
        &t.rows_tree,
        Bound::Unbounded,
        Bound::Unbounded,
        false,
        &mut |k, v| {
            rows.push((k.to_vec(), decode(t, k, v)?));
            Ok(true)
        },
    )?;
    let mut out = Vec::new();
    for (key, row) in rows {
        let r = record_of(row)?;
        if r.project_id == project && r.scope_id == scope {
            out.push((key, r));
        }
    }
    out.sort_by_key(|(_, r)| r.version);
    Ok(out)
}

/// The applied migrations of (project, scope) in `src`, oldest first.
pub(crate) fn applied<S: Source>(
    src: &mut S,
    catalog: &Catalog,
    project: &str,
    scope: &str,
) -> Result<Vec<MigrationRecord>, AedbError> {
    let t = table(catalog)?;
    Ok(stored(src, &t, project, scope)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// Refuses `m` when a newer version of its scope is applied (`OutOfOrder`):
/// both directions act on the newest end of the history only.
fn refuse_if_older_than_applied(
    m: &Migration,
    history: &[(Vec<u8>, MigrationRecord)],
) -> Result<(), AedbError> {
    match history.last() {
        Some((_, newest)) if newest.version > m.version => {
            let applied = newest.version;
            Err(m.refused(MigrationProblem::OutOfOrder { applied }))
        }
        _ => Ok(()),
    }
}

/// Applies `mutations` in order, authorized for the call; the rows affected.
fn apply_all(ctx: &mut WriteCtx<'_, '_>, mutations: Vec<Mutation>) -> Result<u64, AedbError> {
    mutations
        .into_iter()
        .try_fold(0, |n, m| Ok(n + ctx.apply(m)?))
}

/// Applies `m` in `ctx`'s transaction and records it, after checking it
/// against the history the transaction sees (invariant 2). Returns the rows
/// its mutations affected.
pub(crate) fn apply_up(
    ctx: &mut WriteCtx<'_, '_>,
    m: Migration,
    checksum_hex: String,
) -> Result<u64, AedbError> {
    let t = table(ctx.cat.catalog())?;
    let history = stored(&mut *ctx.cat.txn, &t, &m.project_id, &m.scope_id)?;
    if let Some((_, r)) = history.iter().find(|(_, r)| r.version == m.version) {
        let problem = if r.checksum_hex == checksum_hex {
            MigrationProblem::AppliedMeanwhile
        } else {
            MigrationProblem::ChecksumChanged {
                stored: r.checksum_hex.clone(),
                given: checksum_hex,
            }
        };
        return Err(m.refused(problem));
    }
    refuse_if_older_than_applied(&m, &history)?;
    let affected = apply_all(ctx, m.mutations)?;
    let record = MigrationRecord {
        version: m.version,
        name: m.name,
        project_id: m.project_id,
        scope_id: m.scope_id,
        applied_at_micros: now_micros(),
        applied_seq: ctx.cat.txn.seq(),
        checksum_hex,
    };
    // Looked up again: the migration's own DDL may have changed the catalog.
    let t = table(ctx.cat.catalog())?;
    put_row(ctx.cat.txn, &t, &row_of(&record), None)?;
    Ok(affected)
}

/// Rolls back `m`, the newest applied migration of its scope, in `ctx`'s
/// transaction: its down mutations, and its history row deleted.
pub(crate) fn apply_down(
    ctx: &mut WriteCtx<'_, '_>,
    mut m: Migration,
    checksum_hex: String,
) -> Result<u64, AedbError> {
    let t = table(ctx.cat.catalog())?;
    let history = stored(&mut *ctx.cat.txn, &t, &m.project_id, &m.scope_id)?;
    let Some((key, record)) = history.iter().find(|(_, r)| r.version == m.version) else {
        return Err(m.refused(MigrationProblem::NotApplied));
    };
    if record.checksum_hex != checksum_hex {
        let problem = MigrationProblem::ChecksumChanged {
            stored: record.checksum_hex.clone(),
            given: checksum_hex,
        };
        return Err(m.refused(problem));
    }
    refuse_if_older_than_applied(&m, &history)?;
    let old = row_of(record);
    let key = key.clone();
    let Some(down) = m.down_mutations.take() else {
        return Err(m.refused(MigrationProblem::NoDownMutations));
    };
    let affected = apply_all(ctx, down)?;
    let t = table(ctx.cat.catalog())?;
    remove_row(ctx.cat.txn, &t, &key, &old)?;
    Ok(affected)
}
