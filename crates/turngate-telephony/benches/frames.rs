//! The cost of one media frame through each provider's codec: a caller's
//! 20 ms µ-law `media` message decoded (JSON parse, checks, base64) into
//! core input, a 100 ms `Play` encoded into the provider's messages (and,
//! where the protocol echoes marks, the echo decoded).
//!
//! Run with `cargo bench -p turngate-telephony --features full --bench
//! frames`. Each provider's call is set up outside the timing; every frame
//! is then timed on its own (the cost of reading the clock, measured here,
//! subtracted) and the median of each operation is reported in
//! nanoseconds. The figures are also written to `target/bench/frames.json`
//! for `cargo xtask bench`.

#![allow(clippy::print_stdout, reason = "a benchmark reports its figures on stdout")]
#![allow(clippy::print_stderr, reason = "a benchmark reports errors on stderr")]
#![allow(clippy::unwrap_used, reason = "a benchmark's own fixed frames; a failure is a bug here")]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use turngate_core::{AudioChunk, ItemId, MarkId, TransportCommand};
use turngate_telephony::audiocodes::{AudioCodesConfig, AudioCodesTransport};
use turngate_telephony::telnyx::{TelnyxConfig, TelnyxTransport};
use turngate_telephony::twilio::{TwilioConfig, TwilioTransport};
use turngate_telephony::{Decoded, Frame, OutFrame, Transport};

/// Frames per timed run.
const FRAMES: usize = 20_000;
/// Timed runs (a fresh call each) after one warm-up run.
const RUNS: usize = 5;

const TWILIO_SID: &str = "MZ00000000000000000000000000000001";
const TELNYX_STREAM: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const AC_CONVERSATION: &str = "4a8b7c10-9d2e-4f3a-8b5c-6d7e8f9a0b1c";

/// How one provider's messages look.
struct Provider {
    name: &'static str,
    make: fn(Instant) -> Box<dyn Transport>,
    /// The messages that start a call, in order.
    opening: Vec<String>,
    /// Caller media message number `n` (from 1) carrying `payload`.
    media: fn(u64, &str) -> String,
    /// The carrier's echo of mark `name`, if the protocol has one.
    mark_echo: Option<fn(u64, &str) -> String>,
}

