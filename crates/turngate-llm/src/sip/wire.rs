//! The Direct SIP wire format: the webhook events OpenAI sends for SIP
//! calls, and the call controls that answer them, as openai-python 3.57.0
//! defines them (`openai/types/webhooks/*`,
//! `openai/types/realtime/call_*_params.py`,
//! `openai/types/live/session_*_params.py`) and the Realtime SIP guide
//! describes them (<https://developers.openai.com/api/docs/guides/realtime-sip>).
//!
//! Webhook bodies are read tolerantly where OpenAI may add to them (unknown
//! fields are ignored, an unknown event type is an [`WebhookKind::Other`])
//! and strictly where we act on them: a field we use that is missing or of
//! the wrong type is a [`WebhookError`] naming it. Ids from a body are
//! checked before they can reach a URL, so a body can never make us call
//! another path.
//!
//! Nothing here does IO or keeps state.

use std::fmt;

use serde_json::{Map, Value};

// ---- Webhook events ---------------------------------------------------------

/// The event type of a pending SIP call offered to the Realtime API.
pub const REALTIME_CALL_INCOMING: &str = "realtime.call.incoming";
/// The event type of a pending SIP call offered to the Live API.
pub const LIVE_TRANSPORT_INCOMING: &str = "live.transport.incoming";
/// The deprecated name of [`LIVE_TRANSPORT_INCOMING`], still sent to
/// subscriptions made before it was renamed.
pub const LIVE_CALL_INCOMING: &str = "live.call.incoming";
/// The event type of a Live session whose transport (WebRTC) connected.
pub const LIVE_TRANSPORT_CONNECTED: &str = "live.transport.connected";

/// The longest id (`call_id`, `session_id`) accepted, in characters.
/// OpenAI's are a prefix and a few dozen characters; the bound keeps a
/// forged or broken body from putting an unbounded string into a URL.
pub const ID_MAX_CHARS: usize = 128;

/// One webhook event, read from a verified body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The event's `id` (`evt_…`): the same on every retry of one event, so
    /// the key to deduplicate deliveries on.
    pub id: String,
    /// `created_at`, in Unix seconds.
    pub created_at: i64,
    /// What the event says.
    pub kind: WebhookKind,
}

/// What a webhook event says, by its `type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookKind {
    /// `realtime.call.incoming`: a pending SIP call the Realtime API can
    /// accept, under its `rtc_…` call id.
    RealtimeCallIncoming(IncomingRealtimeCall),
    /// `live.transport.incoming` with `data.type: "sip"`: the same pending
    /// call offered to the Live API, under its `live_…` session id.
    LiveTransportIncoming(IncomingLiveCall),
    /// `live.call.incoming`: the deprecated name of the event above,
    /// without `data.type` (the SDK: "Deprecated: use
    /// `live.transport.incoming`. Retained for existing subscriptions").
    LiveCallIncoming(IncomingLiveCall),
    /// `live.transport.connected`: a Live session's transport connected.
    /// Not a SIP call: nothing is to be accepted.
    LiveTransportConnected(ConnectedLiveTransport),
    /// Any other type (batches, responses, evals, …): not ours to act on.
    /// The server answers it 2xx and ignores it, since OpenAI adds types.
    Other {
        /// The event's `type`, as sent.
        event_type: String,
    },
}

/// `data` of `realtime.call.incoming`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingRealtimeCall {
    /// The pending call, for the Realtime call controls.
    pub call_id: RealtimeCallId,
    /// What the INVITE said.
    pub sip: SipInvite,
}

/// `data` of `live.transport.incoming` (and of the deprecated
/// `live.call.incoming`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingLiveCall {
    /// The pending session, for the Live call controls.
    pub session_id: LiveSessionId,
    /// What the INVITE said.
    pub sip: SipInvite,
}

/// `data` of `live.transport.connected`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedLiveTransport {
    /// The session whose transport connected.
    pub session_id: LiveSessionId,
    /// `data.type`, the transport (`webrtc`), as sent.
    pub transport: String,
}

