//! The Responses + Conversations simulator: `/v1/conversations…` and
//! `/v1/responses…`.
//!
//! Rules enforced (each breach is answered as the real API answers it and
//! counted in [`super::Violations`]):
//! - a response for a conversation is refused with `conversation_locked`
//!   while another response works on it, and after a cancel until the
//!   cancel has settled (the configured cancel time);
//! - only background responses can be cancelled;
//! - every function call gets its output before the conversation goes on;
//! - bodies carry only documented fields, with the documented types;
//! - ids exist.

mod state;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::record::{EventKind, Kind};
use super::server::Shared;
use super::strict::{
    ApiError, Field, Ty, check, check_metadata, list, opt, page, parse_body, parse_query, req,
};

pub(crate) use state::Conversations;
use state::Resp;

type Sim = Arc<Shared<Conversations>>;

const CONVERSATION_FIELDS: &[Field] = &[opt("items", Ty::Arr), opt("metadata", Ty::Obj)];
const RESPONSE_FIELDS: &[Field] = &[
    opt("background", Ty::Bool),
    opt("conversation", Ty::StrOrObj),
    opt("include", Ty::Arr),
    opt("input", Ty::StrOrArr),
    opt("instructions", Ty::Str),
    opt("max_output_tokens", Ty::Int),
    opt("max_tool_calls", Ty::Int),
    opt("metadata", Ty::Obj),
    opt("model", Ty::Str),
    opt("parallel_tool_calls", Ty::Bool),
    opt("previous_response_id", Ty::Str),
    opt("prompt", Ty::Obj),
    opt("prompt_cache_key", Ty::Str),
    opt("prompt_cache_retention", Ty::Str),
    opt("reasoning", Ty::Obj),
    opt("safety_identifier", Ty::Str),
    opt("service_tier", Ty::Str),
    opt("store", Ty::Bool),
    opt("stream", Ty::Bool),
    opt("stream_options", Ty::Obj),
    opt("temperature", Ty::Num),
    opt("text", Ty::Obj),
    opt("tool_choice", Ty::StrOrObj),
    opt("tools", Ty::Arr),
    opt("top_logprobs", Ty::Int),
    opt("top_p", Ty::Num),
    opt("truncation", Ty::Str),
    opt("user", Ty::Str),
];
const FUNCTION_TOOL_FIELDS: &[Field] = &[
    req("type", Ty::Str),
    req("name", Ty::Str),
    opt("description", Ty::Str),
    opt("parameters", Ty::Obj),
    opt("strict", Ty::Bool),
];
const MESSAGE_ITEM_FIELDS: &[Field] = &[
    opt("type", Ty::Str),
    req("role", Ty::Str),
    req("content", Ty::StrOrArr),
    opt("id", Ty::Str),
    opt("status", Ty::Str),
];
const OUTPUT_ITEM_FIELDS: &[Field] = &[
    req("type", Ty::Str),
    req("call_id", Ty::Str),
    req("output", Ty::StrOrArr),
    opt("id", Ty::Str),
    opt("status", Ty::Str),
];
const TEXT_PART_FIELDS: &[Field] = &[req("type", Ty::Str), req("text", Ty::Str)];

/// The routes of the Responses simulator.
pub(crate) fn router(sim: Sim) -> Router {
    Router::new()
        .route("/v1/conversations", post(create_conversation))
        .route("/v1/conversations/{conversation}", get(get_conversation))
        .route("/v1/conversations/{conversation}/items", get(list_items))
        .route("/v1/responses", post(create_response))
        .route("/v1/responses/{response}", get(get_response))
        .route("/v1/responses/{response}/cancel", post(cancel_response))
        .route("/v1/models/{model}", get(super::models::get_model::<Conversations>))
        .fallback(unknown_route)
        .with_state(sim)
}

fn reply(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

fn refuse(world: &mut Conversations, kind: Kind, error: ApiError) -> ApiError {
    world.recorder.violation(kind, error.message.clone());
    error
}

/// One input item, normalized to the stored item shape.
fn normalize(world: &mut Conversations, item: &Value, i: usize) -> Result<Value, ApiError> {
    let prefix = format!("input[{i}].");
    match item.get("type").and_then(Value::as_str) {
        Some("function_call_output") => {
            check(item, OUTPUT_ITEM_FIELDS, &prefix)?;
            let id = world.id("fco");
            Ok(json!({"type": "function_call_output", "id": id,
                "call_id": item.get("call_id"), "output": item.get("output"), "status": "completed"}))
        }
        None | Some("message") => {
            check(item, MESSAGE_ITEM_FIELDS, &prefix)?;
            let role = item.get("role").and_then(Value::as_str).unwrap_or_default();
            if !matches!(role, "user" | "assistant" | "system" | "developer") {
                return Err(ApiError::invalid(format!(
                    "Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and 'user'."
                ))
                .with_param(format!("{prefix}role"))
                .with_code("invalid_value"));
            }
            let text = match item.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => {
                    let mut text = String::new();
                    for (j, part) in parts.iter().enumerate() {
                        check(part, TEXT_PART_FIELDS, &format!("{prefix}content[{j}]."))?;
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    text
                }
                _ => String::new(),
            };
            let kind = if role == "assistant" { "output_text" } else { "input_text" };
            let id = world.id("msg");
            Ok(json!({"type": "message", "id": id, "status": "completed", "role": role,
                "content": [{"type": kind, "text": text}]}))
        }
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value: '{other}'. The simulator accepts message and function_call_output input items."
        ))
        .with_param(format!("{prefix}type"))
        .with_code("invalid_value")),
    }
}

