//! The session's configuration, with the defaults a phone agent wants.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a session behaves. Every field has a default; a TOML or JSON file
/// names durations in milliseconds (`dead_air_timeout_ms = 7000`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// How the backend takes turns. This is a property of the backend, not
    /// an operator's choice: the driver copies it from the backend's
    /// capabilities, so it is never read from a file.
    #[serde(skip)]
    pub turn_model: TurnModel,
    /// Who decides that the caller finished a turn.
    pub turn_detection: TurnDetection,
    /// Who starts responses to committed turns.
    pub response_mode: ResponseMode,
    /// With [`ResponseMode::ServerAuto`], how long a committed turn waits for
    /// the backend's own response before the core asks for one itself.
    #[serde(rename = "auto_response_grace_ms", with = "millis")]
    pub auto_response_grace: Duration,
    /// The least audio a commit may carry (the backend rejects less).
    #[serde(rename = "min_commit_ms", with = "millis")]
    pub min_commit: Duration,
    /// Instructions for a greeting response sent as soon as the backend is ready.
    pub greeting: Option<String>,
    /// What happens when the caller talks over the agent.
    pub barge_in: BargeIn,
    /// Silence handling.
    pub dead_air: DeadAirConfig,
    /// The longest a call may last before the goodbye.
    #[serde(rename = "max_call_duration_ms", with = "millis")]
    pub max_call_duration: Duration,
    /// Instructions for the goodbye response at the duration limit; without
    /// them the call hangs up at once.
    pub goodbye: Option<String>,
    /// How long the goodbye may take before the call hangs up anyway.
    #[serde(rename = "goodbye_timeout_ms", with = "millis")]
    pub goodbye_timeout: Duration,
    /// How long to wait for the backend to become ready, at start and after
    /// a disconnect, before ending the session.
    #[serde(rename = "ready_timeout_ms", with = "millis")]
    pub ready_timeout: Duration,
    /// How much caller audio to hold while the backend is not ready; beyond
    /// it the oldest is dropped and counted. It also bounds the uncommitted
    /// audio kept to be sent again after a lost connection.
    #[serde(rename = "readiness_buffer_ms", with = "millis")]
    pub readiness_buffer: Duration,
    /// How long a create may go unanswered (no `response.created`, no error).
    #[serde(rename = "create_timeout_ms", with = "millis")]
    pub create_timeout: Duration,
    /// How long a cancel may go unanswered (no `response.done`).
    #[serde(rename = "cancel_timeout_ms", with = "millis")]
    pub cancel_timeout: Duration,
    /// How long a response may generate before the core cancels it.
    #[serde(rename = "response_timeout_ms", with = "millis")]
    pub response_timeout: Duration,
    /// How many times a request is sent before it is dropped.
    pub max_attempts: u32,
    /// The wait before retrying a rejected create; doubled per attempt.
    #[serde(rename = "retry_backoff_ms", with = "millis")]
    pub retry_backoff: Duration,
    /// How long past its expected end a played chunk may stay unconfirmed
    /// before it is assumed heard (so "agent speaking" is never stuck).
    #[serde(rename = "playback_grace_ms", with = "millis")]
    pub playback_grace: Duration,
    /// How long an externally started playback may run without its end
    /// signal before it is assumed over.
    #[serde(rename = "external_playback_timeout_ms", with = "millis")]
    pub external_playback_timeout: Duration,
    /// How long a tool may run before an error output is returned for it.
    #[serde(rename = "tool_timeout_ms", with = "millis")]
    pub tool_timeout: Duration,
    /// How many outbound app-client messages are kept for replay.
    pub outbox_capacity: usize,
    /// How many bytes of them at most (the newest message is always kept).
    pub outbox_max_bytes: usize,
    /// How many times faster than real time caller audio may arrive,
    /// sustained; beyond it (and the burst) the call ends as
    /// [`EndReason::PolicyViolation`](crate::EndReason::PolicyViolation).
    pub caller_audio_rate: f64,
    /// How much caller audio may arrive at once beyond that rate (network
    /// jitter: a stalled stream flushing what it buffered).
    #[serde(rename = "caller_audio_burst_ms", with = "millis")]
    pub caller_audio_burst: Duration,
    /// How long a session outlives its last app client.
    #[serde(rename = "client_grace_ms", with = "millis")]
    pub client_grace: Duration,
    /// True to end the session when the last app client leaves for good.
    pub end_when_clients_gone: bool,
    /// Deliberate defects for the simulation's self-test; see [`PlantedBug`].
    #[cfg(feature = "planted-bugs")]
    #[serde(skip)]
    pub planted_bug: Option<PlantedBug>,
}

/// How a backend takes turns, which decides what the core may ask of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TurnModel {
    /// The backend speaks only when asked, one response at a time (the
    /// OpenAI Realtime API): the core commits turns, opens responses through
    /// its turn gate, cancels them and truncates what the caller did not hear.
    #[default]
    Gated,
    /// The backend listens while it speaks and decides itself when to speak
    /// and when to stop (GPT-Live). The core never commits, opens, cancels
    /// or truncates anything. A stretch of the model's speech arrives as a
    /// server response; greetings, check-ins and goodbyes become
    /// [`BackendCommand::Instruct`](crate::BackendCommand::Instruct); a
    /// barge-in only clears what the caller's leg still has queued.
    FullDuplex,
}

/// Who decides that the caller finished a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetection {
    /// The backend's VAD commits turns (`input_audio_buffer.committed`).
    Server,
    /// The transport or app reports speech start and stop; the core commits.
    Client,
}

