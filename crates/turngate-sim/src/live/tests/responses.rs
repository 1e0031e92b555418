//! Responses delegation over real loopback WebSockets: the startup config,
//! the backend's stream, the client's tool round trip, each breach of it,
//! and the faults.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{AUTH, Client, WAIT, connect, fast, pcm24};
use crate::live::track::Track;
use crate::live::{LiveFaults, LiveSimConfig, LiveViolationKind as Kind, serve};

/// One client session, with every event it got and a cursor for
/// [`Run::until`].
struct Run {
    client: Client,
    voice: Track,
    events: Vec<Value>,
    seen: usize,
}

impl Run {
    async fn start(url: &str, session: Value) -> (Run, Value) {
        let mut client = connect(url, &[AUTH]).await.unwrap();
        let started = client.start_with(session).await;
        (Run { client, voice: pcm24(), events: Vec::new(), seen: 0 }, started)
    }

    /// 400 ms of caller speech (the model's VAD ends it once silence
    /// follows).
    async fn say(&mut self) {
        self.events.extend(self.client.audio(&mut self.voice, 20, true).await);
    }

    /// Feeds silence until an event after the last one returned matches
    /// `done`.
    async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..1500 {
            if let Some(at) = self.events[self.seen..].iter().position(&done) {
                self.seen += at + 1;
                return self.events[self.seen - 1].clone();
            }
            self.events.extend(self.client.audio(&mut self.voice, 1, false).await);
        }
        panic!("no such event in {:?}", control(&self.events[self.seen..]));
    }

    /// The next inner Responses event of this type.
    async fn inner(&mut self, kind: &str) -> Value {
        self.until(|e| e["type"] == "response.event" && e["event"]["type"] == kind).await
    }

    /// Sends a command and returns the events other than audio that arrive
    /// before the server goes quiet (with no input, only its answer).
    async fn command(&mut self, event: Value) -> Vec<Value> {
        self.client.send(event).await;
        let got = self.client.settle().await;
        self.events.extend(got.iter().cloned());
        control(&got)
    }

    async fn output(&mut self, call_id: &str, output: &str, id: &str) -> Vec<Value> {
        self.command(json!({
            "type": "response.item.create", "event_id": id,
            "item": {"type": "function_call_output", "call_id": call_id, "output": output},
        }))
        .await
    }

    /// What the model said since event `from`.
    fn said(&self, from: usize) -> String {
        let said =
            self.events[from..].iter().filter(|e| e["type"] == "session.output_transcript.delta");
        said.map(|e| e["delta"].as_str().unwrap()).collect()
    }
}

fn control(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| e["type"] != "session.output_audio.delta").cloned().collect()
}

/// No error among these events.
fn clean(events: &[Value]) -> bool {
    events.iter().all(|e| e["type"] != "error")
}

fn only_error(events: &[Value]) -> &Value {
    let errors: Vec<&Value> = events.iter().filter(|e| e["type"] == "error").collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    &errors[0]["error"]
}

fn config() -> LiveSimConfig {
    LiveSimConfig { delegate_every: 1, ..fast() }
}

fn session(responses: Value) -> Value {
    let mut session = json!({"model": "gpt-live-1", "delegation": {"type": "responses"}});
    session["delegation"]["responses"] = responses;
    session
}

fn tools() -> Value {
    json!([
        {"type": "function", "name": "get_order", "description": "Looks up an order.", "strict": true,
         "parameters": {"type": "object", "required": ["order_id"], "properties": {
             "order_id": {"type": "string"}, "include_items": {"type": "boolean"}}}},
        {"type": "function", "name": "check_stock",
         "parameters": {"type": "object", "required": ["sku", "quantity", "warehouse"], "properties": {
             "sku": {"type": "string"}, "quantity": {"type": "integer"},
             "warehouse": {"enum": ["east", "west"]}}}},
        {"type": "web_search"},
        {"type": "mcp", "server_label": "crm", "server_url": "https://crm.example/mcp"},
    ])
}

