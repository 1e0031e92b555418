//! Unit tests of the Responses wire types and tracker, over the fixtures in
//! `tests/fixtures/openai-chat/`.

use serde_json::json;

use super::super::rest::ApiError;
use super::protocol::{Call, Step, step};
use super::wire::{CreateResponse, FunctionCallOutput, Refusal, Response, Status, classify};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../../tests/fixtures/openai-chat/", $name))
    };
}

fn response(body: &str) -> Response {
    serde_json::from_str(body).unwrap()
}

#[test]
fn a_completed_response_yields_its_text_and_skips_other_items() {
    assert_eq!(
        step(&response(fixture!("responses-completed.json"))),
        Step::Reply("Hello there.".into())
    );
}

#[test]
fn a_function_call_is_answered_before_any_text() {
    assert_eq!(
        step(&response(fixture!("responses-function-call.json"))),
        Step::Call(vec![Call {
            call_id: "call_w1".into(),
            name: "weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into()
        }])
    );
}

#[test]
fn failures_carry_the_error_and_active_statuses_wait() {
    assert_eq!(
        step(&response(fixture!("responses-failed.json"))),
        Step::Fail {
            status: "failed".into(),
            detail: "server_error: The model failed to generate a response.".into()
        }
    );
    for status in ["queued", "in_progress", "a_future_status"] {
        let active = response(&json!({"id": "resp_1", "status": status}).to_string());
        assert_eq!(step(&active), Step::Wait, "{status}");
    }
    let cancelled = response(&json!({"id": "resp_1", "status": "cancelled"}).to_string());
    assert!(matches!(step(&cancelled), Step::Fail { status, .. } if status == "cancelled"));
    assert_eq!(Status::parse("incomplete").as_str(), "incomplete");
}

#[test]
fn a_completed_response_without_text_is_an_error_not_an_empty_reply() {
    let empty = response(&json!({"id": "resp_1", "status": "completed", "output": []}).to_string());
    assert!(matches!(step(&empty), Step::Fail { status, .. } if status == "completed"));
}

#[test]
fn the_lock_error_is_recognized_by_its_code() {
    let locked = ApiError::parse(fixture!("responses-error-conversation-locked.json").as_bytes());
    assert_eq!(classify(400, &locked), Refusal::Busy);
    let other = ApiError::parse(fixture!("assistants-error-message-conflict.json").as_bytes());
    assert_eq!(classify(400, &other), Refusal::Other);
    assert_eq!(classify(404, &other), Refusal::NotFound);
}

#[test]
fn requests_carry_only_documented_fields() {
    let tools =
        vec![json!({"type": "function", "name": "weather", "parameters": {"type": "object"}})];
    let body = serde_json::to_value(CreateResponse {
        model: "gpt-5.2",
        conversation: "conv_1",
        input: json!("hi"),
        instructions: None,
        tools: &[],
        background: true,
    })
    .unwrap();
    assert_eq!(
        body,
        json!({"model": "gpt-5.2", "conversation": "conv_1", "input": "hi", "background": true})
    );
    let with_tools = serde_json::to_value(CreateResponse {
        model: "m",
        conversation: "c",
        input: serde_json::to_value(vec![FunctionCallOutput::new("call_1".into(), "ok".into())])
            .unwrap(),
        instructions: Some("be brief"),
        tools: &tools,
        background: false,
    })
    .unwrap();
    assert_eq!(
        with_tools,
        json!({"model": "m", "conversation": "c", "instructions": "be brief", "tools": tools,
            "background": false,
            "input": [{"type": "function_call_output", "call_id": "call_1", "output": "ok"}]})
    );
}
