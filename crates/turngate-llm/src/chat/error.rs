//! What a chat request can fail with, and how a caller should react.

use std::time::Duration;

/// How a caller should treat a [`ChatError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The upstream or the network failed in a way that a later retry may not.
    Transient,
    /// The upstream asked us to slow down; retry after the hint.
    RateLimited,
    /// The upstream refused because other work was active and we could not
    /// clear it in time.
    Conflict,
    /// The deadline passed; the error says what was still active.
    Timeout,
    /// Our own queue refused the request (full); shed load, retry later.
    Overloaded,
    /// Credentials or permissions are wrong; retrying will not help.
    Auth,
    /// Billing or quota exhausted; retrying will not help.
    Quota,
    /// The request itself was invalid; retrying will not help.
    InvalidRequest,
    /// The model's work ended without an answer (failed, expired, cancelled).
    Failed,
    /// The upstream answered something we cannot understand.
    Protocol,
    /// The queue or backend is shutting down.
    Closed,
    /// The backend is misconfigured (missing key, assistant id, tool handler).
    Config,
}

/// A chat request failed. Every variant names the provider and, where one
/// exists, the upstream object involved, so a log line is enough to act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The conversation's queue already holds `depth` requests.
    #[error("queue full for conversation {conversation}: {depth} requests already waiting")]
    QueueFull {
        /// The conversation whose queue is full.
        conversation: String,
        /// How many requests were queued or running.
        depth: usize,
    },
    /// The deadline passed while `waiting_for` was still true.
    #[error("{provider}: timed out after {elapsed:?} waiting for {waiting_for}")]
    Timeout {
        /// Which backend gave up.
        provider: &'static str,
        /// What was still pending, naming the upstream object (e.g. "run
        /// run_abc (in_progress) on thread thread_xyz to finish").
        waiting_for: String,
        /// How long the request had been going.
        elapsed: Duration,
    },
    /// The upstream kept refusing because other work was active.
    #[error("{provider}: conflict not cleared: {message}")]
    Conflict {
        /// Which backend gave up.
        provider: &'static str,
        /// The upstream's last refusal, verbatim.
        message: String,
    },
    /// HTTP 429 `rate_limit_exceeded` that outlasted the deadline.
    #[error("{provider}: rate limited (retry after {retry_after:?}): {message}")]
    RateLimited {
        /// Which backend gave up.
        provider: &'static str,
        /// The upstream's hint, if it gave one.
        retry_after: Option<Duration>,
        /// The upstream's message.
        message: String,
    },
    /// HTTP 429 `insufficient_quota`, which waiting never fixes.
    #[error("{provider}: quota exhausted: {message}")]
    Quota {
        /// Which backend failed.
        provider: &'static str,
        /// The upstream's message.
        message: String,
    },
    /// HTTP 401 or 403.
    #[error("{provider}: not authorized (HTTP {status}): {message}")]
    Auth {
        /// Which backend failed.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The upstream's message.
        message: String,
    },
    /// Any other refusal of the request (4xx).
    #[error("{provider}: request refused (HTTP {status}, code {code:?}): {message}")]
    Rejected {
        /// Which backend failed.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
        /// The upstream's error code, if any.
        code: Option<String>,
        /// The upstream's message.
        message: String,
    },
    /// The upstream kept failing (5xx) or could not be reached.
    #[error("{provider}: upstream unavailable: {message}")]
    Unavailable {
        /// Which backend failed.
        provider: &'static str,
        /// The last failure seen.
        message: String,
    },
    /// The request may or may not have reached the upstream, and checking
    /// was not possible; the caller decides whether to send it again.
    #[error("{provider}: delivery uncertain: {message}")]
    Uncertain {
        /// Which backend failed.
        provider: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The model's work ended without a reply.
    #[error("{provider}: {id} ended {status}: {detail}")]
    Ended {
        /// Which backend failed.
        provider: &'static str,
        /// The run or response id.
        id: String,
        /// Its terminal status (`failed`, `cancelled`, `expired`, `incomplete`).
        status: String,
        /// The upstream's explanation, if any.
        detail: String,
    },
    /// The model asked for tools but no handler is configured; the work was
    /// cancelled so the conversation stays usable.
    #[error("{provider}: {id} asked for tools {tools:?} but no tool handler is configured")]
    NoToolHandler {
        /// Which backend failed.
        provider: &'static str,
        /// The run or response id that asked.
        id: String,
        /// The tool names it asked for.
        tools: Vec<String>,
    },
    /// The upstream answered something we cannot parse.
    #[error("{provider}: protocol error: {message}")]
    Protocol {
        /// Which backend failed.
        provider: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// The backend is misconfigured.
    #[error("{provider}: configuration: {message}")]
    Config {
        /// Which backend.
        provider: &'static str,
        /// What is missing or wrong.
        message: String,
    },
    /// The queue or backend was shut down.
    #[error("closed")]
    Closed,
}

impl ChatError {
    /// How a caller should react to this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::QueueFull { .. } => ErrorKind::Overloaded,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Conflict { .. } => ErrorKind::Conflict,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::Quota { .. } => ErrorKind::Quota,
            Self::Auth { .. } => ErrorKind::Auth,
            Self::Rejected { .. } => ErrorKind::InvalidRequest,
            Self::Unavailable { .. } | Self::Uncertain { .. } => ErrorKind::Transient,
            Self::Ended { .. } => ErrorKind::Failed,
            Self::NoToolHandler { .. } | Self::Config { .. } => ErrorKind::Config,
            Self::Protocol { .. } => ErrorKind::Protocol,
            Self::Closed => ErrorKind::Closed,
        }
    }

    /// Whether sending the same message again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Transient
                | ErrorKind::RateLimited
                | ErrorKind::Conflict
                | ErrorKind::Timeout
                | ErrorKind::Overloaded
        )
    }
}