/// A session with one function call per delegation.
fn one_call() -> Value {
    session(json!({"model": "gpt-5", "parallel_tool_calls": false, "tools": tools()}))
}

// ---- Startup ---------------------------------------------------------------------

#[tokio::test]
async fn a_responses_start_is_accepted_and_echoed() {
    let server = serve(config()).await.unwrap();
    let responses = json!({
        "model": "gpt-5", "instructions": "Use the tools.", "max_output_tokens": 512,
        "parallel_tool_calls": true, "reasoning": {"effort": "low", "summary": "auto"},
        "service_tier": "priority", "text": {"verbosity": "low"},
        "tool_choice": {"type": "function", "name": "get_order"}, "tools": tools(),
    });
    let mut start = session(responses.clone());
    start["delegation"]["acknowledgement_delay_ms"] = json!(300);
    let (_run, started) = Run::start(&server.url(), start).await;
    assert_eq!(
        started["session"]["delegation"],
        json!({"type": "responses", "acknowledgement_delay_ms": 300, "responses": responses})
    );
    let (_run, started) = Run::start(&server.url(), session(json!({"model": "gpt-5"}))).await;
    assert_eq!(started["session"]["delegation"]["acknowledgement_delay_ms"], 0);
    assert_eq!(server.record().total_violations(), 0);
}

#[tokio::test]
async fn a_bad_responses_config_is_refused_and_never_starts() {
    let server = serve(config()).await.unwrap();
    let function = |extra: Value| {
        let mut tool = json!({"type": "function", "name": "f"});
        tool.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        session(json!({"model": "gpt-5", "tools": [tool]}))
    };
    let cases = [
        (
            session(json!({"instructions": "x"})),
            "missing_required_parameter",
            "Missing required parameter: 'session.delegation.responses.model'.",
        ),
        (
            function(json!({"parameter": {}})),
            "unknown_parameter",
            "Unknown parameter: 'session.delegation.responses.tools[0].parameter'.",
        ),
        (
            function(json!({"strict": "yes"})),
            "invalid_type",
            "Invalid type for 'session.delegation.responses.tools[0].strict': expected a boolean, but got a string instead.",
        ),
        (
            session(json!({"model": "gpt-5", "tools": [{"type": "computer"}]})),
            "invalid_value",
            "Invalid value: 'computer'. Supported values are: 'function', 'web_search', 'file_search', 'code_interpreter', 'shell', 'image_generation', and 'mcp'.",
        ),
        (
            session(json!({"model": "gpt-5", "reasoning": {"effort": "max"}})),
            "invalid_value",
            "Invalid value: 'max'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.",
        ),
        (
            session(json!({"model": "gpt-5", "temperature": 0.2})),
            "unknown_parameter",
            "Unknown parameter: 'session.delegation.responses.temperature'.",
        ),
        (
            json!({"model": "gpt-live-1", "delegation": {"type": "decisions", "decisions": {}}}),
            "invalid_value",
            "The simulator supports client and Responses delegation only.",
        ),
    ];
    for (start, code, message) in &cases {
        let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
        client.send(json!({"type": "session.start", "event_id": "s", "session": start})).await;
        let error = client.until_type("error").await.unwrap();
        assert_eq!(
            (&error["error"]["code"], &error["error"]["message"]),
            (&json!(code), &json!(message))
        );
        assert_eq!(error["client_event_id"], "s");
        assert!(client.until_end().await && client.close_frame, "{start}");
    }
    let record = server.record();
    assert_eq!(record.failed_starts(), cases.len() as u64);
    assert_eq!(record.sessions_started(), 0);
    assert_eq!(record.count(Kind::Unsupported), 1);
}

// ---- The round trip -------------------------------------------------------------------

