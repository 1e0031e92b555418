//! Drives the GPT-Live provider's protocol with arbitrary server events:
//! the fuzz target's harness and the property test's. Compiled for tests
//! and with the `fuzzing` feature.
//!
//! The input is split at newlines. A segment starting with `!` is a step
//! of our own side (`!a<n>` append n bytes of audio, at most 1,600; `!i` an
//! instruction; `!f<n>` the result of delegation `deleg_<n>`; `!d` the link
//! drops, `!u` a new one comes up; `!k<n>` n×10 ms pass); any other segment
//! is a text event from the server. If the first byte is odd, the session
//! starts at once (`session.started` answering our start), so the fuzzer
//! reaches a live session without guessing our event ids; if its second
//! bit is set, sessions use Responses delegation, and `!f<n>` is the
//! output of backend call `call_<n>` of the session `live_fz`.
//!
//! Beyond "never panics", it checks what the driver and the server rely on:
//! every frame produced is a JSON object with a `type`; a link sends
//! nothing but its `session.start` before its session has started; no
//! append goes out twice under one `event_id` unless an error named it; no
//! backend call gets two outputs in one session, and the backend is never
//! continued without a new output since it last was; and a tick never
//! leaves a deadline already due.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use turngate_core::{AudioChunk, BackendCommand, CallId, ClientEventId, Purpose};

use super::protocol::Protocol;
use super::{LiveDelegation, OpenAiLiveConfig};
use crate::realtime::RealtimeSessionConfig;
use crate::realtime::link::Out;
use crate::realtime::stats::SharedStats;

/// The context appends, which must never go out twice unasked.
const APPENDS: [&str; 3] =
    ["session.instructions.append", "session.thinking.append", "session.commentary.append"];

/// What the harness knows of the frames sent so far.
#[derive(Default)]
struct Seen {
    generation: u64,
    started: bool,
    appends: HashSet<String>,
    /// Appends an error named, which may go out again.
    named: HashSet<String>,
    /// Backend calls answered in this session.
    outputs: HashSet<String>,
    /// Outputs sent since the backend was last continued.
    outputs_since_continue: usize,
}

