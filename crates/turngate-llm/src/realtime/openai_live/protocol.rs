//! The GPT-Live provider's state, across the sessions of one call: core
//! commands become Live client events, Live server events become core
//! inputs. Sans-IO: the link task hands it frames and time.
//!
//! How the full-duplex model maps onto the core's words:
//! - The output track is continuous; the [`SpeechGate`] cuts the model's
//!   speech out of it. A stretch of speech is a server response
//!   (`ResponseCreated` with origin `Server`, `ResponseAudio`,
//!   `ResponseDone`), its transcript the output transcript fragments that
//!   arrived during it.
//! - `Instruct` is `session.instructions.append`; a tool's output is a
//!   delegation's result, spoken as commentary or, when the caller has moved
//!   on, silent as thinking (see [`Delegations`]). Every append goes through
//!   the one [`AppendOutbox`] of the session.
//! - A delegation becomes a `FunctionCall` of the configured delegation tool
//!   whose `call_id` is the delegation id. It is held for a short settle
//!   time, because the transcript that says what the caller asked for may
//!   arrive after the delegation itself.
//! - The caller's transcript fragments are joined as received and reported
//!   as one user transcript once they pause.
//! - The input timeline must keep moving: when the carrier sends no audio,
//!   [`SilenceFeed`] says how much silence to send in its place.
//! - In Responses delegation a backend model does the work: each of its
//!   function calls becomes a `FunctionCall` of the app's own tool, whose
//!   output goes back as the call's one `function_call_output`, and the
//!   backend is continued once nothing is left to answer (see
//!   [`BackendCalls`]). Its core `call_id` is `<session id>/<call_id>`, so
//!   a result for an earlier session's call can never reach a later one.
//! - A lost session is never resumed: the next link starts a new one with
//!   the conversation so far as startup history, and nothing pending in the
//!   old one (appends, delegations) is carried over.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use turngate_audio::{AudioFormat, Gated, SampleRate, SpeechGate};
use turngate_core::{
    AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, ItemId, ResponseId,
    ResponseStatus,
};

use super::appends::{AppendOutbox, AppendRequest, Outcome, estimated_tokens};
use super::backend_calls::{BackendCalls, CallSeen};
use super::delegations::{Delegations, Route, SETTLE_MS, Seen};
use super::silence::{FRAME, SilenceFeed};
use super::wire::{
    self, Append, AppendKind, AudioConfig, AudioOutput, Classified, ClientEvent, Delegation,
    FunctionTool, InitialItem, ResponseItem, ResponsesConfig, ServerEvent, SessionConfig, Target,
    Voice,
};
use super::{LiveDelegation, OpenAiLiveConfig, PROVIDER};
use crate::realtime::link::{LinkEnd, Out};
use crate::realtime::stats::{SharedStats, add, bump};
use crate::realtime::{RealtimeSessionConfig, ToolSpec};

/// The code of a command this backend has no counterpart for.
pub(crate) const UNSUPPORTED: &str = crate::realtime::UNSUPPORTED_COMMAND;
/// The code of a tool output refused because its delegation cannot take it.
pub(crate) const DELEGATION_REFUSED: &str = "turngate_delegation_refused";
/// The code of a result lost with its session before it was placed.
pub(crate) const SESSION_LOST: &str = "turngate_session_lost";

/// Start-up error codes after which connecting again cannot help.
const FATAL_START_CODES: &[&str] = &[
    "model_not_found",
    "unknown_parameter",
    "invalid_value",
    "forbidden",
    "credit_balance_exhausted",
    "invalid_api_key",
];

/// Conversation entries kept for the next session's startup history.
const HISTORY_KEPT: usize = wire::INPUT_MAX_ITEMS;
/// Estimated tokens of history sent, under the API's default limit.
const HISTORY_TOKENS: usize = wire::INPUT_MAX_TOKENS - 192;
/// Caller words kept for the next delegation's request.
const REQUEST_MAX_CHARS: usize = 4096;
/// The shortest remaining life for which a session is replaced before it
/// expires.
const MIN_REPLACEABLE: Duration = Duration::from_secs(8);
/// The most silence sent at once when the carrier falls silent.
const SILENCE_BURST: u32 = 10;
/// Backend outputs remembered for correlating an `error` with the core's
/// command (errors come at once; this is plenty).
const OUTPUTS_REMEMBERED: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

/// The provider's state for one call, across sessions.
#[derive(Debug)]
pub(crate) struct Protocol {
    settings: Settings,
    stats: Arc<SharedStats>,
    /// What was said, for the next session's startup history.
    history: VecDeque<(Role, String)>,
    /// Sessions started so far; part of every event id.
    generation: u64,
    session: Option<Live>,
    scratch: Vec<Gated>,
}