/// What an incoming call's INVITE carried.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipInvite {
    /// The INVITE's headers without the authorization ones; names, values,
    /// repeats and order as received. The caller's side wrote them: treat
    /// every value as untrusted (the SDK says so too).
    pub headers: Vec<SipHeader>,
    /// `sip_media_security`: the media protection SDP negotiated, if OpenAI
    /// knew it.
    pub media_security: Option<MediaSecurity>,
}

impl SipInvite {
    /// The INVITE's `Call-ID`: see [`sip_call_id`].
    #[must_use]
    pub fn call_id(&self) -> Option<&str> {
        sip_call_id(&self.headers)
    }
}

/// One header of the INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipHeader {
    /// The header's name, as sent.
    pub name: String,
    /// The header's value, as sent.
    pub value: String,
}

/// `sip_media_security`: how the media of the SIP leg is protected, as
/// negotiated in SDP. It says nothing about signalling, nor that media flowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaSecurity {
    /// `srtp`: encrypted media.
    Srtp,
    /// `rtp`: unencrypted media.
    Rtp,
    /// A value we do not know, kept as sent; the SDK asks clients to treat
    /// such values as unknown, not as an error.
    Unknown(String),
}

impl MediaSecurity {
    fn from_wire(value: &str) -> MediaSecurity {
        match value {
            "srtp" => MediaSecurity::Srtp,
            "rtp" => MediaSecurity::Rtp,
            other => MediaSecurity::Unknown(other.to_owned()),
        }
    }
}

/// The INVITE's `Call-ID` header value: the first header named `Call-ID`,
/// or `i` (its compact form, RFC 3261 §20.8), compared case-insensitively
/// as SIP header names are. `None` when there is none, or when the first is
/// blank.
///
/// One pending call raises both `realtime.call.incoming` and
/// `live.transport.incoming`, under two different ids, and the first
/// successful accept on either surface decides the runtime. Both events
/// carry the same INVITE, so its `Call-ID` is the key for "exactly one
/// accept decision per call". A repeated `Call-ID` is malformed SIP; the
/// first one wins, so both events of one call always give the same key.
/// The value comes from the caller's side: a caller who reuses another
/// call's `Call-ID` can only keep its own call from being answered.
#[must_use]
pub fn sip_call_id(headers: &[SipHeader]) -> Option<&str> {
    let first = headers.iter().find(|header| {
        header.name.eq_ignore_ascii_case("call-id") || header.name.eq_ignore_ascii_case("i")
    })?;
    // A blank key would join unrelated calls into one decision.
    (!first.value.trim().is_empty()).then_some(first.value.as_str())
}

impl WebhookEvent {
    /// The event's `type`, as sent.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match &self.kind {
            WebhookKind::RealtimeCallIncoming(_) => REALTIME_CALL_INCOMING,
            WebhookKind::LiveTransportIncoming(_) => LIVE_TRANSPORT_INCOMING,
            WebhookKind::LiveCallIncoming(_) => LIVE_CALL_INCOMING,
            WebhookKind::LiveTransportConnected(_) => LIVE_TRANSPORT_CONNECTED,
            WebhookKind::Other { event_type } => event_type,
        }
    }

    /// The INVITE of an incoming SIP call (any of the three incoming kinds).
    #[must_use]
    pub fn sip_invite(&self) -> Option<&SipInvite> {
        match &self.kind {
            WebhookKind::RealtimeCallIncoming(call) => Some(&call.sip),
            WebhookKind::LiveTransportIncoming(call) | WebhookKind::LiveCallIncoming(call) => {
                Some(&call.sip)
            }
            WebhookKind::LiveTransportConnected(_) | WebhookKind::Other { .. } => None,
        }
    }
}

