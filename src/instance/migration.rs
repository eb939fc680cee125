//! The migration doors: run a list of versioned migrations, read a scope's
//! history, roll back to a version (`crate::migration`).
//!
//! A run checks the whole list against the stored history before it commits
//! anything: an applied migration whose checksum changed, a history ahead of
//! the newest migration given, or an unapplied version older than the newest
//! applied one refuses the run with nothing written. Then each pending
//! migration commits alone (its mutations and its history row together, the
//! checks repeated inside the write); a failure stops the run, with the
//! migrations before it applied and recorded.
//!
//! Every mutation of a migration is authorized for the caller like a commit;
//! reading a scope's history needs the right to change its schema (DDL).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::auth::{Call, authorize};
use crate::commit::CommitFinality;
use crate::commit::context::WriteCtx;
use crate::commit::tx::Conditions;
use crate::error::{AedbError, MigrationProblem};
use crate::instance::{AedbInstance, WritePlan, engine};
use crate::migration::history::{self, apply_down, apply_up};
use crate::migration::{Migration, MigrationRecord, MigrationReport};
use crate::permission::{CallerContext, Need};
use crate::query::plan::ConsistencyMode;
use crate::query::source::SnapshotSource;

/// Which way a migration commit goes.
#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Migrations grouped by (project, scope), each group in version order with
/// its checksums; version 0, repeated versions, and more mutations (up or
/// down) than one commit takes (`max_batch_rows`) refused.
type Grouped = BTreeMap<(String, String), Vec<(Migration, String)>>;

fn group(migrations: Vec<Migration>, max_batch_rows: usize) -> Result<Grouped, AedbError> {
    let mut out = Grouped::new();
    for m in migrations {
        if m.version == 0 {
            return Err(m.refused(MigrationProblem::VersionZero));
        }
        let down = m.down_mutations.as_ref().map_or(0, Vec::len);
        let most = m.mutations.len().max(down);
        if most > max_batch_rows {
            return Err(AedbError::Validation(format!(
                "migration {} of {}.{} has {most} mutations, more than max_batch_rows = {max_batch_rows} in one commit",
                m.version, m.project_id, m.scope_id
            )));
        }
        let sum = m.checksum_hex()?;
        out.entry((m.project_id.clone(), m.scope_id.clone()))
            .or_default()
            .push((m, sum));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(m, _)| m.version);
        if let Some(pair) = list.windows(2).find(|w| w[0].0.version == w[1].0.version) {
            return Err(pair[1].0.refused(MigrationProblem::DuplicateVersion));
        }
    }
    Ok(out)
}

impl AedbInstance {
    /// The applied migrations of (project, scope) at the latest commit,
    /// oldest first, once `call` may change the scope's schema.
    async fn migration_history(
        &self,
        call: &Call<'_>,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<MigrationRecord>, AedbError> {
        let r = (|| {
            let txn = self.read_at(ConsistencyMode::AtLatest).map_err(engine)?;
            let cat = self.catalog_of(&txn)?;
            let need = Need::Ddl {
                project: project_id,
                scope: scope_id,
                table: None,
            };
            authorize(&cat, call, &need)?;
            history::applied(&mut SnapshotSource::new(txn), &cat, project_id, scope_id)
        })();
        self.audited(call, r).await
    }

    /// One migration's commit, durable on return: its mutations (or down
    /// mutations) and its history row, checked again inside the write (its
    /// size was checked by `group`).
    async fn commit_migration(
        &self,
        call: Call<'static>,
        m: Migration,
        checksum_hex: String,
        direction: Direction,
    ) -> Result<(), AedbError> {
        let plan = WritePlan {
            mutations: Vec::new(),
            conditions: Conditions::default(),
            finality: CommitFinality::Durable,
            dry_run: false,
            checkpoint: None,
            compose: Some(Box::new(
                move |ctx: &mut WriteCtx<'_, '_>| match direction {
                    Direction::Up => apply_up(ctx, m, checksum_hex),
                    Direction::Down => apply_down(ctx, m, checksum_hex),
                },
            )),
        };
        self.write_planned(call, plan).await.map(|_| ())
    }

