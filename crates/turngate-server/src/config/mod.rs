//! The server's configuration: a TOML file, then environment variables,
//! then command-line flags, each overriding the one before; validated at
//! start with errors that name the bad key.
//!
//! `docs/configuration.md` is generated from [`reference`] and a test keeps
//! it from drifting.

mod doors;
mod env;
mod reference;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use turngate_core::SessionConfig;

pub use doors::{Door, OpenDoors, is_loopback};
pub use env::{ENV_VARS, EnvVar};
pub use reference::reference;

/// Everything the server can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The address to listen on.
    pub listen: String,
    /// A second address that serves only the operator routes (`/calls`,
    /// `/metrics`, health); when set, the main listener does not serve
    /// `/calls` at all.
    pub admin_listen: String,
    /// Which public endpoints to serve: any of `twilio`, `telnyx`,
    /// `audiocodes`, `chat`, `session`. A door that is not served cannot be
    /// attacked, so deployments list only the carriers they use.
    pub endpoints: Vec<String>,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// The externally reachable base URL of this server (e.g.
    /// `https://bridge.example.com`), used in TwiML and to check Twilio
    /// signatures; derived from the request's `Host` header when empty.
    pub public_url: String,
    /// How the other workers reach this one directly (`http://10.0.0.5:8080`),
    /// to relay a resumed AudioCodes call to the worker that holds it; the
    /// listen address when empty and it names one host.
    pub advertise_url: String,
    /// Secrets that authenticate peers; an empty one means "not checked"
    /// (and the server warns at start).
    pub auth: AuthConfig,
    /// TLS on the listeners, and the roots trusted for other workers.
    pub tls: TlsSettings,
    /// The upstream model APIs.
    pub openai: OpenAiConfig,
    /// Cross-worker coordination.
    pub redis: RedisSettings,
    /// Telnyx's REST API, which ends calls whose media stream cannot.
    pub telnyx: TelnyxSettings,
    /// How every call's session behaves (dead air, limits, barge-in, …).
    pub session: SessionConfig,
    /// The `/chat` endpoint's per-conversation queues.
    pub chat: ChatSettings,
    /// Limits on what peers may send.
    pub limits: LimitsConfig,
    /// Where to write per-call WAV recordings; empty for none.
    pub recording_dir: String,
    /// How long active calls may go on after a shutdown signal.
    #[serde(rename = "drain_timeout_ms", with = "millis")]
    pub drain_timeout: Duration,
}

/// The log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Secrets that authenticate peers.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Twilio's auth token: checks `X-Twilio-Signature` on webhooks and
    /// the media stream's upgrade.
    pub twilio_auth_token: String,
    /// Telnyx's account public key (base64, 32 bytes): checks the ed25519
    /// signatures of Call Control webhooks.
    pub telnyx_public_key: String,
    /// The bearer token AudioCodes VoiceAI Connect presents.
    pub audiocodes_token: String,
    /// The bearer token app clients present on `/session` and `/chat`.
    pub client_token: String,
    /// The token Telnyx presents in `x-telnyx-streaming-auth-token` on the
    /// media stream's upgrade (the `stream_auth_token` given when the
    /// stream was started).
    pub telnyx_stream_token: String,
    /// The bearer token operators present on `/calls` and `/calls/{id}`
    /// (and on `/metrics` when `metrics_require_token` is set).
    pub admin_token: String,
    /// Require the admin token on `/metrics` too.
    pub metrics_require_token: bool,
    /// The secret workers present to each other when one relays a resumed
    /// call to the worker holding it; distinct from every carrier token.
    pub worker_token: String,
    /// Serve unauthenticated doors on a non-loopback address anyway. Off:
    /// the server refuses to start and names the keys to set.
    pub allow_unauthenticated: bool,
}

/// TLS: the certificate the listeners present, and what this worker
/// trusts when it connects to another one (`https://` advertise URLs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// A PEM file with the certificate chain the listeners present; with
    /// `key_file`, every listener serves HTTPS and WSS only.
    pub cert_file: String,
    /// A PEM file with the certificate's private key.
    pub key_file: String,
    /// A PEM file of extra roots to trust when relaying to another worker
    /// over `https://` (a private CA); the platform's roots are trusted too.
    pub ca_file: String,
}

