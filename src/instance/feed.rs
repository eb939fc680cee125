//! The change feed's door: `subscribe_commits` returns a subscription that
//! yields every committed change after a seq, in order, read from the change
//! log (`crate::feed`) on the latest snapshot and woken by the commit
//! notification seam. A subscriber never blocks a commit; one that falls
//! further behind than the log keeps gets `ChangeFeedExpired`, never a gap.

use std::collections::VecDeque;

use crate::auth::{Call, authorize, read_filter};
use crate::catalog::{Catalog, TableColumns};
use crate::error::AedbError;
use crate::eval::compile;
use crate::feed::log::{floor, read_after};
use crate::feed::{ChangeFilter, ChangeTarget, ChangeValue, CommittedChange};
use crate::instance::AedbInstance;
use crate::permission::{CallerContext, Need};
use crate::query::query_to_aedb;
use crate::storage::{CommitSubscription, ReadTransaction};

/// Changes read from the log at a time.
const BATCH: usize = 1024;

/// A stream of committed changes (`AedbInstance::subscribe_commits`).
pub struct ChangeSubscription {
    db: AedbInstance,
    call: Call<'static>,
    filter: ChangeFilter,
    /// Every change of the commits up to this seq was returned or filtered out.
    after: u64,
    buffer: VecDeque<CommittedChange>,
    commits: CommitSubscription,
}

impl std::fmt::Debug for ChangeSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSubscription")
            .field("after", &self.after)
            .field("buffered", &self.buffer.len())
            .field("filter", &self.filter)
            .finish()
    }
}

impl AedbInstance {
    /// The changes committed after seq `from_seq` (0: all the log holds from
    /// the database's creation) that pass `filter`, in commit order, then each
    /// new one as it commits. Needs `change_feed_retain_commits` > 0; fails
    /// with `ChangeFeedExpired` when the log no longer reaches back to
    /// `from_seq`.
    pub async fn subscribe_commits(
        &self,
        from_seq: u64,
        filter: ChangeFilter,
    ) -> Result<ChangeSubscription, AedbError> {
        let call = self.call("subscribe_commits", None);
        self.subscribe_for(call, from_seq, filter).await
    }

    /// `subscribe_commits` for `caller`: it sees a row change only with
    /// `TableRead` on the table (and only rows its read policy shows), a KV
    /// change only with `KvRead` reaching the key.
    pub async fn subscribe_commits_as(
        &self,
        caller: CallerContext,
        from_seq: u64,
        filter: ChangeFilter,
    ) -> Result<ChangeSubscription, AedbError> {
        let call = self.call("subscribe_commits_as", Some(caller));
        self.subscribe_for(call, from_seq, filter).await
    }

    async fn subscribe_for(
        &self,
        call: Call<'static>,
        from_seq: u64,
        filter: ChangeFilter,
    ) -> Result<ChangeSubscription, AedbError> {
        let r = (|| {
            if self.config().change_feed_retain_commits == 0 {
                return Err(AedbError::InvalidConfig {
                    message: "the change feed is off: set change_feed_retain_commits".into(),
                });
            }
            let txn = self.inner.db.begin_read()?;
            if call.caller.is_none() {
                authorize(&*self.catalog_of(&txn)?, &call, &Need::Global)?;
            }
            reaches_back(&txn, from_seq)
        })();
        self.audited(&call, r).await?;
        Ok(ChangeSubscription {
            db: self.clone(),
            call,
            filter,
            after: from_seq,
            buffer: VecDeque::new(),
            commits: self.inner.db.subscribe(),
        })
    }
}

/// Fails with `ChangeFeedExpired` unless the log on `txn` holds every change
/// after `after`.
fn reaches_back(txn: &ReadTransaction, after: u64) -> Result<(), AedbError> {
    // A log never written is complete from the next commit on.
    let floor = floor(txn)?.unwrap_or(txn.seq() + 1);
    if after + 1 < floor {
        return Err(AedbError::ChangeFeedExpired {
            requested: after,
            oldest_after: floor - 1,
        });
    }
    Ok(())
}

impl ChangeSubscription {
    /// The next change, waiting for a commit if none is pending.
    pub async fn next(&mut self) -> Result<CommittedChange, AedbError> {
        loop {
            if let Some(c) = self.try_next()? {
                return Ok(c);
            }
            if self.commits.next().await.is_none() {
                return Err(AedbError::Unavailable {
                    message: "the engine stopped; no further commits".into(),
                });
            }
        }
    }

    /// The next change if one is committed, without waiting.
    pub fn try_next(&mut self) -> Result<Option<CommittedChange>, AedbError> {
        while self.buffer.is_empty() && self.db.inner.db.visible_seq() > self.after {
            self.fill()?;
        }
        Ok(self.buffer.pop_front())
    }

    /// The seq every change up to which was returned (or filtered out): a new
    /// subscription from here continues this one.
    pub fn position(&self) -> u64 {
        if let Some(c) = self.buffer.front() {
            c.seq - 1
        } else {
            self.after
        }
    }

    fn fill(&mut self) -> Result<(), AedbError> {
        let txn = self.db.inner.db.begin_read()?;
        reaches_back(&txn, self.after)?;
        let (changes, upto) = read_after(&txn, self.after, txn.seq(), BATCH)?;
        let cat = self.db.catalog_of(&txn)?;
        for c in changes {
            if !self.filter.admits(&c) {
                continue;
            }
            if let Some(c) = visible_to(&cat, &self.call, c)? {
                self.buffer.push_back(c);
            }
        }
        self.after = upto;
        Ok(())
    }
}

/// `c` as the call may see it: `None` without the read right, and a row its
/// read policy hides is left out (a change it hides on both sides, entirely).
fn visible_to(
    cat: &Catalog,
    call: &Call<'_>,
    mut c: CommittedChange,
) -> Result<Option<CommittedChange>, AedbError> {
    if call.caller.is_none() {
        return Ok(Some(c));
    }
    let (project, scope) = (c.project_id.as_str(), c.scope_id.as_str());
    match &c.target {
        ChangeTarget::Kv { key } => {
            let need = Need::KvRead {
                project,
                scope,
                key,
            };
            Ok(authorize(cat, call, &need).is_ok().then_some(c))
        }
        ChangeTarget::Row { table_name, .. } => {
            let need = Need::TableRead {
                project,
                scope,
                table: table_name,
            };
            if authorize(cat, call, &need).is_err() {
                return Ok(None);
            }
            let Some(policy) = read_filter(cat, call, project, scope, table_name) else {
                return Ok(Some(c));
            };
            // A table dropped since has no policy to apply: not shown.
            let Ok(t) = cat.table(project, scope, table_name) else {
                return Ok(None);
            };
            let shown = compile(&policy, &TableColumns(t)).map_err(query_to_aedb)?;
            let keep = |v: &Option<ChangeValue>| match v {
                Some(ChangeValue::Row(r)) => shown.matches(&r.values),
                _ => false,
            };
            if !keep(&c.old) {
                c.old = None;
            }
            if !keep(&c.new) {
                c.new = None;
            }
            Ok((c.old.is_some() || c.new.is_some()).then_some(c))
        }
    }
}