/// Why a verified webhook body is not an event we can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body is not JSON.
    #[error("the webhook body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("the webhook body is not a JSON object")]
    NotAnObject,
    /// A field we use is absent.
    #[error("`{field}` is missing")]
    Missing {
        /// The field's path in the body.
        field: &'static str,
    },
    /// A field we use has the wrong JSON type.
    #[error("`{field}` is not {expected}")]
    WrongType {
        /// The field's path in the body.
        field: &'static str,
        /// What it should be ("a string", …).
        expected: &'static str,
    },
    /// A field we use has a value we cannot act on.
    #[error("`{field}` is {found:?}, not {expected:?}")]
    UnexpectedValue {
        /// The field's path in the body.
        field: &'static str,
        /// The value we act on.
        expected: &'static str,
        /// The value sent, cut to 64 characters.
        found: String,
    },
    /// An id is not safe to put in a URL path.
    #[error("`{field}`: {problem}")]
    BadId {
        /// The field's path in the body.
        field: &'static str,
        /// What is wrong with it.
        problem: IdError,
    },
}

/// Reads a verified body. Crate-private on purpose: outside the fuzz harness
/// and the tests, a body is only read through
/// [`WebhookVerifier::verify_and_parse`](super::WebhookVerifier::verify_and_parse).
pub(crate) fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| WebhookError::NotJson(error.to_string()))?;
    let Value::Object(envelope) = value else { return Err(WebhookError::NotAnObject) };
    let event_type = string(&envelope, "type", "type")?;
    let id = string(&envelope, "id", "id")?.to_owned();
    let created_at = integer(&envelope, "created_at", "created_at")?;
    let kind = match event_type {
        REALTIME_CALL_INCOMING => {
            let data = object(&envelope, "data", "data")?;
            let call_id = string(data, "call_id", "data.call_id")?;
            let call_id = RealtimeCallId::new(call_id)
                .map_err(|problem| WebhookError::BadId { field: "data.call_id", problem })?;
            WebhookKind::RealtimeCallIncoming(IncomingRealtimeCall {
                call_id,
                sip: sip_invite(data)?,
            })
        }
        LIVE_TRANSPORT_INCOMING => {
            let data = object(&envelope, "data", "data")?;
            // The SDK types `data.type` as always `sip`. Another transport
            // cannot be answered over SIP, so it is refused rather than
            // taken for a call (strict reading).
            let transport = string(data, "type", "data.type")?;
            if transport != "sip" {
                return Err(WebhookError::UnexpectedValue {
                    field: "data.type",
                    expected: "sip",
                    found: transport.chars().take(64).collect(),
                });
            }
            WebhookKind::LiveTransportIncoming(incoming_live_call(data)?)
        }
        LIVE_CALL_INCOMING => {
            let data = object(&envelope, "data", "data")?;
            WebhookKind::LiveCallIncoming(incoming_live_call(data)?)
        }
        LIVE_TRANSPORT_CONNECTED => {
            let data = object(&envelope, "data", "data")?;
            WebhookKind::LiveTransportConnected(ConnectedLiveTransport {
                session_id: live_session_id(data)?,
                transport: string(data, "type", "data.type")?.to_owned(),
            })
        }
        other => WebhookKind::Other { event_type: other.to_owned() },
    };
    Ok(WebhookEvent { id, created_at, kind })
}

fn incoming_live_call(data: &Map<String, Value>) -> Result<IncomingLiveCall, WebhookError> {
    Ok(IncomingLiveCall { session_id: live_session_id(data)?, sip: sip_invite(data)? })
}

fn live_session_id(data: &Map<String, Value>) -> Result<LiveSessionId, WebhookError> {
    let session_id = string(data, "session_id", "data.session_id")?;
    LiveSessionId::new(session_id)
        .map_err(|problem| WebhookError::BadId { field: "data.session_id", problem })
}