#[derive(Debug)]
struct Settings {
    tag: String,
    model: String,
    voice: Option<String>,
    instructions: Option<String>,
    format: AudioFormat,
    acknowledgement_delay_ms: Option<u32>,
    delegation: LiveDelegation,
    /// The app's tools, offered to a Responses backend.
    tools: Vec<ToolSpec>,
    delegation_tool: String,
    silence_grace: Duration,
    caller_pause: Duration,
    gate: turngate_audio::GateConfig,
    /// Seconds since the Unix epoch now: `expires_at` is wall time, the
    /// one clock this protocol reads (tests give their own).
    unix_now: fn() -> u64,
}

/// One append piece in flight and the core command it answers for.
#[derive(Debug)]
struct Answers {
    /// The piece's `event_id`.
    piece: String,
    /// The core's event.
    core: ClientEventId,
    /// True for a delegation's result, false for an instruction.
    result: bool,
}

/// One GPT-Live session (one link).
#[derive(Debug)]
struct Live {
    start_event_id: String,
    started: bool,
    /// The session id (`live_…`), once started.
    id: Option<String>,
    appends: AppendOutbox,
    /// Which core event each append piece answers for, and whether it
    /// carries a delegation's result.
    answers_for: Vec<Answers>,
    delegations: Delegations,
    /// The backend's function calls (Responses delegation).
    backend: BackendCalls,
    /// Which core event each `function_call_output` answers for, newest last.
    outputs: VecDeque<(String, ClientEventId)>,
    /// `response.item.create` and `response.create` events sent.
    backend_events: u64,
    /// Delegations announced and not yet handed to the core, with when
    /// they go (after the settle time).
    settling: Vec<(String, Instant)>,
    silence: SilenceFeed,
    gate: SpeechGate,
    /// The stretch of speech in progress.
    speaking: Option<ResponseId>,
    stretches: u64,
    /// What the model said during the current stretch.
    said: String,
    /// What the caller said since their last pause, and when it counts as a pause.
    heard: String,
    heard_until: Option<Instant>,
    /// The caller's words since the last delegation.
    request: String,
    /// When to replace the session, quietly if possible, and the latest
    /// moment to do it at all, before it expires.
    replace: Option<(Instant, Instant)>,
    /// The replacement window has opened: the next quiet moment replaces
    /// the session, and only its end still needs a tick.
    window_open: bool,
    /// A `session.close` went out to replace the session.
    replacing: bool,
}

impl Protocol {
    pub(crate) fn new(
        config: &OpenAiLiveConfig,
        session: &RealtimeSessionConfig,
        tag: String,
        stats: Arc<SharedStats>,
    ) -> Protocol {
        Protocol {
            settings: Settings {
                tag,
                model: config.model.clone(),
                voice: session.voice.clone(),
                instructions: session.instructions.clone(),
                format: session.input_format,
                acknowledgement_delay_ms: config.acknowledgement_delay_ms,
                delegation: config.delegation.clone(),
                tools: session.tools.clone(),
                delegation_tool: config.delegation_tool.clone(),
                silence_grace: config.silence_grace,
                caller_pause: config.caller_pause,
                gate: config.speech_gate,
                unix_now,
            },
            stats,
            history: VecDeque::new(),
            generation: 0,
            session: None,
            scratch: Vec::new(),
        }
    }

    fn is_ready(&self) -> bool {
        self.session.as_ref().is_some_and(|live| live.started)
    }

    // ---- Links --------------------------------------------------------------

