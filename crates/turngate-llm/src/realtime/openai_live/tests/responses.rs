//! Responses delegation: the backend model's function calls run once, are
//! answered once, and the backend is continued once.

use serde_json::{Value, json};
use turngate_core::{BackendCommand, CallId, ClientEventId, Input};

use super::protocol::{Harness, types};
use crate::realtime::openai_live::protocol::DELEGATION_REFUSED;
use crate::realtime::openai_live::{LiveDelegation, OpenAiLiveConfig};
use crate::realtime::{RealtimeSessionConfig, ToolSpec};

fn config() -> OpenAiLiveConfig {
    OpenAiLiveConfig {
        delegation: LiveDelegation::Responses {
            model: "gpt-6-luna".to_owned(),
            instructions: Some("Use the tools.".to_owned()),
        },
        ..OpenAiLiveConfig::default()
    }
}

fn session() -> RealtimeSessionConfig {
    RealtimeSessionConfig {
        tools: vec![ToolSpec {
            name: "lookup_order".to_owned(),
            description: "Looks up an order.".to_owned(),
            parameters: json!({"type": "object", "properties": {"order": {"type": "string"}}}),
        }],
        ..RealtimeSessionConfig::default()
    }
}

fn started() -> Harness {
    Harness::started_with(&config(), &session())
}

fn delegated(harness: &mut Harness, delegation: &str, response: &str) {
    let (frames, inputs) = harness.server(json!({"type": "session.delegation.created",
        "event_id": "ev_d", "offset_ms": 1200,
        "delegation": {"id": delegation, "type": "delegation", "target": "responses",
            "response_id": response}}));
    assert!(frames.is_empty() && inputs.is_empty(), "the backend does the work: {inputs:?}");
}

#[allow(clippy::needless_pass_by_value, reason = "callers write `json!(…)` inline")]
fn envelope(delegation: Option<&str>, event: Value) -> Value {
    let mut envelope = json!({"type": "response.event", "event_id": "ev_r", "event": event});
    if let Some(delegation) = delegation {
        envelope["delegation_id"] = json!(delegation);
    }
    envelope
}

fn call_item(call_id: &str) -> Value {
    json!({"type": "response.output_item.done", "sequence_number": 3, "output_index": 1,
        "item": {"type": "function_call", "id": "fc_1", "call_id": call_id,
            "name": "lookup_order", "arguments": "{\"order\":\"42\"}", "status": "completed"}})
}

fn completed(response: &str) -> Value {
    json!({"type": "response.completed", "sequence_number": 9,
        "response": {"id": response, "object": "response", "status": "completed", "output": []}})
}

fn output(harness: &mut Harness, event: u64, call: &str) -> (Vec<Value>, Vec<Input>) {
    harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(event),
        call_id: CallId(call.to_owned()),
        output: "{\"status\":\"shipped\"}".to_owned(),
    })
}

#[test]
fn the_session_starts_with_a_backend_that_knows_the_apps_tools() {
    let mut harness = Harness::linked_with(&config(), &session(), false);
    let (frames, _) = harness.link_up(true);
    assert_eq!(
        frames[0]["session"]["delegation"],
        json!({"type": "responses", "responses": {
            "model": "gpt-6-luna", "instructions": "Use the tools.",
            "tools": [{"type": "function", "name": "lookup_order",
                "description": "Looks up an order.",
                "parameters": {"type": "object", "properties": {"order": {"type": "string"}}}}]}})
    );
}

