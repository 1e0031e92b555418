//! The Assistants API simulator: `/v1/threads…` with runs over real time.
//!
//! Rules enforced (each breach is answered as the real API answers it and
//! counted in [`super::Violations`]):
//! - every request carries `OpenAI-Beta: assistants=v2`;
//! - no message is added and no run created while a run of the thread is
//!   `queued`, `in_progress`, `requires_action` or `cancelling`;
//! - tool outputs go, all at once, to a run in `requires_action`, for
//!   exactly the calls it asked for;
//! - bodies carry only documented fields, with the documented types;
//! - ids exist.
//!
//! Cancelling a run that already ended is refused as the API refuses it,
//! but counted as a late cancel (a benign race), not a violation.

mod state;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::record::{EventKind, Kind};
use super::server::Shared;
use super::strict::{
    ApiError, Field, Ty, check, check_metadata, list, opt, page, parse_body, parse_query,
    query_value, req,
};

pub(crate) use state::Threads;

type Sim = Arc<Shared<Threads>>;

const MESSAGE_FIELDS: &[Field] = &[
    req("role", Ty::Str),
    req("content", Ty::StrOrArr),
    opt("attachments", Ty::Arr),
    opt("metadata", Ty::Obj),
];
const THREAD_FIELDS: &[Field] =
    &[opt("messages", Ty::Arr), opt("metadata", Ty::Obj), opt("tool_resources", Ty::Obj)];
const RUN_FIELDS: &[Field] = &[
    req("assistant_id", Ty::Str),
    opt("model", Ty::Str),
    opt("instructions", Ty::Str),
    opt("additional_instructions", Ty::Str),
    opt("additional_messages", Ty::Arr),
    opt("tools", Ty::Arr),
    opt("metadata", Ty::Obj),
    opt("temperature", Ty::Num),
    opt("top_p", Ty::Num),
    opt("stream", Ty::Bool),
    opt("max_prompt_tokens", Ty::Int),
    opt("max_completion_tokens", Ty::Int),
    opt("truncation_strategy", Ty::Obj),
    opt("tool_choice", Ty::StrOrObj),
    opt("parallel_tool_calls", Ty::Bool),
    opt("response_format", Ty::StrOrObj),
    opt("reasoning_effort", Ty::Str),
];
const ASSISTANT_FIELDS: &[Field] = &[
    req("model", Ty::Str),
    opt("name", Ty::Str),
    opt("description", Ty::Str),
    opt("instructions", Ty::Str),
    opt("tools", Ty::Arr),
    opt("tool_resources", Ty::Obj),
    opt("metadata", Ty::Obj),
    opt("temperature", Ty::Num),
    opt("top_p", Ty::Num),
    opt("response_format", Ty::StrOrObj),
    opt("reasoning_effort", Ty::Str),
];
const SUBMIT_FIELDS: &[Field] = &[req("tool_outputs", Ty::Arr), opt("stream", Ty::Bool)];
const OUTPUT_FIELDS: &[Field] = &[req("tool_call_id", Ty::Str), req("output", Ty::Str)];
const TOOL_FIELDS: &[Field] = &[req("type", Ty::Str), opt("function", Ty::Obj)];

/// The routes of the Assistants simulator.
pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .route("/v1/assistants", post(create_assistant))
        .route("/v1/threads", post(create_thread))
        .route("/v1/threads/{thread}", get(get_thread))
        .route("/v1/threads/{thread}/messages", post(create_message).get(list_messages))
        .route("/v1/threads/{thread}/messages/{message}", get(get_message).delete(delete_message))
        .route("/v1/threads/{thread}/runs", post(create_run).get(list_runs))
        .route("/v1/threads/{thread}/runs/{run}", get(get_run))
        .route("/v1/threads/{thread}/runs/{run}/cancel", post(cancel_run))
        .route("/v1/threads/{thread}/runs/{run}/submit_tool_outputs", post(submit_tool_outputs))
        .route("/v1/models/{model}", get(super::models::get_model::<Threads>))
        .fallback(unknown_route)
        .with_state(sim)
}

fn reply(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Records a refusal as a violation of `kind` and passes it on.
fn refuse(world: &mut Threads, kind: Kind, error: ApiError) -> ApiError {
    world.recorder.violation(kind, error.message.clone());
    error
}

fn no_thread(world: &mut Threads, id: &str) -> ApiError {
    refuse(world, Kind::NotFound, ApiError::not_found(format!("No thread found with id '{id}'.")))
}

fn no_run(world: &mut Threads, thread: &str, id: &str) -> ApiError {
    refuse(
        world,
        Kind::NotFound,
        ApiError::not_found(format!("No run found with id '{id}' (thread '{thread}').")),
    )
}

/// Text of a message `content`: a string, or text parts.
fn content_text(content: &Value, param: &str) -> Result<String, ApiError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                let fields = [req("type", Ty::Str), req("text", Ty::Str)];
                check(part, &fields, &format!("{param}[{i}]."))?;
                if part.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(ApiError::invalid(format!(
                        "Invalid value for '{param}[{i}].type': the simulator accepts text parts only."
                    ))
                    .with_param(format!("{param}[{i}].type")));
                }
                text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
            }
            Ok(text)
        }
        _ => Err(ApiError::invalid(format!("Invalid type for '{param}'.")).with_param(param)),
    }
}

