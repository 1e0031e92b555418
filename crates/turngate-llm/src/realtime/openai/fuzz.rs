//! Drives the Realtime provider's protocol with arbitrary server events:
//! the fuzz target's harness and the property test's. Compiled for tests
//! and with the `fuzzing` feature.
//!
//! The input is split at newlines. A segment starting with `!` is a step
//! of our own side (`!a<n>` append n bytes of audio, at most 1,600; `!c`
//! commit, `!r` create a response, `!o` an out-of-band one, `!x` cancel,
//! `!t<n>` truncate at n ms, `!f` a function output, `!d` the link drops,
//! `!u` it comes back, `!k<n>` n×10 ms pass); any other segment is a text
//! event from the server. If the first byte is odd, `session.updated` goes
//! first, so the fuzzer reaches a ready session at once.
//!
//! Beyond "never panics", it checks what the driver relies on: every frame
//! produced is a JSON object with a `type`, and a tick never leaves a
//! deadline already due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use turngate_core::{
    AudioChunk, BackendCommand, CallId, ClientEventId, ItemId, Purpose, ResponseId, ResponseSpec,
};

use super::OpenAiRealtimeConfig;
use super::protocol::{Out, Protocol, SharedStats};
use crate::realtime::RealtimeSessionConfig;

/// Runs `data` through a fresh protocol; returns how many inputs the core
/// was given, so a property test can check that events got past the parser.
pub fn fuzz_server_events(data: &[u8]) -> usize {
    let stats = Arc::new(SharedStats::default());
    let Ok(mut protocol) = Protocol::new(
        &OpenAiRealtimeConfig::default(),
        RealtimeSessionConfig::default(),
        Arc::clone(&stats),
    ) else {
        return 0;
    };
    let mut now = Instant::now();
    let mut out = Out::default();
    let mut inputs = 0;
    let mut next_tag = 1u64;
    let mut tag = || {
        next_tag += 1;
        ClientEventId(next_tag)
    };
    protocol.link_up(false, &mut out);
    let (first, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    if first & 1 == 1 {
        protocol.server_text(
            now,
            r#"{"type":"session.updated","event_id":"ev0","session":{}}"#,
            &mut out,
        );
    }
    check(&mut out, &mut inputs);
    for segment in rest.split(|b| *b == b'\n') {
        match segment.split_first() {
            Some((b'!', step)) => {
                let (kind, arg) = step.split_first().map_or((0, &[][..]), |(k, a)| (*k, a));
                let number =
                    std::str::from_utf8(arg).ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
                let command = match kind {
                    // Audio is capped at 200 ms (1,600 bytes of 8 kHz mu-law):
                    // the protocol's state does not depend on a chunk's size,
                    // and larger ones only slow every execution down.
                    b'a' => Some(BackendCommand::AppendAudio(AudioChunk::new(
                        vec![0xFF; usize::try_from(number.min(1_600)).unwrap_or(0)],
                        Duration::from_millis(number.min(1_600) / 8),
                    ))),
                    b'c' => Some(BackendCommand::Commit { event_id: tag() }),
                    b'r' | b'o' => Some(BackendCommand::CreateResponse {
                        event_id: tag(),
                        spec: ResponseSpec {
                            purpose: Purpose::Answer,
                            instructions: None,
                            out_of_band: kind == b'o',
                        },
                    }),
                    b'x' => Some(BackendCommand::CancelResponse {
                        event_id: tag(),
                        response_id: ResponseId(format!("resp_{number}")),
                    }),
                    b't' => Some(BackendCommand::Truncate {
                        event_id: tag(),
                        item_id: ItemId(format!("item_{}", number % 4)),
                        audio_end_ms: number,
                    }),
                    b'f' => Some(BackendCommand::FunctionOutput {
                        event_id: tag(),
                        call_id: CallId(format!("call_{}", number % 4)),
                        output: r#"{"ok":true}"#.to_owned(),
                    }),
                    b'd' => {
                        protocol.link_down(&mut out);
                        None
                    }
                    b'u' => {
                        protocol.link_up(true, &mut out);
                        None
                    }
                    b'k' => {
                        now += Duration::from_millis(10 * number.min(100_000));
                        if protocol.poll_timeout().is_some_and(|t| t <= now) {
                            protocol.tick(now, &mut out);
                            assert!(
                                protocol.poll_timeout().is_none_or(|t| t > now),
                                "a tick left a deadline already due"
                            );
                        }
                        None
                    }
                    _ => None,
                };
                if let Some(command) = command {
                    protocol.command(now, command, &mut out);
                }
            }
            _ => {
                let text = String::from_utf8_lossy(segment);
                protocol.server_text(now, &text, &mut out);
            }
        }
        check(&mut out, &mut inputs);
    }
    inputs
}

fn check(out: &mut Out, inputs: &mut usize) {
    for frame in out.frames.drain(..) {
        let value: serde_json::Value = match serde_json::from_str(&frame) {
            Ok(value) => value,
            Err(error) => panic!("a frame is not JSON ({error}): {frame}"),
        };
        assert!(
            value.get("type").and_then(|t| t.as_str()).is_some(),
            "a frame without a type: {frame}"
        );
    }
    *inputs += out.inputs.len();
    out.inputs.clear();
}
