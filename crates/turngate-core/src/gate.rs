//! The turn gate: at most one default-conversation response requested or
//! active at a time.

use std::time::Instant;

use crate::event::{DropReason, GateKind};
use crate::ids::{CallId, ClientEventId, ItemId, ResponseId};
use crate::queue::{PendingTurn, Request};

/// The turn gate.
///
/// ```text
///            create sent            response.created          cancel sent
///   Idle ─────────────────▶ Requested ──────────────▶ Active ─────────────▶ Cancelling
///    │                          │                       │                       │
///    │ the server's own         │ error for our create, │ response.done (any    │ response.done,
///    │ response.created         │ no answer in time,    │ status), backend lost │ no answer in
///    └──────────▶ Active        │ backend lost          │                       │ time, backend lost
///                               ▼                       ▼                       ▼
///                              Idle                    Idle                    Idle
/// ```
///
/// A create is sent only from `Idle`; everything that wants a response while
/// the gate is elsewhere waits in the queue. `response.done` releases the gate
/// whatever its status, and so does an error that answers our create: a
/// rejected create gets no `response.done`, and waiting for one would
/// deadlock the session.
#[derive(Debug)]
pub(crate) enum Gate {
    Idle,
    Requested {
        event_id: ClientEventId,
        request: Request,
        since: Instant,
        /// Set when the response must be cancelled the moment it exists (the
        /// caller barged in, or the session is ending, before it was created).
        cancel_on_create: Option<CancelReason>,
    },
    Active(Flight),
    Cancelling {
        flight: Flight,
        reason: CancelReason,
        since: Instant,
    },
}

/// A response that exists on the backend, ours or the server's.
#[derive(Debug)]
pub(crate) struct Flight {
    pub(crate) response_id: ResponseId,
    pub(crate) ours: Ours,
    /// The user turns this response answers: every turn committed before it
    /// was created, since a response sees the whole conversation.
    pub(crate) covered: Vec<PendingTurn>,
    pub(crate) created_at: Instant,
    pub(crate) tool_calls: Vec<ToolCall>,
    /// The assistant items whose audio was played.
    pub(crate) items: Vec<ItemId>,
}

/// Whether the response in flight is the one we asked for.
#[derive(Debug)]
pub(crate) enum Ours {
    /// The server started it; no create of ours is outstanding.
    No,
    /// It answers our create (the backend echoed our tag).
    Yes(Request),
    /// It is probably ours: it came while our create was outstanding, but
    /// the backend does not echo tags. An error naming our create later
    /// proves it was not.
    Probably(ClientEventId, Request),
    /// It is the server's, and our create is still outstanding behind it:
    /// the backend will reject it or run it once this one is done.
    Behind(ClientEventId, Request),
}

/// Why we cancelled a response; it decides what becomes of its turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelReason {
    /// The caller talked over it. If they heard some of it, its turns count
    /// as answered (interrupted); if not, they wait for the next response.
    BargeIn { heard: bool },
    /// The session is ending: its turns are dropped.
    Ending,
    /// It generated for too long: its turns are asked again.
    Timeout,
}

/// A tool call of the response in flight, run once the response completes.
#[derive(Debug)]
pub(crate) struct ToolCall {
    pub(crate) call_id: CallId,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

impl Gate {
    pub(crate) fn kind(&self) -> GateKind {
        match self {
            Gate::Idle => GateKind::Idle,
            Gate::Requested { .. } => GateKind::Requested,
            Gate::Active(_) => GateKind::Active,
            Gate::Cancelling { .. } => GateKind::Cancelling,
        }
    }

    /// The response the gate tracks, if one exists on the backend.
    pub(crate) fn flight(&self) -> Option<&Flight> {
        match self {
            Gate::Active(flight) | Gate::Cancelling { flight, .. } => Some(flight),
            Gate::Idle | Gate::Requested { .. } => None,
        }
    }
}

impl CancelReason {
    /// The rule under which a request cancelled for this reason is dropped.
    pub(crate) fn drop_reason(self) -> DropReason {
        match self {
            CancelReason::BargeIn { .. } => DropReason::Interrupted,
            CancelReason::Ending => DropReason::SessionEnding,
            CancelReason::Timeout => DropReason::RetriesExhausted,
        }
    }
}

impl Ours {
    /// Our create that has not been answered yet, if any.
    pub(crate) fn outstanding(&self) -> Option<ClientEventId> {
        match self {
            Ours::Probably(id, _) | Ours::Behind(id, _) => Some(*id),
            Ours::No | Ours::Yes(_) => None,
        }
    }
}
