//! KV compare-and-* calls: a numeric step or a set, committed only if the
//! key was last written by the commit the caller read (its version; 0 for an
//! absent key), checked inside the write; otherwise `AssertionFailed` with
//! the actual version. (`kv_compare_and_swap` of raw values is an envelope:
//! `envelope.rs`.)

use crate::commit::CommitResult;
use crate::commit::mutation::{KvU64MutatorOp, KvU256MutatorOp, Mutation};
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::permission::CallerContext;

impl AedbInstance {
    /// `kv_inc_u256`, only if `key` was last written by commit `expected_seq` (0: it is absent); else `AssertionFailed` with the actual version.
    pub async fn kv_compare_and_inc_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_inc_u256(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_inc_u256", None), m)
            .await
    }

    /// `kv_compare_and_inc_u256` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_inc_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_inc_u256(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_inc_u256_as", Some(caller)), m)
            .await
    }

    /// `kv_dec_u256` if `key`'s version is `expected_seq`.
    pub async fn kv_compare_and_dec_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_dec_u256(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_dec_u256", None), m)
            .await
    }

    /// `kv_compare_and_dec_u256` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_dec_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_dec_u256(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_dec_u256_as", Some(caller)), m)
            .await
    }

    /// Sets the U256 under `key` if its version is `expected_seq`.
    pub async fn kv_compare_and_set_u256(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_set_u256(project_id, scope_id, key, value_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_set_u256", None), m)
            .await
    }

    /// `kv_compare_and_set_u256` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_set_u256_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value_be: [u8; 32],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_set_u256(project_id, scope_id, key, value_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_set_u256_as", Some(caller)), m)
            .await
    }

    /// Adds to the U64 under `key` if its version is `expected_seq`.
    pub async fn kv_compare_and_add_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_add_u64(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_add_u64", None), m)
            .await
    }

    /// `kv_compare_and_add_u64` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_add_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_add_u64(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_add_u64_as", Some(caller)), m)
            .await
    }

    /// Subtracts from the U64 under `key` if its version is `expected_seq`.
    pub async fn kv_compare_and_sub_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_sub_u64(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_sub_u64", None), m)
            .await
    }

    /// `kv_compare_and_sub_u64` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_sub_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        amount_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_sub_u64(project_id, scope_id, key, amount_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_sub_u64_as", Some(caller)), m)
            .await
    }

    /// Sets the U64 under `key` if its version is `expected_seq`.
    pub async fn kv_compare_and_set_u64(
        &self,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_set_u64(project_id, scope_id, key, value_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_set_u64", None), m)
            .await
    }

    /// `kv_compare_and_set_u64` for `caller` (needs `KvRead` and `KvWrite` reaching the key).
    pub async fn kv_compare_and_set_u64_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        key: Vec<u8>,
        value_be: [u8; 8],
        expected_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = kv_compare_and_set_u64(project_id, scope_id, key, value_be, expected_seq);
        self.commit_durable(self.call("kv_compare_and_set_u64_as", Some(caller)), m)
            .await
    }
}

// The mutation each door commits (one place per operation, for both twins).

fn kv_compare_and_inc_u256(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 32],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU256MutatorOp::Add,
        operand_be: amount_be,
        expected_seq: Some(expected_seq),
    }
}

fn kv_compare_and_dec_u256(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 32],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU256MutatorOp::Sub,
        operand_be: amount_be,
        expected_seq: Some(expected_seq),
    }
}

fn kv_compare_and_set_u256(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    value_be: [u8; 32],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU256 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU256MutatorOp::Set,
        operand_be: value_be,
        expected_seq: Some(expected_seq),
    }
}

fn kv_compare_and_add_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 8],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU64MutatorOp::Add,
        operand_be: amount_be,
        expected_seq: Some(expected_seq),
    }
}

fn kv_compare_and_sub_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    amount_be: [u8; 8],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU64MutatorOp::Sub,
        operand_be: amount_be,
        expected_seq: Some(expected_seq),
    }
}

fn kv_compare_and_set_u64(
    project_id: &str,
    scope_id: &str,
    key: Vec<u8>,
    value_be: [u8; 8],
    expected_seq: u64,
) -> Mutation {
    Mutation::KvMutateU64 {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        key,
        op: KvU64MutatorOp::Set,
        operand_be: value_be,
        expected_seq: Some(expected_seq),
    }
}
