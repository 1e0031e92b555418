//! Running totals of what a session did, for health pages and metrics.

use serde::Serialize;

use crate::command::{AppCommand, BackendCommand, Command, TransportCommand};
use crate::event::Event;

/// Totals since the session started. Every field only grows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// `response.create` commands sent (out-of-band ones included).
    pub creates_sent: u64,
    /// Responses that were wanted while the gate was busy and waited
    /// instead of colliding: conflicts prevented.
    pub conflicts_prevented: u64,
    /// Creates the backend rejected or never answered.
    pub creates_rejected: u64,
    /// Responses the backend started on its own that the gate adopted.
    pub server_responses: u64,
    /// User turns committed.
    pub turns_committed: u64,
    /// User turns answered (interrupted ones included).
    pub turns_answered: u64,
    /// User turns asked again after their response was lost.
    pub turns_requeued: u64,
    /// User turns dropped by a documented rule.
    pub turns_dropped: u64,
    /// Requested responses dropped by a documented rule.
    pub requests_dropped: u64,
    /// Barge-ins.
    pub barge_ins: u64,
    /// Truncates sent.
    pub truncates: u64,
    /// Dead-air check-ins.
    pub check_ins: u64,
    /// Audio chunks of cancelled or unknown responses not played.
    pub late_audio_dropped: u64,
    /// Milliseconds of caller audio dropped before the backend was ready.
    pub caller_audio_dropped_ms: u64,
    /// Caller audio that arrived faster than the configured rate allows.
    pub policy_violations: u64,
    /// Playbacks assumed heard because their confirmation never came.
    pub playback_assumed: u64,
    /// Waits that ran out.
    pub timeouts: u64,
    /// Inputs ignored because they did not apply (late, duplicate, unknown).
    pub ignored: u64,
    /// Backend errors not tied to a gated request.
    pub backend_errors: u64,
    /// Backend errors we expect and ignore.
    pub benign_errors: u64,
    /// Times the backend connection was lost.
    pub backend_lost: u64,
    /// Tool calls handed to the app.
    pub tool_calls: u64,
    /// Tool calls that got no result in time.
    pub tool_timeouts: u64,
}

impl Counters {
    pub(crate) fn count(&mut self, command: &Command) {
        match command {
            Command::Event(event) => self.count_event(event),
            Command::Backend(BackendCommand::CreateResponse { .. }) => self.creates_sent += 1,
            Command::Backend(BackendCommand::Truncate { .. }) => self.truncates += 1,
            Command::App(AppCommand::InvokeTool { .. }) => self.tool_calls += 1,
            Command::Backend(_) | Command::Transport(TransportCommand::Play { .. }) => {}
            Command::Transport(_) | Command::App(_) => {}
        }
    }

    fn count_event(&mut self, event: &Event) {
        match event {
            Event::ResponseDeferred { .. } => self.conflicts_prevented += 1,
            Event::CreateRejected { .. } => self.creates_rejected += 1,
            Event::ServerResponseAdopted { .. } => self.server_responses += 1,
            Event::TurnQueued { .. } => self.turns_committed += 1,
            Event::TurnsAnswered { count, .. } => self.turns_answered += *count as u64,
            Event::TurnsRequeued { count, .. } => self.turns_requeued += *count as u64,
            Event::TurnsDropped { count, .. } => self.turns_dropped += *count as u64,
            Event::RequestDropped { .. } => self.requests_dropped += 1,
            Event::BargeIn { .. } => self.barge_ins += 1,
            Event::CheckIn { .. } => self.check_ins += 1,
            Event::LateAudioDropped { .. } => self.late_audio_dropped += 1,
            Event::CallerAudioDropped { duration } => {
                self.caller_audio_dropped_ms +=
                    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
            }
            Event::CallerAudioTooFast { .. } => self.policy_violations += 1,
            Event::PlaybackAssumed => self.playback_assumed += 1,
            Event::TimedOut(_) => self.timeouts += 1,
            Event::Ignored(_) => self.ignored += 1,
            Event::BackendError { .. } => self.backend_errors += 1,
            Event::BenignError { .. } => self.benign_errors += 1,
            Event::BackendLost => self.backend_lost += 1,
            Event::ToolTimedOut { .. } => self.tool_timeouts += 1,
            Event::GateChanged { .. }
            | Event::AgentSpeaking(_)
            | Event::UserSpeaking(_)
            | Event::TruncateSkipped { .. }
            | Event::HoldOn
            | Event::BackendReady
            | Event::Transcript { .. }
            | Event::Dtmf { .. }
            | Event::ToolCallsDiscarded { .. }
            | Event::CallEnding { .. } => {}
        }
    }
}
