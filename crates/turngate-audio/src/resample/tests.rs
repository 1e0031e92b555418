use std::f64::consts::PI;
use std::time::Duration;

use super::Resampler;
use super::design::{ATTENUATION_DB, PASSBAND_EDGE, STOPBAND_EDGE, design};
use crate::{Error, SampleRate};

use SampleRate::{Hz8000, Hz16000, Hz24000};

const PAIRS: [(SampleRate, SampleRate); 6] = [
    (Hz8000, Hz16000),
    (Hz16000, Hz8000),
    (Hz8000, Hz24000),
    (Hz24000, Hz8000),
    (Hz16000, Hz24000),
    (Hz24000, Hz16000),
];

/// A small deterministic generator, so the tests need no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 =
            self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, bound: u32) -> usize {
        (self.next() % bound) as usize
    }
}

/// Speech-like test material: three tones, noise, and a few clipped peaks.
fn test_signal(rate: SampleRate, len: usize) -> Vec<i16> {
    let mut noise = Lcg(7);
    let hz = f64::from(rate.hz());
    (0..len)
        .map(|n| {
            let t = n as f64 / hz;
            let value = 9_000.0 * (2.0 * PI * 310.0 * t).sin()
                + 7_000.0 * (2.0 * PI * 1_234.5 * t).sin()
                + 5_000.0 * (2.0 * PI * 3_000.0 * t).sin()
                + noise.below(8_000) as f64
                - 4_000.0;
            let value = if n % 997 < 5 { value * 4.0 } else { value };
            value.clamp(-32_768.0, 32_767.0) as i16
        })
        .collect()
}

fn process_all(resampler: &mut Resampler, input: &[i16]) -> Vec<i16> {
    let mut output = vec![0; resampler.output_len(input.len())];
    let written = resampler.process(input, &mut output).unwrap();
    assert_eq!(written, output.len());
    output
}

#[test]
fn chunks_of_any_size_give_the_same_output_as_one_call() {
    for (from, to) in PAIRS {
        let input = test_signal(from, from.hz() as usize);
        let whole = process_all(&mut Resampler::new(from, to), &input);
        assert_eq!(whole.len(), to.hz() as usize, "{from:?}→{to:?}");

        let mut resampler = Resampler::new(from, to);
        let mut chunked = Vec::new();
        let mut sizes = Lcg(u64::from(from.hz() + to.hz()));
        let mut rest = input.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(sizes.below(700).min(rest.len()));
            let before = chunked.len();
            resampler.process_extend(chunk, &mut chunked);
            assert!(chunked.len() - before <= resampler.max_output_len(chunk.len()));
            rest = tail;
        }
        assert_eq!(chunked, whole, "{from:?}→{to:?}");
    }
}

#[test]
fn twenty_millisecond_frames_give_twenty_milliseconds_each() {
    for (from, to) in PAIRS {
        let input = test_signal(from, from.samples_per_frame() * 50);
        let whole = process_all(&mut Resampler::new(from, to), &input);
        let mut resampler = Resampler::new(from, to);
        let mut framed = Vec::new();
        let mut frame_out = vec![0; to.samples_per_frame()];
        for frame in input.chunks(from.samples_per_frame()) {
            assert_eq!(
                resampler.process(frame, &mut frame_out),
                Ok(to.samples_per_frame()),
                "{from:?}→{to:?}"
            );
            framed.extend_from_slice(&frame_out);
        }
        assert_eq!(framed, whole, "{from:?}→{to:?}");
    }
}

#[test]
fn a_reused_output_vector_stops_reallocating() {
    let mut resampler = Resampler::new(Hz8000, Hz24000);
    let frame = test_signal(Hz8000, 160);
    let mut output = Vec::with_capacity(480);
    let pointer = output.as_ptr();
    for _ in 0..1_000 {
        output.clear();
        resampler.process_extend(&frame, &mut output);
        assert_eq!(output.len(), 480);
        assert_eq!(output.as_ptr(), pointer);
        assert_eq!(output.capacity(), 480);
    }
}

#[test]
fn a_short_output_is_an_error_that_leaves_the_state_alone() {
    let input = test_signal(Hz16000, 1_000);
    let expected = process_all(&mut Resampler::new(Hz16000, Hz24000), &input);

    let mut resampler = Resampler::new(Hz16000, Hz24000);
    let mut small = [0_i16; 10];
    assert_eq!(
        resampler.process(&input, &mut small),
        Err(Error::OutputTooShort { needed: 1_500, available: 10 })
    );
    assert_eq!(small, [0; 10], "nothing written");
    assert_eq!(process_all(&mut resampler, &input), expected);
}

