//! The seed suite on our facade.

crate::seed::adapter::seed_adapter!(
    Ours,
    aedb,
    error = aedb::AedbError,
    create_table_extra = {},
    kv_get = kv_get,
    accumulate = |_this, _n| { Ok(None) }
);
