//! Event-stream doors: `emit_event` (a `Mutation::EmitEvent` through the one
//! write path), `read_event_stream` (pages of whole commits on a snapshot),
//! processor checkpoint ACKs (plain and watermark-batched) and
//! `reactive_processor_lag`. Each has an `*_as` twin: events need a KV grant
//! over their scope (read or write), checkpoints `GlobalAdmin`.

use crate::auth::{Call, authorize};
use crate::commit::mutation::Mutation;
use crate::commit::tx::Conditions;
use crate::commit::{CommitFinality, CommitResult};
use crate::error::AedbError;
use crate::event::checkpoint::CheckpointRule;
use crate::event::outbox::read_page;
use crate::event::{EventStreamPage, ReactiveProcessorLag, checkpoint, registry};
use crate::instance::{AedbInstance, CheckpointMove, WritePlan, engine};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;

impl AedbInstance {
    /// Appends an event to the outbox in its own durable commit; readers see
    /// it from that commit on. `payload_json` must be JSON.
    pub async fn emit_event(
        &self,
        project_id: &str,
        scope_id: &str,
        topic: &str,
        event_key: String,
        payload_json: String,
    ) -> Result<CommitResult, AedbError> {
        let m = emit(project_id, scope_id, topic, event_key, payload_json);
        let call = self.call("emit_event", None);
        self.commit_durable(call, m).await
    }

