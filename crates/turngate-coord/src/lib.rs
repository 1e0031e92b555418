//! Cross-worker coordination for turngate sessions: flags, signals to a
//! session's owner, ownership leases, fenced locks and counters.
//!
//! A phone call's media socket is sticky to one worker, which owns the
//! session; the provider's webhooks land on any worker. The [`Coordinator`]
//! carries a webhook's effect to the owner as a [`Signal`] (pushed at once,
//! stored so a missed push costs one inbox tick, handed to the session task
//! exactly once and in order), names the owner with a [`Lease`], and gives
//! chat conversations served by several workers a [`FencedLock`].
//!
//! Implementations:
//! - [`MemoryCoordinator`]: one process, no dependencies beyond Tokio;
//! - `RedisCoordinator` (feature `redis`): several processes over Redis
//!   (standalone; Sentinel and Cluster notes in `docs/coordination.md`).
//!
//! Both pass the same [`conformance`] suite. The receiving side of signals
//! is an [`Inbox`] per worker with one [`SessionSignals`] per owned session,
//! built for a session task's `tokio::select!` loop.
//!
//! What it deliberately does not do:
//! - interpret signals or flags (the server maps webhooks to signals and the
//!   session core decides what they mean);
//! - retry on its own: every failure is returned, typed, within a bounded
//!   time, and the operations a caller is expected to retry are idempotent
//!   (acquire, signals with a de-duplication key, drains);
//! - renew leases in the background (the session task owns that rhythm);
//! - make Redis durable: a signal is as durable as the Redis dataset that
//!   stored it (see `docs/coordination.md`, "Delivery guarantees");
//! - depend on any other turngate crate.

mod config;
mod coordinator;
mod error;
mod ids;
mod inbox;
mod memory;
mod signal;

pub mod conformance;
pub mod keys;
#[cfg(feature = "redis")]
pub mod redis;

pub use config::{Config, InboxConfig, MAX_TTL};
pub use coordinator::{Coordinator, CoordinatorExt, FencedLock, Lease};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use ids::{MAX_ID_LEN, MAX_NAME_LEN, SessionId, WorkerId};
pub use inbox::{Inbox, InboxHealth, InboxWaker, SessionSignals, SignalSource};
pub use memory::MemoryCoordinator;
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisCoordinator};
pub use signal::{
    Delivered, MAX_DEDUP_KEY_LEN, MAX_PAYLOAD, Signal, SignalId, SignalReceipt, StoredSignal,
};
