use std::f64::consts::PI;

use super::{Vad, VadConfig, VadEvent, rms_dbfs};

/// A sine of `amplitude` (of full scale) at 1 kHz, 8 kHz sampling.
fn sine(amplitude: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| (amplitude * 32_767.0 * (2.0 * PI * 1_000.0 * n as f64 / 8_000.0).sin()) as i16)
        .collect()
}

#[test]
fn rms_levels() {
    // (input, expected dBFS, tolerance)
    let cases: [(Vec<i16>, f32, f32); 6] = [
        (vec![i16::MIN; 160], 0.0, 1e-6),
        (vec![16_384; 160], -6.0206, 1e-3),
        (vec![-16_384, 16_384], -6.0206, 1e-3),
        (vec![1; 160], -90.309, 1e-3),
        (sine(1.0, 160), -3.0104, 1e-2),
        (sine(0.01, 160), -43.01, 5e-2),
    ];
    for (samples, expected, tolerance) in cases {
        let level = rms_dbfs(&samples);
        assert!(
            (level - expected).abs() < tolerance,
            "{level} dBFS, expected {expected} for {:?}…",
            &samples[..2]
        );
    }
}

#[test]
fn silence_and_empty_frames_are_minus_infinity() {
    assert_eq!(rms_dbfs(&[]), f32::NEG_INFINITY);
    assert_eq!(rms_dbfs(&[0; 160]), f32::NEG_INFINITY);
}

/// Runs `levels` through a detector and returns (frame index, event) pairs.
fn transitions(config: VadConfig, levels: &[f32]) -> Vec<(usize, VadEvent)> {
    let mut vad = Vad::new(config);
    levels
        .iter()
        .enumerate()
        .filter_map(|(index, &level)| vad.push_level(level).map(|event| (index, event)))
        .collect()
}

const CONFIG: VadConfig =
    VadConfig { start_dbfs: -30.0, stop_dbfs: -40.0, min_speech_frames: 3, min_silence_frames: 2 };

const LOUD: f32 = -20.0;
const BETWEEN: f32 = -35.0;
const QUIET: f32 = -50.0;

/// A named sequence of frame levels and the transitions it must produce.
type Case = (&'static str, Vec<f32>, Vec<(usize, VadEvent)>);

#[test]
fn transitions_follow_thresholds_and_durations() {
    use VadEvent::{SpeechStarted as Start, SpeechStopped as Stop};
    let cases: [Case; 8] = [
        ("silence stays silent", vec![QUIET; 10], vec![]),
        (
            "speech starts on the third loud frame",
            vec![QUIET, LOUD, LOUD, LOUD, LOUD],
            vec![(3, Start)],
        ),
        (
            "two loud frames are a click, not speech",
            vec![LOUD, LOUD, QUIET, LOUD, LOUD, QUIET],
            vec![],
        ),
        ("between the thresholds does not start speech", vec![BETWEEN; 10], vec![]),
        (
            "between the thresholds keeps speech going",
            vec![LOUD, LOUD, LOUD, BETWEEN, BETWEEN, BETWEEN, BETWEEN],
            vec![(2, Start)],
        ),
        (
            "speech stops on the second quiet frame",
            vec![LOUD, LOUD, LOUD, QUIET, QUIET, QUIET],
            vec![(2, Start), (4, Stop)],
        ),
        (
            "one quiet frame inside speech is a pause",
            vec![LOUD, LOUD, LOUD, QUIET, BETWEEN, QUIET, LOUD, QUIET, QUIET],
            vec![(2, Start), (8, Stop)],
        ),
        (
            "speech can start again",
            vec![LOUD, LOUD, LOUD, QUIET, QUIET, LOUD, LOUD, LOUD],
            vec![(2, Start), (4, Stop), (7, Start)],
        ),
    ];
    for (name, levels, expected) in cases {
        assert_eq!(transitions(CONFIG, &levels), expected, "{name}");
    }
}

#[test]
fn the_start_threshold_is_inclusive_and_the_stop_threshold_exclusive() {
    let config = VadConfig { min_speech_frames: 1, min_silence_frames: 1, ..CONFIG };
    assert_eq!(
        transitions(config, &[-30.0, -40.0, -40.001]),
        vec![(0, VadEvent::SpeechStarted), (2, VadEvent::SpeechStopped)]
    );
}

#[test]
fn zero_durations_behave_as_one_frame() {
    let config = VadConfig { min_speech_frames: 0, min_silence_frames: 0, ..CONFIG };
    assert_eq!(
        transitions(config, &[LOUD, QUIET]),
        vec![(0, VadEvent::SpeechStarted), (1, VadEvent::SpeechStopped)]
    );
}

#[test]
fn frames_are_measured_and_silence_counts_as_quiet() {
    let mut vad = Vad::new(VadConfig::default());
    let speech = sine(0.1, 160); // about -23 dBFS
    assert_eq!(vad.push_frame(&speech), None);
    assert_eq!(vad.push_frame(&speech), None);
    assert_eq!(vad.push_frame(&speech), Some(VadEvent::SpeechStarted));
    assert!(vad.is_speaking());
    let events: Vec<_> = (0..30).filter_map(|_| vad.push_frame(&[0; 160])).collect();
    assert_eq!(events, vec![VadEvent::SpeechStopped]);
    assert!(!vad.is_speaking());

    vad.push_frame(&speech);
    vad.push_frame(&speech);
    vad.reset();
    assert_eq!(vad.push_frame(&speech), None, "reset forgets the run");
}