/// Checks one message body (`prefix` names its place) and returns role and text.
fn message_parts(body: &Value, prefix: &str) -> Result<(String, String), ApiError> {
    check(body, MESSAGE_FIELDS, prefix)?;
    check_metadata(body.get("metadata"))?;
    let role = body.get("role").and_then(Value::as_str).unwrap_or_default();
    if role != "user" && role != "assistant" {
        return Err(ApiError::invalid(format!(
            "Invalid value: '{role}'. Supported values are: 'user' and 'assistant'."
        ))
        .with_param(format!("{prefix}role"))
        .with_code("invalid_value"));
    }
    let content = body.get("content").unwrap_or(&Value::Null);
    Ok((role.to_owned(), content_text(content, &format!("{prefix}content"))?))
}

/// `POST /v1/assistants`: a new assistant with the function tools given.
async fn create_assistant(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let body = parse_body(&body).and_then(|b| check(&b, ASSISTANT_FIELDS, "").map(|()| b));
        let body = body.map_err(|e| refuse(world, Kind::Invalid, e))?;
        check_metadata(body.get("metadata")).map_err(|e| refuse(world, Kind::Invalid, e))?;
        let tools = match body.get("tools").and_then(Value::as_array) {
            Some(tools) => function_names(tools).map_err(|e| refuse(world, Kind::Invalid, e))?,
            None => Vec::new(),
        };
        let id = world.id("asst");
        world.created.push(crate::chat::SimAssistant { id: id.clone(), tools: tools.clone() });
        let tools: Vec<Value> = tools
            .iter()
            .map(|name| json!({"type": "function", "function": {"name": name}}))
            .collect();
        Ok(json!({
            "id": id,
            "object": "assistant",
            "created_at": world.unix(Instant::now()),
            "name": body.get("name").cloned().unwrap_or(Value::Null),
            "description": body.get("description").cloned().unwrap_or(Value::Null),
            "model": body.get("model").cloned().unwrap_or(Value::Null),
            "instructions": body.get("instructions").cloned().unwrap_or(Value::Null),
            "tools": tools,
            "metadata": body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({})),
        }))
    })())
}

async fn create_thread(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let body = parse_body(&body).and_then(|b| check(&b, THREAD_FIELDS, "").map(|()| b));
        let body = body.map_err(|e| refuse(world, Kind::Invalid, e))?;
        check_metadata(body.get("metadata")).map_err(|e| refuse(world, Kind::Invalid, e))?;
        let mut messages = Vec::new();
        for (i, message) in
            body.get("messages").and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            let parts = message_parts(message, &format!("messages[{i}]."));
            let (role, text) = parts.map_err(|e| refuse(world, Kind::Invalid, e))?;
            messages.push((role, text, message.get("metadata").cloned().unwrap_or(json!({}))));
        }
        let metadata = body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({}));
        let id = world.create_thread(metadata, now);
        world.recorder.stats.containers_created += 1;
        for (role, text, metadata) in messages {
            world.add_message(&id, &role, text, metadata, now);
        }
        Ok(world.threads.get(&id).map(Threads::thread_json).unwrap_or_default())
    })())
}

async fn get_thread(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(thread): Path<String>,
) -> Response {
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        match world.threads.get(&thread) {
            Some(t) => Ok(Threads::thread_json(t)),
            None => Err(no_thread(world, &thread)),
        }
    })())
}

async fn create_message(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(thread): Path<String>,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let body = parse_body(&body).map_err(|e| refuse(world, Kind::Invalid, e))?;
        let (role, text) = message_parts(&body, "").map_err(|e| refuse(world, Kind::Invalid, e))?;
        if !world.threads.contains_key(&thread) {
            return Err(no_thread(world, &thread));
        }
        world.advance_thread(&thread, now);
        if let Some(run) = world.active_run(&thread) {
            let message =
                format!("Can't add messages to {thread} while a run {} is active.", run.id);
            let offset = sim.since_start(now);
            world.recorder.event(offset, &thread, EventKind::Conflict);
            return Err(refuse(world, Kind::Conflict, ApiError::invalid(message)));
        }
        let metadata = body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({}));
        let message = world.add_message(&thread, &role, text, metadata, now);
        Ok(message.map(|m| Threads::message_json(&thread, &m)).unwrap_or_default())
    })())
}

