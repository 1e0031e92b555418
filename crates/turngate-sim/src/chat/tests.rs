//! The chat simulators' own rules, checked over raw HTTP: exact error
//! texts, state machines over time, violation counting.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::sleep;

use super::record::{Event, EventKind, recovery_overheads};
use super::strict::parse_query;
use super::{ChatSim, Faults, SimConfig};

const BETA: (&str, &str) = ("OpenAI-Beta", "assistants=v2");

fn fast() -> SimConfig {
    SimConfig {
        queued: Duration::from_millis(10),
        run: Duration::from_millis(50),
        cancel: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

/// One HTTP/1.1 request; returns the status, the headers (lowercased) and the JSON body.
async fn call(
    sim: &ChatSim,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(sim.addr()).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn assistants(sim: &ChatSim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, _, body) = call(sim, method, path, &[BETA], body).await;
    (status, body)
}

fn error(message: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})
}

#[tokio::test]
async fn unknown_fields_wrong_types_and_missing_parameters_are_refused_with_openai_texts() {
    let sim = ChatSim::assistants(fast()).await.unwrap();
    let (_, thread) = assistants(&sim, "POST", "/v1/threads", Some(json!({}))).await;
    let path = format!("/v1/threads/{}/messages", thread["id"].as_str().unwrap());
    let unknown = assistants(
        &sim,
        "POST",
        &path,
        Some(json!({"role": "user", "content": "hi", "colour": "red"})),
    )
    .await;
    assert_eq!(
        unknown,
        (400, error("Unknown parameter: 'colour'.", Some("colour"), Some("unknown_parameter")))
    );
    let wrong = assistants(&sim, "POST", &path, Some(json!({"role": "user", "content": 5}))).await;
    assert_eq!(
        wrong,
        (
            400,
            error(
                "Invalid type for 'content': expected one of a string or an array, but got an integer instead.",
                Some("content"),
                Some("invalid_type")
            )
        )
    );
    let missing = assistants(&sim, "POST", &path, Some(json!({"content": "hi"}))).await;
    assert_eq!(
        missing,
        (
            400,
            error(
                "Missing required parameter: 'role'.",
                Some("role"),
                Some("missing_required_parameter")
            )
        )
    );
    let nested = assistants(
        &sim,
        "POST",
        "/v1/threads",
        Some(json!({"messages": [{"role": "user", "content": "x", "extra": 1}]})),
    )
    .await;
    assert_eq!(nested.1["error"]["param"], "messages[0].extra");
    let (status, _, no_beta) = call(&sim, "GET", &path, &[], None).await;
    assert_eq!((status, no_beta["error"]["code"].as_str()), (400, Some("invalid_beta")));
    let violations = sim.violations();
    assert_eq!((violations.invalid_requests, violations.total()), (5, 5), "{violations:?}");
}