#[tokio::test]
async fn a_tool_round_trip_is_clean_and_its_result_spoken() {
    let server = serve(config()).await.unwrap();
    let start = session(json!({"model": "gpt-5", "tools": tools()}));
    let (mut run, _) = Run::start(&server.url(), start).await;
    run.say().await;
    let created = run.until(|e| e["type"] == "session.delegation.created").await;
    let delegation = &created["delegation"];
    assert_eq!(delegation["target"], "responses");
    let id = delegation["id"].as_str().unwrap().to_owned();
    let response_id = delegation["response_id"].as_str().unwrap().to_owned();
    assert!(response_id.starts_with("resp_"), "{response_id}");

    let first = run.inner("response.created").await;
    assert_eq!(first["delegation_id"], id.as_str());
    let snapshot = &first["event"]["response"];
    assert_eq!((&snapshot["id"], &snapshot["object"]), (&json!(response_id), &json!("response")));
    assert_eq!((&snapshot["status"], &snapshot["output"]), (&json!("in_progress"), &json!([])));
    let reasoning = run.inner("response.output_item.done").await;
    assert_eq!(reasoning["event"]["output_index"], 0);
    assert_eq!(reasoning["event"]["item"]["type"], "reasoning");
    assert!(reasoning["event"]["item"]["id"].as_str().unwrap().starts_with("rs_"));

    let completed = run.inner("response.completed").await;
    let snapshot = &completed["event"]["response"];
    assert_eq!(snapshot["id"], response_id.as_str());
    assert_eq!((&snapshot["status"], &snapshot["output"]), (&json!("completed"), &json!([])));
    let stream: Vec<Value> =
        run.events.iter().filter(|e| e["type"] == "response.event").cloned().collect();
    let sequence: Vec<u64> =
        stream.iter().map(|e| e["event"]["sequence_number"].as_u64().unwrap()).collect();
    assert_eq!(sequence, (0..stream.len() as u64).collect::<Vec<_>>());
    assert!(stream.iter().all(|e| e["delegation_id"] == id.as_str()));
    let calls: Vec<&Value> = stream
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["item"]["type"] == "function_call")
        .collect();
    assert!((1..=2).contains(&calls.len()), "{calls:?}");
    let expected = [
        ("get_order", json!({"order_id": "example"})),
        ("check_stock", json!({"sku": "example", "quantity": 1, "warehouse": "east"})),
    ];
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(call["output_index"], n + 1);
        let item = &call["item"];
        assert_eq!((&item["name"], &item["status"]), (&json!(expected[n].0), &json!("completed")));
        let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments, expected[n].1);
        assert!(item["id"].as_str().unwrap().starts_with("fc_"));
        assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
    }

    let outputs = ["Order 1234 shipped Monday.", "Twelve in stock."];
    for (n, call) in calls.iter().enumerate() {
        let call_id = call["item"]["call_id"].as_str().unwrap().to_owned();
        let answer = run.output(&call_id, outputs[n], &format!("o{n}")).await;
        assert!(clean(&answer), "{answer:?}");
    }
    let answer = run.command(json!({"type": "response.create", "event_id": "go"})).await;
    assert!(clean(&answer), "{answer:?}");
    let next = run.inner("response.created").await;
    let continuation = next["event"]["response"]["id"].as_str().unwrap().to_owned();
    assert_ne!(continuation, response_id);
    assert_eq!(next["delegation_id"], id.as_str());
    let message = run.inner("response.output_item.done").await;
    let item = &message["event"]["item"];
    assert_eq!((&item["type"], &item["role"]), (&json!("message"), &json!("assistant")));
    let text = item["content"][0]["text"].as_str().unwrap().to_owned();
    assert_eq!(text, format!("Here is what I found: {}", outputs[..calls.len()].join(" ")));
    let done = run.inner("response.completed").await;
    assert_eq!(done["event"]["response"]["id"], continuation.as_str());
    let from = run.seen;
    let last = format!(" {}", text.split(' ').next_back().unwrap());
    run.until(|e| e["type"] == "session.output_transcript.delta" && e["delta"] == last).await;
    assert_eq!(run.said(from), format!(" {text}"));
    assert!(run.said(0).starts_with("One moment."), "{}", run.said(0));

    let record = server.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let stats = record.sessions()[0].clone();
    assert_eq!(stats.function_calls, calls.len() as u64);
    assert_eq!(stats.function_call_outputs, calls.len() as u64);
    assert_eq!((stats.continuations, stats.duplicate_function_call_outputs), (1, 0));
    run.command(json!({"type": "session.close"})).await;
    assert!(record.wait_for(WAIT, |r| r.sessions()[0].close_reason.is_some()).await);
    assert_eq!(record.sessions()[0].delegations_with_unanswered_calls_at_close, 0);
}

