//! The conversational session as a sans-IO state machine.
//!
//! A [`Session`] is one phone call or app session between a caller and a
//! model that accepts one response at a time. Inputs go in through
//! [`Session::handle`] with the current time; [`Command`]s come out, in the
//! order they must be carried out; [`Session::poll_timeout`] says when to
//! call again if nothing else happens.
//!
//! The session owns every rule that keeps turns from colliding: the turn
//! gate (one response requested or active at a time), the queue of user
//! turns and requested responses that wait for it, barge-in with truncation
//! at what the caller actually heard, playback tracking from the transport's
//! confirmations, dead-air check-ins, the call-duration limit, readiness
//! gating, and the replay outbox for app clients that reconnect.
//!
//! What this crate deliberately does not do: any IO. It never reads a clock,
//! opens a socket, spawns a task or holds a lock; it has no `async` and
//! depends on nothing but serde. Transports, backends and the driver that
//! runs a session live in other crates.

mod audio;
mod command;
mod config;
mod counters;
mod dead_air;
mod event;
mod gate;
mod ids;
mod input;
mod outbox;
mod pace;
mod playback;
mod queue;
mod session;

#[cfg(test)]
mod tests;

pub use audio::AudioChunk;
pub use command::{AppCommand, BackendCommand, Command, Purpose, ResponseSpec, TransportCommand};
#[cfg(feature = "planted-bugs")]
pub use config::PlantedBug;
pub use config::{
    BargeIn, ConfigError, DeadAirConfig, ResponseMode, SessionConfig, TurnDetection, TurnModel,
};
pub use counters::Counters;
pub use event::{DropReason, EndReason, Event, GateKind, Ignored, RequeueReason, Role, Wait};
pub use ids::{CallId, ClientEventId, ConnId, ForeignId, ItemId, MarkId, ResponseId};
pub use input::{BackendErrorKind, Input, Origin, ResponseStatus};
pub use outbox::{Outbox, Replay};
pub use playback::ItemProgress;
pub use session::{Session, SessionPhase};
