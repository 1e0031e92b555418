//! What a Realtime session is configured with, independent of any provider.

use serde_json::Value;
use turngate_audio::{AudioFormat, SampleRate};

/// How a Realtime session is set up when it connects (and again after every
/// reconnect).
///
/// The defaults suit a phone call bridged from a G.711 µ-law carrier: µ-law
/// in and out, no server turn detection (the session core commits turns and
/// creates every response itself), no tools.
#[derive(Clone, Debug, PartialEq)]
pub struct RealtimeSessionConfig {
    /// The system instructions.
    pub instructions: Option<String>,
    /// The voice, by the provider's name for it.
    pub voice: Option<String>,
    /// The format of the caller audio we append.
    pub input_format: AudioFormat,
    /// The format of the audio the model speaks.
    pub output_format: AudioFormat,
    /// Whether the model answers with audio (plus its transcript) or text.
    pub output: OutputModality,
    /// Who detects the end of a caller's turn.
    pub turn_detection: TurnDetectionConfig,
    /// The transcription model for the caller's audio; `None` leaves input
    /// transcription off. With it off, the caller's spoken turns cannot be
    /// carried into a new connection's context after a reconnect.
    pub input_transcription: Option<String>,
    /// The functions the model may call.
    pub tools: Vec<ToolSpec>,
}

/// What the model answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputModality {
    /// Audio with a transcript.
    Audio,
    /// Text only.
    Text,
}

/// Who decides that the caller finished a turn, and what the backend does
/// on its own when it does.
#[derive(Clone, Debug, PartialEq)]
pub enum TurnDetectionConfig {
    /// No backend turn detection: the client commits the input buffer.
    None,
    /// Energy-based voice activity detection on the backend.
    ServerVad(ServerVad),
    /// The backend's semantic end-of-turn model.
    SemanticVad(SemanticVad),
}

/// Settings of energy-based server VAD. `None` leaves the backend's default;
/// the default creates and interrupts nothing on its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerVad {
    /// Activation threshold, 0.0 to 1.0.
    pub threshold: Option<f32>,
    /// Audio kept before detected speech, in milliseconds.
    pub prefix_padding_ms: Option<u32>,
    /// Silence that ends a turn, in milliseconds.
    pub silence_duration_ms: Option<u32>,
    /// Silence after the agent finished before the backend prompts the caller.
    pub idle_timeout_ms: Option<u32>,
    /// True to let the backend create a response when a turn ends. Keep it
    /// false with the core's `ResponseMode::Client`, the race-free mode.
    pub create_response: bool,
    /// True to let the backend cancel its response when the caller starts
    /// speaking.
    pub interrupt_response: bool,
}

/// Settings of semantic VAD.
#[derive(Clone, Debug, PartialEq)]
pub struct SemanticVad {
    /// How soon the model decides that the caller is done.
    pub eagerness: Eagerness,
    /// As [`ServerVad::create_response`].
    pub create_response: bool,
    /// As [`ServerVad::interrupt_response`].
    pub interrupt_response: bool,
}

/// How eagerly semantic VAD ends a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eagerness {
    /// Waits longest.
    Low,
    /// The middle.
    Medium,
    /// Answers soonest.
    High,
    /// The backend's default (medium).
    Auto,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// Its parameters, as a JSON Schema object.
    pub parameters: Value,
}

impl Default for RealtimeSessionConfig {
    fn default() -> Self {
        RealtimeSessionConfig {
            instructions: None,
            voice: None,
            input_format: AudioFormat::Ulaw,
            output_format: AudioFormat::Ulaw,
            output: OutputModality::Audio,
            turn_detection: TurnDetectionConfig::None,
            input_transcription: None,
            tools: Vec::new(),
        }
    }
}

impl TurnDetectionConfig {
    /// True when the backend starts responses on its own when a turn ends.
    pub fn creates_responses(&self) -> bool {
        match self {
            TurnDetectionConfig::None => false,
            TurnDetectionConfig::ServerVad(vad) => vad.create_response,
            TurnDetectionConfig::SemanticVad(vad) => vad.create_response,
        }
    }
}

impl Eagerness {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Eagerness::Low => "low",
            Eagerness::Medium => "medium",
            Eagerness::High => "high",
            Eagerness::Auto => "auto",
        }
    }
}

/// PCM16 at 24 kHz, the only PCM rate the OpenAI Realtime GA API takes.
pub const PCM_24K: AudioFormat = AudioFormat::Pcm16(SampleRate::Hz24000);
