//! The invariants, checked after every step from what crossed the core's
//! boundary, independently of the core's own bookkeeping.

use std::collections::VecDeque;
use std::time::Duration;

use turngate_core::{
    AppCommand, BackendCommand, ClientEventId, Command, EndReason, Event, Input, ItemId, MarkId,
    Origin, ResponseId, Session, SessionConfig, TransportCommand, TurnDetection, TurnModel,
};

/// Which invariant a schedule broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A create was sent while one was requested or a response active.
    TwoResponses,
    /// The model server refused a request for a rule the real API enforces.
    UpstreamRule,
    /// Something was sent upstream before the backend was ready.
    SentBeforeReady,
    /// A truncate did not match what the caller heard.
    BadTruncate,
    /// Audio of a cancelled response was played.
    LateAudioPlayed,
    /// "Agent speaking" disagreed with the playback confirmations.
    SpeakingMismatch,
    /// A dead-air check-in while someone was speaking.
    CheckInWhileSpeaking,
    /// A dead-air hang-up before every check-in was made.
    EarlyDeadAirHangUp,
    /// Committed turns were neither answered nor dropped by a rule.
    TurnAccounting,
    /// The session never ended although everyone fell silent.
    NeverEnded,
    /// A commit, create, cancel or truncate was sent to a full-duplex model.
    GateInFullDuplex,
    /// A delegation was answered twice, or neither answered nor called off.
    DelegationAccounting,
    /// The core panicked.
    Panic,
}

/// The monitor's view of the session, built from inputs and commands only.
#[derive(Debug)]
pub(crate) struct Monitor {
    turn_detection: TurnDetection,
    full_duplex: bool,
    max_check_ins: u32,
    ready: bool,
    user_speaking: bool,
    outstanding: VecDeque<ClientEventId>,
    oob_creates: Vec<ClientEventId>,
    active: Vec<ResponseId>,
    cancelled: Vec<ResponseId>,
    unconfirmed: VecDeque<(MarkId, ItemId, Duration)>,
    external: bool,
    received: Vec<(ItemId, Duration)>,
    heard: Vec<(ItemId, Duration)>,
    check_ins: u32,
    pub(crate) commits: u64,
    pub(crate) answered: u64,
    pub(crate) dropped: u64,
    pub(crate) barge_ins: u64,
    pub(crate) check_ins_total: u64,
    /// Full duplex: delegations handed to the core, results sent for them
    /// (by call id), and calls the core said it called off.
    pub(crate) delegations: u64,
    answered_calls: Vec<turngate_core::CallId>,
    pub(crate) discarded: u64,
}

pub(crate) type Found = (ViolationKind, String);

impl Monitor {
    pub(crate) fn new(config: &SessionConfig) -> Monitor {
        Monitor {
            turn_detection: config.turn_detection,
            full_duplex: config.turn_model == TurnModel::FullDuplex,
            max_check_ins: config.dead_air.max_check_ins,
            ready: false,
            user_speaking: false,
            outstanding: VecDeque::new(),
            oob_creates: Vec::new(),
            active: Vec::new(),
            cancelled: Vec::new(),
            unconfirmed: VecDeque::new(),
            external: false,
            received: Vec::new(),
            heard: Vec::new(),
            check_ins: 0,
            commits: 0,
            answered: 0,
            dropped: 0,
            barge_ins: 0,
            check_ins_total: 0,
            delegations: 0,
            answered_calls: Vec::new(),
            discarded: 0,
        }
    }

