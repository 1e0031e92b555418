//! Responses and Conversations API bodies, and error classification.
//!
//! Pure serde, no IO. Incoming objects are read leniently (unknown fields
//! ignored, unknown output item types kept as `Other`); outgoing bodies carry
//! only documented fields, because strict servers reject unknown ones.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::rest::ApiError;

/// The error code of a conversation that another response is working on.
pub(crate) const CONVERSATION_LOCKED: &str = "conversation_locked";

/// A Response's status as the wire spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
    Cancelled,
    Incomplete,
    /// A status this code does not know; polled like an active one.
    Unknown(String),
}

impl Status {
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "incomplete" => Self::Incomplete,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Incomplete => "incomplete",
            Self::Unknown(text) => text,
        }
    }
}

/// A Response object, reduced to what the provider reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Response {
    pub(crate) id: String,
    #[serde(deserialize_with = "status")]
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) output: Vec<OutputItem>,
    #[serde(default)]
    pub(crate) error: Option<ResponseError>,
    #[serde(default)]
    pub(crate) incomplete_details: Option<IncompleteDetails>,
}

fn status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    String::deserialize(d).map(|text| Status::parse(&text))
}

/// One output item; only messages and function calls matter here.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum OutputItem {
    #[serde(rename = "message")]
    Message {
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        content: Vec<OutputContent>,
    },
    #[serde(rename = "function_call")]
    FunctionCall { call_id: String, name: String, arguments: String },
    #[serde(other)]
    Other,
}

/// One part of an output message.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum OutputContent {
    #[serde(rename = "output_text")]
    Text { text: String },
    #[serde(rename = "refusal")]
    Refusal { refusal: String },
    #[serde(other)]
    Other,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ResponseError {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// `incomplete_details` of an incomplete response.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IncompleteDetails {
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// A Conversation object; only its id matters here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Conversation {
    pub(crate) id: String,
}

/// `POST /responses` with a conversation.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CreateResponse<'a> {
    pub(crate) model: &'a str,
    pub(crate) conversation: &'a str,
    pub(crate) input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    pub(crate) tools: &'a [Value],
    pub(crate) background: bool,
}

/// A `function_call_output` input item.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct FunctionCallOutput {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) call_id: String,
    pub(crate) output: String,
}

impl FunctionCallOutput {
    pub(crate) fn new(call_id: String, output: String) -> Self {
        Self { kind: "function_call_output", call_id, output }
    }
}

/// An error answer, classified by what the provider does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `conversation_locked`: another response works on the conversation;
    /// wait and retry.
    Busy,
    /// 404: the object is gone.
    NotFound,
    /// Anything else: surfaced to the caller.
    Other,
}

/// Classifies an error answer by its code (the lock error has one).
pub(crate) fn classify(status: u16, error: &ApiError) -> Refusal {
    if error.code.as_deref() == Some(CONVERSATION_LOCKED) {
        Refusal::Busy
    } else if status == 404 {
        Refusal::NotFound
    } else {
        Refusal::Other
    }
}
