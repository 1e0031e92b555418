//! What a simulated call does: the protocol, where it calls, the human's
//! script and each carrier's options.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::CallerError;

/// The carrier protocol a call speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Twilio Media Streams, bidirectional (`<Connect><Stream>`).
    Twilio,
    /// Telnyx media streaming over WebSocket, bidirectional RTP mode, PCMU.
    Telnyx,
    /// AudioCodes VoiceAI Connect's Bot API in streaming mode.
    AudioCodes,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Twilio => "twilio",
            Protocol::Telnyx => "telnyx",
            Protocol::AudioCodes => "audiocodes",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Protocol, String> {
        match text.to_ascii_lowercase().as_str() {
            "twilio" => Ok(Protocol::Twilio),
            "telnyx" => Ok(Protocol::Telnyx),
            "audiocodes" => Ok(Protocol::AudioCodes),
            other => Err(format!("unknown protocol `{other}` (twilio, telnyx or audiocodes)")),
        }
    }
}

/// One step of the simulated human's script. Steps run in order; caller
/// audio streams every 20 ms throughout (speech or silence), as a carrier's
/// does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Speak for `ms` (a voiced tone at a speech level). `hold_on` marks
    /// the utterance as "hold on a moment": it is voiced at
    /// [`HOLD_ON_HZ`](super::HOLD_ON_HZ) instead of
    /// [`SPEECH_HZ`](super::SPEECH_HZ), so a simulated upstream can tell it
    /// apart, and the timeline says so.
    Speak {
        /// How long the caller speaks, in milliseconds.
        ms: u64,
        /// Whether this is a "hold on" utterance.
        hold_on: bool,
    },
    /// Stay silent for `ms`.
    Silence {
        /// How long, in milliseconds.
        ms: u64,
    },
    /// Stay silent until the agent has spoken and then been quiet for
    /// 300 ms of playout; a script failure if that has not happened within
    /// `max_ms`.
    WaitForAgent {
        /// The longest wait, in milliseconds.
        max_ms: u64,
    },
    /// Stay silent until the agent's current audio has been playing for
    /// `after_agent_ms`, then speak over it for `speak_ms`.
    BargeIn {
        /// Agent audio heard before the caller talks over it.
        after_agent_ms: u64,
        /// How long the caller talks, in milliseconds.
        speak_ms: u64,
    },
    /// Press a key: `0`-`9`, `*`, `#` or `A`-`D`.
    Dtmf(char),
    /// Stay silent and expect the bot to hang up (after its dead-air
    /// check-ins) within `max_ms`; a script failure, and the caller hangs
    /// up, if it does not.
    SilentUntilHangup {
        /// The longest wait, in milliseconds.
        max_ms: u64,
    },
    /// Once the agent's current audio has been playing for
    /// `after_agent_ms`, the line to the bot drops (the socket closes
    /// without a goodbye) and the carrier reconnects `gap_ms` later and
    /// resumes the call on a new socket. AudioCodes only (`session.resume`).
    Reconnect {
        /// Agent audio heard before the socket drops.
        after_agent_ms: u64,
        /// How long the carrier stays away.
        gap_ms: u64,
    },
    /// Hang up. A script without one hangs up after its last step.
    HangUp,
}

impl fmt::Display for Step {
    /// The text form [`Step::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Speak { ms, hold_on: false } => write!(f, "speak:{ms}"),
            Step::Speak { ms, hold_on: true } => write!(f, "hold-on:{ms}"),
            Step::Silence { ms } => write!(f, "silence:{ms}"),
            Step::WaitForAgent { max_ms } => write!(f, "wait:{max_ms}"),
            Step::BargeIn { after_agent_ms, speak_ms } => {
                write!(f, "barge:{after_agent_ms}:{speak_ms}")
            }
            Step::Dtmf(digit) => write!(f, "dtmf:{digit}"),
            Step::SilentUntilHangup { max_ms } => write!(f, "silent-until-hangup:{max_ms}"),
            Step::Reconnect { after_agent_ms, gap_ms } => {
                write!(f, "reconnect:{after_agent_ms}:{gap_ms}")
            }
            Step::HangUp => f.write_str("hangup"),
        }
    }
}

