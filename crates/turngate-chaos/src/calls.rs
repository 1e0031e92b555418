//! Placing simulated calls and judging how they went.

use std::path::Path;
use std::time::Duration;

use tokio::task::JoinHandle;
use turngate_sim::callers::{self, CallReport, CallerConfig, Protocol, Step};

use crate::rig::{Worker, carrier_headers};

/// One call placed: its id, where it went, how many questions it asks, and
/// the task that runs it.
pub(crate) struct Placed {
    pub(crate) id: String,
    pub(crate) worker: usize,
    pub(crate) questions: usize,
    pub(crate) protocol: Protocol,
    pub(crate) task: JoinHandle<Result<CallReport, callers::CallerError>>,
}

/// The path of each carrier.
pub(crate) fn path(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Twilio => "/twilio",
        Protocol::Telnyx => "/telnyx",
        Protocol::AudioCodes => "/audiocodes",
    }
}

/// The session key the server gives the call (`provider:carrier id`).
pub(crate) fn session_key(protocol: Protocol, id: &str) -> String {
    match protocol {
        Protocol::Twilio => format!("twilio:{}", callers::twilio_call_sid(id)),
        Protocol::Telnyx => format!("telnyx:{}", callers::telnyx_call_control_id(id)),
        Protocol::AudioCodes => format!("audiocodes:{}", callers::audiocodes_conversation_id(id)),
    }
}

/// The carrier's id for the call, which the server's record is named by.
pub(crate) fn carrier_id(protocol: Protocol, id: &str) -> String {
    session_key(protocol, id).split_once(':').map(|(_, id)| id.to_owned()).unwrap_or_default()
}

/// A question: speech, then a bounded wait for the answer.
pub(crate) fn question() -> [Step; 2] {
    [Step::Speak { ms: 800, hold_on: false }, Step::WaitForAgent { max_ms: 15_000 }]
}

/// Places a call on `worker` with `script` (questions counted from it).
pub(crate) fn place(
    worker: &Worker,
    worker_index: usize,
    protocol: Protocol,
    id: String,
    script: Vec<Step>,
) -> Placed {
    let questions = script.iter().filter(|s| matches!(s, Step::Speak { .. })).count();
    let seconds: u64 = script
        .iter()
        .map(|step| match step {
            Step::Speak { ms, .. } | Step::Silence { ms } => *ms,
            Step::WaitForAgent { max_ms } => *max_ms,
            _ => 1000,
        })
        .sum::<u64>()
        / 1000;
    let config = CallerConfig {
        protocol,
        url: worker.ws(path(protocol)),
        call_id: id.clone(),
        headers: carrier_headers(path(protocol)),
        script,
        timeout: Duration::from_secs(seconds + 30),
        detailed_timeline: false,
        ..CallerConfig::default()
    };
    Placed {
        id,
        worker: worker_index,
        questions,
        protocol,
        task: tokio::spawn(callers::run(config)),
    }
}

/// Waits for the call and says whether it was served: `Err` names what
/// went wrong (a caller that could not run, a rule its peer broke, a
/// question left unanswered).
pub(crate) async fn outcome(call: &mut Placed) -> Result<CallReport, String> {
    let report = match (&mut call.task).await {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => {
            return Err(format!("call {}: the caller could not call: {error}", call.id));
        }
        Err(error) => return Err(format!("call {}: the caller task failed: {error}", call.id)),
    };
    if !report.is_clean() {
        return Err(format!("call {}: {}", call.id, one_line(&report)));
    }
    let answered = report.turn_latencies.len();
    if answered < call.questions {
        return Err(format!(
            "call {}: {answered} of {} questions answered",
            call.id, call.questions
        ));
    }
    Ok(report)
}

/// A report's failures and violations on one line.
fn one_line(report: &CallReport) -> String {
    let mut parts: Vec<String> = report.failures.clone();
    parts.extend(report.violations.iter().cloned());
    parts.join("; ")
}

/// Saves the server's record of `call` (its timeline) beside the workers'
/// logs, so a violation can be read afterwards; says where, or why not.
pub(crate) async fn save_record(worker: &Worker, dir: &Path, call: &Placed) -> String {
    let Some(record) = worker.record(&carrier_id(call.protocol, &call.id)).await else {
        return "the worker has no record of it".to_owned();
    };
    let path = dir.join(format!("{}.json", call.id));
    match serde_json::to_vec_pretty(&record).map(|bytes| std::fs::write(&path, bytes)) {
        Ok(Ok(())) => format!("record: {}", path.display()),
        Ok(Err(error)) => format!("cannot write {}: {error}", path.display()),
        Err(error) => format!("cannot encode its record: {error}"),
    }
}
