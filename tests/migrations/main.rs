//! Migrations (issue #18): versioned migrations recorded in the scope's
//! history (`versioned`), and declared schemas planned from what is stored,
//! checked against a model on random old → new schema pairs with data
//! (`declared_model`), and both crashed at every persistence call (`crash`).

#[path = "../facade_common/mod.rs"]
mod facade_common;

mod crash;
mod declared_model;
mod versioned;

/// `examples/migrations.rs`, which docs/AEDB_MIGRATION_SYSTEM.md walks
/// through, runs as written.
mod example {
    include!("../../examples/migrations.rs");
    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        main()
    }
}

#[test]
fn the_migrations_example_runs() {
    example::run().unwrap_or_else(|e| panic!("examples/migrations.rs: {e}"));
}