#[test]
fn a_backend_call_runs_once_is_answered_once_and_the_backend_continued_once() {
    let mut harness = started();
    delegated(&mut harness, "del_1", "resp_1");
    let (_, inputs) = harness.server(envelope(
        Some("del_1"),
        json!({"type": "response.output_item.done", "sequence_number": 2, "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
    ));
    assert!(inputs.is_empty(), "a reasoning item is nothing to run");
    let (_, inputs) = harness.server(envelope(Some("del_1"), call_item("call_1")));
    let [Input::FunctionCall { call_id, name, arguments, .. }] = inputs.as_slice() else {
        panic!("one call for the app: {inputs:?}");
    };
    assert_eq!(call_id.0, "live_abc/call_1", "the core's id names the session");
    assert_eq!((name.as_str(), arguments.as_str()), ("lookup_order", "{\"order\":\"42\"}"));
    // Seen again (a primary and a sideband): not run again.
    assert!(harness.server(envelope(Some("del_1"), call_item("call_1"))).1.is_empty());

    // The output goes at once; the backend waits for its response to end.
    let (frames, inputs) = output(&mut harness, 7, "live_abc/call_1");
    assert!(inputs.is_empty());
    assert_eq!(
        frames,
        vec![json!({"type": "response.item.create", "event_id": "t:1:out1",
            "item": {"type": "function_call_output", "call_id": "call_1",
                "output": "{\"status\":\"shipped\"}"}})]
    );
    let (frames, _) = harness.server(envelope(Some("del_1"), completed("resp_1")));
    assert_eq!(frames, vec![json!({"type": "response.create", "event_id": "t:1:continue2"})]);
    // A repeated completion, and the continuation's own, owe nothing.
    assert!(harness.server(envelope(Some("del_1"), completed("resp_1"))).0.is_empty());
    harness.server(envelope(
        Some("del_1"),
        json!({"type": "response.created", "sequence_number": 0,
            "response": {"id": "resp_2", "object": "response", "status": "in_progress", "output": []}}),
    ));
    assert!(harness.server(envelope(Some("del_1"), completed("resp_2"))).0.is_empty());

    // A second output for the call is refused, not sent.
    let (frames, inputs) = output(&mut harness, 8, "live_abc/call_1");
    assert!(frames.is_empty());
    assert!(matches!(inputs.as_slice(),
        [Input::BackendError { event_id: Some(ClientEventId(8)), code: Some(code), .. }]
            if code == DELEGATION_REFUSED));
}

#[test]
fn parallel_calls_are_continued_after_the_last_output() {
    let mut harness = started();
    delegated(&mut harness, "del_1", "resp_1");
    harness.server(envelope(Some("del_1"), call_item("call_a")));
    // The server could not correlate this one.
    harness.server(envelope(None, call_item("call_b")));
    assert!(harness.server(envelope(None, completed("resp_1"))).0.is_empty());
    assert_eq!(types(&output(&mut harness, 1, "live_abc/call_b").0), ["response.item.create"]);
    assert_eq!(
        types(&output(&mut harness, 2, "live_abc/call_a").0),
        ["response.item.create", "response.create"]
    );
}

#[test]
fn an_output_for_an_earlier_sessions_call_is_refused() {
    let mut harness = started();
    delegated(&mut harness, "del_1", "resp_1");
    harness.server(envelope(Some("del_1"), call_item("call_1")));
    harness.link_down();
    harness.link_up(true);
    harness.server(json!({"type": "session.started", "event_id": "ev_2",
        "client_event_id": "t:2:start",
        "session": {"id": "live_def", "expires_at": 1_900_000_000, "status": "active"}}));
    let (frames, inputs) = output(&mut harness, 3, "live_abc/call_1");
    assert!(frames.is_empty(), "nothing of the old session reaches the new one");
    assert!(matches!(inputs.as_slice(),
        [Input::BackendError { event_id: Some(ClientEventId(3)), code: Some(code), .. }]
            if code == DELEGATION_REFUSED));
}

#[test]
fn a_refused_output_is_reported_for_the_cores_command() {
    let mut harness = started();
    delegated(&mut harness, "del_1", "resp_1");
    harness.server(envelope(Some("del_1"), call_item("call_1")));
    output(&mut harness, 5, "live_abc/call_1");
    let (_, inputs) = harness.server(json!({"type": "error", "event_id": "ev_e",
        "client_event_id": "t:1:out1",
        "error": {"type": "invalid_request_error", "code": "invalid_value",
            "message": "Invalid output.", "param": "item.output", "client_event_id": "t:1:out1"}}));
    assert!(matches!(inputs.as_slice(),
        [Input::BackendError { event_id: Some(ClientEventId(5)), code: Some(code), .. }]
            if code == "invalid_value"));
}

#[test]
fn client_delegations_and_client_results_are_not_taken_in_responses_mode() {
    let mut harness = started();
    let (frames, inputs) = harness.server(json!({"type": "session.delegation.created",
        "event_id": "ev_d", "offset_ms": 10,
        "delegation": {"id": "del_c", "type": "delegation", "target": "client"}}));
    assert!(frames.is_empty() && inputs.is_empty());
    let (frames, inputs) = output(&mut harness, 4, "del_c");
    assert!(frames.is_empty());
    assert!(matches!(inputs.as_slice(), [Input::BackendError { code: Some(code), .. }]
        if code == DELEGATION_REFUSED));
}
