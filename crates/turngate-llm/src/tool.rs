//! The tool-call seam shared by every backend: realtime and chat alike.
//!
//! A model asks for a function by name with JSON arguments; the application
//! answers with a JSON output or an error. Backends own the wire details
//! (call ids, where the output goes, when the model resumes); a
//! [`ToolHandler`] only sees the name and the arguments.
//!
//! What this module deliberately does not do: dispatch by name, validate the
//! arguments against a schema, or time the handler out. The backend that
//! calls a handler bounds the call with its own deadline.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

/// Runs the application's tools on a model's behalf.
///
/// Object-safe, so a server can hold one as `Arc<dyn ToolHandler>` and hand
/// it to any backend.
#[async_trait]
pub trait ToolHandler: Send + Sync {
    /// Runs the tool `name` with `arguments` (already parsed from the wire's
    /// JSON text) and returns its output.
    ///
    /// An `Err` is not fatal to the conversation: backends report it to the
    /// model as the tool's output (see [`ToolError::to_output`]), so the model
    /// can tell the user; it is the handler's way to say "this tool failed".
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError>;
}

#[async_trait]
impl<T: ToolHandler + ?Sized> ToolHandler for Arc<T> {
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        (**self).call(name, arguments).await
    }
}

/// A tool failed; the message is shown to the model, never to the peer's logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tool failed: {message}")]
pub struct ToolError {
    message: String,
}

impl ToolError {
    /// A failure with a message the model may read.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The message given at construction.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON a backend sends to the model in place of an output, so the
    /// model learns that the call failed and why.
    pub fn to_output(&self) -> Value {
        serde_json::json!({ "error": self.message })
    }
}

/// The text form of a tool output as the wire carries it: a JSON string is
/// sent as its contents, anything else as compact JSON.
pub fn output_text(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
