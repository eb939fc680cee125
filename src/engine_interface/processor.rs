//! Pull-based processors: `processor_pull` reads the events of one topic
//! after a processor's checkpoint; `processor_commit` and
//! `ProcessorContext::commit` apply the state derived from them and move the
//! checkpoint in one durable commit. The commit carries a checkpoint rule
//! (`CheckpointRule`): it fails with `Conflict`, writing nothing, when the
//! checkpoint shows the events were applied already, so every event is
//! applied exactly once however often a crashed or racing worker retries.

use std::sync::Mutex;

use crate::auth::{Call, authorize};
use crate::commit::CommitFinality;
use crate::commit::CommitResult;
use crate::commit::mutation::Mutation;
use crate::commit::tx::{Conditions, ReadSet};
use crate::engine_interface::keyed_state::row_read;
use crate::engine_interface::{KeyedStateQueryRequest, ProcessorPullResult};
use crate::error::AedbError;
use crate::event::EventOutboxRecord;
use crate::event::checkpoint::{self, CheckpointRule};
use crate::event::outbox::read_page;
use crate::instance::{AedbInstance, CheckpointMove, WritePlan, engine};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;
use crate::vocab::types::{Row, Value};

impl AedbInstance {
    /// Events of topic `event_name` after `after` (the processor's stored
    /// checkpoint when `None`), in whole commits, on the latest snapshot.
    async fn pull_after(
        &self,
        call: Call<'_>,
        event_name: &str,
        processor_id: &str,
        after: Option<u64>,
        max_count: usize,
    ) -> Result<ProcessorPullResult, AedbError> {
        if max_count == 0 {
            return Err(AedbError::Validation(format!(
                "{}: max_count must be at least 1",
                call.name
            )));
        }
        checkpoint::check_name(processor_id)?;
        let r = (|| {
            let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            authorize(&cat, &call, &Need::Processor { name: processor_id })?;
            let stored = checkpoint::read(&txn, processor_id)?;
            let from = after.unwrap_or(stored);
            let max_scan = self.config().max_scan_rows;
            let mut keep = |e: &EventOutboxRecord| Ok(e.topic == event_name);
            let page = read_page(&txn, from, max_count, max_scan, &mut keep)?;
            Ok(ProcessorPullResult {
                last_commit_seq: page.next_commit_seq.unwrap_or(from),
                events: page.events,
                checkpoint_seq: stored,
                head_seq: txn.seq(),
            })
        })();
        self.audited(&call, r).await
    }

    /// The events of topic `event_name` after processor `processor_id`'s
    /// checkpoint, oldest first, in whole commits: up to `max_count` events
    /// (a commit with more is returned whole). Commit what they derive with
    /// `processor_commit(processor_id, last_commit_seq, ...)`.
    pub async fn processor_pull(
        &self,
        event_name: &str,
        processor_id: &str,
        max_count: usize,
    ) -> Result<ProcessorPullResult, AedbError> {
        let call = self.call("processor_pull", None);
        self.pull_after(call, event_name, processor_id, None, max_count)
            .await
    }

    /// `processor_pull` for `caller`, who needs `GlobalAdmin` or to be the
    /// processor's registered caller.
    pub async fn processor_pull_as(
        &self,
        caller: CallerContext,
        event_name: &str,
        processor_id: &str,
        max_count: usize,
    ) -> Result<ProcessorPullResult, AedbError> {
        let call = self.call("processor_pull_as", Some(caller));
        self.pull_after(call, event_name, processor_id, None, max_count)
            .await
    }

    /// Applies `mutations` and moves processor `processor_id`'s checkpoint to
    /// `checkpoint_seq` in one durable commit. With mutations, the stored
    /// checkpoint must be below `checkpoint_seq`, else the events they derive
    /// from were applied already and the commit is `Conflict` (nothing
    /// written); without, it is an acknowledgement (forward only).
    /// `checkpoint_seq` 0 commits the mutations alone.
    pub async fn processor_commit(
        &self,
        processor_id: &str,
        checkpoint_seq: u64,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("processor_commit", None);
        self.processor_commit_for(call, processor_id, checkpoint_seq, mutations)
            .await
    }

