//! Strict validation of GPT-Live client events, with the upstream's error
//! shapes.
//!
//! The shapes follow openai-python 3.57.0 `openai/types/live/` (the
//! `*_event.py` client events, `session_config.py`, `audio_format.py`,
//! `initial_item.py`, `custom_voice.py`, `decision_trigger.py`) and the
//! Live API reference (https://developers.openai.com/api/reference/resources/live/,
//! which gives `event_id` at most 512 characters and `audio` at least one).
//! The config is strict on the real service ("unknown fields are rejected",
//! https://developers.openai.com/api/docs/guides/live-conversations), so an
//! unknown field anywhere is refused with `unknown_parameter` and the dotted
//! path, as in the reference's example `Unknown parameter: 'session.voice'.`
//!
//! The other validation messages (missing fields, wrong types, lengths,
//! enum values) are not recorded for Live; they use the wording OpenAI's
//! other APIs answer with, and are ours in that sense. Fields the
//! simulator does not act on (a Decisions config, a trigger's questions, a
//! WebRTC data channel, the settings of a built-in Responses tool, a
//! function's JSON Schema) are accepted as any JSON.
//!
//! The Responses delegation config follows openai-python 3.57.0
//! `responses_delegation_config_param.py` and `function_tool_param.py`
//! (`model` required; `function` tools checked field by field; the built-in
//! tools named there, plus `mcp`, which `tool_choice` can name, accepted
//! whole). `response.item.create` carries a Responses input item
//! (`response_item_create_event_param.py`); the simulator models the
//! `function_call_output` item of the Responses API only, whose `output`
//! it requires to be a string (the API also takes a list of content parts).

use serde_json::Value;

/// A refused client event: what the `error` event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: Option<&'static str>,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
}

impl Refusal {
    /// A refusal with a code the record shows, or that OpenAI's validation
    /// uses for the same breach.
    pub(crate) fn new(code: &'static str, message: String, param: Option<String>) -> Refusal {
        Refusal { code: Some(code), message, param }
    }

    /// A refusal whose code the public record does not show: `code` is
    /// `null`, which the Live guide allows for ("`code` can be null").
    pub(crate) fn uncoded(message: String, param: Option<String>) -> Refusal {
        Refusal { code: None, message, param }
    }
}

