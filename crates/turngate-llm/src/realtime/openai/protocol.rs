//! The pure per-session state of the OpenAI Realtime provider.
//!
//! [`Protocol`] turns the core's [`BackendCommand`]s into GA client events
//! and server events into the core's [`Input`]s. It outlives links: a
//! reconnect starts a new [`Link`] (the upstream forgets everything with the
//! socket) while the transcript and the id counter carry on.
//!
//! Guards it applies on top of the core, each because the upstream would
//! otherwise reject or misread what the core sends:
//! - a commit goes out only with at least `min_commit` of audio appended on
//!   this link since the last commit (`input_audio_buffer_commit_empty`);
//! - a truncate is clamped to the audio received for the item on this link,
//!   and skipped for an item of an earlier link or at 0 ms;
//! - a create for the default conversation is held while the server has a
//!   response active, or is about to start one of its own (its turn
//!   detection ended a turn with `create_response` on), and goes out once
//!   the server is free, so it never meets
//!   `conversation_already_has_active_response`.
//!
//! No IO, no clock: time comes in as `now`.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{
    AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, ItemId, Origin,
    ResponseId, ResponseSpec, ResponseStatus,
};

use super::transcript::{Entry, Transcript};
use super::wire::{
    self, AudioBody, Classified, ClientEvent, CreateTag, Format, InputBody, Item, OutputBody,
    ResponseBody, ServerEvent, SessionBody, ToolBody, TranscriptionBody, TurnDetectionBody,
};
use super::{OpenAiRealtimeConfig, PayloadEncoding};
pub(crate) use crate::realtime::link::Out;
pub(crate) use crate::realtime::stats::SharedStats;
use crate::realtime::stats::{add, bump};
use crate::realtime::{BackendError, OutputModality, RealtimeSessionConfig, TurnDetectionConfig};

/// The code of a commit refused locally for carrying too little audio.
pub(crate) const COMMIT_REFUSED: &str = "turngate_commit_too_short";
/// The code of a held create given up because the server stayed busy.
pub(crate) const CREATE_REFUSED: &str = "turngate_server_busy";
/// The code of a held create replaced by a newer one from the core.
pub(crate) const CREATE_SUPERSEDED: &str = "turngate_create_superseded";
/// The code of a command this backend has no counterpart for.
pub(crate) const UNSUPPORTED: &str = crate::realtime::UNSUPPORTED_COMMAND;
/// The upstream's code for a second response while one is active.
const ACTIVE_RESPONSE: &str = "conversation_already_has_active_response";
/// The upstream's code for a cancel that found its response finished.
const CANCEL_NOT_ACTIVE: &str = "response_cancel_not_active";
/// The upstream's code for a commit of an empty input buffer.
const COMMIT_EMPTY: &str = "input_audio_buffer_commit_empty";

/// What an upstream error code means for the session core.
pub(crate) fn error_kind(code: Option<&str>) -> BackendErrorKind {
    match code {
        Some(ACTIVE_RESPONSE) => BackendErrorKind::ResponseActive,
        Some(CANCEL_NOT_ACTIVE) => BackendErrorKind::NothingToCancel,
        Some(COMMIT_EMPTY) => BackendErrorKind::NothingToCommit,
        _ => BackendErrorKind::Other,
    }
}

/// Assistant items whose received audio is remembered per link.
const ITEMS_REMEMBERED: usize = 32;
/// Function calls whose names and emission are remembered per link.
const CALLS_REMEMBERED: usize = 64;
/// Out-of-band creates and responses tracked at once.
const OUT_OF_BAND_TRACKED: usize = 16;

/// The provider's state for one session, across links.
#[derive(Debug)]
pub(crate) struct Protocol {
    settings: Settings,
    session: RealtimeSessionConfig,
    transcript: Transcript,
    link: Option<Link>,
    next_internal: u64,
    scratch: String,
    stats: Arc<SharedStats>,
}

#[derive(Debug)]
struct Settings {
    echoes_metadata: bool,
    payload: PayloadEncoding,
    min_commit: Duration,
    auto_response_wait: Duration,
    max_create_hold: Duration,
    server_creates: bool,
}

