//! aedb 0.1.9 from crates.io, the predecessor this workspace replaces. It is
//! async (tokio) and keeps its keyspace in memory; commits go through
//! `Mutation::KvSet`/`KvDel` and are awaited with `CommitFinality::Durable`.
//! Where 0.1.9 cannot run a row as specified, the nearest honest equivalent is
//! run and a `NOTE` says what was measured instead.

use std::path::{Path, PathBuf};

use aedb_019::commit::tx::{ReadSet, TransactionEnvelope, WriteClass, WriteIntent};
use aedb_019::commit::validation::Mutation;
use aedb_019::config::AedbConfig;
use aedb_019::query::plan::ConsistencyMode;
use aedb_019::{AedbInstance, CommitFinality};
use tokio::runtime::Runtime;

use super::Engine;
use crate::workload::{Key, Res, note};

const PROJECT: &str = "bench";
const SCOPE: &str = "kv";
/// 0.1.9 rejects transactions over `max_transaction_bytes` (16 MiB by
/// default); batches are cut at half that by a generous per-mutation estimate
/// (key + value + 64 bytes of envelope/encoding overhead).
const TXN_BUDGET: usize = 8 << 20;
const MUTATION_OVERHEAD: usize = 64;

pub struct Aedb019 {
    rt: Runtime,
    dir: PathBuf,
    db: Option<AedbInstance>,
}

