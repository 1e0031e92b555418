//! Observable happenings: every state change and every counted anomaly.
//!
//! The core has no logging side path: what it wants recorded is returned as
//! [`Command::Event`](crate::Command::Event), in order with the commands it
//! explains, and the same event updates the session's [`Counters`](crate::Counters).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::Purpose;
use crate::ids::{CallId, ItemId, ResponseId};
use crate::input::ResponseStatus;

/// Something that happened inside the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The turn gate moved.
    GateChanged {
        /// Where it was.
        from: GateKind,
        /// Where it is now.
        to: GateKind,
    },
    /// A response the backend started on its own took the gate.
    ServerResponseAdopted {
        /// The response.
        response_id: ResponseId,
    },
    /// The agent started or stopped being heard by the caller.
    AgentSpeaking(bool),
    /// The caller started or stopped speaking.
    UserSpeaking(bool),
    /// A user turn was committed and waits for a response.
    TurnQueued {
        /// Turns now waiting.
        pending: usize,
    },
    /// A response was wanted while the gate was busy, so it waits instead of
    /// colliding with the active one: a conflict prevented.
    ResponseDeferred {
        /// What the response is for.
        purpose: Purpose,
    },
    /// User turns were answered by a finished response.
    TurnsAnswered {
        /// How many.
        count: usize,
        /// How long the oldest waited from commit to `response.created`.
        waited: Duration,
        /// True when the response was cut short by a barge-in.
        interrupted: bool,
    },
    /// User turns go back to waiting because their response was lost.
    TurnsRequeued {
        /// How many.
        count: usize,
        /// Why.
        reason: RequeueReason,
    },
    /// User turns were dropped, by a documented rule.
    TurnsDropped {
        /// How many.
        count: usize,
        /// The rule.
        reason: DropReason,
    },
    /// A requested response was given up, by a documented rule.
    RequestDropped {
        /// What it was for.
        purpose: Purpose,
        /// The rule.
        reason: DropReason,
    },
    /// The backend refused our create; the request waits and is retried.
    CreateRejected {
        /// The backend's error code.
        code: Option<String>,
        /// How long before the next attempt.
        retry_in: Duration,
    },
    /// A wait ran out and the core moved on.
    TimedOut(Wait),
    /// The caller talked over the agent.
    BargeIn {
        /// The item being played, if any audio was playing.
        item_id: Option<ItemId>,
        /// What the caller had heard of it.
        played_ms: u64,
    },
    /// No truncate was sent after a barge-in because nothing had been heard.
    TruncateSkipped {
        /// The item.
        item_id: ItemId,
    },
    /// Audio of a cancelled or unknown response arrived and was not played.
    LateAudioDropped {
        /// The response it belonged to.
        response_id: ResponseId,
        /// How much.
        duration: Duration,
    },
    /// Caller audio that arrived before the backend was ready overflowed the
    /// readiness buffer; the oldest was dropped.
    CallerAudioDropped {
        /// How much.
        duration: Duration,
    },
    /// Caller audio arrived faster than real time beyond the configured
    /// rate and burst; the session ends as a policy violation.
    CallerAudioTooFast {
        /// The chunk that went over.
        duration: Duration,
    },
    /// Playback was assumed finished because its confirmation never came.
    PlaybackAssumed,
    /// A dead-air check-in was requested.
    CheckIn {
        /// Its number since the caller last spoke, from 1.
        number: u32,
    },
    /// The caller asked for time; the longer silence timeout applies.
    HoldOn,
    /// The backend became ready.
    BackendReady,
    /// The backend connection was lost.
    BackendLost,
    /// An input that does not apply in the current state was ignored.
    Ignored(Ignored),
    /// The backend reported an error we expect and can ignore.
    BenignError {
        /// Its code.
        code: String,
    },
    /// The backend reported an error not tied to a gated request.
    BackendError {
        /// Its code.
        code: Option<String>,
        /// Its message, verbatim.
        message: String,
    },
    /// Something was said.
    Transcript {
        /// Who said it.
        role: Role,
        /// What was said.
        text: String,
    },
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// Tool calls of a response that did not complete were not run.
    ToolCallsDiscarded {
        /// How many.
        count: usize,
        /// How the response finished.
        status: ResponseStatus,
    },
    /// A tool call got no result in time; an error output was returned.
    ToolTimedOut {
        /// The call.
        call_id: CallId,
    },
    /// The session began ending; a goodbye may still play.
    CallEnding {
        /// Why.
        reason: EndReason,
    },
}