    /// A new link: start a new session on it, with what was said so far.
    pub(crate) fn link_up(&mut self, _now: Instant, reconnect: bool, out: &mut Out) {
        if reconnect {
            bump(&self.stats.reconnects);
        }
        self.generation += 1;
        let prefix = format!("{}:{}", self.settings.tag, self.generation);
        let start_event_id = format!("{prefix}:start");
        let history = self.startup_history();
        add(&self.stats.items_reinjected, history.len());
        let voice =
            self.settings.voice.as_deref().map(|name| AudioOutput { voice: Voice::BuiltIn(name) });
        let acknowledgement_delay_ms = self.settings.acknowledgement_delay_ms;
        let delegation = match &self.settings.delegation {
            LiveDelegation::Client => Delegation::Client { acknowledgement_delay_ms },
            LiveDelegation::Responses { model, instructions } => Delegation::Responses {
                acknowledgement_delay_ms,
                responses: ResponsesConfig {
                    model,
                    instructions: instructions.as_deref(),
                    tools: self.settings.tools.iter().map(function_tool).collect(),
                },
            },
        };
        let config = SessionConfig {
            model: &self.settings.model,
            instructions: self.settings.instructions.as_deref(),
            audio: AudioConfig { format: wire_format(self.settings.format), output: voice },
            delegation: Some(delegation),
            input: history,
        };
        let frame = wire::to_text(&ClientEvent::SessionStart {
            event_id: &start_event_id,
            session: &config,
        });
        self.send(frame, out);
        self.session = Some(Live {
            start_event_id,
            started: false,
            id: None,
            appends: AppendOutbox::new(prefix),
            answers_for: Vec::new(),
            delegations: Delegations::new(),
            backend: BackendCalls::new(),
            outputs: VecDeque::new(),
            backend_events: 0,
            settling: Vec::new(),
            silence: SilenceFeed::new(self.settings.silence_grace, SILENCE_BURST),
            gate: SpeechGate::new(self.settings.format, self.settings.gate),
            speaking: None,
            stretches: 0,
            said: String::new(),
            heard: String::new(),
            heard_until: None,
            request: String::new(),
            replace: None,
            window_open: false,
            replacing: false,
        });
    }

    /// The link is gone, and with it the session: nothing of it carries over.
    pub(crate) fn link_down(&mut self, out: &mut Out) {
        let Some(mut live) = self.session.take() else { return };
        self.flush_heard(&mut live, out);
        let lost = live.appends.session_lost();
        add(&self.stats.dropped_while_down, lost.len());
        if live.started {
            out.inputs.push(Input::BackendDisconnected);
        }
        // Every append never placed is lost with the session and said so,
        // after the disconnect, so the core gives nothing again to a
        // connection it still thinks is up.
        let mut reported = Vec::new();
        for outcome in &lost {
            if let Some((event_id, _)) = answers_for(&mut live, outcome)
                && !reported.contains(&event_id)
            {
                reported.push(event_id);
                lost_with_session(event_id, out);
            }
        }
    }

