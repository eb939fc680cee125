//! Envelope commits: mutations under conditions (read assertions, an
//! optimistic read set, an idempotency key), and the compare-and-swap calls
//! built on them. All go through `write_planned`, which checks the conditions
//! inside the write transaction, then applies the mutations, then records the
//! idempotency key, all in one commit.

use crate::auth::Call;
use crate::commit::action::{ActionCommitOutcome, ActionCommitResult, ActionEnvelopeRequest};
use crate::commit::mutation::Mutation;
use crate::commit::tx::{Conditions, ReadAssertion, ReadSet, TransactionEnvelope, fingerprint};
use crate::commit::{CommitFinality, CommitResult, IdempotencyOutcome};
use crate::error::AedbError;
use crate::instance::{AedbInstance, WritePlan};
use crate::permission::CallerContext;
use crate::vocab::types::{Row, Value};

impl AedbInstance {
    async fn envelope_for(
        &self,
        name: &'static str,
        envelope: TransactionEnvelope,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        let idempotency = match envelope.idempotency_key {
            Some(k) => Some((k, envelope.request_fingerprint()?)),
            None => None,
        };
        let call = self.call(name, envelope.caller);
        if envelope.write_intent.mutations.is_empty() {
            return Err(AedbError::Validation(format!(
                "{name} needs at least one mutation"
            )));
        }
        let plan = WritePlan {
            mutations: envelope.write_intent.mutations,
            conditions: Conditions {
                assertions: envelope.assertions,
                read_set: envelope.read_set,
                base_seq: envelope.base_seq,
                idempotency,
            },
            finality,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    /// Commits the envelope's mutations atomically and durably, if its read
    /// set is unchanged since `base_seq` (else `Conflict`) and its assertions
    /// hold (else `AssertionFailed`, recorded in `_system.app.assertion_audit`).
    /// With an idempotency key, a repeat of the same request within the
    /// window returns the first commit (`IdempotencyOutcome::Duplicate`).
    pub async fn commit_envelope(
        &self,
        envelope: TransactionEnvelope,
    ) -> Result<CommitResult, AedbError> {
        self.envelope_for("commit_envelope", envelope, CommitFinality::Durable)
            .await
    }

    /// `commit_envelope` with a chosen finality.
    pub async fn commit_envelope_with_finality(
        &self,
        envelope: TransactionEnvelope,
        finality: CommitFinality,
    ) -> Result<CommitResult, AedbError> {
        self.envelope_for("commit_envelope_with_finality", envelope, finality)
            .await
    }

    /// Commits one action (its effects and metadata) atomically and durably
    /// under its idempotency key: `Applied`, or `Duplicate` when the key was
    /// committed before with the same request (nothing written again).
    pub async fn commit_action_envelope(
        &self,
        req: ActionEnvelopeRequest,
    ) -> Result<ActionCommitResult, AedbError> {
        let read_set = ReadSet::default();
        let fp = fingerprint(
            req.caller.as_ref(),
            &req.assertions,
            &read_set,
            &req.mutations,
            req.base_seq,
        )?;
        if req.mutations.is_empty() {
            return Err(AedbError::Validation(
                "commit_action_envelope needs at least one mutation".into(),
            ));
        }
        let call = self.call("commit_action_envelope", req.caller);
        let plan = WritePlan {
            mutations: req.mutations,
            conditions: Conditions {
                assertions: req.assertions,
                read_set,
                base_seq: req.base_seq,
                idempotency: Some((req.idempotency_key, fp)),
            },
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        let r = self.write_planned(call, plan).await?;
        Ok(ActionCommitResult {
            commit_seq: r.canonical_commit_seq,
            durable_head_seq: r.durable_head_seq,
            outcome: match r.idempotency {
                IdempotencyOutcome::Applied => ActionCommitOutcome::Applied,
                IdempotencyOutcome::Duplicate => ActionCommitOutcome::Duplicate,
            },
        })
    }

    /// Commits `m` durably if `check` holds.
    async fn commit_if(
        &self,
        call: Call<'_>,
        check: ReadAssertion,
        m: Mutation,
    ) -> Result<CommitResult, AedbError> {
        let plan = WritePlan {
            mutations: vec![m],
            conditions: Conditions {
                assertions: vec![check],
                ..Conditions::default()
            },
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn kv_cas_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let check = ReadAssertion::KeyVersion {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            key: key.clone(),
            expected_seq,
        };
        let m = Mutation::KvSet {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            key,
            value,
        };
        self.commit_if(call, check, m).await
    }

    /// Sets `key` to `value` if it was last written by commit `expected_seq`
    /// (0: it is absent); else `AssertionFailed` naming the actual version.
    pub async fn kv_compare_and_swap(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_compare_and_swap", None);
        self.kv_cas_for(call, project_id, scope_id, key, value, expected_seq)
            .await
    }

    /// `kv_compare_and_swap` for `caller` (needs `KvRead` and `KvWrite`).
    pub async fn kv_compare_and_swap_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("kv_compare_and_swap_as", Some(caller));
        self.kv_cas_for(call, project_id, scope_id, key, value, expected_seq)
            .await
    }

    /// Commits `m` on one row if the row was last written by `expected_seq`.
    #[allow(clippy::too_many_arguments)]
    async fn row_cas_for(
        &self,
        call: Call<'_>,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        expected_seq: u64,
        m: Mutation,
    ) -> Result<CommitResult, AedbError> {
        let check = ReadAssertion::RowVersion {
            project_id: project_id.into(),
            scope_id: scope_id.into(),
            table_name: table_name.into(),
            primary_key,
            expected_seq,
        };
        self.commit_if(call, check, m).await
    }

    fn upsert(project: &str, scope: &str, table: &str, pk: Vec<Value>, row: Row) -> Mutation {
        Mutation::Upsert {
            project_id: project.into(),
            scope_id: scope.into(),
            table_name: table.into(),
            primary_key: pk,
            row,
        }
    }

    fn u256_step(
        (project, scope, table): (&str, &str, &str),
        pk: Vec<Value>,
        column: &str,
        amount_be: [u8; 32],
        add: bool,
    ) -> Mutation {
        let (project_id, scope_id, table_name) = (project.into(), scope.into(), table.into());
        let column = column.to_string();
        if add {
            Mutation::TableIncU256 {
                project_id,
                scope_id,
                table_name,
                primary_key: pk,
                column,
                amount_be,
            }
        } else {
            Mutation::TableDecU256 {
                project_id,
                scope_id,
                table_name,
                primary_key: pk,
                column,
                amount_be,
            }
        }
    }

    /// Replaces (or inserts) the row under `primary_key` if it was last
    /// written by commit `expected_seq` (0: it is absent); else
    /// `AssertionFailed` naming the actual version.
    pub async fn compare_and_swap(
        &self,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        row: Row,
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_swap", None);
        let m = Self::upsert(project_id, scope_id, table_name, primary_key.clone(), row);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }

    /// `compare_and_swap` for `caller` (needs `TableRead` and `TableWrite`).
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_and_swap_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        row: Row,
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_swap_as", Some(caller));
        let m = Self::upsert(project_id, scope_id, table_name, primary_key.clone(), row);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }

    /// Adds `amount_be` to a U256 column of one row if the row's version is
    /// `expected_seq`.
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_and_inc_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        column: &str,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_inc_u256", None);
        let t = (project_id, scope_id, table_name);
        let m = Self::u256_step(t, primary_key.clone(), column, amount_be, true);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }

    /// `compare_and_inc_u256` for `caller` (needs `TableRead` and `TableWrite`).
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_and_inc_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        column: &str,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_inc_u256_as", Some(caller));
        let t = (project_id, scope_id, table_name);
        let m = Self::u256_step(t, primary_key.clone(), column, amount_be, true);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }

    /// Subtracts `amount_be` from a U256 column of one row (below zero is
    /// `Underflow`) if the row's version is `expected_seq`.
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_and_dec_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        column: &str,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_dec_u256", None);
        let t = (project_id, scope_id, table_name);
        let m = Self::u256_step(t, primary_key.clone(), column, amount_be, false);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }

    /// `compare_and_dec_u256` for `caller` (needs `TableRead` and `TableWrite`).
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_and_dec_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        table_name: &str,
        primary_key: Vec<Value>,
        column: &str,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("compare_and_dec_u256_as", Some(caller));
        let t = (project_id, scope_id, table_name);
        let m = Self::u256_step(t, primary_key.clone(), column, amount_be, false);
        self.row_cas_for(
            call,
            project_id,
            scope_id,
            table_name,
            primary_key,
            expected_seq,
            m,
        )
        .await
    }
}
