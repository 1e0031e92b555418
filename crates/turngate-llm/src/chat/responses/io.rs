//! The Responses backend's HTTP calls and the async flow around them.
//!
//! The only file of the provider that does IO; decisions come from
//! `protocol.rs`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::{Instant, sleep, timeout_at};

use super::super::remembered::Remembered;
use super::super::rest::{Failure, Idempotency, Method, RestClient};
use super::super::retry::random;
use super::super::turns::ConversationTurns;
use super::super::{
    ChatBackend, ChatCaps, ChatError, ConversationId, Reply, ToolError, UserMessage, output_text,
};
use super::protocol::{Call, Step, step};
use super::wire::{Conversation, CreateResponse, FunctionCallOutput, Refusal, Response, classify};
use super::{PROVIDER, ResponsesConfig};

/// The Responses API with Conversations as a [`ChatBackend`].
pub struct ResponsesBackend {
    rest: RestClient,
    config: ResponsesConfig,
    conversations: Mutex<Remembered>,
    active: Mutex<HashMap<ConversationId, String>>,
    turns: ConversationTurns,
}

impl std::fmt::Debug for ResponsesBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesBackend")
            .field("config", &self.config)
            .field("conversations", &lock(&self.conversations).len())
            .finish_non_exhaustive()
    }
}

