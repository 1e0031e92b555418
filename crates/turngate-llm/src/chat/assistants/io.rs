//! The Assistants backend's HTTP calls and the async flow around them.
//!
//! The only file of the provider that does IO. Decisions come from
//! `run.rs` (what to do about a run) and `protocol.rs` (replies, trims,
//! tool outputs); this file sequences the calls and bounds every wait.

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::{Instant, sleep, timeout_at};

use super::super::remembered::Remembered;
use super::super::rest::{Failure, Idempotency, Method, RestClient, RestConfig};
use super::super::retry::random;
use super::super::turns::ConversationTurns;
use super::super::{ChatBackend, ChatCaps, ChatError, ConversationId, Reply, UserMessage};
use super::protocol::{new_tag, parse_arguments, reply_text, tool_output, trim_plan};
use super::run::{Gate, Step, gate, step};
use super::wire::{
    CreateMessage, CreateRun, List, Message, Refusal, Run, SubmitToolOutputs, Thread, ToolOutput,
    classify, tag_metadata, tag_of,
};
use super::{AssistantsConfig, BETA_HEADER, PROVIDER};

/// How many recent runs the gate inspects. Only one run can be active on a
/// thread, and it is always among the newest, so one page is enough; the
/// list is re-read after every wait in case another client started one.
const RUNS_PAGE: usize = 20;
/// How many recent messages are searched for a tag after an uncertain create.
const TAG_SEARCH_PAGE: usize = 20;
/// The most pages of old messages one trim deletes, so a trim is bounded.
const TRIM_PAGES: usize = 10;

/// The Assistants API as a [`ChatBackend`]: one thread per conversation,
/// cancel-and-await before every message.
pub struct AssistantsBackend {
    rest: RestClient,
    config: AssistantsConfig,
    threads: Mutex<Remembered>,
    turns: ConversationTurns,
}

impl std::fmt::Debug for AssistantsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantsBackend")
            .field("config", &self.config)
            .field("threads", &lock(&self.threads).len())
            .finish_non_exhaustive()
    }
}

