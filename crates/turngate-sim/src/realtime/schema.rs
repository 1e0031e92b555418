//! Strict validation of GA client events, with the upstream's error texts.
//!
//! Every client event is checked against the GA schema (openai-openapi
//! `RealtimeClientEvent*`, openai-python `types/realtime/*_param.py`) before
//! the simulator acts on it: an unknown field, a missing required field, a
//! wrong type or a value outside its enum is answered the way the real API
//! answers it (`Unknown parameter: 'session.tools[2].meta'.` with code
//! `unknown_parameter` and the path in `param`), and counted as a violation.
//!
//! Fields whose content the API passes to the model unread (a tool's JSON
//! Schema `parameters`, `prompt` variables, `truncation`, `reasoning`) are
//! accepted as any JSON.

use serde_json::Value;

/// A refused client event: what the `error` event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
}

/// The shape of one JSON value.
#[derive(Debug)]
pub(crate) enum Ty {
    Str,
    /// A string of at most this many characters.
    StrMax(usize),
    Int {
        min: i64,
        max: i64,
    },
    Num {
        min: f64,
        max: f64,
    },
    Bool,
    /// One of these strings.
    Lit(&'static [&'static str]),
    Obj(&'static [Field]),
    Arr(&'static Ty),
    Nullable(&'static Ty),
    /// The first alternative whose JSON type matches is checked.
    OneOf(&'static [&'static Ty]),
    /// An object whose `type` names the variant and its fields (`type` itself
    /// is implied).
    Tagged(&'static [(&'static str, &'static [Field])]),
    /// String keys (at most `keys` of them, each at most 64 characters) to
    /// values of the given shape: `metadata`.
    Map {
        keys: usize,
        value: &'static Ty,
    },
    Any,
}

/// A field of an object.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ty: &'static Ty,
    pub(crate) required: bool,
}

const fn opt(name: &'static str, ty: &'static Ty) -> Field {
    Field { name, ty, required: false }
}

const fn req(name: &'static str, ty: &'static Ty) -> Field {
    Field { name, ty, required: true }
}

// ---- Shared shapes ---------------------------------------------------------

static STR: Ty = Ty::Str;
static BOOL: Ty = Ty::Bool;
static ANY: Ty = Ty::Any;
static EVENT_ID: Ty = Ty::StrMax(512);
static NULLABLE_STR: Ty = Ty::Nullable(&STR);
static NON_NEGATIVE: Ty = Ty::Int { min: 0, max: i64::MAX };
static NULLABLE_MS: Ty = Ty::Nullable(&NON_NEGATIVE);

static FORMAT: Ty = Ty::Tagged(&[
    ("audio/pcm", &[opt("rate", &PCM_RATE)]),
    ("audio/pcmu", &[]),
    ("audio/pcma", &[]),
]);
static PCM_RATE: Ty = Ty::Int { min: 24_000, max: 24_000 };

static MODALITIES: Ty = Ty::Arr(&MODALITY);
static MODALITY: Ty = Ty::Lit(&["text", "audio"]);

static MAX_OUTPUT_TOKENS: Ty = Ty::OneOf(&[&TOKENS, &INF]);
static TOKENS: Ty = Ty::Int { min: 1, max: 4096 };
static INF: Ty = Ty::Lit(&["inf"]);

static TOOLS: Ty = Ty::Arr(&TOOL);
static TOOL: Ty = Ty::Tagged(&[
    ("function", &[opt("name", &STR), opt("description", &STR), opt("parameters", &ANY)]),
    (
        "mcp",
        &[
            req("server_label", &STR),
            opt("server_url", &STR),
            opt("connector_id", &STR),
            opt("authorization", &STR),
            opt("headers", &ANY),
            opt("allowed_tools", &ANY),
            opt("require_approval", &ANY),
            opt("server_description", &STR),
        ],
    ),
]);
static TOOL_CHOICE: Ty = Ty::OneOf(&[&TOOL_CHOICE_MODE, &TOOL_CHOICE_FORCED]);
static TOOL_CHOICE_MODE: Ty = Ty::Lit(&["none", "auto", "required"]);
static TOOL_CHOICE_FORCED: Ty = Ty::Tagged(&[
    ("function", &[req("name", &STR)]),
    ("mcp", &[req("server_label", &STR), opt("name", &NULLABLE_STR)]),
]);

static VOICE: Ty = Ty::OneOf(&[&STR, &VOICE_ID]);
static VOICE_ID: Ty = Ty::Obj(&[req("id", &STR)]);

static METADATA: Ty = Ty::Nullable(&METADATA_MAP);
static METADATA_MAP: Ty = Ty::Map { keys: 16, value: &METADATA_VALUE };
static METADATA_VALUE: Ty = Ty::StrMax(512);

// ---- session.update --------------------------------------------------------

static SESSION: Ty = Ty::Tagged(&[
    (
        "realtime",
        &[
            opt("model", &STR),
            opt("instructions", &STR),
            opt("output_modalities", &MODALITIES),
            opt("audio", &AUDIO),
            opt("include", &INCLUDE),
            opt("tools", &TOOLS),
            opt("tool_choice", &TOOL_CHOICE),
            opt("max_output_tokens", &MAX_OUTPUT_TOKENS),
            opt("tracing", &TRACING),
            opt("truncation", &ANY),
            opt("prompt", &ANY),
            opt("reasoning", &ANY),
            opt("parallel_tool_calls", &BOOL),
        ],
    ),
    ("transcription", &[opt("audio", &ANY), opt("include", &INCLUDE)]),
]);
static INCLUDE: Ty = Ty::Arr(&INCLUDE_ITEM);
static INCLUDE_ITEM: Ty = Ty::Lit(&["item.input_audio_transcription.logprobs"]);
static TRACING: Ty = Ty::Nullable(&TRACING_CONFIG);
static TRACING_CONFIG: Ty = Ty::OneOf(&[&TRACING_AUTO, &TRACING_OBJECT]);
static TRACING_AUTO: Ty = Ty::Lit(&["auto"]);
static TRACING_OBJECT: Ty =
    Ty::Obj(&[opt("workflow_name", &STR), opt("group_id", &STR), opt("metadata", &ANY)]);

static AUDIO: Ty = Ty::Obj(&[opt("input", &AUDIO_INPUT), opt("output", &AUDIO_OUTPUT)]);
static AUDIO_INPUT: Ty = Ty::Obj(&[
    opt("format", &FORMAT),
    opt("noise_reduction", &NOISE_REDUCTION),
    opt("transcription", &TRANSCRIPTION),
    opt("turn_detection", &TURN_DETECTION),
]);
static NOISE_REDUCTION: Ty = Ty::Nullable(&NOISE_REDUCTION_OBJECT);
static NOISE_REDUCTION_OBJECT: Ty = Ty::Obj(&[opt("type", &NOISE_TYPE)]);
static NOISE_TYPE: Ty = Ty::Lit(&["near_field", "far_field"]);
static TRANSCRIPTION: Ty = Ty::Nullable(&TRANSCRIPTION_OBJECT);
static TRANSCRIPTION_OBJECT: Ty =
    Ty::Obj(&[opt("model", &STR), opt("language", &STR), opt("prompt", &STR)]);
static TURN_DETECTION: Ty = Ty::Nullable(&TURN_DETECTION_OBJECT);
static TURN_DETECTION_OBJECT: Ty = Ty::Tagged(&[
    (
        "server_vad",
        &[
            opt("create_response", &BOOL),
            opt("idle_timeout_ms", &NULLABLE_MS),
            opt("interrupt_response", &BOOL),
            opt("prefix_padding_ms", &NON_NEGATIVE),
            opt("silence_duration_ms", &NON_NEGATIVE),
            opt("threshold", &THRESHOLD),
        ],
    ),
    (
        "semantic_vad",
        &[
            opt("create_response", &BOOL),
            opt("eagerness", &EAGERNESS),
            opt("interrupt_response", &BOOL),
        ],
    ),
]);
static THRESHOLD: Ty = Ty::Num { min: 0.0, max: 1.0 };
static EAGERNESS: Ty = Ty::Lit(&["low", "medium", "high", "auto"]);
static AUDIO_OUTPUT: Ty =
    Ty::Obj(&[opt("format", &FORMAT), opt("speed", &SPEED), opt("voice", &VOICE)]);
static SPEED: Ty = Ty::Num { min: 0.25, max: 1.5 };

// ---- conversation items ----------------------------------------------------

static ITEM: Ty = Ty::Tagged(&[
    (
        "message",
        &[
            opt("id", &ITEM_ID),
            opt("object", &ITEM_OBJECT),
            opt("status", &ITEM_STATUS),
            req("role", &ROLE),
            req("content", &CONTENTS),
        ],
    ),
    (
        "function_call",
        &[
            opt("id", &ITEM_ID),
            opt("object", &ITEM_OBJECT),
            opt("status", &ITEM_STATUS),
            opt("call_id", &STR),
            req("name", &STR),
            req("arguments", &STR),
        ],
    ),
    (
        "function_call_output",
        &[
            opt("id", &ITEM_ID),
            opt("object", &ITEM_OBJECT),
            opt("status", &ITEM_STATUS),
            req("call_id", &STR),
            req("output", &STR),
        ],
    ),
]);
static ITEM_ID: Ty = Ty::StrMax(32);
static ITEM_OBJECT: Ty = Ty::Lit(&["realtime.item"]);
static ITEM_STATUS: Ty = Ty::Lit(&["completed", "incomplete", "in_progress"]);
static ROLE: Ty = Ty::Lit(&["user", "assistant", "system"]);
static CONTENTS: Ty = Ty::Arr(&CONTENT);
static CONTENT: Ty = Ty::Tagged(&[
    ("input_text", &[req("text", &STR)]),
    ("input_audio", &[req("audio", &STR), opt("transcript", &STR)]),
    ("input_image", &[req("image_url", &STR), opt("detail", &DETAIL)]),
    ("output_text", &[req("text", &STR)]),
    ("output_audio", &[opt("audio", &STR), opt("transcript", &STR)]),
]);
static DETAIL: Ty = Ty::Lit(&["auto", "low", "high"]);

// ---- response.create ---------------------------------------------------------

static RESPONSE: Ty = Ty::Obj(&[
    opt("conversation", &STR),
    opt("metadata", &METADATA),
    opt("instructions", &STR),
    opt("input", &RESPONSE_INPUT),
    opt("output_modalities", &MODALITIES),
    opt("tools", &TOOLS),
    opt("tool_choice", &TOOL_CHOICE),
    opt("max_output_tokens", &MAX_OUTPUT_TOKENS),
    opt("audio", &RESPONSE_AUDIO),
    opt("prompt", &ANY),
]);
static RESPONSE_INPUT: Ty = Ty::Arr(&ANY);
static RESPONSE_AUDIO: Ty = Ty::Obj(&[opt("output", &RESPONSE_AUDIO_OUTPUT)]);
static RESPONSE_AUDIO_OUTPUT: Ty = Ty::Obj(&[opt("format", &FORMAT), opt("voice", &VOICE)]);

// ---- The events ----------------------------------------------------------------

/// Every GA client event type with its fields (`type` is implied).
static EVENTS: Ty = Ty::Tagged(&[
    ("session.update", &[opt("event_id", &EVENT_ID), req("session", &SESSION)]),
    ("input_audio_buffer.append", &[opt("event_id", &EVENT_ID), req("audio", &STR)]),
    ("input_audio_buffer.commit", &[opt("event_id", &EVENT_ID)]),
    ("input_audio_buffer.clear", &[opt("event_id", &EVENT_ID)]),
    ("output_audio_buffer.clear", &[opt("event_id", &EVENT_ID)]),
    (
        "conversation.item.create",
        &[opt("event_id", &EVENT_ID), opt("previous_item_id", &NULLABLE_STR), req("item", &ITEM)],
    ),
    ("conversation.item.retrieve", &[opt("event_id", &EVENT_ID), req("item_id", &STR)]),
    (
        "conversation.item.truncate",
        &[
            opt("event_id", &EVENT_ID),
            req("item_id", &STR),
            req("content_index", &NON_NEGATIVE),
            req("audio_end_ms", &NON_NEGATIVE),
        ],
    ),
    ("conversation.item.delete", &[opt("event_id", &EVENT_ID), req("item_id", &STR)]),
    ("response.create", &[opt("event_id", &EVENT_ID), opt("response", &RESPONSE)]),
    ("response.cancel", &[opt("event_id", &EVENT_ID), opt("response_id", &STR)]),
]);

/// Checks a parsed client event against the GA schema.
pub(crate) fn validate_event(event: &Value) -> Result<(), Refusal> {
    check(event, &EVENTS, "")
}

fn check(value: &Value, ty: &Ty, path: &str) -> Result<(), Refusal> {
    match ty {
        Ty::Any => Ok(()),
        Ty::Str => value.as_str().map(|_| ()).ok_or_else(|| wrong_type(path, "a string", value)),
        Ty::StrMax(max) => {
            let text = value.as_str().ok_or_else(|| wrong_type(path, "a string", value))?;
            let len = text.chars().count();
            if len > *max {
                return Err(Refusal {
                    code: "string_above_max_length",
                    message: format!(
                        "Invalid '{path}': string too long. Expected a string with maximum length {max}, but got a string with length {len} instead."
                    ),
                    param: Some(path.to_owned()),
                });
            }
            Ok(())
        }
        Ty::Int { min, max } => {
            let Some(number) = value.as_i64() else {
                return Err(wrong_type(path, "an integer", value));
            };
            if number < *min {
                return Err(out_of_range(
                    path,
                    "integer_below_min_value",
                    "below minimum",
                    ">=",
                    *min,
                    number,
                ));
            }
            if number > *max {
                return Err(out_of_range(
                    path,
                    "integer_above_max_value",
                    "above maximum",
                    "<=",
                    *max,
                    number,
                ));
            }
            Ok(())
        }
        Ty::Num { min, max } => {
            let Some(number) = value.as_f64() else {
                return Err(wrong_type(path, "a number", value));
            };
            if number < *min || number > *max {
                return Err(Refusal {
                    code: if number < *min {
                        "decimal_below_min_value"
                    } else {
                        "decimal_above_max_value"
                    },
                    message: format!(
                        "Invalid '{path}': number out of range. Expected a value between {min} and {max}, but got {number} instead."
                    ),
                    param: Some(path.to_owned()),
                });
            }
            Ok(())
        }
        Ty::Bool => value.as_bool().map(|_| ()).ok_or_else(|| wrong_type(path, "a boolean", value)),
        Ty::Lit(allowed) => {
            let Some(text) = value.as_str() else {
                return Err(wrong_type(path, "a string", value));
            };
            if allowed.contains(&text) { Ok(()) } else { Err(invalid_value(path, text, allowed)) }
        }
        Ty::Obj(fields) => check_object(value, fields, path, None),
        Ty::Arr(item) => {
            let Some(items) = value.as_array() else {
                return Err(wrong_type(path, "an array", value));
            };
            for (index, element) in items.iter().enumerate() {
                check(element, item, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        Ty::Nullable(inner) => {
            if value.is_null() {
                Ok(())
            } else {
                check(value, inner, path)
            }
        }
        Ty::OneOf(alternatives) => {
            let fitting = alternatives.iter().find(|alt| same_json_type(value, alt));
            match fitting {
                Some(alternative) => check(value, alternative, path),
                None => Err(wrong_type(path, &describe_alternatives(alternatives), value)),
            }
        }
        Ty::Tagged(variants) => {
            let Some(object) = value.as_object() else {
                return Err(wrong_type(path, "an object", value));
            };
            let type_path = join(path, "type");
            let Some(kind) = object.get("type") else {
                return Err(missing(&type_path));
            };
            let Some(kind) = kind.as_str() else {
                return Err(wrong_type(&type_path, "a string", kind));
            };
            let Some((_, fields)) = variants.iter().find(|(name, _)| *name == kind) else {
                let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
                return Err(invalid_value(&type_path, kind, &names));
            };
            check_object(value, fields, path, Some("type"))
        }
        Ty::Map { keys, value: value_ty } => {
            let Some(object) = value.as_object() else {
                return Err(wrong_type(path, "an object", value));
            };
            if object.len() > *keys {
                return Err(Refusal {
                    code: "object_above_max_properties",
                    message: format!(
                        "Invalid '{path}': too many properties. Expected an object with at most {keys} properties, but got an object with {} properties instead.",
                        object.len()
                    ),
                    param: Some(path.to_owned()),
                });
            }
            for (key, element) in object {
                let element_path = join(path, key);
                if key.chars().count() > 64 {
                    return Err(Refusal {
                        code: "string_above_max_length",
                        message: format!(
                            "Invalid '{path}': key too long. Expected keys with maximum length 64, but got a key with length {} instead.",
                            key.chars().count()
                        ),
                        param: Some(element_path),
                    });
                }
                check(element, value_ty, &element_path)?;
            }
            Ok(())
        }
    }
}

fn check_object(
    value: &Value,
    fields: &[Field],
    path: &str,
    implied: Option<&str>,
) -> Result<(), Refusal> {
    let Some(object) = value.as_object() else {
        return Err(wrong_type(path, "an object", value));
    };
    for key in object.keys() {
        if Some(key.as_str()) != implied && !fields.iter().any(|field| field.name == key) {
            return Err(Refusal {
                code: "unknown_parameter",
                message: format!("Unknown parameter: '{}'.", join(path, key)),
                param: Some(join(path, key)),
            });
        }
    }
    for field in fields {
        match object.get(field.name) {
            Some(element) => check(element, field.ty, &join(path, field.name))?,
            None if field.required => return Err(missing(&join(path, field.name))),
            None => {}
        }
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn missing(path: &str) -> Refusal {
    Refusal {
        code: "missing_required_parameter",
        message: format!("Missing required parameter: '{path}'."),
        param: Some(path.to_owned()),
    }
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Refusal {
    Refusal {
        code: "invalid_type",
        message: format!(
            "Invalid type for '{path}': expected {expected}, but got {} instead.",
            json_type(got)
        ),
        param: Some(path.to_owned()),
    }
}

pub(crate) fn invalid_value(path: &str, got: &str, allowed: &[&str]) -> Refusal {
    let quoted: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
    let list = match quoted.as_slice() {
        [] => String::new(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    };
    Refusal {
        code: "invalid_value",
        message: format!("Invalid value: '{got}'. Supported values are: {list}."),
        param: Some(path.to_owned()),
    }
}

fn out_of_range(
    path: &str,
    code: &'static str,
    what: &str,
    op: &str,
    bound: i64,
    got: i64,
) -> Refusal {
    Refusal {
        code,
        message: format!(
            "Invalid '{path}': integer {what} value. Expected a value {op} {bound}, but got {got} instead."
        ),
        param: Some(path.to_owned()),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn same_json_type(value: &Value, ty: &Ty) -> bool {
    match ty {
        Ty::Str | Ty::StrMax(_) | Ty::Lit(_) => value.is_string(),
        Ty::Int { .. } => value.is_i64() || value.is_u64(),
        Ty::Num { .. } => value.is_number(),
        Ty::Bool => value.is_boolean(),
        Ty::Obj(_) | Ty::Tagged(_) | Ty::Map { .. } => value.is_object(),
        Ty::Arr(_) => value.is_array(),
        Ty::Nullable(inner) => value.is_null() || same_json_type(value, inner),
        Ty::OneOf(alternatives) => alternatives.iter().any(|alt| same_json_type(value, alt)),
        Ty::Any => true,
    }
}

fn describe_alternatives(alternatives: &[&Ty]) -> String {
    let names: Vec<&str> = alternatives
        .iter()
        .map(|alt| match alt {
            Ty::Str | Ty::StrMax(_) | Ty::Lit(_) => "a string",
            Ty::Int { .. } => "an integer",
            Ty::Num { .. } => "a number",
            Ty::Bool => "a boolean",
            Ty::Obj(_) | Ty::Tagged(_) | Ty::Map { .. } => "an object",
            Ty::Arr(_) => "an array",
            Ty::Nullable(_) | Ty::OneOf(_) | Ty::Any => "a value",
        })
        .collect();
    format!("one of {}", names.join(" or "))
}
