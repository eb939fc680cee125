//! The audit trails: `_system.app.authz_audit` (grants, revokes, ownership and
//! read-policy changes, denied calls) and `_system.app.assertion_audit` (failed
//! read assertions of envelopes). Real tables in the `_system` project, created
//! when an instance opens (`bootstrap`), written only by the engine (the auth
//! seam's invariant 2) and read with a grant like any table.
//!
//! Invariants:
//! 1. An audit row is written in the write transaction of what it records (a
//!    grant and its audit row commit together), or, for a denied call (which
//!    wrote nothing), in a commit of its own.
//! 2. Rows are keyed by (seq of the commit that wrote them, position in that
//!    commit), so they sort oldest first; retention deletes from the front, in
//!    the same transaction as the append, by count and by age.

use crate::auth::SYSTEM_PROJECT;
use crate::catalog::schema::ColumnDef;
use crate::catalog::{Catalog, DEFAULT_SCOPE_ID, DdlOperation};
use crate::commit::context::WriteCtx;
use crate::commit::ddl::now_micros;
use crate::error::AedbError;
use crate::table::write::{put_row, remove_row};
use crate::table::{KeyedRow, decode};
use crate::vocab::types::{ColumnType, Value};

pub(crate) const AUTHZ_AUDIT: &str = "authz_audit";
pub(crate) const ASSERTION_AUDIT: &str = "assertion_audit";
pub(crate) const DEAD_LETTERS: &str = "reactive_processor_dead_letters";

/// What an authorization audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthzEvent {
    Grant,
    Revoke,
    TransferOwnership,
    SetReadPolicy,
    ClearReadPolicy,
    Denied,
}

impl AuthzEvent {
    fn as_str(self) -> &'static str {
        match self {
            AuthzEvent::Grant => "grant",
            AuthzEvent::Revoke => "revoke",
            AuthzEvent::TransferOwnership => "transfer_ownership",
            AuthzEvent::SetReadPolicy => "set_read_policy",
            AuthzEvent::ClearReadPolicy => "clear_read_policy",
            AuthzEvent::Denied => "denied",
        }
    }
}

/// One row of `authz_audit`.
#[derive(Debug, Clone)]
pub(crate) struct AuthzRecord {
    /// Who acted (`None`: a plain call of an open-mode instance).
    pub caller_id: Option<String>,
    pub event: AuthzEvent,
    /// The public call.
    pub call: String,
    /// What it was about: a grantee, or `project.scope.table`.
    pub resource: String,
    /// The permission granted or revoked, the new owner, the policy, or why a
    /// call was denied.
    pub detail: String,
}

fn column(name: &str, col_type: ColumnType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        col_type,
        nullable,
    }
}

/// The DDL that creates the `_system` project and its audit tables (run by the
/// system caller when an instance opens and they are missing).
pub(crate) fn bootstrap() -> Vec<DdlOperation> {
    let head = || {
        vec![
            column("seq", ColumnType::Integer, false),
            column("n", ColumnType::Integer, false),
            column("at_micros", ColumnType::Timestamp, false),
            column("caller_id", ColumnType::Text, true),
        ]
    };
    let table = |name: &str, rest: Vec<ColumnDef>| DdlOperation::CreateTable {
        project_id: SYSTEM_PROJECT.into(),
        scope_id: DEFAULT_SCOPE_ID.into(),
        table_name: name.into(),
        owner_id: None,
        columns: head().into_iter().chain(rest).collect(),
        primary_key: vec!["seq".into(), "n".into()],
    };
    vec![
        DdlOperation::CreateProject {
            project_id: SYSTEM_PROJECT.into(),
            owner_id: None,
            if_not_exists: true,
        },
        table(
            AUTHZ_AUDIT,
            vec![
                column("event", ColumnType::Text, false),
                column("call", ColumnType::Text, false),
                column("resource", ColumnType::Text, false),
                column("detail", ColumnType::Text, false),
            ],
        ),
        table(
            DEAD_LETTERS,
            vec![
                column("processor", ColumnType::Text, false),
                column("commit_seq", ColumnType::Integer, false),
                column("topic", ColumnType::Text, false),
                column("event_key", ColumnType::Text, false),
                column("payload_json", ColumnType::Text, false),
                column("error", ColumnType::Text, false),
            ],
        ),
        table(
            ASSERTION_AUDIT,
            vec![
                column("call", ColumnType::Text, false),
                column("idempotency_key", ColumnType::Text, true),
                column("assertion_index", ColumnType::Integer, false),
                column("assertion", ColumnType::Text, false),
                column("actual", ColumnType::Text, false),
            ],
        ),
    ]
}

