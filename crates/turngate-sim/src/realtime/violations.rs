//! What the simulator saw clients do wrong, and what it did, shared across
//! every connection of one server and queryable by tests.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A rule of the real API that a client broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// `response.create` while a default-conversation response was active
    /// (`conversation_already_has_active_response`).
    Conflict,
    /// `input_audio_buffer.commit` with less than 100 ms buffered
    /// (`input_audio_buffer_commit_empty`).
    BadCommit,
    /// `conversation.item.truncate` of an unknown or non-assistant item, at
    /// 0 ms, past the audio the item has, or of a content part it lacks.
    BadTruncate,
    /// An event that is not valid JSON or breaks the GA schema (unknown
    /// fields, missing fields, wrong types or values).
    InvalidEvent,
    /// The retired beta header or shape.
    BetaShape,
    /// A client `event_id` used twice on one connection.
    DuplicateEventId,
    /// A `function_call_output` for a call the conversation does not have.
    UnknownCallOutput,
    /// Audio that is not base64 of whole samples in the session format.
    BadAudio,
    /// A client event of the WebRTC/SIP transports sent over a WebSocket.
    WrongTransport,
}

/// Everything the simulator counts: client violations and its own activity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// See [`Violation::Conflict`].
    pub conflicts: u64,
    /// See [`Violation::BadCommit`].
    pub bad_commits: u64,
    /// See [`Violation::BadTruncate`].
    pub bad_truncates: u64,
    /// See [`Violation::InvalidEvent`].
    pub invalid_events: u64,
    /// See [`Violation::BetaShape`].
    pub beta_shapes: u64,
    /// See [`Violation::DuplicateEventId`].
    pub duplicate_event_ids: u64,
    /// See [`Violation::UnknownCallOutput`].
    pub unknown_call_outputs: u64,
    /// See [`Violation::BadAudio`].
    pub bad_audio: u64,
    /// See [`Violation::WrongTransport`].
    pub wrong_transport: u64,

    /// WebSocket sessions accepted.
    pub connections: u64,
    /// Client events received.
    pub client_events: u64,
    /// Default-conversation responses started (ours and the server's own).
    pub responses: u64,
    /// Responses the server started on its own (turn detection).
    pub auto_responses: u64,
    /// Out-of-band responses.
    pub out_of_band_responses: u64,
    /// Responses that were function calls.
    pub function_calls: u64,
    /// Responses cancelled (by the client or by turn detection).
    pub cancelled: u64,
    /// Responses failed by an injected `server_error`.
    pub failed: u64,
    /// `response.cancel` with nothing active (`response_cancel_not_active`,
    /// harmless by the API's own account, so not a violation).
    pub cancels_not_active: u64,
    /// Commits accepted (by the client or by turn detection).
    pub commits: u64,
    /// Truncates accepted.
    pub truncates: u64,
    /// Connections dropped by the fault injector.
    pub dropped: u64,
    /// Connections closed at the session limit.
    pub session_limits: u64,
    /// Committed user turns still without a response when their connection
    /// closed (a reconnecting client answers them on the next one).
    pub unanswered_at_close: u64,
}

impl Counts {
    /// The violations only, summed: zero for a client that kept every rule.
    pub fn violations(&self) -> u64 {
        self.conflicts
            + self.bad_commits
            + self.bad_truncates
            + self.invalid_events
            + self.beta_shapes
            + self.duplicate_event_ids
            + self.unknown_call_outputs
            + self.bad_audio
            + self.wrong_transport
    }
}

/// The shared record of one simulator.
#[derive(Debug, Default)]
pub struct Record {
    counters: [AtomicU64; COUNTERS],
    details: Mutex<Vec<String>>,
}

/// How many violation details are kept (the counts are always exact).
const DETAILS_KEPT: usize = 200;
const COUNTERS: usize = 24;

/// The counters in [`Record`], by index.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Connections = 9,
    ClientEvents,
    Responses,
    AutoResponses,
    OutOfBand,
    FunctionCalls,
    Cancelled,
    Failed,
    CancelsNotActive,
    Commits,
    Truncates,
    Dropped,
    SessionLimits,
    UnansweredAtClose,
}

impl Record {
    /// Counts a violation and keeps its detail.
    pub(crate) fn violation(&self, violation: Violation, detail: String) {
        self.bump_index(violation as usize);
        tracing::warn!(?violation, %detail, "realtime simulator: client violated the API");
        let mut details = self.details.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if details.len() < DETAILS_KEPT {
            let mut line = detail;
            line.insert_str(0, &format!("{violation}: "));
            details.push(line);
        }
    }

    /// Counts something the simulator did.
    pub(crate) fn count(&self, counter: Counter) {
        self.bump_index(counter as usize);
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        if let Some(slot) = self.counters.get(counter as usize) {
            slot.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn bump_index(&self, index: usize) {
        if let Some(slot) = self.counters.get(index) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A snapshot of every count.
    pub fn counts(&self) -> Counts {
        let get = |index: usize| self.counters.get(index).map_or(0, |c| c.load(Ordering::Relaxed));
        Counts {
            conflicts: get(Violation::Conflict as usize),
            bad_commits: get(Violation::BadCommit as usize),
            bad_truncates: get(Violation::BadTruncate as usize),
            invalid_events: get(Violation::InvalidEvent as usize),
            beta_shapes: get(Violation::BetaShape as usize),
            duplicate_event_ids: get(Violation::DuplicateEventId as usize),
            unknown_call_outputs: get(Violation::UnknownCallOutput as usize),
            bad_audio: get(Violation::BadAudio as usize),
            wrong_transport: get(Violation::WrongTransport as usize),
            connections: get(Counter::Connections as usize),
            client_events: get(Counter::ClientEvents as usize),
            responses: get(Counter::Responses as usize),
            auto_responses: get(Counter::AutoResponses as usize),
            out_of_band_responses: get(Counter::OutOfBand as usize),
            function_calls: get(Counter::FunctionCalls as usize),
            cancelled: get(Counter::Cancelled as usize),
            failed: get(Counter::Failed as usize),
            cancels_not_active: get(Counter::CancelsNotActive as usize),
            commits: get(Counter::Commits as usize),
            truncates: get(Counter::Truncates as usize),
            dropped: get(Counter::Dropped as usize),
            session_limits: get(Counter::SessionLimits as usize),
            unanswered_at_close: get(Counter::UnansweredAtClose as usize),
        }
    }

    /// The details of the first violations (at most 200).
    pub fn details(&self) -> Vec<String> {
        self.details.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Violation::Conflict => "conflict",
            Violation::BadCommit => "bad commit",
            Violation::BadTruncate => "bad truncate",
            Violation::InvalidEvent => "invalid event",
            Violation::BetaShape => "beta shape",
            Violation::DuplicateEventId => "duplicate event id",
            Violation::UnknownCallOutput => "output for an unknown call",
            Violation::BadAudio => "bad audio",
            Violation::WrongTransport => "wrong transport",
        })
    }
}