// The default models, none with a shutdown announced before 2027-06. Their
// predecessors shut down soon: `gpt-realtime` on 2027-01-20, `gpt-4.1-mini`
// on 2027-01-14, `gpt-4o-mini-transcribe` on 2027-02-26 (the shutdown dates
// in the openai-python SDK's model docstrings, which point to
// https://developers.openai.com/api/docs/deprecations). `gpt-realtime-2.1`
// is the model OpenAI's Realtime guides now use; `gpt-6-luna` and
// `gpt-live-transcribe` are the replacements copies of the deprecations page
// name. The start-up model check reports any of them the API does not know.

/// The Realtime model in the default `openai.realtime_url`.
pub const DEFAULT_REALTIME_MODEL: &str = "gpt-realtime-2.1";
/// The default `openai.chat_model`.
pub const DEFAULT_CHAT_MODEL: &str = "gpt-6-luna";
/// The default `openai.transcription_model`.
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "gpt-live-transcribe";
/// The default `openai.live_model` (the openai-python SDK's literal, 3.57.0
/// `openai/types/live/session_config.py`).
pub const DEFAULT_LIVE_MODEL: &str = "gpt-live-1";

/// The upstream model APIs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// The API key; without one the server uses its in-process simulators
    /// and says so loudly.
    pub api_key: String,
    /// Which voice API serves calls.
    pub voice_api: VoiceApi,
    /// The full Realtime WebSocket URL, `?model=` included.
    pub realtime_url: String,
    /// The GPT-Live primary WebSocket URL (no query parameters).
    pub live_url: String,
    /// The GPT-Live model, named in `session.start`.
    pub live_model: String,
    /// Who does the work a GPT-Live model delegates.
    pub live_delegation: LiveDelegationMode,
    /// The REST base URL for the chat APIs.
    pub base_url: String,
    /// The voice of the agent.
    pub voice: String,
    /// The agent's instructions.
    pub instructions: String,
    /// Which chat API serves `/chat`.
    pub chat_backend: ChatBackendKind,
    /// The assistant for the Assistants API; created at start when empty.
    pub assistant_id: String,
    /// The model for the chat APIs.
    pub chat_model: String,
    /// The model that transcribes the caller for the call record (Realtime
    /// input transcription); empty: no caller transcript.
    pub transcription_model: String,
    /// With an API key, ask the model API at start whether each configured
    /// model exists and when it shuts down.
    pub check_models: bool,
    /// The signing secret(s) of OpenAI's webhooks (`whsec_…`), separated by
    /// spaces while a rotation keeps the old one valid.
    pub webhook_secret: String,
}

impl OpenAiConfig {
    /// The Realtime model: the `model` query parameter of `realtime_url`.
    #[must_use]
    pub fn realtime_model(&self) -> Option<String> {
        self.realtime_url.split_once('?').and_then(|(_, query)| {
            query.split('&').find_map(|pair| pair.strip_prefix("model=")).map(str::to_owned)
        })
    }
}

/// Which voice API serves calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceApi {
    /// The Realtime API: one response at a time, opened, cancelled and
    /// truncated by turngate's turn gate.
    Realtime,
    /// GPT-Live: full duplex; the model takes its own turns and hands work
    /// to the app as delegations.
    Live,
}

/// Who does the work a GPT-Live model delegates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveDelegationMode {
    /// The app: each delegation is one call of the `delegate` tool.
    Client,
    /// A backend Responses model (`openai.chat_model`) that calls the
    /// app's own tools.
    Responses,
}

/// Which chat API serves `/chat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatBackendKind {
    /// Responses + Conversations (the current API).
    Responses,
    /// Assistants threads and runs (sunset on OpenAI; for compatible servers).
    Assistants,
}

/// Cross-worker coordination.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`; empty for the in-memory coordinator (one
    /// process only).
    pub url: String,
    /// The prefix of every key, so deployments can share a Redis.
    pub prefix: String,
    /// How long a call's ownership outlives a worker that stopped renewing
    /// it (renewed every third of it).
    #[serde(rename = "lease_ttl_ms", with = "millis")]
    pub lease_ttl: Duration,
}

/// Telnyx's Call Control REST API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelnyxSettings {
    /// The API key; without it a Telnyx call the session ends only loses
    /// its media stream (the server warns), since closing the stream does
    /// not hang up a Telnyx call.
    pub api_key: String,
    /// The API root.
    pub api_url: String,
}