/// The turn gate's state, without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateKind {
    /// No response requested or active.
    Idle,
    /// A create was sent; no `response.created` yet.
    Requested,
    /// A response is generating.
    Active,
    /// A cancel was sent; no `response.done` yet.
    Cancelling,
}

/// Who spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The caller.
    User,
    /// The agent.
    Assistant,
}

/// Why turns went back to waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequeueReason {
    /// The response answering them failed.
    ResponseFailed,
    /// The backend connection dropped before the response finished.
    BackendLost,
    /// A barge-in cut the response off before the caller heard any of it.
    Interrupted,
}

/// The documented rules by which a turn or request may be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The session is ending; nothing more will be answered.
    SessionEnding,
    /// The backend refused or failed it more often than the retry limit.
    RetriesExhausted,
    /// A barge-in cancelled the request before its response was created.
    Interrupted,
    /// The backend rejected the commit that made the turn.
    CommitRejected,
    /// The backend was not ready and the request cannot wait for it.
    NotReady,
    /// The backend refused it (an instruction a full-duplex backend
    /// rejected); it is not sent again.
    Rejected,
    /// The backend cannot do it: a full-duplex backend has no out-of-band
    /// responses and speaks on request only when told what to say.
    Unsupported,
    /// The backend connection died with it, and it is not worth giving
    /// again to the next one (a check-in whose moment has passed).
    BackendLost,
}

/// The bounded waits of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wait {
    /// `response.created` (or an error) after our create.
    ResponseCreated,
    /// `response.done` after our cancel.
    CancelDone,
    /// `response.done` of an active response.
    ResponseDone,
    /// The goodbye before hanging up.
    Goodbye,
}

/// Why an input was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// `response.done` for a response that is not the active one (late, or
    /// for a response already given up).
    UnknownResponseDone,
    /// `response.created` while another response was already active.
    ExtraResponseCreated,
    /// A transcript, tool call or audio of a response we do not track.
    UnknownResponseData,
    /// A mark that is not outstanding (echoed after a clear, or duplicated).
    UnknownMark,
    /// `playback ended` while nothing was playing (a duplicate webhook).
    PlaybackNotActive,
    /// A tool result nobody asked for.
    UnknownToolResult,
    /// An error naming a client event the core no longer tracks.
    UnknownEventError,
    /// Anything after the session ended.
    SessionOver,
    /// A second `backend ready` while already ready.
    AlreadyReady,
    /// A `backend disconnected` while already disconnected.
    AlreadyDisconnected,
    /// A disconnect of a client connection we do not know.
    UnknownConnection,
    /// A commit acknowledgement with no commit of ours waiting for it.
    UnexpectedCommit,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller hung up or the stream stopped.
    CallerHungUp,
    /// The app ended it.
    AppHungUp,
    /// Nobody spoke through every check-in and the grace period.
    DeadAir,
    /// The call reached its maximum duration.
    MaxDuration,
    /// The backend did not become ready in time.
    BackendNotReady,
    /// The backend connection gave up for good.
    BackendUnavailable,
    /// The last app client left and did not come back within the grace period.
    ClientsGone,
    /// The peer broke a limit: caller audio faster than real time (beyond
    /// the configured rate and burst), or a flood of messages.
    PolicyViolation,
    /// The peer stopped reading what was sent to it.
    PeerNotReading,
}

impl EndReason {
    /// A short lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHungUp => "caller_hung_up",
            EndReason::AppHungUp => "app_hung_up",
            EndReason::DeadAir => "dead_air",
            EndReason::MaxDuration => "max_duration",
            EndReason::BackendNotReady => "backend_not_ready",
            EndReason::BackendUnavailable => "backend_unavailable",
            EndReason::ClientsGone => "clients_gone",
            EndReason::PolicyViolation => "policy_violation",
            EndReason::PeerNotReading => "peer_not_reading",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GateKind {
    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            GateKind::Idle => "idle",
            GateKind::Requested => "requested",
            GateKind::Active => "active",
            GateKind::Cancelling => "cancelling",
        }
    }
}
