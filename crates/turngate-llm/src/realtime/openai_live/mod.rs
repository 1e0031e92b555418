//! OpenAI GPT-Live over its primary WebSocket (`wss://api.openai.com/v1/live/sessions`),
//! the second speech-to-speech backend: a full-duplex model that decides
//! itself when to speak and when to stop, so the client opens no responses,
//! cancels nothing and truncates nothing. What remains for the client is
//! keeping the input timeline moving, appending context and results exactly
//! once, and acting on each delegation exactly once.
//!
//! The provider shape the others share: [`wire`] (the events), `protocol`
//! (the sans-IO state of one call across sessions), `io` (the WebSocket
//! link) and the sans-IO parts the protocol composes: [`appends`],
//! [`delegations`] (client delegation), [`backend_calls`] (Responses
//! delegation) and [`silence`].
//!
//! The session core drives it with
//! [`TurnModel::FullDuplex`](turngate_core::TurnModel::FullDuplex): the core
//! never commits, opens, cancels or truncates, and the model's speech
//! arrives as server responses, one per stretch of speech.
//!
//! Facts come from the openai-python SDK's Live types (`openai/types/live/`,
//! version 3.57.0) and OpenAI's GPT-Live guides
//! (<https://developers.openai.com/api/docs/guides/live-conversations>,
//! <https://developers.openai.com/api/docs/guides/voice-websockets?api=live>).

pub mod appends;
pub mod backend_calls;
pub mod delegations;
#[cfg(any(test, feature = "fuzzing"))]
mod fuzz;
mod io;
mod protocol;
pub mod silence;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use turngate_audio::{AudioFormat, GateConfig, SampleRate};
use turngate_core::TurnModel;

#[cfg(feature = "fuzzing")]
pub use fuzz::fuzz_server_events;
pub use io::OpenAiLiveConnection;

use crate::realtime::{
    BackendError, RealtimeBackend, RealtimeCapabilities, RealtimeConnection, RealtimeSessionConfig,
    ReconnectPolicy,
};

/// The provider's name in logs, metrics and errors.
pub const PROVIDER: &str = "openai-live";

/// The name of the tool a delegation is handed to the app as.
pub const DEFAULT_DELEGATION_TOOL: &str = "delegate";

/// The formats GPT-Live takes on its primary WebSocket, one for both directions.
const FORMATS: [AudioFormat; 4] = [
    AudioFormat::Ulaw,
    AudioFormat::Alaw,
    AudioFormat::Pcm16(SampleRate::Hz16000),
    AudioFormat::Pcm16(SampleRate::Hz24000),
];

/// The GPT-Live backend.
#[derive(Clone, Debug)]
pub struct OpenAiLive {
    config: OpenAiLiveConfig,
    tls: Arc<crate::realtime::link::TlsCache>,
}

/// How the provider connects and behaves on the wire.
#[derive(Clone)]
pub struct OpenAiLiveConfig {
    /// The primary WebSocket URL (no query parameters).
    pub url: String,
    /// Sent as `Authorization: Bearer <key>`; `None` sends no credentials
    /// (a local simulator).
    pub api_key: Option<String>,
    /// The model, named in `session.start`.
    pub model: String,
    /// How long the server waits before the model acknowledges a
    /// delegation by itself ("one moment"); `None` keeps the server's default.
    pub acknowledgement_delay_ms: Option<u32>,
    /// Who does delegated work: the app, or a backend Responses model
    /// that calls the app's own tools.
    pub delegation: LiveDelegation,
    /// The tool a client delegation is handed to the app as: its arguments are
    /// `{"request": "<what the caller said since the last delegation>"}`,
    /// since a delegation carries no task text of its own.
    pub delegation_tool: String,
    /// How late the carrier's audio may be before silence is sent in its
    /// place, so the session timeline keeps moving.
    pub silence_grace: Duration,
    /// The pause in the caller's transcript that ends what they said.
    pub caller_pause: Duration,
    /// The gate that cuts the model's speech out of its continuous track.
    pub speech_gate: GateConfig,
    /// Reconnecting after a drop. Every new link is a new session: the old
    /// one is gone with its connection.
    pub reconnect: ReconnectPolicy,
    /// The longest a WebSocket upgrade may take.
    pub connect_timeout: Duration,
    /// The longest [`RealtimeConnection::send`] may wait for room.
    pub send_timeout: Duration,
    /// The longest one burst of writes may take; a server that stops
    /// reading is a lost link.
    pub write_timeout: Duration,
    /// The WebSocket read buffer.
    pub read_buffer_size: usize,
}

