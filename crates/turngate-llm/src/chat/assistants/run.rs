//! The run tracker: what to do next about a run, given its status.
//!
//! Pure decisions, no IO. Two questions are asked of it:
//! - about a run found on the thread before we add a message ([`gate`]):
//!   every non-terminal run blocks the thread, `requires_action` included,
//!   so it is cancelled, or awaited if it is already cancelling;
//! - about our own run ([`step`]): keep waiting, answer its tool calls,
//!   collect the reply, or fail with its terminal status.

use super::wire::{Run, RunStatus, ToolCall};

/// What to do about a run that blocks the thread we want to write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// It is terminal: the thread is free as far as this run goes.
    Clear,
    /// It is active and not yet cancelling: cancel it, then await it.
    Cancel,
    /// It is cancelling (or in a state we do not know): await it, do not
    /// cancel again (a second cancel is refused and changes nothing).
    Await,
}

/// The gate's decision for a run with `status`.
pub(crate) fn gate(status: &RunStatus) -> Gate {
    match status {
        RunStatus::Queued | RunStatus::InProgress | RunStatus::RequiresAction => Gate::Cancel,
        RunStatus::Cancelling | RunStatus::Unknown(_) => Gate::Await,
        RunStatus::Cancelled
        | RunStatus::Failed
        | RunStatus::Completed
        | RunStatus::Incomplete
        | RunStatus::Expired => Gate::Clear,
    }
}

/// What to do next with our own run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Still going: poll again after the backoff interval.
    Wait,
    /// It waits for these calls' outputs, all in one submission.
    SubmitToolOutputs(Vec<Call>),
    /// It finished: read its messages.
    Collect,
    /// It ended without a reply.
    Fail { status: String, detail: String },
}

/// One function call the run waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// The next step for our own run.
pub(crate) fn step(run: &Run) -> Step {
    match &run.status {
        RunStatus::Queued | RunStatus::InProgress | RunStatus::Cancelling => Step::Wait,
        RunStatus::Unknown(_) => Step::Wait,
        RunStatus::RequiresAction => match tool_calls(run) {
            Ok(calls) => Step::SubmitToolOutputs(calls),
            Err(detail) => Step::Fail { status: "requires_action".to_owned(), detail },
        },
        RunStatus::Completed => Step::Collect,
        RunStatus::Failed => Step::Fail {
            status: "failed".to_owned(),
            detail: run.last_error.as_ref().map_or_else(String::new, |e| {
                format!(
                    "{}: {}",
                    e.code.as_deref().unwrap_or("error"),
                    e.message.as_deref().unwrap_or("")
                )
            }),
        },
        RunStatus::Incomplete => Step::Fail {
            status: "incomplete".to_owned(),
            detail: run
                .incomplete_details
                .as_ref()
                .and_then(|d| d.reason.clone())
                .unwrap_or_default(),
        },
        status @ (RunStatus::Cancelled | RunStatus::Expired) => {
            Step::Fail { status: status.as_str().to_owned(), detail: String::new() }
        }
    }
}

/// The function calls of a `requires_action` run, or why they cannot be
/// answered (a missing action, a tool type other than `function`).
fn tool_calls(run: &Run) -> Result<Vec<Call>, String> {
    let action = run.required_action.as_ref().ok_or("requires_action without required_action")?;
    if action.kind != "submit_tool_outputs" {
        return Err(format!("unsupported required_action type {:?}", action.kind));
    }
    let calls = action.submit_tool_outputs.as_ref().ok_or("required_action without tool calls")?;
    if calls.tool_calls.is_empty() {
        return Err("required_action with an empty tool call list".to_owned());
    }
    calls.tool_calls.iter().map(call).collect()
}

fn call(call: &ToolCall) -> Result<Call, String> {
    match (&call.function, call.kind.as_str()) {
        (Some(function), "function") => Ok(Call {
            id: call.id.clone(),
            name: function.name.clone(),
            arguments: function.arguments.clone(),
        }),
        _ => Err(format!("tool call {} of unsupported type {:?}", call.id, call.kind)),
    }
}