async fn create_conversation(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, false)?;
        let body = parse_body(&body)
            .and_then(|b| check(&b, CONVERSATION_FIELDS, "").map(|()| b))
            .and_then(|b| check_metadata(b.get("metadata")).map(|()| b))
            .map_err(|e| refuse(world, Kind::Invalid, e))?;
        let mut items = Vec::new();
        for (i, item) in
            body.get("items").and_then(Value::as_array).into_iter().flatten().enumerate()
        {
            items.push(normalize(world, item, i).map_err(|e| refuse(world, Kind::Invalid, e))?);
        }
        let metadata = body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({}));
        let id = world.create_conversation(metadata, items, now);
        world.recorder.stats.containers_created += 1;
        Ok(world.convs.get(&id).map(Conversations::conversation_json).unwrap_or_default())
    })())
}

fn no_conversation(world: &mut Conversations, id: &str) -> ApiError {
    refuse(
        world,
        Kind::NotFound,
        ApiError::not_found(format!("Conversation with id '{id}' not found.")),
    )
}

async fn get_conversation(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(conversation): Path<String>,
) -> Response {
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, false)?;
        match world.convs.get(&conversation) {
            Some(c) => Ok(Conversations::conversation_json(c)),
            None => Err(no_conversation(world, &conversation)),
        }
    })())
}

async fn list_items(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(conversation): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, false)?;
        world.advance_all(now);
        let query = parse_query(query.as_deref());
        let Some(items) = world.convs.get(&conversation).map(|c| c.items.clone()) else {
            return Err(no_conversation(world, &conversation));
        };
        let id =
            |item: &Value| item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let ids: Vec<(String, Value)> = items.into_iter().map(|item| (id(&item), item)).collect();
        let (data, more) =
            page(&ids, |(id, _)| id, &query).map_err(|e| refuse(world, Kind::Invalid, e))?;
        Ok(list(data.into_iter().map(|(_, item)| item).collect(), more))
    })())
}

/// Validates a create request and, when it may start now, starts it.
/// Returns the response id and whether it runs in the background.
fn start_response(
    sim: &Sim,
    world: &mut Conversations,
    headers: &HeaderMap,
    body: &[u8],
    now: Instant,
) -> Result<String, ApiError> {
    sim.admit(world, headers, false)?;
    let body = parse_body(body)
        .and_then(|b| check(&b, RESPONSE_FIELDS, "").map(|()| b))
        .and_then(|b| check_metadata(b.get("metadata")).map(|()| b))
        .map_err(|e| refuse(world, Kind::Invalid, e))?;
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return Err(refuse(
            world,
            Kind::Invalid,
            ApiError::invalid("Missing required parameter: 'model'.")
                .with_param("model")
                .with_code("missing_required_parameter"),
        ));
    };
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::invalid(
            "The simulator does not stream responses; poll them instead.",
        )
        .with_param("stream"));
    }
    let conversation = match body.get("conversation") {
        Some(Value::String(id)) => Some(id.clone()),
        Some(object @ Value::Object(_)) => {
            check(object, &[req("id", Ty::Str)], "conversation.")
                .map_err(|e| refuse(world, Kind::Invalid, e))?;
            object.get("id").and_then(Value::as_str).map(str::to_owned)
        }
        _ => None,
    };
    if conversation.is_some() && body.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            world,
            Kind::Invalid,
            ApiError::invalid("Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.")
                .with_param("conversation")
                .with_code("mutually_exclusive_parameters"),
        ));
    }
    let mut tools = Vec::new();
    let mut tool_json = Vec::new();
    for (i, tool) in body.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if tool.get("type").and_then(Value::as_str) == Some("function") {
            check(tool, FUNCTION_TOOL_FIELDS, &format!("tools[{i}]."))
                .map_err(|e| refuse(world, Kind::Invalid, e))?;
            tools.push(tool.get("name").and_then(Value::as_str).unwrap_or_default().to_owned());
        }
        tool_json.push(tool.clone());
    }
    let mut input = Vec::new();
    match body.get("input") {
        Some(Value::String(text)) => {
            let id = world.id("msg");
            input.push(json!({"type": "message", "id": id, "status": "completed", "role": "user",
                "content": [{"type": "input_text", "text": text}]}));
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input.push(normalize(world, item, i).map_err(|e| refuse(world, Kind::Invalid, e))?);
            }
        }
        _ => {}
    }
    let given: Vec<String> = input
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .filter_map(|i| i.get("call_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut latest_user = input.iter().rev().find_map(state::user_text);
    if let Some(id) = &conversation {
        if !world.convs.contains_key(id) {
            return Err(no_conversation(world, id));
        }
        world.advance_all(now);
        if world.locked(id, now) {
            let offset = world.offset(now);
            world.recorder.event(offset, id, EventKind::Conflict);
            let error = ApiError::invalid("Another process is currently operating on this conversation. Please retry in a few seconds.")
                .with_param("conversation")
                .with_code("conversation_locked");
            // A response the client could see as active makes this the
            // client's fault; a settling cancel is invisible to it.
            let visible = world.convs.get(id).is_some_and(|c| c.active.is_some());
            if visible {
                return Err(refuse(world, Kind::Conflict, error));
            }
            world.recorder.stats.settling_refusals += 1;
            return Err(error);
        }
        let pending = world.convs.get(id).map(|c| c.pending_calls.clone()).unwrap_or_default();
        if let Some(missing) = pending.iter().find(|call| !given.contains(call)) {
            return Err(refuse(
                world,
                Kind::Tool,
                ApiError::invalid(format!("No tool output found for function call {missing}."))
                    .with_param("input"),
            ));
        }
        if latest_user.is_none() {
            latest_user =
                world.convs.get(id).and_then(|c| c.items.iter().rev().find_map(state::user_text));
        }
    }
    if let Some(unknown) = given.iter().find(|call| !world.call_names.contains_key(*call)) {
        return Err(refuse(
            world,
            Kind::Tool,
            ApiError::invalid(format!(
                "No tool call found for function call output with call_id {unknown}."
            ))
            .with_param("input"),
        ));
    }
    let given_outputs = input
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .filter_map(|i| {
            let call = i.get("call_id").and_then(Value::as_str)?;
            let output =
                i.get("output").map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_owned))?;
            Some((world.call_names.get(call)?.clone(), output))
        })
        .collect();
    let response = Resp {
        id: String::new(),
        conversation,
        created: 0,
        status: "queued",
        due: None,
        background: body.get("background").and_then(Value::as_bool).unwrap_or(false),
        model: model.to_owned(),
        instructions: body.get("instructions").and_then(Value::as_str).map(str::to_owned),
        metadata: body.get("metadata").cloned().filter(|m| !m.is_null()).unwrap_or(json!({})),
        tools,
        tool_json,
        input,
        latest_user: latest_user.unwrap_or_default(),
        given_outputs,
        output: Vec::new(),
        hang: false,
    };
    Ok(world.create_response(response, now))
}

