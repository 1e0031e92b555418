//! The [`Transport`] trait: one call leg's wire protocol as a sans-IO codec.
//!
//! A transport never touches a socket or a clock. The server reads a frame
//! from the call's WebSocket and hands it to [`Transport::on_frame`] with the
//! current time; what comes back is the core [`Input`]s the frame means, the
//! frames the protocol requires as an immediate answer, and notices for the
//! server. Core [`TransportCommand`]s go through [`Transport::encode`] and
//! come out as frames to send. [`Transport::poll_timeout`] says when to call
//! [`Transport::on_timeout`] if nothing else happens (a start deadline, paced
//! audio, estimated playout, a reorder window).
//!
//! Call order, as quinn documents its connection: after every `on_frame`,
//! `encode`, `on_event`, `answer_resume` or `on_timeout`, read
//! `poll_timeout` again; when the clock passes it, call `on_timeout` before
//! feeding anything else stamped later. Frames and inputs come out in the
//! order they must be sent and handled.

mod counters;
mod error;
mod json;
mod ledger;
mod media;

#[cfg(all(
    any(test, feature = "fuzzing"),
    any(feature = "twilio", feature = "telnyx", feature = "audiocodes")
))]
pub(crate) mod fuzz;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use turngate_audio::AudioFormat;
use turngate_core::{Event, Input, TransportCommand};

pub use counters::WireCounters;
pub use error::{SignatureError, WireError, WireErrorKind};
pub use json::{JsonOut, push_json_str};
pub use ledger::{Echo, MarkLedger};
pub use media::{b64_decode, b64_encode_into, bytes_for, check_audio, swap16};

/// Which provider a transport speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderId {
    /// Twilio Media Streams (bidirectional, `<Connect><Stream>`).
    Twilio,
    /// Telnyx media streaming over WebSocket.
    Telnyx,
    /// AudioCodes VoiceAI Connect Bot API, streaming mode.
    AudioCodes,
    /// A provider outside this crate.
    Other(&'static str),
}

impl ProviderId {
    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Twilio => "twilio",
            ProviderId::Telnyx => "telnyx",
            ProviderId::AudioCodes => "audiocodes",
            ProviderId::Other(name) => name,
        }
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a transport learns that the caller heard the audio before a mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MarkSupport {
    /// The peer echoes each mark once the audio before it has played
    /// (Twilio, Telnyx in RTP mode): played milliseconds are measured.
    Confirmed,
    /// The protocol has no playout acknowledgment; the transport emits the
    /// mark when the wall clock says the audio before it has played
    /// (AudioCodes). Played milliseconds are an estimate.
    Estimated,
    /// No confirmation at all; the core falls back to its own grace timer.
    None,
}

/// How the transport ends a call when the core says [`TransportCommand::HangUp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HangUpSupport {
    /// A message on the call's socket hangs up (AudioCodes `hangup` activity).
    InBand,
    /// Closing the socket ends the call, provided nothing follows the stream
    /// in the call's script (Twilio `<Connect><Stream>` as rendered by
    /// [`crate::twilio::ConnectStream`]). Otherwise use the provider's REST API.
    CloseSocket,
    /// Only the provider's REST API ends the call (Telnyx Call Control
    /// `hangup`); closing the socket only stops the media stream.
    ProviderApi,
}

/// What a transport can do, declared rather than discovered by failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportCaps {
    /// The caller's audio, once the leg's format is known.
    pub inbound: Option<AudioFormat>,
    /// The audio [`TransportCommand::Play`] must carry, once known.
    pub outbound: Option<AudioFormat>,
    /// How playout is confirmed.
    pub marks: MarkSupport,
    /// True if queued audio can be dropped ([`TransportCommand::Clear`]).
    pub clear: bool,
    /// True if key presses arrive as [`Input::Dtmf`].
    pub dtmf: bool,
    /// True if the provider also reports playback start and end on a
    /// separate channel (Telnyx Call Control webhooks, which the server
    /// routes to the call's owner as [`Input::PlaybackStarted`] and
    /// [`Input::PlaybackEnded`]).
    pub playback_ended: bool,
    /// How a hang-up is carried out.
    pub hang_up: HangUpSupport,
}

/// Where a frame came from on the WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame.
    Binary(&'a [u8]),
}

/// Something for the server to do on the call's socket or the provider's API.
#[derive(Clone, PartialEq, Eq)]
pub enum OutFrame {
    /// Send this text frame.
    Text(String),
    /// Close the socket once the frames before this one are sent.
    Close,
    /// The protocol cannot hang up in band: end the call through the
    /// provider's REST API, for the call named by [`Transport::call`]
    /// (Telnyx `POST /v2/calls/{call_control_id}/actions/hangup`).
    HangUpViaApi,
}