/// What the provider knows of one upstream session (one socket).
#[derive(Debug, Default)]
struct Link {
    ready: bool,
    /// Input audio bytes (decoded) appended since the buffer was last emptied.
    appended_bytes: u64,
    /// Our commits not yet acknowledged with `input_audio_buffer.committed`.
    own_commits: u32,
    /// Assistant items and the audio bytes (decoded) received for each.
    items: VecDeque<(String, u64)>,
    /// The default-conversation response the server has active, ours or its own.
    server_active: Option<String>,
    /// Until when a response of the server's own is expected to start.
    auto_until: Option<Instant>,
    /// A create waiting for the server to be free.
    held: Option<Held>,
    oob_tags: VecDeque<ClientEventId>,
    oob_responses: VecDeque<String>,
    /// Function call names from `response.output_item.added`, by call id.
    call_names: VecDeque<(String, String)>,
    /// Calls already handed to the core.
    calls_emitted: VecDeque<String>,
}

#[derive(Debug)]
struct Held {
    event_id: ClientEventId,
    frame: String,
    since: Instant,
}

impl Protocol {
    /// Validates the session configuration against what the GA API accepts.
    pub(crate) fn new(
        config: &OpenAiRealtimeConfig,
        session: RealtimeSessionConfig,
        stats: Arc<SharedStats>,
    ) -> Result<Protocol, BackendError> {
        for (what, format) in [("input", session.input_format), ("output", session.output_format)] {
            if format_of(format).is_none() {
                return Err(BackendError::Config {
                    provider: super::PROVIDER,
                    detail: format!(
                        "{what} format {format:?} is not one of audio/pcmu, audio/pcma, audio/pcm (24 kHz)"
                    ),
                });
            }
        }
        Ok(Protocol {
            settings: Settings {
                echoes_metadata: config.echoes_metadata,
                payload: config.payload,
                min_commit: config.min_commit,
                auto_response_wait: config.auto_response_wait,
                max_create_hold: config.max_create_hold,
                server_creates: session.turn_detection.creates_responses(),
            },
            transcript: Transcript::new(config.transcript),
            session,
            link: None,
            next_internal: 0,
            scratch: String::new(),
            stats,
        })
    }

    /// True once the current link's session is configured.
    pub(crate) fn is_ready(&self) -> bool {
        self.link.as_ref().is_some_and(|link| link.ready)
    }

    // ---- Link lifecycle -----------------------------------------------------

    /// A new link is up: configure it and re-inject the conversation so far.
    /// The core hears `BackendReady` once `session.updated` arrives, which
    /// the server sends only after everything sent before it was taken in.
    pub(crate) fn link_up(&mut self, reconnect: bool, out: &mut Out) {
        self.link = Some(Link::default());
        if reconnect {
            bump(&self.stats.reconnects);
        }
        let event_id = self.internal_id();
        let body = self.session_body();
        out.frames.push(wire::to_text(&ClientEvent::SessionUpdate {
            event_id: &event_id,
            session: &body,
        }));
        let replay: Vec<Entry> = self.transcript.replay().cloned().collect();
        for entry in &replay {
            let event_id = self.internal_id();
            let item = match entry {
                Entry::User { text, .. } => Item::user_text(text.as_deref().unwrap_or_default()),
                Entry::Assistant { text, .. } => {
                    Item::assistant_text(text.as_deref().unwrap_or_default())
                }
                Entry::Call { call_id, name, arguments } => {
                    Item::FunctionCall { call_id, name, arguments }
                }
                Entry::Output { call_id, output } => Item::FunctionCallOutput { call_id, output },
            };
            out.frames.push(wire::to_text(&ClientEvent::ItemCreate { event_id: &event_id, item }));
            bump(&self.stats.items_reinjected);
        }
        add(&self.stats.events_sent, out.frames.len());
    }

    /// The link is gone. The core hears `BackendDisconnected` if it had
    /// heard `BackendReady` for this link.
    pub(crate) fn link_down(&mut self, out: &mut Out) {
        if let Some(link) = self.link.take()
            && link.ready
        {
            out.inputs.push(Input::BackendDisconnected);
        }
    }

    // ---- Commands from the core -------------------------------------------------

