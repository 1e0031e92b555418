//! The Responses backend of a session with Responses delegation, as pure
//! state that the session drives on its timeline.
//!
//! When the Live model delegates in a Responses session, it announces
//! `session.delegation.created` with target `responses` and the id of the
//! backend's response; the service runs that response and streams it to
//! the client as `response.event` envelopes naming the delegation
//! (openai-python 3.57.0 `delegation_created_event.py`,
//! `response_event.py`; the guide "Managing GPT-Live sessions"). Each
//! envelope holds one Responses streaming event with its
//! `sequence_number` (and `output_index` on output items), and the
//! lifecycle snapshots omit `input` and clear `output`, `instructions` and
//! `tools`, as the SDK says the real ones do.
//!
//! The simulated backend answers a delegation with a reasoning item, then
//! one call of a configured `function` tool (round robin, or the one
//! `tool_choice` names), sometimes two when `parallel_tool_calls` is not
//! false, whose arguments give each required parameter a plausible value
//! of its JSON Schema type. Without function tools (or with `tool_choice`
//! `none` or an MCP tool) it answers with a message, which the voice speaks
//! once the response completes. The client answers each call with one
//! `function_call_output` (`response.item.create`) and continues with
//! `response.create`; the continuation is a message, which the voice
//! speaks. Neither command is acknowledged: the SDK documents no server
//! event for them.
//!
//! `response.create` is held to the strict reading: it is refused while the
//! latest backend response is in progress or has a call without output
//! (`ResponseCreateEarly`), and when there is nothing new to continue
//! (`ResponseCreateRepeated`), so a client that continues too early must
//! continue again once it may. Every event is paced on the session
//! timeline, [`LiveSimConfig::backend_gap`] apart. Response and call ids
//! come from the simulator's shared counter, so none recurs in any session
//! of one simulator, and a session's calls die with it.

// Reading a `serde_json::Value` by key yields `Null` for a missing key and
// never panics; the only writes index objects built a few lines above.
#![allow(clippy::indexing_slicing, reason = "serde_json::Value key access, see above")]

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::config::LiveSimConfig;
use super::schema::{self, Refusal};
use super::session::Ids;
use super::violations::{LiveSessionStats, LiveViolationKind as Kind};

/// What the backend has for the session to do, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum Output {
    /// Send one `response.event` envelope around `event`; `None` omits its
    /// `delegation_id`.
    Event { delegation_id: Option<String>, event: Value },
    /// Have the voice say this.
    Speak(String),
}

/// A client command the backend refuses or records: the violation, and the
/// error to send (none for one the service accepts).
#[derive(Debug)]
pub(crate) struct Breach {
    pub(crate) kind: Kind,
    pub(crate) detail: String,
    pub(crate) refusal: Option<Refusal>,
}

impl Breach {
    fn refused(kind: Kind, refusal: Refusal) -> Breach {
        Breach { kind, detail: refusal.message.clone(), refusal: Some(refusal) }
    }
}

/// What the backend answers when it calls no tool.
const NO_TOOL_ANSWER: &str = "I looked into that and everything is in order.";
/// The most words of the tool outputs a continuation quotes, so the voice
/// says a few words of the result rather than all of it.
const QUOTED_WORDS: usize = 8;
/// The most characters of a tool output kept for its continuation.
const OUTPUT_KEPT: usize = 400;

/// A configured `function` tool.
#[derive(Debug)]
struct FunctionTool {
    name: String,
    parameters: Value,
}

/// One backend response, planned in full when it starts.
#[derive(Debug)]
struct Response {
    id: String,
    delegation_id: String,
    /// Its function calls, in output order: known when planned, sent later.
    calls: Vec<String>,
    created_at: u64,
    /// The next `sequence_number` of its stream.
    sequence: u64,
    /// The next `output_index`.
    output_index: u64,
    /// `response.completed` was sent.
    completed: bool,
    /// A `response.create` continued it.
    continued: bool,
}

/// A function call that was sent.
#[derive(Debug)]
struct Call {
    outputs: u32,
    /// The first output, clipped.
    output: String,
}