async fn create_response(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let now = Instant::now();
    let (id, done_at) = {
        let mut world = sim.world();
        let world = &mut *world;
        match start_response(&sim, world, &headers, &body, now) {
            Ok(id) => {
                let background = world.responses.get(&id).is_some_and(|r| r.background);
                if background {
                    let body = world.responses.get(&id).map(|r| world.response_json(r));
                    return axum::Json(body.unwrap_or_default()).into_response();
                }
                let done_at = world.done_at(&id);
                (id, done_at)
            }
            Err(error) => return error.into_response(),
        }
    };
    // A foreground response holds the request open until it is done; one
    // that never ends holds it until the client gives up.
    match done_at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
    let mut world = sim.world();
    world.advance(&id, Instant::now());
    let body = world.responses.get(&id).map(|r| world.response_json(r));
    axum::Json(body.unwrap_or_default()).into_response()
}

async fn get_response(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(response): Path<String>,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, false)?;
        world.advance(&response, now);
        match world.responses.get(&response) {
            Some(r) => Ok(world.response_json(r)),
            None => Err(refuse(
                world,
                Kind::NotFound,
                ApiError::not_found(format!("No response found with id '{response}'.")),
            )),
        }
    })())
}

async fn cancel_response(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Path(response): Path<String>,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let mut world = sim.world();
    let world = &mut *world;
    reply((|| {
        sim.admit(world, &headers, false)?;
        parse_body(&body)
            .and_then(|b| check(&b, &[], ""))
            .map_err(|e| refuse(world, Kind::Invalid, e))?;
        world.advance(&response, now);
        let Some(found) = world.responses.get(&response) else {
            return Err(refuse(
                world,
                Kind::NotFound,
                ApiError::not_found(format!("No response found with id '{response}'.")),
            ));
        };
        if !found.background {
            return Err(refuse(
                world,
                Kind::Invalid,
                ApiError::invalid("Only responses created with background=true can be cancelled.")
                    .with_param("response_id"),
            ));
        }
        if found.is_terminal() {
            // Cancelling twice, or after the end, returns the final object.
            world.recorder.stats.late_cancels += 1;
        } else {
            world.cancel(&response, now);
        }
        Ok(world.responses.get(&response).map(|r| world.response_json(r)).unwrap_or_default())
    })())
}

async fn unknown_route(State(sim): State<Sim>, method: Method, uri: Uri) -> Response {
    let mut world = sim.world();
    let message = format!("Invalid URL ({method} {})", uri.path());
    refuse(&mut world, Kind::NotFound, ApiError::not_found(message)).into_response()
}