    /// `processor_commit` for `caller`: moving the checkpoint needs
    /// `GlobalAdmin` or the processor's registered caller, and every mutation
    /// the caller's grant.
    pub async fn processor_commit_as(
        &self,
        caller: CallerContext,
        processor_id: &str,
        checkpoint_seq: u64,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("processor_commit_as", Some(caller));
        self.processor_commit_for(call, processor_id, checkpoint_seq, mutations)
            .await
    }

    async fn processor_commit_for(
        &self,
        call: Call<'static>,
        processor_id: &str,
        checkpoint_seq: u64,
        mutations: Vec<Mutation>,
    ) -> Result<CommitResult, AedbError> {
        checkpoint::check_name(processor_id)?;
        if mutations.is_empty() && checkpoint_seq == 0 {
            return Err(AedbError::Validation(
                "processor_commit: needs mutations or a checkpoint to move to".into(),
            ));
        }
        let rule = if mutations.is_empty() {
            CheckpointRule::Ack
        } else {
            CheckpointRule::Below
        };
        let checkpoint = (checkpoint_seq > 0).then(|| CheckpointMove {
            name: processor_id.to_string(),
            seq: checkpoint_seq,
            rule,
        });
        let plan = WritePlan {
            mutations,
            conditions: Conditions::default(),
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint,
            compose: None,
        };
        self.write_planned(call, plan).await
    }

    /// A unit of processor work on `project_id.scope_id`: pull events of
    /// `source_event`, read and stage writes, then `commit` them with the
    /// checkpoint.
    pub fn processor_context<'a>(
        &'a self,
        project_id: &str,
        scope_id: &str,
        processor_id: &str,
        source_event: &str,
    ) -> ProcessorContext<'a> {
        self.context_for(None, (project_id, scope_id), processor_id, source_event)
    }

    /// `processor_context` whose every pull, read and commit is `caller`'s.
    pub fn processor_context_as<'a>(
        &'a self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        processor_id: &str,
        source_event: &str,
    ) -> ProcessorContext<'a> {
        let at = (project_id, scope_id);
        self.context_for(Some(caller), at, processor_id, source_event)
    }

    fn context_for<'a>(
        &'a self,
        caller: Option<CallerContext>,
        (project_id, scope_id): (&str, &str),
        processor_id: &str,
        source_event: &str,
    ) -> ProcessorContext<'a> {
        ProcessorContext {
            db: self,
            caller,
            project_id: project_id.to_string(),
            scope_id: scope_id.to_string(),
            processor_id: processor_id.to_string(),
            source_event: source_event.to_string(),
            pending: Vec::new(),
            pulled_from: None,
            position: 0,
            reads: Mutex::default(),
        }
    }
}

/// Staged processor work: the events it pulled, the rows it read, the writes
/// it will make. Nothing is written before `commit`, which applies the writes
/// and moves the checkpoint past the pulled events in one commit, provided
/// the checkpoint is still where the first pull found it and every row read
/// is unchanged (else `Conflict`: pull again in a new context).
pub struct ProcessorContext<'a> {
    db: &'a AedbInstance,
    /// Whose calls its pulls, reads and commit are (`None`: plain calls).
    caller: Option<CallerContext>,
    project_id: String,
    scope_id: String,
    processor_id: String,
    source_event: String,
    pending: Vec<Mutation>,
    /// The stored checkpoint the first pull read after.
    pulled_from: Option<u64>,
    /// The last commit the pulls covered.
    position: u64,
    /// Rows read from the database, at the versions read, and the oldest
    /// snapshot a read used (behind a lock: `read` takes `&self`).
    reads: Mutex<(ReadSet, Option<u64>)>,
}