impl ResponsesBackend {
    /// A backend with `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: ResponsesConfig) -> Result<Self, ChatError> {
        if config.model.is_empty() {
            return Err(ChatError::Config { provider: PROVIDER, message: "no model".to_owned() });
        }
        let rest = RestClient::new(config.rest.clone(), PROVIDER, None)?;
        let remember = config.remember;
        Ok(Self {
            rest,
            config,
            conversations: Mutex::new(Remembered::new(remember)),
            active: Mutex::new(HashMap::new()),
            turns: ConversationTurns::default(),
        })
    }

    /// Uses an existing Conversation for `conversation` instead of creating one.
    pub fn bind_conversation(&self, conversation: ConversationId, upstream: impl Into<String>) {
        lock(&self.conversations).insert(conversation, upstream.into());
    }

    /// The upstream Conversation of `conversation`, if one was created or bound.
    pub fn conversation_of(&self, conversation: &ConversationId) -> Option<String> {
        lock(&self.conversations).get(conversation)
    }

    async fn submit_locked(
        &self,
        conversation: &ConversationId,
        text: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        let upstream = self.upstream_for(conversation, deadline).await?;
        let mut input = Value::String(text.to_owned());
        let mut tool_calls = 0;
        let mut missing_handler: Option<(String, Vec<String>)> = None;
        for _ in 0..=self.config.max_tool_rounds {
            let response = self.create(conversation, &upstream, input, deadline, started).await?;
            let response =
                self.finish(conversation, &upstream, response, deadline, started).await?;
            match step(&response) {
                Step::Reply(text) => {
                    if let Some((id, tools)) = missing_handler {
                        return Err(ChatError::NoToolHandler { provider: PROVIDER, id, tools });
                    }
                    return Ok(Reply { text, upstream_id: response.id, tool_calls });
                }
                Step::Fail { status, detail } => {
                    return Err(ChatError::Ended {
                        provider: PROVIDER,
                        id: response.id,
                        status,
                        detail,
                    });
                }
                Step::Wait => {
                    return Err(ChatError::Protocol {
                        provider: PROVIDER,
                        message: format!("response {} still active after polling", response.id),
                    });
                }
                Step::Call(calls) => {
                    if self.config.tools.is_none() && missing_handler.is_none() {
                        let names = calls.iter().map(|c| c.name.clone()).collect();
                        missing_handler = Some((response.id.clone(), names));
                    }
                    tool_calls += calls.len();
                    let outputs = self.run_tools(calls, &response.id, deadline, started).await?;
                    input = serde_json::to_value(outputs).map_err(|e| ChatError::Protocol {
                        provider: PROVIDER,
                        message: format!("encoding tool outputs: {e}"),
                    })?;
                }
            }
        }
        Err(ChatError::Protocol {
            provider: PROVIDER,
            message: format!(
                "more than {} tool rounds for one message in conversation {upstream}",
                self.config.max_tool_rounds
            ),
        })
    }

    /// The conversation's upstream Conversation, created on first use.
    async fn upstream_for(
        &self,
        conversation: &ConversationId,
        deadline: Instant,
    ) -> Result<String, ChatError> {
        if let Some(upstream) = self.conversation_of(conversation) {
            return Ok(upstream);
        }
        let body = serde_json::json!({});
        // A duplicate create only leaves an empty Conversation behind, so the
        // create is treated as safe to resend.
        let created: Conversation = self
            .call(Method::Post, "/conversations", Some(&body), Idempotency::Safe, deadline)
            .await
            .map_err(|f| f.into_chat_error(PROVIDER))?;
        lock(&self.conversations).insert(conversation.clone(), created.id.clone());
        Ok(created.id)
    }

    /// Creates a response, retrying while the conversation is locked.
    async fn create(
        &self,
        conversation: &ConversationId,
        upstream: &str,
        input: Value,
        deadline: Instant,
        started: Instant,
    ) -> Result<Response, ChatError> {
        let body = serde_json::to_value(CreateResponse {
            model: &self.config.model,
            conversation: upstream,
            input,
            instructions: self.config.instructions.as_deref(),
            tools: &self.config.tool_definitions,
            background: self.config.background,
        })
        .map_err(|e| ChatError::Protocol {
            provider: PROVIDER,
            message: format!("encoding a request: {e}"),
        })?;
        let mut attempt = 0;
        loop {
            match self
                .call::<Response>(
                    Method::Post,
                    "/responses",
                    Some(&body),
                    Idempotency::Unsafe,
                    deadline,
                )
                .await
            {
                Ok(response) => {
                    if self.config.background {
                        lock(&self.active).insert(conversation.clone(), response.id.clone());
                    }
                    return Ok(response);
                }
                Err(Failure::Api { status, error })
                    if classify(status, &error) == Refusal::Busy =>
                {
                    let interval = self.config.poll.interval(attempt, random());
                    attempt += 1;
                    if Instant::now() + interval >= deadline {
                        return Err(ChatError::Timeout {
                            provider: PROVIDER,
                            waiting_for: format!(
                                "conversation {upstream} to be unlocked ({})",
                                error.message
                            ),
                            elapsed: started.elapsed(),
                        });
                    }
                    tracing::debug!(%upstream, ?interval, "conversation locked; retrying");
                    sleep(interval).await;
                }
                Err(failure) => return Err(failure.into_chat_error(PROVIDER)),
            }
        }
    }

    /// Polls a background response until it is terminal; on the deadline,
    /// cancels it and names it in the error.
    async fn finish(
        &self,
        conversation: &ConversationId,
        upstream: &str,
        mut response: Response,
        deadline: Instant,
        started: Instant,
    ) -> Result<Response, ChatError> {
        let mut attempt = 0;
        while step(&response) == Step::Wait {
            let interval = self.config.poll.interval(attempt, random());
            attempt += 1;
            if Instant::now() + interval >= deadline {
                let id = response.id.clone();
                self.cancel_quietly(&id).await;
                lock(&self.active).remove(conversation);
                return Err(ChatError::Timeout {
                    provider: PROVIDER,
                    waiting_for: format!(
                        "response {id} ({}) in conversation {upstream} to finish",
                        response.status.as_str()
                    ),
                    elapsed: started.elapsed(),
                });
            }
            sleep(interval).await;
            response = self.get(&format!("/responses/{}", response.id), deadline).await?;
        }
        lock(&self.active).remove(conversation);
        Ok(response)
    }

    /// Runs every call; without a handler each gets an error output, so
    /// the conversation never holds a call without its output.
    async fn run_tools(
        &self,
        calls: Vec<Call>,
        response_id: &str,
        deadline: Instant,
        started: Instant,
    ) -> Result<Vec<FunctionCallOutput>, ChatError> {
        let mut outputs = Vec::with_capacity(calls.len());
        for call in calls {
            let result = match (&self.config.tools, serde_json::from_str(&call.arguments)) {
                (None, _) => Err(ToolError::new("no tool handler is configured")),
                (Some(_), Err(e)) => Err(ToolError::new(format!(
                    "arguments for {} are not valid JSON: {e}",
                    call.name
                ))),
                (Some(handler), Ok(arguments)) => {
                    match timeout_at(deadline, handler.call(&call.name, arguments)).await {
                        Ok(result) => result,
                        Err(_) => {
                            return Err(ChatError::Timeout {
                                provider: PROVIDER,
                                waiting_for: format!(
                                    "tool {} for response {response_id}",
                                    call.name
                                ),
                                elapsed: started.elapsed(),
                            });
                        }
                    }
                }
            };
            let output = match result {
                Ok(output) => output_text(&output),
                Err(error) => error.to_output().to_string(),
            };
            outputs.push(FunctionCallOutput::new(call.call_id, output));
        }
        Ok(outputs)
    }

    async fn cancel(&self, response_id: &str, deadline: Instant) -> Result<Response, ChatError> {
        let path = format!("/responses/{response_id}/cancel");
        self.call(Method::Post, &path, None, Idempotency::Safe, deadline)
            .await
            .map_err(|f| f.into_chat_error(PROVIDER))
    }

    /// Best-effort cancel on the way out; a failure is only logged, because
    /// the next message retries while the conversation stays locked.
    async fn cancel_quietly(&self, response_id: &str) {
        let deadline = Instant::now() + self.config.rest.request_timeout;
        if let Err(error) = self.cancel(response_id, deadline).await {
            tracing::warn!(response = %response_id, %error, "cancelling a timed-out response failed");
        }
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
impl ChatBackend for ResponsesBackend {
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
        let active = lock(&self.active).get(conversation).cloned();
        let Some(response_id) = active else { return Ok(()) };
        let started = Instant::now();
        let deadline = started + self.config.deadline;
        let mut response = self.cancel(&response_id, deadline).await?;
        // A cancel can read `cancelled` and still be settling (reported by
        // Azure); re-read until the response reads terminal.
        let mut attempt = 0;
        while step(&response) == Step::Wait {
            let interval = self.config.poll.interval(attempt, random());
            attempt += 1;
            if Instant::now() + interval >= deadline {
                return Err(ChatError::Timeout {
                    provider: PROVIDER,
                    waiting_for: format!("response {response_id} to end after cancel"),
                    elapsed: started.elapsed(),
                });
            }
            sleep(interval).await;
            response = self.get(&format!("/responses/{response_id}"), deadline).await?;
        }
        Ok(())
    }

    fn capabilities(&self) -> ChatCaps {
        ChatCaps::new(self.config.background, self.config.tools.is_some(), false)
    }

    fn upstream_of(&self, conversation: &ConversationId) -> Option<String> {
        self.conversation_of(conversation)
    }

    fn bind_upstream(&self, conversation: &ConversationId, upstream: String) {
        self.bind_conversation(conversation.clone(), upstream);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain maps, consistent after every critical section.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
