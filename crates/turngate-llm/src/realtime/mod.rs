//! Realtime (speech-to-speech) backends: the trait and its providers.
//!
//! A [`RealtimeBackend`] connects a [`RealtimeSessionConfig`] to a
//! [`RealtimeConnection`], which takes the session core's
//! [`BackendCommand`]s and yields the core's [`Input`]s. The connection is
//! the whole wire: it keeps the upstream session configured across
//! reconnects, correlates upstream errors with the commands that caused them,
//! and turns every upstream event into an input (or counts it as unknown).
//!
//! The contract a connection keeps with its driver:
//! - [`Input::BackendReady`] comes once the upstream session is configured;
//!   [`Input::BackendDisconnected`] when the link dies; `BackendReady` again
//!   after a successful reconnect. Commands sent while not ready are lost,
//!   as `BackendDisconnected` says.
//! - [`RealtimeConnection::recv`] is cancel-safe, so a driver can use it in
//!   `tokio::select!` next to its other sources; it returns `None` once the
//!   connection has given up for good (after its last inputs).
//! - An upstream error that answers one of our client events arrives as
//!   [`Input::BackendError`] with that event's [`ClientEventId`]; so does a
//!   command the connection refused itself because the upstream would have
//!   rejected it (a commit of less than the minimum audio, say).
//!
//! Providers, each behind its own cargo feature:
//! - [`openai`] (`openai-realtime`): the OpenAI Realtime GA WebSocket API.
//!
//! What this module deliberately does not do: run the session core, run
//! tools (the core asks the app through `AppCommand::InvokeTool`; see
//! [`crate::tool`]), or transcode audio (the formats are configured so that
//! the transport's bytes pass through).
//!
//! [`ClientEventId`]: turngate_core::ClientEventId

mod config;
mod error;
#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
mod link;
#[cfg(test)]
pub(crate) mod mutate;
mod stats;

#[cfg(feature = "openai-realtime")]
pub mod openai;
#[cfg(feature = "openai-live")]
pub mod openai_live;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use turngate_audio::AudioFormat;
use turngate_core::{BackendCommand, Input, TurnModel};

pub use config::{
    Eagerness, OutputModality, PCM_24K, RealtimeSessionConfig, SemanticVad, ServerVad, ToolSpec,
    TurnDetectionConfig,
};
pub use error::{BackendError, ErrorKind};
#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
pub use link::{ReconnectPolicy, WsConnection};
pub use stats::ConnectionStats;

/// The error code a provider answers a command with when its API has no
/// counterpart for it (a truncate sent to a full-duplex model, say). It is
/// turngate's own code, never an upstream's.
pub const UNSUPPORTED_COMMAND: &str = "turngate_unsupported_command";

/// A source of Realtime sessions: one provider, configured.
///
/// Object-safe, so a server can hold `Box<dyn RealtimeBackend>` or
/// `Arc<dyn RealtimeBackend>` and register providers it does not know.
#[async_trait]
pub trait RealtimeBackend: Send + Sync + fmt::Debug {
    /// What this backend can do, declared up front.
    fn capabilities(&self) -> RealtimeCapabilities;

    /// Opens one session. Returns once the link is up; the session is ready
    /// for traffic when the connection yields [`Input::BackendReady`].
    async fn connect(
        &self,
        config: RealtimeSessionConfig,
    ) -> Result<Box<dyn RealtimeConnection>, BackendError>;
}

/// One open Realtime session. See the [module docs](self) for the contract.
#[async_trait]
pub trait RealtimeConnection: Send + fmt::Debug {
    /// Hands one command to the connection. It fails only when the
    /// connection is gone for good or cannot take the command in bounded
    /// time; refusals of individual commands arrive through [`recv`](Self::recv).
    async fn send(&mut self, command: BackendCommand) -> Result<(), BackendError>;

    /// The next input for the session core; `None` once the connection has
    /// given up for good. Cancel-safe.
    async fn recv(&mut self) -> Option<Input>;

    /// Closes the session and waits (bounded) for the link to shut down.
    async fn close(self: Box<Self>);

    /// Counters of what crossed the connection so far.
    fn stats(&self) -> ConnectionStats;
}

/// What a Realtime backend can do, as far as the code that drives it must
/// know. Everything here is read by the server's driver; a provider's other
/// features are its own business.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealtimeCapabilities {
    /// The provider's name, for logs and metrics.
    pub provider: &'static str,
    /// Input audio formats it accepts.
    pub input_formats: Vec<AudioFormat>,
    /// Output audio formats it produces.
    pub output_formats: Vec<AudioFormat>,
    /// How it takes turns: the driver runs the session core with this.
    pub turn_model: TurnModel,
}

#[async_trait]
impl<T: RealtimeBackend + ?Sized> RealtimeBackend for Arc<T> {
    fn capabilities(&self) -> RealtimeCapabilities {
        (**self).capabilities()
    }

    async fn connect(
        &self,
        config: RealtimeSessionConfig,
    ) -> Result<Box<dyn RealtimeConnection>, BackendError> {
        (**self).connect(config).await
    }
}
