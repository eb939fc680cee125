//! One adapter body for both engines: our facade and aedb 0.1.9 share the seed
//! API's shape, so the suite's calls are written once and instantiated per crate
//! (`ours`, `v019`) with the few places where the APIs differ passed in.

/// Defines `pub struct $name` implementing `SeedEngine` over crate `$krate`.
macro_rules! seed_adapter {
    (
        $name:ident, $krate:ident,
        error = $err:ty,
        create_table_extra = { $($extra:tt)* },
        accumulate = |$this:ident, $n:ident| $accumulate:block,
        change_feed = |$fthis:ident, $fdir:ident, $fn:ident| $change_feed:block
    ) => {
        use std::path::Path;
        use std::sync::Arc;

        use $krate::catalog::DdlOperation;
        use $krate::catalog::schema::{ColumnDef, IndexType};
        use $krate::catalog::types::{ColumnType, Row, Value};
        use $krate::commit::action::ActionEnvelopeRequest;
        use $krate::commit::tx::{IdempotencyKey, WriteClass};
        use $krate::commit::validation::{KvU256MissingPolicy, KvU256OverflowPolicy, Mutation};
        use $krate::permission::{CallerContext, Permission};
        use $krate::query::plan::{ConsistencyMode, Expr, Query, QueryOptions};
        use $krate::{AedbInstance, CommitFinality, ReactiveProcessorOptions};
        use tokio::runtime::Runtime;

        use crate::seed::{SeedEngine, age_of};
        use crate::workload::Res;

        const P: &str = "bench";
        const S: &str = "app";

        pub struct $name {
            rt: Runtime,
            /// Shared by the concurrent row's tasks (0.1.9's instance is not `Clone`).
            db: Arc<AedbInstance>,
            /// With a caller, commits and point queries go through the `*_as`
            /// calls (the permission check's cost, issue #12).
            caller: Option<CallerContext>,
            /// Where the engine's files are (a second instance for the change
            /// feed row lives beside them).
            dir: std::path::PathBuf,
        }

        /// Bytes of the files under `dir`.
        fn dir_bytes(dir: &Path) -> Res<u64> {
            let mut total = 0;
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let meta = entry.metadata()?;
                total += if meta.is_dir() { dir_bytes(&entry.path())? } else { meta.len() };
            }
            Ok(total)
        }

        fn accumulate(name: &str, delta: i64, dedupe_key: String, order_key: u64) -> Mutation {
            Mutation::Accumulate {
                project_id: P.into(),
                scope_id: S.into(),
                accumulator_name: name.into(),
                delta,
                dedupe_key,
                order_key,
                release_exposure_id: None,
            }
        }

        fn add_u256(key: Vec<u8>) -> Mutation {
            let mut one = [0u8; 32];
            one[31] = 1;
            Mutation::KvAddU256Ex {
                project_id: P.into(),
                scope_id: S.into(),
                key,
                amount_be: one,
                on_missing: KvU256MissingPolicy::TreatAsZero,
                on_overflow: KvU256OverflowPolicy::Reject,
            }
        }

        /// Action `i` of task `t`: its effect and its metadata, under its own key.
        fn action(t: usize, i: usize) -> ActionEnvelopeRequest {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&(t as u64).to_be_bytes());
            key[8..].copy_from_slice(&(i as u64).to_be_bytes());
            let kv = |k: String, v: &[u8]| Mutation::KvSet { project_id: P.into(), scope_id: S.into(), key: k.into_bytes(), value: v.to_vec() };
            ActionEnvelopeRequest {
                caller: None,
                idempotency_key: IdempotencyKey(key),
                write_class: WriteClass::Standard,
                base_seq: 0,
                assertions: Vec::new(),
                mutations: vec![kv(format!("effect:{t}:{i}"), b"done"), kv(format!("meta:{t}"), &(i as u64).to_be_bytes())],
            }
        }

        fn user(id: i64) -> Row {
            Row::from_values(vec![Value::Integer(id), Value::Text(format!("user-{id}").into()), Value::Integer(age_of(id))])
        }

        fn insert(id: i64) -> Mutation {
            Mutation::Insert { project_id: P.into(), scope_id: S.into(), table_name: "users".into(), primary_key: vec![Value::Integer(id)], row: user(id) }
        }

        impl $name {
            /// The suite with a caller holding exactly `TableRead` and
            /// `TableWrite` on `users`.
            #[allow(dead_code)]
            pub fn open_as(dir: &Path) -> Res<$name> {
                let mut e = Self::open(dir)?;
                e.caller = Some(CallerContext::new("bench"));
                Ok(e)
            }

            pub fn open(dir: &Path) -> Res<$name> {
                let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
                // 0.1.9's open starts tasks on the ambient runtime.
                let db = {
                    let _guard = rt.enter();
                    AedbInstance::open(Default::default(), dir)?
                };
                Ok($name { rt, db: Arc::new(db), caller: None, dir: dir.to_path_buf() })
            }

            fn commit(&self, m: Mutation) -> Res<()> {
                match &self.caller {
                    Some(c) => self.rt.block_on(self.db.commit_as_with_finality(c.clone(), m, CommitFinality::Durable))?,
                    None => self.rt.block_on(self.db.commit_with_finality(m, CommitFinality::Durable))?,
                };
                Ok(())
            }

            fn commit_plain(&self, m: Mutation) -> Res<()> {
                self.rt.block_on(self.db.commit_with_finality(m, CommitFinality::Durable))?;
                Ok(())
            }
        }

        impl SeedEngine for $name {
            fn setup(&self) -> Res<()> {
                self.rt.block_on(self.db.create_project(P))?;
                let col = |name: &str, col_type| ColumnDef { name: name.into(), col_type, nullable: false };
                self.commit_plain(Mutation::Ddl(DdlOperation::CreateTable {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "users".into(),
                    owner_id: None,
                    $($extra)*
                    columns: vec![col("id", ColumnType::Integer), col("name", ColumnType::Text), col("age", ColumnType::Integer)],
                    primary_key: vec!["id".into()],
                }))?;
                self.commit_plain(Mutation::Ddl(DdlOperation::CreateIndex {
                    project_id: P.into(),
                    scope_id: S.into(),
                    table_name: "users".into(),
                    index_name: "by_age".into(),
                    if_not_exists: false,
                    columns: vec!["age".into()],
                    index_type: IndexType::BTree,
                    partial_filter: None,
                }))?;
                if let Some(c) = &self.caller {
                    let table = |read| if read {
                        Permission::TableRead { project_id: P.into(), scope_id: S.into(), table_name: "users".into() }
                    } else {
                        Permission::TableWrite { project_id: P.into(), scope_id: S.into(), table_name: "users".into() }
                    };
                    let kv = |read| if read {
                        Permission::KvRead { project_id: P.into(), scope_id: Some(S.into()), prefix: None }
                    } else {
                        Permission::KvWrite { project_id: P.into(), scope_id: Some(S.into()), prefix: None }
                    };
                    for permission in [table(true), table(false), kv(true), kv(false)] {
                        self.commit_plain(Mutation::Ddl(DdlOperation::GrantPermission {
                            caller_id: c.caller_id.clone(),
                            permission,
                            actor_id: None,
                            delegable: false,
                        }))?;
                    }
                }
                Ok(())
            }

            fn insert_batch(&self, ids: &[i64]) -> Res<()> {
                self.commit(Mutation::InsertBatch { project_id: P.into(), scope_id: S.into(), table_name: "users".into(), rows: ids.iter().map(|&i| user(i)).collect() })
            }

            fn insert_serial(&self, ids: &[i64]) -> Res<()> {
                ids.iter().try_for_each(|&i| self.commit(insert(i)))
            }

            fn insert_concurrent(&self, ids: &[i64], tasks: usize) -> Res<()> {
                self.rt.block_on(async {
                    let per = ids.len().div_ceil(tasks);
                    let handles: Vec<_> = ids
                        .chunks(per)
                        .map(|chunk| {
                            let db = self.db.clone();
                            let chunk = chunk.to_vec();
                            tokio::spawn(async move {
                                for i in chunk {
                                    db.commit_with_finality(insert(i), CommitFinality::Durable).await?;
                                }
                                Ok::<(), $err>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await??;
                    }
                    Res::Ok(())
                })
            }

            fn pk_queries(&self, ids: &[i64]) -> Res<usize> {
                self.rt.block_on(async {
                    let mut found = 0;
                    for &id in ids {
                        let q = Query::select(&["*"]).from("users").where_(Expr::Eq("id".into(), Value::Integer(id)));
                        found += match &self.caller {
                            Some(c) => self.db.query_with_options_as(Some(c), P, S, q, QueryOptions::default()).await?,
                            None => self.db.query(P, S, q).await?,
                        }
                        .rows
                        .len();
                    }
                    Res::Ok(found)
                })
            }

            fn index_ranges(&self, ages: &[i64]) -> Res<usize> {
                self.rt.block_on(async {
                    let mut found = 0;
                    for &a in ages {
                        let q = Query::select(&["*"]).from("users").where_(Expr::Between("age".into(), Value::Integer(a), Value::Integer(a + 9))).limit(100);
                        found += self.db.query(P, S, q).await?.rows.len();
                    }
                    Res::Ok(found)
                })
            }

            fn kv_sets(&self, keys: &[Vec<u8>]) -> Res<()> {
                keys.iter().try_for_each(|k| self.commit(Mutation::KvSet { project_id: P.into(), scope_id: S.into(), key: k.clone(), value: k.clone() }))
            }

            fn kv_gets(&self, keys: &[Vec<u8>]) -> Res<usize> {
                self.rt.block_on(async {
                    let mut hits = 0;
                    for k in keys {
                        hits += usize::from(self.db.kv_get_no_auth(P, S, k, ConsistencyMode::AtLatest).await?.is_some());
                    }
                    Res::Ok(hits)
                })
            }

            fn accumulate(&self, n: usize) -> Res<Option<()>> {
                let ($this, $n) = (self, n);
                $accumulate
            }

            fn kv_add_u256_serial(&self, n: usize) -> Res<()> {
                (0..n).try_for_each(|_| self.commit(add_u256(b"counter".to_vec())))
            }

            fn kv_add_u256_concurrent(&self, tasks: usize, per: usize) -> Res<()> {
                self.rt.block_on(async {
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let db = self.db.clone();
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    db.commit_with_finality(add_u256(format!("counter:{t}").into_bytes()), CommitFinality::Durable).await?;
                                }
                                Ok::<(), $err>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await??;
                    }
                    Res::Ok(())
                })
            }

            fn action_envelopes_concurrent(&self, tasks: usize, per: usize) -> Res<()> {
                self.rt.block_on(async {
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let db = self.db.clone();
                            tokio::spawn(async move {
                                for i in 0..per {
                                    db.commit_action_envelope(action(t, i)).await?;
                                }
                                Ok::<(), $err>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await??;
                    }
                    Res::Ok(())
                })
            }

            fn accumulate_visible(&self, n: usize) -> Res<()> {
                self.rt.block_on(async {
                    self.db.create_accumulator(P, S, "visible", Some(86_400), 10_000).await?;
                    for i in 0..n {
                        let m = accumulate("visible", 1, format!("v{i}"), i as u64 + 1);
                        self.db.commit_with_finality(m, CommitFinality::Visible).await?;
                    }
                    Res::Ok(())
                })
            }

            fn accumulate_concurrent(&self, tasks: usize, per: usize) -> Res<()> {
                self.rt.block_on(async {
                    for t in 0..tasks {
                        self.db.create_accumulator(P, S, &format!("task{t}"), Some(86_400), 10_000).await?;
                    }
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let db = self.db.clone();
                            tokio::spawn(async move {
                                let name = format!("task{t}");
                                for i in 0..per {
                                    db.accumulate(P, S, &name, 1, format!("c{i}"), i as u64 + 1).await?;
                                }
                                Ok::<(), $err>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await??;
                    }
                    Res::Ok(())
                })
            }

            fn value_strong_us(&self, deltas: usize, reads: usize) -> Res<f64> {
                self.rt.block_on(async {
                    // Never projected: every delta stays pending.
                    self.db.create_accumulator(P, S, "deep", None, 1 << 40).await?;
                    let ids: Vec<usize> = (0..deltas).collect();
                    for chunk in ids.chunks(5_000) {
                        let batch = chunk.iter().map(|&i| accumulate("deep", 1, format!("d{i}"), i as u64 + 1)).collect();
                        self.db.commit_many_atomic(batch).await?;
                    }
                    let t = std::time::Instant::now();
                    for _ in 0..reads {
                        let v = self.db.accumulator_value_strong(P, S, "deep", ConsistencyMode::AtLatest).await?;
                        if v != deltas as i64 {
                            return Err(format!("value_strong {v}, expected {deltas}").into());
                        }
                    }
                    Res::Ok(t.elapsed().as_secs_f64() * 1e6 / reads as f64)
                })
            }

            fn emit_concurrent(&self, tasks: usize, per: usize) -> Res<()> {
                self.rt.block_on(async {
                    let handles: Vec<_> = (0..tasks)
                        .map(|t| {
                            let db = self.db.clone();
                            tokio::spawn(async move {
                                for i in 0..per {
                                    let payload = format!("{{\"task\":{t},\"i\":{i}}}");
                                    db.emit_event(P, S, "bench", format!("{t}.{i}"), payload).await?;
                                }
                                Ok::<(), $err>(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.await??;
                    }
                    Res::Ok(())
                })
            }

            fn read_events_us(&self, events: usize, reads: usize) -> Res<f64> {
                self.rt.block_on(async {
                    let from = self.db.read_event_stream(None, 0, 100_000, ConsistencyMode::AtLatest).await?
                        .next_commit_seq.unwrap_or(0);
                    let batch: Vec<Mutation> = (0..events)
                        .map(|i| Mutation::EmitEvent { project_id: P.into(), scope_id: S.into(), topic: "page".into(), event_key: i.to_string(), payload_json: "{}".into() })
                        .collect();
                    self.db.commit_many_atomic(batch).await?;
                    let t = std::time::Instant::now();
                    for _ in 0..reads {
                        let page = self.db.read_event_stream(Some("page"), from, events, ConsistencyMode::AtLatest).await?;
                        if page.events.len() != events {
                            return Err(format!("read {} events, expected {events}", page.events.len()).into());
                        }
                    }
                    Res::Ok(t.elapsed().as_secs_f64() * 1e6 / reads as f64)
                })
            }

            fn processor_lag_us(&self, n: usize) -> Res<Vec<f64>> {
                self.rt.block_on(async {
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, std::time::Instant)>();
                    let options = ReactiveProcessorOptions {
                        topic_filter: Some("lag".into()),
                        ..ReactiveProcessorOptions::default()
                    };
                    self.db
                        .start_reactive_processor("lag", options, move |_db, events| {
                            let tx = tx.clone();
                            async move {
                                let now = std::time::Instant::now();
                                for e in events {
                                    let _ = tx.send((e.event_key, now));
                                }
                                Ok(())
                            }
                        })
                        .await?;
                    let mut lags = Vec::with_capacity(n);
                    for i in 0..n {
                        let t = std::time::Instant::now();
                        self.db.emit_event(P, S, "lag", i.to_string(), "{}".into()).await?;
                        loop {
                            let Some((key, at)) = rx.recv().await else {
                                return Err("the processor stopped".into());
                            };
                            if key == i.to_string() {
                                lags.push(at.duration_since(t).as_secs_f64() * 1e6);
                                break;
                            }
                        }
                    }
                    self.db.stop_reactive_processor("lag").await?;
                    Res::Ok(lags)
                })
            }

            fn stalled_processor_us(&self, n: usize) -> Res<(f64, f64)> {
                self.rt.block_on(async {
                    let emits = |topic: &'static str| async move {
                        let t = std::time::Instant::now();
                        for i in 0..n {
                            self.db.emit_event(P, S, topic, i.to_string(), "{}".into()).await?;
                        }
                        Res::Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
                    };
                    let without = emits("stall").await?;
                    // A handler that sleeps through the measurement (it is
                    // never stopped: stopping waits for its run to end).
                    let options = ReactiveProcessorOptions {
                        topic_filter: Some("stall".into()),
                        max_run_duration_ms: 600_000,
                        ..ReactiveProcessorOptions::default()
                    };
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                    self.db
                        .start_reactive_processor("stalled", options, move |_db, _events| {
                            let tx = tx.clone();
                            async move {
                                let _ = tx.send(());
                                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                                Ok(())
                            }
                        })
                        .await?;
                    if rx.recv().await.is_none() {
                        return Err("the stalled processor never ran".into());
                    }
                    let with = emits("stall").await?;
                    Res::Ok((without, with))
                })
            }

            fn backup_under_load(&self, tasks: usize, per: usize) -> Res<(f64, f64, f64)> {
                self.rt.block_on(async {
                    // Per insert latencies (µs) of `tasks` tasks from id `base` on.
                    let inserts = |base: i64| {
                        let handles: Vec<_> = (0..tasks)
                            .map(|t| {
                                let db = self.db.clone();
                                tokio::spawn(async move {
                                    let mut lat = Vec::with_capacity(per);
                                    for i in 0..per {
                                        let id = base + (t * per + i) as i64;
                                        let s = std::time::Instant::now();
                                        db.commit_with_finality(insert(id), CommitFinality::Durable).await?;
                                        lat.push(s.elapsed().as_secs_f64() * 1e6);
                                    }
                                    Ok::<Vec<f64>, $err>(lat)
                                })
                            })
                            .collect();
                        async move {
                            let mut all = Vec::new();
                            for h in handles {
                                all.extend(h.await??);
                            }
                            all.sort_by(f64::total_cmp);
                            Res::Ok(all)
                        }
                    };
                    let p99 = |v: &[f64]| v[v.len() * 99 / 100];
                    let quiet = inserts(50_000_000).await?;
                    let target = self.dir.join("backup-under-load");
                    let db = self.db.clone();
                    let t = std::time::Instant::now();
                    let backup = tokio::spawn({
                        let target = target.clone();
                        async move { db.backup_full(&target).await.map(|_| t.elapsed()) }
                    });
                    let busy = inserts(60_000_000).await?;
                    let took = backup.await??;
                    let bytes = dir_bytes(&target)?;
                    let mib_per_s = bytes as f64 / (1 << 20) as f64 / took.as_secs_f64();
                    Res::Ok((mib_per_s, p99(&quiet), p99(&busy)))
                })
            }

            fn metrics_call_us(&self, n: usize) -> Res<f64> {
                self.rt.block_on(async {
                    let t = std::time::Instant::now();
                    let mut seen = 0;
                    for _ in 0..n {
                        seen += self.db.operational_metrics().await.visible_head_seq.min(1);
                    }
                    std::hint::black_box(seen);
                    Res::Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
                })
            }

            fn change_feed_lag_us(&self, n: usize) -> Res<Option<f64>> {
                let ($fthis, $fdir, $fn) = (self, &self.dir, n);
                $change_feed
            }

            fn migrations_ms(&self, n: usize) -> Res<(f64, f64)> {
                use $krate::catalog::schema::TableAlteration;
                use $krate::migration::Migration;
                let list: Vec<Migration> = (1..=n as u64)
                    .map(|v| {
                        let column = format!("extra_{v}");
                        let add = DdlOperation::AlterTable {
                            project_id: P.into(),
                            scope_id: S.into(),
                            table_name: "users".into(),
                            alteration: TableAlteration::AddColumn(ColumnDef {
                                name: column,
                                col_type: ColumnType::Text,
                                nullable: true,
                            }),
                        };
                        let index = DdlOperation::CreateIndex {
                            project_id: P.into(),
                            scope_id: S.into(),
                            table_name: "users".into(),
                            index_name: format!("by_name_{v}"),
                            if_not_exists: false,
                            // On an existing column: 0.1.9 panics building an
                            // index on a column its rows were written without.
                            columns: vec!["name".into()],
                            index_type: IndexType::BTree,
                            partial_filter: None,
                        };
                        Migration {
                            version: v,
                            name: format!("extra column {v}"),
                            project_id: P.into(),
                            scope_id: S.into(),
                            mutations: vec![Mutation::Ddl(add), Mutation::Ddl(index)],
                            down_mutations: None,
                        }
                    })
                    .collect();
                self.rt.block_on(async {
                    let t = std::time::Instant::now();
                    self.db.run_migrations(list.clone()).await?;
                    let first = t.elapsed().as_secs_f64() * 1e3;
                    let t = std::time::Instant::now();
                    let again = self.db.run_migrations(list).await?;
                    let second = t.elapsed().as_secs_f64() * 1e3;
                    if !again.applied.is_empty() || again.skipped.len() != n {
                        return Err(format!(
                            "the second run applied {:?} and skipped {:?}",
                            again.applied, again.skipped
                        )
                        .into());
                    }
                    Res::Ok((first, second))
                })
            }
        }
    };
}

pub(crate) use seed_adapter;
