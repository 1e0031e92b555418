//! The gate over synthetic tracks: silence, a tone burst, silence again.

use super::{GateConfig, Gated, SpeechGate};
use crate::{AudioFormat, SampleRate, alaw, pcm16, ulaw};

/// `frames` 20 ms frames of a 400 Hz tone at `amplitude` (0 is digital silence).
fn tone(format: AudioFormat, frames: usize, amplitude: f64) -> Vec<u8> {
    let rate = f64::from(format.sample_rate().hz());
    let count = frames * format.bytes_per_frame() / format.bytes_per_sample();
    let samples: Vec<i16> = (0..count)
        .map(|n| ((n as f64 * 2.0 * std::f64::consts::PI * 400.0 / rate).sin() * amplitude) as i16)
        .collect();
    let mut bytes = Vec::new();
    match format {
        AudioFormat::Ulaw => ulaw::encode_extend(&samples, &mut bytes),
        AudioFormat::Alaw => alaw::encode_extend(&samples, &mut bytes),
        AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(&samples, &mut bytes),
    }
    bytes
}

/// Pushes `track` in chunks of `chunk` bytes; returns the events with the
/// audio as frame counts.
fn run(format: AudioFormat, track: &[u8], chunk: usize) -> (Vec<String>, Vec<u8>) {
    let mut gate = SpeechGate::new(format, GateConfig::default());
    let mut out = Vec::new();
    for piece in track.chunks(chunk.max(1)) {
        gate.push(piece, &mut out);
    }
    let frame = format.bytes_per_frame();
    let mut forwarded = Vec::new();
    let mut events = Vec::new();
    for item in out {
        match item {
            Gated::Started => events.push("started".to_owned()),
            Gated::Stopped => events.push("stopped".to_owned()),
            Gated::Audio(bytes) => {
                events.push(format!("audio {}", bytes.len() as f64 / frame as f64));
                forwarded.extend(bytes);
            }
        }
    }
    // Merge consecutive audio entries, which depend on chunking.
    let mut merged: Vec<String> = Vec::new();
    let mut audio_frames = 0.0;
    for event in events {
        if let Some(frames) = event.strip_prefix("audio ") {
            audio_frames += frames.parse::<f64>().unwrap_or(0.0);
            continue;
        }
        if audio_frames > 0.0 {
            merged.push(format!("audio {audio_frames}"));
            audio_frames = 0.0;
        }
        merged.push(event);
    }
    if audio_frames > 0.0 {
        merged.push(format!("audio {audio_frames}"));
    }
    (merged, forwarded)
}

#[test]
fn silence_passes_nothing_and_speech_passes_whole_with_its_start_and_tail() {
    for format in [AudioFormat::Ulaw, AudioFormat::Alaw, AudioFormat::Pcm16(SampleRate::Hz24000)] {
        let speech = tone(format, 25, 8000.0);
        let track = [tone(format, 30, 0.0), speech.clone(), tone(format, 40, 0.0)].concat();
        for chunk in [format.bytes_per_frame(), 7, 1000, track.len()] {
            let (events, forwarded) = run(format, &track, chunk);
            // One lead-in frame, the 25 speech frames (those the detector
            // waited on included) and a hangover of 15 quiet frames.
            assert_eq!(
                events,
                ["started", "audio 41", "stopped"],
                "{format:?} in chunks of {chunk}"
            );
            let frame = format.bytes_per_frame();
            assert_eq!(
                forwarded.get(frame..frame + speech.len()),
                Some(speech.as_slice()),
                "{format:?}: the speech is forwarded from its first frame"
            );
        }
    }
}

#[test]
fn a_short_pause_stays_inside_the_speech_and_a_long_one_splits_it() {
    let format = AudioFormat::Ulaw;
    let word = tone(format, 10, 8000.0);
    let pause = tone(format, 5, 0.0);
    let gap = tone(format, 50, 0.0);
    let track = [word.clone(), pause, word.clone(), gap, word, tone(format, 20, 0.0)].concat();
    let (events, _) = run(format, &track, 160);
    // The first word starts the track, so it has no lead-in frame.
    assert_eq!(events, ["started", "audio 40", "stopped", "started", "audio 26", "stopped"]);
}

#[test]
fn a_click_does_not_open_the_gate_and_quiet_noise_stays_out() {
    let format = AudioFormat::Pcm16(SampleRate::Hz16000);
    let track = [tone(format, 10, 0.0), tone(format, 1, 8000.0), tone(format, 30, 60.0)].concat();
    let (events, forwarded) = run(format, &track, 640);
    assert!(events.is_empty(), "{events:?}");
    assert!(forwarded.is_empty());
}

#[test]
fn reset_forgets_a_partial_frame_and_the_pre_roll() {
    let format = AudioFormat::Ulaw;
    let mut gate = SpeechGate::new(format, GateConfig::default());
    let mut out = Vec::new();
    gate.push(&tone(format, 1, 8000.0)[..100], &mut out);
    gate.reset();
    gate.push(&tone(format, 1, 8000.0), &mut out);
    assert!(out.is_empty(), "one loud frame after a reset is not speech: {out:?}");
    assert!(!gate.open());
}
