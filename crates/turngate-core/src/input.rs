//! Everything that can happen to a session, as one enum.

use crate::audio::AudioChunk;
use crate::ids::{CallId, ClientEventId, ConnId, ItemId, MarkId, ResponseId};

/// One thing that happened, handed to [`Session::handle`](crate::Session::handle).
///
/// Inputs come from three sides: the transport (the caller's leg), the
/// backend (the model's session) and the app (the program embedding the
/// session). Every input is accepted in every state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Nothing happened except that time passed; fires due timers.
    Tick,

    // ---- From the transport ------------------------------------------------
    /// Audio from the caller.
    CallerAudio(AudioChunk),
    /// The caller started speaking (from the backend's VAD or the transport's).
    UserSpeechStarted,
    /// The caller stopped speaking.
    UserSpeechStopped,
    /// The caller pressed a key.
    Dtmf {
        /// The key: `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
    },
    /// The transport echoed a mark: the caller has heard the audio before it.
    PlaybackMark(MarkId),
    /// The transport started playing something the core did not stream
    /// itself, for example a Call Control `playback_start` or `speak`.
    PlaybackStarted,
    /// The transport says everything queued for the caller has been played,
    /// streamed audio and external playback alike.
    PlaybackEnded,
    /// The playback the transport started on its own ([`Input::PlaybackStarted`])
    /// ended, for example a `call.playback.ended` webhook routed to this
    /// worker. Audio the core streamed is not confirmed by it.
    ExternalPlaybackEnded,
    /// The call is over on the caller's side (hang-up, stream stopped).
    CallEnded,
    /// The caller's side broke the connection's rules (the transport or the
    /// server saw it: a flood of messages, a peer that stopped reading):
    /// the session ends with `reason` and hangs up.
    PeerFault {
        /// [`EndReason::PolicyViolation`](crate::EndReason::PolicyViolation)
        /// or [`EndReason::PeerNotReading`](crate::EndReason::PeerNotReading).
        reason: crate::EndReason,
    },

    // ---- From the backend -------------------------------------------------
    /// The backend session is configured (`session.updated`): upstream
    /// traffic may flow.
    BackendReady,
    /// The backend connection is gone; whatever was in flight there is lost.
    BackendDisconnected,
    /// The backend connection gave up for good (a refusal that retrying
    /// cannot fix, such as an unknown model or an exhausted balance, or
    /// every reconnect attempt spent): nothing can answer the caller any
    /// more, so the session ends now rather than at its ready timeout.
    BackendUnavailable,
    /// The backend committed the caller's audio as a user turn.
    InputCommitted {
        /// The user item the commit created, when the backend names it.
        item_id: Option<ItemId>,
    },
    /// A response started.
    ResponseCreated {
        /// The backend's id for it.
        response_id: ResponseId,
        /// Whose response it is, as far as the backend tells.
        origin: Origin,
        /// True for a response outside the default conversation
        /// (`conversation: "none"`), which is never gated.
        out_of_band: bool,
    },
    /// Audio of a response, to be played to the caller.
    ResponseAudio {
        /// The response it belongs to.
        response_id: ResponseId,
        /// The assistant item it belongs to.
        item_id: ItemId,
        /// The audio itself.
        audio: AudioChunk,
    },
    /// The final transcript of an assistant item's audio or text.
    ResponseTranscript {
        /// The response it belongs to.
        response_id: ResponseId,
        /// The assistant item it belongs to.
        item_id: ItemId,
        /// What the assistant said.
        text: String,
    },
    /// A response asked for a tool call (arguments complete).
    FunctionCall {
        /// The response it belongs to.
        response_id: ResponseId,
        /// The model's id for the call.
        call_id: CallId,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON text.
        arguments: String,
    },
    /// A response finished, whatever the outcome.
    ResponseDone {
        /// The response that finished.
        response_id: ResponseId,
        /// How it finished.
        status: ResponseStatus,
    },
    /// A full-duplex backend placed an instruction on its timeline (it was
    /// not refused; the model has it now). Nothing says when it is spoken.
    InstructionPlaced {
        /// The instruction's tag.
        event_id: ClientEventId,
    },
    /// The transcript of a user turn.
    UserTranscript {
        /// The user item it belongs to, when known.
        item_id: Option<ItemId>,
        /// What the caller said.
        text: String,
    },
    /// The backend reported an error.
    BackendError {
        /// The client event it answers, when the backend says so and the
        /// event was one of ours.
        event_id: Option<ClientEventId>,
        /// What the error means for the session, as the provider reads its code.
        kind: BackendErrorKind,
        /// The backend's machine-readable code, verbatim, for logs.
        code: Option<String>,
        /// The human-readable message, verbatim.
        message: String,
    },

    // ---- From the app -------------------------------------------------------
    /// The app wants the assistant to respond (a greeting, a nudge).
    RequestResponse {
        /// Instructions for this response only.
        instructions: Option<String>,
        /// True to run it outside the default conversation, ungated.
        out_of_band: bool,
    },
    /// A typed user message to add to the conversation; it is a user turn.
    UserText {
        /// The message.
        text: String,
    },
    /// The result of a tool call the core asked the app to run.
    ToolResult {
        /// The call it answers.
        call_id: CallId,
        /// The output, a JSON text.
        output: String,
    },
    /// The app ends the session.
    HangUp,
    /// An app client connected to the session, possibly resuming.
    ClientConnected {
        /// The new connection.
        conn: ConnId,
        /// The last sequence number the client saw before it reconnected.
        last_seq: Option<u64>,
    },
    /// An app client connection closed.
    ClientDisconnected {
        /// The connection that closed.
        conn: ConnId,
    },
    /// A message for every app client of the session, kept for replay.
    SendToClients {
        /// The message text (usually JSON).
        text: String,
    },
}

/// What a backend error means for the session. Each provider maps its own
/// error codes to these, so the core never matches on a provider's strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendErrorKind {
    /// A cancel arrived after its response had already finished: nothing
    /// to do.
    NothingToCancel,
    /// A commit found no audio to commit: nothing to do.
    NothingToCommit,
    /// A create was refused because another response is active.
    ResponseActive,
    /// The command died with its connection before the backend took it
    /// (a full-duplex session lost with it).
    Lost,
    /// Anything else.
    Other,
}

/// Who asked for a response, as far as the backend tells.
///
/// A backend that echoes our create tag (the OpenAI provider puts it in the
/// response's `metadata`) makes this exact; one that does not leaves the core
/// to assume that a response arriving after its create answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// It answers the create with this tag.
    Create(ClientEventId),
    /// The backend echoes tags and this response has none: the backend
    /// started it on its own (server VAD, a follow-up).
    Server,
    /// The backend does not echo tags.
    Unknown,
}

/// How a response finished (`response.done` status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// It ran to its end.
    Completed,
    /// It was cancelled (by us, or by the server's own turn detection).
    Cancelled,
    /// It failed on the backend.
    Failed,
    /// It stopped early (token limit, content filter); what it produced stands.
    Incomplete,
}

impl ResponseStatus {
    /// The wire name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseStatus::Completed => "completed",
            ResponseStatus::Cancelled => "cancelled",
            ResponseStatus::Failed => "failed",
            ResponseStatus::Incomplete => "incomplete",
        }
    }
}