/// The shape of one JSON value.
#[derive(Debug)]
enum Ty {
    /// A string of `min..=max` characters.
    Str {
        min: usize,
        max: usize,
    },
    Int {
        min: i64,
        max: i64,
    },
    /// One of these integers.
    IntIn(&'static [i64]),
    Bool,
    /// One of these strings.
    Lit(&'static [&'static str]),
    Obj(&'static [Field]),
    /// An array of `min..=max` elements.
    Arr {
        item: &'static Ty,
        min: usize,
        max: usize,
    },
    Nullable(&'static Ty),
    /// The first alternative whose JSON type matches is checked.
    OneOf(&'static [&'static Ty]),
    /// An object whose `key` field names the variant and its fields (the
    /// key itself is implied).
    Tagged {
        key: &'static str,
        variants: &'static [(&'static str, &'static [Field])],
    },
    Any,
}

/// A field of an object.
#[derive(Debug)]
struct Field {
    name: &'static str,
    ty: &'static Ty,
    required: bool,
}

const fn opt(name: &'static str, ty: &'static Ty) -> Field {
    Field { name, ty, required: false }
}

const fn req(name: &'static str, ty: &'static Ty) -> Field {
    Field { name, ty, required: true }
}

/// The name of a [`rest`] field.
const REST: &str = "*";

/// Every field of the object not named in its list is checked against `ty`
/// (instead of being refused as unknown).
const fn rest(ty: &'static Ty) -> Field {
    Field { name: REST, ty, required: false }
}

// ---- Shared shapes -----------------------------------------------------------

static STR: Ty = Ty::Str { min: 0, max: usize::MAX };
static BOOL: Ty = Ty::Bool;
static ANY: Ty = Ty::Any;
static NULLABLE_STR: Ty = Ty::Nullable(&STR);
static EVENT_ID: Ty = Ty::Str { min: 0, max: 512 };
static AUDIO_B64: Ty = Ty::Str { min: 1, max: usize::MAX };
static NON_NEGATIVE: Ty = Ty::Int { min: 0, max: i64::MAX };
static NON_EMPTY: Ty = Ty::Str { min: 1, max: usize::MAX };
static NULLABLE_BOOL: Ty = Ty::Nullable(&BOOL);
/// Any JSON object.
static OBJECT: Ty = Ty::Obj(&[rest(&ANY)]);

// ---- session.start -------------------------------------------------------------

static SESSION_CONFIG: Ty = Ty::Obj(&[
    req("model", &STR),
    opt("instructions", &NULLABLE_STR),
    opt("audio", &AUDIO),
    opt("delegation", &DELEGATION),
    opt("input", &INPUT),
    opt("store", &BOOL),
    opt("safety_identifier", &NULLABLE_STR),
    opt("triggers", &TRIGGERS),
    opt("client", &CLIENT),
]);

static AUDIO: Ty = Ty::Obj(&[opt("format", &FORMAT), opt("output", &AUDIO_OUTPUT)]);
// `rate` is required in every variant (openai-python `audio_format.py`);
// the SDK types G.711's rate as any integer but documents 8000 Hz, and the
// strict reading accepts 8000 only.
static FORMAT: Ty = Ty::Tagged {
    key: "type",
    variants: &[
        ("audio/pcm", &[req("rate", &PCM_RATE)]),
        ("audio/pcmu", &[req("rate", &G711_RATE)]),
        ("audio/pcma", &[req("rate", &G711_RATE)]),
    ],
};
static PCM_RATE: Ty = Ty::IntIn(&[16_000, 24_000]);
static G711_RATE: Ty = Ty::IntIn(&[8_000]);
static AUDIO_OUTPUT: Ty = Ty::Obj(&[opt("voice", &VOICE)]);
static VOICE: Ty = Ty::OneOf(&[&STR, &CUSTOM_VOICE]);
static CUSTOM_VOICE: Ty = Ty::Obj(&[req("id", &STR)]);

static DELEGATION: Ty = Ty::Nullable(&DELEGATION_CONFIG);
static DELEGATION_CONFIG: Ty = Ty::Tagged {
    key: "type",
    variants: &[
        ("client", &[opt("acknowledgement_delay_ms", &NON_NEGATIVE)]),
        (
            "responses",
            &[opt("acknowledgement_delay_ms", &NON_NEGATIVE), req("responses", &RESPONSES_CONFIG)],
        ),
        ("decisions", &[opt("acknowledgement_delay_ms", &NON_NEGATIVE), req("decisions", &ANY)]),
    ],
};

// ---- Responses delegation ------------------------------------------------------

static RESPONSES_CONFIG: Ty = Ty::Obj(&[
    req("model", &NON_EMPTY),
    opt("instructions", &NULLABLE_STR),
    opt("max_output_tokens", &MAX_OUTPUT_TOKENS),
    opt("parallel_tool_calls", &NULLABLE_BOOL),
    opt("reasoning", &REASONING),
    opt("service_tier", &SERVICE_TIER),
    opt("text", &TEXT),
    opt("tool_choice", &TOOL_CHOICE),
    opt("tools", &TOOLS),
]);
// The update is sparse: every field is optional, `model` too
// (openai-python `responses_delegation_update_config_param.py`).
static RESPONSES_UPDATE: Ty = Ty::Obj(&[
    opt("model", &NON_EMPTY),
    opt("instructions", &NULLABLE_STR),
    opt("max_output_tokens", &MAX_OUTPUT_TOKENS),
    opt("parallel_tool_calls", &NULLABLE_BOOL),
    opt("reasoning", &REASONING),
    opt("service_tier", &SERVICE_TIER),
    opt("text", &TEXT),
    opt("tool_choice", &TOOL_CHOICE),
    opt("tools", &TOOLS),
]);
// The SDK types it as any integer; the Responses API itself refuses fewer
// than 16 (as QuantumNous/new-api PR #2866 records, clamping for it), and
// the strict reading holds delegated requests to that.
static MAX_OUTPUT_TOKENS: Ty = Ty::Nullable(&Ty::Int { min: 16, max: i64::MAX });
static REASONING: Ty = Ty::Nullable(&Ty::Obj(&[
    opt("effort", &Ty::Nullable(&Ty::Lit(&["none", "minimal", "low", "medium", "high", "xhigh"]))),
    opt("summary", &Ty::Nullable(&Ty::Lit(&["concise", "detailed", "auto"]))),
]));
static SERVICE_TIER: Ty = Ty::Nullable(&Ty::Lit(&[
    "auto",
    "default",
    "fast_tier_temp_pilot",
    "flex",
    "priority",
    "ultrafast",
]));
static TEXT: Ty = Ty::Nullable(&Ty::Obj(&[opt(
    "verbosity",
    &Ty::Nullable(&Ty::Lit(&["low", "medium", "high"])),
)]));
static TOOL_CHOICE: Ty = Ty::OneOf(&[
    &Ty::Lit(&["auto", "none", "required"]),
    &Ty::Tagged {
        key: "type",
        variants: &[
            ("function", &[req("name", &STR)]),
            ("mcp", &[req("name", &STR), req("server_label", &STR)]),
        ],
    },
]);
static TOOLS: Ty = Ty::Arr { item: &TOOL, min: 0, max: usize::MAX };
/// The settings of a built-in tool, which the simulator never runs.
const BUILT_IN: &[Field] = &[rest(&ANY)];
static TOOL: Ty = Ty::Tagged {
    key: "type",
    variants: &[
        (
            "function",
            &[
                req("name", &NON_EMPTY),
                opt("description", &NULLABLE_STR),
                opt("parameters", &Ty::Nullable(&OBJECT)),
                opt("strict", &NULLABLE_BOOL),
            ],
        ),
        ("web_search", BUILT_IN),
        ("file_search", BUILT_IN),
        ("code_interpreter", BUILT_IN),
        ("shell", &[req("environment", &OBJECT), rest(&ANY)]),
        ("image_generation", BUILT_IN),
        ("mcp", BUILT_IN),
    ],
};

/// The one Responses input item the simulator models (the Responses API's
/// `function_call_output`; `id` and `status` are populated when the API
/// returns the item, and accepted back).
static FUNCTION_CALL_OUTPUT: Ty = Ty::Tagged {
    key: "type",
    variants: &[(
        "function_call_output",
        &[
            req("call_id", &STR),
            req("output", &STR),
            opt("id", &NULLABLE_STR),
            opt("status", &Ty::Nullable(&Ty::Lit(&["in_progress", "completed", "incomplete"]))),
        ],
    )],
};

static INPUT: Ty = Ty::Arr { item: &INITIAL_ITEM, min: 0, max: 128 };
static INITIAL_ITEM: Ty = Ty::Tagged {
    key: "role",
    variants: &[
        (
            "developer",
            &[
                req("content", &INPUT_PARTS),
                opt("id", &STR),
                opt("status", &ITEM_STATUS),
                opt("type", &MESSAGE),
            ],
        ),
        (
            "user",
            &[
                req("content", &INPUT_PARTS),
                opt("id", &STR),
                opt("status", &ITEM_STATUS),
                opt("type", &MESSAGE),
            ],
        ),
        (
            "assistant",
            &[
                req("content", &ASSISTANT_PARTS),
                opt("id", &STR),
                opt("status", &ITEM_STATUS),
                opt("type", &MESSAGE),
            ],
        ),
    ],
};
// "Supply exactly one text part" (openai-python `initial_item.py`).
static INPUT_PARTS: Ty = Ty::Arr { item: &INPUT_PART, min: 1, max: 1 };
static INPUT_PART: Ty = Ty::Obj(&[req("text", &STR), opt("type", &INPUT_TEXT)]);
static INPUT_TEXT: Ty = Ty::Lit(&["input_text"]);
static ASSISTANT_PARTS: Ty = Ty::Arr { item: &ASSISTANT_PART, min: 1, max: 1 };
static ASSISTANT_PART: Ty = Ty::Obj(&[req("text", &STR), opt("type", &ASSISTANT_TEXT)]);
static ASSISTANT_TEXT: Ty = Ty::Lit(&["text", "output_text"]);
static ITEM_STATUS: Ty = Ty::Lit(&["incomplete", "completed"]);
static MESSAGE: Ty = Ty::Lit(&["message"]);

static TRIGGERS: Ty = Ty::Arr { item: &TRIGGER, min: 0, max: usize::MAX };
static TRIGGER: Ty = Ty::Tagged {
    key: "type",
    variants: &[("decisions", &[req("event_type", &TRIGGER_EVENT), req("decisions", &ANY)])],
};
static TRIGGER_EVENT: Ty =
    Ty::Lit(&["session.input_transcript.delta", "session.output_transcript.delta"]);

static CLIENT: Ty = Ty::Obj(&[opt("data_channel", &ANY)]);

static START: Ty = Ty::Tagged {
    key: "type",
    variants: &[("session.start", &[opt("event_id", &EVENT_ID), req("session", &SESSION_CONFIG)])],
};

// ---- Events after startup ---------------------------------------------------------

// `session.update` takes `delegation` and `triggers` only
// (openai-python `session_update_config.py`); a Responses or Decisions
// update is sparse, so its body is optional here.
static UPDATE_CONFIG: Ty =
    Ty::Obj(&[opt("delegation", &DELEGATION_UPDATE), opt("triggers", &TRIGGERS)]);
static DELEGATION_UPDATE: Ty = Ty::Nullable(&DELEGATION_UPDATE_CONFIG);
static DELEGATION_UPDATE_CONFIG: Ty = Ty::Tagged {
    key: "type",
    variants: &[
        ("client", &[opt("acknowledgement_delay_ms", &NON_NEGATIVE)]),
        (
            "responses",
            &[opt("acknowledgement_delay_ms", &NON_NEGATIVE), opt("responses", &RESPONSES_UPDATE)],
        ),
        ("decisions", &[opt("acknowledgement_delay_ms", &NON_NEGATIVE), opt("decisions", &ANY)]),
    ],
};

/// The fields of the three context appends: `delegation_id` must be
/// present and may be null (openai-python `instructions_append_event.py`,
/// `thinking_append_event.py`, `commentary_append_event.py`).
const APPEND: &[Field] =
    &[opt("event_id", &EVENT_ID), req("content", &STR), req("delegation_id", &NULLABLE_STR)];

static EVENTS: Ty = Ty::Tagged {
    key: "type",
    variants: &[
        ("session.update", &[opt("event_id", &EVENT_ID), req("session", &UPDATE_CONFIG)]),
        ("session.input_audio.append", &[opt("event_id", &EVENT_ID), req("audio", &AUDIO_B64)]),
        ("session.input_audio.mute", &[opt("event_id", &EVENT_ID)]),
        ("session.input_audio.unmute", &[opt("event_id", &EVENT_ID)]),
        ("session.instructions.append", APPEND),
        ("session.thinking.append", APPEND),
        ("session.commentary.append", APPEND),
        (
            "session.output_audio.fixture.play",
            &[opt("event_id", &EVENT_ID), req("audio", &AUDIO_B64)],
        ),
        ("session.close", &[opt("event_id", &EVENT_ID)]),
        // Only a Responses session gets this far with these two (openai-python
        // `response_create_event_param.py` has `event_id` alone).
        ("response.create", &[opt("event_id", &EVENT_ID)]),
        ("response.item.create", &[opt("event_id", &EVENT_ID), req("item", &OBJECT)]),
    ],
};

/// Every client event type of the primary WebSocket (openai-python 3.57.0
/// `client_event.py` plus the fixture and Decisions events its resources
/// send), in the order the unknown-type error lists them.
pub(crate) const CLIENT_EVENTS: &[&str] = &[
    "session.start",
    "session.update",
    "session.input_audio.append",
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.instructions.append",
    "session.thinking.append",
    "session.commentary.append",
    "session.output_audio.fixture.play",
    "response.create",
    "response.item.create",
    "decision.create",
    "decision.item.create",
    "decision.item.delete",
    "session.close",
];

/// The built-in voices of openai-python 3.57.0 `built_in_voice.py`. The API
/// reference lists eight more (`brise flitz harema juni nira noeul nuri
/// sillage`); the strict reading accepts the SDK's list only.
pub(crate) const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "beacon", "bossa", "cedar", "cinder", "coral", "delta", "echo",
    "gleam", "marin", "meridian", "quartz", "ripple", "sage", "shida", "shimmer", "stone", "tempo",
    "verse", "vesper", "willow",
];

