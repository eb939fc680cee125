//! Checkpoints (the README's `aedb::checkpoint`): the durability side of the
//! engine, as the facade exposes it.
//!
//! Every commit is appended to the hash-chained WAL; a checkpoint makes the
//! page file hold the state of one seq (two meta pages, the newer one
//! current) so the WAL before it can go. They run when the WAL or the pages
//! written since the last one pass a threshold, on `checkpoint_interval_ms`,
//! on `AedbInstance::checkpoint_now` and at shutdown. While a backup copies
//! the files, checkpoints wait (`crate::backup`). The heads a subscriber or
//! an operator watches are [`CommitHeads`]: visible, durable, checkpointed.

pub use crate::config::DurabilityMode;
pub use crate::storage::{CommitEvent, CommitHeads};
