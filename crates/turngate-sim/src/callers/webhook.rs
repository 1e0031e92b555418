//! Telnyx Call Control webhooks as Telnyx sends them: the JSON envelope
//! (`data.record_type`, `data.id`, `data.event_type`, `data.occurred_at`,
//! `data.payload`, `meta.attempt`, `meta.delivered_to`) and the ed25519
//! signature over `"{timestamp}|{body}"` in the `telnyx-signature-ed25519`
//! and `telnyx-timestamp` headers, so tests and the demo can POST them.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use super::ids::{Rng, rfc3339, telnyx_call_control_id};

/// The header carrying the base64 ed25519 signature.
pub const TELNYX_SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The header carrying the Unix time the signature covers.
pub const TELNYX_TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// `status` of `call.playback.ended`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaybackStatus {
    /// `completed`
    Completed,
    /// `call_hangup`
    CallHangup,
    /// `cancelled`
    Cancelled,
    /// `cancelled_amd`
    CancelledAmd,
    /// `file_not_found`
    FileNotFound,
    /// `failed`
    Failed,
    /// `unknown`
    Unknown,
}

impl PlaybackStatus {
    fn as_str(self) -> &'static str {
        match self {
            PlaybackStatus::Completed => "completed",
            PlaybackStatus::CallHangup => "call_hangup",
            PlaybackStatus::Cancelled => "cancelled",
            PlaybackStatus::CancelledAmd => "cancelled_amd",
            PlaybackStatus::FileNotFound => "file_not_found",
            PlaybackStatus::Failed => "failed",
            PlaybackStatus::Unknown => "unknown",
        }
    }
}

/// `hangup_cause` of `call.hangup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupCause {
    /// `normal_clearing`
    NormalClearing,
    /// `originator_cancel`
    OriginatorCancel,
    /// `call_rejected`
    CallRejected,
    /// `timeout`
    Timeout,
    /// `time_limit`
    TimeLimit,
    /// `user_busy`
    UserBusy,
    /// `not_found`
    NotFound,
    /// `no_answer`
    NoAnswer,
    /// `unspecified`
    Unspecified,
}

impl HangupCause {
    fn as_str(self) -> &'static str {
        match self {
            HangupCause::NormalClearing => "normal_clearing",
            HangupCause::OriginatorCancel => "originator_cancel",
            HangupCause::CallRejected => "call_rejected",
            HangupCause::Timeout => "timeout",
            HangupCause::TimeLimit => "time_limit",
            HangupCause::UserBusy => "user_busy",
            HangupCause::NotFound => "not_found",
            HangupCause::NoAnswer => "no_answer",
            HangupCause::Unspecified => "unspecified",
        }
    }
}

/// `hangup_source` of `call.hangup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupSource {
    /// `caller`
    Caller,
    /// `callee`
    Callee,
    /// `unknown`
    Unknown,
}

impl HangupSource {
    fn as_str(self) -> &'static str {
        match self {
            HangupSource::Caller => "caller",
            HangupSource::Callee => "callee",
            HangupSource::Unknown => "unknown",
        }
    }
}

/// What a webhook reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelnyxEvent {
    /// `call.playback.started`
    PlaybackStarted,
    /// `call.playback.ended`
    PlaybackEnded {
        /// How it ended.
        status: PlaybackStatus,
    },
    /// `call.hangup`
    Hangup {
        /// Why.
        cause: HangupCause,
        /// Who hung up.
        source: HangupSource,
    },
}

impl TelnyxEvent {
    /// The `event_type`.
    pub fn event_type(self) -> &'static str {
        match self {
            TelnyxEvent::PlaybackStarted => "call.playback.started",
            TelnyxEvent::PlaybackEnded { .. } => "call.playback.ended",
            TelnyxEvent::Hangup { .. } => "call.hangup",
        }
    }
}

/// One Call Control webhook. Fields are public so a test can shape a
/// delivery (a retry with the same `id` and `attempt: 2`, a `client_state`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelnyxWebhook {
    /// What happened.
    pub event: TelnyxEvent,
    /// `data.id`, the same on every retry of one event.
    pub id: String,
    /// `data.occurred_at`.
    pub occurred_at: SystemTime,
    /// `payload.call_control_id`.
    pub call_control_id: String,
    /// `payload.call_leg_id`.
    pub call_leg_id: String,
    /// `payload.call_session_id`.
    pub call_session_id: String,
    /// `payload.connection_id`.
    pub connection_id: String,
    /// `payload.client_state` (base64, as Telnyx requires of commands).
    pub client_state: Option<String>,
    /// `payload.media_url` of playback events.
    pub media_url: Option<String>,
    /// `payload.media_name` of playback events.
    pub media_name: Option<String>,
    /// `payload.overlay` of playback events.
    pub overlay: bool,
    /// `payload.from` of `call.hangup`.
    pub from: String,
    /// `payload.to` of `call.hangup`.
    pub to: String,
    /// `payload.start_time` of `call.hangup`.
    pub start_time: SystemTime,
    /// `meta.attempt`, from 1.
    pub attempt: u32,
    /// `meta.delivered_to`.
    pub delivered_to: String,
}