#[test]
fn flush_pushes_out_the_last_latency_as_silence_would() {
    for (from, to) in PAIRS {
        // The input ends with a click; its response peaks one latency later,
        // which only a flush brings out.
        let mut input = vec![0_i16; 500];
        input.push(20_000);
        let mut resampler = Resampler::new(from, to);
        let before = process_all(&mut resampler, &input);
        // A low-pass spreads a click, decimation more so, and the output
        // instants can miss its peak: the peaks here are 4,000 to 18,500.
        assert!(before.iter().all(|&v| v.abs() < 1_000), "{from:?}→{to:?}");

        let mut by_silence = resampler.clone();
        let tail_len = resampler.flush_len();
        let mut tail = vec![0_i16; tail_len + 5];
        assert_eq!(resampler.flush(&mut tail), Ok(tail_len));
        tail.truncate(tail_len);
        let latency = resampler.latency().as_secs_f64() * f64::from(to.hz());
        assert!(
            (latency..latency + 1.0 + f64::from(to.hz() / from.hz())).contains(&(tail_len as f64)),
            "{from:?}→{to:?}: flushed {tail_len} for a latency of {latency}"
        );
        let peak = tail.iter().position(|&v| v == *tail.iter().max().unwrap()).unwrap();
        assert!(tail[peak] > 3_000, "{from:?}→{to:?}: the click came out");

        // A flush is exactly that much silence, and the stream goes on.
        let silence = vec![0_i16; (resampler.delay / resampler.up as f64).ceil() as usize];
        assert_eq!(process_all(&mut by_silence, &silence), tail, "{from:?}→{to:?}");
        let more = test_signal(from, 300);
        assert_eq!(process_all(&mut resampler, &more), process_all(&mut by_silence, &more));
    }
}

#[test]
fn a_short_flush_buffer_is_an_error_that_leaves_the_state_alone() {
    let mut resampler = Resampler::new(Hz8000, Hz16000);
    process_all(&mut resampler, &test_signal(Hz8000, 100));
    let needed = resampler.flush_len();
    assert_eq!(resampler.flush(&mut [0; 3]), Err(Error::OutputTooShort { needed, available: 3 }));
    assert_eq!(resampler.flush_len(), needed);
    let mut same_rate = Resampler::new(Hz8000, Hz8000);
    assert_eq!(same_rate.flush(&mut []), Ok(0));
}

#[test]
fn reset_forgets_everything() {
    let input = test_signal(Hz24000, 999);
    let expected = process_all(&mut Resampler::new(Hz24000, Hz16000), &input);
    let mut resampler = Resampler::new(Hz24000, Hz16000);
    process_all(&mut resampler, &input[..501]);
    resampler.reset();
    assert_eq!(process_all(&mut resampler, &input), expected);
}

#[test]
fn the_same_rate_is_an_exact_copy() {
    for rate in [Hz8000, Hz16000, Hz24000] {
        let mut resampler = Resampler::new(rate, rate);
        let input = test_signal(rate, 333);
        assert_eq!(process_all(&mut resampler, &input), input);
        assert_eq!(resampler.latency(), Duration::ZERO);
        assert_eq!(resampler.input_rate(), rate);
        assert_eq!(resampler.output_rate(), rate);
    }
}

#[test]
fn dc_passes_at_unity_gain() {
    for (from, to) in PAIRS {
        for level in [-20_000_i16, 1, 12_345] {
            let output = process_all(&mut Resampler::new(from, to), &vec![level; 4_000]);
            let settled = &output[output.len() / 2..];
            assert!(
                settled.iter().all(|&v| (i32::from(v) - i32::from(level)).abs() <= 1),
                "{from:?}→{to:?} at {level}: {:?}",
                &settled[..4]
            );
        }
    }
}

#[test]
fn loud_overshoot_saturates_instead_of_wrapping() {
    for (from, to) in PAIRS {
        // A full-scale square wave rings above full scale after filtering;
        // the same wave at half scale does not, so doubling its output and
        // clamping is what the full-scale output must be (to rounding).
        let period = from.hz() as usize / 400;
        let square = |level: i16| -> Vec<i16> {
            (0..from.hz() as usize / 4)
                .map(|n| if n % period < period / 2 { level } else { -level })
                .collect()
        };
        let full = process_all(&mut Resampler::new(from, to), &square(32_766));
        let half = process_all(&mut Resampler::new(from, to), &square(16_383));
        assert_eq!(full.iter().max(), Some(&i16::MAX), "{from:?}→{to:?}");
        assert_eq!(full.iter().min(), Some(&i16::MIN), "{from:?}→{to:?}");
        for (n, (&full, &half)) in full.iter().zip(&half).enumerate() {
            let expected = (2 * i32::from(half)).clamp(-32_768, 32_767);
            assert!(
                (i32::from(full) - expected).abs() <= 2,
                "{from:?}→{to:?} at {n}: {full}, expected {expected}"
            );
        }
    }
}

