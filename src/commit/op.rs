//! A mutation taken apart for dispatch.
//!
//! Invariant: `Mutation::into_op` is the one place a mutation is taken apart.
//! Table mutations become a `(TableTarget, TableOp)` pair, so the table is
//! resolved once and a new table mutation adds one `TableOp` arm, not a
//! lookup; a KV mutation becomes one `KvChange` (its key, what to do, and the
//! version a compare-and-* expects), with every numeric policy resolved here.

use crate::catalog::DdlOperation;
use crate::commit::mutation::{
    ConflictAction, ConflictTarget, KvIntegerAmount, KvIntegerMissingPolicy,
    KvIntegerUnderflowPolicy, KvU64MissingPolicy, KvU64MutatorOp, KvU64OverflowPolicy,
    KvU64UnderflowPolicy, KvU256MissingPolicy, KvU256MutatorOp, KvU256OverflowPolicy,
    KvU256UnderflowPolicy, Mutation, TableUpdateExpr,
};
use crate::event::EventOutboxRecord;
use crate::kv::numeric::{NumUpdate, Step, Width, widen};
use crate::kv::write::{KvChange, KvOp};
use crate::vocab::expr::Expr;
use crate::vocab::types::{Row, Value};

/// A KV mutation as a change to one key.
fn kv(project_id: String, scope_id: String, key: Vec<u8>, op: KvOp, expected: Option<u64>) -> Op {
    Op::Kv(KvChange {
        project_id,
        scope_id,
        key,
        op,
        expected_version: expected,
    })
}

/// A numeric KV operation.
fn num(width: Width, step: Step, operand: [u8; 32], missing_is_zero: bool) -> KvOp {
    KvOp::Num(NumUpdate {
        width,
        step,
        operand,
        missing_is_zero,
    })
}

/// A mutation taken apart for dispatch (`commit::apply`).
pub(crate) enum Op {
    Ddl(DdlOperation),
    Kv(KvChange),
    Table(TableTarget, TableOp),
    /// (project, scope, accumulator name) and what to do to it.
    Accumulator((String, String, String), AccOp),
    /// An event for the outbox (its `commit_seq` and `ts_micros` are filled in
    /// when it is written).
    Emit(EventOutboxRecord),
}

/// What an accumulator mutation does.
pub(crate) enum AccOp {
    Accumulate {
        delta: i64,
        dedupe_key: String,
        order_key: u64,
        release: Option<String>,
    },
    Expose(Vec<(i64, String)>),
    Release(String),
    Project,
}

/// The table a table mutation acts on.
pub(crate) struct TableTarget {
    pub(crate) project_id: String,
    pub(crate) scope_id: String,
    pub(crate) table_name: String,
}

/// What a table mutation does, without its target.
pub(crate) enum TableOp {
    /// `Insert`/`Upsert` (`primary_key: Some`, one row) and their batches
    /// (`None`; a batch is bounded by `max_batch_rows`). `replace`: upsert.
    Insert {
        primary_key: Option<Vec<Value>>,
        rows: Vec<Row>,
        replace: bool,
    },
    UpsertOnConflict {
        rows: Vec<Row>,
        target: ConflictTarget,
        action: ConflictAction,
    },
    Delete {
        primary_key: Vec<Value>,
    },
    DeleteWhere {
        predicate: Expr,
        limit: Option<usize>,
    },
    UpdateWhere {
        predicate: Expr,
        updates: Vec<(String, TableUpdateExpr)>,
        limit: Option<usize>,
    },
    /// `TableIncU256` (`add`) and `TableDecU256`.
    U256Step {
        primary_key: Vec<Value>,
        column: String,
        amount_be: [u8; 32],
        add: bool,
    },
}

impl TableOp {
    /// The predicate that chooses the rows of a predicated mutation.
    pub(crate) fn predicate_mut(&mut self) -> Option<&mut Expr> {
        match self {
            TableOp::DeleteWhere { predicate, .. } | TableOp::UpdateWhere { predicate, .. } => {
                Some(predicate)
            }
            _ => None,
        }
    }
}

