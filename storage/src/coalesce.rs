//! Coalesced commits (`Database::submit`): many callers' closures committed as
//! one engine transaction, so concurrent committers share the writer lock, the
//! frame, the publish and the sync instead of handing the lock from thread to
//! thread (ARCHITECTURE "Commit coalescing").
//!
//! Invariants:
//! 1. At most one leader at a time. A submitter queues its closure; the one
//!    that finds no leader becomes it. The leader takes the writer lock, then
//!    takes the queue, so every closure queued while the previous batch ran
//!    goes into this one.
//! 2. The leader runs the closures in queue order in one write transaction.
//!    A closure that fails without admitting an edit (`edit_mark` unchanged)
//!    gets its own error and the batch goes on: the transaction is as it was.
//!    A closure that fails (or panics) after editing cannot be undone alone,
//!    so the batch is dropped and every closure of it runs again in a
//!    transaction of its own (the contract: a closure may run more than once;
//!    only one run's edits ever commit).
//! 3. The batch commits `Visible` under one seq; every closure that succeeded
//!    gets that seq. Leadership passes to the oldest queued submitter before
//!    the leader runs a due checkpoint and waits for the sync (group commit),
//!    so the next batch is built beside them. `Visible` submitters are
//!    answered at the publish, `Durable` ones once the sync covers the seq:
//!    each submitter wakes once.
//! 4. A panic in a closure reaches its own submitter (resumed on its thread),
//!    never the leader's.
#![forbid(unsafe_code)]

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::engine::{Engine, WriterState};
use crate::error::{Result, StorageError};
use crate::snapshot::{CommitResult, Finality};
use crate::stats::Stats;
use crate::txn::WriteTransaction;

/// A batch stops taking closures once its effects pass this many bytes (the
/// rest wait for the next batch): a batch stays far below the transaction
/// bounds, so one closure crossing them does not send a whole batch back to
/// run alone (invariant 2).
const BATCH_EFFECT_BYTES: usize = 1 << 20;

