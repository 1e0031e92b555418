//! Turning Redis errors and replies into this crate's types.

use std::time::Duration;

use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind, Value};

use crate::error::Error;
use crate::signal::{Signal, SignalId, StoredSignal};

/// Classifies a Redis client error. Connection trouble and the server states
/// that pass on their own (loading a dataset, failover, cluster
/// reconfiguration) are `Unavailable`; anything else is a `Backend` error.
pub(super) fn map_error(op: &'static str, err: RedisError, op_timeout: Duration) -> Error {
    if err.is_timeout() {
        return Error::Timeout { op, after: op_timeout };
    }
    let transient = matches!(
        err.kind(),
        RedisKind::Io
            | RedisKind::ClusterConnectionNotFound
            | RedisKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::ReadOnly
            )
    ) || err.is_connection_dropped()
        || err.is_connection_refusal();
    if transient {
        Error::Unavailable { op, source: Box::new(err) }
    } else {
        Error::Backend { op, source: Box::new(err) }
    }
}

/// The bytes of a string reply.
pub(super) fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A string reply as text.
pub(super) fn text(value: &Value) -> Option<&str> {
    bytes(value).and_then(|b| std::str::from_utf8(b).ok())
}

/// An integer reply (or a string holding one).
pub(super) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

/// The elements of an array reply.
pub(super) fn array(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// Parses the entries of an `XRANGE` reply into stored signals.
pub(super) fn stream_entries(op: &'static str, value: &Value) -> Result<Vec<StoredSignal>, Error> {
    let bad = |what: &str| Error::backend(op, format!("unexpected stream reply: {what}"));
    let entries = array(value).ok_or_else(|| bad("not an array"))?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let [id, fields] = array(entry).ok_or_else(|| bad("entry not an array"))? else {
            return Err(bad("entry not a pair"));
        };
        let id: SignalId = text(id)
            .ok_or_else(|| bad("id not a string"))?
            .parse()
            .map_err(|_| bad("id not <ms>-<seq>"))?;
        let fields = array(fields).ok_or_else(|| bad("fields not an array"))?;
        let mut kind = None;
        let mut payload = None;
        let mut sent_at_us = None;
        for pair in fields.chunks(2) {
            if let [name, value] = pair {
                match bytes(name) {
                    Some(b"k") => kind = text(value).map(str::to_owned),
                    Some(b"p") => payload = bytes(value).map(<[u8]>::to_vec),
                    Some(b"t") => sent_at_us = int(value).and_then(|n| u64::try_from(n).ok()),
                    _ => {}
                }
            }
        }
        let (Some(kind), Some(payload), Some(sent_at_us)) = (kind, payload, sent_at_us) else {
            return Err(bad("entry missing k, p or t"));
        };
        out.push(StoredSignal { id, signal: Signal::from_stored(kind, payload, sent_at_us) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
