use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use turngate_core::{AudioChunk, ItemId, MarkId, SessionConfig, TransportCommand};

use super::*;
use crate::tests::replay;
use crate::transport::{
    Decoded, Frame, HangUpSupport, MarkSupport, Notice, OutFrame, SignatureError, Transport,
    WireErrorKind, b64_encode_into,
};

/// The stream of the transcript.
const SID: &str = "MZ00000000000000000000000000000001";
/// The stream of the fuzz preamble, which the unit tests start with.
const PRE: &str = SID;

fn started(now: Instant) -> TwilioTransport {
    let mut t = TwilioTransport::new(TwilioConfig::default(), now);
    let mut out = Decoded::default();
    for frame in FUZZ_PREAMBLE {
        t.on_frame(now, Frame::Text(frame), &mut out).unwrap();
    }
    t
}

fn feed(t: &mut TwilioTransport, text: &str) -> (Result<(), WireErrorKind>, Decoded) {
    let mut out = Decoded::default();
    let result = t.on_frame(Instant::now(), Frame::Text(text), &mut out).map_err(|e| e.kind());
    (result, out)
}

fn media(sid: &str, payload: &str) -> String {
    format!(
        r#"{{"event":"media","streamSid":"{sid}","media":{{"track":"inbound","chunk":"1","timestamp":"0","payload":"{payload}"}}}}"#
    )
}

#[test]
fn barge_in_transcript_truncates_at_the_echoed_marks() {
    let replayed = replay::run(
        "twilio/conversation_barge_in.jsonl",
        |now| Box::new(TwilioTransport::new(TwilioConfig::default(), now)),
        SessionConfig::default(),
        None,
    );
    let call = replayed.transport.call().unwrap();
    assert_eq!(call.call_id, "CA00000000000000000000000000000001");
    assert_eq!(call.stream_id.as_deref(), Some(SID));
    assert_eq!(call.custom.get("tenant").map(String::as_str), Some("t1"));
    assert_eq!(replayed.transport.counters().media_in, 3);
    assert!(replayed.session.unwrap().is_ended());
}

#[test]
fn capabilities_are_declared() {
    let t = TwilioTransport::new(TwilioConfig::default(), Instant::now());
    let caps = t.capabilities();
    assert_eq!(caps.marks, MarkSupport::Confirmed);
    assert_eq!(caps.hang_up, HangUpSupport::CloseSocket);
    assert!(caps.clear && caps.dtmf && !caps.playback_ended);
    assert_eq!(caps.inbound, Some(turngate_audio::AudioFormat::Ulaw));
    assert!(t.call().is_none());
}