/// A queued closure, its type erased: runs against the batch's transaction
/// and says whether it succeeded (its result or error stays in its own slot).
type Run = Box<dyn FnMut(&mut WriteTransaction<'_>) -> bool + Send>;

struct Job {
    run: Run,
    finality: Finality,
    /// Taken when the job is answered; a job dropped unanswered (its leader
    /// unwound) answers with an error, so no submitter waits forever.
    reply: Option<Arc<Reply>>,
}

impl Job {
    fn answer(mut self, answer: Answer) {
        if let Some(reply) = self.reply.take() {
            reply.send(answer);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            let why = "the leader of its coalesced commit panicked".to_string();
            reply.send(Answer::Done(Some(Err(StorageError::TransactionFailed(
                why,
            )))));
        }
    }
}

/// What a submitter is told.
enum Answer {
    /// Lead the next batch (invariant 3).
    Lead,
    /// Its closure ran: `Some` with the commit that holds its edits, `None`
    /// when the closure itself failed (its error is in its slot).
    Done(Option<Result<CommitResult>>),
    /// Its closure panicked; the payload is resumed on the submitter's thread.
    Panicked(Box<dyn Any + Send>),
}

#[derive(Default)]
struct Reply {
    answer: Mutex<Option<Answer>>,
    ready: Condvar,
}

impl Reply {
    fn send(&self, answer: Answer) {
        *lock(&self.answer) = Some(answer);
        self.ready.notify_one();
    }

    fn wait(&self) -> Answer {
        let mut a = lock(&self.answer);
        loop {
            if let Some(answer) = a.take() {
                return answer;
            }
            a = self.ready.wait(a).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    leading: bool,
}

/// The submission queue (one per engine).
#[derive(Default)]
pub(crate) struct Coalescer {
    queue: Mutex<Queue>,
}

/// How one closure's run ended.
enum Ran {
    /// It returned `Ok` and the transaction can commit.
    Ok,
    /// It returned `Ok`, but the transaction can no longer commit (it
    /// crossed a bound, or a spill failed): committing reports why.
    Unfinished,
    /// It returned its error; `clean` when it admitted no edit.
    Failed {
        clean: bool,
    },
    Panicked(Box<dyn Any + Send>),
}

fn run_one(run: &mut Run, txn: &mut WriteTransaction<'_>) -> Ran {
    let before = txn.edit_mark();
    match catch_unwind(AssertUnwindSafe(|| run(txn))) {
        Ok(true) if txn.edit_mark().1 => Ran::Ok,
        Ok(true) => Ran::Unfinished,
        Ok(false) => Ran::Failed {
            clean: txn.edit_mark() == before,
        },
        Err(payload) => Ran::Panicked(payload),
    }
}

/// Holds the leader's role; letting it go (or unwinding) passes it to the
/// oldest queued submitter, or ends it when none waits (invariant 3).
struct Leadership<'e>(&'e Coalescer);

impl Drop for Leadership<'_> {
    fn drop(&mut self) {
        let mut q = lock(&self.0.queue);
        match q.jobs.front() {
            Some(Job {
                reply: Some(next), ..
            }) => next.send(Answer::Lead),
            _ => q.leading = false,
        }
    }
}

impl Engine {
    /// Closures queued and not yet taken by a batch.
    pub(crate) fn queued_submissions(&self) -> u64 {
        lock(&self.coalescer.queue).jobs.len() as u64
    }

    /// `Database::submit`'s work: queue, lead or wait (invariants above).
    pub(crate) fn submit<R, E>(
        &self,
        finality: Finality,
        mut f: impl FnMut(&mut WriteTransaction<'_>) -> Result<R, E> + Send + 'static,
    ) -> Result<(R, CommitResult), E>
    where
        R: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<Result<R, E>>>> = Arc::default();
        let out = slot.clone();
        let reply = Arc::new(Reply::default());
        let job = Job {
            run: Box::new(move |txn| {
                let r = f(txn);
                let ok = r.is_ok();
                *lock(&out) = Some(r);
                ok
            }),
            finality,
            reply: Some(reply.clone()),
        };
        let lead = {
            let mut q = lock(&self.coalescer.queue);
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.leading, true)
        };
        if lead {
            self.lead();
        }
        let done = loop {
            match reply.wait() {
                Answer::Lead => self.lead(),
                Answer::Done(done) => break done,
                Answer::Panicked(payload) => resume_unwind(payload),
            }
        };
        let ran = lock(&slot).take();
        match (done, ran) {
            (Some(Ok(commit)), Some(Ok(value))) => {
                if finality == Finality::Durable {
                    self.wait_durable(commit.seq)?;
                }
                Ok((value, commit))
            }
            (Some(Err(e)), _) => Err(e.into()),
            (None, Some(Err(e))) => Err(e),
            // The leader answers `Done(Some(Ok))` only after the closure
            // stored `Ok`, and `Done(None)` only after it stored `Err`.
            _ => Err(
                StorageError::Task("a coalesced commit lost its closure's result".into()).into(),
            ),
        }
    }

    /// Leads one batch (invariants 1–3), then passes leadership on.
    fn lead(&self) {
        let leadership = Leadership(&self.coalescer);
        let txn = WriteTransaction::new(self);
        let mut jobs = std::mem::take(&mut lock(&self.coalescer.queue).jobs);
        let mut txn = match txn {
            Ok(txn) => txn,
            Err(e) => {
                for job in jobs {
                    job.answer(Answer::Done(Some(Err(self.copy_of(&e)))));
                }
                return;
            }
        };
        let mut ran = Vec::with_capacity(jobs.len());
        let mut tainted = false;
        while let Some(mut job) = jobs.pop_front() {
            if txn.effect_bytes() > BATCH_EFFECT_BYTES && !ran.is_empty() {
                jobs.push_front(job);
                break;
            }
            match run_one(&mut job.run, &mut txn) {
                Ran::Ok => ran.push((job, true)),
                Ran::Failed { clean: true } => ran.push((job, false)),
                // Alone, it runs (and fails or panics) again.
                Ran::Unfinished | Ran::Failed { clean: false } | Ran::Panicked(_) => {
                    ran.push((job, false));
                    tainted = true;
                    break;
                }
            }
        }
        // Closures left for the next batch go back to the front, in order.
        if !jobs.is_empty() {
            let mut q = lock(&self.coalescer.queue);
            for job in jobs.into_iter().rev() {
                q.jobs.push_front(job);
            }
        }
        if tainted {
            drop(txn);
            self.run_alone(ran);
            return;
        }
        let Some((state, commit, durable)) = self.commit_batch(txn, ran) else {
            return;
        };
        // Invariant 3: the next leader goes before this one's checkpoint and
        // sync, and builds its batch beside them.
        drop(leadership);
        if let Some(state) = state {
            // A failure here poisoned the engine; the sync below reports it.
            let _ = self.after_commit(state, commit.seq, Finality::Visible);
        }
        if durable.is_empty() {
            return;
        }
        // The `Durable` submitters are answered once the sync covers them, so
        // each wakes once, with nothing left to wait for.
        let synced = self.wait_durable(commit.seq);
        for job in durable {
            let done = match &synced {
                Ok(()) => Ok(commit),
                Err(e) => Err(self.copy_of(e)),
            };
            job.answer(Answer::Done(Some(done)));
        }
    }

    /// Commits a batch that ran clean and answers its submitters but the
    /// `Durable` ones that succeeded, which it hands back with the commit and
    /// the writer lock (`None` after a large commit).
    #[allow(clippy::type_complexity)]
    fn commit_batch<'a>(
        &'a self,
        txn: WriteTransaction<'a>,
        ran: Vec<(Job, bool)>,
    ) -> Option<(Option<MutexGuard<'a, WriterState>>, CommitResult, Vec<Job>)> {
        let committed = ran.iter().filter(|(_, ok)| *ok).count();
        if committed == 0 {
            drop(txn);
            for (job, _) in ran {
                job.answer(Answer::Done(None));
            }
            return None;
        }
        match txn.commit_visible() {
            Ok((state, commit)) => {
                Stats::add(&self.stats.coalesced_batches, 1);
                Stats::add(&self.stats.coalesced_commits, committed as u64);
                let mut durable = Vec::new();
                for (job, ok) in ran {
                    if ok && job.finality == Finality::Durable {
                        durable.push(job);
                    } else {
                        job.answer(Answer::Done(ok.then_some(Ok(commit))));
                    }
                }
                Some((state, commit, durable))
            }
            Err(e) => {
                for (job, ok) in ran {
                    let done = ok.then(|| Err(self.copy_of(&e)));
                    job.answer(Answer::Done(done));
                }
                None
            }
        }
    }

    /// Invariant 2's way back: each closure in a transaction of its own.
    fn run_alone(&self, ran: Vec<(Job, bool)>) {
        for (mut job, _) in ran {
            let mut txn = match WriteTransaction::new(self) {
                Ok(txn) => txn,
                Err(e) => {
                    job.answer(Answer::Done(Some(Err(e))));
                    continue;
                }
            };
            let answer = match run_one(&mut job.run, &mut txn) {
                Ran::Ok | Ran::Unfinished => Answer::Done(Some(txn.commit(job.finality))),
                Ran::Failed { .. } => Answer::Done(None),
                Ran::Panicked(payload) => Answer::Panicked(payload),
            };
            job.answer(answer);
        }
    }

    /// The error a batch's failure gives each of its submitters: the poison
    /// when the engine stopped (as any later call would report), else the
    /// failure described.
    fn copy_of(&self, e: &StorageError) -> StorageError {
        match self.sync.poisoned() {
            Some(p) => p.error(),
            None => StorageError::TransactionFailed(format!("the coalesced commit failed: {e}")),
        }
    }
}
