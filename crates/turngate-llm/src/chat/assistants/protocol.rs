//! Pure helpers of the Assistants flow: reading replies, planning trims,
//! shaping tool outputs.

use serde_json::Value;

use super::super::{ToolError, output_text};
use super::wire::{ContentPart, Message};

/// The assistant's text produced by `run_id`, from a thread's messages in
/// ascending order; `None` when the run wrote no text.
pub(crate) fn reply_text(messages: &[Message], run_id: &str) -> Option<String> {
    let parts: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == "assistant" && m.run_id.as_deref() == Some(run_id))
        .flat_map(|m| m.content.iter())
        .filter_map(|part| match part {
            ContentPart::Text { text } => Some(text.value.as_str()),
            ContentPart::Other => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Which messages to delete so that only the newest `keep` remain, given a
/// page of messages in descending order (newest first) that starts after
/// `skipped` newer ones.
pub(crate) fn trim_plan(page: &[Message], skipped: usize, keep: usize) -> Vec<String> {
    let kept_here = keep.saturating_sub(skipped);
    page.iter().skip(kept_here).map(|m| m.id.clone()).collect()
}

/// The output text for a call: the handler's output, or an error object the
/// model can read when the arguments were not JSON or the handler failed.
pub(crate) fn tool_output(result: Result<Value, ToolError>) -> String {
    match result {
        Ok(output) => output_text(&output),
        Err(error) => error.to_output().to_string(),
    }
}

/// Parses a call's JSON arguments; the error is phrased for the model.
pub(crate) fn parse_arguments(name: &str, arguments: &str) -> Result<Value, ToolError> {
    serde_json::from_str(arguments)
        .map_err(|e| ToolError::new(format!("arguments for {name} are not valid JSON: {e}")))
}

/// A fresh tag for one message and its run.
pub(crate) fn new_tag(random: u64) -> String {
    format!("tg-{random:016x}")
}
