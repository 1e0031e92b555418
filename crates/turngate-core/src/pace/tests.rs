//! The audio-time bucket against real-time, fast and jittery streams.

use std::time::{Duration, Instant};

use super::AudioPace;

const FRAME: Duration = Duration::from_millis(20);

/// Feeds 20 ms frames at `speed` times real time for `seconds`;
/// returns when (in audio seconds) the first refusal came, if any.
fn feed(pace: &mut AudioPace, start: Instant, speed: f64, seconds: f64) -> Option<f64> {
    let frames = (seconds / 0.020).round() as u32;
    for n in 0..frames {
        let at = start + FRAME.mul_f64(f64::from(n) / speed);
        if !pace.admit(at, FRAME) {
            return Some(f64::from(n) * 0.020);
        }
    }
    None
}

#[test]
fn real_time_audio_runs_forever_and_faster_audio_is_stopped() {
    let start = Instant::now();
    let burst = Duration::from_secs(5);
    assert_eq!(feed(&mut AudioPace::new(1.5, burst), start, 1.0, 3600.0), None);
    assert_eq!(feed(&mut AudioPace::new(1.5, burst), start, 1.45, 600.0), None);
    // At twice real time the excess is 0.5 s per second of clock, so
    // the 5 s bucket empties after about 10 s of clock (20 s of audio).
    let cut = feed(&mut AudioPace::new(1.5, burst), start, 2.0, 600.0).unwrap();
    assert!((19.0..=21.0).contains(&cut), "{cut}");
    // A flood at a thousand times real time gets the bucket's worth.
    let cut = feed(&mut AudioPace::new(1.5, burst), start, 1000.0, 600.0).unwrap();
    assert!((4.9..=5.1).contains(&cut), "{cut}");
}

#[test]
fn a_stall_then_a_flush_of_what_was_buffered_is_jitter_not_abuse() {
    let start = Instant::now();
    let mut pace = AudioPace::new(1.5, Duration::from_secs(5));
    assert_eq!(feed(&mut pace, start, 1.0, 60.0), None);
    // Three seconds of nothing, then the three buffered seconds at once.
    let resume = start + Duration::from_secs(63);
    for _ in 0..150 {
        assert!(pace.admit(resume, FRAME));
    }
    // Silence banks no more than the bucket: a long pause does not let
    // a peer send minutes of audio in one go.
    let later = resume + Duration::from_secs(600);
    let admitted = (0..1000).take_while(|_| pace.admit(later, FRAME)).count();
    assert_eq!(admitted, 250, "exactly the 5 s bucket");
}
