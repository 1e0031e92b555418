//! Direct SIP, OpenAI's control plane for SIP calls: the signed webhook
//! OpenAI sends for each incoming call, and the call controls (accept,
//! reject, refer, hang up) that answer it. Sans-IO: nothing here opens a
//! socket or reads a clock; the server passes the request it received and
//! `now` in Unix seconds, and sends the [`ControlRequest`]s it gets back.
//!
//! A team points its SIP trunk at OpenAI. For each INVITE, OpenAI posts a
//! webhook to the app's backend, signed the Standard Webhooks way
//! ([`WebhookVerifier`]). One pending call is offered on two surfaces at
//! once: `realtime.call.incoming` (an `rtc_…` call id, for the Realtime
//! API) and `live.transport.incoming` (a `live_…` session id, for GPT-Live;
//! `live.call.incoming` is its deprecated name). The first successful
//! accept on either surface selects the runtime, and any later accept is
//! answered with a 4xx ([`classify_control_status`] reads it as
//! [`ControlOutcome::NotOurs`]). The two events share the INVITE's
//! `Call-ID` ([`SipInvite::call_id`]), the key for making exactly one
//! accept decision per call.
//!
//! Files: `wire.rs` (the events, the ids, the call controls and their
//! bodies, the reading of a control's answer), `verify.rs` (the signature
//! check) and `tests.rs`. There is no `io.rs`: the server owns HTTP.
//!
//! Facts come from openai-python 3.57.0 (`openai/lib/_webhooks.py`,
//! `openai/resources/webhooks/webhooks.py`, `openai/types/webhooks/*`,
//! `openai/types/realtime/call_*_params.py`,
//! `openai/types/live/session_*_params.py`) and OpenAI's guides
//! (<https://developers.openai.com/api/docs/guides/webhooks>,
//! <https://developers.openai.com/api/docs/guides/realtime-sip>); where they
//! are silent, the strict reading is chosen and said so. See
//! `docs/protocols/openai-sip.md`.

mod verify;
mod wire;

#[cfg(test)]
mod tests;

pub use verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, ID_HEADER, MAX_SIGNATURES, SIGNATURE_HEADER,
    SecretError, TIMESTAMP_HEADER, UnwrapError, VerifyError, WebhookVerifier,
};
pub use wire::{
    CallAction, ConnectedLiveTransport, ControlError, ControlOutcome, ControlRequest,
    DEFAULT_REALTIME_REJECT_STATUS, ID_MAX_CHARS, IdError, IncomingLiveCall, IncomingRealtimeCall,
    LIVE_CALL_INCOMING, LIVE_TRANSPORT_CONNECTED, LIVE_TRANSPORT_INCOMING, LiveSessionId,
    MediaSecurity, REALTIME_CALL_INCOMING, REJECT_STATUSES, RealtimeCallId, SipHeader, SipInvite,
    TARGET_URI_MAX_CHARS, TargetUriError, WebhookError, WebhookEvent, WebhookKind,
    classify_control_status, sip_call_id,
};

/// The secret the fuzz harness verifies with. The fuzzer does not run the
/// HMAC, so it cannot make up a signature that matches.
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_SECRET: &str = "whsec_dHVybmdhdGUtZnV6ei1zaXAtd2ViaG9vay1zZWNyZXQ=";

/// The `now` of the fuzz harness, so a fuzzer that learns one timestamp
/// keeps reaching the signature check.
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_NOW: i64 = 1_700_000_000;

/// The fuzz target's entry point for Direct SIP webhooks. The input is
/// header lines (`name: value`) up to the first empty line, then the body.
///
/// Beyond "never panics", it checks what the server relies on: a request
/// verifies only when one of its `v1,` entries is the real signature of its
/// id, timestamp and body (which the fuzzer cannot compute, so in practice
/// never); a verified body parses exactly as it does on its own; and every
/// id read from a body yields control paths of exactly one segment per id.
/// Bodies are also parsed directly, unverified, so the parser is fuzzed
/// whatever the signature check refuses.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_webhook(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let headers: Vec<(&str, &str)> = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim(), value.trim()))
        .collect();

    let parsed = wire::parse_event(body.as_bytes());
    if let Ok(event) = &parsed {
        check_control_paths(event);
    }

    let Ok(verifier) = WebhookVerifier::new(FUZZ_SECRET) else {
        unreachable!("invariant: the fuzz secret is valid base64")
    };
    match verifier.verify_and_parse(&headers, body.as_bytes(), FUZZ_NOW) {
        Ok(event) => {
            assert_signed(&verifier, &headers, body);
            assert_eq!(parsed.as_ref().ok(), Some(&event), "a verified body parsed differently");
        }
        Err(UnwrapError::Body(error)) => {
            assert_signed(&verifier, &headers, body);
            assert_eq!(parsed.err(), Some(error), "a verified body failed differently");
        }
        Err(UnwrapError::Signature(_)) => {}
    }
}

/// A request that verified carries the real signature among its entries.
#[cfg(any(test, feature = "fuzzing"))]
fn assert_signed(verifier: &WebhookVerifier, headers: &[(&str, &str)], body: &str) {
    let header = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or("", |(_, v)| *v)
    };
    let expected = verifier.sign(header(ID_HEADER), header(TIMESTAMP_HEADER), body.as_bytes());
    assert!(
        header(SIGNATURE_HEADER).split_whitespace().any(|entry| entry == expected),
        "a made-up signature verified"
    );
}

/// Every control built from a parsed id names exactly that id, as one path
/// segment between the surface's prefix and the action.
#[cfg(any(test, feature = "fuzzing"))]
fn check_control_paths(event: &WebhookEvent) {
    let (prefix, id, hangup) = match &event.kind {
        WebhookKind::RealtimeCallIncoming(call) => {
            ("/v1/realtime/calls/", call.call_id.as_str(), call.call_id.hangup())
        }
        WebhookKind::LiveTransportIncoming(call) | WebhookKind::LiveCallIncoming(call) => {
            ("/v1/live/sessions/", call.session_id.as_str(), call.session_id.hangup())
        }
        WebhookKind::LiveTransportConnected(connected) => {
            ("/v1/live/sessions/", connected.session_id.as_str(), connected.session_id.hangup())
        }
        WebhookKind::Other { .. } => return,
    };
    assert_eq!(hangup.path, format!("{prefix}{id}/hangup"));
    assert_eq!(hangup.path.split('/').count(), 6, "an id spans several segments: {id:?}");
    assert!(!id.contains(['?', '#', '%', '\\']), "an id carries URL syntax: {id:?}");
}
