//! Strict request checking with the real APIs' error shapes and texts.
//!
//! Every body is checked against the fields its endpoint documents: an
//! unknown field, a wrong type or a missing required field is refused the
//! way OpenAI refuses it (`Unknown parameter: 'x'.`, `Invalid type for
//! 'x': …`, `Missing required parameter: 'x'.`), so a client that passes
//! here sends nothing the real API would reject for its shape.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer in OpenAI's shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::invalid(message).with_status(StatusCode::NOT_FOUND)
    }

    pub(crate) fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
        (self.status, headers, axum::Json(self.body())).into_response()
    }
}

/// The JSON types a field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Int,
    Num,
    Bool,
    Obj,
    Arr,
    StrOrArr,
    StrOrObj,
}

/// One documented field of a request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    pub(crate) nullable: bool,
}

/// A required, non-null field.
pub(crate) const fn req(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: true, nullable: false }
}

/// An optional field that may also be `null`.
pub(crate) const fn opt(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, required: false, nullable: true }
}

/// Parses a request body that must be a JSON object; an empty body reads as
/// `{}` (the SDKs send none for cancels).
pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(other) => Err(ApiError::invalid(format!(
            "Invalid type for body: expected an object, but got {} instead.",
            article(&other)
        ))
        .with_code("invalid_type")),
        Err(_) => Err(ApiError::invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        )),
    }
}

/// Checks `value` (an object) against `fields`; `prefix` names its place in
/// the body for nested objects (`messages[0].`).
pub(crate) fn check(value: &Value, fields: &[Field], prefix: &str) -> Result<(), ApiError> {
    let Some(object) = value.as_object() else {
        let name = prefix.trim_end_matches('.');
        return Err(ApiError::invalid(format!(
            "Invalid type for '{name}': expected an object, but got {} instead.",
            article(value)
        ))
        .with_param(name)
        .with_code("invalid_type"));
    };
    for key in object.keys() {
        if !fields.iter().any(|f| f.name == key) {
            let param = format!("{prefix}{key}");
            return Err(ApiError::invalid(format!("Unknown parameter: '{param}'."))
                .with_param(param)
                .with_code("unknown_parameter"));
        }
    }
    for field in fields {
        let param = format!("{prefix}{}", field.name);
        match object.get(field.name) {
            None if field.required => {
                return Err(ApiError::invalid(format!("Missing required parameter: '{param}'."))
                    .with_param(param)
                    .with_code("missing_required_parameter"));
            }
            None => {}
            Some(Value::Null) if field.nullable => {}
            Some(value) if !fits(value, field.ty) => {
                return Err(ApiError::invalid(format!(
                    "Invalid type for '{param}': expected {}, but got {} instead.",
                    expected(field.ty),
                    article(value)
                ))
                .with_param(param)
                .with_code("invalid_type"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn fits(value: &Value, ty: Ty) -> bool {
    match ty {
        Ty::Str => value.is_string(),
        Ty::Int => value.is_i64() || value.is_u64(),
        Ty::Num => value.is_number(),
        Ty::Bool => value.is_boolean(),
        Ty::Obj => value.is_object(),
        Ty::Arr => value.is_array(),
        Ty::StrOrArr => value.is_string() || value.is_array(),
        Ty::StrOrObj => value.is_string() || value.is_object(),
    }
}

fn expected(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "a string",
        Ty::Int => "an integer",
        Ty::Num => "a decimal",
        Ty::Bool => "a boolean",
        Ty::Obj => "an object",
        Ty::Arr => "an array",
        Ty::StrOrArr => "one of a string or an array",
        Ty::StrOrObj => "one of a string or an object",
    }
}

fn article(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks `metadata`: at most 16 string values, keys up to 64 characters,
/// values up to 512.
pub(crate) fn check_metadata(value: Option<&Value>) -> Result<(), ApiError> {
    let Some(Value::Object(map)) = value else { return Ok(()) };
    if map.len() > 16 {
        return Err(ApiError::invalid(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with more properties instead.",
        )
        .with_param("metadata"));
    }
    for (key, value) in map {
        let Some(text) = value.as_str() else {
            return Err(ApiError::invalid(format!(
                "Invalid type for 'metadata.{key}': expected a string, but got {} instead.",
                article(value)
            ))
            .with_param(format!("metadata.{key}"))
            .with_code("invalid_type"));
        };
        if key.chars().count() > 64 || text.chars().count() > 512 {
            return Err(ApiError::invalid(format!("Invalid 'metadata.{key}': string too long."))
                .with_param(format!("metadata.{key}")));
        }
    }
    Ok(())
}

/// Reads `limit`, 1..=100, default 20.
pub(crate) fn limit(query: &[(String, String)]) -> Result<usize, ApiError> {
    match query_value(query, "limit") {
        None => Ok(20),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "Invalid 'limit': expected an integer between 1 and 100, but got '{text}' instead."
            ))
            .with_param("limit")),
        },
    }
}

/// Reads `order`, `asc` or `desc`, default `desc`.
pub(crate) fn descending(query: &[(String, String)]) -> Result<bool, ApiError> {
    match query_value(query, "order") {
        None | Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value: '{other}'. Supported values are: 'asc' and 'desc'."
        ))
        .with_param("order")
        .with_code("invalid_value")),
    }
}

pub(crate) fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Splits a raw query string into decoded pairs.
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(value);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pages `items` (in creation order) by `order`, `after`, `before`, `limit`
/// as OpenAI list endpoints do, returning the page and whether more follow.
pub(crate) fn page<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    query: &[(String, String)],
) -> Result<(Vec<T>, bool), ApiError> {
    let limit = limit(query)?;
    let mut ordered: Vec<&T> = items.iter().collect();
    if descending(query)? {
        ordered.reverse();
    }
    if let Some(after) = query_value(query, "after")
        && let Some(at) = ordered.iter().position(|item| id(item) == after)
    {
        ordered.drain(..=at);
    }
    if let Some(before) = query_value(query, "before")
        && let Some(at) = ordered.iter().position(|item| id(item) == before)
    {
        ordered.truncate(at);
    }
    let more = ordered.len() > limit;
    Ok((ordered.into_iter().take(limit).cloned().collect(), more))
}

/// A list body: `{"object":"list","data":[…],"first_id","last_id","has_more"}`.
pub(crate) fn list(data: Vec<Value>, more: bool) -> Value {
    let first = data.first().and_then(|v| v.get("id")).cloned().unwrap_or(Value::Null);
    let last = data.last().and_then(|v| v.get("id")).cloned().unwrap_or(Value::Null);
    json!({"object": "list", "data": Value::Array(data), "first_id": first, "last_id": last, "has_more": more})
}