/// One event of a planned response.
#[derive(Debug)]
enum Step {
    Created,
    Reasoning,
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
    Message(String),
    /// The end, and what the voice then says, if anything.
    Completed {
        speak: Option<String>,
    },
}

#[derive(Debug)]
struct Scheduled {
    at_ms: u64,
    response: usize,
    step: Step,
}

/// The Responses backend of one session.
#[derive(Debug)]
pub(crate) struct Backend {
    /// `delegation.responses` as started and updated.
    config: Value,
    tools: Vec<FunctionTool>,
    /// The round robin over `tools`.
    next_tool: usize,
    responses: Vec<Response>,
    calls: HashMap<String, Call>,
    /// Events still to send, by timeline position (in planning order for
    /// equal positions).
    scheduled: VecDeque<Scheduled>,
    gap_ms: (u64, u64),
    duplicate_call: f64,
    uncorrelated: f64,
    /// The Unix time of the session's timeline origin, in seconds.
    started_unix: u64,
    rng: u64,
}

impl Backend {
    /// The backend of a session started with this `delegation.responses`.
    pub(crate) fn new(
        config: &Value,
        sim: &LiveSimConfig,
        started_unix: u64,
        seed: u64,
    ) -> Backend {
        let (low, high) = (ms(sim.backend_gap.0), ms(sim.backend_gap.1));
        let mut backend = Backend {
            config: config.clone(),
            tools: Vec::new(),
            next_tool: 0,
            responses: Vec::new(),
            calls: HashMap::new(),
            scheduled: VecDeque::new(),
            gap_ms: (low, high.max(low)),
            duplicate_call: sim.faults.duplicate_function_call,
            uncorrelated: sim.faults.uncorrelated_events,
            started_unix,
            rng: seed | 1,
        };
        backend.read_tools();
        backend
    }

    /// The config as it stands, for the session resource.
    pub(crate) fn config(&self) -> &Value {
        &self.config
    }

    /// Applies a sparse `session.update` of the config: a field given
    /// replaces the current one, a null clears it, an omitted one stays
    /// (openai-python `responses_delegation_update_config.py`). It applies
    /// to responses planned from now on.
    pub(crate) fn update(&mut self, update: &Value) {
        let (Some(config), Some(update)) = (self.config.as_object_mut(), update.as_object()) else {
            return;
        };
        for (key, value) in update {
            if value.is_null() {
                config.remove(key);
            } else {
                config.insert(key.clone(), value.clone());
            }
        }
        self.read_tools();
    }

