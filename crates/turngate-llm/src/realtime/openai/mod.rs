//! The OpenAI Realtime GA provider (WebSocket).
//!
//! - `wire` holds the GA client events we send and the server events we
//!   read, and classifies every frame as known, unknown or corrupt;
//! - `protocol` is the pure per-session state: core commands to client
//!   events, server events to core inputs, with the wire-level guards
//!   (commit minimum, truncate clamp, creates held while the server has a
//!   response of its own) and the transcript carried across reconnects;
//! - `io` is the only IO: the tokio-tungstenite task with reconnect and
//!   backoff.
//!
//! Every client event carries an `event_id`. For a core command it is the
//! core's [`ClientEventId`] (`tg<n>`), so an upstream `error` naming it goes
//! back to the core as the error of that command; `response.create` also
//! puts it in the response's `metadata` under [`CREATE_TAG_KEY`], so
//! `response.created` says which create it answers. Events the provider
//! sends on its own (the session update, re-injected items, appends, which
//! the core does not tag) carry `tgp<n>`, which no core id parses as.
//!
//! What this provider deliberately does not do: the retired beta wire shape
//! (`OpenAI-Beta: realtime=v1`), WebRTC or SIP events, MCP tools, or any
//! transcoding (configure the session formats to match the transport).
//!
//! [`ClientEventId`]: turngate_core::ClientEventId

#[cfg(any(test, feature = "fuzzing"))]
mod fuzz;
mod io;
mod protocol;
mod transcript;
mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use turngate_audio::AudioFormat;
use turngate_core::TurnModel;

use super::{
    BackendError, PCM_24K, RealtimeBackend, RealtimeCapabilities, RealtimeConnection,
    RealtimeSessionConfig,
};

pub use crate::realtime::ReconnectPolicy;
#[cfg(feature = "fuzzing")]
pub use fuzz::fuzz_server_events;
pub use io::OpenAiConnection;
pub use wire::CREATE_TAG_KEY;

/// The provider's name in logs, metrics and errors.
pub const PROVIDER: &str = "openai-realtime";

/// The default endpoint, with the GA model.
pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1";

/// The session limit OpenAI enforces (it closes with 1001 at 60 minutes).
pub const MAX_SESSION: Duration = Duration::from_secs(60 * 60);

/// The OpenAI Realtime GA backend.
#[derive(Clone, Debug)]
pub struct OpenAiRealtime {
    config: OpenAiRealtimeConfig,
    tls: Arc<io::TlsCache>,
}

/// How the provider connects and behaves on the wire.
#[derive(Clone)]
pub struct OpenAiRealtimeConfig {
    /// The full WebSocket URL including `?model=`.
    pub url: String,
    /// Sent as `Authorization: Bearer <key>`; `None` sends no credentials
    /// (a local simulator).
    pub api_key: Option<String>,
    /// True when the server echoes a response's `metadata` in
    /// `response.created` (OpenAI does). With it, a response without our tag
    /// is known to be the server's own; without it, origins are unknown.
    pub echoes_metadata: bool,
    /// How audio payloads are carried between the core and this provider.
    pub payload: PayloadEncoding,
    /// Reconnecting after a drop.
    pub reconnect: ReconnectPolicy,
    /// The longest a WebSocket upgrade may take.
    pub connect_timeout: Duration,
    /// The longest [`RealtimeConnection::send`] may wait for room.
    pub send_timeout: Duration,
    /// The longest one burst of writes to the server may take; a server
    /// that stops reading is treated as a lost link (and reconnected).
    pub write_timeout: Duration,
    /// The WebSocket read buffer (tungstenite zero-fills it per read, so
    /// small is cheaper; 4 KiB holds any one Realtime event we expect).
    pub read_buffer_size: usize,
    /// The least audio a commit must carry (the upstream rejects less).
    pub min_commit: Duration,
    /// After the server's turn detection ends a turn with
    /// `create_response` on, how long to expect its own response before a
    /// held create goes out anyway.
    pub auto_response_wait: Duration,
    /// The longest a create is held while the server is busy before it is
    /// answered locally with a conflict (keep it below the core's
    /// `create_timeout`).
    pub max_create_hold: Duration,
    /// How much conversation to keep for re-injection after a reconnect.
    pub transcript: TranscriptLimits,
}

