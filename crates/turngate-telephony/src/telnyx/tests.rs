use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::{Signer, SigningKey};
use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{AudioChunk, Input, ItemId, MarkId, SessionConfig, TransportCommand};

use super::*;
use crate::tests::replay;
use crate::transport::{
    Decoded, Frame, HangUpSupport, Limits, MarkSupport, OutFrame, SignatureError, Transport,
    WireErrorKind, b64_encode_into,
};

fn hook(body: &[u8]) -> Option<Input> {
    decode_webhook(body, &Limits::default()).unwrap().input
}

#[test]
fn transcript_reorders_media_and_routes_webhooks() {
    let replayed = replay::run(
        "telnyx/conversation_reorder_webhooks.jsonl",
        |now| Box::new(TelnyxTransport::new(TelnyxConfig::default(), now)),
        SessionConfig::default(),
        Some(&hook),
    );
    let call = replayed.transport.call().unwrap();
    assert_eq!(call.call_id, "v3:u5OAKGEPT3Dx8SZSSDRWEMdNH2OripQhO");
    assert_eq!(call.stream_id.as_deref(), Some("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    assert_eq!(call.from.as_deref(), Some("+15550001111"));
    assert_eq!(call.custom.get("tenant").map(String::as_str), Some("t1"));
    assert_eq!(call.client_state.as_deref(), Some("eyJ0ZW5hbnQiOiJ0MSJ9"));
    assert!(replayed.session.unwrap().is_ended());
}

fn start(encoding: &str, rate: u32) -> String {
    format!(
        r#"{{"event":"start","sequence_number":"1","stream_id":"s1","start":{{"call_control_id":"v3:c1","media_format":{{"encoding":"{encoding}","sample_rate":{rate},"channels":1}}}}}}"#
    )
}

fn leg(config: TelnyxConfig, encoding: &str, rate: u32) -> TelnyxTransport {
    let now = Instant::now();
    let mut t = TelnyxTransport::new(config, now);
    t.on_frame(now, Frame::Text(&start(encoding, rate)), &mut Decoded::default()).unwrap();
    t
}

fn feed(t: &mut TelnyxTransport, now: Instant, text: &str) -> (Result<(), WireErrorKind>, Decoded) {
    let mut out = Decoded::default();
    let result = t.on_frame(now, Frame::Text(text), &mut out).map_err(|e| e.kind());
    (result, out)
}

fn media(chunk: u64, bytes: &[u8]) -> String {
    let mut payload = String::new();
    b64_encode_into(bytes, &mut payload);
    format!(
        r#"{{"event":"media","stream_id":"s1","media":{{"track":"inbound","chunk":"{chunk}","payload":"{payload}"}}}}"#
    )
}

#[test]
fn l16_is_big_endian_on_the_wire_and_little_endian_inside() {
    let now = Instant::now();
    let mut t = leg(TelnyxConfig::default(), "L16", 16000);
    assert_eq!(t.capabilities().inbound, Some(AudioFormat::Pcm16(SampleRate::Hz16000)));
    let (result, out) = feed(&mut t, now, &media(1, &[0x12, 0x34, 0xab, 0xcd]));
    assert_eq!(result, Ok(()));
    let [Input::CallerAudio(audio)] = out.inputs.as_slice() else { panic!("{:?}", out.inputs) };
    assert_eq!(audio.payload, [0x34, 0x12, 0xcd, 0xab]);
    // An odd number of bytes is not 16-bit audio.
    assert_eq!(feed(&mut t, now, &media(2, &[1, 2, 3])).0, Err(WireErrorKind::BadAudio));

    let mut frames = Vec::new();
    let audio = AudioChunk::new(vec![0x34, 0x12], Duration::from_micros(62));
    t.encode(
        now,
        TransportCommand::Play { item_id: ItemId::from("i"), audio, mark: MarkId(7) },
        &mut frames,
    );
    let sent: serde_json::Value = serde_json::from_str(frames[0].text().unwrap()).unwrap();
    assert_eq!(
        crate::b64_decode(sent["media"]["payload"].as_str().unwrap()).unwrap(),
        [0x12, 0x34]
    );
    assert_eq!(frames[1].text(), Some(r#"{"event":"mark","mark":{"name":"tg7"}}"#));
}

#[test]
fn codecs_we_cannot_carry_are_refused_at_start() {
    for (encoding, rate) in
        [("G722", 16000), ("OPUS", 48000), ("AMR-WB", 16000), ("L16", 48000), ("PCMU", 16000)]
    {
        let mut t = TelnyxTransport::new(TelnyxConfig::default(), Instant::now());
        let mut out = Decoded::default();
        let error =
            t.on_frame(Instant::now(), Frame::Text(&start(encoding, rate)), &mut out).unwrap_err();
        assert!(error.is_fatal(), "{encoding}");
        assert!(t.call().is_none());
    }
    let pcma = leg(TelnyxConfig::default(), "PCMA", 8000);
    assert_eq!(pcma.capabilities().inbound, Some(AudioFormat::Alaw));
    let config = TelnyxConfig { outbound: Some(TelnyxCodec::Pcmu), ..TelnyxConfig::default() };
    let mixed = leg(config, "PCMA", 8000);
    assert_eq!(mixed.capabilities().outbound, Some(AudioFormat::Ulaw));
    let caps = mixed.capabilities();
    assert_eq!(
        (caps.marks, caps.hang_up, caps.playback_ended),
        (MarkSupport::Confirmed, HangUpSupport::ProviderApi, true)
    );
}

#[test]
fn the_reorder_window_skips_a_gap_when_full() {
    let now = Instant::now();
    let config = TelnyxConfig { reorder_window: 2, ..TelnyxConfig::default() };
    let mut t = leg(config, "PCMU", 8000);
    let frame = [0xffu8; 160];
    assert_eq!(feed(&mut t, now, &media(1, &frame)).1.inputs.len(), 1);
    // 2 is missing; 3 and 4 wait; 5 overflows the window: 2 is given up.
    assert!(feed(&mut t, now, &media(3, &frame)).1.inputs.is_empty());
    assert!(feed(&mut t, now, &media(4, &frame)).1.inputs.is_empty());
    assert_eq!(feed(&mut t, now, &media(5, &frame)).1.inputs.len(), 3);
    // 2 arrives too late, and 4 again is a duplicate: both dropped.
    assert!(feed(&mut t, now, &media(2, &frame)).1.inputs.is_empty());
    assert!(feed(&mut t, now, &media(4, &frame)).1.inputs.is_empty());
    let c = t.counters();
    assert_eq!((c.reordered, c.gaps_skipped, c.late_dropped), (3, 1, 2));
    assert_eq!(t.poll_timeout(), None);
    // Held frames are delivered, in order, before the stream stops.
    assert!(feed(&mut t, now, &media(7, &frame)).1.inputs.is_empty());
    let (result, out) = feed(&mut t, now, r#"{"event":"stop","stream_id":"s1"}"#);
    assert_eq!(result, Ok(()));
    assert_eq!(out.inputs.len(), 2);
    assert_eq!(out.inputs[1], Input::CallEnded);
}

#[test]
fn bad_frames_are_typed_errors_and_counted() {
    let now = Instant::now();
    let mut fresh = TelnyxTransport::new(TelnyxConfig::default(), now);
    assert_eq!(feed(&mut fresh, now, &media(1, &[0xff; 160])).0, Err(WireErrorKind::OutOfOrder));
    let mut t = leg(TelnyxConfig::default(), "PCMU", 8000);
    let cases: &[(&str, WireErrorKind)] = &[
        ("{", WireErrorKind::Malformed),
        (r#"{"event":"start","start":{"stream_id":"x"}}"#, WireErrorKind::Malformed),
        (r#"{"event":"media","media":{"chunk":"x","payload":"//8="}}"#, WireErrorKind::Malformed),
        (r#"{"event":"media","media":{"chunk":-1,"payload":"//8="}}"#, WireErrorKind::Malformed),
        (r#"{"event":"dtmf","dtmf":{"digit":"F"}}"#, WireErrorKind::Malformed),
        (
            r#"{"event":"media","stream_id":"other","media":{"payload":"//8="}}"#,
            WireErrorKind::WrongStream,
        ),
        (r#"{"event":"media","media":{"payload":"@@@"}}"#, WireErrorKind::BadAudio),
        (r#"{"event":"speaking","stream_id":"s1"}"#, WireErrorKind::Unknown),
        (r#"{"event":"start","start":{"call_control_id":"v3:2"}}"#, WireErrorKind::OutOfOrder),
    ];
    for (frame, kind) in cases {
        assert_eq!(feed(&mut t, now, frame).0, Err(*kind), "{frame}");
    }
    let mut out = Decoded::default();
    assert_eq!(
        t.on_frame(now, Frame::Binary(b"{}"), &mut out).unwrap_err().kind(),
        WireErrorKind::Binary
    );
    // A frame without a chunk number is delivered as it comes.
    let (result, out) = feed(&mut t, now, r#"{"event":"media","media":{"payload":"//8="}}"#);
    assert_eq!((result, out.inputs.len()), (Ok(()), 1));
    // A numeric chunk is accepted as well as a string.
    let (result, out) =
        feed(&mut t, now, r#"{"event":"media","media":{"chunk":1,"payload":"//8="}}"#);
    assert_eq!((result, out.inputs.len()), (Ok(()), 1));
}

#[test]
fn hang_up_goes_through_call_control() {
    let mut t = leg(TelnyxConfig::default(), "PCMU", 8000);
    let mut frames = Vec::new();
    t.encode(Instant::now(), TransportCommand::HangUp, &mut frames);
    assert_eq!(frames, [OutFrame::HangUpViaApi, OutFrame::Close]);
    frames.clear();
    t.encode(Instant::now(), TransportCommand::Clear, &mut frames);
    assert_eq!(frames[0].text(), Some(r#"{"event":"clear"}"#));
}

// ---- Webhooks -----------------------------------------------------------------

const NOW: u64 = 1_764_064_800;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Signs as Telnyx does: ed25519 over `"{timestamp}|{body}"`, base64.
fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = format!("{timestamp}|").into_bytes();
    message.extend_from_slice(body);
    let mut out = String::new();
    b64_encode_into(&key.sign(&message).to_bytes(), &mut out);
    out
}

fn verifier(key: &SigningKey) -> WebhookVerifier {
    let mut public = String::new();
    b64_encode_into(key.verifying_key().as_bytes(), &mut public);
    WebhookVerifier::from_base64(&public).unwrap()
}

const BODY: &[u8] = br#"{"data":{"record_type":"event","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","event_type":"call.playback.ended","occurred_at":"2026-11-25T10:00:00Z","payload":{"call_control_id":"v3:c1","client_state":"aGk=","status":"completed"}},"meta":{"attempt":2}}"#;

#[test]
fn valid_telnyx_signatures_are_accepted() {
    let key = key(7);
    let ts = NOW.to_string();
    let signature = sign(&key, &ts, BODY);
    let verifier = verifier(&key);
    assert_eq!(verifier.verify(Some(&signature), Some(&ts), BODY, at(NOW)), Ok(()));
    // Within the tolerance either side.
    assert_eq!(verifier.verify(Some(&signature), Some(&ts), BODY, at(NOW + 300)), Ok(()));
    assert_eq!(verifier.verify(Some(&signature), Some(&ts), BODY, at(NOW - 300)), Ok(()));
    let raw = WebhookVerifier::from_bytes(key.verifying_key().as_bytes()).unwrap();
    assert_eq!(raw.verify(Some(&signature), Some(&ts), BODY, at(NOW)), Ok(()));
}

#[test]
fn forged_telnyx_signatures_are_rejected() {
    let key = key(7);
    let ts = NOW.to_string();
    let signature = sign(&key, &ts, BODY);
    let verifier = verifier(&key);
    // The body changed, re-serialised, or signed by someone else.
    let mut tampered = BODY.to_vec();
    tampered[BODY.len() - 3] = b'3';
    assert_eq!(
        verifier.verify(Some(&signature), Some(&ts), &tampered, at(NOW)),
        Err(SignatureError::Mismatch)
    );
    let reserialised =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap()).unwrap();
    assert_ne!(reserialised, BODY);
    assert_eq!(
        verifier.verify(Some(&signature), Some(&ts), &reserialised, at(NOW)),
        Err(SignatureError::Mismatch)
    );
    let forged = sign(&self::key(8), &ts, BODY);
    assert_eq!(
        verifier.verify(Some(&forged), Some(&ts), BODY, at(NOW)),
        Err(SignatureError::Mismatch)
    );
    // The same signature under another timestamp (a replay with a fresh header).
    let later = (NOW + 10).to_string();
    assert_eq!(
        verifier.verify(Some(&signature), Some(&later), BODY, at(NOW)),
        Err(SignatureError::Mismatch)
    );
    // Signed over the body alone, as a naive implementation would.
    let bodyless = {
        let mut out = String::new();
        b64_encode_into(&key.sign(BODY).to_bytes(), &mut out);
        out
    };
    assert_eq!(
        verifier.verify(Some(&bodyless), Some(&ts), BODY, at(NOW)),
        Err(SignatureError::Mismatch)
    );
    // Too old or too far ahead.
    assert!(matches!(
        verifier.verify(Some(&signature), Some(&ts), BODY, at(NOW + 301)),
        Err(SignatureError::Stale { skew_secs: 301, tolerance_secs: 300 })
    ));
    assert!(matches!(
        verifier.verify(Some(&signature), Some(&ts), BODY, at(NOW - 301)),
        Err(SignatureError::Stale { .. })
    ));
    let strict = verifier.clone().with_tolerance(Duration::from_secs(5));
    assert!(matches!(
        strict.verify(Some(&signature), Some(&ts), BODY, at(NOW + 6)),
        Err(SignatureError::Stale { .. })
    ));
    // Missing or garbled headers.
    assert_eq!(
        verifier.verify(None, Some(&ts), BODY, at(NOW)),
        Err(SignatureError::Missing(SIGNATURE_HEADER))
    );
    assert_eq!(
        verifier.verify(Some(&signature), None, BODY, at(NOW)),
        Err(SignatureError::Missing(TIMESTAMP_HEADER))
    );
    assert_eq!(
        verifier.verify(Some(&signature), Some("soon"), BODY, at(NOW)),
        Err(SignatureError::BadEncoding(TIMESTAMP_HEADER))
    );
    assert_eq!(
        verifier.verify(Some("%%"), Some(&ts), BODY, at(NOW)),
        Err(SignatureError::BadEncoding(SIGNATURE_HEADER))
    );
    assert_eq!(
        verifier.verify(Some("AAAA"), Some(&ts), BODY, at(NOW)),
        Err(SignatureError::BadEncoding(SIGNATURE_HEADER))
    );
    // Bad keys.
    assert_eq!(
        WebhookVerifier::from_base64("AAAA").unwrap_err(),
        SignatureError::BadEncoding("public key")
    );
    assert!(WebhookVerifier::from_base64("not base64!").is_err());
}

#[test]
fn webhooks_become_signals_for_the_call_they_name() {
    let signal = decode_webhook(BODY, &Limits::default()).unwrap();
    assert_eq!(signal.call_control_id, "v3:c1");
    assert_eq!(signal.event_id, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
    assert_eq!(signal.attempt, 2);
    assert_eq!(signal.client_state.as_deref(), Some("aGk="));
    assert_eq!(signal.event, WebhookEvent::PlaybackEnded { status: Some("completed".to_owned()) });
    assert_eq!(signal.input, Some(Input::ExternalPlaybackEnded));

    let body = |event: &str, extra: &str| {
        format!(
            r#"{{"data":{{"id":"e1","event_type":"{event}","payload":{{"call_control_id":"v3:c1"{extra}}}}}}}"#
        )
    };
    let decode = |text: String| decode_webhook(text.as_bytes(), &Limits::default());
    let cases = [
        ("call.playback.started", Some(Input::PlaybackStarted)),
        ("call.speak.started", Some(Input::PlaybackStarted)),
        ("call.speak.ended", Some(Input::ExternalPlaybackEnded)),
        ("call.hangup", Some(Input::CallEnded)),
        ("streaming.started", None),
        ("streaming.stopped", None),
        ("call.answered", None),
    ];
    for (event, input) in cases {
        let signal = decode(body(event, "")).unwrap();
        assert_eq!(signal.input, input, "{event}");
        assert_eq!(signal.attempt, 1);
    }
    let failed =
        decode(body("streaming.failed", r#","failure_reason":"connection refused""#)).unwrap();
    assert_eq!(
        failed.event,
        WebhookEvent::StreamingFailed { reason: Some("connection refused".to_owned()) }
    );
    let hangup = decode(body(
        "call.hangup",
        r#","hangup_cause":"normal_clearing","hangup_source":"caller""#,
    ))
    .unwrap();
    assert_eq!(
        hangup.event,
        WebhookEvent::Hangup {
            cause: Some("normal_clearing".to_owned()),
            source: Some("caller".to_owned())
        }
    );

    assert_eq!(
        decode(body("call.machine.detection.ended", "")).unwrap_err().kind(),
        WireErrorKind::Unknown
    );
    // The `call.` prefix does not belong on streaming events.
    assert_eq!(
        decode(body("call.streaming.started", "")).unwrap_err().kind(),
        WireErrorKind::Unknown
    );
    let no_call = r#"{"data":{"id":"e1","event_type":"call.hangup","payload":{}}}"#;
    assert_eq!(decode(no_call.to_owned()).unwrap_err().kind(), WireErrorKind::Malformed);
    let no_id = r#"{"data":{"event_type":"call.hangup","payload":{"call_control_id":"c"}}}"#;
    assert_eq!(decode(no_id.to_owned()).unwrap_err().kind(), WireErrorKind::Malformed);
    assert_eq!(
        decode_webhook(&[0xff, 0xfe], &Limits::default()).unwrap_err().kind(),
        WireErrorKind::Malformed
    );
    let small = Limits { max_frame_bytes: 10 };
    assert_eq!(decode_webhook(BODY, &small).unwrap_err().kind(), WireErrorKind::Oversized);
}