fn set(key: &Key, value: &[u8]) -> Mutation {
    Mutation::KvSet {
        project_id: PROJECT.into(),
        scope_id: SCOPE.into(),
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

fn del(key: &Key) -> Mutation {
    Mutation::KvDel {
        project_id: PROJECT.into(),
        scope_id: SCOPE.into(),
        key: key.to_vec(),
    }
}

impl Aedb019 {
    pub fn create(dir: &Path) -> Res<Aedb019> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let mut e = Aedb019 {
            rt,
            dir: dir.to_path_buf(),
            db: None,
        };
        e.open()?;
        let db = e.db()?;
        e.rt.block_on(async {
            db.create_project(PROJECT).await?;
            db.create_scope(PROJECT, SCOPE).await?;
            Res::Ok(())
        })?;
        note(
            "get1_ms",
            "aedb019: no KV read transaction; every kv_get_no_auth acquires its own snapshot",
        );
        note(
            "get2_ms",
            "aedb019: as get1_ms, from 2 threads blocking on one tokio runtime",
        );
        Ok(e)
    }

    fn db(&self) -> Res<&AedbInstance> {
        self.db
            .as_ref()
            .ok_or_else(|| "aedb019: instance is closed".into())
    }

    /// One durable transaction of `mutations` (an envelope with no reads or
    /// assertions, so it cannot conflict).
    fn commit(&self, mutations: Vec<Mutation>) -> Res<()> {
        let db = self.db()?;
        self.rt.block_on(async {
            // The envelope carries no read set, so base_seq only records the
            // head it was built on; OperationalMetrics is the public way to read it.
            let base_seq = db.operational_metrics().await.visible_head_seq;
            let envelope = TransactionEnvelope {
                caller: None,
                idempotency_key: None,
                write_class: WriteClass::Standard,
                assertions: Vec::new(),
                read_set: ReadSet::default(),
                write_intent: WriteIntent { mutations },
                base_seq,
            };
            db.commit_envelope_with_finality(envelope, CommitFinality::Durable)
                .await?;
            Res::Ok(())
        })
    }

    /// Commits `keys` in as few transactions as the size cap allows; returns
    /// how many transactions that took.
    fn commit_chunked(
        &self,
        keys: &[Key],
        op: impl Fn(&Key) -> Mutation,
        per_key: usize,
    ) -> Res<usize> {
        let per_txn = (TXN_BUDGET / per_key).max(1);
        let mut txns = 0;
        for chunk in keys.chunks(per_txn) {
            self.commit(chunk.iter().map(&op).collect())?;
            txns += 1;
        }
        Ok(txns)
    }
}

impl Engine for Aedb019 {
    fn bulk_load(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        let txns = self.commit_chunked(
            keys,
            |k| set(k, value),
            keys.first().map_or(0, |k| k.len()) + value.len() + MUTATION_OVERHEAD,
        )?;
        if txns > 1 {
            note(
                "load_ms",
                &format!(
                    "aedb019: split into {txns} durable transactions (max_transaction_bytes is 16 MiB)"
                ),
            );
        }
        Ok(())
    }

    fn insert_txn(&self, keys: &[Key], value: &[u8]) -> Res<()> {
        if let [key] = keys {
            let db = self.db()?;
            return self.rt.block_on(async {
                db.commit_with_finality(set(key, value), CommitFinality::Durable)
                    .await?;
                Res::Ok(())
            });
        }
        self.commit(keys.iter().map(|k| set(k, value)).collect())
    }

    fn insert_concurrent(&self, key: &Key, value: &[u8]) -> Res<()> {
        // Each of the 64 threads blocks on the shared multi-thread runtime.
        self.insert_txn(std::slice::from_ref(key), value)
    }

    fn get_all(&self, keys: &[Key]) -> Res<usize> {
        let db = self.db()?;
        self.rt.block_on(async {
            let mut found = 0;
            for k in keys {
                if let Some(e) = db
                    .kv_get_no_auth(PROJECT, SCOPE, k, ConsistencyMode::AtLatest)
                    .await?
                {
                    found += usize::from(!e.value.is_empty());
                }
            }
            Res::Ok(found)
        })
    }

    fn range_all(&self, starts: &[Key], len: usize) -> Res<usize> {
        // 0.1.9's only range scan without an authenticated CallerContext is a
        // prefix scan, which copies its results out.
        note(
            "range_ms",
            "aedb019: kv_scan_range needs an authenticated caller; measured kv_scan_prefix_no_auth on the start key's first byte, limit 10 (results copied)",
        );
        let db = self.db()?;
        self.rt.block_on(async {
            let mut seen = 0;
            for s in starts {
                let entries = db
                    .kv_scan_prefix_no_auth(
                        PROJECT,
                        SCOPE,
                        &s[..1],
                        len as u64,
                        ConsistencyMode::AtLatest,
                    )
                    .await?;
                seen += entries
                    .iter()
                    .filter(|(k, e)| !k.is_empty() && !e.value.is_empty())
                    .count();
            }
            Res::Ok(seen)
        })
    }

    fn remove_txn(&self, keys: &[Key]) -> Res<()> {
        let txns = self.commit_chunked(
            keys,
            del,
            keys.first().map_or(0, |k| k.len()) + MUTATION_OVERHEAD,
        )?;
        if txns > 1 {
            note(
                "remove_half_ms",
                &format!(
                    "aedb019: split into {txns} durable transactions (max_transaction_bytes is 16 MiB)"
                ),
            );
        }
        Ok(())
    }

    fn compact(&mut self) -> Res<Option<&'static str>> {
        let db = self.db()?;
        self.rt.block_on(db.checkpoint_now())?;
        Ok(Some(
            "aedb019: after checkpoint_now() (full checkpoint of the in-memory keyspace)",
        ))
    }

    fn close(&mut self) -> Res<()> {
        if let Some(db) = self.db.take() {
            // 0.1.9's clean shutdown is a checkpoint; dropping inside the
            // runtime lets its background tasks wind down.
            self.rt.block_on(db.checkpoint_now())?;
            let _guard = self.rt.enter();
            drop(db);
        }
        Ok(())
    }

    fn open(&mut self) -> Res<()> {
        // open is synchronous but starts tasks on the ambient runtime.
        let _guard = self.rt.enter();
        self.db = Some(AedbInstance::open(AedbConfig::default(), &self.dir)?);
        Ok(())
    }
}
