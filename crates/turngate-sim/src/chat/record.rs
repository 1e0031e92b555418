//! What a chat simulator saw: violations of the API's rules, and a
//! timeline of the moments that matter for measuring conflict recovery.

use std::time::Duration;

/// Breaches of the upstream API's rules by the client under test. A test
/// fails when [`Violations::total`] is not zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Violations {
    /// Conflict errors served: a message or run refused because a run was
    /// active, or a response refused with `conversation_locked`.
    pub conflicts: u64,
    /// Requests the real API would refuse for their shape: unknown fields,
    /// wrong types, missing parameters, unparseable JSON, a missing or
    /// wrong `OpenAI-Beta` header, a missing or wrong key.
    pub invalid_requests: u64,
    /// Requests for ids or URLs that do not exist.
    pub not_found: u64,
    /// A user message text added twice to one thread or conversation.
    pub duplicates: u64,
    /// User messages no completed run ever answered (Assistants).
    pub unanswered: u64,
    /// Tool protocol breaches: outputs for a run that does not wait for
    /// them, wrong or missing call ids, a function call left without output.
    pub tool_protocol: u64,
    /// One line per violation, in order, for the failure message.
    pub details: Vec<String>,
}

impl Violations {
    /// The number of violations of every kind.
    pub fn total(&self) -> u64 {
        self.conflicts
            + self.invalid_requests
            + self.not_found
            + self.duplicates
            + self.unanswered
            + self.tool_protocol
    }
}

/// Counters that are not violations: load and injected faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// 429 answers injected.
    pub injected_rate_limits: u64,
    /// 500 answers injected.
    pub injected_server_errors: u64,
    /// Cancels of work that had already ended (a benign race).
    pub late_cancels: u64,
    /// `conversation_locked` answers while a cancelled response settled:
    /// the client cannot see that state, so retrying it is not a violation.
    pub settling_refusals: u64,
    /// Runs or responses that ended `cancelled`.
    pub cancelled: u64,
    /// Runs or responses that ended `completed`.
    pub completed: u64,
    /// Threads or conversations created: one per conversation the client
    /// serves, or the client forked a history.
    pub containers_created: u64,
}

/// One moment on a simulator's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the simulator started.
    pub at: Duration,
    /// The thread or conversation it happened on.
    pub container: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened at an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A run or response reached a terminal status (for a cancelled
    /// response: the moment its conversation became usable again).
    Ended {
        /// The run or response id.
        id: String,
        /// Its terminal status.
        status: String,
    },
    /// A user message was accepted into the thread, or a response that
    /// carries one was accepted for the conversation.
    Accepted {
        /// The message or response id.
        id: String,
    },
    /// A request was refused because other work was active.
    Conflict,
}

/// The violations, counters and timeline of one simulator.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) violations: Violations,
    pub(crate) stats: Stats,
    pub(crate) timeline: Vec<Event>,
}

impl Recorder {
    pub(crate) fn violation(&mut self, kind: Kind, detail: String) {
        let v = &mut self.violations;
        match kind {
            Kind::Conflict => v.conflicts += 1,
            Kind::Invalid => v.invalid_requests += 1,
            Kind::NotFound => v.not_found += 1,
            Kind::Duplicate => v.duplicates += 1,
            Kind::Tool => v.tool_protocol += 1,
        }
        // Bounded: the counts stay exact, the text keeps the first ones.
        if v.details.len() < 1000 {
            v.details.push(detail);
        }
    }

    pub(crate) fn event(&mut self, at: Duration, container: &str, kind: EventKind) {
        self.timeline.push(Event { at, container: container.to_owned(), kind });
    }
}

/// Which counter a violation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Conflict,
    Invalid,
    NotFound,
    Duplicate,
    Tool,
}

/// For every accepted message that had to wait for a cancelled run or
/// response: the time from that work's end to the message's acceptance.
///
/// This is the client's conflict-recovery overhead on top of the
/// simulator's own cancel time: a message accepted on a container whose
/// latest event before it is a `cancelled` end counts, measured from that end.
pub fn recovery_overheads(timeline: &[Event]) -> Vec<Duration> {
    let mut last_cancel: std::collections::HashMap<&str, Duration> = Default::default();
    let mut overheads = Vec::new();
    let mut ordered: Vec<&Event> = timeline.iter().collect();
    ordered.sort_by_key(|e| e.at);
    for event in ordered {
        match &event.kind {
            EventKind::Ended { status, .. } if status == "cancelled" => {
                last_cancel.insert(&event.container, event.at);
            }
            EventKind::Accepted { .. } => {
                if let Some(ended) = last_cancel.remove(event.container.as_str()) {
                    overheads.push(event.at.saturating_sub(ended));
                }
            }
            EventKind::Ended { .. } | EventKind::Conflict => {}
        }
    }
    overheads
}