    /// `emit_event` for `caller` (a KV write grant over the scope).
    pub async fn emit_event_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        topic: &str,
        event_key: String,
        payload_json: String,
    ) -> Result<CommitResult, AedbError> {
        let m = emit(project_id, scope_id, topic, event_key, payload_json);
        let call = self.call("emit_event_as", Some(caller));
        self.commit_durable(call, m).await
    }

    async fn read_events_for(
        &self,
        call: Call<'_>,
        topic_filter: Option<&str>,
        from_commit_seq_exclusive: u64,
        limit: usize,
        consistency: ConsistencyMode,
    ) -> Result<EventStreamPage, AedbError> {
        let r = (|| {
            let txn = self.read_at(consistency).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            if call.caller.is_none() {
                authorize(&cat, &call, &Need::Global)?;
            }
            let limit = limit.min(self.config().max_scan_rows).max(1);
            let max_scan = self.config().max_scan_rows;
            let mut keep = |e: &crate::event::EventOutboxRecord| -> Result<bool, AedbError> {
                if topic_filter.is_some_and(|t| t != e.topic) {
                    return Ok(false);
                }
                let need = Need::Events {
                    project: &e.project_id,
                    scope: &e.scope_id,
                    write: false,
                };
                Ok(authorize(&cat, &call, &need).is_ok())
            };
            read_page(&txn, from_commit_seq_exclusive, limit, max_scan, &mut keep)
        })();
        self.audited(&call, r).await
    }

    /// Events committed after `from_commit_seq_exclusive` (of `topic_filter`
    /// only, if given), oldest first, in whole commits: up to `limit` events
    /// (and `max_scan_rows`), a commit with more returned whole. Continue from
    /// the page's `next_commit_seq`.
    pub async fn read_event_stream(
        &self,
        topic_filter: Option<&str>,
        from_commit_seq_exclusive: u64,
        limit: usize,
        consistency: ConsistencyMode,
    ) -> Result<EventStreamPage, AedbError> {
        let call = self.call("read_event_stream", None);
        self.read_events_for(
            call,
            topic_filter,
            from_commit_seq_exclusive,
            limit,
            consistency,
        )
        .await
    }

    /// `read_event_stream` for `caller`: only the events of scopes it may
    /// read (a KV read grant over the scope).
    pub async fn read_event_stream_as(
        &self,
        caller: &CallerContext,
        topic_filter: Option<&str>,
        from_commit_seq_exclusive: u64,
        limit: usize,
        consistency: ConsistencyMode,
    ) -> Result<EventStreamPage, AedbError> {
        let call = self.call_by("read_event_stream_as", Some(caller));
        self.read_events_for(
            call,
            topic_filter,
            from_commit_seq_exclusive,
            limit,
            consistency,
        )
        .await
    }

    async fn ack_for(
        &self,
        call: Call<'_>,
        processor_name: &str,
        checkpoint_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let plan = WritePlan {
            mutations: Vec::new(),
            conditions: Conditions::default(),
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: Some(CheckpointMove {
                name: processor_name.to_string(),
                seq: checkpoint_seq,
                rule: CheckpointRule::Ack,
            }),
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    /// Records that processor `processor_name` has handled every event up to
    /// `checkpoint_seq` (durably; forward only: an older seq changes
    /// nothing). Works before any processor was started.
    pub async fn ack_reactive_processor_checkpoint(
        &self,
        processor_name: &str,
        checkpoint_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("ack_reactive_processor_checkpoint", None);
        self.ack_for(call, processor_name, checkpoint_seq).await
    }

    /// `ack_reactive_processor_checkpoint` for `caller`, who must be the
    /// processor's registered `caller_id` or hold `GlobalAdmin`.
    pub async fn ack_reactive_processor_checkpoint_as(
        &self,
        caller: CallerContext,
        processor_name: &str,
        checkpoint_seq: u64,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("ack_reactive_processor_checkpoint_as", Some(caller));
        self.ack_for(call, processor_name, checkpoint_seq).await
    }

    async fn ack_batched_for(
        &self,
        call: Call<'_>,
        processor_name: &str,
        checkpoint_seq: u64,
        watermark_commits: u64,
    ) -> Result<Option<CommitResult>, AedbError> {
        let key = (
            call.user().unwrap_or_default().to_string(),
            processor_name.to_string(),
        );
        let last = self.acked().get(&key).copied();
        if last.is_some_and(|l| checkpoint_seq < l.saturating_add(watermark_commits.max(1))) {
            return Ok(None);
        }
        let r = self.ack_for(call, processor_name, checkpoint_seq).await?;
        // Only a persisted checkpoint moves the watermark.
        self.acked().insert(key, checkpoint_seq);
        Ok(Some(r))
    }

    fn acked(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), u64>> {
        self.inner.acked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `ack_reactive_processor_checkpoint`, persisted only when the seq has
    /// advanced `watermark_commits` past the last persisted one (`None`:
    /// not persisted this time). The watermark is kept per caller and
    /// processor, and moves only after its commit succeeded.
    pub async fn ack_reactive_processor_checkpoint_batched(
        &self,
        processor_name: &str,
        checkpoint_seq: u64,
        watermark_commits: u64,
    ) -> Result<Option<CommitResult>, AedbError> {
        let call = self.call("ack_reactive_processor_checkpoint_batched", None);
        self.ack_batched_for(call, processor_name, checkpoint_seq, watermark_commits)
            .await
    }

    /// `ack_reactive_processor_checkpoint_batched` for `caller` (as
    /// `ack_reactive_processor_checkpoint_as`).
    pub async fn ack_reactive_processor_checkpoint_batched_as(
        &self,
        caller: CallerContext,
        processor_name: &str,
        checkpoint_seq: u64,
        watermark_commits: u64,
    ) -> Result<Option<CommitResult>, AedbError> {
        let call = self.call("ack_reactive_processor_checkpoint_batched_as", Some(caller));
        self.ack_batched_for(call, processor_name, checkpoint_seq, watermark_commits)
            .await
    }

    async fn lag_for(
        &self,
        call: Call<'_>,
        processor_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<ReactiveProcessorLag, AedbError> {
        let r = (|| {
            let txn = self.read_at(consistency).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            let own = match call.user() {
                Some(id) => registry::get(&txn, processor_name)?
                    .is_some_and(|r| r.options.caller_id.as_deref() == Some(id)),
                None => false,
            };
            if !own {
                let need = Need::Processor {
                    name: processor_name,
                };
                authorize(&cat, &call, &need)?;
            }
            let at = checkpoint::read(&txn, processor_name)?;
            Ok(ReactiveProcessorLag {
                processor_name: processor_name.to_string(),
                checkpoint_seq: at,
                head_seq: txn.seq(),
                lag_commits: txn.seq().saturating_sub(at),
            })
        })();
        self.audited(&call, r).await
    }

    /// How far processor `processor_name`'s checkpoint trails the head
    /// (a processor never acknowledged: checkpoint 0).
    pub async fn reactive_processor_lag(
        &self,
        processor_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<ReactiveProcessorLag, AedbError> {
        let call = self.call("reactive_processor_lag", None);
        self.lag_for(call, processor_name, consistency).await
    }

    /// `reactive_processor_lag` for `caller`, who must be the processor's
    /// registered `caller_id` or hold `GlobalAdmin`.
    pub async fn reactive_processor_lag_as(
        &self,
        caller: &CallerContext,
        processor_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<ReactiveProcessorLag, AedbError> {
        let call = self.call_by("reactive_processor_lag_as", Some(caller));
        self.lag_for(call, processor_name, consistency).await
    }
}

fn emit(
    project_id: &str,
    scope_id: &str,
    topic: &str,
    event_key: String,
    payload_json: String,
) -> Mutation {
    Mutation::EmitEvent {
        project_id: project_id.into(),
        scope_id: scope_id.into(),
        topic: topic.into(),
        event_key,
        payload_json,
    }
}