/// Whether the `_system` tables exist in the catalog `ctx` sees.
pub(crate) fn is_bootstrapped(catalog: &Catalog) -> bool {
    [AUTHZ_AUDIT, ASSERTION_AUDIT, DEAD_LETTERS]
        .iter()
        .all(|t| catalog.table(SYSTEM_PROJECT, DEFAULT_SCOPE_ID, t).is_ok())
}

impl WriteCtx<'_, '_> {
    /// Appends a row to `_system.app.<table>` (after the fixed head columns)
    /// and applies the retention bounds.
    pub(crate) fn append_audit(
        &mut self,
        table: &str,
        caller_id: Option<String>,
        rest: Vec<Value>,
    ) -> Result<(), AedbError> {
        let t = self
            .cat
            .catalog()
            .table(SYSTEM_PROJECT, DEFAULT_SCOPE_ID, table)
            .map_err(|e| AedbError::IntegrityError {
                message: format!(
                    "the audit table {SYSTEM_PROJECT}.{DEFAULT_SCOPE_ID}.{table} is missing: {e}"
                ),
            })?
            .clone();
        let seq = self.cat.txn.seq();
        let n = self.audit_rows;
        self.audit_rows += 1;
        let now = now_micros();
        let head = [
            Value::Integer(seq as i64),
            Value::Integer(n as i64),
            Value::Timestamp(now as i64),
            caller_id.map_or(Value::Null, Value::Text),
        ];
        let row: Vec<Value> = head.into_iter().chain(rest).collect();
        put_row(self.cat.txn, &t, &row, None)?;
        // Retention: oldest first, while over the row bound or older than the
        // age bound (never the row just written).
        let max_rows = self.limits.audit_max_rows.max(1) as u64;
        let cutoff = match self.limits.audit_max_age_secs {
            0 => None,
            s => Some(now.saturating_sub(s.saturating_mul(1_000_000)) as i64),
        };
        let mut count = self.cat.txn.open_tree(&t.rows_tree)?.len()?;
        while count > 1 {
            let oldest = self.cat.txn.open_tree(&t.rows_tree)?.read(
                |tree| -> Result<Option<KeyedRow>, AedbError> {
                    match tree.iter()?.next() {
                        Some(e) => {
                            let (k, v) = e?;
                            Ok(Some((k.to_vec(), decode(&t, &k, &v)?)))
                        }
                        None => Ok(None),
                    }
                },
            )??;
            let Some((key, old)) = oldest else { break };
            let expired = matches!((cutoff, &old[2]), (Some(c), Value::Timestamp(at)) if *at < c);
            if count <= max_rows && !expired {
                break;
            }
            remove_row(self.cat.txn, &t, &key, &old)?;
            count -= 1;
        }
        Ok(())
    }

    /// Appends an `authz_audit` row.
    pub(crate) fn audit_authz(&mut self, r: AuthzRecord) -> Result<(), AedbError> {
        let row = vec![
            Value::Text(r.event.as_str().into()),
            Value::Text(r.call),
            Value::Text(r.resource),
            Value::Text(r.detail),
        ];
        self.append_audit(AUTHZ_AUDIT, r.caller_id, row)
    }

    /// Records a failed read assertion (the envelope wrote nothing).
    pub(crate) fn audit_assertion(&mut self, r: AssertionRecord) -> Result<(), AedbError> {
        let row = vec![
            Value::Text(r.call),
            r.idempotency_key.map_or(Value::Null, Value::Text),
            Value::Integer(r.index as i64),
            Value::Text(r.assertion),
            Value::Text(r.actual),
        ];
        self.append_audit(ASSERTION_AUDIT, r.caller_id, row)
    }
}

/// One row of `assertion_audit`.
#[derive(Debug, Clone)]
pub(crate) struct AssertionRecord {
    pub caller_id: Option<String>,
    pub call: String,
    /// The envelope's idempotency key, hex.
    pub idempotency_key: Option<String>,
    /// Which of the envelope's assertions failed, and what it found.
    pub index: usize,
    pub assertion: String,
    pub actual: String,
}

impl WriteCtx<'_, '_> {
    /// Records an event a processor gave up on (its retries exhausted).
    pub(crate) fn dead_letter(
        &mut self,
        processor: &str,
        caller_id: Option<String>,
        event: &crate::event::EventOutboxRecord,
        error: &str,
    ) -> Result<(), AedbError> {
        let row = vec![
            Value::Text(processor.into()),
            Value::Integer(event.commit_seq as i64),
            Value::Text(event.topic.clone()),
            Value::Text(event.event_key.clone()),
            Value::Text(event.payload_json.clone()),
            Value::Text(error.into()),
        ];
        self.append_audit(DEAD_LETTERS, caller_id, row)
    }
}