/// Voices the service refuses with code `forbidden` (seen by aplisay/llm-agent
/// PR #306 against the live endpoint).
pub(crate) const FORBIDDEN_VOICES: &[&str] = &["fable", "nova", "onyx"];

/// The models of openai-python 3.57.0 `session_config.py`.
pub(crate) const MODELS: &[&str] = &["gpt-live-1", "gpt-live-1.1"];

/// Checks a parsed `session.start` against its schema.
pub(crate) fn validate_start(event: &Value) -> Result<(), Refusal> {
    check(event, &START, "")
}

/// Checks a parsed client event (other than `session.start`) against its
/// schema.
pub(crate) fn validate_event(event: &Value) -> Result<(), Refusal> {
    check(event, &EVENTS, "")
}

/// Checks the `item` of a `response.item.create` as a `function_call_output`.
pub(crate) fn validate_function_call_output(item: &Value) -> Result<(), Refusal> {
    check(item, &FUNCTION_CALL_OUTPUT, "item")
}

/// Tokens in `text`, by OpenAI's rule of thumb that a token is about four
/// characters of English text (the real tokenizer is not available here).
pub(crate) fn tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

fn check(value: &Value, ty: &Ty, path: &str) -> Result<(), Refusal> {
    match ty {
        Ty::Any => Ok(()),
        Ty::Str { min, max } => {
            let text = value.as_str().ok_or_else(|| wrong_type(path, "a string", value))?;
            let len = text.chars().count();
            if len < *min {
                let got = if len == 0 {
                    "an empty string".to_owned()
                } else {
                    format!("a string with length {len}")
                };
                return Err(Refusal::new(
                    "string_below_min_length",
                    format!(
                        "Invalid '{path}': string too short. Expected a string with minimum length {min}, but got {got} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
            if len > *max {
                return Err(Refusal::new(
                    "string_above_max_length",
                    format!(
                        "Invalid '{path}': string too long. Expected a string with maximum length {max}, but got a string with length {len} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
            Ok(())
        }
        Ty::Int { min, max } => {
            let Some(number) = value.as_i64() else {
                return Err(wrong_type(path, "an integer", value));
            };
            if number < *min {
                return Err(Refusal::new(
                    "integer_below_min_value",
                    format!(
                        "Invalid '{path}': integer below minimum value. Expected a value >= {min}, but got {number} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
            if number > *max {
                return Err(Refusal::new(
                    "integer_above_max_value",
                    format!(
                        "Invalid '{path}': integer above maximum value. Expected a value <= {max}, but got {number} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
            Ok(())
        }
        Ty::IntIn(allowed) => {
            let Some(number) = value.as_i64() else {
                return Err(wrong_type(path, "an integer", value));
            };
            if allowed.contains(&number) {
                return Ok(());
            }
            let names: Vec<String> = allowed.iter().map(i64::to_string).collect();
            Err(Refusal::new(
                "invalid_value",
                format!("Invalid value: {number}. Supported values are: {}.", list(&names)),
                Some(path.to_owned()),
            ))
        }
        Ty::Bool => value.as_bool().map(|_| ()).ok_or_else(|| wrong_type(path, "a boolean", value)),
        Ty::Lit(allowed) => {
            let Some(text) = value.as_str() else {
                return Err(wrong_type(path, "a string", value));
            };
            if allowed.contains(&text) { Ok(()) } else { Err(invalid_value(path, text, allowed)) }
        }
        Ty::Obj(fields) => check_object(value, fields, path, None),
        Ty::Arr { item, min, max } => {
            let Some(items) = value.as_array() else {
                return Err(wrong_type(path, "an array", value));
            };
            let len = items.len();
            if len < *min {
                let got = if len == 0 {
                    "an empty array".to_owned()
                } else {
                    format!("an array with length {len}")
                };
                return Err(Refusal::new(
                    "array_below_min_length",
                    format!(
                        "Invalid '{path}': array too short. Expected an array with minimum length {min}, but got {got} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
            if len > *max {
                return Err(Refusal::new(
                    "array_above_max_length",
                    format!(
                        "Invalid '{path}': array too long. Expected an array with maximum length {max}, but got an array with length {len} instead."
                    ),
                    Some(path.to_owned()),
                ));
            }
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
            match alternatives.iter().find(|alt| same_json_type(value, alt)) {
                Some(alternative) => check(value, alternative, path),
                None => Err(wrong_type(path, "a string or an object", value)),
            }
        }
        Ty::Tagged { key, variants } => {
            let Some(object) = value.as_object() else {
                return Err(wrong_type(path, "an object", value));
            };
            let key_path = join(path, key);
            let Some(kind) = object.get(*key) else {
                return Err(missing(&key_path));
            };
            let Some(kind) = kind.as_str() else {
                return Err(wrong_type(&key_path, "a string", kind));
            };
            let Some((_, fields)) = variants.iter().find(|(name, _)| *name == kind) else {
                let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
                return Err(invalid_value(&key_path, kind, &names));
            };
            check_object(value, fields, path, Some(key))
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
    let rest = fields.iter().find(|field| field.name == REST);
    for (key, element) in object {
        if Some(key.as_str()) == implied || fields.iter().any(|field| field.name == key) {
            continue;
        }
        match rest {
            Some(rest) => check(element, rest.ty, &join(path, key))?,
            None => return Err(unknown_parameter(&join(path, key))),
        }
    }
    for field in fields.iter().filter(|field| field.name != REST) {
        match object.get(field.name) {
            Some(element) => check(element, field.ty, &join(path, field.name))?,
            None if field.required => return Err(missing(&join(path, field.name))),
            None => {}
        }
    }
    Ok(())
}

/// The recorded refusal of a field outside the schema.
pub(crate) fn unknown_parameter(path: &str) -> Refusal {
    Refusal::new(
        "unknown_parameter",
        format!("Unknown parameter: '{path}'."),
        Some(path.to_owned()),
    )
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn missing(path: &str) -> Refusal {
    Refusal::new(
        "missing_required_parameter",
        format!("Missing required parameter: '{path}'."),
        Some(path.to_owned()),
    )
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> Refusal {
    Refusal::new(
        "invalid_type",
        format!(
            "Invalid type for '{path}': expected {expected}, but got {} instead.",
            json_type(got)
        ),
        Some(path.to_owned()),
    )
}

/// A value outside its enum, in OpenAI's usual wording.
pub(crate) fn invalid_value(path: &str, got: &str, allowed: &[&str]) -> Refusal {
    let quoted: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
    Refusal::new(
        "invalid_value",
        format!("Invalid value: '{got}'. Supported values are: {}.", list(&quoted)),
        Some(path.to_owned()),
    )
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [first, second] => format!("{first} and {second}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
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
        Ty::Str { .. } | Ty::Lit(_) => value.is_string(),
        Ty::Int { .. } | Ty::IntIn(_) => value.is_i64() || value.is_u64(),
        Ty::Bool => value.is_boolean(),
        Ty::Obj(_) | Ty::Tagged { .. } => value.is_object(),
        Ty::Arr { .. } => value.is_array(),
        Ty::Nullable(inner) => value.is_null() || same_json_type(value, inner),
        Ty::OneOf(alternatives) => alternatives.iter().any(|alt| same_json_type(value, alt)),
        Ty::Any => true,
    }
}