/// How the opaque [`AudioChunk`](turngate_core::AudioChunk) payload is
/// encoded between the core and this provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadEncoding {
    /// Raw audio bytes in the session's format; the provider base64-encodes
    /// appends and decodes deltas.
    Raw,
    /// Base64 text of audio in the session's format, passed through
    /// unchanged in both directions (the transport must agree).
    Base64,
}

/// How much conversation is kept for re-injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranscriptLimits {
    /// Items kept (the oldest go first).
    pub max_items: usize,
    /// Characters of text kept over all items.
    pub max_chars: usize,
}

impl OpenAiRealtime {
    /// A backend with this configuration.
    pub fn new(config: OpenAiRealtimeConfig) -> OpenAiRealtime {
        OpenAiRealtime { config, tls: Arc::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &OpenAiRealtimeConfig {
        &self.config
    }
}

#[async_trait]
impl RealtimeBackend for OpenAiRealtime {
    fn capabilities(&self) -> RealtimeCapabilities {
        RealtimeCapabilities {
            provider: PROVIDER,
            input_formats: SUPPORTED_FORMATS.to_vec(),
            output_formats: SUPPORTED_FORMATS.to_vec(),
            turn_model: TurnModel::Gated,
        }
    }

    async fn connect(
        &self,
        config: RealtimeSessionConfig,
    ) -> Result<Box<dyn RealtimeConnection>, BackendError> {
        let connection = io::connect(self.config.clone(), config, &self.tls).await?;
        Ok(Box::new(connection))
    }
}

/// The audio formats of the GA API: `audio/pcmu`, `audio/pcma`, and
/// `audio/pcm` at 24 kHz only.
pub const SUPPORTED_FORMATS: [AudioFormat; 3] = [AudioFormat::Ulaw, AudioFormat::Alaw, PCM_24K];

impl OpenAiRealtimeConfig {
    /// The OpenAI endpoint with this key and the defaults below.
    pub fn openai(api_key: impl Into<String>) -> OpenAiRealtimeConfig {
        OpenAiRealtimeConfig { api_key: Some(api_key.into()), ..OpenAiRealtimeConfig::default() }
    }

    /// Another URL (a self-hosted or simulated server), keeping the rest.
    pub fn with_url(mut self, url: impl Into<String>) -> OpenAiRealtimeConfig {
        self.url = url.into();
        self
    }
}

impl Default for OpenAiRealtimeConfig {
    fn default() -> Self {
        OpenAiRealtimeConfig {
            url: DEFAULT_URL.to_owned(),
            api_key: None,
            echoes_metadata: true,
            payload: PayloadEncoding::Raw,
            reconnect: ReconnectPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            read_buffer_size: 4096,
            min_commit: Duration::from_millis(100),
            auto_response_wait: Duration::from_millis(1500),
            max_create_hold: Duration::from_secs(8),
            transcript: TranscriptLimits::default(),
        }
    }
}

impl Default for TranscriptLimits {
    fn default() -> Self {
        TranscriptLimits { max_items: 64, max_chars: 32 * 1024 }
    }
}

impl std::fmt::Debug for OpenAiRealtimeConfig {
    // The key must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRealtimeConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("echoes_metadata", &self.echoes_metadata)
            .field("payload", &self.payload)
            .field("reconnect", &self.reconnect)
            .field("connect_timeout", &self.connect_timeout)
            .field("send_timeout", &self.send_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("min_commit", &self.min_commit)
            .field("auto_response_wait", &self.auto_response_wait)
            .field("max_create_hold", &self.max_create_hold)
            .field("transcript", &self.transcript)
            .finish()
    }
}
