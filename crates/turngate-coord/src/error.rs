//! The crate's one error type and the coarse kind callers branch on.

use std::time::Duration;

/// A boxed error from a backend (for example a Redis client error), kept as a
/// source so the public API does not name the backend's types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, coarsely, so a caller can choose between retrying,
/// backing off and giving up without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The backend could not be reached or is not serving (connection refused
    /// or dropped, Redis loading its dataset, a failover in progress).
    /// Retrying later may succeed. The operation may or may not have been
    /// applied if the connection dropped after the request was sent.
    Unavailable,
    /// The operation did not complete within its time bound. As with
    /// `Unavailable`, it may or may not have been applied.
    Timeout,
    /// Someone else holds what was asked for (a lease, a lock), or what the
    /// caller held has been lost. Retrying the same call will not help until
    /// the state changes.
    Conflict,
    /// A bounded queue is full. The caller should back off; nothing was
    /// stored.
    Full,
    /// The request itself is malformed (an empty id, a zero TTL, a payload
    /// over the limit). Retrying will not help.
    Invalid,
    /// The receiving side has shut down.
    Closed,
    /// The backend answered something this crate does not understand, or
    /// reported an error that is none of the above. A bug or a
    /// misconfiguration, not a transient condition.
    Backend,
}

/// Errors returned by every [`Coordinator`](crate::Coordinator) operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend is unreachable or not serving.
    #[error("coordinator backend unavailable during {op}: {source}")]
    Unavailable {
        /// The operation that failed.
        op: &'static str,
        /// What the backend client reported.
        #[source]
        source: BoxError,
    },
    /// The operation exceeded its time bound.
    #[error("coordinator operation {op} timed out after {after:?}")]
    Timeout {
        /// The operation that timed out.
        op: &'static str,
        /// The bound that was exceeded.
        after: Duration,
    },
    /// The session's lease is held by another worker.
    #[error("session {session} is owned by worker {owner}")]
    LeaseHeld {
        /// The session asked for.
        session: String,
        /// The worker that holds it.
        owner: String,
    },
    /// The caller's lease is no longer valid: it expired, was released, or
    /// was taken over.
    #[error("lease on session {session} lost (current owner: {owner:?})")]
    LeaseLost {
        /// The session whose lease was lost.
        session: String,
        /// The current owner, if any.
        owner: Option<String>,
    },
    /// The session already has a live receiver on this worker's inbox.
    #[error("session {session} is already registered on this inbox")]
    Registered {
        /// The session.
        session: String,
    },
    /// A lock was not acquired before the caller's deadline.
    #[error("lock {key} not acquired within {waited:?}")]
    LockTimeout {
        /// The lock key.
        key: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The caller's lock (identified by its fencing token) is no longer held.
    #[error("lock {key} with fencing token {token} is no longer held")]
    LockLost {
        /// The lock key.
        key: String,
        /// The token the caller held.
        token: u64,
    },
    /// A session's signal queue is at its bound; the signal was not stored.
    #[error("signal queue of session {session} is full ({max} pending)")]
    QueueFull {
        /// The session whose queue is full.
        session: String,
        /// The configured bound.
        max: usize,
    },
    /// The request is malformed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid (for example `session id`).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The inbox or coordinator has shut down.
    #[error("{what} is closed")]
    Closed {
        /// What has shut down.
        what: &'static str,
    },
    /// The backend answered something unexpected or failed in a way that is
    /// not transient.
    #[error("coordinator backend error during {op}: {source}")]
    Backend {
        /// The operation that failed.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// The coarse kind of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable { .. } => ErrorKind::Unavailable,
            Self::Timeout { .. } | Self::LockTimeout { .. } => ErrorKind::Timeout,
            Self::LeaseHeld { .. }
            | Self::LeaseLost { .. }
            | Self::LockLost { .. }
            | Self::Registered { .. } => ErrorKind::Conflict,
            Self::QueueFull { .. } => ErrorKind::Full,
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::Closed { .. } => ErrorKind::Closed,
            Self::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// Whether retrying the same call later may succeed: true for
    /// `Unavailable`, `Timeout` and `Full`.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Full)
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid { what, reason: reason.into() }
    }

    #[cfg(feature = "redis")]
    pub(crate) fn backend(op: &'static str, reason: impl Into<String>) -> Self {
        Self::Backend { op, source: reason.into().into() }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
