//! Throughput of the G.711 codecs and the resamplers.
//!
//! Run with `cargo bench -p turngate-audio`. Each case runs once to warm up,
//! then several timed runs; the median is reported. Encode figures count
//! PCM16 bytes in (two per sample), decode figures count G.711 bytes in,
//! resampler figures count input samples and input PCM16 bytes.

#![allow(clippy::print_stdout, reason = "a benchmark reports its figures on stdout")]
#![allow(clippy::indexing_slicing, reason = "fixed sizes chosen here, never peer input")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use turngate_audio::{Resampler, SampleRate, alaw, ulaw};

/// Timed runs per case; the median is reported.
const RUNS: usize = 15;

/// Times `work` (which processes `bytes` input bytes and `samples` input
/// samples per call, `repeats` times) and prints the median throughput.
fn report(name: &str, bytes: usize, samples: usize, repeats: usize, mut work: impl FnMut()) {
    work();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..repeats {
                work();
            }
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2].as_secs_f64() / repeats as f64;
    println!(
        "{name:<28} {:>9.1} MB/s {:>10.1} M samples/s {:>9.2} µs per call",
        bytes as f64 / median / 1e6,
        samples as f64 / median / 1e6,
        median * 1e6,
    );
}

fn main() {
    // 1 MiB of PCM16 (512 Ki samples): large enough to swamp timer overhead,
    // small enough to stay in L2 alongside the tables.
    let samples: Vec<i16> =
        (0..512 * 1024).map(|n: i32| ((n * 7_919) % 65_536 - 32_768) as i16).collect();
    let codes: Vec<u8> = samples.iter().map(|&s| ulaw::encode(s)).collect();
    let mut code_out = vec![0_u8; samples.len()];
    let mut sample_out = vec![0_i16; samples.len()];
    let n = samples.len();

    println!("G.711, {n} samples per call, median of {RUNS} runs");
    report("µ-law encode (PCM16 in)", 2 * n, n, 20, || {
        ulaw::encode_into(black_box(&samples), &mut code_out).ok();
        black_box(&code_out);
    });
    report("µ-law decode (bytes in)", n, n, 20, || {
        ulaw::decode_into(black_box(&codes), &mut sample_out).ok();
        black_box(&sample_out);
    });
    report("A-law encode (PCM16 in)", 2 * n, n, 20, || {
        alaw::encode_into(black_box(&samples), &mut code_out).ok();
        black_box(&code_out);
    });
    report("A-law decode (bytes in)", n, n, 20, || {
        alaw::decode_into(black_box(&codes), &mut sample_out).ok();
        black_box(&sample_out);
    });

    // Twenty-millisecond frames, as a call delivers them, through the
    // resampler: one second of audio per call.
    println!("\nResampling one second in 20 ms frames, median of {RUNS} runs");
    let rates = [SampleRate::Hz8000, SampleRate::Hz16000, SampleRate::Hz24000];
    for from in rates {
        for to in rates {
            if from == to {
                continue;
            }
            let input = &samples[..from.hz() as usize];
            let mut resampler = Resampler::new(from, to);
            let mut output = vec![0_i16; to.samples_per_frame()];
            report(
                &format!("{} → {} kHz", from.hz() / 1_000, to.hz() / 1_000),
                2 * input.len(),
                input.len(),
                5,
                || {
                    for frame in black_box(input).chunks(from.samples_per_frame()) {
                        resampler.process(frame, &mut output).ok();
                        black_box(&output);
                    }
                },
            );
        }
    }
}