    /// The newest history that fits the startup limits, oldest first.
    fn startup_history(&self) -> Vec<InitialItem<'_>> {
        let mut tokens = 0;
        let mut kept = Vec::new();
        for (role, text) in self.history.iter().rev() {
            tokens += estimated_tokens(text);
            if tokens > HISTORY_TOKENS || kept.len() == wire::INPUT_MAX_ITEMS {
                break;
            }
            kept.push(match role {
                Role::User => InitialItem::user(text),
                Role::Assistant => InitialItem::assistant(text),
            });
        }
        kept.reverse();
        kept
    }

    fn remember(&mut self, role: Role, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if self.history.len() == HISTORY_KEPT {
            self.history.pop_front();
        }
        self.history.push_back((role, text.to_owned()));
    }

    /// The call is over: ask the server to end the session, so it drains
    /// and reports what it never placed, and wait for `session.closed`
    /// (bounded by the link). A session not started has nothing to end.
    pub(crate) fn close(&mut self, out: &mut Out) -> bool {
        if !self.is_ready() {
            return false;
        }
        // A replacement already asked for the end: the call now takes it
        // as final rather than starting the next session.
        if let Some(live) = self.session.as_mut()
            && live.replacing
        {
            live.replacing = false;
            return true;
        }
        let event_id = format!("{}:{}:close", self.settings.tag, self.generation);
        self.send(wire::to_text(&ClientEvent::SessionClose { event_id: &event_id }), out);
        true
    }

    // ---- Commands from the core ---------------------------------------------

    pub(crate) fn command(&mut self, now: Instant, command: BackendCommand, out: &mut Out) {
        if !self.is_ready() {
            bump(&self.stats.dropped_while_down);
            // Audio is lost by nature; work the core may count on is
            // answered, since the core can have sent it before it heard of
            // the disconnect.
            match command {
                BackendCommand::Instruct { event_id, .. }
                | BackendCommand::FunctionOutput { event_id, .. } => {
                    lost_with_session(event_id, out);
                }
                _ => {}
            }
            return;
        }
        match command {
            BackendCommand::AppendAudio(chunk) => self.append_audio(now, &chunk, out),
            BackendCommand::Instruct { event_id, text, .. } => {
                let request = AppendRequest {
                    kind: AppendKind::Instructions,
                    content: text,
                    delegation_id: None,
                };
                self.queue_append(request, event_id, false, out);
            }
            BackendCommand::FunctionOutput { event_id, call_id, output } => {
                self.delegation_result(event_id, call_id, output, out);
            }
            BackendCommand::AddUserText { event_id, .. } => refuse(
                event_id,
                "typed text not sent: GPT-Live takes no user messages, only spoken ones",
                out,
            ),
            BackendCommand::Commit { event_id }
            | BackendCommand::CreateResponse { event_id, .. }
            | BackendCommand::CancelResponse { event_id, .. }
            | BackendCommand::Truncate { event_id, .. } => refuse(
                event_id,
                "not sent: GPT-Live is full duplex and takes no commits, responses, cancels or truncates",
                out,
            ),
        }
    }

    fn append_audio(&mut self, now: Instant, chunk: &AudioChunk, out: &mut Out) {
        let Some(live) = self.session.as_mut() else { return };
        live.silence.audio_sent(now, chunk.duration);
        let audio = STANDARD.encode(&chunk.payload);
        let frame = wire::to_text(&ClientEvent::InputAudioAppend { audio: &audio });
        self.send(frame, out);
    }

    fn delegation_result(
        &mut self,
        event_id: ClientEventId,
        call_id: CallId,
        output: String,
        out: &mut Out,
    ) {
        if self.responses_mode() {
            self.backend_output(event_id, &call_id, &output, out);
            return;
        }
        let Some(live) = self.session.as_mut() else { return };
        let kind = match live.delegations.result(&call_id.0) {
            Route::Commentary => AppendKind::Commentary,
            Route::Thinking => AppendKind::Thinking,
            Route::Refused(reason) => {
                tracing::warn!(provider = PROVIDER, delegation = %call_id, reason, "result not sent");
                out.inputs.push(Input::BackendError {
                    event_id: Some(event_id),
                    kind: BackendErrorKind::Other,
                    code: Some(DELEGATION_REFUSED.to_owned()),
                    message: format!("result for {call_id} not sent: {reason}"),
                });
                return;
            }
        };
        let request = AppendRequest { kind, content: output, delegation_id: Some(call_id.0) };
        self.queue_append(request, event_id, true, out);
    }

    fn responses_mode(&self) -> bool {
        matches!(self.settings.delegation, LiveDelegation::Responses { .. })
    }

    /// A tool's output for a backend function call: the call's one
    /// `function_call_output`, and the backend continued if that was the
    /// last thing it waited for.
    fn backend_output(
        &mut self,
        event_id: ClientEventId,
        call_id: &CallId,
        output: &str,
        out: &mut Out,
    ) {
        let Some(live) = self.session.as_mut() else { return };
        let wire_call = live
            .id
            .as_deref()
            .and_then(|session| call_id.0.strip_prefix(session))
            .and_then(|rest| rest.strip_prefix('/'));
        let answer = match wire_call {
            Some(wire_call) => live.backend.answer(wire_call).map(|()| wire_call),
            None => Err("the call belongs to an earlier session"),
        };
        let wire_call = match answer {
            Ok(wire_call) => wire_call,
            Err(reason) => {
                tracing::warn!(provider = PROVIDER, call = %call_id, reason, "output not sent");
                out.inputs.push(Input::BackendError {
                    event_id: Some(event_id),
                    kind: BackendErrorKind::Other,
                    code: Some(DELEGATION_REFUSED.to_owned()),
                    message: format!("output for {call_id} not sent: {reason}"),
                });
                return;
            }
        };
        live.backend_events += 1;
        let piece = format!("{}:{}:out{}", self.settings.tag, self.generation, live.backend_events);
        let frame = wire::to_text(&ClientEvent::ResponseItemCreate {
            event_id: &piece,
            item: ResponseItem::FunctionCallOutput { call_id: wire_call, output },
        });
        if live.outputs.len() == OUTPUTS_REMEMBERED {
            live.outputs.pop_front();
        }
        live.outputs.push_back((piece, event_id));
        self.send(frame, out);
        self.continue_backend(out);
    }

    /// Sends the one `response.create` the backend is owed, if it is owed now.
    fn continue_backend(&mut self, out: &mut Out) {
        let Some(live) = self.session.as_mut() else { return };
        if !live.backend.due() {
            return;
        }
        live.backend.continued();
        live.backend_events += 1;
        let event_id =
            format!("{}:{}:continue{}", self.settings.tag, self.generation, live.backend_events);
        self.send(wire::to_text(&ClientEvent::ResponseCreate { event_id: &event_id }), out);
    }

    fn queue_append(
        &mut self,
        request: AppendRequest,
        event_id: ClientEventId,
        result: bool,
        out: &mut Out,
    ) {
        let Some(live) = self.session.as_mut() else { return };
        for piece in live.appends.push(request) {
            live.answers_for.push(Answers { piece, core: event_id, result });
        }
        self.send_appends(out);
    }

    /// Sends every append that may go now, back to back.
    fn send_appends(&mut self, out: &mut Out) {
        let Some(live) = self.session.as_mut() else { return };
        let mut frames = Vec::new();
        while let Some(outgoing) = live.appends.next_to_send() {
            let append = Append {
                event_id: &outgoing.event_id,
                content: &outgoing.content,
                delegation_id: outgoing.delegation_id.as_deref(),
            };
            let event = match outgoing.kind {
                AppendKind::Instructions => ClientEvent::InstructionsAppend(append),
                AppendKind::Thinking => ClientEvent::ThinkingAppend(append),
                AppendKind::Commentary => ClientEvent::CommentaryAppend(append),
            };
            frames.push(wire::to_text(&event));
        }
        for frame in frames {
            self.send(frame, out);
        }
    }

    // ---- Events from the server ---------------------------------------------

    pub(crate) fn server_text(&mut self, now: Instant, text: &str, out: &mut Out) {
        bump(&self.stats.events_received);
        match wire::classify(text) {
            Classified::Known(event) => {
                self.server_event(now, event, out);
                // A stretch of speech that just ended, an ack that just
                // came: the moment may be the quiet one a replacement waits for.
                if let Some(mut live) = self.session.take() {
                    if live.window_open {
                        self.maybe_replace(&mut live, now, out);
                    }
                    self.session = Some(live);
                }
            }
            Classified::Unknown(kind) => {
                bump(&self.stats.unknown_events);
                tracing::debug!(provider = PROVIDER, kind = %kind, "unknown server event ignored");
            }
            Classified::Corrupt(reason) => {
                bump(&self.stats.corrupt_events);
                tracing::warn!(provider = PROVIDER, reason, "corrupt server event ignored");
            }
        }
    }

    pub(crate) fn server_binary(&mut self) {
        bump(&self.stats.events_received);
        bump(&self.stats.corrupt_events);
        tracing::warn!(provider = PROVIDER, "binary server frame ignored");
    }

    fn server_event(&mut self, now: Instant, event: ServerEvent<'_>, out: &mut Out) {
        match event {
            ServerEvent::SessionStarted { client_event_id, session_id, expires_at } => {
                let Some(live) = self.session.as_mut() else { return };
                // `client_event_id` is optional in the SDK's type: only a
                // different one says this answers someone else's start.
                let other = client_event_id.is_some_and(|id| id != live.start_event_id.as_str());
                if live.started || other {
                    bump(&self.stats.corrupt_events);
                    return;
                }
                live.started = true;
                live.id = Some(session_id.into_owned());
                live.silence.start(now);
                let left =
                    Duration::from_secs(expires_at.saturating_sub((self.settings.unix_now)()));
                // A session that says it is nearly over is left to end by
                // itself; replacing it could only replace it again.
                live.replace = (left >= MIN_REPLACEABLE).then(|| replacement_window(now, left));
                tracing::info!(provider = PROVIDER, session = ?live.id, expires_at, "session started");
                out.inputs.push(Input::BackendReady);
            }
            ServerEvent::OutputAudio { delta } => self.output_audio(&delta, out),
            ServerEvent::OutputTranscript { delta, .. } => {
                if let Some(live) = self.session.as_mut() {
                    live.said.push_str(&delta);
                }
            }
            ServerEvent::InputTranscript { delta, start_ms, .. } => {
                let Some(live) = self.session.as_mut() else { return };
                live.delegations.caller_said(start_ms, &delta);
                live.heard.push_str(&delta);
                live.heard_until = Some(now + self.settings.caller_pause);
                live.request.push_str(&delta);
                keep_newest(&mut live.request, REQUEST_MAX_CHARS);
            }
            ServerEvent::Appended { client_event_id, .. } => {
                let Some(live) = self.session.as_mut() else { return };
                let Some(id) = client_event_id else { return };
                let Some(outcome) = live.appends.acknowledged(&id) else { return };
                if let Some((event_id, false)) = answers_for(live, &outcome)
                    && !live.answers_for.iter().any(|a| a.core == event_id)
                {
                    // Every piece of the instruction is on the timeline.
                    out.inputs.push(Input::InstructionPlaced { event_id });
                }
            }
            ServerEvent::DelegationCreated { delegation_id, target, offset_ms, response_id } => {
                let responses = self.responses_mode();
                let Some(live) = self.session.as_mut() else { return };
                if responses && target == Target::Responses {
                    // The backend does the work; only its calls reach us.
                    if let Some(response_id) = response_id {
                        live.backend.response_started(&response_id);
                    }
                    return;
                }
                if responses || target != Target::Client {
                    tracing::warn!(
                        provider = PROVIDER,
                        ?target,
                        "delegation for another target ignored"
                    );
                    return;
                }
                if live.delegations.created(&delegation_id, offset_ms) == Seen::New {
                    let due = now + Duration::from_millis(SETTLE_MS);
                    live.settling.push((delegation_id.into_owned(), due));
                }
            }
            ServerEvent::FunctionCall { call_id, name, arguments, .. } => {
                let responses = self.responses_mode();
                let Some(live) = self.session.as_mut() else { return };
                if !responses {
                    // Only Responses delegation produces these.
                    bump(&self.stats.unknown_events);
                    return;
                }
                if live.backend.called(&call_id) == CallSeen::Duplicate {
                    tracing::debug!(provider = PROVIDER, %call_id, "repeated backend call ignored");
                    return;
                }
                let session = live.id.as_deref().unwrap_or("live");
                let core_call = format!("{session}/{call_id}");
                out.inputs.push(Input::FunctionCall {
                    response_id: ResponseId(format!("{core_call}:call")),
                    call_id: CallId(core_call),
                    name: name.into_owned(),
                    arguments: arguments.into_owned(),
                });
            }
            ServerEvent::BackendResponseStarted { response_id } => {
                if let Some(live) = self.session.as_mut() {
                    live.backend.response_started(&response_id);
                }
            }
            ServerEvent::BackendResponseDone { response_id, .. } => {
                let Some(live) = self.session.as_mut() else { return };
                if live.backend.response_done(response_id.as_deref()) {
                    self.continue_backend(out);
                }
            }
            ServerEvent::Error { code, message, client_event_id, .. } => {
                self.server_error(code.as_deref(), &message, client_event_id.as_deref(), out);
            }
            ServerEvent::SessionClosed { reason } => {
                tracing::info!(provider = PROVIDER, %reason, "session closed by the server");
                out.end = Some(match reason.as_ref() {
                    // A safety filter ended it: a new session would be the
                    // same conversation under the same filter. A close that
                    // was asked for (the hang-up endpoint, our own close)
                    // or a graceful end of the primary means the call is over.
                    "close_requested" if live_replacing(self.session.as_ref()) => {
                        LinkEnd::Retry("replacing a session about to expire".to_owned())
                    }
                    "content" | "close_requested" | "remote_hangup" => {
                        LinkEnd::Fatal(format!("session closed: {reason}"))
                    }
                    other => LinkEnd::Retry(format!("session closed: {other}")),
                });
            }
            ServerEvent::Other => {}
        }
    }

    fn output_audio(&mut self, delta: &str, out: &mut Out) {
        let Some(live) = self.session.as_mut() else { return };
        let Ok(bytes) = STANDARD.decode(delta) else {
            bump(&self.stats.corrupt_events);
            return;
        };
        self.scratch.clear();
        live.gate.push(&bytes, &mut self.scratch);
        let mut finished = None;
        for gated in self.scratch.drain(..) {
            match gated {
                Gated::Started => {
                    live.stretches += 1;
                    let session = live.id.as_deref().unwrap_or("live");
                    let id = ResponseId(format!("{session}:speech{}", live.stretches));
                    live.speaking = Some(id.clone());
                    out.inputs.push(Input::ResponseCreated {
                        response_id: id,
                        origin: turngate_core::Origin::Server,
                        out_of_band: false,
                    });
                }
                Gated::Audio(audio) => {
                    let Some(id) = live.speaking.clone() else { continue };
                    let duration = self.settings.format.duration_of(audio.len() as u64);
                    out.inputs.push(Input::ResponseAudio {
                        item_id: ItemId(id.0.clone()),
                        response_id: id,
                        audio: AudioChunk::new(audio, duration),
                    });
                }
                Gated::Stopped => {
                    let Some(id) = live.speaking.take() else { continue };
                    let said = std::mem::take(&mut live.said);
                    if !said.trim().is_empty() {
                        out.inputs.push(Input::ResponseTranscript {
                            item_id: ItemId(id.0.clone()),
                            response_id: id.clone(),
                            text: said.clone(),
                        });
                        finished = Some(said);
                    }
                    out.inputs.push(Input::ResponseDone {
                        response_id: id,
                        status: ResponseStatus::Completed,
                    });
                }
            }
        }
        if let Some(said) = finished {
            self.remember(Role::Assistant, &said);
        }
    }

    fn server_error(
        &mut self,
        code: Option<&str>,
        message: &str,
        client_event_id: Option<&str>,
        out: &mut Out,
    ) {
        let Some(live) = self.session.as_mut() else { return };
        let starting = !live.started;
        if starting && (client_event_id.is_none() || client_event_id == Some(&live.start_event_id))
        {
            // No `session.started` will come for this link.
            let fatal = code.is_some_and(|code| FATAL_START_CODES.contains(&code));
            let reason = format!("session.start refused: {}: {message}", code.unwrap_or("-"));
            tracing::error!(provider = PROVIDER, %reason, fatal, "the session did not start");
            // The call's record says why (the core keeps the error as it is).
            out.inputs.push(Input::BackendError {
                event_id: None,
                kind: BackendErrorKind::Other,
                code: code.map(str::to_owned),
                message: message.to_owned(),
            });
            out.end = Some(if fatal { LinkEnd::Fatal(reason) } else { LinkEnd::Retry(reason) });
            return;
        }
        if let Some(id) = client_event_id
            && let Some(at) = live.outputs.iter().position(|(piece, _)| piece == id)
        {
            // A refused output: the core hears of it for its command. The
            // call stays answered here: resending is the core's decision.
            let event_id = live.outputs.remove(at).map(|(_, event_id)| event_id);
            out.inputs.push(Input::BackendError {
                event_id,
                kind: BackendErrorKind::Other,
                code: code.map(str::to_owned),
                message: message.to_owned(),
            });
            return;
        }
        if let Some(id) = client_event_id
            && live.answers_for.iter().any(|a| a.piece == id)
        {
            match live.appends.failed(id, code, message) {
                Some(Outcome::Retried { event_id, retry_id }) => {
                    for answers in &mut live.answers_for {
                        if answers.piece == event_id {
                            answers.piece.clone_from(&retry_id);
                        }
                    }
                    self.send_appends(out);
                }
                Some(outcome) => {
                    let answers = answers_for(live, &outcome);
                    if let (Some((event_id, _)), Outcome::Rejected { code, message, .. }) =
                        (answers, outcome)
                    {
                        // The rest of its text no longer answers for it.
                        live.answers_for.retain(|a| a.core != event_id);
                        out.inputs.push(Input::BackendError {
                            event_id: Some(event_id),
                            kind: BackendErrorKind::Other,
                            code,
                            message,
                        });
                    }
                }
                None => {}
            }
            return;
        }
        out.inputs.push(Input::BackendError {
            event_id: None,
            kind: BackendErrorKind::Other,
            code: code.map(str::to_owned),
            message: message.to_owned(),
        });
    }

    // ---- Time -----------------------------------------------------------------

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let live = self.session.as_ref().filter(|live| live.started)?;
        let settling = live.settling.iter().map(|(_, due)| *due).min();
        // Once the window is open, quiet moments are caught as events
        // arrive; a tick is due only at its end.
        let replace = live
            .replace
            .filter(|_| !live.replacing)
            .map(|(quiet, latest)| if live.window_open { latest } else { quiet });
        [live.silence.next_due(), live.heard_until, settling, replace].into_iter().flatten().min()
    }

    pub(crate) fn tick(&mut self, now: Instant, out: &mut Out) {
        let Some(mut live) = self.session.take() else { return };
        if live.started {
            let frames = live.silence.due(now);
            if frames > 0 {
                let silence = silence_of(self.settings.format, frames);
                let audio = STANDARD.encode(&silence);
                self.send(wire::to_text(&ClientEvent::InputAudioAppend { audio: &audio }), out);
            }
            if live.heard_until.is_some_and(|at| at <= now) {
                self.flush_heard(&mut live, out);
            }
            self.maybe_replace(&mut live, now, out);
            let (due, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(&mut live.settling).into_iter().partition(|(_, at)| *at <= now);
            live.settling = waiting;
            for (delegation_id, _) in due {
                let request = std::mem::take(&mut live.request);
                let arguments = serde_json::json!({ "request": request.trim() }).to_string();
                out.inputs.push(Input::FunctionCall {
                    response_id: live
                        .speaking
                        .clone()
                        .unwrap_or_else(|| ResponseId(format!("{delegation_id}:call"))),
                    call_id: CallId(delegation_id),
                    name: self.settings.delegation_tool.clone(),
                    arguments,
                });
            }
        }
        self.session = Some(live);
    }

    /// Replaces the session before it expires (sessions last about two
    /// hours and cannot be extended): from the start of the window, at the
    /// first quiet moment (nobody speaking, no delegation open, no append
    /// unplaced), and at the window's end in any case. The session is
    /// closed properly; the next one starts with the conversation so far.
    fn maybe_replace(&mut self, live: &mut Live, now: Instant, out: &mut Out) {
        let Some((quiet_from, latest)) = live.replace else { return };
        if live.replacing || now < quiet_from {
            return;
        }
        live.window_open = true;
        let quiet = live.speaking.is_none()
            && live.heard.is_empty()
            && live.settling.is_empty()
            && live.backend.is_idle()
            && live.appends.in_flight() == 0
            && live.appends.queued() == 0;
        if !quiet && now < latest {
            return;
        }
        tracing::info!(provider = PROVIDER, session = ?live.id, quiet, "replacing a session about to expire");
        live.replacing = true;
        let event_id = format!("{}:{}:close", self.settings.tag, self.generation);
        self.send(wire::to_text(&ClientEvent::SessionClose { event_id: &event_id }), out);
    }

    /// Reports what the caller said since their last pause.
    fn flush_heard(&mut self, live: &mut Live, out: &mut Out) {
        live.heard_until = None;
        let heard = std::mem::take(&mut live.heard);
        if heard.trim().is_empty() {
            return;
        }
        self.remember(Role::User, &heard);
        out.inputs.push(Input::UserTranscript { item_id: None, text: heard });
    }

    fn send(&self, frame: String, out: &mut Out) {
        bump(&self.stats.events_sent);
        out.frames.push(frame);
    }
}