async fn list_messages(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(thread): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let query = parse_query(query.as_deref());
        if !world.threads.contains_key(&thread) {
            return Err(no_thread(world, &thread));
        }
        world.advance_thread(&thread, now);
        let messages: Vec<state::Msg> = world
            .threads
            .get(&thread)
            .map(|t| t.messages.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|m| {
                query_value(&query, "run_id").is_none_or(|r| m.run_id.as_deref() == Some(r))
            })
            .collect();
        let (data, more) =
            page(&messages, |m| &m.id, &query).map_err(|e| refuse(world, Kind::Invalid, e))?;
        Ok(list(data.iter().map(|m| Threads::message_json(&thread, m)).collect(), more))
    })())
}

async fn get_message(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((thread, message)): Path<(String, String)>,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        world.advance_thread(&thread, now);
        let found =
            world.threads.get(&thread).and_then(|t| t.messages.iter().find(|m| m.id == message));
        match found {
            Some(m) => Ok(Threads::message_json(&thread, m)),
            None => Err(refuse(
                world,
                Kind::NotFound,
                ApiError::not_found(format!("No message found with id '{message}'.")),
            )),
        }
    })())
}

async fn delete_message(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((thread, message)): Path<(String, String)>,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        world.advance_thread(&thread, now);
        let removed = world.threads.get_mut(&thread).and_then(|t| {
            let at = t.messages.iter().position(|m| m.id == message)?;
            Some(t.messages.remove(at))
        });
        match removed {
            Some(_) => {
                Ok(json!({"id": message, "object": "thread.message.deleted", "deleted": true}))
            }
            None => Err(refuse(
                world,
                Kind::NotFound,
                ApiError::not_found(format!("No message found with id '{message}'.")),
            )),
        }
    })())
}

async fn create_run(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(thread): Path<String>,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let body = parse_body(&body)
            .and_then(|b| check(&b, RUN_FIELDS, "").map(|()| b))
            .and_then(|b| check_metadata(b.get("metadata")).map(|()| b))
            .map_err(|e| refuse(world, Kind::Invalid, e))?;
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err(ApiError::invalid(
                "The simulator does not stream runs; poll them instead.",
            )
            .with_param("stream"));
        }
        let mut extra = Vec::new();
        for (i, message) in body
            .get("additional_messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let parts = message_parts(message, &format!("additional_messages[{i}]."));
            extra.push(parts.map_err(|e| refuse(world, Kind::Invalid, e))?);
        }
        let tools = match body.get("tools").and_then(Value::as_array) {
            Some(tools) => {
                Some(function_names(tools).map_err(|e| refuse(world, Kind::Invalid, e))?)
            }
            None => None,
        };
        let assistant_id = body.get("assistant_id").and_then(Value::as_str).unwrap_or_default();
        let known = sim.config.assistants.iter().chain(world.created.iter());
        let Some(assistant) = known.clone().find(|a| a.id == assistant_id).cloned() else {
            return Err(refuse(
                world,
                Kind::NotFound,
                ApiError::not_found(format!("No assistant found with id '{assistant_id}'.")),
            ));
        };
        if !world.threads.contains_key(&thread) {
            return Err(no_thread(world, &thread));
        }
        world.advance_thread(&thread, now);
        if let Some(run) = world.active_run(&thread) {
            let message = format!("Thread {thread} already has an active run {}.", run.id);
            let offset = sim.since_start(now);
            world.recorder.event(offset, &thread, EventKind::Conflict);
            return Err(refuse(world, Kind::Conflict, ApiError::invalid(message)));
        }
        for (role, text) in extra {
            world.add_message(&thread, &role, text, json!({}), now);
        }
        let metadata = body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({}));
        let instructions =
            body.get("instructions").and_then(Value::as_str).unwrap_or_default().to_owned();
        let tools = tools.unwrap_or_else(|| assistant.tools.clone());
        let id = world.create_run(&thread, assistant_id, tools, metadata, instructions, now);
        let run = id.as_ref().and_then(|id| world.runs.get(id));
        Ok(run.map(|r| world.run_json(r)).unwrap_or_default())
    })())
}

/// The function names of a `tools` override.
fn function_names(tools: &[Value]) -> Result<Vec<String>, ApiError> {
    let mut names = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        check(tool, TOOL_FIELDS, &format!("tools[{i}]."))?;
        if tool.get("type").and_then(Value::as_str) == Some("function") {
            let name = tool.pointer("/function/name").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Missing required parameter: 'tools[{i}].function.name'."
                ))
                .with_param(format!("tools[{i}].function.name"))
                .with_code("missing_required_parameter")
            })?;
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

