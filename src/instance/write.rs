//! The facade's write path: a `WritePlan` run in an engine write transaction
//! (conditions, idempotency, mutations, composed writes, the change log) and
//! committed. A data plan is submitted to the engine's commit coalescing
//! (`Database::submit`: one thread commits the queued plans one after
//! another under one hold of the writer lock, each its own commit), so
//! concurrent callers share the lock and the sync; a plan with DDL, composed
//! writes or a dry run takes the writer lock itself (`write_alone`).
//!
//! Invariants:
//! 1. Both ways run the same steps (`run_plan`) in a transaction of the
//!    plan's own, on the latest state, with the writer lock held: the same
//!    checks and the same commit, whichever thread makes it.
//! 2. A coalesced plan that would change the catalog (which the catalog
//!    cache publishes around its commit, `DdlGuard`) is not committed there:
//!    it answers `RunAlone`, its transaction is dropped, and it runs again
//!    with `write_alone`.
//! 3. A plan that decides nothing needs committing (a duplicate, a repeated
//!    delta, a checkpoint already passed) answers without a commit either way.

use std::sync::Arc;

use crate::auth::Call;
use crate::catalog::Catalog;
use crate::commit::context::WriteCtx;
use crate::commit::mutation::Mutation;
use crate::commit::now_micros;
use crate::commit::tx::Conditions;
use crate::commit::{CommitFinality, CommitResult, IdempotencyOutcome};
use crate::error::AedbError;
use crate::storage::{Consistency, Finality, StorageError, WriteTransaction};

use super::{AedbInstance, CheckpointMove, Composed, WritePlan};

/// What running a plan in a write transaction decided.
enum Planned {
    /// Commit it: `affected` rows, and the new catalog when DDL ran.
    Commit {
        affected: u64,
        catalog: Option<Arc<Catalog>>,
    },
    /// Nothing to commit: the caller gets this answer (invariant 3).
    Answered(CommitResult),
}

/// Why a coalesced plan did not commit with its batch.
enum NotCoalesced {
    Failed(AedbError),
    Answered(CommitResult),
    /// It changes the catalog (invariant 2).
    RunAlone,
}

impl From<StorageError> for NotCoalesced {
    fn from(e: StorageError) -> Self {
        NotCoalesced::Failed(e.into())
    }
}

impl From<AedbError> for NotCoalesced {
    fn from(e: AedbError) -> Self {
        NotCoalesced::Failed(e)
    }
}

/// The parts of a plan a coalesced closure runs, shared so the plan can
/// still run alone afterwards (invariant 2).
#[derive(Clone)]
struct DataPlan {
    mutations: Vec<Mutation>,
    conditions: Conditions,
    checkpoint: Option<CheckpointMove>,
}

fn finality_of(f: CommitFinality) -> Finality {
    match f {
        CommitFinality::Visible => Finality::Visible,
        CommitFinality::Durable => Finality::Durable,
    }
}

impl AedbInstance {
    pub(crate) fn write_blocking(
        &self,
        call: &Call<'_>,
        plan: WritePlan,
    ) -> Result<CommitResult, AedbError> {
        let coalescible = !plan.dry_run
            && plan.compose.is_none()
            && !plan.mutations.iter().any(|m| matches!(m, Mutation::Ddl(_)));
        if !coalescible {
            return self.write_alone(call, plan);
        }
        let finality = plan.finality;
        let data = Arc::new(DataPlan {
            mutations: plan.mutations,
            conditions: plan.conditions,
            checkpoint: plan.checkpoint,
        });
        let (this, shared, owned) = (self.clone(), data.clone(), call.clone().into_owned());
        let submitted = self.inner.db.submit(
            finality_of(finality),
            move |txn| -> Result<u64, NotCoalesced> {
                let DataPlan {
                    mutations,
                    conditions,
                    checkpoint,
                } = &*shared;
                let planned = this.run_plan(
                    txn,
                    &owned,
                    mutations.clone(),
                    conditions,
                    checkpoint.as_ref(),
                    None,
                    false,
                )?;
                match planned {
                    Planned::Commit {
                        affected,
                        catalog: None,
                    } => Ok(affected),
                    Planned::Commit { .. } => Err(NotCoalesced::RunAlone),
                    Planned::Answered(answer) => Err(NotCoalesced::Answered(answer)),
                }
            },
        );
        match submitted {
            Ok((affected, receipt)) => Ok(CommitResult {
                commit_seq: receipt.seq,
                durable_head_seq: self.inner.db.durable_seq(),
                idempotency: IdempotencyOutcome::Applied,
                canonical_commit_seq: receipt.seq,
                affected_rows: affected,
            }),
            Err(NotCoalesced::Failed(e)) => Err(e),
            Err(NotCoalesced::Answered(answer)) => self.answered(answer, finality),
            Err(NotCoalesced::RunAlone) => {
                // Its transaction was dropped: nothing of it committed.
                let DataPlan {
                    mutations,
                    conditions,
                    checkpoint,
                } = Arc::unwrap_or_clone(data);
                self.write_alone(
                    call,
                    WritePlan {
                        mutations,
                        conditions,
                        finality,
                        dry_run: false,
                        checkpoint,
                        compose: None,
                    },
                )
            }
        }
    }

