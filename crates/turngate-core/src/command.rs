//! Everything a session asks the outside world to do, as one enum.

use crate::audio::AudioChunk;
use crate::event::{EndReason, Event};
use crate::ids::{CallId, ClientEventId, ConnId, ItemId, MarkId, ResponseId};

/// One thing the driver must do, returned by [`Session::handle`](crate::Session::handle).
///
/// Commands are returned in the order they must be carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send something to the backend (the model's session).
    Backend(BackendCommand),
    /// Send something to the transport (the caller's leg).
    Transport(TransportCommand),
    /// Tell the embedding app something it must act on.
    App(AppCommand),
    /// Record something that happened: a state change, a counted anomaly.
    /// The driver turns these into metrics and logs; none carries an action.
    Event(Event),
}

/// What the backend must be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendCommand {
    /// Append caller audio to the input buffer.
    AppendAudio(AudioChunk),
    /// Commit the input buffer as a user turn (sent only with at least the
    /// configured minimum of audio appended since the last commit).
    Commit {
        /// The tag to put on the client event.
        event_id: ClientEventId,
    },
    /// Ask for a response. Emitted only when the turn gate is idle, except
    /// for out-of-band responses, which are not gated.
    CreateResponse {
        /// The tag to put on the client event (and, where the backend allows,
        /// in the response's metadata, so `response.created` names it).
        event_id: ClientEventId,
        /// What the response is for.
        spec: ResponseSpec,
    },
    /// Cancel a response that is still generating.
    CancelResponse {
        /// The tag to put on the client event.
        event_id: ClientEventId,
        /// The response to cancel.
        response_id: ResponseId,
    },
    /// Cut an assistant item at the audio the caller actually heard.
    Truncate {
        /// The tag to put on the client event.
        event_id: ClientEventId,
        /// The assistant item.
        item_id: ItemId,
        /// Milliseconds heard; never more than the audio received for the item.
        audio_end_ms: u64,
    },
    /// Return a tool's output to the model.
    FunctionOutput {
        /// The tag to put on the client event.
        event_id: ClientEventId,
        /// The call it answers.
        call_id: CallId,
        /// The output, a JSON text.
        output: String,
    },
    /// Tell a full-duplex backend what to say or do next (a greeting, a
    /// check-in, the goodbye, an app's request). Sent only with
    /// [`TurnModel::FullDuplex`](crate::TurnModel::FullDuplex), where
    /// nothing opens a response; never sent again because its answer is slow.
    Instruct {
        /// The tag to put on the client event.
        event_id: ClientEventId,
        /// What the instruction is for.
        purpose: Purpose,
        /// The instruction.
        text: String,
    },
    /// Add a typed user message to the conversation.
    AddUserText {
        /// The tag to put on the client event.
        event_id: ClientEventId,
        /// The message.
        text: String,
    },
}

/// What a response is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSpec {
    /// Why the core asks for it.
    pub purpose: Purpose,
    /// Instructions for this response only.
    pub instructions: Option<String>,
    /// True for a response outside the default conversation.
    pub out_of_band: bool,
}

/// Why a response was requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Answer the user turns committed so far.
    Answer,
    /// The configured greeting at the start of the session.
    Greeting,
    /// A dead-air check-in.
    CheckIn,
    /// The goodbye before the call-duration limit hangs up.
    Goodbye,
    /// Continue after tool outputs were returned.
    ToolFollowUp,
    /// Asked for by the app.
    App,
}

impl Purpose {
    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Answer => "answer",
            Purpose::Greeting => "greeting",
            Purpose::CheckIn => "check_in",
            Purpose::Goodbye => "goodbye",
            Purpose::ToolFollowUp => "tool_follow_up",
            Purpose::App => "app",
        }
    }
}

/// What the transport must be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportCommand {
    /// Play audio to the caller, then send `mark` so its echo confirms that
    /// the caller heard it.
    Play {
        /// The assistant item the audio belongs to.
        item_id: ItemId,
        /// The audio.
        audio: AudioChunk,
        /// The mark to send right after the audio.
        mark: MarkId,
    },
    /// Drop everything queued for the caller (barge-in, call ending).
    Clear,
    /// End the call.
    HangUp,
}

/// What the embedding app must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppCommand {
    /// Run a tool and answer with [`Input::ToolResult`](crate::Input::ToolResult).
    InvokeTool {
        /// The model's id for the call.
        call_id: CallId,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON text.
        arguments: String,
    },
    /// Send a sequenced message to one app-client connection.
    Deliver {
        /// The connection.
        conn: ConnId,
        /// The message's sequence number in the session's outbox.
        seq: u64,
        /// The message, shared with the outbox and every other connection.
        text: std::sync::Arc<str>,
    },
    /// A resuming client asked for messages the outbox no longer holds.
    ReplayGap {
        /// The connection.
        conn: ConnId,
        /// The oldest sequence number still held; everything from it on was
        /// delivered with this command's neighbours.
        oldest_held: u64,
    },
    /// The session is over; the driver releases everything it holds.
    SessionEnded {
        /// Why it ended.
        reason: EndReason,
    },
}