fn sip_invite(data: &Map<String, Value>) -> Result<SipInvite, WebhookError> {
    const FIELD: &str = "data.sip_headers";
    let entries = match data.get("sip_headers") {
        None => return Err(WebhookError::Missing { field: FIELD }),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(WebhookError::WrongType { field: FIELD, expected: "an array" }),
    };
    let mut headers = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Object(entry) = entry else {
            return Err(WebhookError::WrongType {
                field: "data.sip_headers[]",
                expected: "an object",
            });
        };
        headers.push(SipHeader {
            name: string(entry, "name", "data.sip_headers[].name")?.to_owned(),
            value: string(entry, "value", "data.sip_headers[].value")?.to_owned(),
        });
    }
    // Optional, and `null` when OpenAI did not know it.
    let media_security = match data.get("sip_media_security") {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) => Some(MediaSecurity::from_wire(value)),
        Some(_) => {
            return Err(WebhookError::WrongType {
                field: "data.sip_media_security",
                expected: "a string",
            });
        }
    };
    Ok(SipInvite { headers, media_security })
}

fn object<'v>(
    map: &'v Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'v Map<String, Value>, WebhookError> {
    match map.get(key) {
        None => Err(WebhookError::Missing { field }),
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(WebhookError::WrongType { field, expected: "an object" }),
    }
}

fn string<'v>(
    map: &'v Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'v str, WebhookError> {
    match map.get(key) {
        None => Err(WebhookError::Missing { field }),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(WebhookError::WrongType { field, expected: "a string" }),
    }
}

fn integer(map: &Map<String, Value>, key: &str, field: &'static str) -> Result<i64, WebhookError> {
    match map.get(key) {
        None => Err(WebhookError::Missing { field }),
        Some(value) => {
            value.as_i64().ok_or(WebhookError::WrongType { field, expected: "an integer" })
        }
    }
}

// ---- Ids --------------------------------------------------------------------

/// Why a string cannot be a call or session id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("the id is empty")]
    Empty,
    /// The id is longer than [`ID_MAX_CHARS`].
    #[error("the id is {chars} characters long, over the limit of {max}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The id holds a character that would change the meaning of the URL
    /// it is put into.
    #[error("the id contains {0:?}, which is not safe in a URL path segment")]
    UnsafeChar(char),
    /// The id is `.` or `..`, which a URL's path resolution would remove
    /// together with the segment before it.
    #[error("the id is a dot segment, which a URL path would resolve away")]
    DotSegment,
}

/// Checks that an opaque id is one URL path segment exactly as it is: no
/// separator (`/`, or `\`, which URL parsers treat as one for http and
/// https), no query or fragment start, no percent sign (which a server
/// would decode into anything), no whitespace or control characters, no
/// dot segment, and at most [`ID_MAX_CHARS`] characters.
fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    let chars = id.chars().count();
    if chars > ID_MAX_CHARS {
        return Err(IdError::TooLong { chars, max: ID_MAX_CHARS });
    }
    if let Some(unsafe_char) = id
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
    {
        return Err(IdError::UnsafeChar(unsafe_char));
    }
    if id == "." || id == ".." {
        return Err(IdError::DotSegment);
    }
    Ok(())
}

/// The `rtc_…` id of a pending call on the Realtime surface, as the
/// webhook gave it: opaque, kept exactly, and safe as a URL path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RealtimeCallId(String);

/// The `live_…` id of a pending session on the Live surface, as the
/// webhook gave it: opaque, kept exactly, and safe as a URL path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LiveSessionId(String);

impl RealtimeCallId {
    /// The id, if it is safe to put into a URL path.
    pub fn new(id: impl Into<String>) -> Result<RealtimeCallId, IdError> {
        let id = id.into();
        check_id(&id)?;
        Ok(RealtimeCallId(id))
    }

    /// The id as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LiveSessionId {
    /// The id, if it is safe to put into a URL path.
    pub fn new(id: impl Into<String>) -> Result<LiveSessionId, IdError> {
        let id = id.into();
        check_id(&id)?;
        Ok(LiveSessionId(id))
    }