    /// Carries out one core command on the current link.
    pub(crate) fn command(&mut self, now: Instant, command: BackendCommand, out: &mut Out) {
        if !self.is_ready() {
            self.command_while_down(command);
            return;
        }
        let sent_before = out.frames.len();
        match command {
            BackendCommand::AppendAudio(chunk) => self.append(&chunk, out),
            BackendCommand::Commit { event_id } => self.commit(event_id, out),
            BackendCommand::CreateResponse { event_id, spec } => {
                self.create(now, event_id, &spec, out);
            }
            BackendCommand::CancelResponse { event_id, response_id } => {
                let id = event_id.to_string();
                out.frames.push(wire::to_text(&ClientEvent::ResponseCancel {
                    event_id: &id,
                    response_id: &response_id.0,
                }));
            }
            BackendCommand::Truncate { event_id, item_id, audio_end_ms } => {
                self.truncate(event_id, &item_id, audio_end_ms, out);
            }
            BackendCommand::FunctionOutput { event_id, call_id, output } => {
                let id = event_id.to_string();
                let item = Item::FunctionCallOutput { call_id: &call_id.0, output: &output };
                out.frames.push(wire::to_text(&ClientEvent::ItemCreate { event_id: &id, item }));
                self.transcript.output(&call_id.0, &output);
            }
            BackendCommand::Instruct { event_id, purpose, .. } => {
                // The Realtime API is gated: the core opens its responses
                // with `response.create` and never sends this to it.
                tracing::warn!(
                    provider = super::PROVIDER,
                    %event_id,
                    purpose = purpose.as_str(),
                    "instruction refused: the Realtime API speaks only in responses"
                );
                out.inputs.push(Input::BackendError {
                    event_id: Some(event_id),
                    kind: BackendErrorKind::Other,
                    code: Some(UNSUPPORTED.to_owned()),
                    message: "instruction not sent: the Realtime API speaks only in responses"
                        .to_owned(),
                });
            }
            BackendCommand::AddUserText { event_id, text } => {
                let id = event_id.to_string();
                let item = Item::user_text(&text);
                out.frames.push(wire::to_text(&ClientEvent::ItemCreate { event_id: &id, item }));
                self.transcript.user_text(&text);
            }
        }
        add(&self.stats.events_sent, out.frames.len() - sent_before);
    }

    /// A command that arrived while no link is ready. The core learns from
    /// `BackendDisconnected` that it is lost; what belongs in the
    /// conversation is kept, so the next link's re-injection carries it.
    fn command_while_down(&mut self, command: BackendCommand) {
        bump(&self.stats.dropped_while_down);
        match command {
            BackendCommand::FunctionOutput { call_id, output, .. } => {
                self.transcript.output(&call_id.0, &output);
            }
            BackendCommand::AddUserText { text, .. } => self.transcript.user_text(&text),
            _ => {}
        }
    }

    fn append(&mut self, chunk: &AudioChunk, out: &mut Out) {
        let Some(link) = self.link.as_mut() else { return };
        let event_id = next_internal(&mut self.next_internal);
        let audio = match self.settings.payload {
            PayloadEncoding::Raw => {
                self.scratch.clear();
                STANDARD.encode_string(&chunk.payload, &mut self.scratch);
                link.appended_bytes += chunk.payload.len() as u64;
                self.scratch.as_str()
            }
            PayloadEncoding::Base64 => match std::str::from_utf8(&chunk.payload) {
                Ok(text) => {
                    link.appended_bytes += decoded_len(text);
                    text
                }
                Err(_) => {
                    tracing::warn!(
                        provider = super::PROVIDER,
                        "append payload is not base64 text; dropped"
                    );
                    return;
                }
            },
        };
        out.frames.push(wire::to_text(&ClientEvent::Append { event_id: &event_id, audio }));
    }

    fn commit(&mut self, event_id: ClientEventId, out: &mut Out) {
        let Some(link) = self.link.as_mut() else { return };
        let appended = self.session.input_format.duration_of(link.appended_bytes);
        if appended < self.settings.min_commit {
            bump(&self.stats.commits_refused);
            tracing::warn!(
                provider = super::PROVIDER,
                %event_id,
                appended_ms = appended.as_millis(),
                "commit refused: less audio appended on this link than the upstream accepts"
            );
            out.inputs.push(Input::BackendError {
                event_id: Some(event_id),
                kind: BackendErrorKind::Other,
                code: Some(COMMIT_REFUSED.to_owned()),
                message: format!(
                    "commit not sent: {:.2}ms of audio appended since the last commit, at least {}ms needed",
                    appended.as_secs_f64() * 1000.0,
                    self.settings.min_commit.as_millis()
                ),
            });
            return;
        }
        link.appended_bytes = 0;
        link.own_commits += 1;
        let id = event_id.to_string();
        out.frames.push(wire::to_text(&ClientEvent::Commit { event_id: &id }));
    }

