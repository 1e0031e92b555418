//! Identifiers that cross the core's boundary.
//!
//! Ids the peers assign (responses, items, tool calls) are strings the core
//! never interprets. Ids the core assigns (client events, playback marks,
//! client connections) are numbers with a fixed text form, so a transport or
//! backend can put them on the wire and parse them back from an echo.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id the backend gave a response (`response.id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResponseId(pub String);

/// The id of a conversation item (an assistant message, a user turn).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemId(pub String);

/// The id the model gave a function call (`call_id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId(pub String);

/// The `event_id` the core puts on a client event so that an upstream `error`
/// can be matched to the command that caused it. Its text form is `tg<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientEventId(pub u64);

/// A playback mark: sent to the transport after a chunk of audio and echoed
/// back once the caller has heard that chunk. Its text form is `tg<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MarkId(pub u64);

/// One app-client connection to a session (several may be open at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnId(pub u64);

/// A wire id that does not have the `tg<n>` form the core produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignId;

impl fmt::Display for ForeignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an id turngate produced")
    }
}

impl std::error::Error for ForeignId {}

fn parse_tagged(text: &str) -> Result<u64, ForeignId> {
    let digits = text.strip_prefix("tg").ok_or(ForeignId)?;
    // `u64::from_str` accepts a leading `+`, which our own ids never carry.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ForeignId);
    }
    digits.parse().map_err(|_| ForeignId)
}

macro_rules! tagged_id {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "tg{}", self.0)
            }
        }

        impl FromStr for $ty {
            type Err = ForeignId;

            fn from_str(text: &str) -> Result<Self, ForeignId> {
                parse_tagged(text).map($ty)
            }
        }
    };
}

tagged_id!(ClientEventId);
tagged_id!(MarkId);

macro_rules! string_id {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $ty {
            fn from(text: &str) -> Self {
                $ty(text.to_owned())
            }
        }
    };
}

string_id!(ResponseId);
string_id!(ItemId);
string_id!(CallId);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn{}", self.0)
    }
}