/// The core event an append outcome answers for (and whether it was a
/// result), forgetting the piece.
fn answers_for(live: &mut Live, outcome: &Outcome) -> Option<(ClientEventId, bool)> {
    let piece = match outcome {
        Outcome::Placed { event_id }
        | Outcome::Rejected { event_id, .. }
        | Outcome::Dropped { event_id }
        | Outcome::Retried { event_id, .. } => event_id,
    };
    let position = live.answers_for.iter().position(|a| a.piece == *piece)?;
    let answers = live.answers_for.remove(position);
    Some((answers.core, answers.result))
}

/// The replacement window of a session that expires `left` from `now`:
/// the last quarter of its life, at most the last minute, ending 5 s (or a
/// tenth of its life) before it expires.
fn replacement_window(now: Instant, left: Duration) -> (Instant, Instant) {
    let margin = (left / 4).min(Duration::from_secs(60));
    let force = (left / 10).min(Duration::from_secs(5));
    (now + left.saturating_sub(margin), now + left.saturating_sub(force))
}

fn live_replacing(live: Option<&Live>) -> bool {
    live.is_some_and(|live| live.replacing)
}

/// Seconds since the Unix epoch by the system clock.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// An app tool as a backend `function` tool.
fn function_tool(tool: &ToolSpec) -> FunctionTool<'_> {
    FunctionTool { name: &tool.name, description: &tool.description, parameters: &tool.parameters }
}