#[tokio::test]
async fn adding_or_running_during_an_active_run_gets_the_exact_conflict_texts() {
    let sim = ChatSim::assistants(fast()).await.unwrap();
    let (_, thread) = assistants(&sim, "POST", "/v1/threads", None).await;
    let thread = thread["id"].as_str().unwrap().to_owned();
    let messages = format!("/v1/threads/{thread}/messages");
    let runs = format!("/v1/threads/{thread}/runs");
    assert_eq!(
        assistants(&sim, "POST", &messages, Some(json!({"role": "user", "content": "one"})))
            .await
            .0,
        200
    );
    let (_, run) =
        assistants(&sim, "POST", &runs, Some(json!({"assistant_id": "asst_plain"}))).await;
    let run = run["id"].as_str().unwrap().to_owned();
    let refused =
        assistants(&sim, "POST", &messages, Some(json!({"role": "user", "content": "two"}))).await;
    assert_eq!(
        refused,
        (
            400,
            error(
                &format!("Can't add messages to {thread} while a run {run} is active."),
                None,
                None
            )
        )
    );
    let again = assistants(&sim, "POST", &runs, Some(json!({"assistant_id": "asst_plain"}))).await;
    assert_eq!(
        again,
        (400, error(&format!("Thread {thread} already has an active run {run}."), None, None))
    );
    assert_eq!(sim.violations().conflicts, 2);
    // The run ends by itself; then the thread takes messages again.
    sleep(Duration::from_millis(120)).await;
    let (_, done) = assistants(&sim, "GET", &format!("{runs}/{run}"), None).await;
    assert_eq!(done["status"], "completed");
    assert!(done["completed_at"].is_u64());
    let late = assistants(&sim, "POST", &format!("{runs}/{run}/cancel"), None).await;
    assert_eq!(late, (400, error("Cannot cancel run with status 'completed'.", None, None)));
    assert_eq!(sim.stats().late_cancels, 1);
    let (_, page) =
        assistants(&sim, "GET", &format!("{messages}?order=asc&run_id={run}"), None).await;
    assert_eq!(page["data"][0]["content"][0]["text"]["value"], "echo: one");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn runs_move_through_their_states_over_time_and_cancels_take_their_time() {
    let sim = ChatSim::assistants(fast()).await.unwrap();
    let (_, thread) = assistants(
        &sim,
        "POST",
        "/v1/threads",
        Some(json!({"messages": [{"role": "user", "content": "[hang] x"}]})),
    )
    .await;
    let runs = format!("/v1/threads/{}/runs", thread["id"].as_str().unwrap());
    let (_, run) =
        assistants(&sim, "POST", &runs, Some(json!({"assistant_id": "asst_plain"}))).await;
    assert_eq!(run["status"], "queued");
    let path = format!("{runs}/{}", run["id"].as_str().unwrap());
    sleep(Duration::from_millis(30)).await;
    assert_eq!(assistants(&sim, "GET", &path, None).await.1["status"], "in_progress");
    let (_, cancelling) = assistants(&sim, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(cancelling["status"], "cancelling");
    let twice = assistants(&sim, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(twice.1["error"]["message"], "Cannot cancel run with status 'cancelling'.");
    sleep(Duration::from_millis(60)).await;
    assert_eq!(assistants(&sim, "GET", &path, None).await.1["status"], "cancelling");
    sleep(Duration::from_millis(60)).await;
    assert_eq!(assistants(&sim, "GET", &path, None).await.1["status"], "cancelled");
    let ended: Vec<Event> =
        sim.timeline().into_iter().filter(|e| matches!(e.kind, EventKind::Ended { .. })).collect();
    assert_eq!(ended.len(), 1);
    // The user message was never answered: the simulator says so.
    assert_eq!(sim.violations().unanswered, 1);
}

#[tokio::test]
async fn tool_outputs_must_answer_exactly_the_calls_asked_for() {
    let sim = ChatSim::assistants(fast()).await.unwrap();
    let (_, thread) = assistants(
        &sim,
        "POST",
        "/v1/threads",
        Some(json!({"messages": [{"role": "user", "content": "call:weather"}]})),
    )
    .await;
    let runs = format!("/v1/threads/{}/runs", thread["id"].as_str().unwrap());
    let (_, run) =
        assistants(&sim, "POST", &runs, Some(json!({"assistant_id": "asst_tools"}))).await;
    let path = format!("{runs}/{}", run["id"].as_str().unwrap());
    let early = assistants(
        &sim,
        "POST",
        &format!("{path}/submit_tool_outputs"),
        Some(json!({"tool_outputs": []})),
    )
    .await;
    assert_eq!(
        early.1["error"]["message"],
        "Runs in status \"queued\" do not accept tool outputs."
    );
    sleep(Duration::from_millis(80)).await;
    let (_, waiting) = assistants(&sim, "GET", &path, None).await;
    assert_eq!(waiting["status"], "requires_action");
    let call = &waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(call["function"]["arguments"], r#"{"text":"call:weather"}"#);
    let wrong = assistants(
        &sim,
        "POST",
        &format!("{path}/submit_tool_outputs"),
        Some(json!({"tool_outputs": [{"tool_call_id": "call_nope", "output": "x"}]})),
    )
    .await;
    assert_eq!(wrong.0, 400);
    let id = call["id"].as_str().unwrap();
    let right = assistants(
        &sim,
        "POST",
        &format!("{path}/submit_tool_outputs"),
        Some(json!({"tool_outputs": [{"tool_call_id": id, "output": "sunny"}]})),
    )
    .await;
    assert_eq!(right.1["status"], "queued");
    sleep(Duration::from_millis(80)).await;
    assert_eq!(assistants(&sim, "GET", &path, None).await.1["status"], "completed");
    let texts = sim.texts(thread["id"].as_str().unwrap());
    assert_eq!(texts.last().unwrap().1, "echo: call:weather [weather returned sunny]");
    assert_eq!(sim.violations().tool_protocol, 2);
}

#[tokio::test]
async fn a_busy_conversation_is_locked_with_the_exact_error_and_cancels_settle() {
    let sim = ChatSim::responses(fast()).await.unwrap();
    let (_, _, conversation) = call(&sim, "POST", "/v1/conversations", &[], Some(json!({}))).await;
    let conversation = conversation["id"].as_str().unwrap().to_owned();
    let create = json!({"model": "m", "conversation": conversation, "input": "[hang] go", "background": true});
    let (_, _, first) = call(&sim, "POST", "/v1/responses", &[], Some(create.clone())).await;
    assert_eq!(first["status"], "queued");
    let (status, _, locked) = call(&sim, "POST", "/v1/responses", &[], Some(create.clone())).await;
    assert_eq!(
        (status, locked),
        (
            400,
            json!({"error": {"message": "Another process is currently operating on this conversation. Please retry in a few seconds.",
            "type": "invalid_request_error", "param": "conversation", "code": "conversation_locked"}})
        )
    );
    assert_eq!(sim.violations().conflicts, 1);
    let cancel = format!("/v1/responses/{}/cancel", first["id"].as_str().unwrap());
    let (_, _, cancelled) = call(&sim, "POST", &cancel, &[], None).await;
    assert_eq!(cancelled["status"], "cancelled");
    // Idempotent, and the conversation stays locked while the cancel settles.
    assert_eq!(call(&sim, "POST", &cancel, &[], None).await.2["status"], "cancelled");
    assert_eq!(call(&sim, "POST", "/v1/responses", &[], Some(create.clone())).await.0, 400);
    assert_eq!(sim.stats().settling_refusals, 1);
    sleep(Duration::from_millis(120)).await;
    let fine = json!({"model": "m", "conversation": conversation, "input": "hello"});
    let (status, _, done) = call(&sim, "POST", "/v1/responses", &[], Some(fine)).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("completed")));
    assert_eq!(done["output"][0]["content"][0]["text"], "echo: hello");
    assert_eq!(sim.violations().total(), 1);
    assert_eq!(sim.recovery_overheads().len(), 1);
}

#[tokio::test]
async fn function_calls_must_get_their_outputs_and_only_background_work_cancels() {
    let sim = ChatSim::responses(fast()).await.unwrap();
    let (_, _, conversation) = call(&sim, "POST", "/v1/conversations", &[], None).await;
    let id = conversation["id"].as_str().unwrap();
    let tool = json!({"type": "function", "name": "weather", "parameters": {"type": "object"}});
    let ask = json!({"model": "m", "conversation": id, "input": "call:weather", "tools": [tool]});
    let (_, _, asked) = call(&sim, "POST", "/v1/responses", &[], Some(ask)).await;
    assert_eq!(asked["output"][0]["type"], "function_call");
    let call_id = asked["output"][0]["call_id"].as_str().unwrap().to_owned();
    let skip = json!({"model": "m", "conversation": id, "input": "never mind"});
    let (status, _, refused) = call(&sim, "POST", "/v1/responses", &[], Some(skip)).await;
    assert_eq!(
        (status, refused["error"]["message"].as_str()),
        (400, Some(format!("No tool output found for function call {call_id}.").as_str()))
    );
    let answer = json!({"model": "m", "conversation": id,
        "input": [{"type": "function_call_output", "call_id": call_id, "output": "sunny"}]});
    let (_, _, done) = call(&sim, "POST", "/v1/responses", &[], Some(answer)).await;
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "echo: call:weather [weather returned sunny]"
    );
    let foreground = format!("/v1/responses/{}/cancel", done["id"].as_str().unwrap());
    let (status, _, refused) = call(&sim, "POST", &foreground, &[], None).await;
    assert_eq!(
        (status, refused["error"]["message"].as_str()),
        (400, Some("Only responses created with background=true can be cancelled."))
    );
    let violations = sim.violations();
    assert_eq!((violations.tool_protocol, violations.invalid_requests), (1, 1));
}

#[tokio::test]
async fn faults_are_injected_before_any_state_changes() {
    let faults = Faults {
        rate_limit_every: Some(2),
        server_error_every: Some(3),
        retry_after: Duration::from_millis(1500),
    };
    let sim = ChatSim::responses(SimConfig { faults, ..fast() }).await.unwrap();
    let first = call(&sim, "POST", "/v1/conversations", &[], None).await;
    assert_eq!(first.0, 200);
    let (status, head, body) = call(&sim, "POST", "/v1/conversations", &[], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limit_exceeded")));
    assert!(head.contains("retry-after-ms: 1500") && head.contains("retry-after: 1"), "{head}");
    let (status, _, body) = call(&sim, "POST", "/v1/conversations", &[], None).await;
    assert_eq!((status, body["error"]["type"].as_str()), (500, Some("server_error")));
    let stats = sim.stats();
    assert_eq!((stats.injected_rate_limits, stats.injected_server_errors), (1, 1));
    assert_eq!(sim.violations().total(), 0);
}

#[tokio::test]
async fn unknown_urls_and_ids_are_counted() {
    let sim = ChatSim::assistants(SimConfig { api_key: Some("k".into()), ..fast() }).await.unwrap();
    let (status, _, body) = call(&sim, "GET", "/v1/nothing", &[], None).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("Invalid URL (GET /v1/nothing)"))
    );
    let (status, _, body) =
        call(&sim, "GET", "/v1/threads/thread_x", &[BETA, ("Authorization", "Bearer k")], None)
            .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some("No thread found with id 'thread_x'."))
    );
    let (status, _, body) = call(&sim, "GET", "/v1/threads/thread_x", &[BETA], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    let violations = sim.violations();
    assert_eq!((violations.not_found, violations.invalid_requests), (2, 1));
}

