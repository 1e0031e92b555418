//! The OpenAI REST error body, parsed without trusting its shape.

use serde::Deserialize;

/// `{"error": {"message", "type", "param", "code"}}`, the error shape of
/// every OpenAI REST endpoint. Missing fields read as empty or `None`; a body
/// that is not this shape keeps its raw text as the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ApiError {
    /// Human-readable text; code matches on it only where the API gives no code.
    pub(crate) message: String,
    /// `invalid_request_error`, `rate_limit_error`, `server_error`, ...
    pub(crate) kind: Option<String>,
    /// The request parameter at fault, if any.
    pub(crate) param: Option<String>,
    /// A stable code (`conversation_locked`, `insufficient_quota`, ...), often null.
    pub(crate) code: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Inner,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    param: Option<serde_json::Value>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl ApiError {
    /// Parses an error body. Some clients and proxies report the inner
    /// object without its `error` envelope, so both are accepted.
    pub(crate) fn parse(body: &[u8]) -> Self {
        let inner = serde_json::from_slice::<Envelope>(body)
            .map(|e| e.error)
            .or_else(|_| serde_json::from_slice::<Inner>(body));
        match inner {
            Ok(inner) if inner.message.is_some() || inner.code.is_some() => Self {
                message: inner.message.unwrap_or_default(),
                kind: inner.kind,
                param: inner.param.as_ref().and_then(scalar_text),
                code: inner.code.as_ref().and_then(scalar_text),
            },
            _ => Self { message: String::from_utf8_lossy(body).into_owned(), ..Self::default() },
        }
    }
}

/// A JSON string or number as text; null and anything else as `None`.
fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}