/// Tells the core that the command `event_id` died with its session.
fn lost_with_session(event_id: ClientEventId, out: &mut Out) {
    out.inputs.push(Input::BackendError {
        event_id: Some(event_id),
        kind: BackendErrorKind::Lost,
        code: Some(SESSION_LOST.to_owned()),
        message: "not placed: the session was lost before it".to_owned(),
    });
}

/// Cuts `text` to its newest `max` bytes or fewer, at a character boundary:
/// what the caller asked last is what a delegation is about.
fn keep_newest(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    text.drain(..cut);
}

fn refuse(event_id: ClientEventId, message: &str, out: &mut Out) {
    out.inputs.push(Input::BackendError {
        event_id: Some(event_id),
        kind: BackendErrorKind::Other,
        code: Some(UNSUPPORTED.to_owned()),
        message: message.to_owned(),
    });
}

/// The session format on the wire. GPT-Live takes one format for both
/// directions: PCM16 at 16 or 24 kHz, or G.711 at 8 kHz.
pub(crate) fn wire_format(format: AudioFormat) -> wire::AudioFormat {
    match format {
        AudioFormat::Ulaw => wire::AudioFormat::Pcmu { rate: 8000 },
        AudioFormat::Alaw => wire::AudioFormat::Pcma { rate: 8000 },
        AudioFormat::Pcm16(SampleRate::Hz16000) => wire::AudioFormat::Pcm { rate: 16_000 },
        AudioFormat::Pcm16(_) => wire::AudioFormat::Pcm { rate: 24_000 },
    }
}

/// `frames` of digital silence in `format`.
fn silence_of(format: AudioFormat, frames: u32) -> Vec<u8> {
    let frame_ms = u64::try_from(FRAME.as_millis()).unwrap_or(20);
    let bytes = format.bytes_for_ms(frame_ms * u64::from(frames));
    let bytes = usize::try_from(bytes).unwrap_or(0);
    let value = match format {
        // The G.711 codes of zero amplitude.
        AudioFormat::Ulaw => 0xFF,
        AudioFormat::Alaw => 0xD5,
        AudioFormat::Pcm16(_) => 0,
    };
    vec![value; bytes]
}