    /// The id as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RealtimeCallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for LiveSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---- Call controls ----------------------------------------------------------

/// The SIP status OpenAI answers the caller with when a Realtime reject
/// names none: 603 Decline (`CallRejectParams.status_code`).
pub const DEFAULT_REALTIME_REJECT_STATUS: u16 = 603;

/// The statuses a reject may send: a SIP final response that is not a
/// success (3xx redirection to 6xx global failure, RFC 3261 §21).
pub const REJECT_STATUSES: std::ops::RangeInclusive<u16> = 300..=699;

/// The longest refer target accepted, in characters.
pub const TARGET_URI_MAX_CHARS: usize = 1024;

/// What a call control does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallAction {
    /// Answers the call with a session configuration.
    Accept,
    /// Declines the call with a SIP status.
    Reject,
    /// Transfers the call (a SIP REFER) to another URI.
    Refer,
    /// Ends an accepted call.
    Hangup,
}

impl CallAction {
    /// The last segment of the control's path, and the action's name in logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CallAction::Accept => "accept",
            CallAction::Reject => "reject",
            CallAction::Refer => "refer",
            CallAction::Hangup => "hangup",
        }
    }
}

/// One call control as an HTTP request for the server to send to the API's
/// origin (`https://api.openai.com`) with its API key.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlRequest {
    /// What the request does.
    pub action: CallAction,
    /// The HTTP method: every call control is a `POST`.
    pub method: &'static str,
    /// The path, from `/v1/` on; the id in it was checked to be one segment.
    pub path: String,
    /// The JSON body, or `None` for a request without one (hangup).
    pub body: Option<Value>,
}

impl ControlRequest {
    fn new(surface: &str, id: &str, action: CallAction, body: Option<Value>) -> ControlRequest {
        ControlRequest {
            action,
            method: "POST",
            path: format!("/v1/{surface}/{id}/{}", action.as_str()),
            body,
        }
    }

    /// The body as JSON text, to send with `Content-Type: application/json`.
    #[must_use]
    pub fn body_json(&self) -> Option<String> {
        self.body.as_ref().map(Value::to_string)
    }
}

/// Why a call control cannot be built. Each is a mistake on our side that
/// OpenAI would answer with a 4xx, which [`classify_control_status`] must
/// read as "not ours": catching them here keeps a configuration error from
/// passing for a call someone else took.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The session configuration is not a JSON object.
    #[error("the session config must be a JSON object")]
    ConfigNotObject,
    /// The configuration is already wrapped in `session`.
    #[error("the session config holds `session`; pass the config itself, it is wrapped as needed")]
    WrappedConfig,
    /// The configuration names another session type.
    #[error("the session config's `type` is {found}, not \"{expected}\"")]
    WrongSessionType {
        /// The type this surface takes.
        expected: &'static str,
        /// The `type` given, as JSON.
        found: String,
    },
    /// A Live configuration without its required `model`.
    #[error("a Live session config needs `model`, a non-empty string")]
    MissingModel,
    /// A Live configuration that sets `audio.format`.
    #[error(
        "a Live session config for SIP must not set `audio.format`: SIP negotiates the media format"
    )]
    AudioFormatOnSip,
    /// A reject status outside [`REJECT_STATUSES`].
    #[error("SIP status {0} cannot reject a call; use 300 to 699")]
    RejectStatus(u16),
    /// A refer target we will not send.
    #[error(transparent)]
    TargetUri(#[from] TargetUriError),
}

/// Why a refer target cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetUriError {
    /// The target is empty or whitespace.
    #[error("the refer target is blank")]
    Blank,
    /// The target is longer than [`TARGET_URI_MAX_CHARS`].
    #[error("the refer target is {chars} characters long, over the limit of {max}")]
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The target holds whitespace, a control character, or `<`/`>`.
    #[error("the refer target contains {0:?}, which cannot appear in a Refer-To URI")]
    UnsafeChar(char),
    /// The target is not a `tel:`, `sip:` or `sips:` URI.
    #[error("the refer target must be a tel:, sip: or sips: URI")]
    Scheme,
    /// The target has a scheme and nothing after it.
    #[error("the refer target has nothing after its scheme")]
    NothingAfterScheme,
}

