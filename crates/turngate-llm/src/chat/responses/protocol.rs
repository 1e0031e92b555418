//! The response tracker: what to do next, given a Response.
//!
//! Pure decisions, no IO: keep polling, answer function calls, return the
//! reply, or fail with the terminal status.

use super::wire::{OutputContent, OutputItem, Response, Status};

/// What to do next with our response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `queued` or `in_progress` (or unknown): poll again.
    Wait,
    /// Completed with function calls: run them and send their outputs.
    Call(Vec<Call>),
    /// Completed with text.
    Reply(String),
    /// Ended without a reply.
    Fail { status: String, detail: String },
}

/// One function call the response asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) call_id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// The next step for `response`.
pub(crate) fn step(response: &Response) -> Step {
    match &response.status {
        Status::Queued | Status::InProgress | Status::Unknown(_) => Step::Wait,
        Status::Completed => completed(response),
        Status::Failed => Step::Fail {
            status: "failed".to_owned(),
            detail: response.error.as_ref().map_or_else(String::new, |e| {
                format!(
                    "{}: {}",
                    e.code.as_deref().unwrap_or("error"),
                    e.message.as_deref().unwrap_or("")
                )
            }),
        },
        Status::Incomplete => Step::Fail {
            status: "incomplete".to_owned(),
            detail: response
                .incomplete_details
                .as_ref()
                .and_then(|d| d.reason.clone())
                .unwrap_or_default(),
        },
        Status::Cancelled => Step::Fail { status: "cancelled".to_owned(), detail: String::new() },
    }
}

fn completed(response: &Response) -> Step {
    let calls: Vec<Call> = response
        .output
        .iter()
        .filter_map(|item| match item {
            OutputItem::FunctionCall { call_id, name, arguments } => Some(Call {
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            }),
            _ => None,
        })
        .collect();
    if !calls.is_empty() {
        return Step::Call(calls);
    }
    let parts: Vec<&str> = response
        .output
        .iter()
        .filter_map(|item| match item {
            OutputItem::Message { role, content } if role.as_deref() != Some("user") => {
                Some(content)
            }
            _ => None,
        })
        .flatten()
        .filter_map(|part| match part {
            OutputContent::Text { text } => Some(text.as_str()),
            OutputContent::Refusal { refusal } => Some(refusal.as_str()),
            OutputContent::Other => None,
        })
        .collect();
    if parts.is_empty() {
        Step::Fail {
            status: "completed".to_owned(),
            detail: "no text and no function call in the output".to_owned(),
        }
    } else {
        Step::Reply(parts.join("\n"))
    }
}
