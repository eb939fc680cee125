//! Coalesced commits (`Database::submit`, engine invariant 15): the queue of
//! DESIGN §6. Callers hand in their transactions as closures; one thread, the
//! leader, takes the writer lock once and commits the queued ones one after
//! another, each its own transaction, seq and frame, so concurrent committers
//! pay one lock handoff and one sync per batch instead of one per commit.
//!
//! Invariants:
//! 1. At most one leader at a time. A submitter queues its closure; the one
//!    that finds no leader becomes it. The leader takes the writer lock, then
//!    the queue, so every closure queued while the previous batch ran is in
//!    this one.
//! 2. Each closure runs once, in queue order, in a write transaction of its
//!    own on the state the previous one left (exactly as if each caller had
//!    taken the lock in that order). `Ok` commits it (`Visible`: pages,
//!    frame, publish); an error or a panic drops it, which leaves nothing.
//!    The lock is kept across them (poison is checked before each).
//! 3. Leadership passes to the oldest queued submitter before the leader runs
//!    a due checkpoint and waits for the sync, so the next batch is built
//!    beside them. `Visible` submitters are answered at their publish,
//!    `Durable` ones once the sync covers the batch: each wakes once.
//! 4. A panic in a closure reaches its own submitter (resumed on its thread),
//!    never the leader's. A job dropped unanswered (its leader unwound)
//!    answers with an error, and leadership passes on in a drop guard, so no
//!    submitter waits forever.
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

/// A queued closure, its type erased: runs in its transaction and says
/// whether it succeeded (its value or error stays where it put them).
pub(crate) type Run = Box<dyn FnOnce(&mut WriteTransaction<'_>) -> bool + Send>;

struct Job {
    run: Option<Run>,
    finality: Finality,
    /// Taken when the job is answered; a job dropped unanswered answers
    /// with an error (invariant 4).
    reply: Option<Arc<Reply>>,
}

impl Job {
    /// Drops the closure (and what it holds) before answering, so the
    /// submitter gets back sole ownership of anything it shared with it.
    fn answer(mut self, answer: Answer) {
        let reply = self.reply.take();
        drop(self);
        if let Some(reply) = reply {
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
    /// Its closure ran: `Some` with its commit (or why it could not commit),
    /// `None` when the closure itself failed (its error is in its slot).
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

    /// `Database::submit`'s work: queues `run`, then leads or waits
    /// (invariants above). `None` when the closure failed (its error is
    /// where it stored it), else its commit or why it could not commit.
    pub(crate) fn submit(&self, finality: Finality, run: Run) -> Option<Result<CommitResult>> {
        let reply = Arc::new(Reply::default());
        let job = Job {
            run: Some(run),
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
        loop {
            match reply.wait() {
                Answer::Lead => self.lead(),
                Answer::Done(done) => return done,
                Answer::Panicked(payload) => resume_unwind(payload),
            }
        }
    }

    /// Leads one batch (invariants 1–3), then passes leadership on.
    fn lead(&self) {
        let leadership = Leadership(&self.coalescer);
        let mut state = match self.writer() {
            Ok(state) => Some(state),
            Err(e) => {
                for job in std::mem::take(&mut lock(&self.coalescer.queue).jobs) {
                    job.answer(Answer::Done(Some(Err(self.copy_of(&e)))));
                }
                return;
            }
        };
        let jobs = std::mem::take(&mut lock(&self.coalescer.queue).jobs);
        let mut durable = Vec::new();
        let mut last = None;
        for mut job in jobs {
            let (held, answer) = self.commit_one(state.take(), &mut job.run);
            state = held;
            match answer {
                Answer::Done(Some(Ok(commit))) => {
                    last = Some(commit.seq);
                    Stats::add(&self.stats.coalesced_commits, 1);
                    let early = aedb_pager::mutation::active(
                        aedb_pager::mutation::Mutation::AnswerDurableBeforeSync,
                    );
                    if job.finality == Finality::Durable && !early {
                        durable.push((job, commit));
                    } else {
                        job.answer(Answer::Done(Some(Ok(commit))));
                    }
                }
                answer => job.answer(answer),
            }
        }
        if last.is_some() {
            Stats::add(&self.stats.coalesced_batches, 1);
        }
        // Invariant 3: the next leader goes before this one's checkpoint and
        // sync, and builds its batch beside them.
        drop(leadership);
        if let Some(state) = state {
            // A failure here poisoned the engine; the sync below reports it.
            let _ = self.after_commit(state, last.unwrap_or(0), Finality::Visible);
        }
        let Some((_, newest)) = durable.last() else {
            return;
        };
        // Durable submitters are answered once the sync covers them, so each
        // wakes once, with nothing left to wait for.
        let synced = self.wait_durable(newest.seq);
        for (job, commit) in durable {
            let done = match &synced {
                Ok(()) => Ok(commit),
                Err(e) => Err(self.copy_of(e)),
            };
            job.answer(Answer::Done(Some(done)));
        }
    }

    /// Runs one closure in a transaction of its own under the held lock
    /// (taken again if a large commit let it go) and commits it or drops it
    /// (invariant 2); hands the lock back with the answer.
    fn commit_one<'a>(
        &'a self,
        held: Option<MutexGuard<'a, WriterState>>,
        run: &mut Option<Run>,
    ) -> (Option<MutexGuard<'a, WriterState>>, Answer) {
        let state = match held.map_or_else(|| self.writer(), Ok) {
            Ok(state) => state,
            Err(e) => return (None, Answer::Done(Some(Err(e)))),
        };
        let mut txn = match WriteTransaction::under(self, state) {
            Ok(txn) => txn,
            Err(e) => return (None, Answer::Done(Some(Err(e)))),
        };
        let Some(run) = run.take() else {
            return (Some(txn.abort_keeping_lock()), Answer::Done(None));
        };
        match catch_unwind(AssertUnwindSafe(|| run(&mut txn))) {
            Ok(true) => match txn.commit_visible() {
                Ok((state, commit)) => (state, Answer::Done(Some(Ok(commit)))),
                Err(e) => (None, Answer::Done(Some(Err(e)))),
            },
            Ok(false) => (Some(txn.abort_keeping_lock()), Answer::Done(None)),
            Err(payload) => (Some(txn.abort_keeping_lock()), Answer::Panicked(payload)),
        }
    }

    /// The error a failure gives a submitter that did not cause it: the
    /// poison when the engine stopped (as any later call would report), else
    /// the failure described.
    fn copy_of(&self, e: &StorageError) -> StorageError {
        match self.sync.poisoned() {
            Some(p) => p.error(),
            None => StorageError::TransactionFailed(format!("the coalesced commit failed: {e}")),
        }
    }
}
