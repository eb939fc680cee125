//! Effect batches: accumulator effects, keyed-state writes and events of one
//! scope, committed durably in one commit if every precondition holds. The
//! preconditions are read assertions, checked inside the write transaction
//! before any effect, so a rejected batch writes nothing (but its rejection,
//! as any failed assertion, to `_system.app.assertion_audit`).

use crate::commit::CommitFinality;
use crate::commit::mutation::Mutation;
use crate::commit::tx::{AssertionActual, Conditions, ReadAssertion};
use crate::engine_interface::{
    BatchRejected, EffectBatch, EffectBatchCommitResult, EffectOperation, EffectPrecondition,
};
use crate::error::AedbError;
use crate::instance::{AedbInstance, WritePlan};
use crate::vocab::types::Value;

impl AedbInstance {
    /// Applies `batch` to `project_id.scope_id` in one durable commit:
    /// `Applied` with the commit, or `Rejected` naming the first precondition
    /// that failed and the value it saw (nothing written). Any other failure
    /// (an effect's own error, a missing accumulator) is an error, also with
    /// nothing written.
    pub async fn commit_effect_batch(
        &self,
        project_id: &str,
        scope_id: &str,
        batch: EffectBatch,
    ) -> Result<EffectBatchCommitResult, AedbError> {
        let p = || project_id.to_string();
        let s = || scope_id.to_string();
        let assertions = batch
            .preconditions
            .into_iter()
            .map(|pre| match pre {
                EffectPrecondition::RequireAvailable {
                    accumulator,
                    min_amount,
                } => ReadAssertion::AccumulatorAvailableAtLeast {
                    project_id: p(),
                    scope_id: s(),
                    accumulator_name: accumulator,
                    min_amount,
                },
                EffectPrecondition::RequireExposureOk {
                    accumulator,
                    amount,
                } => ReadAssertion::AccumulatorExposureWithinMargin {
                    project_id: p(),
                    scope_id: s(),
                    accumulator_name: accumulator,
                    additional_exposure: amount,
                },
            })
            .collect();
        let mut mutations: Vec<Mutation> = batch
            .effects
            .into_iter()
            .map(|effect| match effect {
                EffectOperation::Accumulate {
                    accumulator,
                    delta,
                    dedupe_id,
                    order_key,
                } => Mutation::Accumulate {
                    project_id: p(),
                    scope_id: s(),
                    accumulator_name: accumulator,
                    delta,
                    dedupe_key: dedupe_id,
                    order_key,
                    release_exposure_id: None,
                },
                EffectOperation::Expose {
                    accumulator,
                    amount,
                    dedupe_id,
                } => Mutation::ExposeAccumulator {
                    project_id: p(),
                    scope_id: s(),
                    accumulator_name: accumulator,
                    amount,
                    exposure_id: dedupe_id,
                },
                EffectOperation::ReleaseExposure {
                    accumulator,
                    dedupe_id,
                } => Mutation::ReleaseAccumulatorExposure {
                    project_id: p(),
                    scope_id: s(),
                    accumulator_name: accumulator,
                    exposure_id: dedupe_id,
                },
                EffectOperation::Write {
                    keyed_state,
                    key,
                    value,
                } => Mutation::Upsert {
                    project_id: p(),
                    scope_id: s(),
                    table_name: keyed_state,
                    primary_key: vec![key],
                    row: value,
                },
                EffectOperation::Delete { keyed_state, key } => Mutation::Delete {
                    project_id: p(),
                    scope_id: s(),
                    table_name: keyed_state,
                    primary_key: vec![key],
                },
            })
            .collect();
        mutations.extend(batch.events.into_iter().map(|e| Mutation::EmitEvent {
            project_id: p(),
            scope_id: s(),
            topic: e.event_name,
            event_key: e.event_key,
            payload_json: e.data_json,
        }));
        if mutations.is_empty() {
            return Err(AedbError::Validation(
                "commit_effect_batch: a batch needs at least one effect or event".into(),
            ));
        }
        let plan = WritePlan {
            mutations,
            conditions: Conditions {
                assertions,
                ..Conditions::default()
            },
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: None,
        };
        let call = self.call("commit_effect_batch", None);
        match self.write_planned(call, plan).await {
            Ok(r) => Ok(EffectBatchCommitResult::Applied(r)),
            Err(AedbError::AssertionFailed {
                index,
                assertion,
                actual,
            }) => match rejected(&assertion, &actual) {
                Some(r) => Ok(EffectBatchCommitResult::Rejected(r)),
                None => Err(AedbError::AssertionFailed {
                    index,
                    assertion,
                    actual,
                }),
            },
            Err(e) => Err(e),
        }
    }
}

/// The rejection a failed precondition stands for (0.1.9's codes and text).
fn rejected(assertion: &ReadAssertion, actual: &AssertionActual) -> Option<BatchRejected> {
    let (error_code, failed_precondition) = match assertion {
        ReadAssertion::AccumulatorAvailableAtLeast {
            accumulator_name,
            min_amount,
            ..
        } => (
            "available_below_min",
            format!("RequireAvailable({accumulator_name}, min={min_amount})"),
        ),
        ReadAssertion::AccumulatorExposureWithinMargin {
            accumulator_name,
            additional_exposure,
            ..
        } => (
            "exposure_margin_exceeded",
            format!("RequireExposureOk({accumulator_name}, amount={additional_exposure})"),
        ),
        _ => return None,
    };
    let actual_value = match actual {
        AssertionActual::Value(Value::Integer(v)) => *v,
        AssertionActual::Value(Value::Timestamp(v)) => *v,
        AssertionActual::Value(Value::U64(v)) => i64::try_from(*v).unwrap_or(i64::MAX),
        AssertionActual::Version(v) | AssertionActual::Count(v) => {
            i64::try_from(*v).unwrap_or(i64::MAX)
        }
        AssertionActual::Bool(b) => i64::from(*b),
        _ => 0,
    };
    Some(BatchRejected {
        error_code,
        failed_precondition,
        actual_value,
    })
}
