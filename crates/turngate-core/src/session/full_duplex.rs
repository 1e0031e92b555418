//! The session's rules for a full-duplex backend (GPT-Live): the model takes
//! its own turns, so what the turn gate does for a gated backend is done
//! here by instructions, and speech is only observed.

use std::time::{Duration, Instant};

use super::{Phase, Sent, Session};
use crate::command::{BackendCommand, Command, Purpose, TransportCommand};
use crate::event::{DropReason, Event, GateKind, Ignored};
use crate::gate::{Gate, Ours};
use crate::ids::{ClientEventId, ResponseId};
use crate::queue::Request;

/// Full duplex: the goodbye instruction and how much of the model's speech
/// has arrived since the backend placed it.
#[derive(Debug)]
pub(super) struct GoodbyeWait {
    pub(super) event_id: ClientEventId,
    pub(super) request: Request,
    pub(super) placed: bool,
    pub(super) spoken: Duration,
}

/// Full duplex: speech after the goodbye was placed that counts as the
/// goodbye said. Any stretch that ends with less is taken to be something
/// else (a reply that was already under way).
const GOODBYE_SPOKEN: Duration = Duration::from_millis(500);

impl Session {
    /// Full-duplex barge-in: drops what the caller's leg still queues, so
    /// the caller does not hear speech the model may already have abandoned.
    pub(super) fn clear_playout(&mut self) {
        if !self.playback.speaking() {
            self.event(Event::BargeIn { item_id: None, played_ms: 0 });
            return;
        }
        self.push(Command::Transport(TransportCommand::Clear));
        let cut = self.playback.clear();
        let (item_id, played_ms) = match cut {
            Some(cut) => {
                (Some(cut.item_id), u64::try_from(cut.played.as_millis()).unwrap_or(u64::MAX))
            }
            None => (None, 0),
        };
        self.event(Event::BargeIn { item_id, played_ms });
        self.event(Event::AgentSpeaking(false));
    }

    /// Full duplex: the model began a stretch of speech, nobody's answer to
    /// anything (the goodbye is recognised by what is said after it was
    /// placed, since a stretch may begin before it and run into it).
    pub(super) fn on_speech_began(&mut self, now: Instant, response_id: ResponseId) {
        if !matches!(self.gate, Gate::Idle) {
            self.event(Event::Ignored(Ignored::ExtraResponseCreated));
            return;
        }
        let flight = self.flight(now, response_id, Ours::No);
        self.transition(now, GateKind::Idle, Gate::Active(flight));
    }

    /// Full duplex: a stretch of speech ended. If enough of it came after
    /// the goodbye was placed, the goodbye has been said.
    pub(super) fn on_speech_ended(&mut self) {
        let said = self.goodbye.as_ref().is_some_and(|g| g.placed && g.spoken >= GOODBYE_SPOKEN);
        if said && let Phase::Ending { goodbye_done, .. } = &mut self.phase {
            *goodbye_done = true;
            self.goodbye = None;
        }
    }

    /// A full-duplex backend refused an instruction. It is not sent again
    /// (the refusal says it would fail again); a refused goodbye lets the
    /// call hang up without waiting for one.
    pub(super) fn instruction_rejected(&mut self, purpose: Purpose) {
        self.event(Event::RequestDropped { purpose, reason: DropReason::Rejected });
        if purpose == Purpose::Goodbye {
            self.goodbye = None;
            if let Phase::Ending { goodbye_done, .. } = &mut self.phase {
                *goodbye_done = true;
            }
        }
    }

    /// A full-duplex backend lost an instruction with its session. A
    /// goodbye is given again to the next session; anything else had its
    /// moment and is dropped, and said so.
    pub(super) fn instruction_lost(&mut self, event_id: ClientEventId, purpose: Purpose) {
        if purpose == Purpose::Goodbye {
            if let Some(goodbye) = self.goodbye.take_if(|g| g.event_id == event_id) {
                self.retry_request(goodbye.request);
            }
            return;
        }
        self.event(Event::RequestDropped { purpose, reason: DropReason::BackendLost });
    }

    pub(super) fn on_instruction_placed(&mut self, event_id: ClientEventId) {
        match self.goodbye.as_mut() {
            Some(goodbye) if goodbye.event_id == event_id => goodbye.placed = true,
            _ => {}
        }
    }

    /// Full duplex: every waiting request goes out at once as an
    /// instruction; no gate holds it, since the model needs none.
    pub(super) fn pump_instructions(&mut self) {
        if !self.ready {
            return;
        }
        // As with the gate: nothing is said over a caller still talking.
        if self.user_speaking && matches!(self.phase, Phase::Live) {
            return;
        }
        loop {
            let request = match self.phase {
                Phase::Live => self.queue.pop_request(),
                Phase::Ending { .. } => {
                    self.queue.drain_requests_where(|r| r.purpose == Purpose::Goodbye).pop()
                }
                Phase::Starting | Phase::Ended(_) => None,
            };
            let Some(request) = request else {
                return;
            };
            let Some(text) = request.instructions.clone() else {
                self.event(Event::RequestDropped {
                    purpose: request.purpose,
                    reason: DropReason::Unsupported,
                });
                continue;
            };
            let purpose = request.purpose;
            let event_id = self.event_id(Sent::Instruct(purpose));
            self.push(Command::Backend(BackendCommand::Instruct { event_id, purpose, text }));
            if purpose == Purpose::Goodbye {
                self.goodbye =
                    Some(GoodbyeWait { event_id, request, placed: false, spoken: Duration::ZERO });
            }
        }
    }
}
