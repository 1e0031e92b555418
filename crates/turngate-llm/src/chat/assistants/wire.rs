//! Assistants API bodies (threads, messages, runs) and error classification.
//!
//! Pure serde: nothing here does IO. Incoming objects are read leniently
//! (unknown fields ignored, unknown statuses kept as text) because the
//! upstream adds fields over time; what we send is built from typed structs
//! with only documented fields, because strict servers reject unknown ones.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::rest::ApiError;

/// The metadata key under which each message and run carries our tag, so a
/// create whose answer was lost can be found instead of sent twice.
pub(crate) const TAG_KEY: &str = "turngate_tag";

/// A run's status as the wire spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunStatus {
    Queued,
    InProgress,
    RequiresAction,
    Cancelling,
    Cancelled,
    Failed,
    Completed,
    Incomplete,
    Expired,
    /// A status this code does not know; treated as blocking the thread.
    Unknown(String),
}

impl RunStatus {
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "in_progress" => Self::InProgress,
            "requires_action" => Self::RequiresAction,
            "cancelling" => Self::Cancelling,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "completed" => Self::Completed,
            "incomplete" => Self::Incomplete,
            "expired" => Self::Expired,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::RequiresAction => "requires_action",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Incomplete => "incomplete",
            Self::Expired => "expired",
            Self::Unknown(text) => text,
        }
    }
}

/// A run object, reduced to what the gate and the tracker read.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Run {
    pub(crate) id: String,
    #[serde(deserialize_with = "status")]
    pub(crate) status: RunStatus,
    #[serde(default)]
    pub(crate) required_action: Option<RequiredAction>,
    #[serde(default)]
    pub(crate) last_error: Option<LastError>,
    #[serde(default)]
    pub(crate) incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub(crate) metadata: Option<Value>,
}

fn status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RunStatus, D::Error> {
    String::deserialize(d).map(|text| RunStatus::parse(&text))
}

/// `required_action`: the tool calls a run waits for.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RequiredAction {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) submit_tool_outputs: Option<SubmitToolOutputsAction>,
}

/// `required_action.submit_tool_outputs`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubmitToolOutputsAction {
    pub(crate) tool_calls: Vec<ToolCall>,
}

/// One requested call.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) function: Option<FunctionCall>,
}

/// The function part of a tool call; `arguments` is JSON text.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FunctionCall {
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// `last_error` of a failed run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LastError {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `incomplete_details` of an incomplete run.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IncompleteDetails {
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// A page of a list endpoint.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct List<T> {
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) has_more: bool,
    #[serde(default)]
    pub(crate) last_id: Option<String>,
}

/// A thread object; only its id matters here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Thread {
    pub(crate) id: String,
}

/// A message object.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) content: Vec<ContentPart>,
    #[serde(default)]
    pub(crate) run_id: Option<String>,
    #[serde(default)]
    pub(crate) metadata: Option<Value>,
}

/// One part of a message's content; only text parts carry a reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum ContentPart {
    #[serde(rename = "text")]
    Text { text: TextValue },
    #[serde(other)]
    Other,
}

/// `{"value": "...", "annotations": [...]}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TextValue {
    pub(crate) value: String,
}

/// `POST /threads/{id}/messages`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CreateMessage<'a> {
    pub(crate) role: &'static str,
    pub(crate) content: &'a str,
    pub(crate) metadata: Value,
}

/// `POST /threads/{id}/runs`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CreateRun<'a> {
    pub(crate) assistant_id: &'a str,
    pub(crate) metadata: Value,
}

/// `POST /threads/{id}/runs/{run}/submit_tool_outputs`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SubmitToolOutputs {
    pub(crate) tool_outputs: Vec<ToolOutput>,
}

/// One tool's output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct ToolOutput {
    pub(crate) tool_call_id: String,
    pub(crate) output: String,
}

/// An error answer, classified by what the provider does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// "Can't add messages to thread_X while a run run_Y is active." or
    /// "Thread thread_X already has an active run run_Y.": clear and retry.
    ActiveRun { run_id: Option<String> },
    /// "Cannot cancel run with status 'S'.": the run moved on; re-read it.
    NotCancellable,
    /// "Runs in status \"S\" do not accept tool outputs.": re-read the run.
    NoToolOutputsAccepted,
    /// 404: the object is gone (a thread deleted behind our back).
    NotFound,
    /// Anything else: surfaced to the caller.
    Other,
}

/// Classifies an error answer. The conflict errors carry no code (null), so
/// they are recognized by their exact message shapes.
pub(crate) fn classify(status: u16, error: &ApiError) -> Refusal {
    let message = error.message.as_str();
    if status == 404 {
        return Refusal::NotFound;
    }
    if status != 400 {
        return Refusal::Other;
    }
    if let Some(rest) = message.strip_prefix("Can't add messages to ")
        && let Some((_, run)) = rest.split_once(" while a run ")
        && let Some(run) = run.strip_suffix(" is active.")
    {
        return Refusal::ActiveRun { run_id: Some(run.to_owned()) };
    }
    if let Some(rest) = message.strip_prefix("Thread ")
        && let Some((_, run)) = rest.split_once(" already has an active run ")
    {
        let run = run.strip_suffix('.').unwrap_or(run);
        return Refusal::ActiveRun { run_id: Some(run.to_owned()) };
    }
    if message.starts_with("Cannot cancel run with status ") {
        return Refusal::NotCancellable;
    }
    if message.starts_with("Runs in status ") && message.ends_with(" do not accept tool outputs.") {
        return Refusal::NoToolOutputsAccepted;
    }
    Refusal::Other
}

/// The tag stored in an object's metadata, if any.
pub(crate) fn tag_of(metadata: Option<&Value>) -> Option<&str> {
    metadata?.get(TAG_KEY)?.as_str()
}

/// Metadata carrying `tag`.
pub(crate) fn tag_metadata(tag: &str) -> Value {
    serde_json::json!({ TAG_KEY: tag })
}
