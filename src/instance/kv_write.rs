//! KV writes: set, delete, the typed numerics and sharded counters, each a
//! thin door committing one `Mutation` durably through the one write path
//! (`AedbInstance::write`, which authorizes it: `KvWrite` reaching the key).
//! Every call has an `*_as` twin for a caller; the compare-and-* calls are in
//! `kv_compare.rs`.

use crate::catalog::DEFAULT_SCOPE_ID;
use crate::commit::CommitResult;
use crate::commit::mutation::{
    KvU64MissingPolicy, KvU64MutatorOp, KvU64OverflowPolicy, KvU64UnderflowPolicy, KvU256MutatorOp,
    Mutation,
};
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::permission::CallerContext;

impl AedbInstance {
    /// Sets `key` to `value` in the scope's KV space (durable on return).
    pub async fn kv_set(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_set(project_id, scope_id, key, value);
        self.commit_durable(self.call("kv_set", None), m).await
    }

    /// `kv_set` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_set_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_set(project_id, scope_id, key, value);
        self.commit_durable(self.call("kv_set_as", Some(caller)), m)
            .await
    }

    /// Removes `key` (no error if absent).
    pub async fn kv_del(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_del(project_id, scope_id, key);
        self.commit_durable(self.call("kv_del", None), m).await
    }

    /// `kv_del` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_del_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_del(project_id, scope_id, key);
        self.commit_durable(self.call("kv_del_as", Some(caller)), m)
            .await
    }

    /// Adds `amount_be` to the U256 under `key` (a missing key is zero; past 2^256 - 1 is `Overflow`).
    pub async fn kv_inc_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_inc_u256(project_id, scope_id, key, amount_be);
        self.commit_durable(self.call("kv_inc_u256", None), m).await
    }

    /// `kv_inc_u256` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_inc_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_inc_u256(project_id, scope_id, key, amount_be);
        self.commit_durable(self.call("kv_inc_u256_as", Some(caller)), m)
            .await
    }

    /// Subtracts `amount_be` from the U256 under `key` (below zero is `Underflow`).
    pub async fn kv_dec_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_dec_u256(project_id, scope_id, key, amount_be);
        self.commit_durable(self.call("kv_dec_u256", None), m).await
    }

    /// `kv_dec_u256` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_dec_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_dec_u256(project_id, scope_id, key, amount_be);
        self.commit_durable(self.call("kv_dec_u256_as", Some(caller)), m)
            .await
    }

    /// Adds to the U64 under `key` with explicit missing-key and overflow policies.
    pub async fn kv_add_u64_ex(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_overflow: KvU64OverflowPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_add_u64_ex(
            project_id,
            scope_id,
            key,
            amount_be,
            on_missing,
            on_overflow,
        );
        self.commit_durable(self.call("kv_add_u64_ex", None), m)
            .await
    }

    /// `kv_add_u64_ex` for `caller` (needs `KvWrite` reaching the key).
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn kv_add_u64_ex_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_overflow: KvU64OverflowPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_add_u64_ex(
            project_id,
            scope_id,
            key,
            amount_be,
            on_missing,
            on_overflow,
        );
        self.commit_durable(self.call("kv_add_u64_ex_as", Some(caller)), m)
            .await
    }

    /// Subtracts from the U64 under `key` with explicit missing-key and underflow policies.
    pub async fn kv_sub_u64_ex(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_underflow: KvU64UnderflowPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_sub_u64_ex(
            project_id,
            scope_id,
            key,
            amount_be,
            on_missing,
            on_underflow,
        );
        self.commit_durable(self.call("kv_sub_u64_ex", None), m)
            .await
    }

    /// `kv_sub_u64_ex` for `caller` (needs `KvWrite` reaching the key).
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn kv_sub_u64_ex_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
        on_underflow: KvU64UnderflowPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_sub_u64_ex(
            project_id,
            scope_id,
            key,
            amount_be,
            on_missing,
            on_underflow,
        );
        self.commit_durable(self.call("kv_sub_u64_ex_as", Some(caller)), m)
            .await
    }

    /// Stores the larger of the U64 under `key` and `candidate_be`.
    pub async fn kv_max_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_max_u64(project_id, scope_id, key, candidate_be, on_missing);
        self.commit_durable(self.call("kv_max_u64", None), m).await
    }

    /// `kv_max_u64` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_max_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_max_u64(project_id, scope_id, key, candidate_be, on_missing);
        self.commit_durable(self.call("kv_max_u64_as", Some(caller)), m)
            .await
    }

    /// Stores the smaller of the U64 under `key` and `candidate_be`.
    pub async fn kv_min_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_min_u64(project_id, scope_id, key, candidate_be, on_missing);
        self.commit_durable(self.call("kv_min_u64", None), m).await
    }

    /// `kv_min_u64` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_min_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        candidate_be: [u8; 8],
        on_missing: KvU64MissingPolicy,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_min_u64(project_id, scope_id, key, candidate_be, on_missing);
        self.commit_durable(self.call("kv_min_u64_as", Some(caller)), m)
            .await
    }

    /// Sets, adds to or subtracts from the U64 under `key` (strict: overflow and underflow are errors).
    pub async fn kv_mutate_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        op: KvU64MutatorOp,
        operand_be: [u8; 8],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_mutate_u64(project_id, scope_id, key, op, operand_be);
        self.commit_durable(self.call("kv_mutate_u64", None), m)
            .await
    }

    /// `kv_mutate_u64` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_mutate_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        op: KvU64MutatorOp,
        operand_be: [u8; 8],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_mutate_u64(project_id, scope_id, key, op, operand_be);
        self.commit_durable(self.call("kv_mutate_u64_as", Some(caller)), m)
            .await
    }

    /// Sets, adds to or subtracts from the U256 under `key` (strict).
    pub async fn kv_mutate_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        op: KvU256MutatorOp,
        operand_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_mutate_u256(project_id, scope_id, key, op, operand_be);
        self.commit_durable(self.call("kv_mutate_u256", None), m)
            .await
    }

    /// `kv_mutate_u256` for `caller` (needs `KvWrite` reaching the key).
    pub async fn kv_mutate_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        op: KvU256MutatorOp,
        operand_be: [u8; 32],
    ) -> Result<CommitResult, AedbError> {
        let m = kv_mutate_u256(project_id, scope_id, key, op, operand_be);
        self.commit_durable(self.call("kv_mutate_u256_as", Some(caller)), m)
            .await
    }

    /// Adds to one of `shard_count` shards of counter `key` (shard `shard_hint % shard_count`), so concurrent adders of a hot counter touch different keys; `counter_read_sharded` sums them.
    pub async fn counter_add_sharded(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        shard_count: u16,
        shard_hint: u32,
    ) -> Result<CommitResult, AedbError> {
        let m = counter_add_sharded(
            project_id,
            scope_id,
            key,
            amount_be,
            shard_count,
            shard_hint,
        );
        self.commit_durable(self.call("counter_add_sharded", None), m)
            .await
    }

    /// `counter_add_sharded` for `caller` (needs `KvWrite` reaching the key).
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn counter_add_sharded_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        shard_count: u16,
        shard_hint: u32,
    ) -> Result<CommitResult, AedbError> {
        let m = counter_add_sharded(
            project_id,
            scope_id,
            key,
            amount_be,
            shard_count,
            shard_hint,
        );
        self.commit_durable(self.call("counter_add_sharded_as", Some(caller)), m)
            .await
    }

    /// `kv_set` in the project's default scope (`app`).
    pub async fn kv_set_default_scope(
        &self,
        project_id: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        self.kv_set(project_id, DEFAULT_SCOPE_ID, key, value).await
    }

    /// `kv_del` in the project's default scope (`app`).
    pub async fn kv_del_default_scope(
        &self,
        project_id: &str,
        key: Vec<u8>,
    ) -> Result<CommitResult, AedbError> {
        self.kv_del(project_id, DEFAULT_SCOPE_ID, key).await
    }
}

