use std::time::Duration;

use super::{AudioFormat, FRAME_MS, SampleRate};

const ALL: [AudioFormat; 5] = [
    AudioFormat::Ulaw,
    AudioFormat::Alaw,
    AudioFormat::Pcm16(SampleRate::Hz8000),
    AudioFormat::Pcm16(SampleRate::Hz16000),
    AudioFormat::Pcm16(SampleRate::Hz24000),
];

#[test]
fn bytes_per_millisecond_by_format() {
    let cases = [
        (AudioFormat::Ulaw, 8, 160),
        (AudioFormat::Alaw, 8, 160),
        (AudioFormat::Pcm16(SampleRate::Hz8000), 16, 320),
        (AudioFormat::Pcm16(SampleRate::Hz16000), 32, 640),
        (AudioFormat::Pcm16(SampleRate::Hz24000), 48, 960),
    ];
    for (format, per_ms, per_frame) in cases {
        assert_eq!(format.bytes_per_ms(), per_ms, "{format:?}");
        assert_eq!(format.bytes_per_frame(), per_frame, "{format:?}");
    }
    assert_eq!(FRAME_MS, 20);
}

#[test]
fn sample_rates_round_trip_through_hertz() {
    for rate in [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz24000] {
        assert_eq!(SampleRate::from_hz(rate.hz()), Some(rate));
        assert_eq!(rate.samples_per_frame() * 50, rate.hz() as usize);
    }
    assert_eq!(SampleRate::from_hz(44_100), None);
    assert_eq!(SampleRate::from_hz(0), None);
}

#[test]
fn milliseconds_and_bytes_convert_both_ways() {
    let cases = [
        // (format, bytes, whole ms, exact duration)
        (AudioFormat::Ulaw, 160, 20, Duration::from_millis(20)),
        (AudioFormat::Ulaw, 7, 0, Duration::from_micros(875)),
        (AudioFormat::Alaw, 8_000, 1_000, Duration::from_secs(1)),
        (AudioFormat::Pcm16(SampleRate::Hz8000), 17, 1, Duration::from_nanos(1_062_500)),
        (AudioFormat::Pcm16(SampleRate::Hz16000), 3_200, 100, Duration::from_millis(100)),
        (AudioFormat::Pcm16(SampleRate::Hz24000), 4_801, 100, Duration::from_nanos(100_020_833)),
    ];
    for (format, bytes, ms, duration) in cases {
        assert_eq!(format.ms_for_bytes(bytes), ms, "{format:?} {bytes}");
        assert_eq!(format.duration_of(bytes), duration, "{format:?} {bytes}");
    }
    for format in ALL {
        for ms in [0, 1, 20, 1_234, 3_600_000] {
            assert_eq!(format.ms_for_bytes(format.bytes_for_ms(ms)), ms);
            assert_eq!(format.duration_of(format.bytes_for_ms(ms)), Duration::from_millis(ms));
        }
    }
}

#[test]
fn huge_values_saturate_instead_of_panicking() {
    for format in ALL {
        assert_eq!(format.bytes_for_ms(u64::MAX), u64::MAX);
        let whole_ms = u64::MAX / format.bytes_per_ms() as u64;
        assert!(format.duration_of(u64::MAX) >= Duration::from_millis(whole_ms));
        assert!(format.duration_of(u64::MAX) < Duration::from_millis(whole_ms + 1));
    }
}