impl FromStr for Step {
    type Err = String;

    /// Reads `speak:MS`, `hold-on:MS`, `silence:MS`, `wait:MAX_MS`,
    /// `barge:AFTER_MS:SPEAK_MS`, `dtmf:KEY`, `silent-until-hangup:MAX_MS`,
    /// `reconnect:AFTER_MS:GAP_MS` or `hangup`.
    fn from_str(text: &str) -> Result<Step, String> {
        let mut parts = text.trim().split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let number = |index: usize| -> Result<u64, String> {
            let arg = args.get(index).ok_or_else(|| format!("`{text}`: missing a number"))?;
            arg.parse().map_err(|_| format!("`{text}`: `{arg}` is not a whole number"))
        };
        let arity = |count: usize| -> Result<(), String> {
            if args.len() == count {
                Ok(())
            } else {
                Err(format!("`{text}`: expected {count} argument(s), found {}", args.len()))
            }
        };
        let step = match name {
            "speak" => {
                arity(1)?;
                Step::Speak { ms: number(0)?, hold_on: false }
            }
            "hold-on" => {
                arity(1)?;
                Step::Speak { ms: number(0)?, hold_on: true }
            }
            "silence" => {
                arity(1)?;
                Step::Silence { ms: number(0)? }
            }
            "wait" => {
                arity(1)?;
                Step::WaitForAgent { max_ms: number(0)? }
            }
            "barge" => {
                arity(2)?;
                Step::BargeIn { after_agent_ms: number(0)?, speak_ms: number(1)? }
            }
            "dtmf" => {
                arity(1)?;
                let mut chars = args.first().copied().unwrap_or_default().chars();
                match (chars.next(), chars.next()) {
                    (Some(digit), None) if is_dtmf(digit) => Step::Dtmf(digit),
                    _ => return Err(format!("`{text}`: a key is one of 0-9, *, # or A-D")),
                }
            }
            "silent-until-hangup" => {
                arity(1)?;
                Step::SilentUntilHangup { max_ms: number(0)? }
            }
            "reconnect" => {
                arity(2)?;
                Step::Reconnect { after_agent_ms: number(0)?, gap_ms: number(1)? }
            }
            "hangup" => {
                arity(0)?;
                Step::HangUp
            }
            other => return Err(format!("unknown step `{other}`")),
        };
        Ok(step)
    }
}

/// Parses a comma-separated script, e.g. `wait:8000,speak:1200,hangup`.
pub fn parse_script(text: &str) -> Result<Vec<Step>, String> {
    text.split(',').filter(|part| !part.trim().is_empty()).map(str::parse).collect()
}

/// Whether `digit` is a DTMF key.
pub(super) fn is_dtmf(digit: char) -> bool {
    matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D')
}

/// Telnyx options.
#[derive(Clone, Debug, PartialEq)]
pub struct TelnyxOptions {
    /// The probability that a caller media frame is held back and sent
    /// after the next one. Telnyx does not guarantee media order, so a bot
    /// must reorder by `chunk`, `timestamp` or `sequence_number`.
    pub reorder_probability: f64,
    /// Answer a frame that breaks the rules with the `error` frame Telnyx
    /// sends (`malformed_frame`, `invalid_media`), as well as reporting it.
    pub error_frames: bool,
}

impl Default for TelnyxOptions {
    fn default() -> TelnyxOptions {
        TelnyxOptions { reorder_probability: 0.0, error_frames: true }
    }
}

