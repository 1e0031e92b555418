//! The caller's voice: speech loud enough for any energy VAD, silence that
//! is digital silence, in every format a caller streams.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use turngate_audio::energy::{Vad, VadConfig, VadEvent, rms_dbfs};
use turngate_audio::{AudioFormat, SampleRate, pcm16, ulaw};

use crate::callers::voice::{FrameBank, SPEECH_DBFS, Voice, synthesize};
use crate::callers::{HOLD_ON_HZ, SPEECH_HZ};

fn samples(format: AudioFormat, b64: &str) -> Vec<i16> {
    let bytes = STANDARD.decode(b64).unwrap();
    assert_eq!(bytes.len(), format.bytes_per_frame());
    let mut out = Vec::new();
    match format {
        AudioFormat::Ulaw => ulaw::decode_extend(&bytes, &mut out),
        AudioFormat::Pcm16(_) => {
            out.resize(bytes.len() / 2, 0);
            pcm16::from_le_bytes(&bytes, &mut out).unwrap();
        }
        AudioFormat::Alaw => unreachable!("not a caller format"),
    }
    out
}

const FORMATS: [AudioFormat; 4] = [
    AudioFormat::Ulaw,
    AudioFormat::Pcm16(SampleRate::Hz8000),
    AudioFormat::Pcm16(SampleRate::Hz16000),
    AudioFormat::Pcm16(SampleRate::Hz24000),
];

#[test]
fn speech_is_at_speech_level_in_every_frame_and_format() {
    for format in FORMATS {
        let bank = FrameBank::get(format);
        let mut all = Vec::new();
        for n in 0..25 {
            let frame = samples(format, bank.frame(Voice::Speech(n)));
            let level = rms_dbfs(&frame);
            assert!(level > -20.0 && level < -6.0, "{format:?} frame {n}: {level} dBFS");
            all.extend(frame);
        }
        let overall = f64::from(rms_dbfs(&all));
        // µ-law quantisation moves the level by a fraction of a dB.
        assert!((overall - SPEECH_DBFS).abs() < 0.5, "{format:?}: {overall} dBFS");
        assert_eq!(bank.frame(Voice::Speech(3)), bank.frame(Voice::Speech(28)), "a 25-frame cycle");
    }
}

#[test]
fn silence_is_digital_silence() {
    for format in FORMATS {
        let frame = samples(format, FrameBank::get(format).frame(Voice::Silence));
        assert!(frame.iter().all(|&s| s == 0), "{format:?}");
    }
    let raw = STANDARD.decode(FrameBank::get(AudioFormat::Ulaw).frame(Voice::Silence)).unwrap();
    assert!(raw.iter().all(|&b| b == 0xFF));
}

#[test]
fn an_energy_vad_hears_speech_start_and_stop() {
    let bank = FrameBank::get(AudioFormat::Ulaw);
    let mut vad = Vad::new(VadConfig::default());
    let mut events = Vec::new();
    let voices = (0..10)
        .map(|_| Voice::Silence)
        .chain((0..50).map(Voice::Speech))
        .chain((0..40).map(|_| Voice::Silence));
    for (i, voice) in voices.enumerate() {
        if let Some(event) = vad.push_frame(&samples(AudioFormat::Ulaw, bank.frame(voice))) {
            events.push((i, event));
        }
    }
    // Default VAD: 3 loud frames to start, 25 quiet frames to stop.
    assert_eq!(events, [(12, VadEvent::SpeechStarted), (84, VadEvent::SpeechStopped)]);
}

#[test]
fn hold_on_is_voiced_at_its_own_pitch() {
    let rate = SampleRate::Hz8000;
    for (f0, other) in [(SPEECH_HZ, HOLD_ON_HZ), (HOLD_ON_HZ, SPEECH_HZ)] {
        let signal: Vec<f64> = synthesize(rate, f0).iter().map(|&s| f64::from(s)).collect();
        // Goertzel-style correlation at a frequency: strong at the
        // fundamental, weak at the other voice's.
        let power = |hz: u32| {
            let w = std::f64::consts::TAU * f64::from(hz) / 8000.0;
            let (re, im) = signal.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, x)| {
                (re + x * (w * i as f64).cos(), im + x * (w * i as f64).sin())
            });
            re * re + im * im
        };
        assert!(power(f0) > 100.0 * power(other), "{f0} Hz voice vs {other} Hz");
    }
}
