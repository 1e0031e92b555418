//! A model Realtime server: strict about the rules the real one enforces,
//! and adversarial in the timing it is allowed to choose.

use std::time::Duration;

use turngate_core::{
    BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, ItemId, Origin, ResponseId,
    ResponseMode, ResponseStatus,
};

use super::params::Params;
use super::rng::Rng;

/// What the model server does next.
#[derive(Debug)]
pub(crate) enum UpOut {
    /// Send an event to the client after this extra processing delay.
    Send(Duration, Input),
    /// Advance response `key` after this delay.
    Step(Duration, u64),
}

/// A rule of the real API that the client broke.
#[derive(Debug)]
pub(crate) struct Breach(pub(crate) &'static str, pub(crate) String);

#[derive(Debug)]
struct Response {
    key: u64,
    id: ResponseId,
    item: ItemId,
    origin: Origin,
    created_sent: bool,
    chunks_left: u32,
    tool_call: bool,
    cancelled: bool,
}

/// Per-connection state of the model server.
#[derive(Debug, Default)]
pub(crate) struct Upstream {
    configured: bool,
    buffer: Duration,
    vad_speaking: bool,
    vad_silence: Duration,
    vad_hold_on: bool,
    active: Option<Response>,
    items: Vec<(ItemId, Duration)>,
    calls: Vec<CallId>,
    finished: Vec<ResponseId>,
    next_key: u64,
    /// Creates refused because a response was active.
    pub(crate) conflicts: u32,
    /// Responses the server started on its own.
    pub(crate) auto_responses: u32,
}

const VAD_SILENCE: Duration = Duration::from_millis(300);
const MIN_COMMIT: Duration = Duration::from_millis(100);

impl Upstream {
    /// A fresh session on a new connection (nothing survives a reconnect).
    pub(crate) fn reset(&mut self) {
        let conflicts = self.conflicts;
        let auto = self.auto_responses;
        let key = self.next_key;
        *self = Upstream { conflicts, auto_responses: auto, next_key: key, ..Upstream::default() };
    }

    /// The connection is configured: `session.updated` goes out.
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
                self.buffer += audio.duration;
                if params.config.turn_detection == turngate_core::TurnDetection::Server {
                    self.vad(
                        audio.payload.first().copied().unwrap_or(0),
                        audio.duration,
                        params,
                        rng,
                        out,
                    );
                }
            }
            BackendCommand::Commit { event_id } => {
                if self.buffer < MIN_COMMIT {
                    let ms = self.buffer.as_millis();
                    out.push(error(
                        Some(event_id),
                        "input_audio_buffer_commit_empty",
                        &format!("Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {ms}.00ms of audio."),
                    ));
                    return Err(Breach("commit under 100 ms", format!("{ms} ms")));
                }
                self.buffer = Duration::ZERO;
                out.push(UpOut::Send(rng.millis(1, 20), Input::InputCommitted { item_id: None }));
                out.push(UpOut::Send(
                    rng.millis(100, 800),
                    Input::UserTranscript { item_id: None, text: "something".to_owned() },
                ));
            }
            BackendCommand::CreateResponse { event_id, spec } => {
                if spec.out_of_band {
                    // Out-of-band responses run beside the default one.
                    let id = self.new_id("oob");
                    out.push(UpOut::Send(
                        rng.millis(20, 200),
                        Input::ResponseCreated {
                            response_id: id.clone(),
                            origin: if params.echo_tags {
                                Origin::Create(event_id)
                            } else {
                                Origin::Unknown
                            },
                            out_of_band: true,
                        },
                    ));
                    out.push(UpOut::Send(
                        rng.millis(200, 400),
                        Input::ResponseDone { response_id: id, status: ResponseStatus::Completed },
                    ));
                    return Ok(());
                }
                if let Some(active) = &self.active {
                    self.conflicts += 1;
                    let message = format!(
                        "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                        active.id
                    );
                    out.push(error(
                        Some(event_id),
                        "conversation_already_has_active_response",
                        &message,
                    ));
                    if params.config.response_mode == ResponseMode::Client {
                        return Err(Breach("create while a response is active", message));
                    }
                    return Ok(());
                }
                if rng.chance(params.p_reject) {
                    out.push(error(
                        Some(event_id),
                        "server_error",
                        "The server had an error while processing your request.",
                    ));
                    return Ok(());
                }
                self.start(Some(event_id), params, rng, out);
            }
            BackendCommand::CancelResponse { event_id, response_id } => {
                match &mut self.active {
                    Some(active)
                        if active.id == response_id && active.created_sent && !active.cancelled =>
                    {
                        active.cancelled = true;
                        // A few deltas already generated may still go out.
                        if !rng.chance(params.p_late_deltas) {
                            active.chunks_left = 0;
                        } else {
                            active.chunks_left = active.chunks_left.min(2);
                        }
                    }
                    _ => out.push(error(
                        Some(event_id),
                        "response_cancel_not_active",
                        "Cancellation failed: no active response found",
                    )),
                }
            }
            BackendCommand::Truncate { event_id, item_id, audio_end_ms } => {
                let Some((_, audio)) = self.items.iter().find(|(id, _)| *id == item_id) else {
                    out.push(error(Some(event_id), "item_not_found", "Item not found"));
                    return Err(Breach("truncate of an unknown item", item_id.0));
                };
                let have = audio.as_millis() as u64;
                if audio_end_ms == 0 {
                    out.push(error(
                        Some(event_id),
                        "unsupported_content_type",
                        "Only model output audio messages can be truncated",
                    ));
                    return Err(Breach("truncate at 0 ms", item_id.0));
                }
                if audio_end_ms > have {
                    let message = format!(
                        "Audio content of {have}ms is already shorter than {audio_end_ms}ms"
                    );
                    out.push(error(Some(event_id), "invalid_value", &message));
                    return Err(Breach("truncate beyond the audio", message));
                }
            }
            BackendCommand::FunctionOutput { call_id, .. } => {
                // An output for a call of an earlier connection is legal
                // here: the client re-injects what it has.
                self.calls.retain(|c| *c != call_id);
            }
            BackendCommand::AddUserText { .. } => {}
            BackendCommand::Instruct { purpose, .. } => {
                return Err(Breach("instruction sent to a gated backend", purpose.as_str().into()));
            }
        }
        Ok(())
    }

    /// Server VAD over the caller's audio (payload byte: 0 silence, 1 speech,
    /// 2 speech asking for a moment).
    fn vad(
        &mut self,
        flag: u8,
        duration: Duration,
        params: &Params,
        rng: &mut Rng,
        out: &mut Vec<UpOut>,
    ) {
        if flag > 0 {
            self.vad_silence = Duration::ZERO;
            self.vad_hold_on |= flag == 2;
            if !self.vad_speaking {
                self.vad_speaking = true;
                out.push(UpOut::Send(rng.millis(0, 30), Input::UserSpeechStarted));
                // With server-created responses the server also interrupts.
                if params.config.response_mode == ResponseMode::ServerAuto
                    && let Some(active) = &mut self.active
                    && active.created_sent
                    && !active.cancelled
                {
                    active.cancelled = true;
                    active.chunks_left = 0;
                }
            }
            return;
        }
        if !self.vad_speaking {
            return;
        }
        self.vad_silence += duration;
        if self.vad_silence < VAD_SILENCE {
            return;
        }
        self.vad_speaking = false;
        out.push(UpOut::Send(rng.millis(0, 30), Input::UserSpeechStopped));
        if self.buffer >= MIN_COMMIT {
            self.buffer = Duration::ZERO;
            out.push(UpOut::Send(rng.millis(1, 30), Input::InputCommitted { item_id: None }));
            let text = if self.vad_hold_on { "hold on a second" } else { "I have a question" };
            out.push(UpOut::Send(
                rng.millis(100, 800),
                Input::UserTranscript { item_id: None, text: text.to_owned() },
            ));
            if params.config.response_mode == ResponseMode::ServerAuto && self.active.is_none() {
                self.auto_responses += 1;
                self.start(None, params, rng, out);
            }
        }
        self.vad_hold_on = false;
    }

    fn start(
        &mut self,
        origin: Option<ClientEventId>,
        params: &Params,
        rng: &mut Rng,
        out: &mut Vec<UpOut>,
    ) {
        self.next_key += 1;
        let key = self.next_key;
        let id = self.new_id("resp");
        let item = ItemId(format!("item_{key}"));
        let tool_call = rng.chance(params.p_tool_call);
        let chunks_left = if tool_call { 0 } else { u32::try_from(rng.range(1, 12)).unwrap_or(1) };
        self.active = Some(Response {
            key,
            id,
            item,
            origin: match (params.echo_tags, origin) {
                (true, Some(tag)) => Origin::Create(tag),
                (true, None) => Origin::Server,
                (false, _) => Origin::Unknown,
            },
            created_sent: false,
            chunks_left,
            tool_call,
            cancelled: false,
        });
        let delay = if rng.chance(params.p_slow_created) {
            rng.millis(500, 3000)
        } else {
            rng.millis(10, 300)
        };
        out.push(UpOut::Step(delay, key));
    }

    /// Advances response `key`: created, then audio, then done.
    pub(crate) fn step(&mut self, key: u64, params: &Params, rng: &mut Rng, out: &mut Vec<UpOut>) {
        let Some(active) = self.active.as_mut().filter(|a| a.key == key) else { return };
        if !active.created_sent {
            active.created_sent = true;
            out.push(UpOut::Send(
                Duration::ZERO,
                Input::ResponseCreated {
                    response_id: active.id.clone(),
                    origin: active.origin,
                    out_of_band: false,
                },
            ));
            out.push(UpOut::Step(rng.millis(20, 200), key));
            return;
        }
        if active.chunks_left > 0 {
            active.chunks_left -= 1;
            let duration = rng.millis(100, 400);
            let item = active.item.clone();
            let response_id = active.id.clone();
            match self.items.iter_mut().find(|(id, _)| *id == item) {
                Some((_, audio)) => *audio += duration,
                None => self.items.push((item.clone(), duration)),
            }
            out.push(UpOut::Send(
                Duration::ZERO,
                Input::ResponseAudio {
                    response_id,
                    item_id: item,
                    audio: turngate_core::AudioChunk::new(Vec::new(), duration),
                },
            ));
            // Generation runs faster than real time.
            out.push(UpOut::Step(rng.millis(10, 80), key));
            return;
        }
        let Some(active) = self.active.take() else { return };
        let status = if active.cancelled {
            ResponseStatus::Cancelled
        } else if rng.chance(params.p_failed) {
            if rng.chance(0.5) { ResponseStatus::Failed } else { ResponseStatus::Incomplete }
        } else {
            ResponseStatus::Completed
        };
        if active.tool_call {
            let call_id = CallId(format!("call_{key}"));
            self.calls.push(call_id.clone());
            out.push(UpOut::Send(
                Duration::ZERO,
                Input::FunctionCall {
                    response_id: active.id.clone(),
                    call_id,
                    name: "lookup".to_owned(),
                    arguments: "{}".to_owned(),
                },
            ));
        }
        out.push(UpOut::Send(
            Duration::ZERO,
            Input::ResponseTranscript {
                response_id: active.id.clone(),
                item_id: active.item.clone(),
                text: "reply".to_owned(),
            },
        ));
        out.push(UpOut::Send(
            Duration::ZERO,
            Input::ResponseDone { response_id: active.id.clone(), status },
        ));
        if rng.chance(params.p_stale_done) {
            // A duplicate of an older response's end, as a confused proxy
            // or a retried delivery would produce.
            if let Some(old) = rng.pick(&self.finished) {
                out.push(UpOut::Send(
                    rng.millis(50, 2000),
                    Input::ResponseDone {
                        response_id: old.clone(),
                        status: ResponseStatus::Completed,
                    },
                ));
            }
        }
        self.finished.push(active.id);
    }

    fn new_id(&mut self, prefix: &str) -> ResponseId {
        self.next_key += 1;
        ResponseId(format!("{prefix}_{}", self.next_key))
    }
}

/// An upstream error as the Realtime provider hands it to the core: the
/// provider reads the code into a kind.
fn error(event_id: Option<ClientEventId>, code: &str, message: &str) -> UpOut {
    let kind = match code {
        "conversation_already_has_active_response" => BackendErrorKind::ResponseActive,
        "response_cancel_not_active" => BackendErrorKind::NothingToCancel,
        "input_audio_buffer_commit_empty" => BackendErrorKind::NothingToCommit,
        _ => BackendErrorKind::Other,
    };
    UpOut::Send(
        Duration::from_millis(1),
        Input::BackendError {
            event_id,
            kind,
            code: Some(code.to_owned()),
            message: message.to_owned(),
        },
    )
}
