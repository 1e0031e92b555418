//! The Assistants API (threads and runs) as a [`ChatBackend`].
//!
//! One thread per conversation. Before a message is added, every run on the
//! thread that is not terminal is cancelled (or awaited, if it is already
//! cancelling) and polled with a short backoff until it ends; the message is
//! added (retried if the API still reports an active run), a run is created
//! and polled to completion, with `requires_action` answered through the
//! [`ToolHandler`]. Every wait is bounded by the request's deadline; when it
//! passes, the error names the run still active and our own run is
//! cancelled so the next message finds the thread free.
//!
//! OpenAI sunset this API on 26 Aug 2026; it is kept for compatible servers.
//!
//! [`ChatBackend`]: super::ChatBackend

mod io;
mod protocol;
mod run;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{PollBackoff, RememberLimits, RestConfig, ToolHandler};

pub use io::AssistantsBackend;

/// The provider's name in errors and logs.
pub const PROVIDER: &str = "assistants";

/// The header every Assistants endpoint requires.
pub const BETA_HEADER: &str = "assistants=v2";

/// How the Assistants backend behaves.
#[derive(Clone)]
pub struct AssistantsConfig {
    /// Where the API is, and the key.
    pub rest: RestConfig,
    /// The assistant that runs every thread (`asst_…`).
    pub assistant_id: String,
    /// The longest one message may take in total (clearing the thread,
    /// adding, running, tool calls) when the message has no deadline of its
    /// own (behind a [`super::ConversationQueue`] it always has one).
    pub deadline: Duration,
    /// How runs are polled while we wait for them.
    pub poll: PollBackoff,
    /// After each reply, delete all but the newest N messages of the thread.
    pub keep_last_messages: Option<usize>,
    /// Answers `requires_action`; without one, such a run is cancelled and
    /// the caller gets [`super::ChatError::NoToolHandler`].
    pub tools: Option<Arc<dyn ToolHandler>>,
    /// How many conversations' threads are kept in memory, and for how long.
    pub remember: RememberLimits,
}

impl fmt::Debug for AssistantsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssistantsConfig")
            .field("rest", &self.rest)
            .field("assistant_id", &self.assistant_id)
            .field("deadline", &self.deadline)
            .field("poll", &self.poll)
            .field("keep_last_messages", &self.keep_last_messages)
            .field("tools", &self.tools.as_ref().map(|_| "<handler>"))
            .field("remember", &self.remember)
            .finish()
    }
}

impl AssistantsConfig {
    /// A configuration for `assistant_id` at `rest`, with a 60 s deadline,
    /// the default polling, no trimming and no tools.
    pub fn new(rest: RestConfig, assistant_id: impl Into<String>) -> Self {
        Self {
            rest,
            assistant_id: assistant_id.into(),
            deadline: Duration::from_secs(60),
            poll: PollBackoff::default(),
            keep_last_messages: None,
            tools: None,
            remember: RememberLimits::default(),
        }
    }
}
