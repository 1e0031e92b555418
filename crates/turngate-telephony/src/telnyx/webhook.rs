//! Telnyx Call Control webhooks: ed25519 verification and decoding into
//! the signal for the call they name. Pure functions.
//!
//! A webhook lands on whichever worker the load balancer picks; the worker
//! verifies and decodes it here, and the coordinator routes the resulting
//! [`WebhookSignal`] to the worker that owns the call (by
//! `call_control_id`), which hands its `input` to the call's session.
//! Retries carry the same `data.id`: deduplicate on `event_id`.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use turngate_core::Input;

use crate::transport::{Limits, SignatureError, WireError, b64_decode};

/// The header carrying the base64 ed25519 signature.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header carrying the signed Unix timestamp, in seconds.
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// Checks Telnyx webhook signatures with the account's public key.
///
/// The signed message is `"{timestamp}|{raw body}"`, over the exact bytes
/// received (never re-serialised JSON). It is ed25519, not an HMAC.
#[derive(Clone)]
pub struct WebhookVerifier {
    key: VerifyingKey,
    tolerance: Duration,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// The default timestamp tolerance, either side of now: five minutes, as
    /// Telnyx's own SDKs use.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

    /// A verifier for the account public key as Mission Control shows it
    /// (base64 of 32 bytes).
    pub fn from_base64(public_key: &str) -> Result<WebhookVerifier, SignatureError> {
        let bytes =
            b64_decode(public_key.trim()).map_err(|_| SignatureError::BadEncoding("public key"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| SignatureError::BadEncoding("public key"))?;
        WebhookVerifier::from_bytes(&bytes)
    }

    /// A verifier for a raw 32-byte public key.
    pub fn from_bytes(public_key: &[u8; 32]) -> Result<WebhookVerifier, SignatureError> {
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| SignatureError::BadKey)?;
        Ok(WebhookVerifier { key, tolerance: WebhookVerifier::DEFAULT_TOLERANCE })
    }

    /// Changes how far the signed timestamp may be from now.
    pub fn with_tolerance(mut self, tolerance: Duration) -> WebhookVerifier {
        self.tolerance = tolerance;
        self
    }

    /// Verifies one request: the two headers as received, the raw body, and
    /// the current time (passed in, so tests can fix it).
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), SignatureError> {
        let signature = signature.map(str::trim).filter(|s| !s.is_empty());
        let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
        let timestamp = timestamp.map(str::trim).filter(|s| !s.is_empty());
        let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;

        let signed_at: u64 =
            timestamp.parse().map_err(|_| SignatureError::BadEncoding(TIMESTAMP_HEADER))?;
        let now_secs = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => since.as_secs(),
            Err(_) => 0,
        };
        let skew = now_secs.abs_diff(signed_at);
        if skew > self.tolerance.as_secs() {
            return Err(SignatureError::Stale {
                skew_secs: skew,
                tolerance_secs: self.tolerance.as_secs(),
            });
        }

        let signature =
            b64_decode(signature).map_err(|_| SignatureError::BadEncoding(SIGNATURE_HEADER))?;
        let signature: [u8; 64] =
            signature.try_into().map_err(|_| SignatureError::BadEncoding(SIGNATURE_HEADER))?;
        let signature = Signature::from_bytes(&signature);

        let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b'|');
        message.extend_from_slice(body);
        self.key.verify_strict(&message, &signature).map_err(|_| SignatureError::Mismatch)
    }
}

/// A Call Control event we understand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// `call.playback.started`: a `playback_start` began playing.
    PlaybackStarted,
    /// `call.playback.ended`, with its `status` (`completed`, `call_hangup`,
    /// `cancelled`, …).
    PlaybackEnded {
        /// Why it ended.
        status: Option<String>,
    },
    /// `call.speak.started`: a `speak` began.
    SpeakStarted,
    /// `call.speak.ended`, with its `status`.
    SpeakEnded {
        /// Why it ended.
        status: Option<String>,
    },
    /// `call.hangup`.
    Hangup {
        /// `hangup_cause`, e.g. `normal_clearing`.
        cause: Option<String>,
        /// `hangup_source`: `caller`, `callee` or `unknown`.
        source: Option<String>,
    },
    /// `streaming.started` (informational).
    StreamingStarted,
    /// `streaming.stopped` (informational).
    StreamingStopped,
    /// `streaming.failed` (informational), with `failure_reason`.
    StreamingFailed {
        /// Why.
        reason: Option<String>,
    },
    /// `call.initiated`, `call.answered`, `call.bridged` or
    /// `call.dtmf.received` (informational: DTMF reaches the session through
    /// the media stream, so it is not turned into an input twice).
    CallProgress {
        /// The event type.
        event_type: String,
    },
}

