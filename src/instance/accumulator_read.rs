//! Accumulator reads on a snapshot chosen by `ConsistencyMode`: each is one
//! state read (`crate::accumulator::read`), however many deltas are pending.
//! They need a KV read grant over the accumulator's whole scope (0.1.9's
//! rule).

use crate::accumulator::read::AccView;
use crate::accumulator::{AccumulatorExposureMetrics, AccumulatorLag};
use crate::auth::{Call, authorize};
use crate::error::AedbError;
use crate::instance::{AedbInstance, engine};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;

impl AedbInstance {
    /// Runs `read` on the accumulator at the snapshot `consistency` picks,
    /// once `call` may read it.
    async fn acc_read<T>(
        &self,
        call: Call<'_>,
        (project_id, scope_id, accumulator_name): (&str, &str, &str),
        consistency: ConsistencyMode,
        read: impl FnOnce(&AccView) -> Result<T, AedbError>,
    ) -> Result<T, AedbError> {
        let r = (|| {
            let txn = self.read_at(consistency).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            let need = Need::Accumulator {
                project: project_id,
                scope: scope_id,
                name: accumulator_name,
                write: false,
            };
            authorize(&cat, &call, &need)?;
            let def = cat.accumulator(project_id, scope_id, accumulator_name)?;
            let name = format!("{project_id}.{scope_id}.{accumulator_name}");
            read(&AccView::load(&txn, def, name)?)
        })();
        self.audited(&call, r).await
    }

    /// The materialized value: refreshed every `snapshot_every` deltas, so it may trail them (`accumulator_value_strong` does not).
    pub async fn accumulator_value(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(self.call("accumulator_value", None), at, consistency, |v| {
            Ok(v.value())
        })
        .await
    }

    /// `accumulator_value` for `caller`.
    pub async fn accumulator_value_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_value_as", Some(caller)),
            at,
            consistency,
            |v| Ok(v.value()),
        )
        .await
    }

    /// The effective value: the materialized value plus every delta not yet projected, in the same snapshot (one read, however many are pending).
    pub async fn accumulator_value_strong(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call("accumulator_value_strong", None),
            at,
            consistency,
            |v| v.effective(),
        )
        .await
    }

    /// `accumulator_value_strong` for `caller`.
    pub async fn accumulator_value_strong_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_value_strong_as", Some(caller)),
            at,
            consistency,
            |v| v.effective(),
        )
        .await
    }

    /// How far the materialized value trails the deltas.
    pub async fn accumulator_lag(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<AccumulatorLag, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(self.call("accumulator_lag", None), at, consistency, |v| {
            Ok(v.lag())
        })
        .await
    }

    /// `accumulator_lag` for `caller`.
    pub async fn accumulator_lag_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<AccumulatorLag, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_lag_as", Some(caller)),
            at,
            consistency,
            |v| Ok(v.lag()),
        )
        .await
    }

    /// The open exposure (expired reservations left out).
    pub async fn accumulator_exposure(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call("accumulator_exposure", None),
            at,
            consistency,
            |v| Ok(v.exposure()),
        )
        .await
    }

    /// `accumulator_exposure` for `caller`.
    pub async fn accumulator_exposure_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_exposure_as", Some(caller)),
            at,
            consistency,
            |v| Ok(v.exposure()),
        )
        .await
    }

    /// What may still be reserved: the effective value less the margin, less the open exposure.
    pub async fn accumulator_available(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call("accumulator_available", None),
            at,
            consistency,
            |v| v.available(),
        )
        .await
    }

    /// `accumulator_available` for `caller`.
    pub async fn accumulator_available_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<i64, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_available_as", Some(caller)),
            at,
            consistency,
            |v| v.available(),
        )
        .await
    }

    /// The circuit breaker's figures.
    pub async fn accumulator_exposure_metrics(
        &self,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<AccumulatorExposureMetrics, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call("accumulator_exposure_metrics", None),
            at,
            consistency,
            |v| v.metrics(),
        )
        .await
    }

    /// `accumulator_exposure_metrics` for `caller`.
    pub async fn accumulator_exposure_metrics_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
        accumulator_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<AccumulatorExposureMetrics, AedbError> {
        let at = (project_id, scope_id, accumulator_name);
        self.acc_read(
            self.call_by("accumulator_exposure_metrics_as", Some(caller)),
            at,
            consistency,
            |v| v.metrics(),
        )
        .await
    }
}