impl Mutation {
    /// Takes the mutation apart for dispatch.
    pub(crate) fn into_op(self) -> Op {
        use Mutation as M;
        use TableOp as T;
        let target = |project_id, scope_id, table_name| TableTarget {
            project_id,
            scope_id,
            table_name,
        };
        let (target, op) = match self {
            M::Ddl(op) => return Op::Ddl(op),
            M::Accumulate {
                project_id,
                scope_id,
                accumulator_name,
                delta,
                dedupe_key,
                order_key,
                release_exposure_id,
            } => {
                let op = AccOp::Accumulate {
                    delta,
                    dedupe_key,
                    order_key,
                    release: release_exposure_id,
                };
                return Op::Accumulator((project_id, scope_id, accumulator_name), op);
            }
            M::ExposeAccumulator {
                project_id,
                scope_id,
                accumulator_name,
                amount,
                exposure_id,
            } => {
                let op = AccOp::Expose(vec![(amount, exposure_id)]);
                return Op::Accumulator((project_id, scope_id, accumulator_name), op);
            }
            M::ExposeAccumulatorBatch {
                project_id,
                scope_id,
                accumulator_name,
                exposures,
            } => {
                let op = AccOp::Expose(exposures);
                return Op::Accumulator((project_id, scope_id, accumulator_name), op);
            }
            M::ReleaseAccumulatorExposure {
                project_id,
                scope_id,
                accumulator_name,
                exposure_id,
            } => {
                let op = AccOp::Release(exposure_id);
                return Op::Accumulator((project_id, scope_id, accumulator_name), op);
            }
            M::EmitEvent {
                project_id,
                scope_id,
                topic,
                event_key,
                payload_json,
            } => {
                return Op::Emit(EventOutboxRecord {
                    commit_seq: 0,
                    ts_micros: 0,
                    project_id,
                    scope_id,
                    topic,
                    event_key,
                    payload_json,
                });
            }
            M::ProjectAccumulator {
                project_id,
                scope_id,
                accumulator_name,
            } => {
                let op = AccOp::Project;
                return Op::Accumulator((project_id, scope_id, accumulator_name), op);
            }
            M::KvSet {
                project_id,
                scope_id,
                key,
                value,
            } => return kv(project_id, scope_id, key, KvOp::Set(value), None),
            M::KvDel {
                project_id,
                scope_id,
                key,
            } => return kv(project_id, scope_id, key, KvOp::Del, None),
            M::KvIncU256 {
                project_id,
                scope_id,
                key,
                amount_be,
            } => {
                let u = num(Width::U256, Step::Add { saturate: false }, amount_be, true);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvDecU256 {
                project_id,
                scope_id,
                key,
                amount_be,
            } => {
                let step = Step::Sub {
                    noop_on_underflow: false,
                };
                return kv(
                    project_id,
                    scope_id,
                    key,
                    num(Width::U256, step, amount_be, true),
                    None,
                );
            }
            M::KvAddU256Ex {
                project_id,
                scope_id,
                key,
                amount_be,
                on_missing,
                on_overflow,
            } => {
                let step = Step::Add {
                    saturate: on_overflow == KvU256OverflowPolicy::Saturate,
                };
                let zero = on_missing == KvU256MissingPolicy::TreatAsZero;
                return kv(
                    project_id,
                    scope_id,
                    key,
                    num(Width::U256, step, amount_be, zero),
                    None,
                );
            }
            M::KvSubU256Ex {
                project_id,
                scope_id,
                key,
                amount_be,
                on_missing,
                on_underflow,
            } => {
                let step = Step::Sub {
                    noop_on_underflow: on_underflow == KvU256UnderflowPolicy::NoOp,
                };
                let zero = on_missing == KvU256MissingPolicy::TreatAsZero;
                return kv(
                    project_id,
                    scope_id,
                    key,
                    num(Width::U256, step, amount_be, zero),
                    None,
                );
            }
            M::KvMaxU256 {
                project_id,
                scope_id,
                key,
                candidate_be,
                on_missing,
            } => {
                let zero = on_missing == KvU256MissingPolicy::TreatAsZero;
                let u = num(Width::U256, Step::Max, candidate_be, zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvMinU256 {
                project_id,
                scope_id,
                key,
                candidate_be,
                on_missing,
            } => {
                let zero = on_missing == KvU256MissingPolicy::TreatAsZero;
                let u = num(Width::U256, Step::Min, candidate_be, zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvMutateU256 {
                project_id,
                scope_id,
                key,
                op,
                operand_be,
                expected_seq,
            } => {
                let step = match op {
                    KvU256MutatorOp::Set => Step::Set,
                    KvU256MutatorOp::Add => Step::Add { saturate: false },
                    KvU256MutatorOp::Sub => Step::Sub {
                        noop_on_underflow: false,
                    },
                };
                let u = num(Width::U256, step, operand_be, true);
                return kv(project_id, scope_id, key, u, expected_seq);
            }
            M::KvAddU64Ex {
                project_id,
                scope_id,
                key,
                amount_be,
                on_missing,
                on_overflow,
            } => {
                let step = Step::Add {
                    saturate: on_overflow == KvU64OverflowPolicy::Saturate,
                };
                let zero = on_missing == KvU64MissingPolicy::TreatAsZero;
                let u = num(Width::U64, step, widen(amount_be), zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvSubU64Ex {
                project_id,
                scope_id,
                key,
                amount_be,
                on_missing,
                on_underflow,
            } => {
                let step = Step::Sub {
                    noop_on_underflow: on_underflow == KvU64UnderflowPolicy::NoOp,
                };
                let zero = on_missing == KvU64MissingPolicy::TreatAsZero;
                let u = num(Width::U64, step, widen(amount_be), zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvSubIntEx {
                project_id,
                scope_id,
                key,
                amount,
                on_missing,
                on_underflow,
            } => {
                let (width, operand) = match amount {
                    KvIntegerAmount::U64(a) => (Width::U64, widen(a)),
                    KvIntegerAmount::U256(a) => (Width::U256, a),
                };
                let step = Step::Sub {
                    noop_on_underflow: on_underflow == KvIntegerUnderflowPolicy::NoOp,
                };
                let zero = on_missing == KvIntegerMissingPolicy::TreatAsZero;
                return kv(
                    project_id,
                    scope_id,
                    key,
                    num(width, step, operand, zero),
                    None,
                );
            }
            M::CounterAdd {
                project_id,
                scope_id,
                key,
                amount_be,
                shard_count,
                shard_hint,
            } => {
                let op = KvOp::CounterAdd {
                    amount_be,
                    shard_count,
                    shard_hint,
                };
                return kv(project_id, scope_id, key, op, None);
            }
            M::KvMaxU64 {
                project_id,
                scope_id,
                key,
                candidate_be,
                on_missing,
            } => {
                let zero = on_missing == KvU64MissingPolicy::TreatAsZero;
                let u = num(Width::U64, Step::Max, widen(candidate_be), zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvMinU64 {
                project_id,
                scope_id,
                key,
                candidate_be,
                on_missing,
            } => {
                let zero = on_missing == KvU64MissingPolicy::TreatAsZero;
                let u = num(Width::U64, Step::Min, widen(candidate_be), zero);
                return kv(project_id, scope_id, key, u, None);
            }
            M::KvMutateU64 {
                project_id,
                scope_id,
                key,
                op,
                operand_be,
                expected_seq,
            } => {
                let step = match op {
                    KvU64MutatorOp::Set => Step::Set,
                    KvU64MutatorOp::Add => Step::Add { saturate: false },
                    KvU64MutatorOp::Sub => Step::Sub {
                        noop_on_underflow: false,
                    },
                };
                let u = num(Width::U64, step, widen(operand_be), true);
                return kv(project_id, scope_id, key, u, expected_seq);
            }
            M::Insert {
                project_id,
                scope_id,
                table_name,
                primary_key,
                row,
            } => {
                let op = T::Insert {
                    primary_key: Some(primary_key),
                    rows: vec![row],
                    replace: false,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::Upsert {
                project_id,
                scope_id,
                table_name,
                primary_key,
                row,
            } => {
                let op = T::Insert {
                    primary_key: Some(primary_key),
                    rows: vec![row],
                    replace: true,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::InsertBatch {
                project_id,
                scope_id,
                table_name,
                rows,
            } => (
                target(project_id, scope_id, table_name),
                T::Insert {
                    primary_key: None,
                    rows,
                    replace: false,
                },
            ),
            M::UpsertBatch {
                project_id,
                scope_id,
                table_name,
                rows,
            } => (
                target(project_id, scope_id, table_name),
                T::Insert {
                    primary_key: None,
                    rows,
                    replace: true,
                },
            ),
            M::UpsertOnConflict {
                project_id,
                scope_id,
                table_name,
                row,
                conflict_target,
                conflict_action,
            } => {
                let op = T::UpsertOnConflict {
                    rows: vec![row],
                    target: conflict_target,
                    action: conflict_action,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::UpsertBatchOnConflict {
                project_id,
                scope_id,
                table_name,
                rows,
                conflict_target,
                conflict_action,
            } => {
                let op = T::UpsertOnConflict {
                    rows,
                    target: conflict_target,
                    action: conflict_action,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::Delete {
                project_id,
                scope_id,
                table_name,
                primary_key,
            } => (
                target(project_id, scope_id, table_name),
                T::Delete { primary_key },
            ),
            M::DeleteWhere {
                project_id,
                scope_id,
                table_name,
                predicate,
                limit,
            } => (
                target(project_id, scope_id, table_name),
                T::DeleteWhere { predicate, limit },
            ),
            M::UpdateWhere {
                project_id,
                scope_id,
                table_name,
                predicate,
                updates,
                limit,
            } => {
                let updates = updates
                    .into_iter()
                    .map(|(c, v)| (c, TableUpdateExpr::Value(v)))
                    .collect();
                (
                    target(project_id, scope_id, table_name),
                    T::UpdateWhere {
                        predicate,
                        updates,
                        limit,
                    },
                )
            }
            M::UpdateWhereExpr {
                project_id,
                scope_id,
                table_name,
                predicate,
                updates,
                limit,
            } => (
                target(project_id, scope_id, table_name),
                T::UpdateWhere {
                    predicate,
                    updates,
                    limit,
                },
            ),
            M::TableIncU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be,
            } => {
                let op = T::U256Step {
                    primary_key,
                    column,
                    amount_be,
                    add: true,
                };
                (target(project_id, scope_id, table_name), op)
            }
            M::TableDecU256 {
                project_id,
                scope_id,
                table_name,
                primary_key,
                column,
                amount_be,
            } => {
                let op = T::U256Step {
                    primary_key,
                    column,
                    amount_be,
                    add: false,
                };
                (target(project_id, scope_id, table_name), op)
            }
        };
        Op::Table(target, op)
    }
}