/// Who starts the response to a committed turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// The core sends every `response.create` (the backend's VAD must not
    /// create responses on its own). The only mode free of races.
    Client,
    /// The backend creates a response when it commits a turn; the core
    /// adopts those and asks itself only for turns the backend left
    /// unanswered after the grace period.
    ServerAuto,
}

/// What a caller talking over the agent does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BargeIn {
    /// Nothing: the agent finishes.
    Off,
    /// Stop the agent as soon as the caller starts speaking.
    Immediate,
    /// Stop the agent once the caller has spoken this long, so a cough
    /// does not interrupt it.
    AfterSpeechMs(u64),
}

/// Dead-air handling: check-ins while nobody speaks, then hang-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadAirConfig {
    /// False to never check in or hang up for silence (e.g. a text chat).
    pub enabled: bool,
    /// Silence before a check-in.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Silence before a check-in after the caller asked for time.
    #[serde(rename = "hold_on_timeout_ms", with = "millis")]
    pub hold_on_timeout: Duration,
    /// Phrases (matched case-insensitively inside the caller's transcript)
    /// that mean "give me a moment".
    pub hold_on_phrases: Vec<String>,
    /// Instructions for the check-in response.
    pub check_in: String,
    /// Check-ins before hanging up.
    pub max_check_ins: u32,
    /// Silence after the last check-in before hanging up.
    #[serde(rename = "hang_up_grace_ms", with = "millis")]
    pub hang_up_grace: Duration,
}

/// Deliberate defects, compiled only with the `planted-bugs` feature, so the
/// simulation can prove that it catches each of them.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// The gate sends a create while one is already requested.
    CreateWhileRequested,
    /// "Agent speaking" ends at `response.done` instead of at the last mark.
    SpeakingEndsOnResponseDone,
    /// A turn committed while the gate is busy is forgotten.
    ForgetTurnWhileBusy,
    /// The silence timer ignores the caller speaking.
    DeadAirIgnoresUser,
    /// Late audio of a cancelled response is played.
    PlayLateAudio,
    /// Barge-in on a full-duplex model cancels and truncates as if it were gated.
    GateInFullDuplex,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            turn_model: TurnModel::Gated,
            turn_detection: TurnDetection::Server,
            response_mode: ResponseMode::Client,
            auto_response_grace: Duration::from_millis(1500),
            min_commit: Duration::from_millis(100),
            greeting: None,
            barge_in: BargeIn::Immediate,
            dead_air: DeadAirConfig::default(),
            max_call_duration: Duration::from_secs(1500),
            goodbye: Some(
                "The call has reached its time limit. Say a short, friendly goodbye.".to_owned(),
            ),
            goodbye_timeout: Duration::from_secs(15),
            ready_timeout: Duration::from_secs(10),
            readiness_buffer: Duration::from_secs(3),
            create_timeout: Duration::from_secs(10),
            cancel_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(120),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(250),
            playback_grace: Duration::from_secs(2),
            external_playback_timeout: Duration::from_secs(60),
            tool_timeout: Duration::from_secs(30),
            outbox_capacity: 256,
            outbox_max_bytes: 1024 * 1024,
            caller_audio_rate: 1.5,
            caller_audio_burst: Duration::from_secs(5),
            client_grace: Duration::from_secs(30),
            end_when_clients_gone: false,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }
}

impl Default for DeadAirConfig {
    fn default() -> Self {
        DeadAirConfig {
            enabled: true,
            timeout: Duration::from_secs(7),
            hold_on_timeout: Duration::from_secs(25),
            hold_on_phrases: ["hold on", "one moment", "one second", "give me a", "just a sec"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            check_in: "The caller has been silent for a while. Briefly ask whether they are \
                       still there."
                .to_owned(),
            max_check_ins: 2,
            hang_up_grace: Duration::from_secs(5),
        }
    }
}

/// A configuration value that cannot work, named by its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as written in a configuration file.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session.{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl SessionConfig {
    /// Checks the values that would make the session misbehave.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&'static str, Duration); 11] = [
            ("min_commit_ms", self.min_commit),
            ("max_call_duration_ms", self.max_call_duration),
            ("ready_timeout_ms", self.ready_timeout),
            ("create_timeout_ms", self.create_timeout),
            ("cancel_timeout_ms", self.cancel_timeout),
            ("response_timeout_ms", self.response_timeout),
            ("playback_grace_ms", self.playback_grace),
            ("external_playback_timeout_ms", self.external_playback_timeout),
            ("tool_timeout_ms", self.tool_timeout),
            ("dead_air.timeout_ms", self.dead_air.timeout),
            ("dead_air.hold_on_timeout_ms", self.dead_air.hold_on_timeout),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(ConfigError { key, problem: "must be greater than zero" });
            }
        }
        if self.max_attempts == 0 {
            return Err(ConfigError { key: "max_attempts", problem: "must be at least 1" });
        }
        if self.outbox_capacity == 0 {
            return Err(ConfigError { key: "outbox_capacity", problem: "must be at least 1" });
        }
        if !(self.caller_audio_rate.is_finite() && self.caller_audio_rate >= 1.0) {
            return Err(ConfigError {
                key: "caller_audio_rate",
                problem: "must be a number of at least 1 (real time)",
            });
        }
        if self.caller_audio_burst.is_zero() {
            return Err(ConfigError {
                key: "caller_audio_burst_ms",
                problem: "must be greater than zero",
            });
        }
        if self.outbox_max_bytes == 0 {
            return Err(ConfigError { key: "outbox_max_bytes", problem: "must be at least 1" });
        }
        if self.dead_air.hold_on_phrases.iter().any(|p| p.trim().is_empty()) {
            return Err(ConfigError {
                key: "dead_air.hold_on_phrases",
                problem: "must not contain empty phrases",
            });
        }
        Ok(())
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
