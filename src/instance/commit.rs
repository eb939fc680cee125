//! Commit methods: one mutation, several atomically, with a chosen finality, and
//! the advisory preflight checks. Each plain method has a `*_as` twin taking a
//! caller; both go through the same `write`, which authorizes every mutation
//! against the catalog of the write transaction (`crate::auth`).

use crate::auth::Call;
use crate::commit::mutation::Mutation;
use crate::commit::readset::read_set_of;
use crate::commit::tx::{ReadSet, WriteIntent};
use crate::commit::{CommitFinality, CommitResult, PreflightPlan, PreflightResult};
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::permission::CallerContext;
use crate::storage::Consistency;

fn at_least_one(call: &Call<'_>, mutations: &[Mutation]) -> Result<(), AedbError> {
    if mutations.is_empty() {
        return Err(AedbError::Validation(format!(
            "{} needs at least one mutation",
            call.name
        )));
    }
    Ok(())
}

impl AedbInstance {
    /// Commits one mutation and returns once it is durable.
    pub async fn commit(&self, mutation: Mutation) -> Result<CommitResult, AedbError> {
        let call = self.call("commit", None);
        self.commit_durable(call, mutation).await
    }

    /// `commit` for `caller`: every mutation needs the caller's grant.
    pub async fn commit_as(
        &self,
        caller: CallerContext,
        mutation: Mutation,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_as", Some(caller));
        self.commit_durable(call, mutation).await
    }

    /// Commits one mutation; `Visible` returns before the WAL sync (a crash
    /// before the next sync loses it), `Durable` after.
    pub async fn commit_with_finality(
        &self,
        mutation: Mutation,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_with_finality", None);
        self.write(call, vec![mutation], finality, false).await
    }

    /// `commit_with_finality` for `caller`: every mutation needs the caller's grant.
    pub async fn commit_as_with_finality(
        &self,
        caller: CallerContext,
        mutation: Mutation,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_as_with_finality", Some(caller));
        self.write(call, vec![mutation], finality, false).await
    }

    /// Commits several mutations as one transaction: all apply or none.
    pub async fn commit_many_atomic(
        &self,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_many_atomic", None);
        at_least_one(&call, &mutations)?;
        self.write(call, mutations, CommitFinality::Durable, false)
            .await
    }

    /// `commit_many_atomic` for `caller`: every mutation needs the caller's grant.
    pub async fn commit_many_atomic_as(
        &self,
        caller: CallerContext,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_many_atomic_as", Some(caller));
        at_least_one(&call, &mutations)?;
        self.write(call, mutations, CommitFinality::Durable, false)
            .await
    }

    /// Like `commit_many_atomic`, with a chosen finality.
    pub async fn commit_many_atomic_with_finality(
        &self,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_many_atomic_with_finality", None);
        at_least_one(&call, &mutations)?;
        self.write(call, mutations, finality, false).await
    }

    /// `commit_many_atomic_with_finality` for `caller`: every mutation needs the
    /// caller's grant.
    pub async fn commit_many_atomic_as_with_finality(
        &self,
        caller: CallerContext,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_many_atomic_as_with_finality", Some(caller));
        at_least_one(&call, &mutations)?;
        self.write(call, mutations, finality, false).await
    }

    /// Checks and commits in one step. Validation runs under the writer lock
    /// against the latest state, so nothing can change between check and commit.
    pub async fn commit_with_preflight(
        &self,
        mutation: Mutation,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_with_preflight", None);
        self.commit_durable(call, mutation).await
    }

    /// `commit_with_preflight` for `caller`: the grant check, too, runs under
    /// the writer lock, so a revoke cannot slip between check and commit.
    pub async fn commit_as_with_preflight(
        &self,
        caller: CallerContext,
        mutation: Mutation,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("commit_as_with_preflight", Some(caller));
        self.commit_durable(call, mutation).await
    }

    /// Would `mutation` commit now, and how many rows would it touch? Advisory:
    /// the state may change before a later commit.
    pub async fn preflight(&self, mutation: Mutation) -> PreflightResult {
        let call = self.call("preflight", None);
        match self.dry_run(call, mutation).await {
            Ok(r) => PreflightResult::Ok {
                affected_rows: r.affected_rows,
            },
            Err(e) => PreflightResult::Err {
                reason: e.to_string(),
            },
        }
    }

    /// `preflight` for `caller`. A mutation the caller may not make is
    /// `Err(PermissionDenied)`, not an advisory failure.
    pub async fn preflight_as(
        &self,
        caller: &CallerContext,
        mutation: Mutation,
    ) -> Result<PreflightResult, AedbError> {
        let call = self.call_by("preflight_as", Some(caller));
        match self.dry_run(call, mutation).await {
            Ok(r) => Ok(PreflightResult::Ok {
                affected_rows: r.affected_rows,
            }),
            Err(e @ AedbError::PermissionDenied(_)) => Err(e),
            Err(e) => Ok(PreflightResult::Err {
                reason: e.to_string(),
            }),
        }
    }

    /// `preflight` with the seq it ran against and what the mutation reads
    /// there (its read set), to commit it optimistically in an envelope.
    pub async fn preflight_plan(&self, mutation: Mutation) -> PreflightPlan {
        let call = self.call("preflight_plan", None);
        let base_seq = self.storage().visible_seq();
        let r = self.dry_run(call, mutation.clone()).await;
        self.plan_of(r, base_seq, mutation)
    }

    /// `preflight_plan` for `caller`. A mutation the caller may not make is
    /// `Err(PermissionDenied)`, not a failed plan.
    pub async fn preflight_plan_as(
        &self,
        caller: &CallerContext,
        mutation: Mutation,
    ) -> Result<PreflightPlan, AedbError> {
        let call = self.call_by("preflight_plan_as", Some(caller));
        let base_seq = self.storage().visible_seq();
        match self.dry_run(call, mutation.clone()).await {
            Err(e @ AedbError::PermissionDenied(_)) => Err(e),
            r => Ok(self.plan_of(r, base_seq, mutation)),
        }
    }

    async fn dry_run(&self, call: Call<'_>, mutation: Mutation) -> Result<CommitResult, AedbError> {
        self.write(call, vec![mutation], CommitFinality::Visible, true)
            .await
    }
}

impl AedbInstance {
    /// The plan a dry run `r` of `mutation` makes: its read set on the state
    /// the dry run checked (`base_seq` when it failed before taking one).
    fn plan_of(
        &self,
        r: Result<CommitResult, AedbError>,
        base_seq: u64,
        mutation: Mutation,
    ) -> PreflightPlan {
        let read = |base: u64| -> Result<ReadSet, AedbError> {
            let txn = self.storage().begin_read_at(Consistency::AtSeq(base))?;
            read_set_of(&txn, &*self.catalog_of(&txn)?, &mutation)
        };
        let (valid, base_seq, affected, errors, read_set) = match r {
            Ok(r) => match read(r.commit_seq) {
                Ok(set) => (
                    true,
                    r.commit_seq,
                    r.affected_rows as usize,
                    Vec::new(),
                    set,
                ),
                Err(e) => (
                    false,
                    r.commit_seq,
                    0,
                    vec![e.to_string()],
                    ReadSet::default(),
                ),
            },
            Err(e) => (false, base_seq, 0, vec![e.to_string()], ReadSet::default()),
        };
        PreflightPlan {
            valid,
            read_set,
            write_intent: WriteIntent {
                mutations: vec![mutation],
            },
            base_seq,
            estimated_affected_rows: affected,
            errors,
        }
    }
}