#[tokio::test]
async fn without_function_tools_the_backend_answer_is_spoken_at_once() {
    let server = serve(config()).await.unwrap();
    let start = session(json!({"model": "gpt-5", "tools": [{"type": "web_search"}]}));
    let (mut run, _) = Run::start(&server.url(), start).await;
    run.say().await;
    run.inner("response.created").await;
    run.inner("response.output_item.done").await;
    let message = run.inner("response.output_item.done").await;
    assert_eq!(message["event"]["output_index"], 1);
    assert_eq!(message["event"]["item"]["type"], "message");
    run.inner("response.completed").await;
    let from = run.seen;
    run.until(|e| e["delta"] == " order.").await;
    assert_eq!(run.said(from), " I looked into that and everything is in order.");
    let answer = run.command(json!({"type": "response.create", "event_id": "again"})).await;
    assert!(
        only_error(&answer)["message"]
            .as_str()
            .unwrap()
            .ends_with("has no new tool output to continue from.")
    );
    assert_eq!(server.record().count(Kind::ResponseCreateRepeated), 1);
    assert_eq!(server.record().total_violations(), 1);
}

// ---- Breaches ---------------------------------------------------------------------------

#[tokio::test]
async fn each_breach_of_the_round_trip_is_refused_or_recorded() {
    let server = serve(LiveSimConfig {
        backend_gap: (Duration::from_millis(400), Duration::from_millis(400)),
        ..config()
    })
    .await
    .unwrap();
    let (mut run, _) = Run::start(&server.url(), one_call()).await;
    let record = server.record();
    let answer = run.command(json!({"type": "response.create", "event_id": "none"})).await;
    assert_eq!(only_error(&answer)["client_event_id"], "none");
    assert_eq!(record.count(Kind::Unsupported), 1, "nothing to continue yet");

    run.say().await;
    let created = run.until(|e| e["type"] == "session.delegation.created").await;
    let delegation = created["delegation"]["id"].as_str().unwrap().to_owned();
    let call = run.until(|e| e["event"]["item"]["type"] == "function_call").await;
    let call_id = call["event"]["item"]["call_id"].as_str().unwrap().to_owned();

    // Before response.completed.
    let answer = run.command(json!({"type": "response.create", "event_id": "early"})).await;
    let error = only_error(&answer);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .ends_with("is still in progress; continue it after response.completed.")
    );
    assert_eq!(error["client_event_id"], "early");
    run.inner("response.completed").await;
    // Completed, but the call has no output.
    let answer = run.command(json!({"type": "response.create", "event_id": "early2"})).await;
    assert_eq!(
        only_error(&answer)["message"],
        format!("No tool output found for function call {call_id}.")
    );
    assert_eq!(record.count(Kind::ResponseCreateEarly), 2);

    let answer = run.output("call_nope", "x", "unknown").await;
    let error = only_error(&answer);
    assert_eq!(
        (&error["message"], &error["param"], &error["client_event_id"]),
        (&json!("Unknown call_id: 'call_nope'."), &json!("item.call_id"), &json!("unknown"))
    );
    assert_eq!(record.count(Kind::UnknownCallId), 1);

    let answer = run
        .command(json!({"type": "response.item.create", "event_id": "bad",
            "item": {"type": "function_call_output", "call_id": call_id, "output": {"status": "shipped"}}}))
        .await;
    let error = only_error(&answer);
    assert_eq!(
        error["message"],
        "Invalid type for 'item.output': expected a string, but got an object instead."
    );
    assert_eq!((&error["code"], &error["param"]), (&json!("invalid_type"), &json!("item.output")));
    let answer = run
        .command(json!({"type": "response.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": "x", "extra": 1}}))
        .await;
    assert_eq!(only_error(&answer)["message"], "Unknown parameter: 'item.extra'.");
    let answer = run.command(json!({"type": "response.create", "model": "gpt-5"})).await;
    assert_eq!(only_error(&answer)["message"], "Unknown parameter: 'model'.");
    assert_eq!(record.count(Kind::InvalidEvent), 3);
    let answer = run
        .command(json!({"type": "response.item.create", "event_id": "msg",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}))
        .await;
    assert_eq!(only_error(&answer)["param"], "item.type");
    assert_eq!(record.count(Kind::Unsupported), 2);

    // The one output, then a second one: accepted, recorded.
    assert!(clean(&run.output(&call_id, "Shipped.", "o1").await));
    assert!(clean(&run.output(&call_id, "Shipped again.", "o2").await), "no error for it");
    assert_eq!(record.count(Kind::DuplicateToolOutput), 1);

    let answer = run
        .command(json!({"type": "session.commentary.append", "event_id": "c1",
        "content": "Done.", "delegation_id": delegation}))
        .await;
    let error = only_error(&answer);
    assert_eq!(
        (&error["message"], &error["param"]),
        (&json!("delegation_id must be null with Responses delegation."), &json!("delegation_id"))
    );
    assert_eq!(record.count(Kind::DelegationIdWithResponses), 1);
    let answer = run
        .command(json!({"type": "session.thinking.append", "event_id": "t1",
        "content": "Checking.", "delegation_id": null}))
        .await;
    assert!(clean(&answer), "a null id is fine: {answer:?}");

    assert!(clean(&run.command(json!({"type": "response.create", "event_id": "go"})).await));
    // The continuation is running: a second one is early, then has nothing new.
    let answer = run.command(json!({"type": "response.create", "event_id": "twice"})).await;
    assert_eq!(only_error(&answer)["client_event_id"], "twice");
    run.until(|e| e["event"]["type"] == "response.completed").await;
    let answer = run.command(json!({"type": "response.create", "event_id": "thrice"})).await;
    assert!(
        only_error(&answer)["message"]
            .as_str()
            .unwrap()
            .ends_with("has no new tool output to continue from.")
    );
    assert_eq!(record.count(Kind::ResponseCreateEarly), 3);
    assert_eq!(record.count(Kind::ResponseCreateRepeated), 1);
    let stats = record.sessions()[0].clone();
    assert_eq!((stats.function_calls, stats.function_call_outputs), (1, 2));
    assert_eq!((stats.duplicate_function_call_outputs, stats.continuations), (1, 1));
}

