//! Telnyx webhooks: the envelope and a signature Telnyx's key check accepts.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, Verifier as _};
use serde_json::Value;

use crate::callers::{
    HangupCause, HangupSource, PlaybackStatus, TELNYX_SIGNATURE_HEADER, TELNYX_TIMESTAMP_HEADER,
    TelnyxEvent, TelnyxWebhook, telnyx_call_control_id,
};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// Verifies as a bot must: over `"{timestamp}|{raw body}"` with the public key.
fn verifies(timestamp: &str, body: &str, signature_b64: &str) -> bool {
    let bytes: [u8; 64] = STANDARD.decode(signature_b64).unwrap().try_into().unwrap();
    let message = format!("{timestamp}|{body}");
    key().verifying_key().verify(message.as_bytes(), &Signature::from_bytes(&bytes)).is_ok()
}

#[test]
fn a_signed_webhook_verifies_and_a_tampered_one_does_not() {
    let hook =
        TelnyxWebhook::new(TelnyxEvent::PlaybackEnded { status: PlaybackStatus::Completed }, "c1");
    let signed = hook.sign(&key(), 1_700_000_000);
    assert_eq!(signed.timestamp, "1700000000");
    assert!(verifies(&signed.timestamp, &signed.body, &signed.signature));
    assert!(!verifies("1700000001", &signed.body, &signed.signature), "another timestamp");
    let tampered = signed.body.replace("completed", "cancelled");
    assert!(!verifies(&signed.timestamp, &tampered, &signed.signature), "another body");
    let headers = signed.headers();
    assert_eq!(headers[0], (TELNYX_SIGNATURE_HEADER, signed.signature.clone()));
    assert_eq!(headers[1], (TELNYX_TIMESTAMP_HEADER, "1700000000".to_owned()));
}

#[test]
fn the_envelope_carries_the_documented_fields() {
    let mut hook =
        TelnyxWebhook::new(TelnyxEvent::PlaybackEnded { status: PlaybackStatus::CallHangup }, "c1");
    hook.occurred_at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    hook.attempt = 2;
    let body: Value = serde_json::from_str(&hook.body()).unwrap();
    assert_eq!(body["data"]["record_type"], "event");
    assert_eq!(body["data"]["event_type"], "call.playback.ended");
    assert_eq!(body["data"]["id"].as_str().unwrap().len(), 36);
    assert_eq!(body["data"]["occurred_at"], "2023-11-14T22:13:20.123000Z");
    let payload = &body["data"]["payload"];
    assert_eq!(payload["call_control_id"], telnyx_call_control_id("c1"));
    assert_eq!(payload["status"], "call_hangup");
    assert!(payload["status_detail"].is_null());
    assert!(payload["client_state"].is_null());
    assert_eq!(payload["overlay"], false);
    for field in ["call_leg_id", "call_session_id", "connection_id", "media_url", "media_name"] {
        assert!(payload.get(field).is_some(), "{field}");
    }
    assert_eq!(body["meta"]["attempt"], 2);
    assert!(body["meta"]["delivered_to"].is_string());

    let started = TelnyxWebhook::new(TelnyxEvent::PlaybackStarted, "c1");
    let body: Value = serde_json::from_str(&started.body()).unwrap();
    assert_eq!(body["data"]["event_type"], "call.playback.started");
    assert!(body["data"]["payload"].get("status").is_none());

    let hangup = TelnyxWebhook::new(
        TelnyxEvent::Hangup { cause: HangupCause::NormalClearing, source: HangupSource::Caller },
        "c1",
    );
    let body: Value = serde_json::from_str(&hangup.body()).unwrap();
    let payload = &body["data"]["payload"];
    assert_eq!(body["data"]["event_type"], "call.hangup");
    assert_eq!(payload["hangup_cause"], "normal_clearing");
    assert_eq!(payload["hangup_source"], "caller");
    assert_eq!(payload["state"], "hangup");
    assert!(payload.get("media_url").is_none());
}

#[test]
fn retries_keep_the_event_id_and_other_events_get_new_ones() {
    let first = TelnyxWebhook::new(TelnyxEvent::PlaybackStarted, "c1");
    let mut retry = first.clone();
    retry.attempt = 2;
    let id = |hook: &TelnyxWebhook| -> Value {
        serde_json::from_str::<Value>(&hook.body()).unwrap()["data"]["id"].clone()
    };
    assert_eq!(id(&first), id(&retry));
    let other = TelnyxWebhook::new(TelnyxEvent::PlaybackStarted, "c1");
    assert_ne!(id(&first), id(&other));
    assert_eq!(first.call_leg_id, other.call_leg_id, "one call, one leg");
}
