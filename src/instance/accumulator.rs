//! Accumulator write doors: DDL, deltas, exposures, each a `Mutation`
//! through the one write path, with an `*_as` twin. Writes need a KV write
//! grant over the whole scope (0.1.9's rule), DDL `TableDdl` or an admin
//! right. The reads are in `accumulator_read.rs`.

use crate::catalog::DdlOperation;
use crate::catalog::schema::AccumulatorValueType;
use crate::commit::CommitResult;
use crate::commit::mutation::Mutation;
use crate::error::AedbError;
use crate::instance::AedbInstance;
use crate::permission::CallerContext;

impl AedbInstance {
    /// `create_accumulator_with_options` with a 10 % exposure margin and no
    /// exposure TTL (0.1.9's defaults).
    pub async fn create_accumulator(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        dedupe_retain_commits: Option<u64>,
        snapshot_every: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = create_accumulator_with_options(
            project_id,
            scope_id,
            accumulator_name,
            dedupe_retain_commits,
            snapshot_every,
            1_000,
            None,
        );
        self.commit_durable(self.call("create_accumulator", None), m)
            .await
    }

    /// `create_accumulator` for `caller` (needs `TableDdl` on the project, or an
    /// admin or owner right over the scope).
    pub async fn create_accumulator_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        dedupe_retain_commits: Option<u64>,
        snapshot_every: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = create_accumulator_with_options(
            project_id,
            scope_id,
            accumulator_name,
            dedupe_retain_commits,
            snapshot_every,
            1_000,
            None,
        );
        self.commit_durable(self.call("create_accumulator_as", Some(caller)), m)
            .await
    }

    /// `accumulate_with_release` without a release.
    pub async fn accumulate(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        delta: i64,
        dedupe_key: String,
        order_key: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = accumulate_with_release(
            project_id,
            scope_id,
            accumulator_name,
            delta,
            dedupe_key,
            order_key,
            None,
        );
        self.commit_durable(self.call("accumulate", None), m).await
    }

    /// `accumulate` for `caller` (needs `KvWrite` over the whole scope, with no
    /// prefix, or an admin or owner right).
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn accumulate_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        delta: i64,
        dedupe_key: String,
        order_key: u64,
    ) -> Result<CommitResult, AedbError> {
        let m = accumulate_with_release(
            project_id,
            scope_id,
            accumulator_name,
            delta,
            dedupe_key,
            order_key,
            None,
        );
        self.commit_durable(self.call("accumulate_as", Some(caller)), m)
            .await
    }

    /// Creates an accumulator (an existing one is `AccumulatorAlreadyExists`): deltas are deduplicated for `dedupe_retain_commits` commits (`None`: always), the projector materializes the value every `snapshot_every` deltas, exposures may not reserve the last `exposure_margin_bps` basis points of the effective value, and expire after `exposure_ttl_commits` commits (`None`: never).
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn create_accumulator_with_options(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        dedupe_retain_commits: Option<u64>,
        snapshot_every: u64,
        exposure_margin_bps: u32,
        exposure_ttl_commits: Option<u64>,
    ) -> Result<CommitResult, AedbError> {
        let m = create_accumulator_with_options(
            project_id,
            scope_id,
            accumulator_name,
            dedupe_retain_commits,
            snapshot_every,
            exposure_margin_bps,
            exposure_ttl_commits,
        );
        self.commit_durable(self.call("create_accumulator_with_options", None), m)
            .await
    }

    /// `create_accumulator_with_options` for `caller`.
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn create_accumulator_with_options_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        dedupe_retain_commits: Option<u64>,
        snapshot_every: u64,
        exposure_margin_bps: u32,
        exposure_ttl_commits: Option<u64>,
    ) -> Result<CommitResult, AedbError> {
        let m = create_accumulator_with_options(
            project_id,
            scope_id,
            accumulator_name,
            dedupe_retain_commits,
            snapshot_every,
            exposure_margin_bps,
            exposure_ttl_commits,
        );
        self.commit_durable(
            self.call("create_accumulator_with_options_as", Some(caller)),
            m,
        )
        .await
    }

    /// Drops an accumulator and everything it holds.
    pub async fn drop_accumulator(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
    ) -> Result<CommitResult, AedbError> {
        let m = drop_accumulator(project_id, scope_id, accumulator_name);
        self.commit_durable(self.call("drop_accumulator", None), m)
            .await
    }

    /// `drop_accumulator` for `caller`.
    pub async fn drop_accumulator_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
    ) -> Result<CommitResult, AedbError> {
        let m = drop_accumulator(project_id, scope_id, accumulator_name);
        self.commit_durable(self.call("drop_accumulator_as", Some(caller)), m)
            .await
    }

    /// Adds `delta` exactly once (a repeat of `dedupe_key` within the dedupe window is a no-op reported as `IdempotencyOutcome::Duplicate` of the first commit; `order_key` must exceed the last one, else `OrderKeyNotIncreasing`), and releases exposure `release_exposure_id` (if open) in the same commit.
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn accumulate_with_release(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        delta: i64,
        dedupe_key: String,
        order_key: u64,
        release_exposure_id: Option<String>,
    ) -> Result<CommitResult, AedbError> {
        let m = accumulate_with_release(
            project_id,
            scope_id,
            accumulator_name,
            delta,
            dedupe_key,
            order_key,
            release_exposure_id,
        );
        self.commit_durable(self.call("accumulate_with_release", None), m)
            .await
    }

    /// `accumulate_with_release` for `caller`.
    #[allow(clippy::too_many_arguments)] // 0.1.9's signature
    pub async fn accumulate_with_release_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        delta: i64,
        dedupe_key: String,
        order_key: u64,
        release_exposure_id: Option<String>,
    ) -> Result<CommitResult, AedbError> {
        let m = accumulate_with_release(
            project_id,
            scope_id,
            accumulator_name,
            delta,
            dedupe_key,
            order_key,
            release_exposure_id,
        );
        self.commit_durable(self.call("accumulate_with_release_as", Some(caller)), m)
            .await
    }

    /// Reserves `amount` under `exposure_id` against the effective value: refused with `ExposureRejected` (and counted) when it exceeds what is available.
    pub async fn expose_accumulator(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        amount: i64,
        exposure_id: String,
    ) -> Result<CommitResult, AedbError> {
        let m = expose_accumulator(project_id, scope_id, accumulator_name, amount, exposure_id);
        self.commit_durable(self.call("expose_accumulator", None), m)
            .await
    }

    /// `expose_accumulator` for `caller`.
    pub async fn expose_accumulator_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        amount: i64,
        exposure_id: String,
    ) -> Result<CommitResult, AedbError> {
        let m = expose_accumulator(project_id, scope_id, accumulator_name, amount, exposure_id);
        self.commit_durable(self.call("expose_accumulator_as", Some(caller)), m)
            .await
    }

    /// Reserves every `(amount, exposure_id)`, all or none.
    pub async fn expose_accumulator_many_atomic(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        exposures: Vec<(i64, String)>,
    ) -> Result<CommitResult, AedbError> {
        let m = expose_accumulator_many_atomic(project_id, scope_id, accumulator_name, exposures);
        self.commit_durable(self.call("expose_accumulator_many_atomic", None), m)
            .await
    }

    /// `expose_accumulator_many_atomic` for `caller`.
    pub async fn expose_accumulator_many_atomic_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        exposures: Vec<(i64, String)>,
    ) -> Result<CommitResult, AedbError> {
        let m = expose_accumulator_many_atomic(project_id, scope_id, accumulator_name, exposures);
        self.commit_durable(
            self.call("expose_accumulator_many_atomic_as", Some(caller)),
            m,
        )
        .await
    }

    /// Releases an open exposure (a no-op if none is open under the id).
    pub async fn release_accumulator_exposure(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        exposure_id: String,
    ) -> Result<CommitResult, AedbError> {
        let m = release_accumulator_exposure(project_id, scope_id, accumulator_name, exposure_id);
        self.commit_durable(self.call("release_accumulator_exposure", None), m)
            .await
    }

    /// `release_accumulator_exposure` for `caller`.
    pub async fn release_accumulator_exposure_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        exposure_id: String,
    ) -> Result<CommitResult, AedbError> {
        let m = release_accumulator_exposure(project_id, scope_id, accumulator_name, exposure_id);
        self.commit_durable(
            self.call("release_accumulator_exposure_as", Some(caller)),
            m,
        )
        .await
    }

    /// Runs the projector now: every pending delta into the materialized value.
    pub async fn project_accumulator(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
    ) -> Result<CommitResult, AedbError> {
        let m = project_accumulator(project_id, scope_id, accumulator_name);
        self.commit_durable(self.call("project_accumulator", None), m)
            .await
    }

    /// `project_accumulator` for `caller`.
    pub async fn project_accumulator_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
    ) -> Result<CommitResult, AedbError> {
        let m = project_accumulator(project_id, scope_id, accumulator_name);
        self.commit_durable(self.call("project_accumulator_as", Some(caller)), m)
            .await
    }
}