    /// Checks `migrations` against the stored histories, then applies the
    /// pending ones in version order. `whole_history`: the list is the
    /// application's every migration, so a stored version newer than its
    /// newest is refused (`StoredVersionAhead`).
    async fn run_migrations_by(
        &self,
        call: Call<'static>,
        migrations: Vec<Migration>,
        whole_history: bool,
    ) -> Result<MigrationReport, AedbError> {
        let mut pending = Vec::new();
        let mut skipped = Vec::new();
        let mut current_version = 0;
        let max = self.inner.config.max_batch_rows;
        for ((project, scope), list) in group(migrations, max)? {
            let stored = self.migration_history(&call, &project, &scope).await?;
            let newest_stored = stored.last().map_or(0, |r| r.version);
            current_version = current_version.max(newest_stored);
            let newest_given = list.last().map_or(0, |(m, _)| m.version);
            if whole_history && newest_stored > newest_given {
                let problem = MigrationProblem::StoredVersionAhead {
                    stored: newest_stored,
                    newest_given,
                };
                return Err(list[list.len() - 1].0.refused(problem));
            }
            for (m, sum) in list {
                match stored.iter().find(|r| r.version == m.version) {
                    Some(r) if r.checksum_hex != sum => {
                        let problem = MigrationProblem::ChecksumChanged {
                            stored: r.checksum_hex.clone(),
                            given: sum,
                        };
                        return Err(m.refused(problem));
                    }
                    Some(_) => skipped.push(m.version),
                    None if m.version < newest_stored => {
                        let problem = MigrationProblem::OutOfOrder {
                            applied: newest_stored,
                        };
                        return Err(m.refused(problem));
                    }
                    None => pending.push((m, sum)),
                }
            }
        }
        let mut applied = Vec::new();
        for (m, sum) in pending {
            let (version, name) = (m.version, m.name.clone());
            let started = Instant::now();
            match self
                .commit_migration(call.clone(), m, sum, Direction::Up)
                .await
            {
                Ok(()) => applied.push((version, name, started.elapsed())),
                Err(AedbError::Migration {
                    problem: MigrationProblem::AppliedMeanwhile,
                    ..
                }) => skipped.push(version),
                Err(e) => return Err(e),
            }
            current_version = current_version.max(version);
        }
        Ok(MigrationReport {
            applied,
            skipped,
            current_version,
        })
    }

    /// Applies the migrations not applied yet, in version order per
    /// (project, scope), each in one durable commit with its history row.
    /// Refused before anything commits when an applied migration's checksum
    /// changed, the stored version is ahead of the newest migration given, or
    /// an unapplied version is older than the newest applied one.
    pub async fn run_migrations(
        &self,
        migrations: Vec<Migration>,
    ) -> Result<MigrationReport, AedbError> {
        let call = self.call("run_migrations", None);
        self.run_migrations_by(call, migrations, true).await
    }

    /// `run_migrations` for `caller`: every mutation needs the caller's grant,
    /// and reading each scope's history needs DDL rights on it.
    pub async fn run_migrations_as(
        &self,
        caller: CallerContext,
        migrations: Vec<Migration>,
    ) -> Result<MigrationReport, AedbError> {
        let call = self.call("run_migrations_as", Some(caller));
        self.run_migrations_by(call, migrations, true).await
    }

    /// `run_migrations` without the report.
    pub async fn apply_migrations(&self, migrations: Vec<Migration>) -> Result<(), AedbError> {
        self.run_migrations(migrations).await.map(|_| ())
    }

    /// Applies one migration unless it was applied before with the same
    /// checksum. Unlike a run, a newer stored version is no refusal here; an
    /// unapplied version older than the newest applied one still is.
    pub async fn apply_migration(&self, migration: Migration) -> Result<(), AedbError> {
        let call = self.call("apply_migration", None);
        self.run_migrations_by(call, vec![migration], false)
            .await
            .map(|_| ())
    }

