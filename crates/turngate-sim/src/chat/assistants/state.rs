//! Threads, messages and runs over time: the Assistants simulator's state.
//!
//! Runs are advanced lazily: each holds its next scheduled transition, and
//! every access first applies the transitions due by now, at the times they
//! were due, so timestamps and the timeline are exact whatever the polling.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::SimConfig;
use super::super::model;
use super::super::record::{EventKind, Kind, Recorder};
use super::super::server::World;

/// A run's next scheduled transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// `queued` → `in_progress`.
    Start,
    /// `in_progress` → `completed` or `requires_action`.
    Finish,
    /// `requires_action` → `expired`.
    Expire,
    /// `cancelling` → `cancelled`.
    Cancelled,
}

#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) accepted: Instant,
    pub(crate) role: String,
    pub(crate) text: String,
    pub(crate) run_id: Option<String>,
    pub(crate) assistant_id: Option<String>,
    pub(crate) metadata: Value,
}

#[derive(Debug)]
pub(crate) struct Thread {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) metadata: Value,
    pub(crate) messages: Vec<Msg>,
    pub(crate) runs: Vec<String>,
    /// Every user text ever added, to catch duplicates even after deletes.
    seen: HashSet<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) thread_id: String,
    pub(crate) assistant_id: String,
    pub(crate) created_at: Instant,
    pub(crate) created: u64,
    pub(crate) status: &'static str,
    pub(crate) due: Option<(Instant, Due)>,
    pub(crate) tools: Vec<String>,
    pub(crate) metadata: Value,
    pub(crate) latest_user: String,
    pub(crate) hang: bool,
    pub(crate) calls: Vec<Call>,
    pub(crate) outputs: Vec<(String, String)>,
    pub(crate) started: Option<u64>,
    pub(crate) completed: Option<u64>,
    pub(crate) cancelled: Option<u64>,
    pub(crate) expires: u64,
    pub(crate) instructions: String,
}

impl Run {
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.status, "completed" | "cancelled" | "failed" | "incomplete" | "expired")
    }
}

/// The whole Assistants world.
#[derive(Debug)]
pub(crate) struct Threads {
    pub(crate) recorder: Recorder,
    pub(crate) threads: HashMap<String, Thread>,
    pub(crate) runs: HashMap<String, Run>,
    /// Assistants created through `POST /v1/assistants`.
    pub(crate) created: Vec<crate::chat::SimAssistant>,
    next: u64,
    start: Instant,
    start_unix: u64,
    pub(crate) config: SimConfig,
}

impl Threads {
    pub(crate) fn new(config: SimConfig) -> Self {
        Self {
            config,
            recorder: Recorder::default(),
            threads: HashMap::new(),
            runs: HashMap::new(),
            created: Vec::new(),
            next: 0,
            start: Instant::now(),
            start_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        }
    }
}