/// Runs `data` through a fresh protocol; returns how many inputs the core
/// was given, so a property test can check that events got past the parser.
pub fn fuzz_server_events(data: &[u8]) -> usize {
    let stats = Arc::new(SharedStats::default());
    let (first, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let responses = first & 2 == 2;
    let mut config = OpenAiLiveConfig::default();
    if responses {
        config.delegation =
            LiveDelegation::Responses { model: "gpt-6-luna".to_owned(), instructions: None };
    }
    let mut protocol =
        Protocol::new(&config, &RealtimeSessionConfig::default(), "fz".to_owned(), stats);
    let mut now = Instant::now();
    let mut out = Out::default();
    let mut inputs = 0;
    let mut seen = Seen::default();
    let mut next_tag = 1u64;
    let mut tag = || {
        next_tag += 1;
        ClientEventId(next_tag)
    };
    let start_at_once = first & 1 == 1;
    link_up(&mut protocol, now, false, &mut out, &mut seen, start_at_once);
    check(&mut out, &mut inputs, &mut seen);
    for segment in rest.split(|b| *b == b'\n') {
        match segment.split_first() {
            Some((b'!', step)) => {
                let (kind, arg) = step.split_first().map_or((0, &[][..]), |(k, a)| (*k, a));
                let number =
                    std::str::from_utf8(arg).ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(1);
                let command = match kind {
                    // Audio is capped at 200 ms: the protocol's state does
                    // not depend on a chunk's size beyond the speech gate's
                    // frames, and larger chunks only slow every run down.
                    b'a' => Some(BackendCommand::AppendAudio(AudioChunk::new(
                        vec![0xFF; usize::try_from(number.min(1_600)).unwrap_or(0)],
                        Duration::from_millis(number.min(1_600) / 8),
                    ))),
                    b'i' => Some(BackendCommand::Instruct {
                        event_id: tag(),
                        purpose: Purpose::CheckIn,
                        text: "Ask whether the caller is still there.".to_owned(),
                    }),
                    b'f' => Some(BackendCommand::FunctionOutput {
                        event_id: tag(),
                        call_id: CallId(if responses {
                            format!("live_fz/call_{}", number % 4)
                        } else {
                            format!("deleg_{}", number % 4)
                        }),
                        output: r#"{"ok":true}"#.to_owned(),
                    }),
                    b'd' => {
                        protocol.link_down(&mut out);
                        seen.started = false;
                        None
                    }
                    b'u' => {
                        check(&mut out, &mut inputs, &mut seen);
                        link_up(&mut protocol, now, true, &mut out, &mut seen, start_at_once);
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
                remember_errors(&text, &mut seen);
                protocol.server_text(now, &text, &mut out);
            }
        }
        check(&mut out, &mut inputs, &mut seen);
    }
    inputs
}

/// A new link, and (when asked) its session started at once.
fn link_up(
    protocol: &mut Protocol,
    now: Instant,
    reconnect: bool,
    out: &mut Out,
    seen: &mut Seen,
    start_at_once: bool,
) {
    protocol.link_up(now, reconnect, out);
    seen.generation += 1;
    seen.started = false;
    seen.outputs.clear();
    seen.outputs_since_continue = 0;
    let starts = out.frames.iter().filter(|f| f.contains("\"session.start\"")).count();
    assert_eq!(starts, 1, "a link sends exactly one session.start: {:?}", out.frames);
    out.frames.clear();
    if start_at_once {
        // It expires 100 s from now, so runs that let time pass reach the
        // replacement window.
        let expires_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
            + 100;
        let started = format!(
            r#"{{"type":"session.started","event_id":"ev0","client_event_id":"fz:{}:start","session":{{"id":"live_fz","expires_at":{expires_at}}}}}"#,
            seen.generation
        );
        protocol.server_text(now, &started, out);
    }
}

/// An error naming one of our appends allows that append to go again.
fn remember_errors(text: &str, seen: &mut Seen) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return };
    if value.get("type").and_then(|t| t.as_str()) != Some("error") {
        return;
    }
    let named = value
        .pointer("/error/client_event_id")
        .or_else(|| value.get("client_event_id"))
        .and_then(|id| id.as_str());
    if let Some(id) = named {
        seen.named.insert(id.to_owned());
    }
}

fn check(out: &mut Out, inputs: &mut usize, seen: &mut Seen) {
    // The session is live from the core's `BackendReady` on, as the driver sees it.
    for input in &out.inputs {
        match input {
            turngate_core::Input::BackendReady => seen.started = true,
            turngate_core::Input::BackendDisconnected => seen.started = false,
            _ => {}
        }
    }
    for frame in out.frames.drain(..) {
        let value: serde_json::Value = match serde_json::from_str(&frame) {
            Ok(value) => value,
            Err(error) => panic!("a frame is not JSON ({error}): {frame}"),
        };
        let kind = value.get("type").and_then(|t| t.as_str());
        let Some(kind) = kind else { panic!("a frame without a type: {frame}") };
        assert!(seen.started, "{kind} sent before the session started");
        if APPENDS.contains(&kind) {
            let id = value.get("event_id").and_then(|id| id.as_str()).unwrap_or_default();
            let again = !seen.appends.insert(id.to_owned());
            assert!(!again || seen.named.remove(id), "append {id} sent twice: {frame}");
        }
        if kind == "response.item.create" {
            let call = value.pointer("/item/call_id").and_then(|id| id.as_str()).unwrap_or("");
            assert!(seen.outputs.insert(call.to_owned()), "two outputs for {call}: {frame}");
            seen.outputs_since_continue += 1;
        }
        if kind == "response.create" {
            assert!(seen.outputs_since_continue > 0, "continued with nothing new: {frame}");
            seen.outputs_since_continue = 0;
        }
    }
    *inputs += out.inputs.len();
    out.inputs.clear();
}