/// A verified, decoded webhook: what the coordinator routes to the worker
/// that owns the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSignal {
    /// What happened.
    pub event: WebhookEvent,
    /// The call it is about (`data.payload.call_control_id`); the routing key.
    pub call_control_id: String,
    /// `data.id`: the same for every retry of one event; deduplicate on it.
    pub event_id: String,
    /// `meta.attempt`: 1 for the first delivery.
    pub attempt: u32,
    /// `data.occurred_at`, as sent.
    pub occurred_at: Option<String>,
    /// `client_state` as sent (base64), if any.
    pub client_state: Option<String>,
    /// The core input for the call's session, if the event is one.
    pub input: Option<Input>,
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<Data<'a>>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
struct Data<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    occurred_at: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<Payload<'a>>,
}

#[derive(Debug, Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    call_control_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hangup_cause: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hangup_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    failure_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    attempt: Option<u32>,
}

fn missing(what: &str) -> WireError {
    WireError::Malformed { detail: format!("missing {what}") }
}

/// Decodes a webhook body (after [`WebhookVerifier::verify`]).
///
/// Events we do not know are [`WireError::UnknownEvent`]: count them, and
/// still answer 2xx so that Telnyx does not retry them.
pub fn decode_webhook(body: &[u8], limits: &Limits) -> Result<WebhookSignal, WireError> {
    limits.check(body.len())?;
    let text = std::str::from_utf8(body)
        .map_err(|_| WireError::Malformed { detail: "body is not UTF-8".to_owned() })?;
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| WireError::malformed(&e))?;
    let data = envelope.data.ok_or_else(|| missing("`data`"))?;
    let event_type = data.event_type.ok_or_else(|| missing("`data.event_type`"))?;
    let payload = data.payload.ok_or_else(|| missing("`data.payload`"))?;
    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    let (event, input) = match event_type.as_ref() {
        "call.playback.started" => (WebhookEvent::PlaybackStarted, Some(Input::PlaybackStarted)),
        "call.playback.ended" => (
            WebhookEvent::PlaybackEnded { status: owned(payload.status) },
            Some(Input::ExternalPlaybackEnded),
        ),
        "call.speak.started" => (WebhookEvent::SpeakStarted, Some(Input::PlaybackStarted)),
        "call.speak.ended" => (
            WebhookEvent::SpeakEnded { status: owned(payload.status) },
            Some(Input::ExternalPlaybackEnded),
        ),
        "call.hangup" => (
            WebhookEvent::Hangup {
                cause: owned(payload.hangup_cause),
                source: owned(payload.hangup_source),
            },
            Some(Input::CallEnded),
        ),
        "streaming.started" => (WebhookEvent::StreamingStarted, None),
        "streaming.stopped" => (WebhookEvent::StreamingStopped, None),
        "streaming.failed" => {
            (WebhookEvent::StreamingFailed { reason: owned(payload.failure_reason) }, None)
        }
        other @ ("call.initiated" | "call.answered" | "call.bridged" | "call.dtmf.received") => {
            (WebhookEvent::CallProgress { event_type: other.to_owned() }, None)
        }
        other => return Err(WireError::unknown(other)),
    };
    Ok(WebhookSignal {
        event,
        call_control_id: payload
            .call_control_id
            .ok_or_else(|| missing("`data.payload.call_control_id`"))?
            .into_owned(),
        event_id: data.id.ok_or_else(|| missing("`data.id`"))?.into_owned(),
        attempt: envelope.meta.and_then(|m| m.attempt).unwrap_or(1),
        occurred_at: owned(data.occurred_at),
        client_state: owned(payload.client_state),
        input,
    })
}