async fn list_runs(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(thread): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let query = parse_query(query.as_deref());
        let Some(ids) = world.threads.get(&thread).map(|t| t.runs.clone()) else {
            return Err(no_thread(world, &thread));
        };
        world.advance_thread(&thread, now);
        let (ids, more) =
            page(&ids, |id| id, &query).map_err(|e| refuse(world, Kind::Invalid, e))?;
        let data =
            ids.iter().filter_map(|id| world.runs.get(id)).map(|r| world.run_json(r)).collect();
        Ok(list(data, more))
    })())
}

async fn get_run(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((thread, run)): Path<(String, String)>,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        world.advance_thread(&thread, now);
        match world.runs.get(&run).filter(|r| r.thread_id == thread) {
            Some(r) => Ok(world.run_json(r)),
            None => Err(no_run(world, &thread, &run)),
        }
    })())
}

async fn cancel_run(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((thread, run)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        parse_body(&body)
            .and_then(|b| check(&b, &[], ""))
            .map_err(|e| refuse(world, Kind::Invalid, e))?;
        world.advance_thread(&thread, now);
        let Some(status) = world.runs.get(&run).filter(|r| r.thread_id == thread).map(|r| r.status)
        else {
            return Err(no_run(world, &thread, &run));
        };
        if !matches!(status, "queued" | "in_progress" | "requires_action") {
            // Losing the race against the run's own end is normal; the
            // client re-reads the run.
            world.recorder.stats.late_cancels += 1;
            return Err(ApiError::invalid(format!("Cannot cancel run with status '{status}'.")));
        }
        world.cancel(&run, now);
        Ok(world.runs.get(&run).map(|r| world.run_json(r)).unwrap_or_default())
    })())
}

async fn submit_tool_outputs(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path((thread, run)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, true)?;
        let body = parse_body(&body)
            .and_then(|b| check(&b, SUBMIT_FIELDS, "").map(|()| b))
            .map_err(|e| refuse(world, Kind::Invalid, e))?;
        let mut outputs = Vec::new();
        for (i, output) in
            body.get("tool_outputs").and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            check(output, OUTPUT_FIELDS, &format!("tool_outputs[{i}]."))
                .map_err(|e| refuse(world, Kind::Invalid, e))?;
            let id = output.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
            let text = output.get("output").and_then(Value::as_str).unwrap_or_default();
            outputs.push((id.to_owned(), text.to_owned()));
        }
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            return Err(ApiError::invalid(
                "The simulator does not stream runs; poll them instead.",
            )
            .with_param("stream"));
        }
        world.advance_thread(&thread, now);
        let Some(found) = world.runs.get(&run).filter(|r| r.thread_id == thread) else {
            return Err(no_run(world, &thread, &run));
        };
        if found.status != "requires_action" {
            let message =
                format!("Runs in status \"{}\" do not accept tool outputs.", found.status);
            return Err(refuse(world, Kind::Tool, ApiError::invalid(message)));
        }
        let expected: Vec<String> = found.calls.iter().map(|c| c.id.clone()).collect();
        let mut given: Vec<String> = outputs.iter().map(|(id, _)| id.clone()).collect();
        given.sort();
        let mut wanted = expected.clone();
        wanted.sort();
        if given != wanted {
            let message = format!(
                "Expected tool outputs for call_ids {expected:?}, got {:?}.",
                outputs.iter().map(|(id, _)| id).collect::<Vec<_>>()
            );
            return Err(refuse(
                world,
                Kind::Tool,
                ApiError::invalid(message).with_param("tool_outputs"),
            ));
        }
        let named: Vec<(String, String)> = found
            .calls
            .iter()
            .filter_map(|c| {
                outputs.iter().find(|(id, _)| *id == c.id).map(|(_, o)| (c.name.clone(), o.clone()))
            })
            .collect();
        world.resume(&run, named, now);
        Ok(world.runs.get(&run).map(|r| world.run_json(r)).unwrap_or_default())
    })())
}

async fn unknown_route(State(sim): State<Sim>, method: Method, uri: Uri) -> Response {
    let mut world = sim.world();
    let message = format!("Invalid URL ({method} {})", uri.path());
    refuse(&mut world, Kind::NotFound, ApiError::not_found(message)).into_response()
}

/// Test hooks that act as another client would, without HTTP.
impl Threads {
    /// Starts a run on `thread` as another client would; `tools` makes it
    /// stop in `requires_action` when the latest user text asks for one.
    pub(crate) fn foreign_run(
        &mut self,
        thread: &str,
        tools: Vec<String>,
        now: Instant,
    ) -> Option<String> {
        self.advance_thread(thread, now);
        if self.active_run(thread).is_some() {
            return None;
        }
        self.create_run(thread, "asst_foreign", tools, json!({}), String::new(), now)
    }
}
