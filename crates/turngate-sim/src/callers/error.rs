//! Why a simulated call could not be placed at all.
//!
//! Once the WebSocket is open, nothing is an error: whatever the bot does
//! (breaking a rule, hanging up, dropping the socket) goes into the report.

use std::time::Duration;

/// A call that never started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallerError {
    /// The configuration cannot describe a call.
    #[error("invalid caller configuration: {0}")]
    Config(String),
    /// The URL is not a plain `ws://` URL with a host.
    #[error("cannot call `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The host and port.
        addr: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection or the upgrade took too long.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The host and port.
        addr: String,
        /// How long the caller waited.
        after: Duration,
    },
    /// The bot answered the upgrade with an HTTP error.
    #[error("the bot refused the WebSocket upgrade with HTTP {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// The WebSocket handshake failed otherwise.
    #[error("the WebSocket handshake failed: {0}")]
    Handshake(String),
}

/// What a caller of [`run`](super::run) can do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Fix the configuration; retrying cannot help.
    Config,
    /// The bot was unreachable or busy; retrying later may help.
    Transient,
    /// The bot refused the credentials.
    Auth,
    /// The bot does not speak WebSocket as expected.
    Protocol,
}

impl CallerError {
    /// The coarse kind, to decide between retrying and failing.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CallerError::Config(_) | CallerError::Url { .. } => ErrorKind::Config,
            CallerError::Connect { .. } | CallerError::ConnectTimeout { .. } => {
                ErrorKind::Transient
            }
            CallerError::Refused { status: 401 | 403 } => ErrorKind::Auth,
            CallerError::Refused { status } if *status == 429 || *status >= 500 => {
                ErrorKind::Transient
            }
            CallerError::Refused { .. } | CallerError::Handshake(_) => ErrorKind::Protocol,
        }
    }
}
