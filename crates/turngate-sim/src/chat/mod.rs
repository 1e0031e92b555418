//! Strict simulators of the OpenAI chat APIs, served over HTTP on loopback.
//!
//! - [`ChatSim::assistants`]: threads, messages and runs (`/v1/threads…`),
//!   with runs that go `queued → in_progress → completed` over real time,
//!   `requires_action` when the model calls a tool, `cancelling` for a
//!   configurable time, expiry, and the exact conflict errors
//!   (`Can't add messages to thread_X while a run run_Y is active.`,
//!   `Thread thread_X already has an active run run_Y.`);
//! - [`ChatSim::responses`]: Conversations and Responses (`/v1/conversations…`,
//!   `/v1/responses…`), with background responses, cancel, and
//!   `conversation_locked` while a response works on the conversation (and,
//!   after a cancel, until the cancel has settled).
//!
//! Both check every request body against the documented fields (unknown
//! fields, wrong types and missing parameters are refused with OpenAI's
//! texts), inject 429 and 500 answers on request, and record every breach
//! of the API's rules as a [`Violations`] count that tests assert is zero.
//! The timeline ([`ChatSim::timeline`]) holds when work ended and when the
//! next message was accepted, for measuring conflict recovery.
//!
//! The simulated model is deterministic: it answers `echo: <latest user
//! text>`; it calls function tool `name` when the latest user text contains
//! `call:name`; a message containing `[hang]` starts work that never ends by
//! itself.
//!
//! Both also answer `GET /v1/models/{model}` from [`SimConfig::models`].
//!
//! What this module deliberately does not do: streaming (SSE), files,
//! vector stores, assistants management beyond the configured ones, or any
//! real language modelling.

pub mod assistants;
mod model;
mod models;
mod record;
pub mod responses;
mod server;
mod strict;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use models::SimModel;
pub use record::{Event, EventKind, Stats, Violations, recovery_overheads};
pub use server::ChatSim;

/// How a chat simulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// How long created work stays `queued`.
    pub queued: Duration,
    /// How long a run or response works once `in_progress`.
    pub run: Duration,
    /// How long a cancel takes to finish (`cancelling` for runs; for
    /// responses, how long the conversation stays locked after a cancel).
    pub cancel: Duration,
    /// How long after creation a run waiting for tool outputs expires.
    pub expires_after: Duration,
    /// Injected failures.
    pub faults: Faults,
    /// The assistants that exist (Assistants simulator).
    pub assistants: Vec<SimAssistant>,
    /// When set, every request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// The models `GET /v1/models/{model}` knows; any other is
    /// `model_not_found`.
    pub models: Vec<SimModel>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            queued: Duration::from_millis(20),
            run: Duration::from_millis(200),
            cancel: Duration::from_millis(1500),
            expires_after: Duration::from_secs(600),
            faults: Faults::default(),
            assistants: vec![
                SimAssistant { id: "asst_plain".to_owned(), tools: Vec::new() },
                SimAssistant {
                    id: "asst_tools".to_owned(),
                    tools: vec!["weather".to_owned(), "time".to_owned()],
                },
            ],
            api_key: None,
            models: SimModel::catalogue(),
        }
    }
}

/// An assistant the Assistants simulator knows, with its function tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAssistant {
    /// Its id (`asst_…`).
    pub id: String,
    /// The names of its function tools.
    pub tools: Vec<String>,
}

/// Failures injected before a request touches any state, so a client that
/// retries them loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Every Nth request is answered 429 `rate_limit_exceeded` with
    /// `retry-after-ms` and `Retry-After` set to `retry_after`.
    pub rate_limit_every: Option<u64>,
    /// Every Nth request is answered 500 `server_error`.
    pub server_error_every: Option<u64>,
    /// The delay the 429 answers ask for.
    pub retry_after: Duration,
}

/// Which API a simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Threads, messages and runs.
    Assistants,
    /// Conversations and Responses.
    Responses,
}
