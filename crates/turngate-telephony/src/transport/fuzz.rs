//! Drives a transport with arbitrary bytes: the fuzz targets' harness and
//! the property test's. Compiled for tests and with the `fuzzing` feature.
//!
//! The input is split at newlines. A segment starting with `!` is a command
//! (`!p<bytes>` play, `!c` clear, `!h` hang up, `!t<n>` let n×10 ms pass,
//! `!b<bytes>` a binary frame, `!r<0|1>` answer a resume, `!e<n>` a core
//! event); any other segment is a text frame (or a binary one if it is not
//! UTF-8). If the first byte is odd, the provider's preamble (a valid
//! start) goes first, so the fuzzer reaches the media path at once.
//!
//! Beyond "never panics", it checks what the server relies on: every text
//! frame produced is JSON, playout never confirms more than was sent, and a
//! timeout never asks to be called again in the past.

use std::time::{Duration, Instant};

use turngate_audio::AudioFormat;
use turngate_core::{AudioChunk, Event, Input, ItemId, MarkId, Role, TransportCommand};

use super::{Decoded, Frame, OutFrame, ResumeAnswer, Transport};

/// Runs `data` through a fresh transport made by `make`. Returns what it
/// reached, `[caller audio inputs, mark inputs, frames produced]`, so the
/// property test can check that it gets past the parsers.
pub(crate) fn run(
    data: &[u8],
    preamble: &[&str],
    make: impl FnOnce(Instant) -> Box<dyn Transport>,
) -> [usize; 3] {
    let mut reached = [0; 3];
    let mut now = Instant::now();
    let mut transport = make(now);
    let mut decoded = Decoded::default();
    let mut frames = Vec::new();
    let mut next_mark = 0u64;
    let (first, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    if first & 1 == 1 {
        for text in preamble {
            let _ = transport.on_frame(now, Frame::Text(text), &mut decoded);
            check(&*transport, &decoded.replies);
            decoded.clear();
        }
    }
    for segment in rest.split(|b| *b == b'\n') {
        now += Duration::from_millis(1);
        match segment {
            [b'!', b'p', audio @ ..] => {
                next_mark += 1;
                let format = transport.capabilities().outbound.unwrap_or(AudioFormat::Ulaw);
                let audio = AudioChunk::new(audio.to_vec(), format.duration_of(audio.len() as u64));
                let play = TransportCommand::Play {
                    item_id: ItemId::from("item_1"),
                    audio,
                    mark: MarkId(next_mark),
                };
                transport.encode(now, play, &mut frames);
            }
            [b'!', b'c', ..] => transport.encode(now, TransportCommand::Clear, &mut frames),
            [b'!', b'h', ..] => transport.encode(now, TransportCommand::HangUp, &mut frames),
            [b'!', b't', n, ..] => now += Duration::from_millis(u64::from(*n) * 10),
            [b'!', b'b', bytes @ ..] => {
                let _ = transport.on_frame(now, Frame::Binary(bytes), &mut decoded);
            }
            [b'!', b'r', n, ..] => {
                let answer = if n & 1 == 1 {
                    ResumeAnswer::Accept { format: Some(AudioFormat::Ulaw) }
                } else {
                    ResumeAnswer::Reject { reason: "unknown \"conversation\"".to_owned() }
                };
                transport.answer_resume(now, answer, &mut frames);
            }
            [b'!', b'e', n, ..] => {
                let event = match n % 4 {
                    0 => Event::UserSpeaking(true),
                    1 => Event::UserSpeaking(false),
                    2 => Event::TurnQueued { pending: 1 },
                    _ => Event::Transcript { role: Role::User, text: "hi \"there\"\n".to_owned() },
                };
                transport.on_event(now, &event, &mut frames);
            }
            text => {
                let frame = match std::str::from_utf8(text) {
                    Ok(text) => Frame::Text(text),
                    Err(_) => Frame::Binary(text),
                };
                let _ = transport.on_frame(now, frame, &mut decoded);
            }
        }
        // The driver fires timeouts as they fall due.
        while let Some(due) = transport.poll_timeout().filter(|due| *due <= now) {
            transport.on_timeout(due.max(now), &mut decoded);
            let again = transport.poll_timeout();
            assert!(
                again.is_none_or(|again| again > now),
                "on_timeout({now:?}) left a deadline that is already due: {again:?}"
            );
        }
        check(&*transport, &decoded.replies);
        check(&*transport, &frames);
        for input in &decoded.inputs {
            match input {
                Input::CallerAudio(_) => reached[0] += 1,
                Input::PlaybackMark(_) => reached[1] += 1,
                _ => {}
            }
        }
        reached[2] += decoded.replies.len() + frames.len();
        decoded.clear();
        frames.clear();
    }
    reached
}

fn check(transport: &dyn Transport, frames: &[OutFrame]) {
    for frame in frames {
        if let OutFrame::Text(text) = frame {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "produced a frame that is not JSON: {text}"
            );
        }
    }
    let playout = transport.playout();
    assert!(
        playout.confirmed + playout.flushed <= playout.sent,
        "played more than was sent: {playout:?}"
    );
    let _ = (transport.capabilities(), transport.call(), transport.counters());
}
