use std::time::Duration;

use turngate_audio::{AudioFormat, SampleRate, ulaw};
use turngate_core::AudioChunk;

use super::Converter;

#[test]
fn the_same_format_passes_bytes_through() {
    let mut converter = Converter::new(AudioFormat::Ulaw, AudioFormat::Ulaw);
    let chunk = AudioChunk::new(vec![1, 2, 3], Duration::from_millis(1));
    assert_eq!(converter.convert(chunk.clone()), chunk);
}

#[test]
fn ulaw_8k_becomes_pcm_24k_with_three_times_the_samples() {
    let mut converter = Converter::new(AudioFormat::Ulaw, AudioFormat::Pcm16(SampleRate::Hz24000));
    let mut total = 0;
    for _ in 0..50 {
        let frame = AudioChunk::new(vec![ulaw::SILENCE; 160], Duration::from_millis(20));
        let out = converter.convert(frame);
        total += out.payload.len();
    }
    // One second of audio in, one second out (within the filter's delay).
    let expected = 24_000 * 2;
    assert!(total.abs_diff(expected) <= 2 * 2 * 120, "{total} bytes out");
}

#[test]
fn pcm16_with_an_odd_split_is_carried_to_the_next_chunk() {
    let mut converter = Converter::new(AudioFormat::Pcm16(SampleRate::Hz8000), AudioFormat::Ulaw);
    let first = converter.convert(AudioChunk::new(vec![0, 0, 0], Duration::from_millis(1)));
    let second = converter.convert(AudioChunk::new(vec![0], Duration::from_millis(1)));
    assert_eq!(first.payload.len() + second.payload.len(), 2);
}