impl OutFrame {
    /// The text of a text frame.
    pub fn text(&self) -> Option<&str> {
        match self {
            OutFrame::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Debug for OutFrame {
    // Media frames carry kilobytes of base64; the start says what they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutFrame::Text(text) if text.len() > 120 => {
                let cut = (0..=120).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                write!(f, "Text({:?}… {} bytes)", text.get(..cut).unwrap_or_default(), text.len())
            }
            OutFrame::Text(text) => write!(f, "Text({text:?})"),
            OutFrame::Close => f.write_str("Close"),
            OutFrame::HangUpViaApi => f.write_str("HangUpViaApi"),
        }
    }
}

/// Something the server should know that is not a core input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The peer said hello (`connected`).
    Connected,
    /// The call's metadata arrived: [`Transport::call`] now answers, and the
    /// session for the call can be created.
    CallStarted,
    /// The peer reconnected and asks to resume this conversation; answer
    /// with [`Transport::answer_resume`] once the server knows whether it
    /// still holds it.
    ResumeRequested {
        /// The conversation to resume.
        conversation_id: String,
    },
    /// The call was refused during set-up (no common media format); the
    /// replies carry the refusal and a close.
    Rejected {
        /// Why, as sent to the peer.
        reason: String,
    },
    /// A health check of the bot connection was answered (AudioCodes
    /// `connection.validate`); no call follows on this socket.
    Validated,
    /// No start arrived before the deadline; the replies carry a close.
    StartTimedOut,
    /// The peer reported an error about something we sent.
    PeerError {
        /// Its code, if it gave one.
        code: Option<String>,
        /// Its text.
        message: String,
    },
    /// The leg is over (stop, session end); later frames are errors.
    Ended {
        /// Why, when the peer said (AudioCodes `reasonCode: reason`).
        reason: Option<String>,
    },
}

/// What one frame or one timeout produced.
///
/// The server keeps one and [`clear`](Decoded::clear)s it between uses, so
/// the media path allocates nothing here once its buffers are warm.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Inputs for the call's session, in order.
    pub inputs: Vec<Input>,
    /// Frames to send on the same socket right away, in order.
    pub replies: Vec<OutFrame>,
    /// Things for the server that are not core inputs.
    pub notices: Vec<Notice>,
}

impl Decoded {
    /// Empties it, keeping the buffers.
    pub fn clear(&mut self) {
        self.inputs.clear();
        self.replies.clear();
        self.notices.clear();
    }

    /// True if nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.replies.is_empty() && self.notices.is_empty()
    }
}

/// What is known about the call once its start arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// The provider's id for the call: Twilio `callSid`, Telnyx
    /// `call_control_id` (what Call Control webhooks name), AudioCodes
    /// `conversationId`.
    pub call_id: String,
    /// The media stream's id: Twilio `streamSid`, Telnyx `stream_id`.
    pub stream_id: Option<String>,
    /// The provider account: Twilio `accountSid`, Telnyx `user_id`.
    pub account_id: Option<String>,
    /// Telnyx `call_session_id`.
    pub session_id: Option<String>,
    /// The caller, when the provider says.
    pub from: Option<String>,
    /// The number or bot called, when the provider says.
    pub to: Option<String>,
    /// Values the call's set-up passed along: Twilio `<Parameter>`s, Telnyx
    /// `custom_parameters`, AudioCodes `start` activity parameters. Values
    /// that are not strings keep their JSON text.
    pub custom: BTreeMap<String, String>,
    /// Telnyx `client_state` (base64, as sent).
    pub client_state: Option<String>,
}

/// The transport's own account of the audio it played.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Playout {
    /// Audio handed to the peer.
    pub sent: Duration,
    /// Audio held back for pacing, not yet sent.
    pub queued: Duration,
    /// Audio whose marks came back (or, for estimated playout, whose time
    /// has passed).
    pub confirmed: Duration,
    /// Audio dropped by a clear before it was confirmed.
    pub flushed: Duration,
    /// Marks sent and neither confirmed nor flushed.
    pub outstanding_marks: usize,
}

/// The server's answer to [`Notice::ResumeRequested`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeAnswer {
    /// The server holds the conversation: accept it, in the media format
    /// the conversation was using (if the transport did not negotiate it
    /// itself on this socket).
    Accept {
        /// The conversation's media format.
        format: Option<AudioFormat>,
    },
    /// The server does not know it: refuse, and the peer ends the call.
    Reject {
        /// Why, as sent to the peer.
        reason: String,
    },
}

