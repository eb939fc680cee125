//! The seed suite on aedb 0.1.9: the same calls (its `CreateTable` has an
//! `if_not_exists` field, its KV read without a caller is `kv_get_no_auth`).

crate::seed::adapter::seed_adapter!(
    V019, aedb_019,
    error = aedb_019::error::AedbError,
    create_table_extra = { if_not_exists: false, },
    accumulate = |this, n| {
        this.rt.block_on(async {
            this.db.create_accumulator(P, S, "balance", Some(86_400), 10_000).await?;
            for i in 0..n {
                // Order keys must increase strictly from 1.
                this.db.accumulate(P, S, "balance", 1, format!("op-{i}"), i as u64 + 1).await?;
            }
            Res::Ok(Some(()))
        })
    },
    change_feed = |_this, _dir, _n| { Ok(None) }
);