#[test]
fn latency_matches_the_step_response() {
    for (from, to) in PAIRS {
        let mut resampler = Resampler::new(from, to);
        let onset = 400;
        let input: Vec<i16> = (0..2_000).map(|n| if n < onset { 0 } else { 10_000 }).collect();
        let output = process_all(&mut resampler, &input);
        // The band-limited step between input samples `onset - 1` and
        // `onset` is half-way up half a sample before `onset`; a linear-phase
        // low-pass shows that point delayed by exactly its group delay.
        let crossing = output.iter().position(|&v| v >= 5_000).unwrap();
        let expected = ((onset as f64 - 0.5) / f64::from(from.hz())
            + resampler.latency().as_secs_f64())
            * f64::from(to.hz());
        eprintln!(
            "{from:?}→{to:?}: latency {:.3} ms ({:.2} output samples), step crosses half at {crossing}, expected {expected:.2}",
            resampler.latency().as_secs_f64() * 1e3,
            resampler.latency().as_secs_f64() * f64::from(to.hz()),
        );
        // The first output at or past the crossing point.
        assert!(
            (-1e-3..1.0).contains(&(crossing as f64 - expected)),
            "{from:?}→{to:?}: crossing at {crossing}, expected {expected}"
        );
    }
}

/// What a sine sweep measures for one tone.
struct ToneResult {
    /// Output amplitude of the input tone over input amplitude, in dB.
    gain_db: f64,
    /// Input level over the level of everything else in the output, in dB.
    rejection_db: f64,
}

const AMPLITUDE: f64 = 30_000.0;

/// Runs a tone through a fresh resampler and fits a sinusoid at the tone's
/// frequency to the settled output by least squares; whatever the fit leaves
/// over is images, aliases and rounding noise.
fn measure(from: SampleRate, to: SampleRate, freq: f64) -> ToneResult {
    const MEASURED: usize = 2_400;
    let mut resampler = Resampler::new(from, to);
    let settle = resampler.taps * resampler.up / resampler.down + 8;
    let input_len = (settle + MEASURED) * resampler.down / resampler.up + 2;
    let input: Vec<i16> = (0..input_len)
        .map(|n| {
            let value = AMPLITUDE * (2.0 * PI * freq * n as f64 / f64::from(from.hz())).sin();
            value.round() as i16
        })
        .collect();
    let output = process_all(&mut resampler, &input);
    let output = &output[settle..settle + MEASURED];

    let omega = 2.0 * PI * freq / f64::from(to.hz());
    let (mut cc, mut ss, mut cs, mut yc, mut ys) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (n, &y) in output.iter().enumerate() {
        let (s, c) = (omega * n as f64).sin_cos();
        let y = f64::from(y);
        cc += c * c;
        ss += s * s;
        cs += c * s;
        yc += y * c;
        ys += y * s;
    }
    // A tone at the output's Nyquist frequency or above has no in-band
    // counterpart: all of its output is alias.
    let in_band = freq < f64::from(to.hz()) / 2.0;
    let determinant = cc * ss - cs * cs;
    let (a, b) = if in_band && determinant.abs() > 1e-9 {
        ((yc * ss - ys * cs) / determinant, (ys * cc - yc * cs) / determinant)
    } else {
        (0.0, 0.0)
    };
    let residual: f64 = output
        .iter()
        .enumerate()
        .map(|(n, &y)| {
            let (s, c) = (omega * n as f64).sin_cos();
            (f64::from(y) - a * c - b * s).powi(2)
        })
        .sum::<f64>()
        / MEASURED as f64;
    ToneResult {
        gain_db: 20.0 * (a.hypot(b) / AMPLITUDE).log10(),
        rejection_db: 20.0 * (AMPLITUDE / 2.0_f64.sqrt() / residual.sqrt().max(1e-9)).log10(),
    }
}

/// `count` frequencies evenly from `low` to `high`, both included.
fn sweep(low: f64, high: f64, count: usize) -> impl Iterator<Item = f64> {
    (0..count).map(move |i| low + (high - low) * i as f64 / (count - 1) as f64)
}

