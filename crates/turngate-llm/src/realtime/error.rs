//! The Realtime half's error type.

use std::fmt;

/// What a driver should do about a [`BackendError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Try again: the network or the peer had a passing problem.
    Transient,
    /// Try again later: the peer asked us to slow down.
    RateLimited,
    /// The peer refused because something else is in progress.
    Conflict,
    /// The credentials were refused; retrying will not help.
    Auth,
    /// The peer broke the protocol, or refused ours; retrying will not help.
    Protocol,
    /// The connection is gone for good.
    Closed,
    /// Our own configuration cannot work; fix it before retrying.
    Config,
    /// A bounded wait ran out.
    Timeout,
}

impl ErrorKind {
    /// True when the same operation may succeed if retried later.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::Timeout)
    }
}

/// Why a Realtime backend could not connect or carry out a command.
///
/// Errors that the upstream reports about individual client events (a
/// rejected `response.create`, a cancel with nothing active) are not
/// `BackendError`s: they arrive through
/// [`RealtimeConnection::recv`](super::RealtimeConnection::recv) as
/// [`Input::BackendError`](turngate_core::Input::BackendError), so the
/// session core can settle whatever they answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The session configuration asks for something the provider cannot do.
    #[error("{provider}: invalid configuration: {detail}")]
    Config {
        /// The provider that refused it.
        provider: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The peer refused our credentials.
    #[error("{provider}: authentication refused (HTTP {status})")]
    Auth {
        /// The provider.
        provider: &'static str,
        /// The HTTP status of the refused upgrade.
        status: u16,
    },
    /// The peer answered the upgrade with an HTTP error.
    #[error("{provider}: the upgrade was refused with HTTP {status}")]
    Refused {
        /// The provider.
        provider: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// The connection could not be made or broke.
    #[error("{provider}: connection failed: {detail}")]
    Connect {
        /// The provider.
        provider: &'static str,
        /// What failed, as the transport said it.
        detail: String,
    },
    /// A bounded wait ran out.
    #[error("{provider}: timed out {what}")]
    Timeout {
        /// The provider.
        provider: &'static str,
        /// What was being waited for.
        what: &'static str,
    },
    /// The connection was closed (by us, or for good by the peer).
    #[error("{provider}: the connection is closed")]
    Closed {
        /// The provider.
        provider: &'static str,
    },
}

impl BackendError {
    /// What a driver should do about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackendError::Config { .. } => ErrorKind::Config,
            BackendError::Auth { .. } => ErrorKind::Auth,
            BackendError::Refused { status, .. } => match status {
                429 => ErrorKind::RateLimited,
                500..=599 => ErrorKind::Transient,
                _ => ErrorKind::Protocol,
            },
            BackendError::Connect { .. } => ErrorKind::Transient,
            BackendError::Timeout { .. } => ErrorKind::Timeout,
            BackendError::Closed { .. } => ErrorKind::Closed,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Auth => "auth",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Closed => "closed",
            ErrorKind::Config => "config",
            ErrorKind::Timeout => "timeout",
        })
    }
}