impl Default for TelnyxSettings {
    fn default() -> Self {
        TelnyxSettings { api_key: String::new(), api_url: "https://api.telnyx.com/v2".to_owned() }
    }
}

impl fmt::Debug for TelnyxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxSettings")
            .field("api_key", &redacted(&self.api_key))
            .field("api_url", &self.api_url)
            .finish()
    }
}

/// The `/chat` endpoint's queues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Requests waiting per conversation before new ones get 429.
    pub queue_depth: usize,
    /// How long one request may wait and run before it gets 504.
    #[serde(rename = "request_timeout_ms", with = "millis")]
    pub request_timeout: Duration,
    /// Conversations a chat backend remembers locally (their upstream ids)
    /// before the least recently used is forgotten; the coordinator keeps
    /// the mapping, so a forgotten one is looked up again.
    pub max_conversations: usize,
    /// How long a conversation's local state outlives its last message.
    #[serde(rename = "conversation_idle_ms", with = "millis")]
    pub conversation_idle: Duration,
}

/// Limits on what peers may send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The largest WebSocket message accepted.
    pub max_frame_bytes: usize,
    /// The largest HTTP request body accepted.
    pub max_body_bytes: usize,
    /// WebSocket messages per second one connection may send (a 20 ms media
    /// stream sends 50).
    pub max_messages_per_second: u32,
    /// Concurrent calls before new ones are refused.
    pub max_calls: usize,
    /// How long an app client has to acknowledge `ready` on `/session`.
    #[serde(rename = "handshake_timeout_ms", with = "millis")]
    pub handshake_timeout: Duration,
    /// How long a call whose socket dropped is held for the peer to
    /// reconnect and resume it (AudioCodes `session.resume`); zero ends it
    /// at once.
    #[serde(rename = "resume_window_ms", with = "millis")]
    pub resume_window: Duration,
    /// A resume for a call whose socket still looks open is refused unless
    /// that socket has been silent this long (a half-open connection).
    #[serde(rename = "resume_quiet_ms", with = "millis")]
    pub resume_quiet: Duration,
    /// The longest one write to a caller, client or worker socket may
    /// take; a peer that stops reading is disconnected after it and its
    /// call ends as `peer_not_reading`.
    #[serde(rename = "write_timeout_ms", with = "millis")]
    pub write_timeout: Duration,
    /// Concurrent TCP connections before new ones are closed at once.
    pub max_connections: usize,
    /// WebSocket connections from one IP address that have not started a
    /// call or session yet.
    pub max_pending_upgrades_per_ip: usize,
    /// How long a client may take to send a request's headers; also how
    /// long an idle keep-alive connection is kept.
    #[serde(rename = "header_read_timeout_ms", with = "millis")]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body.
    #[serde(rename = "body_read_timeout_ms", with = "millis")]
    pub body_read_timeout: Duration,
    /// App sessions (`/session`) live at once on this worker.
    pub max_sessions: usize,
    /// App-client connections open at once on this worker.
    pub max_client_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".to_owned(),
            admin_listen: String::new(),
            endpoints: DEFAULT_ENDPOINTS.iter().map(|e| (*e).to_owned()).collect(),
            log_format: LogFormat::Text,
            public_url: String::new(),
            advertise_url: String::new(),
            auth: AuthConfig::default(),
            tls: TlsSettings::default(),
            openai: OpenAiConfig::default(),
            redis: RedisSettings::default(),
            telnyx: TelnyxSettings::default(),
            session: SessionConfig::default(),
            chat: ChatSettings::default(),
            limits: LimitsConfig::default(),
            recording_dir: String::new(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            api_key: String::new(),
            voice_api: VoiceApi::Realtime,
            realtime_url: format!(
                "wss://api.openai.com/v1/realtime?model={DEFAULT_REALTIME_MODEL}"
            ),
            live_url: "wss://api.openai.com/v1/live/sessions".to_owned(),
            live_model: DEFAULT_LIVE_MODEL.to_owned(),
            live_delegation: LiveDelegationMode::Client,
            base_url: "https://api.openai.com/v1".to_owned(),
            voice: "marin".to_owned(),
            instructions: "You are a helpful, concise phone agent.".to_owned(),
            chat_backend: ChatBackendKind::Responses,
            assistant_id: String::new(),
            chat_model: DEFAULT_CHAT_MODEL.to_owned(),
            transcription_model: DEFAULT_TRANSCRIPTION_MODEL.to_owned(),
            check_models: true,
            webhook_secret: String::new(),
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            queue_depth: 16,
            request_timeout: Duration::from_secs(60),
            max_conversations: 10_000,
            conversation_idle: Duration::from_secs(3600),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_frame_bytes: 128 * 1024,
            max_body_bytes: 1024 * 1024,
            max_messages_per_second: 500,
            max_calls: 10_000,
            handshake_timeout: Duration::from_secs(10),
            resume_window: Duration::from_secs(10),
            resume_quiet: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            max_connections: 20_000,
            max_pending_upgrades_per_ip: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_sessions: 10_000,
            max_client_connections: 20_000,
        }
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: String::new(),
            prefix: String::new(),
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// Every public endpoint the server can serve, by the name `endpoints` uses.
pub const ENDPOINTS: &[&str] = &["twilio", "telnyx", "audiocodes", "chat", "session", "openai_sip"];

