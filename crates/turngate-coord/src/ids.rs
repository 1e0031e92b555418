//! Validated identifiers: sessions (calls or conversations), workers and the
//! short names of flags and counters.
//!
//! Ids are checked once, at construction, so no coordinator operation can
//! fail on a malformed id and no id can break the Redis key layout (see
//! [`keys`](crate::keys)).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The longest session or worker id accepted, in bytes.
pub const MAX_ID_LEN: usize = 200;
/// The longest flag, counter or signal-kind name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 100;

/// The id of one call or chat conversation: the scope of its flags and
/// counters, the target of its signals, the subject of its lease and the key
/// of its lock.
///
/// Between 1 and [`MAX_ID_LEN`] bytes, with no whitespace, no control
/// characters and no `{` or `}` (braces would move the Redis Cluster hash tag
/// and split one session's keys across slots).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// Checks and wraps an id.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the id is empty, too long, or contains
    /// whitespace, a control character or a brace.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        check_token("session id", &id, MAX_ID_LEN, true)?;
        Ok(Self(id))
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of one worker process. It must be unique per process incarnation:
/// a restarted worker should not reuse its predecessor's id, or it would
/// inherit the predecessor's leases (use [`WorkerId::random`] or add a boot
/// nonce to a hostname).
///
/// Same rules as [`SessionId`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(String);

impl WorkerId {
    /// Checks and wraps an id.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] under the same rules as [`SessionId::new`].
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        check_token("worker id", &id, MAX_ID_LEN, true)?;
        Ok(Self(id))
    }

    /// A fresh id of the form `w-<pid>-<16 hex digits>`, unique per call.
    #[must_use]
    pub fn random() -> Self {
        Self(format!("w-{}-{:016x}", std::process::id(), random_u64()))
    }

    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! id_traits {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;

            fn try_from(value: &str) -> Result<Self> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Error;

            fn try_from(value: String) -> Result<Self> {
                Self::new(value)
            }
        }
    };
}

id_traits!(SessionId);
id_traits!(WorkerId);

/// Checks a flag, counter or signal-kind name: 1 to [`MAX_NAME_LEN`] bytes,
/// no whitespace and no control characters.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    check_token(what, name, MAX_NAME_LEN, false)
}

/// Checks a key prefix: the same rules as a session id, at most 64 bytes.
pub(crate) fn check_prefix(prefix: &str) -> Result<()> {
    check_token("key prefix", prefix, 64, true)
}

fn check_token(what: &'static str, s: &str, max: usize, no_braces: bool) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(what, "must not be empty"));
    }
    if s.len() > max {
        return Err(Error::invalid(what, format!("{} bytes, at most {max} allowed", s.len())));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            what,
            format!("contains whitespace or control character {c:?}"),
        ));
    }
    if no_braces && s.contains(['{', '}']) {
        return Err(Error::invalid(
            what,
            "contains a brace, which would break the Redis Cluster hash tag",
        ));
    }
    Ok(())
}

/// A random 64-bit value for lease tokens and lock holder nonces.
///
/// These need to be unique, not secret: the standard library's randomly keyed
/// SipHash over a process-wide counter and the clock gives that without a
/// random-number crate.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Microseconds since the Unix epoch, by the wall clock (0 if the clock is
/// before 1970).
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