impl Threads {
    pub(crate) fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_sim{:06}", self.next)
    }

    pub(crate) fn unix(&self, at: Instant) -> u64 {
        self.start_unix + at.saturating_duration_since(self.start).as_secs()
    }

    fn offset(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    pub(crate) fn create_thread(&mut self, metadata: Value, now: Instant) -> String {
        let id = self.id("thread");
        let created = self.unix(now);
        self.threads.insert(
            id.clone(),
            Thread {
                id: id.clone(),
                created,
                metadata,
                messages: Vec::new(),
                runs: Vec::new(),
                seen: HashSet::new(),
            },
        );
        id
    }

    /// Adds a message (the caller has checked that no run is active).
    pub(crate) fn add_message(
        &mut self,
        thread_id: &str,
        role: &str,
        text: String,
        metadata: Value,
        now: Instant,
    ) -> Option<Msg> {
        let id = self.id("msg");
        let created = self.unix(now);
        let offset = self.offset(now);
        let thread = self.threads.get_mut(thread_id)?;
        if role == "user" && !thread.seen.insert(text.clone()) {
            self.recorder.violation(
                Kind::Duplicate,
                format!("thread {thread_id}: user text {text:?} added again"),
            );
        }
        let message = Msg {
            id: id.clone(),
            created,
            accepted: now,
            role: role.to_owned(),
            text,
            run_id: None,
            assistant_id: None,
            metadata,
        };
        thread.messages.push(message.clone());
        if role == "user" {
            self.recorder.event(offset, thread_id, EventKind::Accepted { id });
        }
        Some(message)
    }

    /// The run that blocks the thread, if any (after advancing to `now`).
    pub(crate) fn active_run(&self, thread_id: &str) -> Option<&Run> {
        let thread = self.threads.get(thread_id)?;
        thread.runs.iter().filter_map(|id| self.runs.get(id)).find(|run| !run.is_terminal())
    }

    /// Creates a run of `assistant_id` with `tools`, `queued` now.
    pub(crate) fn create_run(
        &mut self,
        thread_id: &str,
        assistant_id: &str,
        tools: Vec<String>,
        metadata: Value,
        instructions: String,
        now: Instant,
    ) -> Option<String> {
        let (queued, expires_after) = (self.config.queued, self.config.expires_after);
        let id = self.id("run");
        let created = self.unix(now);
        let expires = self.unix(now + expires_after);
        let thread = self.threads.get_mut(thread_id)?;
        let latest_user = thread
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.text.clone())
            .unwrap_or_default();
        thread.runs.push(id.clone());
        let hang = latest_user.contains(model::HANG);
        self.runs.insert(
            id.clone(),
            Run {
                id: id.clone(),
                thread_id: thread_id.to_owned(),
                assistant_id: assistant_id.to_owned(),
                created_at: now,
                created,
                status: "queued",
                due: Some((now + queued, Due::Start)),
                tools,
                metadata,
                latest_user,
                hang,
                calls: Vec::new(),
                outputs: Vec::new(),
                started: None,
                completed: None,
                cancelled: None,
                expires,
                instructions,
            },
        );
        Some(id)
    }

    /// Applies every transition of the thread's runs that is due by `now`.
    pub(crate) fn advance_thread(&mut self, thread_id: &str, now: Instant) {
        let Some(thread) = self.threads.get(thread_id) else { return };
        for run_id in thread.runs.clone() {
            self.advance_run(&run_id, now);
        }
    }

    fn advance_all(&mut self, now: Instant) {
        let ids: Vec<String> = self.runs.keys().cloned().collect();
        for id in ids {
            self.advance_run(&id, now);
        }
    }

    fn advance_run(&mut self, run_id: &str, now: Instant) {
        let (run_time, expires_after) = (self.config.run, self.config.expires_after);
        loop {
            let Some(run) = self.runs.get_mut(run_id) else { return };
            let Some((at, due)) = run.due else { return };
            if at > now {
                return;
            }
            run.due = None;
            match due {
                Due::Start => {
                    run.status = "in_progress";
                    run.started =
                        Some(self.start_unix + at.saturating_duration_since(self.start).as_secs());
                    if !run.hang {
                        run.due = Some((at + run_time, Due::Finish));
                    }
                }
                Due::Finish => {
                    let wanted: Vec<String> = if run.outputs.is_empty() {
                        model::wanted_tools(&run.latest_user, &run.tools)
                            .into_iter()
                            .cloned()
                            .collect()
                    } else {
                        Vec::new()
                    };
                    if wanted.is_empty() {
                        self.complete(run_id, at);
                    } else {
                        let arguments = model::arguments(&run.latest_user);
                        let expires = run.created_at + expires_after;
                        let calls = wanted
                            .into_iter()
                            .map(|name| Call {
                                id: String::new(),
                                name,
                                arguments: arguments.clone(),
                            })
                            .collect::<Vec<_>>();
                        let calls: Vec<Call> = calls
                            .into_iter()
                            .map(|mut call| {
                                self.next += 1;
                                call.id = format!("call_sim{:06}", self.next);
                                call
                            })
                            .collect();
                        if let Some(run) = self.runs.get_mut(run_id) {
                            run.status = "requires_action";
                            run.calls = calls;
                            run.due = Some((expires.max(at), Due::Expire));
                        }
                    }
                }
                Due::Expire => self.end(run_id, at, "expired"),
                Due::Cancelled => self.end(run_id, at, "cancelled"),
            }
        }
    }

    fn complete(&mut self, run_id: &str, at: Instant) {
        let Some(run) = self.runs.get(run_id) else { return };
        let text = model::reply(&run.latest_user, &run.outputs);
        let (thread_id, assistant_id) = (run.thread_id.clone(), run.assistant_id.clone());
        let id = self.id("msg");
        let created = self.unix(at);
        if let Some(thread) = self.threads.get_mut(&thread_id) {
            thread.messages.push(Msg {
                id,
                created,
                accepted: at,
                role: "assistant".to_owned(),
                text,
                run_id: Some(run_id.to_owned()),
                assistant_id: Some(assistant_id),
                metadata: json!({}),
            });
        }
        if let Some(run) = self.runs.get_mut(run_id) {
            run.completed = Some(created);
        }
        self.end(run_id, at, "completed");
    }

    fn end(&mut self, run_id: &str, at: Instant, status: &'static str) {
        let unix = self.unix(at);
        let offset = self.offset(at);
        let Some(run) = self.runs.get_mut(run_id) else { return };
        run.status = status;
        run.due = None;
        if status == "cancelled" {
            run.cancelled = Some(unix);
            self.recorder.stats.cancelled += 1;
        }
        if status == "completed" {
            self.recorder.stats.completed += 1;
        }
        let thread = run.thread_id.clone();
        self.recorder.event(
            offset,
            &thread,
            EventKind::Ended { id: run_id.to_owned(), status: status.to_owned() },
        );
    }

    /// Starts a cancel: `cancelling` now, `cancelled` after the cancel time.
    pub(crate) fn cancel(&mut self, run_id: &str, now: Instant) {
        let cancel = self.config.cancel;
        if let Some(run) = self.runs.get_mut(run_id) {
            run.status = "cancelling";
            run.due = Some((now + cancel, Due::Cancelled));
        }
    }

    /// Resumes a run with its tool outputs.
    pub(crate) fn resume(&mut self, run_id: &str, outputs: Vec<(String, String)>, now: Instant) {
        let queued = self.config.queued;
        if let Some(run) = self.runs.get_mut(run_id) {
            run.status = "queued";
            run.outputs = outputs;
            run.calls.clear();
            run.due = Some((now + queued, Due::Start));
        }
    }

    /// The run as the API shows it.
    pub(crate) fn run_json(&self, run: &Run) -> Value {
        let required_action = (run.status == "requires_action").then(|| {
            json!({"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls":
                run.calls.iter().map(|c| json!({"id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments}})).collect::<Vec<_>>()}})
        });
        json!({
            "id": run.id,
            "object": "thread.run",
            "created_at": run.created,
            "thread_id": run.thread_id,
            "assistant_id": run.assistant_id,
            "status": run.status,
            "required_action": required_action,
            "last_error": null,
            "expires_at": if run.is_terminal() { Value::Null } else { json!(run.expires) },
            "started_at": run.started,
            "cancelled_at": run.cancelled,
            "failed_at": null,
            "completed_at": run.completed,
            "incomplete_details": null,
            "model": "gpt-6-luna",
            "instructions": run.instructions,
            "tools": run.tools.iter().map(|name| json!({"type": "function",
                "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}))
                .collect::<Vec<_>>(),
            "metadata": run.metadata,
            "usage": null,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_prompt_tokens": null,
            "max_completion_tokens": null,
            "truncation_strategy": {"type": "auto", "last_messages": null},
            "response_format": "auto",
            "tool_choice": "auto",
            "parallel_tool_calls": true,
        })
    }

    pub(crate) fn thread_json(thread: &Thread) -> Value {
        json!({"id": thread.id, "object": "thread", "created_at": thread.created,
            "metadata": thread.metadata, "tool_resources": {}})
    }

    pub(crate) fn message_json(thread_id: &str, message: &Msg) -> Value {
        json!({
            "id": message.id,
            "object": "thread.message",
            "created_at": message.created,
            "assistant_id": message.assistant_id,
            "thread_id": thread_id,
            "run_id": message.run_id,
            "role": message.role,
            "content": [{"type": "text", "text": {"value": message.text, "annotations": []}}],
            "attachments": [],
            "metadata": message.metadata,
            "status": "completed",
            "incomplete_details": null,
            "completed_at": message.created,
            "incomplete_at": null,
        })
    }
}

impl World for Threads {
    fn recorder(&mut self) -> &mut Recorder {
        &mut self.recorder
    }

    fn settle(&mut self, now: Instant, _start: Instant) -> u64 {
        self.advance_all(now);
        let mut unanswered = 0;
        for thread in self.threads.values() {
            for message in thread.messages.iter().filter(|m| m.role == "user") {
                let answered = thread
                    .runs
                    .iter()
                    .filter_map(|id| self.runs.get(id))
                    .any(|run| run.status == "completed" && run.created_at >= message.accepted);
                if !answered {
                    unanswered += 1;
                }
            }
        }
        unanswered
    }

    fn texts(&mut self, container: &str, now: Instant, _start: Instant) -> Vec<(String, String)> {
        self.advance_all(now);
        self.threads
            .get(container)
            .map(|t| t.messages.iter().map(|m| (m.role.clone(), m.text.clone())).collect())
            .unwrap_or_default()
    }
}
