//! The chat providers and `ConversationQueue` against the chat simulators.

mod assistants;
mod responses;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};
use turngate_llm::chat::{ToolError, ToolHandler};

/// Answers every tool with a fixed JSON object, and counts the calls.
#[derive(Debug, Default)]
pub(crate) struct FixedTool {
    pub(crate) calls: AtomicUsize,
}

#[async_trait]
impl ToolHandler for FixedTool {
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(arguments.get("text").is_some(), "the model passes the text: {arguments}");
        match name {
            "weather" => Ok(json!({"temp": 21})),
            other => Err(ToolError::new(format!("no tool {other}"))),
        }
    }
}

pub(crate) fn fixed_tool() -> Arc<FixedTool> {
    Arc::new(FixedTool::default())
}

/// The median of some durations, for reports.
pub(crate) fn median(mut values: Vec<std::time::Duration>) -> Option<std::time::Duration> {
    values.sort();
    values.get(values.len() / 2).copied()
}
