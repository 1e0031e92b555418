//! A model full-duplex server (GPT-Live as the core sees it through its
//! provider): it decides itself when to speak and when to stop, hands work
//! over as delegations, and holds the client to the rules that remain
//! when there is no turn gate.
//!
//! What it enforces (each a [`Breach`]): no commit, create, cancel or
//! truncate ever reaches it; a delegation's result names a delegation this
//! session announced and comes at most once. What it chooses
//! adversarially: when it speaks (after the caller, after an instruction,
//! after a result), whether it stops when talked over, how long it takes to
//! stop, when a delegation comes, and whether it refuses an instruction.

use std::time::Duration;

use turngate_core::{
    AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, ResponseId,
    ResponseStatus,
};

use super::params::Params;
use super::rng::Rng;
use super::upstream::{Breach, UpOut};

/// The caller's silence that ends what they said, to the model.
const END_OF_TURN: Duration = Duration::from_millis(400);
/// Step keys with this bit set place an append instead of advancing speech.
const PLACEMENT: u64 = 1 << 63;

#[derive(Debug)]
struct Stretch {
    key: u64,
    id: ResponseId,
    created_sent: bool,
    chunks_left: u32,
}

/// Per-session state of the model server; nothing survives a new session.
#[derive(Debug, Default)]
pub(crate) struct Duplex {
    configured: bool,
    caller_speaking: bool,
    caller_silence: Duration,
    speaking: Option<Stretch>,
    announced: Vec<CallId>,
    answered: Vec<CallId>,
    /// Appends taken and not yet placed on the timeline (instructions, and
    /// results), with whether each is an instruction: a lost session loses
    /// them, and the provider says so.
    unplaced: Vec<(u64, ClientEventId, bool)>,
    next_key: u64,
}

impl Duplex {
    /// A new session on a new connection.
    pub(crate) fn reset(&mut self) {
        let key = self.next_key;
        *self = Duplex { next_key: key, ..Duplex::default() };
    }

    /// The appends the session took and never placed; they die with it.
    pub(crate) fn take_unplaced(&mut self) -> Vec<ClientEventId> {
        self.unplaced.drain(..).map(|(_, event_id, _)| event_id).collect()
    }

    /// Places `event_id` on the timeline after `delay`.
    fn place(
        &mut self,
        delay: Duration,
        event_id: ClientEventId,
        instruction: bool,
        out: &mut Vec<UpOut>,
    ) {
        self.next_key += 1;
        let key = self.next_key | PLACEMENT;
        self.unplaced.push((key, event_id, instruction));
        out.push(UpOut::Step(delay, key));
    }

    pub(crate) fn configure(&mut self) -> UpOut {
        self.configured = true;
        UpOut::Send(Duration::ZERO, Input::BackendReady)
    }