// The mutation each door commits (one place per operation, for both twins).

fn create_accumulator_with_options(
    project_id: &str,
    scope_id: &str,
    accumulator_name: &str,
    dedupe_retain_commits: Option<u64>,
    snapshot_every: u64,
    exposure_margin_bps: u32,
    exposure_ttl_commits: Option<u64>,
) -> Mutation {
    Mutation::Ddl(DdlOperation::CreateAccumulator {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        if_not_exists: false,
        value_type: AccumulatorValueType::BigInt,
        dedupe_retain_commits,
        snapshot_every,
        exposure_margin_bps,
        exposure_ttl_commits,
    })
}

fn drop_accumulator(project_id: &str, scope_id: &str, accumulator_name: &str) -> Mutation {
    Mutation::Ddl(DdlOperation::DropAccumulator {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        if_exists: false,
    })
}

fn accumulate_with_release(
    project_id: &str,
    scope_id: &str,
    accumulator_name: &str,
    delta: i64,
    dedupe_key: String,
    order_key: u64,
    release_exposure_id: Option<String>,
) -> Mutation {
    Mutation::Accumulate {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        delta,
        dedupe_key,
        order_key,
        release_exposure_id,
    }
}

fn expose_accumulator(
    project_id: &str,
    scope_id: &str,
    accumulator_name: &str,
    amount: i64,
    exposure_id: String,
) -> Mutation {
    Mutation::ExposeAccumulator {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        amount,
        exposure_id,
    }
}

fn expose_accumulator_many_atomic(
    project_id: &str,
    scope_id: &str,
    accumulator_name: &str,
    exposures: Vec<(i64, String)>,
) -> Mutation {
    Mutation::ExposeAccumulatorBatch {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        exposures,
    }
}

fn release_accumulator_exposure(
    project_id: &str,
    scope_id: &str,
    accumulator_name: &str,
    exposure_id: String,
) -> Mutation {
    Mutation::ReleaseAccumulatorExposure {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
        exposure_id,
    }
}

fn project_accumulator(project_id: &str, scope_id: &str, accumulator_name: &str) -> Mutation {
    Mutation::ProjectAccumulator {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        accumulator_name: accumulator_name.into(),
    }
}