    /// Learns from an input about to be handled by a live session.
    pub(crate) fn before(&mut self, input: &Input) {
        match input {
            Input::BackendReady => self.ready = true,
            Input::BackendDisconnected => {
                self.ready = false;
                self.outstanding.clear();
                self.active.clear();
            }
            Input::UserSpeechStarted | Input::Dtmf { .. } => {
                self.user_speaking |= matches!(input, Input::UserSpeechStarted);
                self.check_ins = 0;
            }
            Input::UserSpeechStopped => self.user_speaking = false,
            Input::ResponseCreated { response_id, origin, out_of_band } => {
                if *out_of_band {
                    return;
                }
                self.active.push(response_id.clone());
                match origin {
                    Origin::Create(tag) => self.outstanding.retain(|id| id != tag),
                    Origin::Server => {}
                    // Without tags a response is taken to answer the oldest create.
                    Origin::Unknown => {
                        self.outstanding.pop_front();
                    }
                }
            }
            Input::ResponseDone { response_id, .. } => self.active.retain(|id| id != response_id),
            Input::BackendError { event_id: Some(id), .. } => self.outstanding.retain(|o| o != id),
            Input::PlaybackMark(mark) => {
                if let Some(position) = self.unconfirmed.iter().position(|(m, _, _)| m == mark) {
                    for (_, item, end) in self.unconfirmed.drain(..=position).collect::<Vec<_>>() {
                        add_max(&mut self.heard, item, end);
                    }
                }
            }
            Input::PlaybackEnded => {
                for (_, item, end) in mem_take(&mut self.unconfirmed) {
                    add_max(&mut self.heard, item, end);
                }
                self.external = false;
            }
            Input::PlaybackStarted => self.external = true,
            Input::ExternalPlaybackEnded => self.external = false,
            Input::InputCommitted { .. } if self.turn_detection == TurnDetection::Server => {
                self.commits += 1;
            }
            // A full-duplex model takes typed text as no turn of ours.
            Input::UserText { .. } if !self.full_duplex => self.commits += 1,
            Input::FunctionCall { .. } if self.full_duplex => self.delegations += 1,
            _ => {}
        }
    }

    /// Checks the commands the session answered `input` with.
    /// `audio_of` names the response when the input was response audio.
    pub(crate) fn after(
        &mut self,
        audio_of: Option<&ResponseId>,
        commands: &[Command],
        session: &Session,
    ) -> Result<(), Found> {
        for command in commands {
            self.command(audio_of, command)?;
        }
        let mirror = !self.unconfirmed.is_empty() || self.external;
        if session.agent_speaking() != mirror && !session.is_ended() {
            return Err((
                ViolationKind::SpeakingMismatch,
                format!(
                    "core says agent speaking = {}, confirmations say {} ({} chunks unconfirmed)",
                    session.agent_speaking(),
                    mirror,
                    self.unconfirmed.len()
                ),
            ));
        }
        if self.answered + self.dropped > self.commits {
            return Err((
                ViolationKind::TurnAccounting,
                format!(
                    "{} answered + {} dropped > {} committed",
                    self.answered, self.dropped, self.commits
                ),
            ));
        }
        Ok(())
    }