impl AssistantsBackend {
    /// A backend with `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: AssistantsConfig) -> Result<Self, ChatError> {
        if config.assistant_id.is_empty() {
            return Err(ChatError::Config {
                provider: PROVIDER,
                message: "no assistant id (TURNGATE_ASSISTANT_ID)".to_owned(),
            });
        }
        let rest = RestClient::new(config.rest.clone(), PROVIDER, Some(BETA_HEADER))?;
        let remember = config.remember;
        Ok(Self {
            rest,
            config,
            threads: Mutex::new(Remembered::new(remember)),
            turns: ConversationTurns::default(),
        })
    }

    /// Creates an assistant (`POST /assistants`) and returns its id: what a
    /// server does at start when it is given no assistant id. `tools` are
    /// function definitions (`name`, `description`, `parameters`).
    pub async fn create_assistant(
        rest: &RestConfig,
        model: &str,
        instructions: &str,
        tools: &[Value],
        timeout: std::time::Duration,
    ) -> Result<String, ChatError> {
        let client = RestClient::new(rest.clone(), PROVIDER, Some(BETA_HEADER))?;
        let tools: Vec<Value> =
            tools.iter().map(|f| serde_json::json!({"type": "function", "function": f})).collect();
        let body = serde_json::json!({
            "model": model,
            "name": "turngate",
            "instructions": instructions,
            "tools": tools,
            "metadata": {"created_by": "turngate"},
        });
        let deadline = Instant::now() + timeout;
        let success = client
            .send(Method::Post, "/assistants", Some(&body), Idempotency::Unsafe, deadline)
            .await
            .map_err(|f| f.into_chat_error(PROVIDER))?;
        let created: Value =
            serde_json::from_slice(&success.body).map_err(|e| ChatError::Protocol {
                provider: PROVIDER,
                message: format!("POST /assistants: unexpected body: {e}"),
            })?;
        match created.get("id").and_then(Value::as_str) {
            Some(id) if id.starts_with("asst_") => Ok(id.to_owned()),
            _ => Err(ChatError::Protocol {
                provider: PROVIDER,
                message: format!("POST /assistants: no assistant id in {created}"),
            }),
        }
    }

    /// Uses an existing thread for `conversation` instead of creating one.
    pub fn bind_thread(&self, conversation: ConversationId, thread_id: impl Into<String>) {
        lock(&self.threads).insert(conversation, thread_id.into());
    }

    /// The thread that holds `conversation`, if one was created or bound.
    pub fn thread_of(&self, conversation: &ConversationId) -> Option<String> {
        lock(&self.threads).get(conversation)
    }

    async fn submit_locked(
        &self,
        conversation: &ConversationId,
        text: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        let thread = self.thread_for(conversation, deadline).await?;
        let tag = new_tag(random());
        self.clear(&thread, deadline, started).await?;
        self.add_message(&thread, text, &tag, deadline, started).await?;
        let run = self.create_run(&thread, &tag, deadline, started).await?;
        let run_id = run.id.clone();
        match self.drive(&thread, run, deadline, started).await {
            Ok(reply) => {
                if let Some(keep) = self.config.keep_last_messages {
                    // A failed trim costs history length, not the reply.
                    if let Err(error) = self.trim(&thread, keep, deadline).await {
                        tracing::warn!(%thread, %error, "trimming the thread failed");
                    }
                }
                Ok(reply)
            }
            Err(error) => {
                if matches!(error, ChatError::Timeout { .. }) {
                    // Leave the thread writable for the next message: our
                    // run is cancelled now, and the next gate awaits it.
                    self.cancel_quietly(&thread, &run_id).await;
                }
                Err(error)
            }
        }
    }

    /// The conversation's thread, created on first use.
    async fn thread_for(
        &self,
        conversation: &ConversationId,
        deadline: Instant,
    ) -> Result<String, ChatError> {
        if let Some(thread) = self.thread_of(conversation) {
            return Ok(thread);
        }
        let body = serde_json::json!({});
        // Creating a thread twice only leaves an unused thread behind, so the
        // create is treated as safe to resend.
        let thread: Thread = self
            .call(Method::Post, "/threads", Some(&body), Idempotency::Safe, deadline)
            .await
            .map_err(|f| f.into_chat_error(PROVIDER))?;
        lock(&self.threads).insert(conversation.clone(), thread.id.clone());
        Ok(thread.id)
    }

    /// Cancels or awaits every run that is not terminal, until none is left.
    async fn clear(
        &self,
        thread: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<(), ChatError> {
        loop {
            let path = format!("/threads/{thread}/runs?limit={RUNS_PAGE}&order=desc");
            let runs: List<Run> = self.get(&path, deadline).await?;
            let blocking: Vec<Run> =
                runs.data.into_iter().filter(|run| gate(&run.status) != Gate::Clear).collect();
            if blocking.is_empty() {
                return Ok(());
            }
            for run in blocking {
                self.end_run(thread, run, deadline, started).await?;
            }
        }
    }

    /// Cancels `run` unless it is already cancelling, then polls it until it
    /// is terminal.
    async fn end_run(
        &self,
        thread: &str,
        mut run: Run,
        deadline: Instant,
        started: Instant,
    ) -> Result<(), ChatError> {
        let mut attempt = 0;
        let mut cancelled = false;
        loop {
            match gate(&run.status) {
                Gate::Clear => return Ok(()),
                // One cancel per run: a second one changes nothing, and a
                // server that still shows the run active is polled instead.
                Gate::Cancel if !cancelled => {
                    tracing::debug!(%thread, run = %run.id, status = run.status.as_str(), "cancelling");
                    cancelled = true;
                    if let Some(after) = self.cancel(thread, &run.id, deadline).await? {
                        run = after;
                        continue;
                    }
                }
                Gate::Cancel | Gate::Await => {}
            }
            let interval = self.config.poll.interval(attempt, random());
            attempt += 1;
            let waiting_for = "to end before adding the message";
            run = self.poll_run(thread, &run, interval, deadline, started, waiting_for).await?;
        }
    }

    /// Waits `interval` and reads `run` again. When the deadline comes
    /// first, or passes while the read is in flight, the timeout names the
    /// run and its last known status (what the caller waited for), never
    /// the request that happened to be open.
    async fn poll_run(
        &self,
        thread: &str,
        run: &Run,
        interval: std::time::Duration,
        deadline: Instant,
        started: Instant,
        waiting_for: &str,
    ) -> Result<Run, ChatError> {
        let timed_out = || ChatError::Timeout {
            provider: PROVIDER,
            waiting_for: format!(
                "run {} ({}) on thread {thread} {waiting_for}",
                run.id,
                run.status.as_str()
            ),
            elapsed: started.elapsed(),
        };
        if Instant::now() + interval >= deadline {
            return Err(timed_out());
        }
        sleep(interval).await;
        match self.get(&format!("/threads/{thread}/runs/{}", run.id), deadline).await {
            Err(ChatError::Timeout { .. }) => Err(timed_out()),
            other => other,
        }
    }

    /// Asks for a cancel; returns the run as the answer shows it, or `None`
    /// when the cancel was refused because the run had moved on (re-read it).
    async fn cancel(
        &self,
        thread: &str,
        run_id: &str,
        deadline: Instant,
    ) -> Result<Option<Run>, ChatError> {
        let path = format!("/threads/{thread}/runs/{run_id}/cancel");
        match self.call::<Run>(Method::Post, &path, None, Idempotency::Safe, deadline).await {
            Ok(run) => Ok(Some(run)),
            Err(Failure::Api { status, error })
                if classify(status, &error) == Refusal::NotCancellable =>
            {
                Ok(None)
            }
            Err(failure) => Err(failure.into_chat_error(PROVIDER)),
        }
    }

    /// Best-effort cancel on the way out; a failure is only logged because
    /// the next message's gate will find and handle the run anyway.
    async fn cancel_quietly(&self, thread: &str, run_id: &str) {
        let deadline = Instant::now() + self.config.rest.request_timeout;
        if let Err(error) = self.cancel(thread, run_id, deadline).await {
            tracing::warn!(%thread, run = %run_id, %error, "cancelling a timed-out run failed");
        }
    }

    /// Adds the user message, clearing the thread again whenever the API
    /// still reports an active run.
    async fn add_message(
        &self,
        thread: &str,
        text: &str,
        tag: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<String, ChatError> {
        let path = format!("/threads/{thread}/messages");
        let body = serde_json::to_value(CreateMessage {
            role: "user",
            content: text,
            metadata: tag_metadata(tag),
        })
        .map_err(|e| protocol_error(&e))?;
        loop {
            match self
                .call::<Message>(Method::Post, &path, Some(&body), Idempotency::Unsafe, deadline)
                .await
            {
                Ok(message) => return Ok(message.id),
                Err(Failure::Api { status, error }) => match classify(status, &error) {
                    Refusal::ActiveRun { run_id } => {
                        tracing::debug!(%thread, run = ?run_id, "message refused: active run");
                        self.clear(thread, deadline, started).await?;
                    }
                    _ => return Err(Failure::Api { status, error }.into_chat_error(PROVIDER)),
                },
                Err(Failure::Uncertain(message)) => {
                    tracing::debug!(%thread, %message, "message create uncertain; looking for it");
                    if let Some(id) = self.find_message(thread, tag, deadline).await? {
                        return Ok(id);
                    }
                }
                Err(failure) => return Err(failure.into_chat_error(PROVIDER)),
            }
        }
    }

    async fn find_message(
        &self,
        thread: &str,
        tag: &str,
        deadline: Instant,
    ) -> Result<Option<String>, ChatError> {
        let path = format!("/threads/{thread}/messages?limit={TAG_SEARCH_PAGE}&order=desc");
        let page: List<Message> = self.get(&path, deadline).await?;
        Ok(page.data.into_iter().find(|m| tag_of(m.metadata.as_ref()) == Some(tag)).map(|m| m.id))
    }

    /// Creates our run, clearing the thread again whenever another run got
    /// there first.
    async fn create_run(
        &self,
        thread: &str,
        tag: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<Run, ChatError> {
        let path = format!("/threads/{thread}/runs");
        let body = serde_json::to_value(CreateRun {
            assistant_id: &self.config.assistant_id,
            metadata: tag_metadata(tag),
        })
        .map_err(|e| protocol_error(&e))?;
        loop {
            match self
                .call::<Run>(Method::Post, &path, Some(&body), Idempotency::Unsafe, deadline)
                .await
            {
                Ok(run) => return Ok(run),
                Err(Failure::Api { status, error }) => match classify(status, &error) {
                    Refusal::ActiveRun { run_id } => {
                        tracing::debug!(%thread, run = ?run_id, "run refused: active run");
                        self.clear(thread, deadline, started).await?;
                    }
                    _ => return Err(Failure::Api { status, error }.into_chat_error(PROVIDER)),
                },
                Err(Failure::Uncertain(message)) => {
                    tracing::debug!(%thread, %message, "run create uncertain; looking for it");
                    let list = format!("/threads/{thread}/runs?limit={RUNS_PAGE}&order=desc");
                    let runs: List<Run> = self.get(&list, deadline).await?;
                    if let Some(run) =
                        runs.data.into_iter().find(|r| tag_of(r.metadata.as_ref()) == Some(tag))
                    {
                        return Ok(run);
                    }
                }
                Err(failure) => return Err(failure.into_chat_error(PROVIDER)),
            }
        }
    }

    /// Polls our run to the end, answering its tool calls on the way.
    async fn drive(
        &self,
        thread: &str,
        mut run: Run,
        deadline: Instant,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        let mut attempt = 0;
        let mut tool_calls = 0;
        loop {
            match step(&run) {
                Step::Collect => return self.collect(thread, &run.id, tool_calls, deadline).await,
                Step::Fail { status, detail } => {
                    return Err(ChatError::Ended {
                        provider: PROVIDER,
                        id: run.id.clone(),
                        status,
                        detail,
                    });
                }
                Step::SubmitToolOutputs(calls) => {
                    let Some(handler) = self.config.tools.clone() else {
                        let tools = calls.iter().map(|c| c.name.clone()).collect();
                        // The thread stays blocked until this run ends, so it
                        // is cancelled and awaited before the error returns.
                        let id = run.id.clone();
                        self.end_run(thread, run, deadline, started).await?;
                        return Err(ChatError::NoToolHandler { provider: PROVIDER, id, tools });
                    };
                    let mut outputs = Vec::with_capacity(calls.len());
                    for call in calls {
                        let result = match parse_arguments(&call.name, &call.arguments) {
                            Ok(arguments) => {
                                match timeout_at(deadline, handler.call(&call.name, arguments))
                                    .await
                                {
                                    Ok(result) => result,
                                    Err(_) => {
                                        return Err(ChatError::Timeout {
                                            provider: PROVIDER,
                                            waiting_for: format!(
                                                "tool {} for run {} on thread {thread}",
                                                call.name, run.id
                                            ),
                                            elapsed: started.elapsed(),
                                        });
                                    }
                                }
                            }
                            Err(error) => Err(error),
                        };
                        tool_calls += 1;
                        outputs.push(ToolOutput {
                            tool_call_id: call.id,
                            output: tool_output(result),
                        });
                    }
                    run = self.submit_outputs(thread, &run.id, outputs, deadline).await?;
                    attempt = 0;
                    continue;
                }
                Step::Wait => {}
            }
            let interval = self.config.poll.interval(attempt, random());
            attempt += 1;
            run = self.poll_run(thread, &run, interval, deadline, started, "to finish").await?;
        }
    }

    /// Submits every output in one request; when the run no longer accepts
    /// them (it expired, or an earlier uncertain submission landed), the
    /// run is re-read and the tracker decides.
    async fn submit_outputs(
        &self,
        thread: &str,
        run_id: &str,
        outputs: Vec<ToolOutput>,
        deadline: Instant,
    ) -> Result<Run, ChatError> {
        let path = format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs");
        let body = serde_json::to_value(SubmitToolOutputs { tool_outputs: outputs })
            .map_err(|e| protocol_error(&e))?;
        match self
            .call::<Run>(Method::Post, &path, Some(&body), Idempotency::Unsafe, deadline)
            .await
        {
            Ok(run) => Ok(run),
            Err(Failure::Api { status, error })
                if classify(status, &error) == Refusal::NoToolOutputsAccepted =>
            {
                self.get(&format!("/threads/{thread}/runs/{run_id}"), deadline).await
            }
            Err(Failure::Uncertain(_)) => {
                self.get(&format!("/threads/{thread}/runs/{run_id}"), deadline).await
            }
            Err(failure) => Err(failure.into_chat_error(PROVIDER)),
        }
    }

    /// Reads the reply that `run_id` wrote.
    async fn collect(
        &self,
        thread: &str,
        run_id: &str,
        tool_calls: usize,
        deadline: Instant,
    ) -> Result<Reply, ChatError> {
        let path = format!("/threads/{thread}/messages?run_id={run_id}&order=asc&limit=100");
        let page: List<Message> = self.get(&path, deadline).await?;
        let text = reply_text(&page.data, run_id).ok_or_else(|| ChatError::Protocol {
            provider: PROVIDER,
            message: format!("run {run_id} completed without an assistant text message"),
        })?;
        Ok(Reply { text, upstream_id: run_id.to_owned(), tool_calls })
    }

    /// Deletes all but the newest `keep` messages.
    async fn trim(&self, thread: &str, keep: usize, deadline: Instant) -> Result<(), ChatError> {
        let mut skipped = 0;
        let mut after: Option<String> = None;
        for _ in 0..TRIM_PAGES {
            let mut path = format!("/threads/{thread}/messages?limit=100&order=desc");
            if let Some(after) = &after {
                path.push_str("&after=");
                path.push_str(after);
            }
            let page: List<Message> = self.get(&path, deadline).await?;
            for id in trim_plan(&page.data, skipped, keep) {
                let path = format!("/threads/{thread}/messages/{id}");
                self.call::<Value>(Method::Delete, &path, None, Idempotency::Safe, deadline)
                    .await
                    .map_err(|f| f.into_chat_error(PROVIDER))?;
            }
            skipped += page.data.len();
            if !page.has_more {
                break;
            }
            after = page.last_id;
        }
        Ok(())
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        deadline: Instant,
    ) -> Result<T, ChatError> {
        self.call(Method::Get, path, None, Idempotency::Safe, deadline)
            .await
            .map_err(|f| f.into_chat_error(PROVIDER))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency: Idempotency,
        deadline: Instant,
    ) -> Result<T, Failure> {
        self.rest.send_json(method, path, body, idempotency, deadline).await
    }
}

#[async_trait]
impl ChatBackend for AssistantsBackend {
    async fn submit(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Reply, ChatError> {
        let started = Instant::now();
        let deadline = message.deadline_or(started + self.config.deadline);
        let _turn = self.turns.take(conversation, deadline, PROVIDER).await?;
        self.submit_locked(conversation, &message.text, deadline, started).await
    }

    async fn cancel_active(&self, conversation: &ConversationId) -> Result<(), ChatError> {
        let Some(thread) = self.thread_of(conversation) else { return Ok(()) };
        let started = Instant::now();
        self.clear(&thread, started + self.config.deadline, started).await
    }

    fn capabilities(&self) -> ChatCaps {
        ChatCaps::new(true, self.config.tools.is_some(), self.config.keep_last_messages.is_some())
    }

    fn upstream_of(&self, conversation: &ConversationId) -> Option<String> {
        self.thread_of(conversation)
    }

    fn bind_upstream(&self, conversation: &ConversationId, upstream: String) {
        self.bind_thread(conversation.clone(), upstream);
    }
}

fn protocol_error(error: &serde_json::Error) -> ChatError {
    ChatError::Protocol { provider: PROVIDER, message: format!("encoding a request: {error}") }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps, consistent after every critical section.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