/// Checks a refer target: a `tel:`, `sip:` or `sips:` URI (scheme in any
/// case, as URI schemes are case-insensitive), at most
/// [`TARGET_URI_MAX_CHARS`] long, without whitespace or control characters
/// (a line break would end the `Refer-To` header OpenAI writes it into) and
/// without `<` or `>` (which would close the header's name-addr early).
fn check_target_uri(target_uri: &str) -> Result<(), TargetUriError> {
    if target_uri.trim().is_empty() {
        return Err(TargetUriError::Blank);
    }
    let chars = target_uri.chars().count();
    if chars > TARGET_URI_MAX_CHARS {
        return Err(TargetUriError::TooLong { chars, max: TARGET_URI_MAX_CHARS });
    }
    if let Some(unsafe_char) =
        target_uri.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
    {
        return Err(TargetUriError::UnsafeChar(unsafe_char));
    }
    let rest = ["tel:", "sip:", "sips:"].iter().find_map(|scheme| {
        let head = target_uri.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme).then(|| target_uri.get(scheme.len()..).unwrap_or(""))
    });
    match rest {
        None => Err(TargetUriError::Scheme),
        Some("") => Err(TargetUriError::NothingAfterScheme),
        Some(_) => Ok(()),
    }
}

fn check_reject_status(status_code: u16) -> Result<(), ControlError> {
    if REJECT_STATUSES.contains(&status_code) {
        Ok(())
    } else {
        Err(ControlError::RejectStatus(status_code))
    }
}

/// Sets the configuration's `type`, or checks the one it has.
fn set_session_type(
    config: &mut Map<String, Value>,
    expected: &'static str,
) -> Result<(), ControlError> {
    match config.get("type") {
        None => {
            config.insert("type".to_owned(), Value::String(expected.to_owned()));
            Ok(())
        }
        Some(Value::String(found)) if found == expected => Ok(()),
        Some(found) => {
            Err(ControlError::WrongSessionType { expected, found: cut_json(found.to_string()) })
        }
    }
}

/// JSON text from a caller's config, cut to 64 characters for an error.
fn cut_json(text: String) -> String {
    if text.chars().count() <= 64 { text } else { text.chars().take(64).collect() }
}

impl RealtimeCallId {
    /// `POST /v1/realtime/calls/{call_id}/accept` with a Realtime session
    /// config, sent **flat** (not wrapped in `session`), whose required
    /// `type: "realtime"` is added when absent (`CallAcceptParams`).
    ///
    /// The first successful accept on either surface (this one, or the Live
    /// accept of the same call's `live.transport.incoming`) selects the
    /// runtime; a 4xx answer means the call is someone else's, or gone.
    pub fn accept(&self, mut session: Value) -> Result<ControlRequest, ControlError> {
        let Value::Object(config) = &mut session else {
            return Err(ControlError::ConfigNotObject);
        };
        if config.contains_key("session") {
            return Err(ControlError::WrappedConfig);
        }
        set_session_type(config, "realtime")?;
        Ok(self.request(CallAction::Accept, Some(session)))
    }

    /// `POST /v1/realtime/calls/{call_id}/reject`, with `status_code` when
    /// given; without it the body is `{}` (as the SDK sends it) and OpenAI
    /// answers the caller [`DEFAULT_REALTIME_REJECT_STATUS`]. A status is
    /// held to [`REJECT_STATUSES`] like the Live one, since nothing else
    /// rejects a SIP call (strict reading: the SDK types it as any integer).
    pub fn reject(&self, status_code: Option<u16>) -> Result<ControlRequest, ControlError> {
        let mut body = Map::new();
        if let Some(status_code) = status_code {
            check_reject_status(status_code)?;
            body.insert("status_code".to_owned(), Value::from(status_code));
        }
        Ok(self.request(CallAction::Reject, Some(Value::Object(body))))
    }

    /// `POST /v1/realtime/calls/{call_id}/refer` with
    /// `{"target_uri": "tel:+1…" | "sip:…"}`.
    pub fn refer(&self, target_uri: &str) -> Result<ControlRequest, ControlError> {
        check_target_uri(target_uri)?;
        let body = serde_json::json!({ "target_uri": target_uri });
        Ok(self.request(CallAction::Refer, Some(body)))
    }

