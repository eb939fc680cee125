//! Reactive processors: a handler run on tokio over the event stream, woken by
//! the commit-notification seam (no polling while idle, beyond
//! `idle_backoff_ms`), in batches of whole commits within the run limits,
//! with retries and backoff; a batch whose retries are exhausted goes to
//! `_system.app.reactive_processor_dead_letters` in the same commit that moves
//! the checkpoint past it. The configuration is durable (the registry), the
//! handlers and counters live with the process; `register_reactive_processor_handler`
//! after a restart resumes an enabled processor from its durable checkpoint.
//!
//! Invariant: the checkpoint never passes an event the handler has not
//! returned `Ok` for (or that was not dead-lettered), so a crash replays from
//! the checkpoint: at-least-once delivery, exactly-once when the handler's
//! writes are idempotent or committed with the checkpoint (`processor_commit`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::AccessMode;
use crate::commit::now_micros;
use crate::error::AedbError;
use crate::event::checkpoint::CheckpointRule;
use crate::event::registry::{self, ProcessorRecord};
use crate::event::{
    EventOutboxRecord, ReactiveProcessorHealth, ReactiveProcessorInfo, ReactiveProcessorOptions,
    ReactiveProcessorRuntimeStatus, ReactiveProcessorSloStatus, checkpoint,
};
use crate::instance::{AedbInstance, engine};
use crate::permission::CallerContext;
use crate::query::plan::ConsistencyMode;
use crate::storage::Finality;

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), AedbError>> + Send>>;
type Handler =
    Arc<dyn Fn(Arc<AedbInstance>, Vec<EventOutboxRecord>) -> HandlerFuture + Send + Sync>;

/// A running processor.
struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The processors of one instance: handlers, running tasks and counters.
#[derive(Default)]
pub(crate) struct Processors {
    handlers: Mutex<HashMap<String, Handler>>,
    running: Mutex<HashMap<String, Running>>,
    status: Mutex<HashMap<String, Arc<Mutex<ReactiveProcessorRuntimeStatus>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn boxed<F, Fut>(handler: F) -> Handler
where
    F: Fn(Arc<AedbInstance>, Vec<EventOutboxRecord>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), AedbError>> + Send + 'static,
{
    Arc::new(move |db, events| Box::pin(handler(db, events)))
}

fn check_options(name: &str, o: &ReactiveProcessorOptions) -> Result<(), AedbError> {
    checkpoint::check_name(name)?;
    if o.max_events_per_run == 0 || o.max_bytes_per_run == 0 || o.max_run_duration_ms == 0 {
        return Err(AedbError::Validation(format!(
            "processor {name:?}: max_events_per_run, max_bytes_per_run and max_run_duration_ms are at least 1"
        )));
    }
    if o.run_on_interval && o.run_interval_ms == 0 {
        return Err(AedbError::Validation(format!(
            "processor {name:?}: run_on_interval needs run_interval_ms of at least 1"
        )));
    }
    Ok(())
}

impl AedbInstance {
    fn processors(&self) -> &Processors {
        &self.inner.processors
    }