    fn command(&mut self, audio_of: Option<&ResponseId>, command: &Command) -> Result<(), Found> {
        match command {
            Command::Backend(backend) => {
                if !self.ready {
                    return Err((ViolationKind::SentBeforeReady, format!("{backend:?}")));
                }
                if self.full_duplex {
                    return self.duplex_command(backend);
                }
                match backend {
                    BackendCommand::CreateResponse { event_id, spec } => {
                        if spec.out_of_band {
                            self.oob_creates.push(*event_id);
                            return Ok(());
                        }
                        if !self.outstanding.is_empty() || !self.active.is_empty() {
                            return Err((
                                ViolationKind::TwoResponses,
                                format!(
                                    "create {event_id} while creates {:?} are outstanding and responses {:?} active",
                                    self.outstanding, self.active
                                ),
                            ));
                        }
                        self.outstanding.push_back(*event_id);
                    }
                    BackendCommand::CancelResponse { response_id, .. } => {
                        self.cancelled.push(response_id.clone());
                    }
                    BackendCommand::Commit { .. } => self.commits += 1,
                    BackendCommand::Truncate { item_id, audio_end_ms, .. } => {
                        let heard = total(&self.heard, item_id).as_millis() as u64;
                        let received = total(&self.received, item_id).as_millis() as u64;
                        if *audio_end_ms == 0 || *audio_end_ms != heard || *audio_end_ms > received
                        {
                            return Err((
                                ViolationKind::BadTruncate,
                                format!(
                                    "truncate {item_id} at {audio_end_ms} ms; heard {heard} ms of {received} ms received"
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Command::Transport(TransportCommand::Play { item_id, audio, mark }) => {
                if let Some(response_id) = audio_of
                    && self.cancelled.contains(response_id)
                {
                    return Err((
                        ViolationKind::LateAudioPlayed,
                        format!("audio of cancelled {response_id} played"),
                    ));
                }
                let end = total(&self.received, item_id) + audio.duration;
                add_max(&mut self.received, item_id.clone(), end);
                self.unconfirmed.push_back((*mark, item_id.clone(), end));
            }
            Command::Transport(TransportCommand::Clear) => {
                self.unconfirmed.clear();
                self.external = false;
            }
            Command::Transport(TransportCommand::HangUp) => {}
            Command::Event(event) => self.event(event)?,
            Command::App(AppCommand::SessionEnded { reason: EndReason::DeadAir }) => {
                if self.check_ins < self.max_check_ins {
                    return Err((
                        ViolationKind::EarlyDeadAirHangUp,
                        format!(
                            "hung up after {} of {} check-ins",
                            self.check_ins, self.max_check_ins
                        ),
                    ));
                }
            }
            Command::App(_) => {}
        }
        Ok(())
    }

    fn event(&mut self, event: &Event) -> Result<(), Found> {
        match event {
            Event::TurnsAnswered { count, .. } => self.answered += *count as u64,
            Event::TurnsDropped { count, .. } => self.dropped += *count as u64,
            Event::BargeIn { .. } => self.barge_ins += 1,
            Event::ToolCallsDiscarded { count, .. } => self.discarded += *count as u64,
            Event::CheckIn { number } => {
                let agent = !self.unconfirmed.is_empty() || self.external;
                if self.user_speaking || agent {
                    return Err((
                        ViolationKind::CheckInWhileSpeaking,
                        format!(
                            "check-in {number} while user speaking = {}, agent speaking = {agent}",
                            self.user_speaking
                        ),
                    ));
                }
                self.check_ins += 1;
                self.check_ins_total += 1;
            }
            Event::PlaybackAssumed => {
                // The core gave up waiting for confirmations (they may come
                // late on the webhook path); everything queued counts as heard.
                for (_, item, end) in mem_take(&mut self.unconfirmed) {
                    add_max(&mut self.heard, item, end);
                }
                self.external = false;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Monitor {
    /// What may go to a full-duplex model: audio, instructions, results
    /// (each once) and typed text; nothing of the turn gate.
    fn duplex_command(&mut self, backend: &BackendCommand) -> Result<(), Found> {
        match backend {
            BackendCommand::Commit { .. }
            | BackendCommand::CreateResponse { .. }
            | BackendCommand::CancelResponse { .. }
            | BackendCommand::Truncate { .. } => {
                Err((ViolationKind::GateInFullDuplex, format!("{backend:?}")))
            }
            BackendCommand::FunctionOutput { call_id, .. } => {
                if self.answered_calls.contains(call_id) {
                    return Err((
                        ViolationKind::DelegationAccounting,
                        format!("a second result for {call_id}"),
                    ));
                }
                self.answered_calls.push(call_id.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Full duplex, at the end: every delegation answered once or called off.
    pub(crate) fn delegations_settled(&self) -> Result<(), Found> {
        let answered = self.answered_calls.len() as u64;
        if self.full_duplex && answered + self.discarded != self.delegations {
            return Err((
                ViolationKind::DelegationAccounting,
                format!(
                    "{} delegations, {answered} answered, {} called off",
                    self.delegations, self.discarded
                ),
            ));
        }
        Ok(())
    }
}

fn total(list: &[(ItemId, Duration)], item: &ItemId) -> Duration {
    list.iter().find(|(id, _)| id == item).map_or(Duration::ZERO, |(_, d)| *d)
}

fn add_max(list: &mut Vec<(ItemId, Duration)>, item: ItemId, value: Duration) {
    match list.iter_mut().find(|(id, _)| *id == item) {
        Some((_, current)) => *current = (*current).max(value),
        None => list.push((item, value)),
    }
}

fn mem_take<T>(deque: &mut VecDeque<T>) -> VecDeque<T> {
    std::mem::take(deque)
}