    fn create(
        &mut self,
        now: Instant,
        event_id: ClientEventId,
        spec: &ResponseSpec,
        out: &mut Out,
    ) {
        let id = event_id.to_string();
        let frame = wire::to_text(&ClientEvent::ResponseCreate {
            event_id: &id,
            response: ResponseBody {
                conversation: spec.out_of_band.then_some("none"),
                instructions: spec.instructions.as_deref(),
                metadata: CreateTag { turngate_create: &id },
            },
        });
        let Some(link) = self.link.as_mut() else { return };
        if spec.out_of_band {
            // Out-of-band responses do not write to the conversation and
            // may run beside the default one: never held.
            if link.oob_tags.len() == OUT_OF_BAND_TRACKED {
                link.oob_tags.pop_front();
            }
            link.oob_tags.push_back(event_id);
            out.frames.push(frame);
            return;
        }
        if link.server_active.is_none() && !link.auto_expected(now) {
            out.frames.push(frame);
            return;
        }
        bump(&self.stats.creates_held);
        tracing::debug!(provider = super::PROVIDER, %event_id, "create held: the server is busy");
        if let Some(old) = link.held.replace(Held { event_id, frame, since: now }) {
            // The core abandoned the older create (it timed out); tell it
            // explicitly that the older one will never be sent.
            bump(&self.stats.creates_refused);
            out.inputs.push(Input::BackendError {
                event_id: Some(old.event_id),
                kind: BackendErrorKind::Other,
                code: Some(CREATE_SUPERSEDED.to_owned()),
                message: "create not sent: a newer create replaced it while the server was busy"
                    .to_owned(),
            });
        }
    }

    fn truncate(
        &mut self,
        event_id: ClientEventId,
        item_id: &ItemId,
        asked_ms: u64,
        out: &mut Out,
    ) {
        let Some(link) = self.link.as_mut() else { return };
        let format = self.session.output_format;
        let Some((_, received)) = link.items.iter_mut().find(|(id, _)| *id == item_id.0) else {
            bump(&self.stats.truncates_skipped);
            tracing::debug!(provider = super::PROVIDER, %item_id, "truncate skipped: item not of this link");
            return;
        };
        let received_ms = format.ms_for_bytes(*received);
        let end_ms = asked_ms.min(received_ms);
        if end_ms == 0 {
            bump(&self.stats.truncates_skipped);
            tracing::debug!(provider = super::PROVIDER, %item_id, "truncate skipped: nothing to keep");
            return;
        }
        if end_ms < asked_ms {
            bump(&self.stats.truncates_clamped);
        }
        // The item is that long from now on; a later truncate clamps to it.
        *received = format.bytes_for_ms(end_ms);
        let id = event_id.to_string();
        out.frames.push(wire::to_text(&ClientEvent::Truncate {
            event_id: &id,
            item_id: &item_id.0,
            content_index: 0,
            audio_end_ms: end_ms,
        }));
        if received_ms > 0 {
            self.transcript.assistant_cut(&item_id.0, end_ms as f64 / received_ms as f64);
        }
    }

    // ---- Server events ----------------------------------------------------------

    /// Reads one text frame from the server.
    pub(crate) fn server_text(&mut self, now: Instant, text: &str, out: &mut Out) {
        bump(&self.stats.events_received);
        match wire::classify(text) {
            Classified::Known(event) => self.server_event(now, event, out),
            Classified::Unknown(kind) => {
                bump(&self.stats.unknown_events);
                tracing::debug!(provider = super::PROVIDER, kind = %kind, "unknown server event ignored");
            }
            Classified::Corrupt(reason) => {
                bump(&self.stats.corrupt_events);
                tracing::warn!(provider = super::PROVIDER, reason, "corrupt server frame ignored");
            }
        }
    }

    /// Counts a frame that is not text (the API sends none).
    pub(crate) fn server_binary(&mut self) {
        bump(&self.stats.events_received);
        bump(&self.stats.corrupt_events);
        tracing::warn!(provider = super::PROVIDER, "binary server frame ignored");
    }