impl ProcessorContext<'_> {
    fn call(&self, name: &'static str) -> Call<'static> {
        self.db.call(name, self.caller.clone())
    }

    /// The next events of the source topic: after the processor's checkpoint
    /// on the first pull, after the previous pull's on the next.
    pub async fn pull(&mut self, max_count: usize) -> Result<Vec<EventOutboxRecord>, AedbError> {
        let call = self.call("ProcessorContext::pull");
        let after = self.pulled_from.map(|_| self.position);
        let r = self
            .db
            .pull_after(
                call,
                &self.source_event,
                &self.processor_id,
                after,
                max_count,
            )
            .await?;
        self.pulled_from.get_or_insert(r.checkpoint_seq);
        self.position = r.last_commit_seq;
        Ok(r.events)
    }

    fn target(&self, keyed_state: &str) -> (String, String, String) {
        (
            self.project_id.clone(),
            self.scope_id.clone(),
            keyed_state.to_string(),
        )
    }

    /// Stages writing (adding or replacing) the row under `key`.
    pub fn write(&mut self, keyed_state: &str, key: Value, value: Row) {
        let (project_id, scope_id, table_name) = self.target(keyed_state);
        self.pending.push(Mutation::Upsert {
            project_id,
            scope_id,
            table_name,
            primary_key: vec![key],
            row: value,
        });
    }

    /// Stages deleting the row under `key`.
    pub fn delete(&mut self, keyed_state: &str, key: Value) {
        let (project_id, scope_id, table_name) = self.target(keyed_state);
        self.pending.push(Mutation::Delete {
            project_id,
            scope_id,
            table_name,
            primary_key: vec![key],
        });
    }

    /// The row under `key`: as this context staged it, else as committed
    /// (and then remembered: `commit` fails if it changes meanwhile).
    pub async fn read(&self, keyed_state: &str, key: Value) -> Result<Option<Row>, AedbError> {
        if let Some(staged) = self.staged(keyed_state, &key) {
            return Ok(staged);
        }
        let call = self.call("ProcessorContext::read");
        let at = ConsistencyMode::AtLatest;
        let r = self
            .db
            .keyed_snapshot(&call, &self.project_id, &self.scope_id, keyed_state, at)
            .and_then(|s| Ok((s.row(&key)?, s.txn.seq())));
        let (row, seq) = self.db.audited(&call, r).await?;
        let version = row.as_ref().map_or(0, |(v, _)| *v);
        let entry = row_read(&self.project_id, &self.scope_id, keyed_state, key, version);
        let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
        reads.0.points.push(entry);
        reads.1 = Some(reads.1.map_or(seq, |b| b.min(seq)));
        Ok(row.map(|(_, r)| r))
    }

    /// The row this context's staged writes leave under `key`, if it staged any.
    fn staged(&self, keyed_state: &str, key: &Value) -> Option<Option<Row>> {
        self.pending.iter().rev().find_map(|m| match m {
            Mutation::Upsert {
                project_id,
                scope_id,
                table_name,
                primary_key,
                row,
            } if (project_id, scope_id, table_name.as_str())
                == (&self.project_id, &self.scope_id, keyed_state)
                && primary_key.as_slice() == std::slice::from_ref(key) =>
            {
                Some(Some(row.clone()))
            }
            Mutation::Delete {
                project_id,
                scope_id,
                table_name,
                primary_key,
            } if (project_id, scope_id, table_name.as_str())
                == (&self.project_id, &self.scope_id, keyed_state)
                && primary_key.as_slice() == std::slice::from_ref(key) =>
            {
                Some(None)
            }
            _ => None,
        })
    }

    /// Stages what `update_fn` makes of the row under `key` (a row: write
    /// it; `None`: delete it). The row read is remembered, as by `read`.
    pub async fn update<F>(
        &mut self,
        keyed_state: &str,
        key: Value,
        update_fn: F,
    ) -> Result<(), AedbError>
    where
        F: FnOnce(Option<Row>) -> Result<Option<Row>, AedbError>,
    {
        let current = self.read(keyed_state, key.clone()).await?;
        match update_fn(current)? {
            Some(next) => self.write(keyed_state, key, next),
            None => self.delete(keyed_state, key),
        }
        Ok(())
    }

    /// A page of keyed-state rows in an index's order (committed state, as
    /// `keyed_state_query_index` at the latest snapshot).
    pub async fn query_index(
        &self,
        keyed_state: &str,
        req: KeyedStateQueryRequest,
    ) -> Result<Vec<Row>, AedbError> {
        let at = (
            self.project_id.as_str(),
            self.scope_id.as_str(),
            keyed_state,
        );
        let call = self.call("ProcessorContext::query_index");
        self.db
            .query_index_for(call, at, req, ConsistencyMode::AtLatest)
            .await
    }

    /// Stages an accumulator delta (applied once per `dedupe_id`).
    pub fn accumulate(&mut self, accumulator: &str, delta: i64, dedupe_id: String, order_key: u64) {
        let (project_id, scope_id, accumulator_name) = self.target(accumulator);
        self.pending.push(Mutation::Accumulate {
            project_id,
            scope_id,
            accumulator_name,
            delta,
            dedupe_key: dedupe_id,
            order_key,
            release_exposure_id: None,
        });
    }

    /// The accumulator's committed value (staged deltas not included).
    pub async fn value(&self, accumulator: &str) -> Result<i64, AedbError> {
        let (p, s, at) = (&self.project_id, &self.scope_id, ConsistencyMode::AtLatest);
        match &self.caller {
            Some(c) => self.db.accumulator_value_as(c, p, s, accumulator, at).await,
            None => self.db.accumulator_value(p, s, accumulator, at).await,
        }
    }

    /// Stages an exposure of `amount` under `dedupe_id`.
    pub fn expose(&mut self, accumulator: &str, amount: i64, dedupe_id: String) {
        let (project_id, scope_id, accumulator_name) = self.target(accumulator);
        self.pending.push(Mutation::ExposeAccumulator {
            project_id,
            scope_id,
            accumulator_name,
            amount,
            exposure_id: dedupe_id,
        });
    }

    /// Stages releasing the exposure `dedupe_id`.
    pub fn release_exposure(&mut self, accumulator: &str, dedupe_id: String) {
        let (project_id, scope_id, accumulator_name) = self.target(accumulator);
        self.pending.push(Mutation::ReleaseAccumulatorExposure {
            project_id,
            scope_id,
            accumulator_name,
            exposure_id: dedupe_id,
        });
    }

    /// Stages an event (emitted by the commit).
    pub fn emit(&mut self, event_name: &str, event_key: String, data_json: String) {
        let (project_id, scope_id, topic) = self.target(event_name);
        self.pending.push(Mutation::EmitEvent {
            project_id,
            scope_id,
            topic,
            event_key,
            payload_json: data_json,
        });
    }

    /// Commits the staged writes and moves the checkpoint past the pulled
    /// events, durably and in one commit. `Conflict` (nothing written) when
    /// the checkpoint moved since the first pull or a row read changed; a
    /// context that pulled nothing new and staged nothing commits nothing.
    pub async fn commit(self) -> Result<CommitResult, AedbError> {
        let Some(from) = self.pulled_from else {
            if self.pending.is_empty() {
                return Err(AedbError::Validation(
                    "ProcessorContext::commit: nothing pulled and nothing staged".into(),
                ));
            }
            return self.commit_plan(None).await;
        };
        let checkpoint = CheckpointMove {
            name: self.processor_id.clone(),
            seq: self.position,
            rule: CheckpointRule::From(from),
        };
        self.commit_plan(Some(checkpoint)).await
    }

    async fn commit_plan(
        self,
        checkpoint: Option<CheckpointMove>,
    ) -> Result<CommitResult, AedbError> {
        let call = self.call("ProcessorContext::commit");
        let (read_set, base_seq) = self.reads.into_inner().unwrap_or_else(|p| p.into_inner());
        let plan = WritePlan {
            mutations: self.pending,
            conditions: Conditions {
                read_set,
                base_seq: base_seq.unwrap_or(0),
                ..Conditions::default()
            },
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint,
            compose: None,
        };
        self.db.write_planned(call, plan).await
    }
}