    pub(crate) fn receive(
        &mut self,
        command: BackendCommand,
        params: &Params,
        rng: &mut Rng,
        out: &mut Vec<UpOut>,
    ) -> Result<(), Breach> {
        if !self.configured {
            return Err(Breach("sent before ready", format!("{command:?}")));
        }
        match command {
            BackendCommand::AppendAudio(audio) => {
                let flag = audio.payload.first().copied().unwrap_or(0);
                self.hear(flag > 0, audio.duration, params, rng, out);
            }
            BackendCommand::Instruct { event_id, .. } => {
                if rng.chance(params.p_reject) {
                    out.push(UpOut::Send(
                        rng.millis(1, 20),
                        Input::BackendError {
                            event_id: Some(event_id),
                            kind: BackendErrorKind::Other,
                            code: Some("invalid_value".to_owned()),
                            message: "Context append text must not exceed 500 tokens.".to_owned(),
                        },
                    ));
                    return Ok(());
                }
                // Placed after the timeline catches up, then spoken.
                let placed = rng.millis(600, 960);
                self.place(placed, event_id, true, out);
                self.decide_to_speak(placed + rng.millis(0, 300), rng, out);
            }
            BackendCommand::FunctionOutput { event_id, call_id, .. } => {
                if !self.announced.contains(&call_id) {
                    return Err(Breach(
                        "result for a delegation this session never announced",
                        call_id.0,
                    ));
                }
                if self.answered.contains(&call_id) {
                    return Err(Breach("delegation answered twice", call_id.0));
                }
                self.answered.push(call_id);
                self.place(rng.millis(600, 960), event_id, false, out);
                if rng.chance(0.8) {
                    self.decide_to_speak(rng.millis(600, 960), rng, out);
                }
            }
            BackendCommand::AddUserText { event_id, .. } => {
                // What the provider answers: GPT-Live takes no typed turns.
                out.push(UpOut::Send(
                    Duration::ZERO,
                    Input::BackendError {
                        event_id: Some(event_id),
                        kind: BackendErrorKind::Other,
                        code: Some(turngate_llm::realtime::UNSUPPORTED_COMMAND.to_owned()),
                        message: "typed text not sent".to_owned(),
                    },
                ));
            }
            other @ (BackendCommand::Commit { .. }
            | BackendCommand::CreateResponse { .. }
            | BackendCommand::CancelResponse { .. }
            | BackendCommand::Truncate { .. }) => {
                return Err(Breach(
                    "a turn-gate command sent to a full-duplex model",
                    format!("{other:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The caller's audio, frame by frame (payload byte: 0 silence).
    fn hear(
        &mut self,
        voiced: bool,
        duration: Duration,
        params: &Params,
        rng: &mut Rng,
        out: &mut Vec<UpOut>,
    ) {
        if voiced {
            self.caller_silence = Duration::ZERO;
            if !self.caller_speaking {
                self.caller_speaking = true;
                // Talked over: the model usually yields, in its own time.
                if let Some(stretch) = &mut self.speaking
                    && rng.chance(0.8)
                {
                    stretch.chunks_left =
                        stretch.chunks_left.min(u32::try_from(rng.range(0, 2)).unwrap_or(1));
                }
            }
            return;
        }
        if !self.caller_speaking {
            return;
        }
        self.caller_silence += duration;
        if self.caller_silence < END_OF_TURN {
            return;
        }
        self.caller_speaking = false;
        out.push(UpOut::Send(
            rng.millis(100, 400),
            Input::UserTranscript { item_id: None, text: "something".to_owned() },
        ));
        if rng.chance(params.p_tool_call) {
            self.next_key += 1;
            let call_id = CallId(format!("deleg_{}", self.next_key));
            self.announced.push(call_id.clone());
            out.push(UpOut::Send(
                rng.millis(50, 500),
                Input::FunctionCall {
                    response_id: ResponseId(format!("deleg_{}", self.next_key)),
                    call_id,
                    name: "delegate".to_owned(),
                    arguments: "{\"request\":\"something\"}".to_owned(),
                },
            ));
        }
        self.decide_to_speak(rng.millis(200, 900), rng, out);
    }

    fn decide_to_speak(&mut self, after: Duration, rng: &mut Rng, out: &mut Vec<UpOut>) {
        if self.speaking.is_some() {
            // One voice: the model folds it into what it is saying.
            return;
        }
        self.next_key += 1;
        let key = self.next_key;
        self.speaking = Some(Stretch {
            key,
            id: ResponseId(format!("speech_{key}")),
            created_sent: false,
            chunks_left: u32::try_from(rng.range(1, 10)).unwrap_or(1),
        });
        out.push(UpOut::Step(after, key));
    }

    /// Advances stretch `key`: speech begins, plays in real time, ends; or
    /// places an append.
    pub(crate) fn step(&mut self, key: u64, rng: &mut Rng, out: &mut Vec<UpOut>) {
        if key & PLACEMENT != 0 {
            let Some(position) = self.unplaced.iter().position(|(k, _, _)| *k == key) else {
                return;
            };
            let (_, event_id, instruction) = self.unplaced.remove(position);
            if instruction {
                out.push(UpOut::Send(Duration::ZERO, Input::InstructionPlaced { event_id }));
            }
            return;
        }
        let Some(stretch) = self.speaking.as_mut().filter(|s| s.key == key) else { return };
        if !stretch.created_sent {
            stretch.created_sent = true;
            out.push(UpOut::Send(
                Duration::ZERO,
                Input::ResponseCreated {
                    response_id: stretch.id.clone(),
                    origin: turngate_core::Origin::Server,
                    out_of_band: false,
                },
            ));
            out.push(UpOut::Step(Duration::ZERO, key));
            return;
        }
        if stretch.chunks_left > 0 {
            stretch.chunks_left -= 1;
            // Real-time paced: the next chunk comes as this one would end.
            let duration = rng.millis(100, 300);
            out.push(UpOut::Send(
                Duration::ZERO,
                Input::ResponseAudio {
                    response_id: stretch.id.clone(),
                    item_id: turngate_core::ItemId(stretch.id.0.clone()),
                    audio: AudioChunk::new(Vec::new(), duration),
                },
            ));
            out.push(UpOut::Step(duration, key));
            return;
        }
        let Some(stretch) = self.speaking.take() else { return };
        out.push(UpOut::Send(
            Duration::ZERO,
            Input::ResponseDone { response_id: stretch.id, status: ResponseStatus::Completed },
        ));
    }
}