#[test]
fn overheads_pair_each_acceptance_with_the_cancel_before_it() {
    let event = |ms: u64, container: &str, kind: EventKind| Event {
        at: Duration::from_millis(ms),
        container: container.into(),
        kind,
    };
    let ended = |status: &str| EventKind::Ended { id: "run_1".into(), status: status.into() };
    let accepted = || EventKind::Accepted { id: "msg_1".into() };
    let timeline = vec![
        event(100, "t1", accepted()),
        event(1600, "t1", ended("cancelled")),
        event(1650, "t1", accepted()),
        event(2000, "t2", ended("completed")),
        event(2010, "t2", accepted()),
        event(3000, "t1", ended("cancelled")),
        event(2500, "t1", EventKind::Conflict),
        event(3120, "t1", accepted()),
        event(3200, "t1", accepted()),
    ];
    assert_eq!(
        recovery_overheads(&timeline),
        vec![Duration::from_millis(50), Duration::from_millis(120)]
    );
}

#[test]
fn queries_are_decoded() {
    assert_eq!(
        parse_query(Some("limit=20&order=desc&after=msg%5F1&q=a+b&flag")),
        vec![
            ("limit".into(), "20".into()),
            ("order".into(), "desc".into()),
            ("after".into(), "msg_1".into()),
            ("q".into(), "a b".into()),
            ("flag".into(), String::new()),
        ]
    );
    assert!(parse_query(None).is_empty());
}