/// AudioCodes (VoiceAI Connect) options.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioCodesOptions {
    /// `supportedMediaFormats` offered in `session.initiate`, in order of
    /// preference. The caller can stream `raw/mulaw`, `raw/lpcm16` (16 kHz),
    /// `raw/lpcm16_8` and `raw/lpcm16_24`.
    pub supported_formats: Vec<String>,
    /// `botName` in `session.initiate`.
    pub bot_name: String,
    /// How long to wait for `session.accepted`, `userStream.started`,
    /// `userStream.stopped` and `connection.validated` before reporting a
    /// violation (and, for the first two, ending the call as VAIC does).
    pub answer_timeout: Duration,
    /// Before the call, validate the bot as Live Hub's "validate bot
    /// connection" does: a separate WebSocket carrying one
    /// `connection.validate`, which must be answered with
    /// `connection.validated` and `success: true`.
    pub validate_connection: bool,
    /// At the caller's hang-up, send `userStream.stop` and require
    /// `userStream.stopped` before `session.end`.
    pub stop_user_stream: bool,
    /// VAIC's barge-in: `userStream.speech.started` or
    /// `userStream.speech.hypothesis` while agent audio plays stops the
    /// playback and drops what is buffered.
    pub barge_in_on_speech: bool,
    /// Bot audio may run at most this far ahead of playback; more is a
    /// violation (play streams must be sent at roughly the playback rate).
    /// `None` accepts any amount.
    pub max_ahead: Option<Duration>,
}

impl Default for AudioCodesOptions {
    fn default() -> AudioCodesOptions {
        AudioCodesOptions {
            supported_formats: vec!["raw/mulaw".to_owned(), "raw/lpcm16".to_owned()],
            bot_name: "turngate".to_owned(),
            answer_timeout: Duration::from_secs(5),
            validate_connection: false,
            stop_user_stream: true,
            barge_in_on_speech: true,
            max_ahead: Some(Duration::from_secs(5)),
        }
    }
}

/// How many leading bytes of a caller frame a [`CallObserver::stamp`] may
/// replace. A multiple of three, so the stamp is its own 16 characters of
/// base64 and the rest of the precomputed frame text stays as it is.
pub const STAMP_BYTES: usize = 12;

/// Receives per-frame measurements as they happen, for the load generator.
/// Methods run on the call's task: keep them short and non-blocking
/// (counters, a histogram, a `try_send`).
pub trait CallObserver: fmt::Debug + Send + Sync {
    /// A frame of caller audio left for the bot.
    fn audio_sent(&self, at: Instant, payload_bytes: usize) {
        let _ = (at, payload_bytes);
    }

    /// Agent audio arrived from the bot.
    fn audio_received(&self, at: Instant, payload_bytes: usize, audio: Duration) {
        let _ = (at, payload_bytes, audio);
    }

    /// The next frame of caller audio is being built at `at` (the moment its
    /// 20 ms tick was due; a late tick runs after it). Returning bytes
    /// replaces the frame's first [`STAMP_BYTES`] audio bytes with them, so
    /// the frame can be recognised where it arrives (a load generator tags
    /// each frame this way and reads the tag back upstream). The default
    /// leaves the audio as it is.
    fn stamp(&self, at: Instant) -> Option<[u8; STAMP_BYTES]> {
        let _ = at;
        None
    }

    /// Agent audio arrived from the bot: its bytes after base64 decoding,
    /// in the format the call negotiated, before [`CallObserver::audio_received`].
    fn agent_payload(&self, at: Instant, payload: &[u8]) {
        let _ = (at, payload);
    }
}