#[tokio::test]
async fn client_mode_keeps_refusing_responses_commands() {
    let server = serve(config()).await.unwrap();
    let (mut run, _) = Run::start(&server.url(), json!({"model": "gpt-live-1"})).await;
    let answer = run.command(json!({"type": "response.create", "event_id": "r"})).await;
    assert_eq!(
        only_error(&answer)["message"],
        "response.item.create requires Responses delegation."
    );
    assert_eq!(server.record().count(Kind::WrongDelegationMode), 1);
}

#[tokio::test]
async fn update_keeps_responses_delegation_and_merges_its_config() {
    let server = serve(config()).await.unwrap();
    let (mut run, _) = Run::start(&server.url(), one_call()).await;
    let answer = run
        .command(json!({"type": "session.update", "event_id": "u1", "session": {"delegation": {
            "type": "responses", "acknowledgement_delay_ms": 200,
            "responses": {"tools": [], "instructions": "Be quick."}}}}))
        .await;
    assert!(clean(&answer), "{answer:?}");
    let updated = answer.iter().find(|e| e["type"] == "session.updated").unwrap();
    assert_eq!(updated["client_event_id"], "u1");
    let delegation = &updated["session"]["delegation"];
    assert_eq!(delegation["acknowledgement_delay_ms"], 200);
    assert_eq!(
        delegation["responses"],
        json!({"model": "gpt-5", "parallel_tool_calls": false, "tools": [], "instructions": "Be quick."})
    );
    let answer = run
        .command(json!({"type": "session.update", "event_id": "u2",
            "session": {"delegation": {"type": "client"}}}))
        .await;
    assert_eq!(only_error(&answer)["code"], "immutable_field_update");
    // Without tools now, the next delegation answers with a message.
    run.say().await;
    let item = run.inner("response.output_item.done").await;
    assert_eq!(item["event"]["item"]["type"], "reasoning");
    let item = run.inner("response.output_item.done").await;
    assert_eq!(item["event"]["item"]["type"], "message");
    assert_eq!(server.record().count(Kind::ImmutableUpdate), 1);
}