    fn server_event(&mut self, now: Instant, event: ServerEvent<'_>, out: &mut Out) {
        let Some(link) = self.link.as_mut() else { return };
        match event {
            ServerEvent::SessionUpdated => {
                if !link.ready {
                    link.ready = true;
                    out.inputs.push(Input::BackendReady);
                }
            }
            ServerEvent::Error { code, message, event_id } => {
                let event_id = event_id.and_then(|id| ClientEventId::from_str(&id).ok());
                if code.as_deref() == Some(ACTIVE_RESPONSE)
                    && let Some(active) = response_named_in(&message)
                {
                    // The server had a response we did not know of; hold the
                    // core's retry until it is done.
                    link.server_active.get_or_insert_with(|| active.to_owned());
                }
                out.inputs.push(Input::BackendError {
                    event_id,
                    kind: error_kind(code.as_deref()),
                    code: code.map(|c| c.into_owned()),
                    message: message.into_owned(),
                });
            }
            ServerEvent::SpeechStarted => out.inputs.push(Input::UserSpeechStarted),
            ServerEvent::SpeechStopped => {
                // Expected even while a response is active: with
                // `interrupt_response` the server cancels it and answers the
                // new turn, and its `response.done` may still be in flight.
                if self.settings.server_creates {
                    link.auto_until = Some(now + self.settings.auto_response_wait);
                }
                out.inputs.push(Input::UserSpeechStopped);
            }
            ServerEvent::Committed { item_id } => {
                if link.own_commits > 0 {
                    link.own_commits -= 1;
                } else {
                    // The server's turn detection committed the buffer.
                    link.appended_bytes = 0;
                    if self.settings.server_creates && link.server_active.is_none() {
                        link.auto_until = Some(now + self.settings.auto_response_wait);
                    }
                }
                self.transcript.user_committed(item_id.as_deref());
                out.inputs.push(Input::InputCommitted {
                    item_id: item_id.map(|id| ItemId(id.into_owned())),
                });
            }
            ServerEvent::Cleared => link.appended_bytes = 0,
            ServerEvent::TimeoutTriggered => {
                link.appended_bytes = 0;
                if self.settings.server_creates && link.server_active.is_none() {
                    link.auto_until = Some(now + self.settings.auto_response_wait);
                }
            }
            ServerEvent::UserTranscript { item_id, transcript } => {
                self.transcript.user_transcript(item_id.as_deref(), &transcript);
                out.inputs.push(Input::UserTranscript {
                    item_id: item_id.map(|id| ItemId(id.into_owned())),
                    text: transcript.into_owned(),
                });
            }
            ServerEvent::ResponseCreated { response_id, tag } => {
                let tag = tag.and_then(|t| ClientEventId::from_str(&t).ok());
                let out_of_band = match tag {
                    Some(tag) => match link.oob_tags.iter().position(|t| *t == tag) {
                        Some(position) => {
                            link.oob_tags.remove(position);
                            true
                        }
                        None => false,
                    },
                    None => false,
                };
                let origin = match tag {
                    Some(tag) => Origin::Create(tag),
                    None if self.settings.echoes_metadata => Origin::Server,
                    None => Origin::Unknown,
                };
                if out_of_band {
                    if link.oob_responses.len() == OUT_OF_BAND_TRACKED {
                        link.oob_responses.pop_front();
                    }
                    link.oob_responses.push_back(response_id.to_string());
                } else {
                    link.server_active = Some(response_id.to_string());
                    link.auto_until = None;
                }
                out.inputs.push(Input::ResponseCreated {
                    response_id: ResponseId(response_id.into_owned()),
                    origin,
                    out_of_band,
                });
            }
            ServerEvent::OutputItemAdded { item_id, call } => {
                if let Some((call_id, name)) = call {
                    if link.call_names.len() == CALLS_REMEMBERED {
                        link.call_names.pop_front();
                    }
                    link.call_names.push_back((call_id.into_owned(), name.into_owned()));
                } else if let Some(item_id) = item_id {
                    link.remember_item(&item_id);
                    self.transcript.assistant_started(&item_id);
                }
            }
            ServerEvent::AudioDelta { response_id, item_id, delta } => {
                let (payload, bytes) = match self.settings.payload {
                    PayloadEncoding::Raw => match STANDARD.decode(delta.as_bytes()) {
                        Ok(bytes) => {
                            let len = bytes.len() as u64;
                            (bytes, len)
                        }
                        Err(_) => {
                            bump(&self.stats.corrupt_events);
                            tracing::warn!(
                                provider = super::PROVIDER,
                                "audio delta is not base64; ignored"
                            );
                            return;
                        }
                    },
                    PayloadEncoding::Base64 => {
                        let len = decoded_len(&delta);
                        (delta.as_bytes().to_vec(), len)
                    }
                };
                link.add_item_audio(&item_id, bytes);
                let duration = self.session.output_format.duration_of(bytes);
                out.inputs.push(Input::ResponseAudio {
                    response_id: ResponseId(response_id.into_owned()),
                    item_id: ItemId(item_id.into_owned()),
                    audio: AudioChunk::new(payload, duration),
                });
            }
            ServerEvent::OutputTextDone { response_id, item_id, text } => {
                // Out-of-band responses are not part of the conversation.
                if !link.oob_responses.iter().any(|id| *id == response_id) {
                    self.transcript.assistant_text(&item_id, &text);
                }
                out.inputs.push(Input::ResponseTranscript {
                    response_id: ResponseId(response_id.into_owned()),
                    item_id: ItemId(item_id.into_owned()),
                    text: text.into_owned(),
                });
            }
            ServerEvent::FunctionArgumentsDone { response_id, call_id, arguments } => {
                let name = link
                    .call_names
                    .iter()
                    .find(|(id, _)| *id == call_id)
                    .map(|(_, name)| name.clone());
                // Without the name (no `output_item.added` seen), the call
                // is handed over from `response.output_item.done` instead.
                if let Some(name) = name {
                    self.function_call(&response_id, &call_id, &name, &arguments, out);
                }
            }
            ServerEvent::FunctionCallItemDone { response_id, call_id, name, arguments } => {
                self.function_call(&response_id, &call_id, &name, &arguments, out);
            }
            ServerEvent::ResponseDone { response_id, status } => {
                let status = match status.as_deref() {
                    Some("completed") => ResponseStatus::Completed,
                    Some("cancelled") => ResponseStatus::Cancelled,
                    Some("incomplete") => ResponseStatus::Incomplete,
                    Some("failed") => ResponseStatus::Failed,
                    other => {
                        // The gate must be released whatever the status; a
                        // status we cannot read counts as a failure.
                        bump(&self.stats.corrupt_events);
                        tracing::warn!(provider = super::PROVIDER, status = ?other, "response.done with an unknown status; taken as failed");
                        ResponseStatus::Failed
                    }
                };
                if let Some(position) = link.oob_responses.iter().position(|id| *id == response_id)
                {
                    link.oob_responses.remove(position);
                } else if link.server_active.as_deref() == Some(response_id.as_ref()) {
                    link.server_active = None;
                }
                out.inputs.push(Input::ResponseDone {
                    response_id: ResponseId(response_id.into_owned()),
                    status,
                });
                self.release_held(now, out);
            }
            ServerEvent::Other => {}
        }
    }

