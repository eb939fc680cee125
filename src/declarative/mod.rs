//! Declarative schemas and migration builders.
//!
//! Two ways to evolve a scope's schema:
//! - **Declared** ([`SchemaSpec`]): list the tables the scope should hold
//!   ([`TableSpec`]: columns, primary key, constraints, [`IndexSpec`]s);
//!   [`SchemaSpec::plan`] shows the steps from what is stored (a dry run),
//!   [`SchemaSpec::apply`] commits them in one durable commit. Running it
//!   again plans nothing. Changes an alteration cannot make (primary key,
//!   column order, type or nullability) rebuild the table, copying every row;
//!   a row the new shape cannot hold fails the plan and nothing is written.
//! - **Versioned** ([`MigrationSpec`], [`TableMigrationBuilder`],
//!   [`SchemaMigrationPlan`]): numbered migrations, each applied once, in
//!   order, recorded in the scope's history with a checksum
//!   (`AedbInstance::run_migrations`, [`crate::migration`]).
//!
//! `docs/AEDB_MIGRATION_SYSTEM.md` walks through both.
//!
//! Room order: the top of the facade (above `instance`, whose doors it
//! calls); nothing imports it.

mod diff;
mod plan;
mod rebuild;
mod schema;
mod spec;
mod versioned;

pub use plan::{SchemaPlan, SchemaStep};
pub use schema::SchemaSpec;
pub use spec::{IndexSpec, TableSpec, transfer_table_ownership};
pub use versioned::{MigrationSpec, SchemaMigrationPlan, TableMigrationBuilder};