#[tokio::test]
async fn a_lost_session_loses_its_calls_and_ids_never_recur() {
    let server = serve(config()).await.unwrap();
    let (mut run, _) = Run::start(&server.url(), one_call()).await;
    run.say().await;
    let call = run.until(|e| e["event"]["item"]["type"] == "function_call").await;
    let old = call["event"]["item"]["call_id"].as_str().unwrap().to_owned();
    run.inner("response.completed").await;
    drop(run);
    let record = server.record();
    assert!(record.wait_for(WAIT, |r| r.sessions()[0].close_reason.is_some()).await);
    assert_eq!(record.sessions()[0].delegations_with_unanswered_calls_at_close, 1);

    let (mut again, _) = Run::start(&server.url(), one_call()).await;
    let answer = again.output(&old, "Shipped.", "late").await;
    assert_eq!(only_error(&answer)["message"], format!("Unknown call_id: '{old}'."));
    let unknown = record.violations_of(Kind::UnknownCallId);
    assert_eq!(unknown[0].session_id.as_deref(), Some(record.sessions()[1].id.as_str()));
    again.say().await;
    let call = again.until(|e| e["event"]["item"]["type"] == "function_call").await;
    let new = call["event"]["item"]["call_id"].as_str().unwrap();
    assert_ne!(new, old, "a new session's calls have new ids");
    assert_eq!(call["event"]["item"]["name"], "get_order", "its own round robin");
}

// ---- Faults -----------------------------------------------------------------------------

#[tokio::test]
async fn a_duplicated_function_call_still_takes_one_clean_output() {
    let server = serve(LiveSimConfig {
        faults: LiveFaults { duplicate_function_call: 1.0, ..LiveFaults::default() },
        ..config()
    })
    .await
    .unwrap();
    let (mut run, _) = Run::start(&server.url(), one_call()).await;
    run.say().await;
    let first = run.until(|e| e["event"]["item"]["type"] == "function_call").await;
    let second = run.until(|e| e["event"]["item"]["type"] == "function_call").await;
    assert_eq!(first["event"], second["event"], "the same event, sequence number included");
    assert_ne!(first["event_id"], second["event_id"]);
    run.inner("response.completed").await;
    let call_id = first["event"]["item"]["call_id"].as_str().unwrap().to_owned();
    assert!(clean(&run.output(&call_id, "Shipped.", "o1").await));
    assert!(clean(&run.command(json!({"type": "response.create"})).await));
    run.inner("response.completed").await;
    let record = server.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    assert_eq!(record.sessions()[0].function_calls, 1);
}

#[tokio::test]
async fn uncorrelated_events_omit_the_delegation_id() {
    let server = serve(LiveSimConfig {
        faults: LiveFaults { uncorrelated_events: 1.0, ..LiveFaults::default() },
        ..config()
    })
    .await
    .unwrap();
    let (mut run, _) = Run::start(&server.url(), one_call()).await;
    run.say().await;
    run.until(|e| e["type"] == "session.delegation.created").await;
    run.inner("response.completed").await;
    let stream: Vec<&Value> = run.events.iter().filter(|e| e["type"] == "response.event").collect();
    assert_eq!(stream.len(), 4, "created, reasoning, the call, completed");
    assert!(stream.iter().all(|e| e.get("delegation_id").is_none()), "{stream:?}");
}