    /// A plan in a commit of its own, under the writer lock.
    fn write_alone(&self, call: &Call<'_>, plan: WritePlan) -> Result<CommitResult, AedbError> {
        let WritePlan {
            mutations,
            conditions,
            finality,
            dry_run,
            checkpoint,
            compose,
        } = plan;
        let db = &self.inner.db;
        let mut txn = db.begin_write()?;
        let planned = self.run_plan(
            &mut txn,
            &call.clone().into_owned(),
            mutations,
            &conditions,
            checkpoint.as_ref(),
            compose,
            dry_run,
        )?;
        let (affected, catalog) = match planned {
            Planned::Answered(answer) => {
                txn.abort();
                return self.answered(answer, finality);
            }
            Planned::Commit { affected, catalog } => (affected, catalog),
        };
        // Raised before the commit can become visible; see `catalog::cache`.
        let ddl = catalog.as_ref().map(|_| self.inner.catalogs.begin_ddl(db));
        let receipt = txn.commit(finality_of(finality))?;
        if let (Some(guard), Some(c)) = (ddl, catalog) {
            guard.publish(c);
        }
        Ok(CommitResult {
            commit_seq: receipt.seq,
            durable_head_seq: db.durable_seq(),
            idempotency: IdempotencyOutcome::Applied,
            canonical_commit_seq: receipt.seq,
            affected_rows: affected,
        })
    }

    /// An answer without a commit; a `Durable` duplicate waits until the
    /// commit it repeats is durable.
    fn answered(
        &self,
        mut answer: CommitResult,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let db = &self.inner.db;
        if answer.idempotency == IdempotencyOutcome::Duplicate
            && finality == CommitFinality::Durable
            && db.durable_seq() < answer.commit_seq
        {
            db.sync()?;
        }
        answer.durable_head_seq = db.durable_seq();
        Ok(answer)
    }

    /// Runs a plan's steps in `txn` (invariant 1): its conditions, then its
    /// checkpoint, mutations and composed writes, then its idempotency
    /// record and change-log entries.
    #[allow(clippy::too_many_arguments)]
    fn run_plan(
        &self,
        txn: &mut WriteTransaction<'_>,
        call: &Call<'static>,
        mutations: Vec<Mutation>,
        cond: &Conditions,
        checkpoint: Option<&CheckpointMove>,
        compose: Option<Composed>,
        dry_run: bool,
    ) -> Result<Planned, AedbError> {
        let db = &self.inner.db;
        // The latest commit, which this transaction starts from.
        let base = txn.seq() - 1;
        if cond.base_seq > base {
            return Err(AedbError::Validation(format!(
                "base_seq {} is ahead of the latest commit {base}",
                cond.base_seq
            )));
        }
        let mut ctx = WriteCtx::new(txn, &self.inner.catalogs, self.limits(), call.clone())?;
        let now = now_micros();
        let window = self.idempotency_window();
        let answer = |commit_seq, idempotency, affected_rows| {
            Ok(Planned::Answered(CommitResult {
                commit_seq,
                durable_head_seq: 0,
                idempotency,
                canonical_commit_seq: commit_seq,
                affected_rows,
            }))
        };
        if let Some((key, fingerprint)) = &cond.idempotency
            && let Some(first) = ctx.idempotent_replay(key, *fingerprint, window, now)?
        {
            return answer(first.commit_seq, IdempotencyOutcome::Duplicate, 0);
        }
        if !cond.read_set.is_empty() {
            // Ranges are compared with the state at base_seq; a snapshot no
            // longer retained makes a range check fail as a conflict.
            let at_base = (!cond.read_set.ranges.is_empty())
                .then(|| db.begin_read_at(Consistency::AtSeq(cond.base_seq)).ok())
                .flatten();
            ctx.check_read_set(&cond.read_set, cond.base_seq, at_base.as_ref())?;
        }
        ctx.check_assertions(&cond.assertions)?;
        // The checkpoint first: a commit of events another run applied
        // already is a Conflict, whatever its mutations would say.
        let mut moved = false;
        if let Some(c) = checkpoint {
            moved = ctx.advance_checkpoint(&c.name, c.seq, c.rule)?;
        }
        let mut affected = 0;
        let submitted = mutations.len() + usize::from(compose.is_some());
        for m in mutations {
            affected += ctx.apply(m)?;
        }
        if let Some(write) = compose {
            affected += write(&mut ctx)?;
        }
        if checkpoint.is_some() && !moved && submitted == 0 && !dry_run {
            // A checkpoint at or behind the stored one, and nothing else.
            return answer(base, IdempotencyOutcome::Applied, 0);
        }
        if let Some(first) = ctx.replayed
            && ctx.replays == submitted
            && checkpoint.is_none()
            && !dry_run
        {
            // Every mutation was a repeated accumulator delta: nothing to commit.
            return answer(first, IdempotencyOutcome::Duplicate, 0);
        }
        if let Some((key, fingerprint)) = &cond.idempotency {
            ctx.remember(key, *fingerprint, window, now)?;
        }
        if !dry_run {
            self.log_changes(&mut ctx, None)?;
        }
        let catalog = ctx.finish()?;
        if dry_run {
            return answer(base, IdempotencyOutcome::Applied, affected);
        }
        Ok(Planned::Commit { affected, catalog })
    }
}
