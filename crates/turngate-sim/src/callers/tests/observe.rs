//! The observer's hooks: stamps written into the caller's frames, and the
//! bot's audio bytes handed over as they arrive.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::harness::{telnyx_observed, twilio_observed};
use crate::callers::config::{CallObserver, STAMP_BYTES, Step, TelnyxOptions};

/// Stamps frame n (from 1) with n in every stamp byte; keeps what arrives.
#[derive(Debug, Default)]
struct Stamper {
    stamped: Mutex<u8>,
    received: Mutex<Vec<Vec<u8>>>,
}

impl CallObserver for Stamper {
    fn stamp(&self, _at: Instant) -> Option<[u8; STAMP_BYTES]> {
        let mut stamped = self.stamped.lock().unwrap();
        *stamped += 1;
        Some([*stamped; STAMP_BYTES])
    }

    fn agent_payload(&self, _at: Instant, payload: &[u8]) {
        self.received.lock().unwrap().push(payload.to_vec());
    }
}

fn payloads(messages: &[Value], field: &str) -> Vec<Vec<u8>> {
    messages
        .iter()
        .filter(|m| m["event"] == "media")
        .map(|m| STANDARD.decode(m["media"][field].as_str().unwrap()).unwrap())
        .collect()
}

fn speech() -> Vec<Step> {
    vec![Step::Speak { ms: 60, hold_on: false }, Step::Silence { ms: 40 }, Step::HangUp]
}

#[test]
fn twilio_frames_carry_the_stamp_and_keep_the_rest_of_their_audio() {
    let stamper = Arc::new(Stamper::default());
    let mut stamped = twilio_observed(speech(), Some(stamper.clone()));
    let mut plain = twilio_observed(speech(), None);
    for h in [&mut stamped, &mut plain] {
        h.open(0);
        h.ticks(0, 80);
    }
    let stamped_frames = payloads(&stamped.new_messages(), "payload");
    let plain_frames = payloads(&plain.new_messages(), "payload");
    assert_eq!(stamped_frames.len(), 5);
    assert_eq!(stamped_frames.len(), plain_frames.len());
    for (n, (tagged, original)) in stamped_frames.iter().zip(&plain_frames).enumerate() {
        assert_eq!(tagged.len(), 160);
        assert_eq!(tagged[..STAMP_BYTES], [n as u8 + 1; STAMP_BYTES]);
        assert_eq!(tagged[STAMP_BYTES..], original[STAMP_BYTES..], "frame {n}");
    }

    let sid = stamped.sent[1]["streamSid"].as_str().unwrap().to_owned();
    let audio: Vec<u8> = (0..=255).collect();
    let media =
        json!({"event": "media", "streamSid": sid, "media": {"payload": STANDARD.encode(&audio)}});
    stamped.bot(100, &media);
    assert_eq!(*stamper.received.lock().unwrap(), [audio]);
}

#[test]
fn telnyx_frames_carry_the_stamp_and_received_audio_is_handed_over() {
    let stamper = Arc::new(Stamper::default());
    let mut h = telnyx_observed(speech(), TelnyxOptions::default(), Some(stamper.clone()));
    h.open(0);
    h.ticks(0, 40);
    let frames = payloads(&h.new_messages(), "payload");
    assert_eq!(frames.len(), 3);
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(frame[..STAMP_BYTES], [n as u8 + 1; STAMP_BYTES]);
    }
    let stream = h.sent[1]["stream_id"].as_str().unwrap().to_owned();
    let audio = vec![0x55_u8; 160];
    let media = json!({"event": "media", "stream_id": stream, "media": {"payload": STANDARD.encode(&audio)}});
    h.bot(60, &media);
    assert_eq!(*stamper.received.lock().unwrap(), [audio]);
}
