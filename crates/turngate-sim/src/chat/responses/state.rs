//! Conversations and responses over time: the Responses simulator's state.
//!
//! Like the Assistants world, responses are advanced lazily to the times
//! their transitions were due.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::SimConfig;
use super::super::model;
use super::super::record::{EventKind, Kind, Recorder};
use super::super::server::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Start,
    Finish,
}

#[derive(Debug)]
pub(crate) struct Conv {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) metadata: Value,
    pub(crate) items: Vec<Value>,
    seen: HashSet<String>,
    /// The response working on the conversation, if any.
    pub(crate) active: Option<String>,
    /// After a cancel, the conversation stays locked until then.
    pub(crate) settling_until: Option<Instant>,
    /// Function calls still waiting for their outputs.
    pub(crate) pending_calls: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) id: String,
    pub(crate) conversation: Option<String>,
    pub(crate) created: u64,
    pub(crate) status: &'static str,
    pub(crate) due: Option<(Instant, Due)>,
    pub(crate) background: bool,
    pub(crate) model: String,
    pub(crate) instructions: Option<String>,
    pub(crate) metadata: Value,
    pub(crate) tools: Vec<String>,
    pub(crate) tool_json: Vec<Value>,
    pub(crate) input: Vec<Value>,
    pub(crate) latest_user: String,
    pub(crate) given_outputs: Vec<(String, String)>,
    pub(crate) output: Vec<Value>,
    pub(crate) hang: bool,
}

impl Resp {
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.status, "completed" | "cancelled" | "failed" | "incomplete")
    }
}

/// The whole Responses world.
#[derive(Debug)]
pub(crate) struct Conversations {
    pub(crate) config: SimConfig,
    pub(crate) recorder: Recorder,
    pub(crate) convs: HashMap<String, Conv>,
    pub(crate) responses: HashMap<String, Resp>,
    /// Function call id → tool name, over every conversation.
    pub(crate) call_names: HashMap<String, String>,
    next: u64,
    start: Instant,
    start_unix: u64,
}

impl Conversations {
    pub(crate) fn new(config: SimConfig) -> Self {
        Self {
            config,
            recorder: Recorder::default(),
            convs: HashMap::new(),
            responses: HashMap::new(),
            call_names: HashMap::new(),
            next: 0,
            start: Instant::now(),
            start_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }

    pub(crate) fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_sim{:06}", self.next)
    }

    pub(crate) fn unix(&self, at: Instant) -> u64 {
        self.start_unix + at.saturating_duration_since(self.start).as_secs()
    }

    pub(crate) fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    pub(crate) fn create_conversation(
        &mut self,
        metadata: Value,
        items: Vec<Value>,
        now: Instant,
    ) -> String {
        let id = self.id("conv");
        let created = self.unix(now);
        self.convs.insert(
            id.clone(),
            Conv {
                id: id.clone(),
                created,
                metadata,
                items,
                seen: HashSet::new(),
                active: None,
                settling_until: None,
                pending_calls: Vec::new(),
            },
        );
        id
    }

    /// Whether another response holds the conversation at `now`.
    pub(crate) fn locked(&self, conversation: &str, now: Instant) -> bool {
        self.convs.get(conversation).is_some_and(|c| {
            c.active.is_some() || c.settling_until.is_some_and(|until| until > now)
        })
    }

    /// Creates a response; the caller has validated and locked-checked.
    pub(crate) fn create_response(&mut self, mut response: Resp, now: Instant) -> String {
        let id = self.id("resp");
        response.id = id.clone();
        response.created = self.unix(now);
        response.hang = response.latest_user.contains(model::HANG);
        response.due = Some((now + self.config.queued, Due::Start));
        if let Some(conversation) = &response.conversation {
            if let Some(conv) = self.convs.get_mut(conversation) {
                conv.active = Some(id.clone());
                conv.settling_until = None;
            }
            let offset = self.offset(now);
            self.recorder.event(offset, conversation, EventKind::Accepted { id: id.clone() });
        }
        self.responses.insert(id.clone(), response);
        id
    }

    /// When a response that is not `hang` will be done, if it is scheduled.
    pub(crate) fn done_at(&self, id: &str) -> Option<Instant> {
        let response = self.responses.get(id)?;
        match response.due? {
            (at, Due::Start) if !response.hang => Some(at + self.config.run),
            (at, Due::Finish) => Some(at),
            _ => None,
        }
    }

    pub(crate) fn advance_all(&mut self, now: Instant) {
        let ids: Vec<String> = self.responses.keys().cloned().collect();
        for id in ids {
            self.advance(&id, now);
        }
    }

    pub(crate) fn advance(&mut self, id: &str, now: Instant) {
        let run = self.config.run;
        loop {
            let Some(response) = self.responses.get_mut(id) else { return };
            let Some((at, due)) = response.due else { return };
            if at > now {
                return;
            }
            response.due = None;
            match due {
                Due::Start => {
                    response.status = "in_progress";
                    if !response.hang {
                        response.due = Some((at + run, Due::Finish));
                    }
                }
                Due::Finish => self.complete(id, at),
            }
        }
    }