    /// The applied migrations of (project, scope), oldest first.
    pub async fn list_applied_migrations(
        &self,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<MigrationRecord>, AedbError> {
        self.applied_migrations(project_id, scope_id).await
    }

    /// The applied migrations of (project, scope), oldest first.
    pub async fn applied_migrations(
        &self,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<MigrationRecord>, AedbError> {
        let call = self.call("applied_migrations", None);
        self.migration_history(&call, project_id, scope_id).await
    }

    /// `applied_migrations` for `caller` (DDL rights on the scope).
    pub async fn applied_migrations_as(
        &self,
        caller: &CallerContext,
        project_id: &str,
        scope_id: &str,
    ) -> Result<Vec<MigrationRecord>, AedbError> {
        let call = self.call_by("applied_migrations_as", Some(caller));
        self.migration_history(&call, project_id, scope_id).await
    }

    /// The newest applied version of (project, scope); 0 when none is.
    pub async fn current_version(
        &self,
        project_id: &str,
        scope_id: &str,
    ) -> Result<u64, AedbError> {
        let history = self.applied_migrations(project_id, scope_id).await?;
        Ok(history.last().map_or(0, |r| r.version))
    }

    async fn rollback_by(
        &self,
        call: Call<'static>,
        (project_id, scope_id): (&str, &str),
        target_version_inclusive: u64,
        available_migrations: Vec<Migration>,
    ) -> Result<(), AedbError> {
        let stored = self.migration_history(&call, project_id, scope_id).await?;
        let max = self.inner.config.max_batch_rows;
        let mut available = group(available_migrations, max)?
            .remove(&(project_id.to_string(), scope_id.to_string()))
            .unwrap_or_default();
        // Newest first; every one checked before the first commit.
        let mut steps = Vec::new();
        for r in stored
            .iter()
            .rev()
            .take_while(|r| r.version > target_version_inclusive)
        {
            let Some(i) = available.iter().position(|(m, _)| m.version == r.version) else {
                return Err(AedbError::Migration {
                    project_id: project_id.to_string(),
                    scope_id: scope_id.to_string(),
                    version: r.version,
                    problem: MigrationProblem::NotGiven,
                });
            };
            let (m, sum) = available.swap_remove(i);
            if sum != r.checksum_hex {
                let problem = MigrationProblem::ChecksumChanged {
                    stored: r.checksum_hex.clone(),
                    given: sum,
                };
                return Err(m.refused(problem));
            }
            if m.down_mutations.is_none() {
                return Err(m.refused(MigrationProblem::NoDownMutations));
            }
            steps.push((m, sum));
        }
        for (m, sum) in steps {
            self.commit_migration(call.clone(), m, sum, Direction::Down)
                .await?;
        }
        Ok(())
    }

    /// Rolls (project, scope) back until `target_version_inclusive` is its
    /// newest applied version: the newer migrations' down mutations, newest
    /// first, each in one durable commit that also deletes its history row.
    /// Each needs its definition among `available_migrations` (same checksum
    /// as applied) with down mutations; all are checked before the first
    /// commit.
    pub async fn rollback_to_migration(
        &self,
        project_id: &str,
        scope_id: &str,
        target_version_inclusive: u64,
        available_migrations: Vec<Migration>,
    ) -> Result<(), AedbError> {
        let call = self.call("rollback_to_migration", None);
        let at = (project_id, scope_id);
        self.rollback_by(call, at, target_version_inclusive, available_migrations)
            .await
    }

    /// `rollback_to_migration` for `caller`.
    pub async fn rollback_to_migration_as(
        &self,
        caller: CallerContext,
        project_id: &str,
        scope_id: &str,
        target_version_inclusive: u64,
        available_migrations: Vec<Migration>,
    ) -> Result<(), AedbError> {
        let call = self.call("rollback_to_migration_as", Some(caller));
        let at = (project_id, scope_id);
        self.rollback_by(call, at, target_version_inclusive, available_migrations)
            .await
    }
}