#[test]
fn bad_frames_are_typed_errors_and_counted() {
    let now = Instant::now();
    let mut fresh = TwilioTransport::new(TwilioConfig::default(), now);
    // Media before start.
    assert_eq!(feed(&mut fresh, &media(PRE, "//8=")).0, Err(WireErrorKind::OutOfOrder));
    assert_eq!(fresh.counters().out_of_order, 1);

    let mut t = started(now);
    let cases: &[(&str, WireErrorKind)] = &[
        ("not json", WireErrorKind::Malformed),
        ("{\"event\":", WireErrorKind::Malformed),
        ("[1,2,3]", WireErrorKind::Malformed),
        (r#"{"streamSid":"x"}"#, WireErrorKind::Malformed),
        (r#"{"event":42}"#, WireErrorKind::Malformed),
        (
            r#"{"event":"media","streamSid":"MZ00000000000000000000000000000001"}"#,
            WireErrorKind::Malformed,
        ),
        (r#"{"event":"mark","mark":{}}"#, WireErrorKind::Malformed),
        (r#"{"event":"dtmf","dtmf":{"digit":"x"}}"#, WireErrorKind::Malformed),
        (r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#, WireErrorKind::Malformed),
        (r#"{"event":"transcription","text":"hi"}"#, WireErrorKind::Unknown),
        (
            r#"{"event":"start","start":{"streamSid":"MZ2","callSid":"CA2"}}"#,
            WireErrorKind::OutOfOrder,
        ),
        (r#"{"event":"connected"}"#, WireErrorKind::OutOfOrder),
    ];
    for (frame, kind) in cases {
        assert_eq!(feed(&mut t, frame).0, Err(*kind), "{frame}");
    }
    assert_eq!(feed(&mut t, &media(PRE, "not base64!")).0, Err(WireErrorKind::BadAudio));
    assert_eq!(feed(&mut t, &media(PRE, "")).0, Err(WireErrorKind::BadAudio));
    assert_eq!(feed(&mut t, &media("MZ-other", "//8=")).0, Err(WireErrorKind::WrongStream));
    let big = media(PRE, &"/".repeat(200_000));
    assert_eq!(feed(&mut t, &big).0, Err(WireErrorKind::Oversized));
    let mut out = Decoded::default();
    let binary = t.on_frame(now, Frame::Binary(&[0xff; 160]), &mut out).map_err(|e| e.kind());
    assert_eq!(binary, Err(WireErrorKind::Binary));

    let c = t.counters();
    assert_eq!(
        (
            c.malformed,
            c.unknown_events,
            c.out_of_order,
            c.bad_audio,
            c.wrong_stream,
            c.oversized,
            c.binary
        ),
        (9, 1, 2, 2, 1, 1, 1)
    );
    // None of it hurt the leg: good media still flows.
    let (result, out) = feed(&mut t, &media(PRE, "//8="));
    assert_eq!(result, Ok(()));
    assert_eq!(out.inputs.len(), 1);

    // After stop, everything is out of order.
    assert_eq!(feed(&mut t, &format!(r#"{{"event":"stop","streamSid":"{PRE}"}}"#)).0, Ok(()));
    assert_eq!(feed(&mut t, &media(PRE, "//8=")).0, Err(WireErrorKind::OutOfOrder));
}

#[test]
fn a_start_in_another_format_is_fatal() {
    let mut t = TwilioTransport::new(TwilioConfig::default(), Instant::now());
    let start = r#"{"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/l16","sampleRate":16000,"channels":1}}}"#;
    let mut out = Decoded::default();
    let error = t.on_frame(Instant::now(), Frame::Text(start), &mut out).unwrap_err();
    assert!(error.is_fatal());
    assert!(t.call().is_none());
}

#[test]
fn numbers_as_strings_and_escaped_strings_are_accepted() {
    let mut t = TwilioTransport::new(TwilioConfig::default(), Instant::now());
    let start = r#"{"event":"start","start":{"streamSid":"MZ\/1","callSid":"CA1","customParameters":{"n":7,"s":"a\"b"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":"1"}}}"#;
    assert_eq!(feed(&mut t, start).0, Ok(()));
    let call = t.call().unwrap();
    assert_eq!(call.stream_id.as_deref(), Some("MZ/1"));
    assert_eq!(call.custom.get("n").map(String::as_str), Some("7"));
    assert_eq!(call.custom.get("s").map(String::as_str), Some("a\"b"));
    // An escaped payload (`\/`) still decodes.
    let (result, out) =
        feed(&mut t, r#"{"event":"media","streamSid":"MZ/1","media":{"payload":"\/\/8="}}"#);
    assert_eq!(result, Ok(()));
    assert_eq!(out.inputs.len(), 1);
}

#[test]
fn outbound_track_media_is_ignored_not_played_as_the_caller() {
    let mut t = started(Instant::now());
    let frame = format!(
        r#"{{"event":"media","streamSid":"{PRE}","media":{{"track":"outbound","payload":"//8="}}}}"#
    );
    let (result, out) = feed(&mut t, &frame);
    assert_eq!(result, Ok(()));
    assert!(out.inputs.is_empty());
    assert_eq!(t.counters().ignored, 1);
}

#[test]
fn play_can_be_split_into_bounded_media_messages() {
    let now = Instant::now();
    let config =
        TwilioConfig { max_media: Some(Duration::from_millis(20)), ..TwilioConfig::default() };
    let mut t = TwilioTransport::new(config, now);
    let mut out = Decoded::default();
    for frame in FUZZ_PREAMBLE {
        t.on_frame(now, Frame::Text(frame), &mut out).unwrap();
    }
    let mut frames = Vec::new();
    let audio = AudioChunk::new(vec![0x7f; 400], Duration::from_millis(50));
    t.encode(
        now,
        TransportCommand::Play { item_id: ItemId::from("i"), audio, mark: MarkId(1) },
        &mut frames,
    );
    let events: Vec<String> = frames
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_str(f.text().unwrap()).unwrap();
            let payload =
                v["media"]["payload"].as_str().map(|p| crate::b64_decode(p).unwrap().len());
            format!(
                "{}{}",
                v["event"].as_str().unwrap(),
                payload.map(|n| format!(" {n}")).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(events, ["media 160", "media 160", "media 80", "mark"]);
    assert_eq!(t.playout().sent, Duration::from_millis(50));
}

#[test]
fn commands_before_start_are_dropped_and_hang_up_closes() {
    let now = Instant::now();
    let mut t = TwilioTransport::new(TwilioConfig::default(), now);
    let mut frames = Vec::new();
    t.encode(now, TransportCommand::Clear, &mut frames);
    assert!(frames.is_empty());
    assert_eq!(t.counters().commands_dropped, 1);
    t.encode(now, TransportCommand::HangUp, &mut frames);
    assert_eq!(frames, [OutFrame::Close]);
}

#[test]
fn a_missing_start_times_out() {
    let now = Instant::now();
    let mut t = TwilioTransport::new(TwilioConfig::default(), now);
    let deadline = t.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(5));
    let mut out = Decoded::default();
    t.on_timeout(deadline - Duration::from_millis(1), &mut out);
    assert!(out.is_empty());
    t.on_timeout(deadline, &mut out);
    assert_eq!(out.replies, [OutFrame::Close]);
    assert_eq!(out.notices, [Notice::StartTimedOut]);
    assert_eq!(t.poll_timeout(), None);
}

// ---- Signatures -------------------------------------------------------------

/// The signature computed here independently, with the HMAC crate and the
/// algorithm as Twilio documents it.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    let mut out = String::new();
    b64_encode_into(&mac.finalize().into_bytes(), &mut out);
    out
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const URL: &str = "https://bridge.example.com/twilio/voice?tenant=t1";
const PARAMS: &[(&str, &str)] = &[
    ("CallSid", "CA00000000000000000000000000000001"),
    ("From", "+15550001111"),
    ("To", "+15550002222"),
    ("AccountSid", "AC00000000000000000000000000000001"),
    ("Digits", "1234"),
];

#[test]
fn valid_twilio_signatures_are_accepted() {
    let validator = RequestValidator::new(TOKEN);
    let signature = twilio_signature(TOKEN, URL, PARAMS);
    assert_eq!(validator.sign(URL, PARAMS), signature);
    assert_eq!(validator.validate(URL, PARAMS, Some(&signature)), Ok(()));
    // Parameter order does not matter.
    let mut reversed = PARAMS.to_vec();
    reversed.reverse();
    assert_eq!(validator.validate(URL, &reversed, Some(&signature)), Ok(()));
    // Twilio may have signed with the default port, or without the one we see.
    let with_port = "https://bridge.example.com:443/twilio/voice?tenant=t1";
    assert_eq!(validator.validate(with_port, PARAMS, Some(&signature)), Ok(()));
    let signed_with_port = twilio_signature(TOKEN, with_port, PARAMS);
    assert_eq!(validator.validate(URL, PARAMS, Some(&signed_with_port)), Ok(()));
}

#[test]
fn forged_twilio_signatures_are_rejected() {
    let validator = RequestValidator::new(TOKEN);
    let signature = twilio_signature(TOKEN, URL, PARAMS);
    let mut tampered = PARAMS.to_vec();
    tampered[1] = ("From", "+15559999999");
    assert_eq!(validator.validate(URL, &tampered, Some(&signature)), Err(SignatureError::Mismatch));
    let other_url = "https://bridge.example.com/twilio/voice?tenant=t2";
    assert_eq!(
        validator.validate(other_url, PARAMS, Some(&signature)),
        Err(SignatureError::Mismatch)
    );
    let forged = twilio_signature("not the token", URL, PARAMS);
    assert_eq!(validator.validate(URL, PARAMS, Some(&forged)), Err(SignatureError::Mismatch));
    // A dropped parameter.
    assert_eq!(
        validator.validate(URL, &PARAMS[1..], Some(&signature)),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        validator.validate(URL, PARAMS, None),
        Err(SignatureError::Missing("X-Twilio-Signature"))
    );
    assert_eq!(
        validator.validate(URL, PARAMS, Some("  ")),
        Err(SignatureError::Missing("X-Twilio-Signature"))
    );
    assert_eq!(
        validator.validate(URL, PARAMS, Some("%%%")),
        Err(SignatureError::BadEncoding("X-Twilio-Signature"))
    );
    // The signature of another length, and a truncated one.
    assert_eq!(validator.validate(URL, PARAMS, Some("AAAA")), Err(SignatureError::Mismatch));
    assert_eq!(
        validator.validate(URL, PARAMS, Some(&signature[..20])),
        Err(SignatureError::Mismatch)
    );
    assert!(!format!("{validator:?}").contains(TOKEN));
}

#[test]
fn json_webhooks_check_the_body_hash() {
    let validator = RequestValidator::new(TOKEN);
    let body = br#"{"CallSid":"CA1","StreamEvent":"stream-started"}"#;
    let hash: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let url = format!("https://bridge.example.com/twilio/status?bodySHA256={hash}");
    let signature = twilio_signature(TOKEN, &url, &[]);
    assert_eq!(validator.validate_json(&url, body, Some(&signature)), Ok(()));
    // Another body under the same signed URL.
    assert_eq!(
        validator.validate_json(&url, b"{}", Some(&signature)),
        Err(SignatureError::BodyMismatch)
    );
    // A URL whose hash was changed to match a forged body.
    let forged_hash: String = Sha256::digest(b"{}").iter().map(|b| format!("{b:02x}")).collect();
    let forged_url = format!("https://bridge.example.com/twilio/status?bodySHA256={forged_hash}");
    assert_eq!(
        validator.validate_json(&forged_url, b"{}", Some(&signature)),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        validator.validate_json("https://bridge.example.com/twilio/status", body, Some(&signature)),
        Err(SignatureError::Missing("bodySHA256"))
    );
}

#[test]
fn upgrades_are_checked_against_the_wss_url() {
    let validator = RequestValidator::new(TOKEN);
    let signature = twilio_signature(TOKEN, "wss://bridge.example.com/twilio", &[]);
    // The server behind a TLS-terminating proxy sees https://.
    assert_eq!(
        validator.validate_upgrade("https://bridge.example.com/twilio", Some(&signature)),
        Ok(())
    );
    assert_eq!(
        validator.validate_upgrade("wss://bridge.example.com/twilio", Some(&signature)),
        Ok(())
    );
    // Checking the https:// URL as is fails: the trap this helper exists for.
    assert_eq!(
        validator.validate("https://bridge.example.com/twilio", &[], Some(&signature)),
        Err(SignatureError::Mismatch)
    );
}

// ---- TwiML ------------------------------------------------------------------

#[test]
fn connect_stream_twiml_is_rendered_and_escaped() {
    let twiml = ConnectStream::new("wss://bridge.example.com/twilio")
        .name("call <1>")
        .status_callback("https://bridge.example.com/stream-status?a=1&b=2", Some("POST"))
        .parameter("tenant", "t1")
        .parameter("greeting", "Hi & \"welcome\"\n's")
        .render()
        .unwrap();
    assert_eq!(
        twiml,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect>"#,
            r#"<Stream url="wss://bridge.example.com/twilio" name="call &lt;1&gt;" "#,
            r#"statusCallback="https://bridge.example.com/stream-status?a=1&amp;b=2" statusCallbackMethod="POST">"#,
            r#"<Parameter name="tenant" value="t1"/>"#,
            r#"<Parameter name="greeting" value="Hi &amp; &quot;welcome&quot;&#10;&apos;s"/>"#,
            r#"</Stream></Connect></Response>"#
        )
    );
    let bare = ConnectStream::new("wss://b.example.com/twilio").render().unwrap();
    assert!(bare.ends_with(r#"<Stream url="wss://b.example.com/twilio"/></Connect></Response>"#));
}

#[test]
fn connect_stream_refuses_what_twilio_would_drop() {
    assert_eq!(
        ConnectStream::new("https://b.example.com/twilio").render(),
        Err(TwimlError::NotWss)
    );
    assert_eq!(
        ConnectStream::new("wss://b.example.com/twilio?token=x").render(),
        Err(TwimlError::QueryInUrl)
    );
    let bad = ConnectStream::new("wss://b.example.com/twilio").parameter("k", "a\u{1}b").render();
    assert_eq!(bad, Err(TwimlError::BadCharacter("value")));
}

#[test]
fn forms_decode_plus_and_percent_and_keep_bad_escapes() {
    let form = parse_form("CallSid=CA1&From=%2B1555+0100&Bad=%zz&Empty=");
    assert_eq!(
        form,
        vec![
            ("CallSid".to_owned(), "CA1".to_owned()),
            ("From".to_owned(), "+1555 0100".to_owned()),
            ("Bad".to_owned(), "%zz".to_owned()),
            ("Empty".to_owned(), String::new()),
        ]
    );
}

#[test]
fn the_webhook_harness_verifies_only_the_signature_computed_for_the_url_and_form() {
    let validator = RequestValidator::new("fuzz-auth-token");
    let url = "https://bridge.example.com/twilio/voice?tenant=t1";
    let signature = validator.sign(url, &[("CallSid", "CA1"), ("From", "+15550100")]);
    fuzz_webhook(format!("{url}\n{signature}\nCallSid=CA1&From=%2B15550100").as_bytes());
    fuzz_webhook(b"https://x\nAAAA\nCallSid=CA1");
    fuzz_webhook(b"");
}
