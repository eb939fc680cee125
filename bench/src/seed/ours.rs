//! The seed suite on our facade.

crate::seed::adapter::seed_adapter!(
    Ours,
    aedb,
    error = aedb::AedbError,
    create_table_extra = {},
    accumulate = |_this, _n| { Ok(None) }
);