impl Default for OpenAiLiveConfig {
    fn default() -> Self {
        OpenAiLiveConfig {
            url: DEFAULT_URL.to_owned(),
            api_key: None,
            model: DEFAULT_MODEL.to_owned(),
            acknowledgement_delay_ms: None,
            delegation: LiveDelegation::Client,
            delegation_tool: DEFAULT_DELEGATION_TOOL.to_owned(),
            silence_grace: Duration::from_millis(60),
            caller_pause: Duration::from_millis(800),
            speech_gate: GateConfig::default(),
            reconnect: ReconnectPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            read_buffer_size: 8192,
        }
    }
}

impl std::fmt::Debug for OpenAiLiveConfig {
    // The key must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiLiveConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("acknowledgement_delay_ms", &self.acknowledgement_delay_ms)
            .field("delegation", &self.delegation)
            .field("delegation_tool", &self.delegation_tool)
            .field("silence_grace", &self.silence_grace)
            .field("caller_pause", &self.caller_pause)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

/// Who does the work a GPT-Live model delegates (`session.delegation`,
/// fixed for a session's life).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveDelegation {
    /// Client delegation: each delegation reaches the app as one call of
    /// [`OpenAiLiveConfig::delegation_tool`], and its output is spoken as
    /// commentary (or kept silent as thinking once the caller moved on).
    Client,
    /// Responses delegation: a backend Responses model does the work and
    /// calls the session's tools; each call reaches the app once and is
    /// answered once, and the voice model speaks the backend's result.
    Responses {
        /// The backend model (required by the API).
        model: String,
        /// The backend prompt, if any.
        instructions: Option<String>,
    },
}

impl OpenAiLive {
    /// A backend with this configuration.
    #[must_use]
    pub fn new(config: OpenAiLiveConfig) -> OpenAiLive {
        OpenAiLive { config, tls: Arc::default() }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &OpenAiLiveConfig {
        &self.config
    }
}

#[async_trait]
impl RealtimeBackend for OpenAiLive {
    fn capabilities(&self) -> RealtimeCapabilities {
        RealtimeCapabilities {
            provider: PROVIDER,
            input_formats: FORMATS.to_vec(),
            output_formats: FORMATS.to_vec(),
            turn_model: TurnModel::FullDuplex,
        }
    }

    async fn connect(
        &self,
        config: RealtimeSessionConfig,
    ) -> Result<Box<dyn RealtimeConnection>, BackendError> {
        if config.input_format != config.output_format {
            return Err(BackendError::Config {
                provider: PROVIDER,
                detail: format!(
                    "GPT-Live takes one audio format for both directions, not {:?} in and {:?} out",
                    config.input_format, config.output_format
                ),
            });
        }
        if !FORMATS.contains(&config.input_format) {
            return Err(BackendError::Config {
                provider: PROVIDER,
                detail: format!("GPT-Live does not take {:?}", config.input_format),
            });
        }
        let connection = io::connect(self.config.clone(), &config, &self.tls).await?;
        Ok(Box::new(connection))
    }
}

/// The primary WebSocket URL. It takes no query parameters: the model is
/// named in `session.start`.
pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/live/sessions";

/// The default GPT-Live model.
pub const DEFAULT_MODEL: &str = "gpt-live-1";