fn providers() -> Vec<Provider> {
    vec![
        Provider {
            name: "twilio",
            make: |now| Box::new(TwilioTransport::new(TwilioConfig::default(), now)),
            opening: vec![
                r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.to_owned(),
                format!(
                    r#"{{"event":"start","sequenceNumber":"1","streamSid":"{TWILIO_SID}","start":{{"streamSid":"{TWILIO_SID}","accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001","tracks":["inbound"],"customParameters":{{}},"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}}}}"#
                ),
            ],
            media: |n, payload| {
                format!(
                    r#"{{"event":"media","sequenceNumber":"{}","streamSid":"{TWILIO_SID}","media":{{"track":"inbound","chunk":"{n}","timestamp":"{}","payload":"{payload}"}}}}"#,
                    n + 1,
                    (n - 1) * 20
                )
            },
            mark_echo: Some(|n, name| {
                format!(
                    r#"{{"event":"mark","sequenceNumber":"{n}","streamSid":"{TWILIO_SID}","mark":{{"name":"{name}"}}}}"#
                )
            }),
        },
        Provider {
            name: "telnyx",
            make: |now| Box::new(TelnyxTransport::new(TelnyxConfig::default(), now)),
            opening: vec![
                r#"{"event":"connected","version":"1.0.0"}"#.to_owned(),
                format!(
                    r#"{{"event":"start","sequence_number":"1","stream_id":"{TELNYX_STREAM}","start":{{"user_id":"3e6f995f-85f7-4705-9741-53b116d28237","call_control_id":"v3:u5OAKGEPT3Dx8SZSSDRWEMdNH2OripQhO","call_session_id":"session-1","from":"+15550001111","to":"+15550002222","tags":[],"custom_parameters":{{}},"media_format":{{"encoding":"PCMU","sample_rate":8000,"channels":1}}}}}}"#
                ),
            ],
            media: |n, payload| {
                format!(
                    r#"{{"event":"media","sequence_number":"{}","stream_id":"{TELNYX_STREAM}","media":{{"track":"inbound","chunk":"{n}","timestamp":"{}","payload":"{payload}"}}}}"#,
                    n + 1,
                    n * 20
                )
            },
            mark_echo: Some(|n, name| {
                format!(
                    r#"{{"event":"mark","sequence_number":"{n}","stream_id":"{TELNYX_STREAM}","mark":{{"name":"{name}"}}}}"#
                )
            }),
        },
        Provider {
            name: "audiocodes",
            make: |now| Box::new(AudioCodesTransport::new(AudioCodesConfig::default(), now)),
            opening: vec![
                format!(
                    r#"{{"type":"session.initiate","conversationId":"{AC_CONVERSATION}","botName":"turngate","caller":"+15550001111","expectAudioMessages":true,"supportedMediaFormats":["raw/mulaw"]}}"#
                ),
                format!(r#"{{"type":"userStream.start","conversationId":"{AC_CONVERSATION}"}}"#),
            ],
            media: |_, payload| {
                format!(
                    r#"{{"type":"userStream.chunk","conversationId":"{AC_CONVERSATION}","audioChunk":"{payload}"}}"#
                )
            },
            mark_echo: None,
        },
    ]
}

/// The median cost of two clock reads with nothing between them.
fn clock_cost() -> u64 {
    let mut samples: Vec<u64> = (0..10_001)
        .map(|_| {
            let start = Instant::now();
            u64::try_from(black_box(start).elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Per-operation timings of one provider.
#[derive(Default)]
struct Timings {
    decode: Vec<u64>,
    encode: Vec<u64>,
    echo: Vec<u64>,
}

fn nanos(since: Instant, clock: u64) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX).saturating_sub(clock)
}

/// One call of `FRAMES` caller frames and `FRAMES / 5` plays.
fn run(provider: &Provider, clock: u64, timings: &mut Timings) {
    let start = Instant::now();
    let mut transport = (provider.make)(start);
    let mut decoded = Decoded::default();
    for text in &provider.opening {
        transport.on_frame(start, Frame::Text(text), &mut decoded).unwrap();
    }
    assert!(transport.call().is_some(), "{}: the call did not start", provider.name);
    let frame = STANDARD.encode([0x7E_u8; 160]);
    let texts: Vec<String> = (1..=FRAMES as u64).map(|n| (provider.media)(n, &frame)).collect();
    let mut out = Vec::new();
    let mut played = 0_u64;
    for (index, text) in texts.iter().enumerate() {
        let now = start + Duration::from_millis(20 * (index as u64 + 1));
        decoded.clear();
        let began = Instant::now();
        let result = transport.on_frame(now, Frame::Text(black_box(text)), &mut decoded);
        timings.decode.push(nanos(began, clock));
        result.unwrap();
        // Jitter buffers (Telnyx reordering) may hold a frame for a while;
        // by the end every frame must have come through as audio.
        if transport.poll_timeout().is_some_and(|at| at <= now) {
            transport.on_timeout(now, &mut decoded);
        }
        if index % 5 != 4 {
            continue;
        }
        // Every fifth frame, a 100 ms answer chunk goes the other way.
        played += 1;
        let mark = MarkId(played);
        let audio = AudioChunk::new(vec![0xFF; 800], Duration::from_millis(100));
        let play = TransportCommand::Play { item_id: ItemId("item_a1".to_owned()), audio, mark };
        out.clear();
        let began = Instant::now();
        transport.encode(now, black_box(play), &mut out);
        // A paced protocol sends the chunk when it is due.
        let mut paced = Decoded::default();
        while let Some(at) =
            transport.poll_timeout().filter(|at| *at <= now + Duration::from_secs(1))
        {
            transport.on_timeout(at, &mut paced);
            out.append(&mut paced.replies);
        }
        timings.encode.push(nanos(began, clock));
        assert!(
            out.iter().any(|f| matches!(f, OutFrame::Text(_))),
            "{}: a play produced no message",
            provider.name
        );
        if let Some(echo) = provider.mark_echo {
            let text = echo(1_000_000 + played, &mark.to_string());
            decoded.clear();
            let began = Instant::now();
            let result = transport.on_frame(now, Frame::Text(black_box(&text)), &mut decoded);
            timings.echo.push(nanos(began, clock));
            result.unwrap();
        }
    }
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let clock = clock_cost();
    println!(
        "One frame through each provider's codec, {FRAMES} frames x {RUNS} calls, clock cost {clock} ns subtracted"
    );
    println!(
        "{:<11} {:>16} {:>16} {:>16}",
        "provider", "media in (ns)", "play out (ns)", "mark echo (ns)"
    );
    let mut json = Vec::new();
    for provider in providers() {
        run(&provider, clock, &mut Timings::default());
        let mut timings = Timings::default();
        for _ in 0..RUNS {
            run(&provider, clock, &mut timings);
        }
        let decode = median(&mut timings.decode);
        let encode = median(&mut timings.encode);
        let echo = (!timings.echo.is_empty()).then(|| median(&mut timings.echo));
        println!(
            "{:<11} {decode:>16} {encode:>16} {:>16}",
            provider.name,
            echo.map_or_else(|| "-".to_owned(), |e| e.to_string())
        );
        json.push(format!("\"frames.{}.media_decode_ns_p50\": {decode}", provider.name));
        json.push(format!("\"frames.{}.play_encode_ns_p50\": {encode}", provider.name));
        if let Some(echo) = echo {
            json.push(format!("\"frames.{}.mark_decode_ns_p50\": {echo}", provider.name));
        }
    }
    let dir = target_dir().join("bench");
    let path = dir.join("frames.json");
    let text = format!("{{{}}}\n", json.join(", "));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => {
            eprintln!("cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}