/// The sine sweep the module docs promise: passband ripple up to 0.85 of the
/// lower Nyquist frequency, and rejection of everything the conversion
/// creates at or above it (aliases when going down, images when going up).
#[test]
fn quality_sweep() {
    const MAX_RIPPLE_DB: f64 = 0.005;
    const MIN_REJECTION_DB: f64 = 80.0;
    for (from, to) in PAIRS {
        let nyquist = f64::from(from.hz().min(to.hz())) / 2.0;
        let input_nyquist = f64::from(from.hz()) / 2.0;

        let passband: Vec<ToneResult> =
            sweep(50.0, PASSBAND_EDGE * nyquist, 40).map(|f| measure(from, to, f)).collect();
        let gains = passband.iter().map(|r| r.gain_db);
        let (low, high) = gains.fold((f64::MAX, f64::MIN), |(lo, hi), g| (lo.min(g), hi.max(g)));

        // Tones whose aliases or images land at or above the lower Nyquist
        // frequency: all input tones when going up, tones from that
        // frequency up when going down. Densest near the edge, where the
        // first (largest) stopband lobe sits.
        let stop_tones: Vec<f64> = if from < to {
            sweep(50.0, input_nyquist - 20.0, 60).collect()
        } else {
            sweep(nyquist, nyquist * 1.1, 20)
                .chain(sweep(nyquist * 1.1, input_nyquist - 20.0, 40))
                .collect()
        };
        let (worst, worst_at) = stop_tones
            .iter()
            .map(|&f| (measure(from, to, f).rejection_db, f))
            .fold((f64::MAX, 0.0), |best, next| if next.0 < best.0 { next } else { best });
        eprintln!(
            "{from:?}→{to:?}: passband 50–{:.0} Hz gain {low:+.4} to {high:+.4} dB \
             (ripple {:.4} dB); worst {} rejection {worst:.1} dB at {worst_at:.0} Hz",
            PASSBAND_EDGE * nyquist,
            high - low,
            if from < to { "image" } else { "alias" },
        );
        assert!(
            high - low <= MAX_RIPPLE_DB
                && low.abs() <= MAX_RIPPLE_DB
                && high.abs() <= MAX_RIPPLE_DB,
            "{from:?}→{to:?}: passband {low} to {high} dB"
        );
        assert!(
            worst >= MIN_REJECTION_DB,
            "{from:?}→{to:?}: rejection {worst} dB at {worst_at} Hz"
        );
        // In-band tones come out clean as well (the rounding noise floor).
        let floor = passband.iter().map(|r| r.rejection_db).fold(f64::MAX, f64::min);
        assert!(floor >= MIN_REJECTION_DB, "{from:?}→{to:?}: in-band residue {floor} dB");
    }
}

/// The prototype filter's exact frequency response (from its taps, without
/// i16 rounding) meets the design specification on a dense grid.
#[test]
fn prototype_meets_the_specification() {
    for (from, to) in PAIRS {
        let resampler = Resampler::new(from, to);
        let upsampled = f64::from(from.hz()) * resampler.up as f64;
        let nyquist = f64::from(from.hz().min(to.hz())) / 2.0 / upsampled;
        let filter = design(resampler.up, nyquist);
        let response_db = |f: f64| {
            let (re, im) =
                filter.prototype.iter().enumerate().fold((0.0, 0.0), |(re, im), (n, &h)| {
                    let (s, c) = (2.0 * PI * f * n as f64).sin_cos();
                    (re + h * c, im - h * s)
                });
            20.0 * f64::hypot(re, im).log10()
        };
        let ripple = sweep(0.0, PASSBAND_EDGE * nyquist, 500)
            .map(|f| response_db(f).abs())
            .fold(0.0, f64::max);
        let stopband =
            sweep(STOPBAND_EDGE * nyquist, 0.5, 2_000).map(response_db).fold(f64::MIN, f64::max);
        eprintln!(
            "{from:?}→{to:?}: {} taps ({} per phase), passband within ±{ripple:.5} dB, stopband peak {stopband:.1} dB",
            filter.prototype.len(),
            filter.taps
        );
        assert_eq!(filter.taps, resampler.taps);
        // Kaiser's β and length formulas are estimates good to about a dB.
        assert!(ripple < 0.001, "{from:?}→{to:?}: ripple {ripple} dB");
        assert!(stopband < -(ATTENUATION_DB - 1.0), "{from:?}→{to:?}: stopband {stopband} dB");
    }
}