    /// `POST /v1/realtime/calls/{call_id}/hangup`, without a body.
    #[must_use]
    pub fn hangup(&self) -> ControlRequest {
        self.request(CallAction::Hangup, None)
    }

    fn request(&self, action: CallAction, body: Option<Value>) -> ControlRequest {
        ControlRequest::new("realtime/calls", &self.0, action, body)
    }
}

impl LiveSessionId {
    /// `POST /v1/live/sessions/{session_id}/accept` with the Live session
    /// config **wrapped in `session`** (`SessionAcceptParams`): its required
    /// `type: "live"` is added when absent, its required `model` must be
    /// there, and `audio.format` must not be (the SDK: "SIP negotiates the
    /// media format; audio.format is only accepted for primary WebSockets").
    ///
    /// The first successful accept on either surface (this one, or the
    /// Realtime accept of the same call's `realtime.call.incoming`) selects
    /// the runtime; a 4xx answer means the call is someone else's, or gone.
    pub fn accept(&self, mut session: Value) -> Result<ControlRequest, ControlError> {
        let Value::Object(config) = &mut session else {
            return Err(ControlError::ConfigNotObject);
        };
        if config.contains_key("session") {
            return Err(ControlError::WrappedConfig);
        }
        set_session_type(config, "live")?;
        if config.get("model").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ControlError::MissingModel);
        }
        if config.get("audio").and_then(Value::as_object).is_some_and(|a| a.contains_key("format"))
        {
            return Err(ControlError::AudioFormatOnSip);
        }
        let body = serde_json::json!({ "session": session });
        Ok(self.request(CallAction::Accept, Some(body)))
    }

    /// `POST /v1/live/sessions/{session_id}/reject` with the **required**
    /// `{"status_code": …}` (`SessionRejectParams`), in [`REJECT_STATUSES`].
    pub fn reject(&self, status_code: u16) -> Result<ControlRequest, ControlError> {
        check_reject_status(status_code)?;
        let body = serde_json::json!({ "status_code": status_code });
        Ok(self.request(CallAction::Reject, Some(body)))
    }

    /// `POST /v1/live/sessions/{session_id}/refer` with a non-blank
    /// `{"target_uri": …}` (`SessionReferParams`: "Nonblank URI for the SIP
    /// Refer-To header").
    pub fn refer(&self, target_uri: &str) -> Result<ControlRequest, ControlError> {
        check_target_uri(target_uri)?;
        let body = serde_json::json!({ "target_uri": target_uri });
        Ok(self.request(CallAction::Refer, Some(body)))
    }

    /// `POST /v1/live/sessions/{session_id}/hangup`, without a body.
    #[must_use]
    pub fn hangup(&self) -> ControlRequest {
        self.request(CallAction::Hangup, None)
    }

    fn request(&self, action: CallAction, body: Option<Value>) -> ControlRequest {
        ControlRequest::new("live/sessions", &self.0, action, body)
    }
}

/// What the HTTP status of a call control's answer means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlOutcome {
    /// 2xx: done.
    Ok,
    /// 4xx other than 429: the call is not ours to act on. For an accept,
    /// another worker (or the other surface) accepted it first, or it is
    /// gone (the caller hung up, OpenAI timed it out): do not retry, and
    /// run no session for it. A 401 or 403 lands here too, and means our
    /// key is wrong: the server should say so loudly rather than drop calls
    /// quietly.
    NotOurs,
    /// 5xx or 429: OpenAI could not answer now; the same request may be
    /// sent again while the call is still pending.
    Retry,
    /// Anything else (1xx, 3xx, or not an HTTP status): unexpected.
    Other,
}

/// Reads the HTTP status of an accept, reject, refer or hangup answer.
#[must_use]
pub fn classify_control_status(status: u16) -> ControlOutcome {
    match status {
        200..=299 => ControlOutcome::Ok,
        429 | 500..=599 => ControlOutcome::Retry,
        400..=499 => ControlOutcome::NotOurs,
        _ => ControlOutcome::Other,
    }
}
