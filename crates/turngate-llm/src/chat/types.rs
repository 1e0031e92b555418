//! The chat vocabulary: conversation ids, messages, replies, capabilities.

use std::fmt;

use tokio::time::Instant;

/// Our name for a conversation; each backend maps it to its own upstream id
/// (a thread, a Conversation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(String);

impl ConversationId {
    /// Wraps an application-chosen conversation name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ConversationId {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for ConversationId {
    fn from(name: String) -> Self {
        Self(name)
    }
}

/// One user message to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    /// The text the user wrote.
    pub text: String,
    /// When the caller stops waiting. Backends bound every wait by this
    /// (their own configured deadline applies only to messages without one)
    /// and report what was still active when it passed.
    pub deadline: Option<Instant>,
}

impl UserMessage {
    /// A message with no deadline of its own (the backend's applies).
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), deadline: None }
    }

    /// The same message, answered by `deadline` or failed.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The message's own deadline, or `fallback` when it has none.
    pub fn deadline_or(&self, fallback: Instant) -> Instant {
        self.deadline.unwrap_or(fallback)
    }
}

/// The assistant's answer to one user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The assistant's text, its parts joined by newlines.
    pub text: String,
    /// The upstream id of the work that produced it (a run id, a response id).
    pub upstream_id: String,
    /// How many tool calls were answered on the way.
    pub tool_calls: usize,
}

/// What a chat backend supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChatCaps {
    /// Active work can be cancelled upstream (Assistants runs; background responses).
    pub cancel: bool,
    /// Tool calls are answered through a [`crate::tool::ToolHandler`].
    pub tools: bool,
    /// The backend can trim the upstream history to the last N messages.
    pub trimming: bool,
}

impl ChatCaps {
    /// Capabilities with every flag given.
    pub fn new(cancel: bool, tools: bool, trimming: bool) -> Self {
        Self { cancel, tools, trimming }
    }
}