/// The endpoints served when `endpoints` is not set: every one but
/// `openai_sip`, which a deployment asks for when it routes SIP to OpenAI.
pub const DEFAULT_ENDPOINTS: &[&str] = &["twilio", "telnyx", "audiocodes", "chat", "session"];

// Secrets never reach a log line, not even through `{:?}`.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("twilio_auth_token", &redacted(&self.twilio_auth_token))
            .field("telnyx_public_key", &redacted(&self.telnyx_public_key))
            .field("audiocodes_token", &redacted(&self.audiocodes_token))
            .field("client_token", &redacted(&self.client_token))
            .field("telnyx_stream_token", &redacted(&self.telnyx_stream_token))
            .field("admin_token", &redacted(&self.admin_token))
            .field("metrics_require_token", &self.metrics_require_token)
            .field("worker_token", &redacted(&self.worker_token))
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .finish()
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("api_key", &redacted(&self.api_key))
            .field("voice_api", &self.voice_api)
            .field("realtime_url", &self.realtime_url)
            .field("live_url", &self.live_url)
            .field("live_model", &self.live_model)
            .field("live_delegation", &self.live_delegation)
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("base_url", &self.base_url)
            .field("voice", &self.voice)
            .field("chat_backend", &self.chat_backend)
            .field("assistant_id", &self.assistant_id)
            .field("chat_model", &self.chat_model)
            .field("transcription_model", &self.transcription_model)
            .field("check_models", &self.check_models)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A Redis URL may carry a password.
        let url = match self.url.rsplit_once('@') {
            Some((scheme, host)) => {
                format!("{}://***@{host}", scheme.split("://").next().unwrap_or("redis"))
            }
            None => self.url.clone(),
        };
        f.debug_struct("RedisSettings")
            .field("url", &url)
            .field("prefix", &self.prefix)
            .field("lease_ttl", &self.lease_ttl)
            .finish()
    }
}

fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "(not set)" } else { "(set)" }
}

/// A configuration that cannot work, naming the key and where it came from.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {key}: {problem}")]
pub struct ConfigError {
    /// Where the value came from: a file path, an environment variable, a flag.
    pub source_name: String,
    /// The key, as written in the file (`redis.url`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    fn new(
        source_name: impl Into<String>,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError { source_name: source_name.into(), key: key.into(), problem: problem.into() }
    }
}

/// Overrides given on the command line; they win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--insecure`: sets `auth.allow_unauthenticated`.
    pub insecure: bool,
}