    /// Writes a registry entry in a durable commit of its own.
    async fn put_registry(&self, name: &str, record: ProcessorRecord) -> Result<(), AedbError> {
        let this = self.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            this.system_commit("processor_registry", Finality::Durable, None, |ctx| {
                registry::put(ctx.cat.txn, &name, &record)
            })
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("registry write failed: {e}"),
        })??;
        Ok(())
    }

    fn registry_entry(&self, name: &str) -> Result<Option<ProcessorRecord>, AedbError> {
        let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
        registry::get(&txn, name)
    }

    /// Starts (or restarts) processor `processor_name`: records its options
    /// durably as enabled, keeps `handler` for `resume_reactive_processor` and
    /// restarts, and runs it from its checkpoint. A production or secure
    /// instance needs `options.caller_id`, the processor's identity.
    pub async fn start_reactive_processor<F, Fut>(
        self: &Arc<Self>,
        processor_name: &str,
        options: ReactiveProcessorOptions,
        handler: F,
    ) -> Result<(), AedbError>
    where
        F: Fn(Arc<AedbInstance>, Vec<EventOutboxRecord>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), AedbError>> + Send + 'static,
    {
        check_options(processor_name, &options)?;
        if self.inner.mode != AccessMode::Open && options.caller_id.is_none() {
            return Err(AedbError::PermissionDenied(format!(
                "start_reactive_processor: processor {processor_name:?} needs options.caller_id on an instance opened with open_production or open_secure"
            )));
        }
        let record = ProcessorRecord {
            options: options.clone(),
            enabled: true,
            updated_at_micros: now_micros(),
        };
        self.put_registry(processor_name, record).await?;
        let handler = boxed(handler);
        lock(&self.processors().handlers).insert(processor_name.to_string(), handler.clone());
        self.spawn_runtime(processor_name, options, handler).await;
        Ok(())
    }

    /// Keeps `handler` for processor `processor_name` and, if the registry has
    /// it enabled (a restart), runs it from its durable checkpoint: true when
    /// it was resumed.
    pub async fn register_reactive_processor_handler<F, Fut>(
        self: &Arc<Self>,
        processor_name: &str,
        handler: F,
    ) -> Result<bool, AedbError>
    where
        F: Fn(Arc<AedbInstance>, Vec<EventOutboxRecord>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), AedbError>> + Send + 'static,
    {
        checkpoint::check_name(processor_name)?;
        let handler = boxed(handler);
        lock(&self.processors().handlers).insert(processor_name.to_string(), handler.clone());
        match self.registry_entry(processor_name)? {
            Some(r) if r.enabled => {
                self.spawn_runtime(processor_name, r.options, handler).await;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Stops the runtime (the registry keeps it enabled: a restart resumes it).
    /// Its progress is checkpointed first.
    pub async fn stop_reactive_processor(&self, processor_name: &str) -> Result<(), AedbError> {
        let running = lock(&self.processors().running).remove(processor_name);
        if let Some(r) = running {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
        Ok(())
    }

    /// Disables the processor in the registry and stops its runtime.
    pub async fn pause_reactive_processor(&self, processor_name: &str) -> Result<(), AedbError> {
        let Some(mut r) = self.registry_entry(processor_name)? else {
            return Err(AedbError::Validation(format!(
                "processor {processor_name:?} was never started"
            )));
        };
        self.stop_reactive_processor(processor_name).await?;
        r.enabled = false;
        r.updated_at_micros = now_micros();
        self.put_registry(processor_name, r).await
    }

    /// Enables the processor again and runs it with its registered handler.
    pub async fn resume_reactive_processor(
        self: &Arc<Self>,
        processor_name: &str,
    ) -> Result<(), AedbError> {
        let Some(mut r) = self.registry_entry(processor_name)? else {
            return Err(AedbError::Validation(format!(
                "processor {processor_name:?} was never started"
            )));
        };
        let Some(handler) = lock(&self.processors().handlers)
            .get(processor_name)
            .cloned()
        else {
            return Err(AedbError::Validation(format!(
                "processor {processor_name:?} has no handler in this process: register_reactive_processor_handler first"
            )));
        };
        r.enabled = true;
        r.updated_at_micros = now_micros();
        let options = r.options.clone();
        self.put_registry(processor_name, r).await?;
        self.spawn_runtime(processor_name, options, handler).await;
        Ok(())
    }

    async fn spawn_runtime(
        self: &Arc<Self>,
        name: &str,
        options: ReactiveProcessorOptions,
        handler: Handler,
    ) {
        self.stop_reactive_processor(name).await.ok();
        let status = lock(&self.processors().status)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(ReactiveProcessorRuntimeStatus {
                    processor_name: name.to_string(),
                    ..Default::default()
                }))
            })
            .clone();
        lock(&status).running = true;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = Runtime {
            db: self.clone(),
            name: name.to_string(),
            caller: options.caller_id.as_deref().map(CallerContext::new),
            options,
            handler,
            status,
            stopped,
        };
        let task = tokio::spawn(runtime.run());
        lock(&self.processors().running).insert(name.to_string(), Running { stop, task });
    }

    /// Stops every processor runtime (each checkpoints its progress).
    pub(crate) async fn stop_all_processors(&self) {
        let names: Vec<String> = lock(&self.processors().running).keys().cloned().collect();
        for n in names {
            self.stop_reactive_processor(&n).await.ok();
        }
    }

    /// The runtime's counters (`None`: never run in this process).
    pub async fn reactive_processor_runtime_status(
        &self,
        processor_name: &str,
    ) -> Option<ReactiveProcessorRuntimeStatus> {
        let s = lock(&self.processors().status)
            .get(processor_name)
            .cloned()?;
        let status = lock(&s).clone();
        Some(status)
    }

    /// Lag from the durable checkpoint, and the runtime's counters.
    pub async fn reactive_processor_health(
        &self,
        processor_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<ReactiveProcessorHealth, AedbError> {
        let txn = self.read_at(consistency).map_err(engine)?;
        let enabled = registry::get(&txn, processor_name)?.is_some_and(|r| r.enabled);
        let at = checkpoint::read(&txn, processor_name)?;
        let s = self
            .reactive_processor_runtime_status(processor_name)
            .await
            .unwrap_or_default();
        Ok(ReactiveProcessorHealth {
            processor_name: processor_name.to_string(),
            enabled,
            running: s.running,
            checkpoint_seq: at,
            head_seq: txn.seq(),
            lag_commits: txn.seq().saturating_sub(at),
            runs_total: s.runs_total,
            processed_events_total: s.processed_events_total,
            failures_total: s.failures_total,
            retries_total: s.retries_total,
            dead_lettered_total: s.dead_lettered_total,
            last_processed_seq: s.last_processed_seq,
            last_error: s.last_error,
            last_run_started_micros: s.last_run_started_micros,
            last_run_completed_micros: s.last_run_completed_micros,
            last_success_micros: s.last_success_micros,
            last_failure_micros: s.last_failure_micros,
            last_retry_micros: s.last_retry_micros,
            last_sleep_ms: s.last_sleep_ms,
            last_batch_events: s.last_batch_events,
        })
    }

    /// Every registered processor: its durable options and whether it runs.
    pub async fn list_reactive_processors(
        &self,
        consistency: ConsistencyMode,
    ) -> Result<Vec<ReactiveProcessorInfo>, AedbError> {
        let txn = self.read_at(consistency).map_err(engine)?;
        let running = lock(&self.processors().running);
        Ok(registry::list(&txn)?
            .into_iter()
            .map(|(name, r)| ReactiveProcessorInfo {
                running: running.contains_key(&name),
                processor_name: name,
                options: r.options,
                enabled: r.enabled,
                updated_at_micros: r.updated_at_micros,
            })
            .collect())
    }

    /// The processor's SLO checks: lag against `max_allowed_lag_commits`, and
    /// the time events have waited since its last successful run against
    /// `max_allowed_stall_ms`.
    pub async fn reactive_processor_slo_status(
        &self,
        processor_name: &str,
        consistency: ConsistencyMode,
    ) -> Result<ReactiveProcessorSloStatus, AedbError> {
        let Some(record) =
            registry::get(&self.read_at(consistency).map_err(engine)?, processor_name)?
        else {
            return Err(AedbError::Validation(format!(
                "processor {processor_name:?} was never started"
            )));
        };
        let h = self
            .reactive_processor_health(processor_name, consistency)
            .await?;
        let o = &record.options;
        let mut reasons = Vec::new();
        if let Some(max) = o.max_allowed_lag_commits
            && h.lag_commits > max
        {
            reasons.push(format!("lag {} commits > max {max}", h.lag_commits));
        }
        // Stalled: events wait and nothing succeeded for a while.
        let stall_ms = (h.lag_commits > 0).then(|| {
            let since = h
                .last_success_micros
                .or(h.last_run_started_micros)
                .unwrap_or(0);
            now_micros().saturating_sub(since) / 1_000
        });
        if let (Some(max), Some(stall)) = (o.max_allowed_stall_ms, stall_ms)
            && stall > max
        {
            reasons.push(format!("stalled {stall} ms > max {max}"));
        }
        if record.enabled && !h.running {
            reasons.push("enabled but not running in this process".into());
        }
        Ok(ReactiveProcessorSloStatus {
            processor_name: processor_name.to_string(),
            breached: record.enabled && !reasons.is_empty(),
            enabled: record.enabled,
            running: h.running,
            lag_commits: h.lag_commits,
            max_allowed_lag_commits: o.max_allowed_lag_commits,
            stall_ms,
            max_allowed_stall_ms: o.max_allowed_stall_ms,
            reasons,
        })
    }

    /// `reactive_processor_slo_status` of every registered processor, by name.
    pub async fn list_reactive_processor_slo_statuses(
        &self,
        consistency: ConsistencyMode,
    ) -> Result<Vec<ReactiveProcessorSloStatus>, AedbError> {
        let names: Vec<String> = registry::list(&self.read_at(consistency).map_err(engine)?)?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut out = Vec::new();
        for n in names {
            out.push(self.reactive_processor_slo_status(&n, consistency).await?);
        }
        Ok(out)
    }

    /// `Unavailable`, naming each breach, when an enabled processor breaches
    /// its SLO.
    pub async fn enforce_reactive_processor_slos(
        &self,
        consistency: ConsistencyMode,
    ) -> Result<(), AedbError> {
        let breaches: Vec<String> = self
            .list_reactive_processor_slo_statuses(consistency)
            .await?
            .into_iter()
            .filter(|s| s.breached)
            .map(|s| format!("{}: {}", s.processor_name, s.reasons.join("; ")))
            .collect();
        if breaches.is_empty() {
            Ok(())
        } else {
            Err(AedbError::Unavailable {
                message: format!("processor SLO breached: {}", breaches.join(" | ")),
            })
        }
    }
}

/// One processor's loop.
/// Marks a processor's status not running when its runtime task ends.
struct NotRunningOnExit(Arc<Mutex<ReactiveProcessorRuntimeStatus>>);

impl Drop for NotRunningOnExit {
    fn drop(&mut self) {
        lock(&self.0).running = false;
    }
}

struct Runtime {
    db: Arc<AedbInstance>,
    name: String,
    caller: Option<CallerContext>,
    options: ReactiveProcessorOptions,
    handler: Handler,
    status: Arc<Mutex<ReactiveProcessorRuntimeStatus>>,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Runtime {
    fn set(&self, f: impl FnOnce(&mut ReactiveProcessorRuntimeStatus)) {
        f(&mut lock(&self.status));
    }

    fn fail(&self, e: &AedbError) {
        self.set(|s| {
            s.failures_total += 1;
            s.last_error = Some(e.to_string());
            s.last_failure_micros = Some(now_micros());
        });
    }

    /// Waits up to `ms` for a commit or a stop; true when stopped.
    async fn idle(&mut self, commits: &mut crate::storage::CommitSubscription, ms: u64) -> bool {
        self.set(|s| s.last_sleep_ms = ms);
        tokio::select! {
            _ = self.stopped.changed() => {}
            _ = commits.next() => {}
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
        }
        *self.stopped.borrow()
    }

    async fn checkpoint_now(&self, seq: u64) -> Result<(), AedbError> {
        match &self.caller {
            Some(c) => {
                self.db
                    .ack_reactive_processor_checkpoint_as(c.clone(), &self.name, seq)
                    .await
            }
            None => {
                self.db
                    .ack_reactive_processor_checkpoint(&self.name, seq)
                    .await
            }
        }
        .map(|_| ())
    }

    async fn run(mut self) {
        // `running` goes false however this task ends, a panic included.
        let _running = NotRunningOnExit(self.status.clone());
        let mut commits = self.db.storage().subscribe();
        let at = ConsistencyMode::AtLatest;
        let lag = match &self.caller {
            Some(c) => self.db.reactive_processor_lag_as(c, &self.name, at).await,
            None => self.db.reactive_processor_lag(&self.name, at).await,
        };
        let mut after = match lag {
            Ok(l) => l.checkpoint_seq,
            Err(e) => {
                self.fail(&e);
                self.set(|s| s.running = false);
                return;
            }
        };
        let mut persisted = after;
        let mut last_tick = Instant::now();
        let o = self.options.clone();
        loop {
            if *self.stopped.borrow() {
                break;
            }
            let topic = o.topic_filter.as_deref();
            let page = match &self.caller {
                Some(c) => {
                    self.db
                        .read_event_stream_as(c, topic, after, o.max_events_per_run, at)
                        .await
                }
                None => {
                    self.db
                        .read_event_stream(topic, after, o.max_events_per_run, at)
                        .await
                }
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    self.fail(&e);
                    if self.idle(&mut commits, o.idle_backoff_ms.max(1)).await {
                        break;
                    }
                    continue;
                }
            };
            let (events, through) =
                within_bytes(page.events, page.next_commit_seq, o.max_bytes_per_run);
            let tick = o.run_on_interval
                && last_tick.elapsed() >= Duration::from_millis(o.run_interval_ms);
            if events.is_empty() && !tick {
                if let Some(next) = through {
                    // Commits whose events the filter or the caller's rights
                    // leave out: nothing to hand over.
                    after = next;
                    self.set(|s| s.last_processed_seq = after);
                    continue;
                }
                let wait = if o.run_on_interval {
                    o.run_interval_ms
                        .saturating_sub(last_tick.elapsed().as_millis() as u64)
                } else {
                    o.idle_backoff_ms
                };
                if self.idle(&mut commits, wait.max(1)).await {
                    break;
                }
                continue;
            }
            if tick {
                last_tick = Instant::now();
            }
            let done = self.handle(&events).await;
            if *self.stopped.borrow() {
                break;
            }
            if let Some(next) = through {
                match done {
                    Ok(()) => after = next,
                    Err(e) => match self.dead_letter(&events, next, &e).await {
                        Ok(()) => {
                            after = next;
                            persisted = next;
                        }
                        Err(e) => {
                            // Not dead-lettered: the batch is tried again.
                            self.fail(&e);
                            if self.idle(&mut commits, o.idle_backoff_ms.max(1)).await {
                                break;
                            }
                            continue;
                        }
                    },
                }
                self.set(|s| s.last_processed_seq = after);
                if after >= persisted.saturating_add(o.checkpoint_watermark_commits.max(1)) {
                    match self.checkpoint_now(after).await {
                        Ok(()) => persisted = after,
                        Err(e) => self.fail(&e),
                    }
                }
            }
        }
        if after > persisted
            && let Err(e) = self.checkpoint_now(after).await
        {
            self.fail(&e);
        }
        self.set(|s| s.running = false);
    }

    /// Runs the handler on `events` with the retries the options allow.
    async fn handle(&self, events: &[EventOutboxRecord]) -> Result<(), AedbError> {
        let o = &self.options;
        let mut attempt = 0u32;
        loop {
            self.set(|s| {
                s.runs_total += 1;
                s.last_run_started_micros = Some(now_micros());
                s.last_batch_events = events.len() as u64;
            });
            // On a task of its own, so a handler that panics fails this run
            // (retried, then dead-lettered) instead of killing the processor.
            let mut run = tokio::spawn((self.handler)(self.db.clone(), events.to_vec()));
            // A stop lets the run finish (at most `max_run_duration_ms`):
            // abandoning it could leave its commits running after the stop.
            let limit = Duration::from_millis(o.max_run_duration_ms);
            let r = match tokio::time::timeout(limit, &mut run).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(self.handler_panicked(e)),
                Err(_) => {
                    run.abort();
                    Err(AedbError::Timeout)
                }
            };
            self.set(|s| s.last_run_completed_micros = Some(now_micros()));
            match r {
                Ok(()) => {
                    self.set(|s| {
                        s.processed_events_total += events.len() as u64;
                        s.last_success_micros = Some(now_micros());
                    });
                    return Ok(());
                }
                Err(e) => {
                    self.fail(&e);
                    if attempt >= o.max_retries {
                        return Err(e);
                    }
                    let wait = o.retry_backoff_ms.saturating_mul(1 << attempt.min(16));
                    self.set(|s| {
                        s.retries_total += 1;
                        s.last_retry_micros = Some(now_micros());
                    });
                    let mut stop = self.stopped.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return Err(e),
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// The failure of a handler run that panicked (or was cancelled).
    fn handler_panicked(&self, e: tokio::task::JoinError) -> AedbError {
        let why = match e.try_into_panic() {
            Ok(p) => p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic payload".into()),
            Err(e) => e.to_string(),
        };
        AedbError::Unavailable {
            message: format!("processor {:?}: the handler panicked: {why}", self.name),
        }
    }

    /// Writes `events` to the dead-letter table and moves the checkpoint to
    /// `through`, in one commit.
    async fn dead_letter(
        &self,
        events: &[EventOutboxRecord],
        through: u64,
        error: &AedbError,
    ) -> Result<(), AedbError> {
        let db = self.db.clone();
        let (name, events, error) = (self.name.clone(), events.to_vec(), error.to_string());
        let caller = self.options.caller_id.clone();
        let count = events.len() as u64;
        tokio::task::spawn_blocking(move || {
            db.system_commit("dead_letter", Finality::Durable, None, |ctx| {
                for e in &events {
                    ctx.dead_letter(&name, caller.clone(), e, &error)?;
                }
                ctx.advance_checkpoint(&name, through, CheckpointRule::Ack)
                    .map(|_| ())
            })
        })
        .await
        .map_err(|e| AedbError::Unavailable {
            message: format!("dead-letter write failed: {e}"),
        })??;
        self.set(|s| s.dead_lettered_total += count);
        Ok(())
    }
}

/// The events of whole commits that fit `max_bytes` (a commit alone larger is
/// taken whole), and the last commit taken (`next` when all were).
fn within_bytes(
    events: Vec<EventOutboxRecord>,
    next: Option<u64>,
    max_bytes: usize,
) -> (Vec<EventOutboxRecord>, Option<u64>) {
    let size = |e: &EventOutboxRecord| e.payload_json.len() + e.event_key.len() + e.topic.len();
    let total: usize = events.iter().map(size).sum();
    if total <= max_bytes {
        return (events, next);
    }
    let mut out: Vec<EventOutboxRecord> = Vec::new();
    let mut bytes = 0;
    let mut i = 0;
    while i < events.len() {
        let seq = events[i].commit_seq;
        let j = events[i..]
            .iter()
            .position(|e| e.commit_seq != seq)
            .map_or(events.len(), |p| i + p);
        let commit_bytes: usize = events[i..j].iter().map(size).sum();
        if !out.is_empty() && bytes + commit_bytes > max_bytes {
            break;
        }
        bytes += commit_bytes;
        out.extend_from_slice(&events[i..j]);
        i = j;
    }
    let last = out.last().map(|e| e.commit_seq);
    (out, last)
}
