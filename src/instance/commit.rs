//! Commit methods: one mutation, several atomically, with a chosen finality, and
//! the advisory preflight checks.

use crate::commit::mutation::Mutation;
use crate::commit::{CommitFinality, CommitResult, PreflightPlan, PreflightResult};
use crate::error::AedbError;
use crate::instance::AedbInstance;

impl AedbInstance {
    /// Commits one mutation and returns once it is durable.
    pub async fn commit(&self, mutation: Mutation) -> Result<CommitResult, AedbError> {
        self.write(vec![mutation], CommitFinality::Durable, false)
            .await
    }

    /// Commits one mutation; `Visible` returns before the WAL sync (a crash
    /// before the next sync loses it), `Durable` after.
    pub async fn commit_with_finality(
        &self,
        mutation: Mutation,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        self.write(vec![mutation], finality, false).await
    }

    /// Commits several mutations as one transaction: all apply or none.
    pub async fn commit_many_atomic(
        &self,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        if mutations.is_empty() {
            return Err(AedbError::Validation(
                "commit_many_atomic needs at least one mutation".into(),
            ));
        }
        self.write(mutations, CommitFinality::Durable, false).await
    }

    /// Like `commit_many_atomic`, with a chosen finality.
    pub async fn commit_many_atomic_with_finality(
        &self,
        mutations: Vec<Mutation>,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        if mutations.is_empty() {
            return Err(AedbError::Validation(
                "commit needs at least one mutation".into(),
            ));
        }
        self.write(mutations, finality, false).await
    }

    /// Checks and commits in one step. Validation runs under the writer lock
    /// against the latest state, so nothing can change between check and commit.
    pub async fn commit_with_preflight(
        &self,
        mutation: Mutation,
    ) -> Result<CommitResult, AedbError> {
        self.write(vec![mutation], CommitFinality::Durable, false)
            .await
    }

    /// Would `mutation` commit now, and how many rows would it touch? Advisory:
    /// the state may change before a later commit.
    pub async fn preflight(&self, mutation: Mutation) -> PreflightResult {
        match self
            .write(vec![mutation], CommitFinality::Visible, true)
            .await
        {
            Ok(r) => PreflightResult::Ok {
                affected_rows: r.affected_rows,
            },
            Err(e) => PreflightResult::Err {
                reason: e.to_string(),
            },
        }
    }

    /// `preflight` with the seq it ran against.
    pub async fn preflight_plan(&self, mutation: Mutation) -> PreflightPlan {
        let base_seq = self.storage().visible_seq();
        match self
            .write(vec![mutation], CommitFinality::Visible, true)
            .await
        {
            Ok(r) => PreflightPlan {
                valid: true,
                base_seq: r.commit_seq,
                estimated_affected_rows: r.affected_rows as usize,
                errors: Vec::new(),
            },
            Err(e) => PreflightPlan {
                valid: false,
                base_seq,
                estimated_affected_rows: 0,
                errors: vec![e.to_string()],
            },
        }
    }
}
