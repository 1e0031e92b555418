//! Unit tests of the Assistants wire types, run tracker and pure helpers,
//! over the hand-written fixtures in `tests/fixtures/openai-chat/`.

use serde_json::json;

use super::super::ToolError;
use super::super::rest::ApiError;
use super::protocol::{new_tag, parse_arguments, reply_text, tool_output, trim_plan};
use super::run::{Call, Gate, Step, gate, step};
use super::wire::{List, Message, Refusal, Run, RunStatus, classify, tag_metadata, tag_of};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../../tests/fixtures/openai-chat/", $name))
    };
}

fn run(body: &str) -> Run {
    serde_json::from_str(body).unwrap()
}

fn error(body: &str) -> ApiError {
    ApiError::parse(body.as_bytes())
}

#[test]
fn every_active_status_blocks_and_only_cancelling_is_awaited() {
    let cases = [
        ("queued", Gate::Cancel),
        ("in_progress", Gate::Cancel),
        ("requires_action", Gate::Cancel),
        ("cancelling", Gate::Await),
        ("cancelled", Gate::Clear),
        ("failed", Gate::Clear),
        ("completed", Gate::Clear),
        ("incomplete", Gate::Clear),
        ("expired", Gate::Clear),
        ("something_new", Gate::Await),
    ];
    for (status, expected) in cases {
        assert_eq!(gate(&RunStatus::parse(status)), expected, "{status}");
    }
}

#[test]
fn status_text_round_trips() {
    for status in [
        "queued",
        "in_progress",
        "requires_action",
        "cancelling",
        "cancelled",
        "failed",
        "completed",
        "incomplete",
        "expired",
        "paused_for_review",
    ] {
        assert_eq!(RunStatus::parse(status).as_str(), status);
    }
}

#[test]
fn a_queued_run_is_waited_for_and_keeps_its_tag() {
    let queued = run(fixture!("assistants-run-queued.json"));
    assert_eq!(step(&queued), Step::Wait);
    assert_eq!(tag_of(queued.metadata.as_ref()), Some("tg-00000000000000aa"));
}

#[test]
fn requires_action_yields_every_function_call_in_order() {
    let waiting = run(fixture!("assistants-run-requires-action.json"));
    assert_eq!(
        step(&waiting),
        Step::SubmitToolOutputs(vec![
            Call {
                id: "call_w1".into(),
                name: "weather".into(),
                arguments: r#"{"city":"Oslo"}"#.into()
            },
            Call { id: "call_t1".into(), name: "time".into(), arguments: "{}".into() },
        ])
    );
}

#[test]
fn requires_action_without_calls_fails_instead_of_waiting_forever() {
    let mut waiting = run(fixture!("assistants-run-requires-action.json"));
    waiting.required_action = None;
    assert!(matches!(step(&waiting), Step::Fail { status, .. } if status == "requires_action"));
}

#[test]
fn a_failed_run_reports_its_last_error() {
    let failed = run(fixture!("assistants-run-failed.json"));
    assert_eq!(
        step(&failed),
        Step::Fail {
            status: "failed".into(),
            detail: "server_error: Sorry, something went wrong.".into()
        }
    );
}

#[test]
fn an_unknown_status_and_unknown_fields_are_tolerated() {
    let odd = run(fixture!("assistants-run-unknown-status.json"));
    assert_eq!(odd.status, RunStatus::Unknown("paused_for_review".into()));
    assert_eq!(step(&odd), Step::Wait);
}

#[test]
fn terminal_statuses_other_than_completed_fail_with_their_name() {
    for status in ["cancelled", "expired", "incomplete"] {
        let ended = run(&json!({"id": "run_1", "status": status}).to_string());
        assert!(matches!(step(&ended), Step::Fail { status: s, .. } if s == status));
    }
    let done = run(&json!({"id": "run_1", "status": "completed"}).to_string());
    assert_eq!(step(&done), Step::Collect);
}

#[test]
fn the_reply_is_the_runs_text_parts_only() {
    let page: List<Message> = serde_json::from_str(fixture!("assistants-messages.json")).unwrap();
    assert_eq!(
        reply_text(&page.data, "run_c1").as_deref(),
        Some("It is sunny in Oslo.\nAnything else?")
    );
    assert_eq!(reply_text(&page.data, "run_old").as_deref(), Some("An older reply."));
    assert_eq!(reply_text(&page.data, "run_none"), None);
}

#[test]
fn conflict_errors_are_recognized_by_their_exact_texts() {
    assert_eq!(
        classify(400, &error(fixture!("assistants-error-message-conflict.json"))),
        Refusal::ActiveRun { run_id: Some("run_r9".into()) }
    );
    assert_eq!(
        classify(400, &error(fixture!("assistants-error-run-conflict.json"))),
        Refusal::ActiveRun { run_id: Some("run_r9".into()) }
    );
    assert_eq!(
        classify(400, &error(fixture!("assistants-error-cannot-cancel.json"))),
        Refusal::NotCancellable
    );
    assert_eq!(
        classify(400, &error(fixture!("assistants-error-no-tool-outputs.json"))),
        Refusal::NoToolOutputsAccepted
    );
}

#[test]
fn look_alike_errors_are_not_conflicts() {
    let other = error(
        r#"{"error":{"message":"Can't add messages to thread_t1.","type":"invalid_request_error","param":null,"code":null}}"#,
    );
    assert_eq!(classify(400, &other), Refusal::Other);
    let wrong_status = error(fixture!("assistants-error-message-conflict.json"));
    assert_eq!(classify(409, &wrong_status), Refusal::Other);
    assert_eq!(classify(404, &error("{}")), Refusal::NotFound);
}

#[test]
fn trimming_keeps_the_newest_messages_across_pages() {
    let page = |ids: &[&str]| -> Vec<Message> {
        ids.iter()
            .map(|id| {
                serde_json::from_value(json!({"id": id, "role": "user", "content": []})).unwrap()
            })
            .collect()
    };
    assert_eq!(trim_plan(&page(&["m5", "m4", "m3", "m2"]), 0, 2), vec!["m3", "m2"]);
    assert_eq!(trim_plan(&page(&["m3", "m2"]), 3, 4), vec!["m2"]);
    assert_eq!(trim_plan(&page(&["m3", "m2"]), 1, 4), Vec::<String>::new());
    assert_eq!(trim_plan(&page(&["m1"]), 0, 0), vec!["m1"]);
}

#[test]
fn tool_outputs_are_text_and_failures_reach_the_model() {
    assert_eq!(tool_output(Ok(json!("sunny"))), "sunny");
    assert_eq!(tool_output(Ok(json!({"temp": 21}))), r#"{"temp":21}"#);
    assert_eq!(tool_output(Err(ToolError::new("down"))), r#"{"error":"down"}"#);
    let bad = parse_arguments("weather", "{not json").unwrap_err();
    assert!(bad.message().starts_with("arguments for weather are not valid JSON"), "{bad}");
}

#[test]
fn tags_are_distinct_and_stored_under_the_tag_key() {
    assert_ne!(new_tag(1), new_tag(2));
    let metadata = tag_metadata(&new_tag(7));
    assert_eq!(tag_of(Some(&metadata)), Some("tg-0000000000000007"));
    assert_eq!(tag_of(Some(&json!({"other": "x"}))), None);
}