    fn function_call(
        &mut self,
        response_id: &str,
        call_id: &str,
        name: &str,
        arguments: &str,
        out: &mut Out,
    ) {
        let Some(link) = self.link.as_mut() else { return };
        if link.calls_emitted.iter().any(|id| id == call_id) {
            return;
        }
        if link.calls_emitted.len() == CALLS_REMEMBERED {
            link.calls_emitted.pop_front();
        }
        link.calls_emitted.push_back(call_id.to_owned());
        self.transcript.call(call_id, name, arguments);
        out.inputs.push(Input::FunctionCall {
            response_id: ResponseId(response_id.to_owned()),
            call_id: CallId(call_id.to_owned()),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        });
    }

    // ---- Time -------------------------------------------------------------------

    /// When [`Protocol::tick`] must run next, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let link = self.link.as_ref()?;
        let held = link.held.as_ref()?;
        let give_up = held.since + self.settings.max_create_hold;
        Some(match link.auto_until {
            Some(until) if link.server_active.is_none() => until.min(give_up),
            _ => give_up,
        })
    }

    /// Releases a held create whose wait is over.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Out) {
        self.release_held(now, out);
    }

    fn release_held(&mut self, now: Instant, out: &mut Out) {
        let Some(link) = self.link.as_mut() else { return };
        let Some(held) = link.held.take() else { return };
        if link.server_active.is_none() && !link.auto_expected(now) {
            link.auto_until = None;
            out.frames.push(held.frame);
            bump(&self.stats.events_sent);
            return;
        }
        if now >= held.since + self.settings.max_create_hold {
            bump(&self.stats.creates_refused);
            tracing::warn!(provider = super::PROVIDER, event_id = %held.event_id, "held create given up: the server stayed busy");
            out.inputs.push(Input::BackendError {
                event_id: Some(held.event_id),
                kind: BackendErrorKind::Other,
                code: Some(CREATE_REFUSED.to_owned()),
                message: format!(
                    "create not sent: the server kept a response active for {}ms",
                    self.settings.max_create_hold.as_millis()
                ),
            });
            return;
        }
        link.held = Some(held);
    }

    // ---- Plumbing -----------------------------------------------------------------

    fn internal_id(&mut self) -> String {
        next_internal(&mut self.next_internal)
    }

    fn session_body(&self) -> SessionBody<'_> {
        let session = &self.session;
        let turn_detection = match &session.turn_detection {
            TurnDetectionConfig::None => None,
            TurnDetectionConfig::ServerVad(vad) => Some(TurnDetectionBody::ServerVad {
                threshold: vad.threshold,
                prefix_padding_ms: vad.prefix_padding_ms,
                silence_duration_ms: vad.silence_duration_ms,
                idle_timeout_ms: vad.idle_timeout_ms,
                create_response: vad.create_response,
                interrupt_response: vad.interrupt_response,
            }),
            TurnDetectionConfig::SemanticVad(vad) => Some(TurnDetectionBody::SemanticVad {
                eagerness: vad.eagerness.as_str(),
                create_response: vad.create_response,
                interrupt_response: vad.interrupt_response,
            }),
        };
        let tools: Vec<ToolBody<'_>> = session
            .tools
            .iter()
            .map(|tool| ToolBody {
                kind: "function",
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
            })
            .collect();
        let has_tools = !tools.is_empty();
        SessionBody {
            kind: "realtime",
            instructions: session.instructions.as_deref(),
            output_modalities: [match session.output {
                OutputModality::Audio => "audio",
                OutputModality::Text => "text",
            }],
            audio: AudioBody {
                input: InputBody {
                    format: format_of(session.input_format).unwrap_or(Format::Pcmu),
                    transcription: session
                        .input_transcription
                        .as_deref()
                        .map(|model| TranscriptionBody { model }),
                    turn_detection,
                },
                output: OutputBody {
                    format: format_of(session.output_format).unwrap_or(Format::Pcmu),
                    voice: session.voice.as_deref(),
                },
            },
            tools: has_tools.then_some(tools),
            tool_choice: has_tools.then_some("auto"),
        }
    }
}