impl Config {
    /// Loads the file (if any), applies the environment and the flags, and
    /// validates the result.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let file =
            file.map(Path::to_path_buf).or_else(|| env("TURNGATE_CONFIG").map(PathBuf::from));
        let mut config = match &file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        env::apply(&mut config, env)?;
        if let Some(listen) = &flags.listen {
            config.listen.clone_from(listen);
        }
        if let Some(url) = &flags.redis_url {
            config.redis.url.clone_from(url);
        }
        if let Some(format) = flags.log_format {
            config.log_format = format;
        }
        if flags.insecure {
            config.auth.allow_unauthenticated = true;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file; unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&shown, "(file)", format!("cannot read it: {e}")))?;
        Config::from_toml(&text, &shown)
    }

    /// Parses TOML text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| {
            // toml names the unknown or mistyped key in its message; keep
            // it to one line.
            let message = e.message().to_owned();
            let key = e
                .span()
                .and_then(|span| text.get(span))
                .map_or_else(|| "(file)".to_owned(), |k| k.trim().to_owned());
            ConfigError::new(source_name, key, message)
        })
    }

    /// True when `name` (one of [`ENDPOINTS`]) is served.
    pub fn serves(&self, name: &str) -> bool {
        self.endpoints.iter().any(|e| e == name)
    }

    /// The admin listen address, parsed, when one is configured.
    pub fn admin_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.admin_listen.is_empty() {
            return Ok(None);
        }
        self.admin_listen.parse().map(Some).map_err(|e| {
            ConfigError::new(
                "configuration",
                "admin_listen",
                format!("`{}` is not an address: {e}", self.admin_listen),
            )
        })
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            ConfigError::new(
                "configuration",
                "listen",
                format!("`{}` is not an address: {e}", self.listen),
            )
        })
    }

    /// True when no upstream key is set: the in-process simulators serve.
    pub fn uses_simulators(&self) -> bool {
        self.openai.api_key.is_empty()
    }

    /// Checks everything that would fail later, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String| Err(ConfigError::new("configuration", key, problem));
        self.listen_addr()?;
        self.admin_addr()?;
        if let Some(unknown) = self.endpoints.iter().find(|e| !ENDPOINTS.contains(&e.as_str())) {
            return bad(
                "endpoints",
                format!("`{unknown}` is not an endpoint (known: {})", ENDPOINTS.join(", ")),
            );
        }
        if !self.auth.telnyx_public_key.is_empty() {
            check_telnyx_key(&self.auth.telnyx_public_key)
                .or_else(|p| bad("auth.telnyx_public_key", p))?;
        }
        if self.auth.metrics_require_token && self.auth.admin_token.is_empty() {
            return bad(
                "auth.metrics_require_token",
                "needs auth.admin_token: it is the token /metrics then requires".to_owned(),
            );
        }
        if !self.auth.worker_token.is_empty() {
            let carriers = [
                &self.auth.twilio_auth_token,
                &self.auth.audiocodes_token,
                &self.auth.telnyx_stream_token,
                &self.auth.client_token,
                &self.auth.admin_token,
            ];
            if carriers.iter().any(|token| **token == self.auth.worker_token) {
                return bad(
                    "auth.worker_token",
                    "must differ from every other token: a peer that knows a carrier's token must not pass as a worker".to_owned(),
                );
            }
        }
        if !self.redis.url.is_empty() {
            check_redis_url(&self.redis.url).or_else(|p| bad("redis.url", p))?;
        }
        if self.redis.prefix.contains(['{', '}']) {
            return bad(
                "redis.prefix",
                "must not contain braces (they are Redis Cluster hash tags)".to_owned(),
            );
        }
        check_ws_url(&self.openai.realtime_url).or_else(|p| bad("openai.realtime_url", p))?;
        check_ws_url(&self.openai.live_url).or_else(|p| bad("openai.live_url", p))?;
        if self.openai.live_url.contains('?') {
            return bad(
                "openai.live_url",
                "takes no query parameters (the model goes in `openai.live_model`)".to_owned(),
            );
        }
        if self.openai.voice_api == VoiceApi::Live && self.openai.live_model.trim().is_empty() {
            return bad("openai.live_model", "must name a model".to_owned());
        }
        if self.openai.voice_api == VoiceApi::Live
            && self.openai.live_delegation == LiveDelegationMode::Responses
            && self.openai.chat_model.trim().is_empty()
        {
            return bad(
                "openai.chat_model",
                "must name a model: Responses delegation runs it as the backend".to_owned(),
            );
        }
        check_http_url(&self.openai.base_url).or_else(|p| bad("openai.base_url", p))?;
        if !self.openai.webhook_secret.trim().is_empty() {
            turngate_llm::sip::WebhookVerifier::with_secrets(
                self.openai.webhook_secret.split_whitespace(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
            .or_else(|p| bad("openai.webhook_secret", p))?;
        }
        check_http_url(&self.telnyx.api_url).or_else(|p| bad("telnyx.api_url", p))?;
        if !self.public_url.is_empty() {
            check_http_url(&self.public_url).or_else(|p| bad("public_url", p))?;
        }
        if !self.advertise_url.is_empty() {
            check_http_url(&self.advertise_url).or_else(|p| bad("advertise_url", p))?;
        }
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            let key = if self.tls.cert_file.is_empty() { "tls.cert_file" } else { "tls.key_file" };
            return bad(key, "tls.cert_file and tls.key_file go together".to_owned());
        }
        self.session.validate().map_err(|e| {
            ConfigError::new("configuration", format!("session.{}", e.key), e.problem)
        })?;
        if self.chat.queue_depth == 0 {
            return bad("chat.queue_depth", "must be at least 1".to_owned());
        }
        if self.chat.request_timeout.is_zero() {
            return bad("chat.request_timeout_ms", "must be greater than zero".to_owned());
        }
        if self.limits.max_frame_bytes < 1024 {
            return bad("limits.max_frame_bytes", "must be at least 1024".to_owned());
        }
        if self.limits.max_messages_per_second == 0 {
            return bad("limits.max_messages_per_second", "must be at least 1".to_owned());
        }
        if self.limits.handshake_timeout.is_zero() {
            return bad("limits.handshake_timeout_ms", "must be greater than zero".to_owned());
        }
        let at_least_one = [
            ("limits.max_calls", self.limits.max_calls),
            ("limits.max_connections", self.limits.max_connections),
            ("limits.max_pending_upgrades_per_ip", self.limits.max_pending_upgrades_per_ip),
            ("limits.max_sessions", self.limits.max_sessions),
            ("limits.max_client_connections", self.limits.max_client_connections),
            ("chat.max_conversations", self.chat.max_conversations),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                return bad(key, "must be at least 1".to_owned());
            }
        }
        let positive = [
            ("limits.write_timeout_ms", self.limits.write_timeout),
            ("limits.header_read_timeout_ms", self.limits.header_read_timeout),
            ("limits.body_read_timeout_ms", self.limits.body_read_timeout),
            ("chat.conversation_idle_ms", self.chat.conversation_idle),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return bad(key, "must be greater than zero".to_owned());
            }
        }
        if self.redis.lease_ttl < Duration::from_secs(1)
            || self.redis.lease_ttl > turngate_coord::MAX_TTL
        {
            return bad(
                "redis.lease_ttl_ms",
                format!("must be between 1000 and {}", turngate_coord::MAX_TTL.as_millis()),
            );
        }
        Ok(())
    }
}

