//! Shared helpers: a protocol with a link, server events, fixtures.

#![allow(clippy::needless_pass_by_value, reason = "helpers take the values tests build inline")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use turngate_core::{BackendCommand, Input};

use crate::realtime::RealtimeSessionConfig;
use crate::realtime::openai::OpenAiRealtimeConfig;
use crate::realtime::openai::protocol::{Out, Protocol, SharedStats};

pub(super) struct Harness {
    pub(super) protocol: Protocol,
    pub(super) stats: Arc<SharedStats>,
    pub(super) now: Instant,
}

impl Harness {
    pub(super) fn new(config: OpenAiRealtimeConfig, session: RealtimeSessionConfig) -> Harness {
        let stats = Arc::new(SharedStats::default());
        let protocol = Protocol::new(&config, session, Arc::clone(&stats)).expect("valid config");
        Harness { protocol, stats, now: Instant::now() }
    }

    /// A harness whose link is up and ready; the setup frames are discarded.
    pub(super) fn ready(config: OpenAiRealtimeConfig, session: RealtimeSessionConfig) -> Harness {
        let mut harness = Harness::new(config, session);
        harness.link_up(false);
        let (_, inputs) = harness.server(json!({"type": "session.updated", "session": {}}));
        assert_eq!(inputs, [Input::BackendReady]);
        harness
    }

    pub(super) fn default_ready() -> Harness {
        Harness::ready(OpenAiRealtimeConfig::default(), RealtimeSessionConfig::default())
    }

    pub(super) fn link_up(&mut self, reconnect: bool) -> Vec<Value> {
        let mut out = Out::default();
        self.protocol.link_up(reconnect, &mut out);
        assert!(out.inputs.is_empty());
        frames(&out.frames)
    }

    pub(super) fn link_down(&mut self) -> Vec<Input> {
        let mut out = Out::default();
        self.protocol.link_down(&mut out);
        out.inputs
    }

    pub(super) fn command(&mut self, command: BackendCommand) -> (Vec<Value>, Vec<Input>) {
        let mut out = Out::default();
        self.protocol.command(self.now, command, &mut out);
        (frames(&out.frames), out.inputs)
    }

    pub(super) fn server(&mut self, event: Value) -> (Vec<Value>, Vec<Input>) {
        self.server_text(&event.to_string())
    }

    pub(super) fn server_text(&mut self, text: &str) -> (Vec<Value>, Vec<Input>) {
        let mut out = Out::default();
        self.protocol.server_text(self.now, text, &mut out);
        (frames(&out.frames), out.inputs)
    }

    pub(super) fn advance(&mut self, by: Duration) -> (Vec<Value>, Vec<Input>) {
        self.now += by;
        let mut out = Out::default();
        self.protocol.tick(self.now, &mut out);
        (frames(&out.frames), out.inputs)
    }
}

fn frames(frames: &[String]) -> Vec<Value> {
    frames.iter().map(|f| serde_json::from_str(f).expect("frames are JSON")).collect()
}

/// A fixture from `tests/fixtures/openai/`, parsed.
pub(super) fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/openai")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `response.created` for `id`, tagged with our create id if any.
pub(super) fn created(id: &str, tag: Option<&str>) -> Value {
    let metadata = match tag {
        Some(tag) => json!({"turngate_create": tag}),
        None => Value::Null,
    };
    json!({"type": "response.created", "event_id": "event_1", "response": {
        "object": "realtime.response", "id": id, "status": "in_progress", "metadata": metadata,
    }})
}

pub(super) fn done(id: &str, status: &str) -> Value {
    json!({"type": "response.done", "event_id": "event_2", "response": {
        "object": "realtime.response", "id": id, "status": status, "output": [], "metadata": null,
    }})
}

pub(super) fn message_added(response: &str, item: &str) -> Value {
    json!({"type": "response.output_item.added", "response_id": response, "output_index": 0,
        "item": {"id": item, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": []}})
}

pub(super) fn audio_delta(response: &str, item: &str, delta: &str) -> Value {
    json!({"type": "response.output_audio.delta", "event_id": "event_3", "response_id": response,
        "item_id": item, "output_index": 0, "content_index": 0, "delta": delta})
}