/// Size caps on what a peer may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame accepted, in bytes; larger ones are
    /// [`WireError::Oversized`] and are not parsed.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A 20 ms Twilio frame is about 370 bytes; an AudioCodes chunk of a
        // second of 24 kHz PCM16 is 64 KiB of base64. Twice that is plenty.
        Limits { max_frame_bytes: 128 * 1024 }
    }
}

impl Limits {
    /// Checks a frame's size against the cap.
    pub fn check(&self, len: usize) -> Result<(), WireError> {
        if len > self.max_frame_bytes {
            return Err(WireError::Oversized { len, cap: self.max_frame_bytes });
        }
        Ok(())
    }
}

/// The sans-IO half of one call leg.
///
/// Object-safe, so the server can hold a `Box<dyn Transport>` per call.
/// Nothing a peer sends can make a method panic: bad frames are
/// [`WireError`]s, counted in [`Transport::counters`], and the leg goes on.
pub trait Transport: fmt::Debug + Send {
    /// The provider this transport speaks.
    fn provider(&self) -> ProviderId;

    /// What the transport can do; the audio formats are filled in once the
    /// leg's start has arrived.
    fn capabilities(&self) -> TransportCaps;

    /// The call's metadata, once its start arrived.
    fn call(&self) -> Option<&CallInfo>;

    /// Decodes one frame from the peer, appending to `out`.
    ///
    /// On an error nothing is appended, except where a reply is the
    /// protocol's answer to the bad frame itself.
    fn on_frame(
        &mut self,
        now: Instant,
        frame: Frame<'_>,
        out: &mut Decoded,
    ) -> Result<(), WireError>;

    /// Turns a core command into frames, appending to `out`. A `Play` is
    /// the audio and then its mark (or, where marks are estimated, the
    /// audio is queued and paced out by `on_timeout`).
    fn encode(&mut self, now: Instant, command: TransportCommand, out: &mut Vec<OutFrame>);

    /// When to call [`Transport::on_timeout`] if nothing else happens.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Fires what is due at `now`, appending to `out`.
    fn on_timeout(&mut self, now: Instant, out: &mut Decoded);

    /// The transport's account of the audio it played.
    fn playout(&self) -> Playout;

    /// What the transport counted: frames, anomalies, ignored echoes.
    fn counters(&self) -> &WireCounters;

    /// Lets the transport mirror the session's state to the peer (AudioCodes
    /// reports the caller's speech with `userStream.speech.*`, which its own
    /// barge-in relies on). The driver passes every core [`Event`]; most
    /// transports ignore them.
    fn on_event(&mut self, now: Instant, event: &Event, out: &mut Vec<OutFrame>) {
        let _ = (now, event, out);
    }

    /// Answers a [`Notice::ResumeRequested`]. Transports whose protocol has
    /// no resume never ask and ignore it.
    fn answer_resume(&mut self, now: Instant, answer: ResumeAnswer, out: &mut Vec<OutFrame>) {
        let _ = (now, answer, out);
    }

    /// The server will not take this call after all (it is live elsewhere,
    /// or a limit says no): writes the protocol's refusal, if it has one,
    /// replacing whatever answer to the start the leg had prepared. The
    /// server closes the socket afterwards with a policy-violation close
    /// code carrying `reason`. Protocols without a refusal message (Twilio,
    /// Telnyx) write nothing.
    fn refuse(&mut self, now: Instant, reason: &str, out: &mut Vec<OutFrame>) {
        let _ = (now, reason, out);
    }

    /// True while the peer may still reconnect on a new socket and resume
    /// this leg, so a dropped socket need not end the call. Transports
    /// whose protocol has no resume are never resumable.
    fn resumable(&self) -> bool {
        false
    }

    /// The peer reconnected on a new socket and the server matched its
    /// [`Notice::ResumeRequested`] to this leg. Writes what the new socket
    /// needs first (AudioCodes: `session.accepted` in the conversation's
    /// format) and forgets what went away with the old one (its play
    /// stream); audio queued here and marks not yet due are kept.
    fn resumed(&mut self, now: Instant, out: &mut Vec<OutFrame>) {
        let _ = (now, out);
    }
}

/// The earliest of several optional deadlines.
#[cfg(any(feature = "telnyx", feature = "audiocodes"))]
pub(crate) fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// Checks a DTMF key the way the core expects it: `0`-`9`, `*`, `#`, `A`-`D`.
pub fn dtmf_digit(text: &str) -> Result<char, WireError> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => Ok(c),
        (Some(c @ 'a'..='d'), None) => Ok(c.to_ascii_uppercase()),
        _ => Err(WireError::BadField { field: "dtmf digit", detail: format!("{text:?}") }),
    }
}