impl Link {
    fn auto_expected(&self, now: Instant) -> bool {
        self.auto_until.is_some_and(|until| now < until)
    }

    fn remember_item(&mut self, item_id: &str) {
        if self.items.iter().any(|(id, _)| id == item_id) {
            return;
        }
        if self.items.len() == ITEMS_REMEMBERED {
            self.items.pop_front();
        }
        self.items.push_back((item_id.to_owned(), 0));
    }

    fn add_item_audio(&mut self, item_id: &str, bytes: u64) {
        match self.items.iter_mut().find(|(id, _)| id == item_id) {
            Some((_, received)) => *received += bytes,
            None => {
                self.remember_item(item_id);
                if let Some((_, received)) = self.items.back_mut() {
                    *received = bytes;
                }
            }
        }
    }
}

/// The GA format object for an audio format, if the API takes it.
fn format_of(format: AudioFormat) -> Option<Format> {
    match format {
        AudioFormat::Ulaw => Some(Format::Pcmu),
        AudioFormat::Alaw => Some(Format::Pcma),
        AudioFormat::Pcm16(SampleRate::Hz24000) => Some(Format::Pcm { rate: 24_000 }),
        AudioFormat::Pcm16(_) => None,
    }
}

/// The length of the bytes a base64 text decodes to.
fn decoded_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take(2).filter(|b| *b == b'=').count();
    ((text.len() / 4 * 3).saturating_sub(padding)) as u64
}

/// The response id in a `conversation_already_has_active_response` message.
fn response_named_in(message: &str) -> Option<&str> {
    let start = message.find("resp_")?;
    let rest = message.get(start..)?;
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    rest.get(..end)
}

fn next_internal(counter: &mut u64) -> String {
    *counter += 1;
    format!("tgp{counter}")
}