/// `redis://[user:password@]host[:port][/db]`, `rediss://…`, `redis+unix:///path`.
fn check_redis_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{}` is not a URL (expected redis://host:port)", shown_url(url)));
    };
    match scheme {
        "redis+unix" | "unix" => {
            return if rest.starts_with('/') {
                Ok(())
            } else {
                Err("a unix socket URL needs an absolute path".to_owned())
            };
        }
        "redis" | "rediss" => {}
        other => {
            return Err(format!(
                "unsupported scheme `{other}` (expected redis, rediss or redis+unix)"
            ));
        }
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (host_port, None),
    };
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("`{port}` is not a port number"));
    }
    if let Some(db) = rest.split_once('/').map(|(_, db)| db)
        && !db.is_empty()
        && db.parse::<u32>().is_err()
    {
        return Err(format!("`{db}` is not a database number"));
    }
    Ok(())
}

/// A Telnyx account public key: base64 of 32 bytes that make an ed25519 key.
fn check_telnyx_key(key: &str) -> Result<(), String> {
    turngate_telephony::telnyx::WebhookVerifier::from_base64(key)
        .map(|_| ())
        .map_err(|e| format!("not a usable ed25519 public key: {e}"))
}

fn check_ws_url(url: &str) -> Result<(), String> {
    match url.split_once("://") {
        Some(("ws" | "wss", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(format!("`{url}` is not a ws:// or wss:// URL")),
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(format!("`{url}` is not an http:// or https:// URL")),
    }
}

/// A URL for an error message, without its password.
fn shown_url(url: &str) -> String {
    match url.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_owned(),
    }
}

/// Durations as whole milliseconds, the unit operators write.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
