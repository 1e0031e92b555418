//! Direct SIP against the SDK's rules: signatures computed here
//! independently (the HMAC and base64 crates, and one vector computed with
//! Python's `hmac` as the SDK does), every error text, the replay window's
//! edges, each webhook kind, the ids, and every call control.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::*;

/// The key of the known vector, and its secret as OpenAI shows one.
const KEY: &[u8] = b"turngate-sip-known-vector-key-32";
const SECRET: &str = "whsec_dHVybmdhdGUtc2lwLWtub3duLXZlY3Rvci1rZXktMzI=";
const WEBHOOK_ID: &str = "wh_685342e6c53c8190a1be43f081506c52";
const TIMESTAMP: &str = "1750287078";
const NOW: i64 = 1_750_287_078;

/// A `realtime.call.incoming` as OpenAI sends one (shape of the SIP guide's
/// example, with a realistic INVITE).
const REALTIME_BODY: &str = r#"{"object":"event","id":"evt_685343a1381c819085d44c354e1b330e","type":"realtime.call.incoming","created_at":1750287018,"data":{"call_id":"rtc_479a275623b54bdb9b6fbae2f7cbd408","sip_headers":[{"name":"Max-Forwards","value":"63"},{"name":"CSeq","value":"851287 INVITE"},{"name":"Content-Type","value":"application/sdp"},{"name":"To","value":"<sip:+18005551212@sip.example.com>"},{"name":"From","value":"\"Caller\" <sip:+15551234567@pstn.example.net>;tag=64af2f8d"},{"name":"Call-ID","value":"a9f3c1e2-7b4d-4e55-9c1a-0f6e2d8b7c11"}],"sip_media_security":"srtp"}}"#;

/// `base64(HMAC-SHA256(KEY, "{WEBHOOK_ID}.{TIMESTAMP}.{REALTIME_BODY}"))`,
/// computed with Python's `hmac` and `base64`, exactly as `_webhooks.py` does.
const REALTIME_SIGNATURE: &str = "VNHliBNZ47Tl80ZCOSWT8qxpsQto897E8oImD8hzNhc=";

/// The signature computed here, independently of the code under test.
fn independent_signature(key: &[u8], webhook_id: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{webhook_id}.{timestamp}.{body}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(SECRET).unwrap()
}

/// Request headers, as the verifier takes them.
type Headers<'a> = Vec<(&'a str, &'a str)>;

/// The three headers of a delivery.
fn headers<'a>(signature: &'a str, timestamp: &'a str) -> Headers<'a> {
    vec![
        ("webhook-id", WEBHOOK_ID),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ]
}

fn signed(key: &[u8], timestamp: &str, body: &str) -> String {
    format!("v1,{}", independent_signature(key, WEBHOOK_ID, timestamp, body))
}

// ---- Signatures -------------------------------------------------------------