    fn read_tools(&mut self) {
        self.tools = self.config["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|tool| tool["type"] == "function")
            .map(|tool| FunctionTool {
                name: tool["name"].as_str().unwrap_or_default().to_owned(),
                parameters: tool["parameters"].clone(),
            })
            .collect();
    }

    /// The Live model delegated at `at_ms`: plans the backend's response
    /// for `delegation_id` and returns its id.
    pub(crate) fn delegate(&mut self, ids: &Ids, delegation_id: &str, at_ms: u64) -> String {
        let index = self.responses.len();
        let id = unique(ids, "resp", self.random());
        let mut at = at_ms;
        self.schedule(at, index, Step::Created);
        at += self.gap();
        self.schedule(at, index, Step::Reasoning);
        let mut calls = Vec::new();
        for tool in self.plan_calls() {
            let Some(tool) = self.tools.get(tool) else { continue };
            let (name, arguments) = (tool.name.clone(), arguments(&tool.parameters));
            let call_id = unique(ids, "call", self.random());
            calls.push(call_id.clone());
            at += self.gap();
            self.schedule(at, index, Step::Call { call_id, name, arguments });
        }
        let speak = calls.is_empty().then(|| NO_TOOL_ANSWER.to_owned());
        if let Some(text) = &speak {
            at += self.gap();
            self.schedule(at, index, Step::Message(text.clone()));
        }
        at += self.gap();
        self.schedule(at, index, Step::Completed { speak });
        self.responses.push(Response::new(id.clone(), delegation_id, calls, self.unix(at_ms)));
        id
    }

    /// The tools the next delegated response calls, by index.
    fn plan_calls(&mut self) -> Vec<usize> {
        let choice = &self.config["tool_choice"];
        if self.tools.is_empty() || choice == "none" || choice["type"] == "mcp" {
            return Vec::new();
        }
        let forced =
            choice["name"].as_str().and_then(|n| self.tools.iter().position(|t| t.name == n));
        let parallel = self.config["parallel_tool_calls"] != false;
        let count = if parallel && self.random().is_multiple_of(3) { 2 } else { 1 };
        let mut planned = Vec::with_capacity(count);
        for _ in 0..count {
            let next = self.next_tool % self.tools.len();
            planned.push(forced.unwrap_or_else(|| {
                self.next_tool += 1;
                next
            }));
        }
        planned
    }

    /// Everything due by `now_ms` on the timeline, in order.
    pub(crate) fn due(
        &mut self,
        ids: &Ids,
        now_ms: u64,
        stats: &mut LiveSessionStats,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        while self.scheduled.front().is_some_and(|s| s.at_ms <= now_ms) {
            let Some(Scheduled { response, step, .. }) = self.scheduled.pop_front() else { break };
            self.step(ids, response, step, stats, &mut out);
        }
        out
    }

    fn step(
        &mut self,
        ids: &Ids,
        index: usize,
        step: Step,
        stats: &mut LiveSessionStats,
        out: &mut Vec<Output>,
    ) {
        match step {
            Step::Created => {
                let mut event = json!({"type": "response.created"});
                event["response"] = self.snapshot(index);
                self.emit(index, event, false, out);
            }
            Step::Reasoning => {
                let id = unique(ids, "rs", self.random());
                let item = json!({"type": "reasoning", "id": id, "summary": []});
                let event = self.item_done(index, item);
                self.emit(index, event, false, out);
            }
            Step::Call { call_id, name, arguments } => {
                stats.function_calls += 1;
                let item = json!({
                    "type": "function_call",
                    "id": unique(ids, "fc", self.random()),
                    "call_id": call_id,
                    "name": name,
                    "arguments": arguments,
                    "status": "completed",
                });
                self.calls.insert(call_id, Call { outputs: 0, output: String::new() });
                let event = self.item_done(index, item);
                let twice = self.roll(self.duplicate_call);
                self.emit(index, event, twice, out);
            }
            Step::Message(text) => {
                let item = json!({
                    "type": "message",
                    "id": unique(ids, "msg", self.random()),
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                });
                let event = self.item_done(index, item);
                self.emit(index, event, false, out);
            }
            Step::Completed { speak } => {
                if let Some(response) = self.responses.get_mut(index) {
                    response.completed = true;
                }
                let mut event = json!({"type": "response.completed"});
                event["response"] = self.snapshot(index);
                self.emit(index, event, false, out);
                out.extend(speak.map(Output::Speak));
            }
        }
    }

    fn item_done(&mut self, index: usize, item: Value) -> Value {
        let output_index = self.responses.get_mut(index).map_or(0, |response| {
            response.output_index += 1;
            response.output_index - 1
        });
        let mut event = json!({"type": "response.output_item.done", "output_index": output_index});
        event["item"] = item;
        event
    }

    /// Stamps the next `sequence_number` of response `index` on `event` and
    /// sends it, `twice` as a client on two connections sees it.
    fn emit(&mut self, index: usize, mut event: Value, twice: bool, out: &mut Vec<Output>) {
        let Some(response) = self.responses.get_mut(index) else { return };
        event["sequence_number"] = json!(response.sequence);
        response.sequence += 1;
        let delegation_id = response.delegation_id.clone();
        for _ in 0..if twice { 2 } else { 1 } {
            let correlated = !self.roll(self.uncorrelated);
            let delegation_id = correlated.then(|| delegation_id.clone());
            out.push(Output::Event { delegation_id, event: event.clone() });
        }
    }

    /// A lifecycle snapshot of response `index`.
    fn snapshot(&self, index: usize) -> Value {
        let Some(response) = self.responses.get(index) else { return Value::Null };
        let (status, usage) = if response.completed {
            let output = 24 * response.output_index;
            let usage = json!({
                "input_tokens": 180,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output,
                "output_tokens_details": {"reasoning_tokens": 16},
                "total_tokens": 180 + output,
            });
            ("completed", usage)
        } else {
            ("in_progress", Value::Null)
        };
        let tool_choice = match &self.config["tool_choice"] {
            Value::Null => json!("auto"),
            choice => choice.clone(),
        };
        json!({
            "id": response.id,
            "object": "response",
            "created_at": response.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": self.config["model"],
            "instructions": null,
            "max_output_tokens": self.config["max_output_tokens"],
            "output": [],
            "parallel_tool_calls": self.config["parallel_tool_calls"].as_bool().unwrap_or(true),
            "tool_choice": tool_choice,
            "tools": [],
            "usage": usage,
        })
    }

    /// A `response.item.create` item: one output of a call this session
    /// made, or a breach.
    pub(crate) fn item_create(
        &mut self,
        item: &Value,
        stats: &mut LiveSessionStats,
    ) -> Option<Breach> {
        // A user message may omit its `type`; an item with neither `type`
        // nor `role` is read as a tool output that lacks its type.
        let tool_output = item["type"] == "function_call_output"
            || (item.get("type").is_none() && item.get("role").is_none());
        if !tool_output {
            let what = item["type"].as_str().unwrap_or("message");
            // Ours: a limit of the simulator, not of the API.
            let refusal = Refusal::uncoded(
                format!("The simulator supports function_call_output items only, not '{what}'."),
                Some("item.type".to_owned()),
            );
            return Some(Breach::refused(Kind::Unsupported, refusal));
        }
        if let Err(refusal) = schema::validate_function_call_output(item) {
            return Some(Breach::refused(Kind::InvalidEvent, refusal));
        }
        let call_id = item["call_id"].as_str().unwrap_or_default();
        let Some(call) = self.calls.get_mut(call_id) else {
            // Ours: the service's text is not recorded.
            let refusal = Refusal::uncoded(
                format!("Unknown call_id: '{call_id}'."),
                Some("item.call_id".to_owned()),
            );
            return Some(Breach::refused(Kind::UnknownCallId, refusal));
        };
        call.outputs += 1;
        stats.function_call_outputs += 1;
        if call.outputs > 1 {
            // The service takes it as a new item; the call already had its
            // one output.
            stats.duplicate_function_call_outputs += 1;
            let detail = format!("output {} for {call_id}", call.outputs);
            return Some(Breach { kind: Kind::DuplicateToolOutput, detail, refusal: None });
        }
        call.output =
            item["output"].as_str().unwrap_or_default().chars().take(OUTPUT_KEPT).collect();
        None
    }

    /// A `response.create` at `at_ms`: continues the latest backend response
    /// with its tool outputs, or is a breach.
    pub(crate) fn create(
        &mut self,
        ids: &Ids,
        at_ms: u64,
        stats: &mut LiveSessionStats,
    ) -> Option<Breach> {
        let Some(latest) = self.responses.last() else {
            // Ours: a limit of the simulator; the service would run the
            // backend on the conversation so far.
            let refusal = Refusal::uncoded(
                "The simulator runs the Responses backend for delegations only; there is no delegated response to continue.".to_owned(),
                None,
            );
            return Some(Breach::refused(Kind::Unsupported, refusal));
        };
        if !latest.completed {
            // Ours: the service's answer is not recorded.
            let refusal = Refusal::uncoded(
                format!(
                    "Response '{}' is still in progress; continue it after response.completed.",
                    latest.id
                ),
                None,
            );
            return Some(Breach::refused(Kind::ResponseCreateEarly, refusal));
        }
        let answered = |call: &String| self.calls.get(call).is_some_and(|c| c.outputs > 0);
        if let Some(missing) = latest.calls.iter().find(|call| !answered(call)) {
            // The Responses API's text for a continuation that lacks a tool
            // output.
            let refusal = Refusal::uncoded(
                format!("No tool output found for function call {missing}."),
                None,
            );
            return Some(Breach::refused(Kind::ResponseCreateEarly, refusal));
        }
        if latest.calls.is_empty() || latest.continued {
            // Ours: the service's answer is not recorded.
            let refusal = Refusal::uncoded(
                format!("Response '{}' has no new tool output to continue from.", latest.id),
                None,
            );
            return Some(Breach::refused(Kind::ResponseCreateRepeated, refusal));
        }
        let outputs: Vec<&str> = latest
            .calls
            .iter()
            .filter_map(|call| self.calls.get(call))
            .map(|c| c.output.as_str())
            .collect();
        let quoted: Vec<&str> =
            outputs.iter().flat_map(|o| o.split_whitespace()).take(QUOTED_WORDS).collect();
        let text = if quoted.is_empty() {
            "That is done.".to_owned()
        } else {
            format!("Here is what I found: {}", quoted.join(" "))
        };
        let delegation_id = latest.delegation_id.clone();
        if let Some(latest) = self.responses.last_mut() {
            latest.continued = true;
        }
        stats.continuations += 1;
        let index = self.responses.len();
        let id = unique(ids, "resp", self.random());
        self.schedule(at_ms, index, Step::Created);
        let at = at_ms + self.gap();
        self.schedule(at, index, Step::Message(text.clone()));
        let at = at + self.gap();
        self.schedule(at, index, Step::Completed { speak: Some(text) });
        self.responses.push(Response::new(id, &delegation_id, Vec::new(), self.unix(at_ms)));
        None
    }

    /// Counts, as the session ends, the delegations with a call that never
    /// got its output.
    pub(crate) fn tally_at_close(&self, stats: &mut LiveSessionStats) {
        let unanswered = |call: &String| self.calls.get(call).is_some_and(|c| c.outputs == 0);
        stats.delegations_with_unanswered_calls_at_close =
            self.responses.iter().filter(|r| r.calls.iter().any(unanswered)).count() as u64;
    }

    fn schedule(&mut self, at_ms: u64, response: usize, step: Step) {
        let position = self.scheduled.partition_point(|s| s.at_ms <= at_ms);
        self.scheduled.insert(position, Scheduled { at_ms, response, step });
    }

    fn unix(&self, at_ms: u64) -> u64 {
        self.started_unix + at_ms / 1000
    }

    /// The timeline to the next event of a response.
    fn gap(&mut self) -> u64 {
        let (low, high) = self.gap_ms;
        low + self.random() % (high - low + 1)
    }

    fn roll(&mut self, probability: f64) -> bool {
        probability > 0.0 && (self.random() % 1_000_000) as f64 / 1_000_000.0 < probability
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

impl Response {
    fn new(id: String, delegation_id: &str, calls: Vec<String>, created_at: u64) -> Response {
        Response {
            id,
            delegation_id: delegation_id.to_owned(),
            calls,
            created_at,
            sequence: 0,
            output_index: 0,
            completed: false,
            continued: false,
        }
    }
}

/// An id no other of this simulator has: the shared counter makes it
/// unique, the salt makes it opaque.
fn unique(ids: &Ids, prefix: &str, salt: u64) -> String {
    format!("{prefix}_{:012x}{:08x}", ids.next(), salt as u32)
}

/// A call's `arguments`: a JSON object with each required property of the
/// tool's `parameters` set to a plausible value.
fn arguments(parameters: &Value) -> String {
    plausible_object(parameters).to_string()
}

fn plausible_object(schema: &Value) -> Value {
    let mut object = Map::new();
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        object.insert(name.to_owned(), plausible(&schema["properties"][name]));
    }
    Value::Object(object)
}

/// A value that fits this JSON Schema: its first `enum` value or its
/// `const`, else one of its (first non-null) `type`.
fn plausible(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.first()) {
        return first.clone();
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    let ty = match &schema["type"] {
        Value::String(ty) => ty.as_str(),
        Value::Array(types) => {
            types.iter().filter_map(Value::as_str).find(|ty| *ty != "null").unwrap_or("null")
        }
        _ => "string",
    };
    match ty {
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "array" => json!([]),
        "object" => plausible_object(schema),
        "null" => Value::Null,
        _ => json!("example"),
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
