//! Recovery (the README's `aedb::recovery`): what an open does after a crash
//! and what it reports.
//!
//! An open reads the current meta's checkpoint, replays the WAL after it
//! (every frame checked: crc, hash chain, HMAC when keyed) and, when it
//! replayed anything, checkpoints twice before the first new commit.
//! [`RecoveryMode::Strict`] refuses damage it cannot prove harmless;
//! `Permissive` sets it aside and reports it. [`RecoveryReport`] (from
//! `AedbInstance::recovery_report`) says what happened. Restores from
//! backups (`crate::backup`) end in the same recovery, stopped at the target
//! seq; a directory whose restore did not finish holds [`RESTORE_MARKER`]
//! and is refused by every open.

pub use crate::backup::RESTORE_MARKER;
pub use crate::config::RecoveryMode;
pub use crate::storage::RecoveryReport;
