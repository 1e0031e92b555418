//! Chat backends: one user message in, the assistant's reply out.
//!
//! A [`ChatBackend`] answers a user message within a conversation that the
//! backend keeps server-side (an Assistants thread, a Responses
//! Conversation). Both upstream APIs refuse a second piece of work while one
//! is active on the same conversation, so every backend here serializes per
//! conversation and clears the way before it adds anything: it never
//! surfaces a conflict that it could have waited out.
//!
//! [`ConversationQueue`] sits in front of any backend and gives each
//! conversation a bounded FIFO with a per-request timeout; its depth and
//! wait times are observable for health and metrics.
//!
//! Providers, each behind its own cargo feature:
//! - `assistants` (`openai-assistants`): threads and runs, with
//!   cancel-and-await of every active run before a message is added;
//! - `responses` (`openai-responses`): Responses + Conversations, with
//!   background responses for cancellation and retry on `conversation_locked`.
//!
//! What this module deliberately does not do: exclusion across worker
//! processes (a coordinator lock wraps the queue in the server), persistence
//! of the conversation → thread mapping (in memory for now), or streaming of
//! partial replies. The backends remember each conversation's upstream
//! object within bounds ([`RememberLimits`]).

mod error;
mod queue;
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
mod remembered;
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
pub(crate) mod rest;
pub(crate) mod retry;
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
mod turns;
mod types;

#[cfg(feature = "openai-assistants")]
pub mod assistants;
#[cfg(feature = "openai-responses")]
pub mod responses;

#[cfg(test)]
mod tests;

pub use crate::tool::{ToolError, ToolHandler, output_text};
pub use error::{ChatError, ErrorKind};
pub use queue::{ConversationQueue, QueueConfig, QueueStats, Served};
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
pub use remembered::RememberLimits;
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
pub use rest::{API_KEY_VAR, BASE_URL_VAR, DEFAULT_BASE_URL, RestConfig};
pub use retry::{PollBackoff, RetryPolicy};
pub use types::{ChatCaps, ConversationId, Reply, UserMessage};

use std::sync::Arc;

use async_trait::async_trait;

/// A chat model that keeps the conversation's history server-side.
///
/// Object-safe: a server holds `Arc<dyn ChatBackend>`.
///
/// Contract for implementations:
/// - `submit` answers `message` in `conversation`, or fails with a typed
///   error; it never returns while leaving the conversation in a state it
///   knows will refuse the next message (it cancels what it started when it
///   gives up);
/// - an upstream conflict ("a run is active") is waited out or cleared, not
///   returned, unless the message's deadline passes first, in which case the
///   error names what was still active;
/// - concurrent calls for one conversation are serialized by the backend
///   itself, in arrival order; different conversations proceed in parallel.
#[async_trait]
pub trait ChatBackend: Send + Sync {
    /// Adds `message` to `conversation` and returns the assistant's reply.
    async fn submit(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Reply, ChatError>;

    /// Cancels whatever the backend is generating for `conversation` (runs,
    /// background responses) and returns once the upstream no longer
    /// reports it active, or fails at the backend's deadline.
    async fn cancel_active(&self, conversation: &ConversationId) -> Result<(), ChatError>;

    /// What this backend supports, declared rather than discovered by failure.
    fn capabilities(&self) -> ChatCaps;

    /// The upstream object (a thread id, a Conversation id) that holds
    /// `conversation`, if the backend made or was given one. Several
    /// workers serving one conversation share this mapping through their
    /// coordinator, so they all talk to the same upstream object.
    fn upstream_of(&self, conversation: &ConversationId) -> Option<String> {
        let _ = conversation;
        None
    }

    /// Makes `conversation` use an upstream object another worker created.
    fn bind_upstream(&self, conversation: &ConversationId, upstream: String) {
        let _ = (conversation, upstream);
    }
}

#[async_trait]
impl<T: ChatBackend + ?Sized> ChatBackend for Arc<T> {
    async fn submit(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Reply, ChatError> {
        (**self).submit(conversation, message).await
    }

    async fn cancel_active(&self, conversation: &ConversationId) -> Result<(), ChatError> {
        (**self).cancel_active(conversation).await
    }

    fn capabilities(&self) -> ChatCaps {
        (**self).capabilities()
    }

    fn upstream_of(&self, conversation: &ConversationId) -> Option<String> {
        (**self).upstream_of(conversation)
    }

    fn bind_upstream(&self, conversation: &ConversationId, upstream: String) {
        (**self).bind_upstream(conversation, upstream);
    }
}
