//! The Redis key layout.
//!
//! Every key of one session shares a Redis Cluster hash tag, the session id
//! in braces, so all keys a Lua script touches for one session live in one
//! slot (scripts may only touch keys of one slot in Cluster):
//!
//! | what | key | type |
//! | --- | --- | --- |
//! | flag | `<prefix>:{<session>}:flag:<name>` | string, `PX` TTL |
//! | counter | `<prefix>:{<session>}:ctr:<name>` | string integer, TTL |
//! | lease | `<prefix>:{<session>}:owner` | hash `worker`, `token`, TTL |
//! | signals | `<prefix>:{<session>}:sig` | stream, TTL |
//! | signal de-duplication | `<prefix>:{<session>}:sig:seen` and `:sig:seen-ids` | sorted set and hash, TTL |
//! | lock | `<prefix>:{<key>}:lock` | hash `token`, `holder`, TTL |
//! | fencing counter | `<prefix>:{<key>}:lock:fence` | string integer, long TTL |
//!
//! Wake-ups travel on the pub/sub channel `<prefix>:worker:<worker>`; a
//! channel is not a key and has no slot.
//!
//! Session ids and the prefix cannot contain braces ([`SessionId`] and
//! [`Keys::new`] refuse them), so the tag is always exactly the session id.

use crate::error::Result;
use crate::ids::{SessionId, WorkerId, check_prefix};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "turngate";

/// Builds the keys of one deployment (one prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// A key builder for `prefix`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`](crate::Error::Invalid) if the prefix is empty,
    /// longer than 64 bytes, or contains whitespace or a brace.
    pub fn new(prefix: &str) -> Result<Self> {
        check_prefix(prefix)?;
        Ok(Self { prefix: prefix.to_owned() })
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn session_key(&self, session: &SessionId, suffix: &str) -> String {
        format!("{}:{{{}}}:{suffix}", self.prefix, session.as_str())
    }

    /// The key of flag `name` in `scope`.
    #[must_use]
    pub fn flag(&self, scope: &SessionId, name: &str) -> String {
        self.session_key(scope, &format!("flag:{name}"))
    }

    /// The key of counter `name` in `scope`.
    #[must_use]
    pub fn counter(&self, scope: &SessionId, name: &str) -> String {
        self.session_key(scope, &format!("ctr:{name}"))
    }

    /// The lease (owner) hash of `session`.
    #[must_use]
    pub fn owner(&self, session: &SessionId) -> String {
        self.session_key(session, "owner")
    }

    /// The signal stream of `session`.
    #[must_use]
    pub fn signals(&self, session: &SessionId) -> String {
        self.session_key(session, "sig")
    }

    /// The sorted set of recent de-duplication keys of `session` (score: the
    /// unix millisecond at which each is forgotten).
    #[must_use]
    pub fn signals_seen(&self, session: &SessionId) -> String {
        self.session_key(session, "sig:seen")
    }

    /// The hash from de-duplication key to stream id of `session`.
    #[must_use]
    pub fn signals_seen_ids(&self, session: &SessionId) -> String {
        self.session_key(session, "sig:seen-ids")
    }

    /// The lock hash of `key`.
    #[must_use]
    pub fn lock(&self, key: &SessionId) -> String {
        self.session_key(key, "lock")
    }

    /// The fencing-token counter of lock `key`.
    #[must_use]
    pub fn fence(&self, key: &SessionId) -> String {
        self.session_key(key, "lock:fence")
    }

    /// The prefix of every worker wake-up channel; the worker id follows it.
    #[must_use]
    pub fn worker_channel_prefix(&self) -> String {
        format!("{}:worker:", self.prefix)
    }

    /// The pub/sub channel on which `worker` is woken.
    #[must_use]
    pub fn worker_channel(&self, worker: &WorkerId) -> String {
        format!("{}{}", self.worker_channel_prefix(), worker.as_str())
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self { prefix: DEFAULT_PREFIX.to_owned() }
    }
}

/// The part of `key` that Redis Cluster hashes, by Redis's rule: the text
/// between the first `{` and the next `}` if that is non-empty, otherwise
/// the whole key.
#[must_use]
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        let rest = key.get(open + 1..).unwrap_or("");
        if let Some(close) = rest.find('}')
            && close > 0
        {
            return rest.get(..close).unwrap_or(key);
        }
    }
    key
}

#[cfg(test)]
mod tests;