#[test]
fn the_known_vector_verifies_and_parses() {
    assert_eq!(
        independent_signature(KEY, WEBHOOK_ID, TIMESTAMP, REALTIME_BODY),
        REALTIME_SIGNATURE
    );
    let signature = format!("v1,{REALTIME_SIGNATURE}");
    assert_eq!(verifier().sign(WEBHOOK_ID, TIMESTAMP, REALTIME_BODY.as_bytes()), signature);

    let event = verifier()
        .verify_and_parse(&headers(&signature, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW)
        .unwrap();
    assert_eq!(event.id, "evt_685343a1381c819085d44c354e1b330e");
    assert_eq!(event.created_at, 1_750_287_018);
    assert_eq!(event.event_type(), "realtime.call.incoming");
    let WebhookKind::RealtimeCallIncoming(call) = &event.kind else { panic!("{event:?}") };
    assert_eq!(call.call_id.as_str(), "rtc_479a275623b54bdb9b6fbae2f7cbd408");
    assert_eq!(call.sip.media_security, Some(MediaSecurity::Srtp));
    assert_eq!(call.sip.headers.len(), 6);
    assert_eq!(
        call.sip.headers[4],
        SipHeader {
            name: "From".to_owned(),
            value: r#""Caller" <sip:+15551234567@pstn.example.net>;tag=64af2f8d"#.to_owned()
        }
    );
    assert_eq!(call.sip.call_id(), Some("a9f3c1e2-7b4d-4e55-9c1a-0f6e2d8b7c11"));
    assert_eq!(event.sip_invite(), Some(&call.sip));
}

#[test]
fn every_refusal_has_its_text() {
    let good = signed(KEY, TIMESTAMP, "{}");
    let too_many = vec!["v1,AAAA"; MAX_SIGNATURES + 1].join(" ");
    let big = "x".repeat(DEFAULT_MAX_BODY_BYTES + 1);
    let cases: Vec<(&str, Headers<'_>, &str, &str)> = vec![
        (
            "no signature",
            vec![("webhook-id", WEBHOOK_ID), ("webhook-timestamp", TIMESTAMP)],
            "{}",
            "Could not find webhook-signature header",
        ),
        (
            "no timestamp",
            vec![("webhook-id", WEBHOOK_ID), ("webhook-signature", &good)],
            "{}",
            "Could not find webhook-timestamp header",
        ),
        (
            "no id",
            vec![("webhook-timestamp", TIMESTAMP), ("webhook-signature", &good)],
            "{}",
            "Could not find webhook-id header",
        ),
        ("letters", headers(&good, "soon"), "{}", "Invalid webhook timestamp format"),
        ("empty", headers(&good, ""), "{}", "Invalid webhook timestamp format"),
        ("fraction", headers(&good, "1750287078.5"), "{}", "Invalid webhook timestamp format"),
        (
            "overflow",
            headers(&good, "99999999999999999999"),
            "{}",
            "Invalid webhook timestamp format",
        ),
        ("old", headers(&good, "1750286000"), "{}", "Webhook timestamp is too old"),
        ("new", headers(&good, "1750290000"), "{}", "Webhook timestamp is too new"),
        ("i64::MIN", headers(&good, "-9223372036854775808"), "{}", "Webhook timestamp is too old"),
        ("i64::MAX", headers(&good, "9223372036854775807"), "{}", "Webhook timestamp is too new"),
        (
            "wrong signature",
            headers("v1,VNHliBNZ47Tl80ZCOSWT8qxpsQto897E8oImD8hzNhc=", TIMESTAMP),
            "{}",
            "The given webhook signature does not match the expected signature",
        ),
        (
            "empty signature",
            headers("", TIMESTAMP),
            "{}",
            "The given webhook signature does not match the expected signature",
        ),
        (
            "too many signatures",
            headers(&too_many, TIMESTAMP),
            "{}",
            "The webhook-signature header holds 17 entries, over the limit of 16",
        ),
        (
            "body too large",
            headers(&good, TIMESTAMP),
            &big,
            "The webhook body is 1048577 bytes, over the 1048576 byte limit",
        ),
    ];
    for (name, headers, body, text) in cases {
        let error = verifier().verify(&headers, body.as_bytes(), NOW).unwrap_err();
        assert_eq!(error.to_string(), text, "{name}");
        // The same refusal through verify_and_parse, which never reaches the parser.
        let unwrapped = verifier().verify_and_parse(&headers, body.as_bytes(), NOW).unwrap_err();
        assert_eq!(unwrapped, UnwrapError::Signature(error), "{name}");
    }
}

#[test]
fn the_replay_window_is_closed_at_300_seconds_either_side() {
    let body = REALTIME_BODY;
    for (offset, expected) in [
        (-301, Err(VerifyError::TooOld)),
        (-300, Ok(())),
        (-299, Ok(())),
        (0, Ok(())),
        (299, Ok(())),
        (300, Ok(())),
        (301, Err(VerifyError::TooNew)),
    ] {
        let timestamp = (NOW + offset).to_string();
        let signature = signed(KEY, &timestamp, body);
        assert_eq!(
            verifier().verify(&headers(&signature, &timestamp), body.as_bytes(), NOW),
            expected,
            "signed {offset} s from now"
        );
    }
    // A tolerance of our own moves both edges.
    let strict = verifier().with_tolerance(Duration::from_secs(10));
    assert_eq!(strict.tolerance(), Duration::from_secs(10));
    let timestamp = (NOW - 11).to_string();
    let signature = signed(KEY, &timestamp, body);
    assert_eq!(
        strict.verify(&headers(&signature, &timestamp), body.as_bytes(), NOW),
        Err(VerifyError::TooOld)
    );
    assert_eq!(verifier().tolerance(), DEFAULT_TOLERANCE);
}

#[test]
fn any_of_several_signatures_may_match() {
    let right = signed(KEY, TIMESTAMP, REALTIME_BODY);
    let wrong = signed(b"another key", TIMESTAMP, REALTIME_BODY);
    for header in [
        format!("v1,AAAA {wrong} {right}"),
        format!("{right} {wrong}"),
        format!("  {wrong}\t{right}  "),
        format!("v2,{REALTIME_SIGNATURE} {right}"),
        format!("{} {right}", vec!["v1,AAAA"; MAX_SIGNATURES - 1].join(" ")),
    ] {
        assert_eq!(
            verifier().verify(&headers(&header, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
            Ok(()),
            "{header}"
        );
    }
}

#[test]
fn entries_without_v1_are_never_compared() {
    // The SDK would compare these whole and accept the first; we do not.
    for header in [
        REALTIME_SIGNATURE.to_owned(),
        format!("v2,{REALTIME_SIGNATURE}"),
        format!("V1,{REALTIME_SIGNATURE}"),
        format!("v1;{REALTIME_SIGNATURE}"),
        format!("x v1, {REALTIME_SIGNATURE}"),
    ] {
        assert_eq!(
            verifier().verify(&headers(&header, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
            Err(VerifyError::Mismatch),
            "{header}"
        );
    }
}

#[test]
fn a_rotated_secret_stays_valid_alongside_the_new_one() {
    let old_key = b"the secret before rotation".as_slice();
    let old_secret = format!("whsec_{}", STANDARD.encode(old_key));
    let rotating = WebhookVerifier::with_secrets([SECRET, old_secret.as_str()]).unwrap();
    for (key, expected) in [
        (KEY, Ok(())),
        (old_key, Ok(())),
        (b"a third secret".as_slice(), Err(VerifyError::Mismatch)),
    ] {
        let signature = signed(key, TIMESTAMP, REALTIME_BODY);
        assert_eq!(
            rotating.verify(&headers(&signature, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
            expected
        );
    }
    // The old secret alone no longer takes the new signatures.
    let old_only = WebhookVerifier::new(&old_secret).unwrap();
    let signature = signed(KEY, TIMESTAMP, REALTIME_BODY);
    assert_eq!(
        old_only.verify(&headers(&signature, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn a_secret_without_whsec_is_used_as_its_bytes() {
    for secret in ["plain-shared-secret", "WHSEC_dHVybmdhdGU=", "whsec"] {
        let raw = WebhookVerifier::new(secret).unwrap();
        let signature = signed(secret.as_bytes(), TIMESTAMP, REALTIME_BODY);
        assert_eq!(
            raw.verify(&headers(&signature, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
            Ok(()),
            "{secret}"
        );
    }
}

#[test]
fn unusable_secrets_are_refused_when_the_verifier_is_built() {
    let cases: &[(&[&str], SecretError, &str)] = &[
        (&[], SecretError::NoSecret, "no webhook secret is configured"),
        (&[""], SecretError::Empty { position: 1 }, "webhook secret 1 is empty"),
        (&["whsec_"], SecretError::Empty { position: 1 }, "webhook secret 1 is empty"),
        (
            &["whsec_not base64!"],
            SecretError::NotBase64 { position: 1 },
            "webhook secret 1 starts with `whsec_` but the rest is not standard base64",
        ),
        // Missing padding, and the URL-safe alphabet: not the standard encoding.
        (&[SECRET, "whsec_dHVybmdhdGU"], SecretError::NotBase64 { position: 2 }, ""),
        (&["whsec_-_-_"], SecretError::NotBase64 { position: 1 }, ""),
        (&["whsec_dHVybmdhdGU=\n"], SecretError::NotBase64 { position: 1 }, ""),
    ];
    for (secrets, error, text) in cases {
        let refused = WebhookVerifier::with_secrets(secrets.iter()).unwrap_err();
        assert_eq!(&refused, error, "{secrets:?}");
        if !text.is_empty() {
            assert_eq!(refused.to_string(), *text);
        }
    }
}

#[test]
fn anything_changed_after_signing_is_refused() {
    let signature = signed(KEY, TIMESTAMP, REALTIME_BODY);
    let tampered_body = REALTIME_BODY.replace("rtc_479a", "rtc_479b");
    let cases: Vec<(&str, Headers<'_>, &str)> = vec![
        ("body", headers(&signature, TIMESTAMP), &tampered_body),
        ("body with a trailing newline", headers(&signature, TIMESTAMP), "{}\n"),
        (
            "id",
            vec![
                ("webhook-id", "wh_another"),
                ("webhook-timestamp", TIMESTAMP),
                ("webhook-signature", &signature),
            ],
            REALTIME_BODY,
        ),
        // The same second, written otherwise: the string as received is signed.
        ("timestamp", headers(&signature, "1750287079"), REALTIME_BODY),
        ("timestamp with a zero", headers(&signature, "01750287078"), REALTIME_BODY),
        ("timestamp with a sign", headers(&signature, "+1750287078"), REALTIME_BODY),
    ];
    for (name, headers, body) in cases {
        assert_eq!(
            verifier().verify(&headers, body.as_bytes(), NOW),
            Err(VerifyError::Mismatch),
            "{name}"
        );
    }
    // A truncated or re-encoded signature does not match either.
    for bad in [&signature[..40], signature.trim_end_matches('=')] {
        assert_eq!(
            verifier().verify(&headers(bad, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
            Err(VerifyError::Mismatch)
        );
    }
}

#[test]
fn header_names_are_matched_in_any_case_and_the_first_counts() {
    let signature = signed(KEY, TIMESTAMP, REALTIME_BODY);
    let mixed = [
        ("Webhook-Id", WEBHOOK_ID),
        ("WEBHOOK-TIMESTAMP", TIMESTAMP),
        ("Webhook-Signature", signature.as_str()),
    ];
    assert_eq!(verifier().verify(&mixed, REALTIME_BODY.as_bytes(), NOW), Ok(()));
    let repeated = [
        ("webhook-id", WEBHOOK_ID),
        ("webhook-id", "wh_second"),
        ("webhook-timestamp", TIMESTAMP),
        ("webhook-signature", signature.as_str()),
        ("webhook-signature", "v1,AAAA"),
    ];
    assert_eq!(verifier().verify(&repeated, REALTIME_BODY.as_bytes(), NOW), Ok(()));
    let second_first = [
        ("webhook-id", WEBHOOK_ID),
        ("webhook-timestamp", TIMESTAMP),
        ("webhook-signature", "v1,AAAA"),
        ("webhook-signature", signature.as_str()),
    ];
    assert_eq!(
        verifier().verify(&second_first, REALTIME_BODY.as_bytes(), NOW),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn an_oversize_body_is_refused_before_hashing_even_when_signed() {
    let limited = verifier().with_max_body_bytes(REALTIME_BODY.len());
    assert_eq!(limited.max_body_bytes(), REALTIME_BODY.len());
    let signature = signed(KEY, TIMESTAMP, REALTIME_BODY);
    assert_eq!(
        limited.verify(&headers(&signature, TIMESTAMP), REALTIME_BODY.as_bytes(), NOW),
        Ok(())
    );
    let longer = format!("{REALTIME_BODY} ");
    let signature = signed(KEY, TIMESTAMP, &longer);
    assert_eq!(
        limited.verify(&headers(&signature, TIMESTAMP), longer.as_bytes(), NOW),
        Err(VerifyError::BodyTooLarge { len: longer.len(), max: REALTIME_BODY.len() })
    );
    // The default admits a correctly signed body of exactly 1 MiB.
    let padded =
        REALTIME_BODY.to_owned() + &" ".repeat(DEFAULT_MAX_BODY_BYTES - REALTIME_BODY.len());
    let signature = signed(KEY, TIMESTAMP, &padded);
    assert_eq!(verifier().verify(&headers(&signature, TIMESTAMP), padded.as_bytes(), NOW), Ok(()));
}

#[test]
fn a_verified_body_that_is_no_event_is_a_body_error() {
    let body = r#"{"type":"realtime.call.incoming","id":"evt_1","created_at":1}"#;
    let signature = signed(KEY, TIMESTAMP, body);
    assert_eq!(
        verifier().verify_and_parse(&headers(&signature, TIMESTAMP), body.as_bytes(), NOW),
        Err(UnwrapError::Body(WebhookError::Missing { field: "data" }))
    );
}

#[test]
fn the_verifier_never_prints_its_secrets() {
    let shown = format!("{:?}", verifier());
    assert!(!shown.contains("dHVybmdhdGU") && !shown.contains("turngate-sip"), "{shown}");
    assert!(shown.contains("secrets: 1"), "{shown}");
}

// ---- Webhook events ---------------------------------------------------------

fn parse(body: &Value) -> Result<WebhookEvent, WebhookError> {
    wire::parse_event(body.to_string().as_bytes())
}

fn invite() -> Value {
    json!([
        {"name": "Call-ID", "value": "c0ffee@pbx.example.com"},
        {"name": "Via", "value": "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK1"},
        {"name": "Via", "value": "SIP/2.0/TLS 10.0.0.2:5061;branch=z9hG4bK2"},
        {"name": "X-Tenant", "value": "acme", "unknown": true}
    ])
}

#[test]
fn each_webhook_kind_is_read() {
    let sip = |media_security| SipInvite {
        headers: vec![
            SipHeader { name: "Call-ID".to_owned(), value: "c0ffee@pbx.example.com".to_owned() },
            SipHeader {
                name: "Via".to_owned(),
                value: "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK1".to_owned(),
            },
            SipHeader {
                name: "Via".to_owned(),
                value: "SIP/2.0/TLS 10.0.0.2:5061;branch=z9hG4bK2".to_owned(),
            },
            SipHeader { name: "X-Tenant".to_owned(), value: "acme".to_owned() },
        ],
        media_security,
    };
    let live = |id: &str| LiveSessionId::new(id).unwrap();
    let cases = vec![
        (
            json!({"object": "event", "id": "evt_1", "type": "realtime.call.incoming",
                "created_at": 10, "added_later": {"x": 1},
                "data": {"call_id": "rtc_1", "sip_headers": invite(), "sip_media_security": "srtp"}}),
            WebhookKind::RealtimeCallIncoming(IncomingRealtimeCall {
                call_id: RealtimeCallId::new("rtc_1").unwrap(),
                sip: sip(Some(MediaSecurity::Srtp)),
            }),
        ),
        (
            json!({"id": "evt_2", "type": "live.transport.incoming", "created_at": 10,
                "data": {"type": "sip", "session_id": "live_1", "sip_headers": invite(),
                    "sip_media_security": "rtp"}}),
            WebhookKind::LiveTransportIncoming(IncomingLiveCall {
                session_id: live("live_1"),
                sip: sip(Some(MediaSecurity::Rtp)),
            }),
        ),
        (
            // The deprecated name, without `data.type`; an unknown media security kept.
            json!({"object": "event", "id": "evt_3", "type": "live.call.incoming", "created_at": 10,
                "data": {"session_id": "live_1", "sip_headers": invite(),
                    "sip_media_security": "zrtp"}}),
            WebhookKind::LiveCallIncoming(IncomingLiveCall {
                session_id: live("live_1"),
                sip: sip(Some(MediaSecurity::Unknown("zrtp".to_owned()))),
            }),
        ),
        (
            json!({"id": "evt_4", "type": "live.call.incoming", "created_at": 10,
                "data": {"session_id": "live_1", "sip_headers": invite(),
                    "sip_media_security": null}}),
            WebhookKind::LiveCallIncoming(IncomingLiveCall {
                session_id: live("live_1"),
                sip: sip(None),
            }),
        ),
        (
            json!({"id": "evt_5", "type": "live.transport.connected", "created_at": 10,
                "data": {"type": "webrtc", "session_id": "live_2"}}),
            WebhookKind::LiveTransportConnected(ConnectedLiveTransport {
                session_id: live("live_2"),
                transport: "webrtc".to_owned(),
            }),
        ),
        (
            json!({"id": "evt_6", "type": "batch.completed", "created_at": 10,
                "data": {"id": "batch_1"}}),
            WebhookKind::Other { event_type: "batch.completed".to_owned() },
        ),
        (
            // A type we do not know needs no `data` at all.
            json!({"id": "evt_7", "type": "realtime.call.ended", "created_at": 10}),
            WebhookKind::Other { event_type: "realtime.call.ended".to_owned() },
        ),
    ];
    for (body, kind) in cases {
        let event = parse(&body).unwrap();
        assert_eq!(event.kind, kind, "{body}");
        assert_eq!(event.event_type(), body["type"].as_str().unwrap());
        assert_eq!(event.id, body["id"].as_str().unwrap());
        assert_eq!(event.created_at, 10);
        let is_call = matches!(
            event.kind,
            WebhookKind::RealtimeCallIncoming(_)
                | WebhookKind::LiveTransportIncoming(_)
                | WebhookKind::LiveCallIncoming(_)
        );
        assert_eq!(event.sip_invite().is_some(), is_call, "{body}");
    }
}

#[test]
fn a_body_we_cannot_act_on_is_a_clear_error() {
    let realtime = |data: Value| json!({"id": "evt_1", "type": "realtime.call.incoming", "created_at": 1, "data": data});
    let live = |data: Value| json!({"id": "evt_1", "type": "live.transport.incoming", "created_at": 1, "data": data});
    let cases = vec![
        (json!([1, 2]), "the webhook body is not a JSON object"),
        (json!({"id": "evt_1", "created_at": 1}), "`type` is missing"),
        (json!({"type": 7, "id": "evt_1", "created_at": 1}), "`type` is not a string"),
        (json!({"type": "batch.completed", "created_at": 1}), "`id` is missing"),
        (
            json!({"type": "batch.completed", "id": "e", "created_at": "1"}),
            "`created_at` is not an integer",
        ),
        (
            json!({"type": "batch.completed", "id": "e", "created_at": 1.5}),
            "`created_at` is not an integer",
        ),
        (
            json!({"type": "realtime.call.incoming", "id": "e", "created_at": 1}),
            "`data` is missing",
        ),
        (realtime(json!("rtc_1")), "`data` is not an object"),
        (realtime(json!({"sip_headers": []})), "`data.call_id` is missing"),
        (realtime(json!({"call_id": 12, "sip_headers": []})), "`data.call_id` is not a string"),
        (realtime(json!({"call_id": "rtc_1"})), "`data.sip_headers` is missing"),
        (
            realtime(json!({"call_id": "rtc_1", "sip_headers": null})),
            "`data.sip_headers` is not an array",
        ),
        (
            realtime(json!({"call_id": "rtc_1", "sip_headers": ["Call-ID: x"]})),
            "`data.sip_headers[]` is not an object",
        ),
        (
            realtime(json!({"call_id": "rtc_1", "sip_headers": [{"value": "x"}]})),
            "`data.sip_headers[].name` is missing",
        ),
        (
            realtime(json!({"call_id": "rtc_1", "sip_headers": [{"name": "To", "value": 5}]})),
            "`data.sip_headers[].value` is not a string",
        ),
        (
            realtime(json!({"call_id": "rtc_1", "sip_headers": [], "sip_media_security": true})),
            "`data.sip_media_security` is not a string",
        ),
        (realtime(json!({"call_id": "", "sip_headers": []})), "`data.call_id`: the id is empty"),
        (
            realtime(json!({"call_id": "../../files", "sip_headers": []})),
            "`data.call_id`: the id contains '/', which is not safe in a URL path segment",
        ),
        (live(json!({"session_id": "live_1", "sip_headers": []})), "`data.type` is missing"),
        (
            live(json!({"type": "webrtc", "session_id": "live_1", "sip_headers": []})),
            "`data.type` is \"webrtc\", not \"sip\"",
        ),
        (live(json!({"type": "sip", "sip_headers": []})), "`data.session_id` is missing"),
        (
            live(json!({"type": "sip", "session_id": "live_1?x=1", "sip_headers": []})),
            "`data.session_id`: the id contains '?', which is not safe in a URL path segment",
        ),
        (
            json!({"id": "e", "type": "live.transport.connected", "created_at": 1, "data": {"session_id": "live_1"}}),
            "`data.type` is missing",
        ),
    ];
    for (body, text) in cases {
        assert_eq!(parse(&body).unwrap_err().to_string(), text, "{body}");
    }
    assert!(matches!(wire::parse_event(b"{\"type\":"), Err(WebhookError::NotJson(_))));
    assert!(matches!(wire::parse_event(b""), Err(WebhookError::NotJson(_))));
    assert!(matches!(wire::parse_event(&[0xff, 0xfe]), Err(WebhookError::NotJson(_))));
}

#[test]
fn the_call_id_header_is_found_by_either_name_in_any_case_and_the_first_wins() {
    let header =
        |name: &str, value: &str| SipHeader { name: name.to_owned(), value: value.to_owned() };
    let cases: Vec<(Vec<SipHeader>, Option<&str>)> = vec![
        (vec![header("Call-ID", "a@b")], Some("a@b")),
        (vec![header("call-id", "a@b")], Some("a@b")),
        (vec![header("CALL-ID", "a@b")], Some("a@b")),
        (vec![header("i", "compact@b")], Some("compact@b")),
        (vec![header("I", "compact@b")], Some("compact@b")),
        (
            vec![header("Via", "x"), header("Call-ID", "first"), header("Call-ID", "second")],
            Some("first"),
        ),
        (vec![header("i", "compact"), header("Call-ID", "long")], Some("compact")),
        (
            vec![header("Call-Info", "<http://x>"), header("Caller-ID", "y"), header("ID", "z")],
            None,
        ),
        (vec![header("Call-ID", "  "), header("Call-ID", "later")], None),
        (vec![], None),
    ];
    for (headers, expected) in cases {
        assert_eq!(sip_call_id(&headers), expected, "{headers:?}");
    }
    // Both events of one pending call give the same key.
    let realtime = parse(&json!({"id": "evt_1", "type": "realtime.call.incoming", "created_at": 1,
        "data": {"call_id": "rtc_1", "sip_headers": invite()}}))
    .unwrap();
    let live = parse(&json!({"id": "evt_2", "type": "live.transport.incoming", "created_at": 1,
        "data": {"type": "sip", "session_id": "live_1", "sip_headers": invite()}}))
    .unwrap();
    let key =
        |event: &WebhookEvent| event.sip_invite().and_then(SipInvite::call_id).map(str::to_owned);
    assert_eq!(key(&realtime), Some("c0ffee@pbx.example.com".to_owned()));
    assert_eq!(key(&realtime), key(&live));
}

#[test]
fn ids_are_kept_exactly_but_only_when_safe_in_a_path() {
    let longest = "r".repeat(ID_MAX_CHARS);
    let too_long = "r".repeat(ID_MAX_CHARS + 1);
    for accepted in
        ["rtc_479a275623b54bdb9b6fbae2f7cbd408", "live_1", "a.b", "...", "rtc_é", &longest]
    {
        assert_eq!(RealtimeCallId::new(accepted).unwrap().as_str(), accepted);
        assert_eq!(LiveSessionId::new(accepted).unwrap().to_string(), accepted);
    }
    let refused: Vec<(&str, IdError)> = vec![
        ("", IdError::Empty),
        (&too_long, IdError::TooLong { chars: ID_MAX_CHARS + 1, max: ID_MAX_CHARS }),
        ("rtc_1/reject", IdError::UnsafeChar('/')),
        ("..\\admin", IdError::UnsafeChar('\\')),
        ("rtc_1?x=1", IdError::UnsafeChar('?')),
        ("rtc_1#x", IdError::UnsafeChar('#')),
        ("rtc_1%2Freject", IdError::UnsafeChar('%')),
        ("rtc 1", IdError::UnsafeChar(' ')),
        ("rtc_1\n", IdError::UnsafeChar('\n')),
        ("rtc_1\t", IdError::UnsafeChar('\t')),
        ("rtc_\u{0}", IdError::UnsafeChar('\u{0}')),
        ("rtc_\u{7f}", IdError::UnsafeChar('\u{7f}')),
        ("rtc_\u{2028}", IdError::UnsafeChar('\u{2028}')),
        (".", IdError::DotSegment),
        ("..", IdError::DotSegment),
    ];
    for (id, error) in refused {
        assert_eq!(RealtimeCallId::new(id), Err(error.clone()), "{id:?}");
        assert_eq!(LiveSessionId::new(id), Err(error), "{id:?}");
    }
    assert_eq!(
        IdError::TooLong { chars: 129, max: 128 }.to_string(),
        "the id is 129 characters long, over the limit of 128"
    );
    assert_eq!(
        IdError::DotSegment.to_string(),
        "the id is a dot segment, which a URL path would resolve away"
    );
}

// ---- Call controls ----------------------------------------------------------

fn rtc() -> RealtimeCallId {
    RealtimeCallId::new("rtc_479a").unwrap()
}

fn live() -> LiveSessionId {
    LiveSessionId::new("live_9b2").unwrap()
}

/// Each control's method, path and body, as sent.
#[test]
fn every_control_has_its_path_and_body() {
    let cases: Vec<(ControlRequest, CallAction, &str, Option<Value>)> = vec![
        (
            rtc().accept(json!({"model": "gpt-realtime", "instructions": "Be brief."})).unwrap(),
            CallAction::Accept,
            "/v1/realtime/calls/rtc_479a/accept",
            Some(json!({"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."})),
        ),
        (
            rtc()
                .accept(json!({"type": "realtime", "audio": {"output": {"voice": "marin"}}}))
                .unwrap(),
            CallAction::Accept,
            "/v1/realtime/calls/rtc_479a/accept",
            Some(json!({"type": "realtime", "audio": {"output": {"voice": "marin"}}})),
        ),
        (
            // Without a status, OpenAI answers 603 Decline.
            rtc().reject(None).unwrap(),
            CallAction::Reject,
            "/v1/realtime/calls/rtc_479a/reject",
            Some(json!({})),
        ),
        (
            rtc().reject(Some(486)).unwrap(),
            CallAction::Reject,
            "/v1/realtime/calls/rtc_479a/reject",
            Some(json!({"status_code": 486})),
        ),
        (
            rtc().refer("tel:+14155550123").unwrap(),
            CallAction::Refer,
            "/v1/realtime/calls/rtc_479a/refer",
            Some(json!({"target_uri": "tel:+14155550123"})),
        ),
        (rtc().hangup(), CallAction::Hangup, "/v1/realtime/calls/rtc_479a/hangup", None),
        (
            live()
                .accept(json!({"model": "gpt-live-1", "instructions": "Be brief.",
                "audio": {"output": {"voice": "marin"}}}))
                .unwrap(),
            CallAction::Accept,
            "/v1/live/sessions/live_9b2/accept",
            Some(json!({"session": {"type": "live", "model": "gpt-live-1",
                "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}})),
        ),
        (
            live().accept(json!({"type": "live", "model": "gpt-live-1"})).unwrap(),
            CallAction::Accept,
            "/v1/live/sessions/live_9b2/accept",
            Some(json!({"session": {"type": "live", "model": "gpt-live-1"}})),
        ),
        (
            live().reject(486).unwrap(),
            CallAction::Reject,
            "/v1/live/sessions/live_9b2/reject",
            Some(json!({"status_code": 486})),
        ),
        (
            live().refer("sip:agent@example.com").unwrap(),
            CallAction::Refer,
            "/v1/live/sessions/live_9b2/refer",
            Some(json!({"target_uri": "sip:agent@example.com"})),
        ),
        (live().hangup(), CallAction::Hangup, "/v1/live/sessions/live_9b2/hangup", None),
    ];
    for (request, action, path, body) in cases {
        assert_eq!(request.method, "POST", "{path}");
        assert_eq!(request.action, action, "{path}");
        assert_eq!(request.path, path);
        assert!(request.path.ends_with(action.as_str()));
        assert_eq!(request.body, body, "{path}");
        assert_eq!(
            request.body_json().map(|text| serde_json::from_str::<Value>(&text).unwrap()),
            body
        );
    }
    assert_eq!(rtc().hangup().body_json(), None);
    assert_eq!(DEFAULT_REALTIME_REJECT_STATUS, 603);
}

#[test]
fn a_session_config_is_refused_before_openai_would_refuse_it() {
    let cases: Vec<(Result<ControlRequest, ControlError>, &str)> = vec![
        (rtc().accept(json!("gpt-realtime")), "the session config must be a JSON object"),
        (live().accept(json!(null)), "the session config must be a JSON object"),
        (
            rtc().accept(json!({"type": "live"})),
            "the session config's `type` is \"live\", not \"realtime\"",
        ),
        (
            rtc().accept(json!({"type": null})),
            "the session config's `type` is null, not \"realtime\"",
        ),
        (
            live().accept(json!({"type": "realtime", "model": "gpt-live-1"})),
            "the session config's `type` is \"realtime\", not \"live\"",
        ),
        (
            rtc().accept(json!({"session": {"type": "realtime"}})),
            "the session config holds `session`; pass the config itself, it is wrapped as needed",
        ),
        (
            live().accept(json!({"session": {"type": "live", "model": "gpt-live-1"}})),
            "the session config holds `session`; pass the config itself, it is wrapped as needed",
        ),
        (
            live().accept(json!({"type": "live"})),
            "a Live session config needs `model`, a non-empty string",
        ),
        (
            live().accept(json!({"model": ""})),
            "a Live session config needs `model`, a non-empty string",
        ),
        (
            live().accept(json!({"model": 1})),
            "a Live session config needs `model`, a non-empty string",
        ),
        (
            live().accept(json!({"model": "gpt-live-1",
                "audio": {"format": {"type": "audio/pcmu", "rate": 8000}}})),
            "a Live session config for SIP must not set `audio.format`: SIP negotiates the media format",
        ),
        (
            live().accept(json!({"model": "gpt-live-1", "audio": {"format": null}})),
            "a Live session config for SIP must not set `audio.format`: SIP negotiates the media format",
        ),
    ];
    for (result, text) in cases {
        assert_eq!(result.unwrap_err().to_string(), text);
    }
}

#[test]
fn a_reject_sends_only_a_sip_failure_status() {
    for (status, accepted) in [
        (0, false),
        (200, false),
        (299, false),
        (300, true),
        (486, true),
        (603, true),
        (699, true),
        (700, false),
    ] {
        let expected = if accepted { Ok(()) } else { Err(ControlError::RejectStatus(status)) };
        assert_eq!(live().reject(status).map(|_| ()), expected, "live {status}");
        assert_eq!(rtc().reject(Some(status)).map(|_| ()), expected, "realtime {status}");
    }
    assert_eq!(
        ControlError::RejectStatus(200).to_string(),
        "SIP status 200 cannot reject a call; use 300 to 699"
    );
}

#[test]
fn a_refer_target_is_a_tel_or_sip_uri_and_nothing_more() {
    let longest = format!("sip:{}", "a".repeat(TARGET_URI_MAX_CHARS - 4));
    let too_long = format!("{longest}a");
    for accepted in [
        "tel:+14155550123",
        "sip:agent@example.com",
        "sips:agent@example.com;transport=tls",
        "SIP:agent@example.com",
        "sip:queue@example.com?X-Reason=transfer",
        &longest,
    ] {
        assert!(rtc().refer(accepted).is_ok(), "{accepted}");
        assert!(live().refer(accepted).is_ok(), "{accepted}");
    }
    let refused: Vec<(&str, TargetUriError)> = vec![
        ("", TargetUriError::Blank),
        ("   ", TargetUriError::Blank),
        (
            &too_long,
            TargetUriError::TooLong { chars: TARGET_URI_MAX_CHARS + 1, max: TARGET_URI_MAX_CHARS },
        ),
        (" tel:+1415", TargetUriError::UnsafeChar(' ')),
        ("tel:+1 415", TargetUriError::UnsafeChar(' ')),
        ("sip:a@b\r\nX-Evil: 1", TargetUriError::UnsafeChar('\r')),
        ("sip:a@b\u{0}", TargetUriError::UnsafeChar('\u{0}')),
        ("sip:a@b>;x=1", TargetUriError::UnsafeChar('>')),
        ("<sip:a@b>", TargetUriError::UnsafeChar('<')),
        ("https://example.com", TargetUriError::Scheme),
        ("+14155550123", TargetUriError::Scheme),
        ("te", TargetUriError::Scheme),
        ("tel:", TargetUriError::NothingAfterScheme),
        ("sips:", TargetUriError::NothingAfterScheme),
    ];
    for (target, error) in refused {
        assert_eq!(rtc().refer(target), Err(ControlError::TargetUri(error.clone())), "{target:?}");
        assert_eq!(live().refer(target), Err(ControlError::TargetUri(error)), "{target:?}");
    }
    assert_eq!(
        rtc().refer("https://x").unwrap_err().to_string(),
        "the refer target must be a tel:, sip: or sips: URI"
    );
    assert_eq!(live().refer(" ").unwrap_err().to_string(), "the refer target is blank");
}

#[test]
fn a_control_answer_status_reads_as_done_not_ours_or_retry() {
    for (status, outcome) in [
        (200, ControlOutcome::Ok),
        (201, ControlOutcome::Ok),
        (204, ControlOutcome::Ok),
        (299, ControlOutcome::Ok),
        (400, ControlOutcome::NotOurs),
        (401, ControlOutcome::NotOurs),
        (404, ControlOutcome::NotOurs),
        (409, ControlOutcome::NotOurs),
        (410, ControlOutcome::NotOurs),
        (499, ControlOutcome::NotOurs),
        (429, ControlOutcome::Retry),
        (500, ControlOutcome::Retry),
        (503, ControlOutcome::Retry),
        (599, ControlOutcome::Retry),
        (0, ControlOutcome::Other),
        (100, ControlOutcome::Other),
        (302, ControlOutcome::Other),
        (600, ControlOutcome::Other),
    ] {
        assert_eq!(classify_control_status(status), outcome, "{status}");
    }
}

// ---- Fuzz harness -----------------------------------------------------------

/// A request in the harness's format, signed with its secret when asked.
fn fuzz_input(body: &str, signature: Option<&str>) -> Vec<u8> {
    let fuzz = WebhookVerifier::new(FUZZ_SECRET).unwrap();
    let timestamp = FUZZ_NOW.to_string();
    let real = fuzz.sign("wh_fz", &timestamp, body.as_bytes());
    let signature = signature.unwrap_or(&real);
    format!(
        "Webhook-Id: wh_fz\nwebhook-timestamp: {timestamp}\nwebhook-signature: {signature}\n\n{body}"
    )
    .into_bytes()
}

#[test]
fn the_fuzz_harness_accepts_signed_requests_and_survives_noise() {
    // The harness's own format carries a request that verifies, so the
    // signed path is reached.
    let fuzz = WebhookVerifier::new(FUZZ_SECRET).unwrap();
    let input = String::from_utf8(fuzz_input(REALTIME_BODY, None)).unwrap();
    let (head, body) = input.split_once("\n\n").unwrap();
    let signature = head.lines().nth(2).unwrap().trim_start_matches("webhook-signature: ");
    let timestamp = FUZZ_NOW.to_string();
    let sent = [
        ("webhook-id", "wh_fz"),
        ("webhook-timestamp", &timestamp),
        ("webhook-signature", signature),
    ];
    assert!(fuzz.verify_and_parse(&sent, body.as_bytes(), FUZZ_NOW).is_ok());
    // A signed call, a signed body that is no event, and forgeries.
    for body in [REALTIME_BODY, r#"{"type":"realtime.call.incoming"}"#, "not json", ""] {
        fuzz_webhook(&fuzz_input(body, None));
        fuzz_webhook(&fuzz_input(body, Some("v1,AAAA v2,BBBB")));
    }
    fuzz_webhook(b"");
    fuzz_webhook(b"\n\n\n");
    fuzz_webhook(b"webhook-id\nwebhook-timestamp: x\n\n{}");
    // Seeded mutations of signed requests, as every provider's harness runs in
    // the test suite (`crate::realtime::mutate`).
    let live = r#"{"id":"evt_2","type":"live.transport.incoming","created_at":1,"data":{"type":"sip","session_id":"live_1","sip_headers":[{"name":"i","value":"x@y"},{"name":"Call-ID","value":"z"}],"sip_media_security":"srtp"}}"#;
    for body in [REALTIME_BODY, live] {
        let seed = String::from_utf8(fuzz_input(body, None)).unwrap();
        crate::realtime::mutate::never_panics(&seed, |data| {
            fuzz_webhook(data);
            data.len()
        });
    }
}