/// One simulated call.
#[derive(Clone, Debug)]
pub struct CallerConfig {
    /// The carrier protocol.
    pub protocol: Protocol,
    /// The bot's WebSocket URL, e.g. `ws://127.0.0.1:8080/twilio` (plain
    /// `ws://` only: the callers are for loopback and test networks).
    pub url: String,
    /// The call's id. The carrier ids derive from it (see
    /// [`twilio_call_sid`](super::twilio_call_sid),
    /// [`telnyx_call_control_id`](super::telnyx_call_control_id) and
    /// [`audiocodes_conversation_id`](super::audiocodes_conversation_id)),
    /// so a server's record of the call carries it. Empty picks one from
    /// the seed.
    pub call_id: String,
    /// Extra headers on the WebSocket upgrade (`Authorization`,
    /// `X-Twilio-Signature`, …).
    pub headers: Vec<(String, String)>,
    /// What the human does.
    pub script: Vec<Step>,
    /// The longest the whole call may take: the caller hangs up then and
    /// the report says the script did not finish.
    pub timeout: Duration,
    /// The caller's number.
    pub from: String,
    /// The number called.
    pub to: String,
    /// Twilio `customParameters`, Telnyx `custom_parameters`.
    pub custom_parameters: Vec<(String, String)>,
    /// Telnyx options.
    pub telnyx: TelnyxOptions,
    /// AudioCodes options.
    pub audiocodes: AudioCodesOptions,
    /// Seed of the ids and of Telnyx reordering.
    pub seed: u64,
    /// Record every mark echo and every bot speech message in the timeline
    /// (the load generator turns this off to keep reports small).
    pub detailed_timeline: bool,
    /// Per-frame measurements, if wanted.
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl Default for CallerConfig {
    /// A Twilio call to `ws://127.0.0.1:8080/twilio` that waits for the
    /// greeting, asks one question, waits for the answer and hangs up.
    fn default() -> CallerConfig {
        CallerConfig {
            protocol: Protocol::Twilio,
            url: "ws://127.0.0.1:8080/twilio".to_owned(),
            call_id: String::new(),
            headers: Vec::new(),
            script: vec![
                Step::WaitForAgent { max_ms: 10_000 },
                Step::Speak { ms: 1_200, hold_on: false },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::HangUp,
            ],
            timeout: Duration::from_secs(60),
            from: "+15550100001".to_owned(),
            to: "+15550100002".to_owned(),
            custom_parameters: Vec::new(),
            telnyx: TelnyxOptions::default(),
            audiocodes: AudioCodesOptions::default(),
            seed: 0x7a11_ca11,
            detailed_timeline: true,
            observer: None,
        }
    }
}

/// The AudioCodes media formats a caller can stream.
pub(super) const AUDIOCODES_FORMATS: &[&str] =
    &["raw/mulaw", "raw/lpcm16", "raw/lpcm16_8", "raw/lpcm16_24"];

impl CallerConfig {
    /// Checks the configuration before any socket is opened.
    pub fn validate(&self) -> Result<(), CallerError> {
        let bad = |text: String| Err(CallerError::Config(text));
        if self.timeout.is_zero() {
            return bad("the call timeout is zero".to_owned());
        }
        if !(0.0..=1.0).contains(&self.telnyx.reorder_probability) {
            return bad(format!(
                "telnyx.reorder_probability {} is not in [0, 1]",
                self.telnyx.reorder_probability
            ));
        }
        for step in &self.script {
            if let Step::Dtmf(digit) = step
                && !is_dtmf(*digit)
            {
                return bad(format!("`{digit}` is not a DTMF key"));
            }
            if matches!(step, Step::Reconnect { .. }) && self.protocol != Protocol::AudioCodes {
                return bad(format!(
                    "`{step}`: only AudioCodes resumes a call on a new socket, not {:?}",
                    self.protocol
                ));
            }
        }
        if self.protocol == Protocol::AudioCodes {
            if self.audiocodes.supported_formats.is_empty() {
                return bad("audiocodes.supported_formats is empty".to_owned());
            }
            if let Some(format) = self
                .audiocodes
                .supported_formats
                .iter()
                .find(|f| !AUDIOCODES_FORMATS.contains(&f.as_str()))
            {
                return bad(format!(
                    "the caller cannot stream `{format}` (it can: {})",
                    AUDIOCODES_FORMATS.join(", ")
                ));
            }
            if self.audiocodes.answer_timeout.is_zero() {
                return bad("audiocodes.answer_timeout is zero".to_owned());
            }
        }
        for (name, _) in &self.headers {
            if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':' || b >= 0x7f) {
                return bad(format!("`{name}` is not a header name"));
            }
        }
        Ok(())
    }
}