// The mutation each door commits (one place per operation, for both twins).

fn kv_set(project_id: &str, scope_id: &str, key: Vec<u8>, value: Vec<u8>) -> Mutation {
    Mutation::KvSet {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        value,
    }
}

fn kv_del(project_id: &str, scope_id: &str, key: Vec<u8>) -> Mutation {
    Mutation::KvDel {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
    }
}

fn kv_inc_u256(project_id: &str, scope_id: &str, key: Vec<u8>, amount_be: [u8; 32]) -> Mutation {
    Mutation::KvIncU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        amount_be,
    }
}

fn kv_dec_u256(project_id: &str, scope_id: &str, key: Vec<u8>, amount_be: [u8; 32]) -> Mutation {
    Mutation::KvDecU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        amount_be,
    }
}

fn kv_add_u64_ex(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 8],
    on_missing: KvU64MissingPolicy,
    on_overflow: KvU64OverflowPolicy,
) -> Mutation {
    Mutation::KvAddU64Ex {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        amount_be,
        on_missing,
        on_overflow,
    }
}

fn kv_sub_u64_ex(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 8],
    on_missing: KvU64MissingPolicy,
    on_underflow: KvU64UnderflowPolicy,
) -> Mutation {
    Mutation::KvSubU64Ex {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        amount_be,
        on_missing,
        on_underflow,
    }
}

fn kv_max_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    candidate_be: [u8; 8],
    on_missing: KvU64MissingPolicy,
) -> Mutation {
    Mutation::KvMaxU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        candidate_be,
        on_missing,
    }
}

fn kv_min_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    candidate_be: [u8; 8],
    on_missing: KvU64MissingPolicy,
) -> Mutation {
    Mutation::KvMinU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        candidate_be,
        on_missing,
    }
}

fn kv_mutate_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    op: KvU64MutatorOp,
    operand_be: [u8; 8],
) -> Mutation {
    Mutation::KvMutateU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op,
        operand_be,
        expected_seq: None,
    }
}

fn kv_mutate_u256(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    op: KvU256MutatorOp,
    operand_be: [u8; 32],
) -> Mutation {
    Mutation::KvMutateU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op,
        operand_be,
        expected_seq: None,
    }
}

fn counter_add_sharded(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 8],
    shard_count: u16,
    shard_hint: u32,
) -> Mutation {
    Mutation::CounterAdd {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        amount_be,
        shard_count,
        shard_hint,
    }
}
