//! What travels from a webhook worker to a session's owner.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ids::{SessionId, WorkerId, check_name, unix_micros};

/// The largest signal payload accepted, in bytes. Signals are small
/// notifications ("playback 7 ended"), not a data channel.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// The longest de-duplication key accepted, in bytes.
pub const MAX_DEDUP_KEY_LEN: usize = 200;

/// A notification for the worker that owns a session: a short kind
/// (`playback.ended`, `hangup`), a payload, and the wall-clock time it was
/// created so the receiver can measure cross-worker latency.
///
/// An optional de-duplication key (for example the provider's webhook event
/// id) makes [`Coordinator::signal`](crate::Coordinator::signal) idempotent:
/// a signal whose key was already stored within the de-duplication window is
/// acknowledged again but stored and delivered only once. That is what makes
/// it safe to retry a `signal` call that failed ambiguously (a timeout after
/// the request was sent).
#[derive(Clone, PartialEq, Eq)]
pub struct Signal {
    kind: String,
    payload: Vec<u8>,
    sent_at_us: u64,
    dedup_key: Option<String>,
}

impl Signal {
    /// A signal of `kind` carrying `payload`, stamped with the current time.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if `kind` is empty, longer than 100 bytes or has
    /// whitespace, or if the payload is over [`MAX_PAYLOAD`].
    pub fn new(kind: &str, payload: impl Into<Vec<u8>>) -> Result<Self> {
        check_name("signal kind", kind)?;
        let payload = payload.into();
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::invalid(
                "signal payload",
                format!("{} bytes, at most {MAX_PAYLOAD} allowed", payload.len()),
            ));
        }
        Ok(Self { kind: kind.to_owned(), payload, sent_at_us: unix_micros(), dedup_key: None })
    }

    /// Sets the de-duplication key.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the key is empty, longer than
    /// [`MAX_DEDUP_KEY_LEN`] or has whitespace.
    pub fn with_dedup_key(mut self, key: &str) -> Result<Self> {
        if key.is_empty() || key.len() > MAX_DEDUP_KEY_LEN {
            return Err(Error::invalid(
                "signal de-duplication key",
                format!("must be 1 to {MAX_DEDUP_KEY_LEN} bytes"),
            ));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "signal de-duplication key",
                "contains whitespace or a control character",
            ));
        }
        self.dedup_key = Some(key.to_owned());
        Ok(self)
    }

    /// Overrides the creation time (unix microseconds), for a sender that
    /// re-sends a signal it created earlier.
    #[must_use]
    pub fn with_sent_at_us(mut self, sent_at_us: u64) -> Self {
        self.sent_at_us = sent_at_us;
        self
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The payload.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// When the signal was created, in microseconds since the Unix epoch.
    #[must_use]
    pub fn sent_at_us(&self) -> u64 {
        self.sent_at_us
    }

    /// The de-duplication key, if any.
    #[must_use]
    pub fn dedup_key(&self) -> Option<&str> {
        self.dedup_key.as_deref()
    }

    /// Rebuilds a signal read back from a backend, without re-validating it
    /// or keeping its de-duplication key (the key matters only when storing).
    #[must_use]
    pub fn from_stored(kind: String, payload: Vec<u8>, sent_at_us: u64) -> Self {
        Self { kind, payload, sent_at_us, dedup_key: None }
    }
}

impl fmt::Debug for Signal {
    // The payload may carry call data; only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("payload_len", &self.payload.len())
            .field("sent_at_us", &self.sent_at_us)
            .field("dedup_key", &self.dedup_key)
            .finish()
    }
}

/// The position of a signal in its session's queue. Ids increase strictly
/// within a session, so the owner de-duplicates by remembering the highest
/// id it has delivered.
///
/// In Redis this is the stream entry id `<ms>-<seq>`, whose millisecond part
/// comes from the Redis server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignalId {
    ms: u64,
    seq: u64,
}

impl SignalId {
    /// An id from its two parts.
    #[must_use]
    pub const fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }

    /// The millisecond part.
    #[must_use]
    pub const fn ms(self) -> u64 {
        self.ms
    }

    /// The sequence part.
    #[must_use]
    pub const fn seq(self) -> u64 {
        self.seq
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for SignalId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let parse = || -> Option<Self> {
            let (ms, seq) = s.split_once('-')?;
            Some(Self::new(ms.parse().ok()?, seq.parse().ok()?))
        };
        parse().ok_or_else(|| Error::invalid("signal id", format!("{s:?} is not <ms>-<seq>")))
    }
}

/// What [`Coordinator::signal`](crate::Coordinator::signal) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalReceipt {
    /// Where the signal sits in the session's queue.
    pub id: SignalId,
    /// The worker that held the session's lease when the signal was stored,
    /// and so was woken. `None` means no worker owned the session: the
    /// signal is kept for the signal TTL and delivered to the next worker
    /// that registers the session.
    pub owner: Option<WorkerId>,
    /// True if a signal with the same de-duplication key had already been
    /// stored; `id` is then the original's and nothing new was stored.
    pub duplicate: bool,
}

impl SignalReceipt {
    /// A receipt, for [`Coordinator`](crate::Coordinator) implementations.
    #[must_use]
    pub fn new(id: SignalId, owner: Option<WorkerId>, duplicate: bool) -> Self {
        Self { id, owner, duplicate }
    }
}

/// A signal as stored in a session's queue, for
/// [`SignalSource`](crate::SignalSource) implementations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignal {
    /// Its position.
    pub id: SignalId,
    /// The signal.
    pub signal: Signal,
}

/// A signal handed to the owning worker's session task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// The session it is for.
    pub session: SessionId,
    /// Its position in the session's queue.
    pub id: SignalId,
    /// The signal.
    pub signal: Signal,
    /// When the owner's inbox fetched it, in unix microseconds.
    pub received_at_us: u64,
}

impl Delivered {
    /// Time from the signal's creation (on the sender's clock) to its fetch
    /// by the owner (on the owner's clock); zero if the clocks disagree.
    #[must_use]
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.received_at_us.saturating_sub(self.signal.sent_at_us))
    }
}

#[cfg(test)]
mod tests;