    fn complete(&mut self, id: &str, at: Instant) {
        let Some(response) = self.responses.get(id) else { return };
        let wanted: Vec<String> = if response.given_outputs.is_empty() {
            model::wanted_tools(&response.latest_user, &response.tools)
                .into_iter()
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let arguments = model::arguments(&response.latest_user);
        let text = model::reply(&response.latest_user, &response.given_outputs);
        let conversation = response.conversation.clone();
        let input = response.input.clone();
        let mut output = Vec::new();
        let mut calls = Vec::new();
        if wanted.is_empty() {
            let item = self.id("msg");
            output.push(
                json!({"type": "message", "id": item, "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}),
            );
        } else {
            for name in wanted {
                let (item, call) = (self.id("fc"), self.id("call"));
                self.call_names.insert(call.clone(), name.clone());
                output.push(
                    json!({"type": "function_call", "id": item, "call_id": call, "name": name,
                    "arguments": arguments, "status": "completed"}),
                );
                calls.push(call);
            }
        }
        let offset = self.offset(at);
        if let Some(conversation) = &conversation {
            let mut duplicates = Vec::new();
            if let Some(conv) = self.convs.get_mut(conversation) {
                for item in &input {
                    if let Some(text) = user_text(item)
                        && !conv.seen.insert(text.clone())
                    {
                        duplicates.push(text);
                    }
                }
                conv.items.extend(input);
                conv.items.extend(output.iter().cloned());
                conv.active = None;
                conv.pending_calls = calls;
            }
            for text in duplicates {
                self.recorder.violation(
                    Kind::Duplicate,
                    format!("conversation {conversation}: user text {text:?} added again"),
                );
            }
            self.recorder.event(
                offset,
                conversation,
                EventKind::Ended { id: id.to_owned(), status: "completed".to_owned() },
            );
        }
        self.recorder.stats.completed += 1;
        if let Some(response) = self.responses.get_mut(id) {
            response.status = "completed";
            response.output = output;
        }
    }

    /// Cancels an active background response now; its conversation stays
    /// locked until the cancel has settled.
    pub(crate) fn cancel(&mut self, id: &str, now: Instant) {
        let settle = now + self.config.cancel;
        let offset = self.offset(settle);
        let Some(response) = self.responses.get_mut(id) else { return };
        response.status = "cancelled";
        response.due = None;
        self.recorder.stats.cancelled += 1;
        if let Some(conversation) = response.conversation.clone() {
            if let Some(conv) = self.convs.get_mut(&conversation) {
                conv.active = None;
                conv.settling_until = Some(settle);
            }
            self.recorder.event(
                offset,
                &conversation,
                EventKind::Ended { id: id.to_owned(), status: "cancelled".to_owned() },
            );
        }
    }

    pub(crate) fn response_json(&self, response: &Resp) -> Value {
        json!({
            "id": response.id,
            "object": "response",
            "created_at": response.created,
            "status": response.status,
            "background": response.background,
            "error": null,
            "incomplete_details": null,
            "instructions": response.instructions,
            "max_output_tokens": null,
            "model": response.model,
            "output": response.output,
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "conversation": response.conversation.as_ref().map(|id| json!({"id": id})),
            "store": true,
            "temperature": 1.0,
            "tool_choice": "auto",
            "tools": response.tool_json,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": null,
            "metadata": response.metadata,
            "text": {"format": {"type": "text"}},
        })
    }

    pub(crate) fn conversation_json(conv: &Conv) -> Value {
        json!({"id": conv.id, "object": "conversation", "created_at": conv.created, "metadata": conv.metadata})
    }
}

/// The text of a user message item.
pub(crate) fn user_text(item: &Value) -> Option<String> {
    if item.get("type").and_then(Value::as_str) != Some("message")
        || item.get("role").and_then(Value::as_str) != Some("user")
    {
        return None;
    }
    let parts = item.get("content")?.as_array()?;
    Some(
        parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
    )
}

/// The text of an assistant message item.
fn assistant_text(item: &Value) -> Option<String> {
    if item.get("type").and_then(Value::as_str) != Some("message")
        || item.get("role").and_then(Value::as_str) != Some("assistant")
    {
        return None;
    }
    let parts = item.get("content")?.as_array()?;
    Some(
        parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
    )
}

impl World for Conversations {
    fn recorder(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    fn settle(&mut self, now: Instant, _start: Instant) -> u64 {
        self.advance_all(now);
        // Every input reaches the conversation together with its output,
        // so nothing stored is unanswered.
        0
    }

    fn texts(&mut self, container: &str, now: Instant, _start: Instant) -> Vec<(String, String)> {
        self.advance_all(now);
        let Some(conv) = self.convs.get(container) else { return Vec::new() };
        conv.items
            .iter()
            .filter_map(|item| {
                user_text(item)
                    .map(|t| ("user".to_owned(), t))
                    .or_else(|| assistant_text(item).map(|t| ("assistant".to_owned(), t)))
            })
            .collect()
    }
}