/// A webhook ready to POST: the exact body and its signature headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedWebhook {
    /// The raw body (the signature covers these exact bytes).
    pub body: String,
    /// `telnyx-timestamp`: Unix seconds.
    pub timestamp: String,
    /// `telnyx-signature-ed25519`: the base64 signature.
    pub signature: String,
}

impl SignedWebhook {
    /// The two headers to send with the body.
    pub fn headers(&self) -> [(&'static str, String); 2] {
        [
            (TELNYX_SIGNATURE_HEADER, self.signature.clone()),
            (TELNYX_TIMESTAMP_HEADER, self.timestamp.clone()),
        ]
    }
}

impl TelnyxWebhook {
    /// A webhook for the call a Telnyx caller placed with `call_id` (so its
    /// `call_control_id` matches the media stream's), with fresh ids.
    pub fn new(event: TelnyxEvent, call_id: &str) -> TelnyxWebhook {
        let now = SystemTime::now();
        let nanos = now.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or_default();
        let mut rng = Rng::for_call(nanos, call_id);
        let mut call_rng = Rng::for_call(0, call_id);
        TelnyxWebhook {
            event,
            id: rng.uuid(),
            occurred_at: now,
            call_control_id: telnyx_call_control_id(call_id),
            call_leg_id: call_rng.uuid(),
            call_session_id: call_rng.uuid(),
            connection_id: call_rng.hex(19),
            client_state: None,
            media_url: matches!(
                event,
                TelnyxEvent::PlaybackStarted | TelnyxEvent::PlaybackEnded { .. }
            )
            .then(|| "https://media.example.com/prompt.mp3".to_owned()),
            media_name: None,
            overlay: false,
            from: "+15550100001".to_owned(),
            to: "+15550100002".to_owned(),
            start_time: now,
            attempt: 1,
            delivered_to: "https://bot.example.com/telnyx/webhook".to_owned(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        let mut payload = json!({
            "call_control_id": self.call_control_id,
            "call_leg_id": self.call_leg_id,
            "call_session_id": self.call_session_id,
            "connection_id": self.connection_id,
            "client_state": self.client_state,
        });
        let extra = match self.event {
            TelnyxEvent::PlaybackStarted => json!({
                "media_url": self.media_url,
                "media_name": self.media_name,
                "overlay": self.overlay,
            }),
            TelnyxEvent::PlaybackEnded { status } => json!({
                "media_url": self.media_url,
                "media_name": self.media_name,
                "overlay": self.overlay,
                "status": status.as_str(),
                "status_detail": null,
            }),
            TelnyxEvent::Hangup { cause, source } => json!({
                "hangup_cause": cause.as_str(),
                "hangup_source": source.as_str(),
                "sip_hangup_cause": "unspecified",
                "from": self.from,
                "to": self.to,
                "start_time": rfc3339(self.start_time),
                "state": "hangup",
                "call_quality_stats": null,
                "tags": [],
            }),
        };
        if let (Value::Object(payload), Value::Object(extra)) = (&mut payload, extra) {
            payload.extend(extra);
        }
        json!({
            "data": {
                "record_type": "event",
                "id": self.id,
                "event_type": self.event.event_type(),
                "occurred_at": rfc3339(self.occurred_at),
                "payload": payload,
            },
            "meta": {"attempt": self.attempt, "delivered_to": self.delivered_to},
        })
        .to_string()
    }

    /// The body signed with `key` at `unix_seconds`.
    pub fn sign(&self, key: &SigningKey, unix_seconds: u64) -> SignedWebhook {
        let body = self.body();
        let timestamp = unix_seconds.to_string();
        let signature = sign_telnyx(key, &timestamp, &body);
        SignedWebhook { body, timestamp, signature }
    }
}

/// Telnyx's signature of `body` at `timestamp`: base64 of the ed25519
/// signature of `"{timestamp}|{body}"`.
pub fn sign_telnyx(key: &SigningKey, timestamp: &str, body: &str) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(body.as_bytes());
    STANDARD.encode(key.sign(&message).to_bytes())
}
