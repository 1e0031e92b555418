//! The Responses API with Conversations as a [`ChatBackend`].
//!
//! One Conversation per chat conversation; each message is one
//! `POST /responses` with `conversation`. Responses are created with
//! `background: true` (by default) so they can be cancelled with
//! `POST /responses/{id}/cancel` and polled; a `conversation_locked`
//! refusal ("Another process is currently operating on this conversation")
//! is retried with backoff until the deadline. Function calls are answered
//! through the [`ToolHandler`] with `function_call_output` items.
//!
//! This is the replacement for the Assistants API on OpenAI.
//!
//! [`ChatBackend`]: super::ChatBackend

mod io;
mod protocol;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{PollBackoff, RememberLimits, RestConfig, ToolHandler};

pub use io::ResponsesBackend;

/// The provider's name in errors and logs.
pub const PROVIDER: &str = "responses";

/// How the Responses backend behaves.
#[derive(Clone)]
pub struct ResponsesConfig {
    /// Where the API is, and the key.
    pub rest: RestConfig,
    /// The model for every response, e.g. `gpt-5.2`.
    pub model: String,
    /// System instructions sent with every response (they are not carried
    /// over between responses by the API).
    pub instructions: Option<String>,
    /// Tool definitions in the Responses shape
    /// (`{"type":"function","name",…,"parameters"}`), sent with every response.
    pub tool_definitions: Vec<Value>,
    /// Answers function calls; without one, a call gets an error output (so
    /// the conversation stays consistent) and the caller gets
    /// [`super::ChatError::NoToolHandler`].
    pub tools: Option<Arc<dyn ToolHandler>>,
    /// Create responses with `background: true`, which makes them
    /// cancellable and pollable; otherwise each create blocks until done.
    pub background: bool,
    /// The longest one message may take in total when the message has no
    /// deadline of its own (behind a [`super::ConversationQueue`] it always
    /// has one).
    pub deadline: Duration,
    /// How background responses are polled and busy conversations retried.
    pub poll: PollBackoff,
    /// The most tool rounds (response → outputs → response) per message.
    pub max_tool_rounds: usize,
    /// How many conversations' upstream ids are kept in memory, and for how long.
    pub remember: RememberLimits,
}

impl fmt::Debug for ResponsesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponsesConfig")
            .field("rest", &self.rest)
            .field("model", &self.model)
            .field("instructions", &self.instructions.as_ref().map(String::len))
            .field("tool_definitions", &self.tool_definitions.len())
            .field("tools", &self.tools.as_ref().map(|_| "<handler>"))
            .field("background", &self.background)
            .field("deadline", &self.deadline)
            .field("poll", &self.poll)
            .field("max_tool_rounds", &self.max_tool_rounds)
            .field("remember", &self.remember)
            .finish()
    }
}

impl ResponsesConfig {
    /// A configuration for `model` at `rest`: background responses, a 60 s
    /// deadline, the default polling, no instructions and no tools.
    pub fn new(rest: RestConfig, model: impl Into<String>) -> Self {
        Self {
            rest,
            model: model.into(),
            instructions: None,
            tool_definitions: Vec::new(),
            tools: None,
            background: true,
            deadline: Duration::from_secs(60),
            poll: PollBackoff::default(),
            max_tool_rounds: 8,
            remember: RememberLimits::default(),
        }
    }
}
