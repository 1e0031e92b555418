//! A lock-free latency histogram in microseconds, shared by every call's
//! task: one atomic increment per sample, percentiles read at the end.
//!
//! Buckets are exact below 1,024 µs and log-linear above (512 buckets per
//! power of two), so any reported value is within 0.2 % of the sample it
//! stands for, from one microsecond to days.

use std::sync::atomic::{AtomicU64, Ordering};

/// Exact buckets below this many microseconds.
const LINEAR: u64 = 1024;
/// Buckets per power of two above [`LINEAR`].
const PER_OCTAVE: u64 = 512;
/// Octaves above [`LINEAR`] covered (up to 2^50 µs, decades).
const OCTAVES: u64 = 40;
const BUCKETS: usize = (LINEAR + PER_OCTAVE * OCTAVES) as usize;

/// Counts of samples by value. Recording touches one bucket and, only for
/// a new maximum, the maximum: no counter every sample shares, so the
/// callers' threads do not fight over one cache line.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
}

/// Percentiles of a histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Summary {
    /// Samples recorded.
    pub(crate) count: u64,
    /// The median.
    pub(crate) p50: u64,
    /// The 99th percentile.
    pub(crate) p99: u64,
    /// The 99.9th percentile.
    pub(crate) p999: u64,
    /// The largest sample.
    pub(crate) max: u64,
}

impl Summary {
    /// A percentile in milliseconds.
    pub(crate) fn ms(value: u64) -> f64 {
        value as f64 / 1000.0
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one sample of `micros`.
    pub(crate) fn record(&self, micros: u64) {
        if let Some(bucket) = self.buckets.get(index(micros)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        if micros > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(micros, Ordering::Relaxed);
        }
    }

    /// The percentiles so far.
    pub(crate) fn summary(&self) -> Summary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        // Nearest rank: the smallest value with at least `q` of the samples
        // at or below it.
        let quantile = |q: f64| -> u64 {
            if count == 0 {
                return 0;
            }
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            for (i, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return lower_bound(i).min(max);
                }
            }
            max
        };
        Summary { count, p50: quantile(0.50), p99: quantile(0.99), p999: quantile(0.999), max }
    }
}

/// The bucket of `micros`.
fn index(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    // The position of the highest set bit, at least 10 here; `micros >>
    // shift` keeps its top ten bits, in [512, 1024).
    let shift = u64::from(63 - micros.leading_zeros()) - 9;
    let octave = (shift - 1).min(OCTAVES - 1);
    let within = (micros >> shift).saturating_sub(PER_OCTAVE).min(PER_OCTAVE - 1);
    (LINEAR + octave * PER_OCTAVE + within) as usize
}

/// The smallest value that falls in bucket `index`.
fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < LINEAR {
        return index;
    }
    let octave = (index - LINEAR) / PER_OCTAVE;
    let within = (index - LINEAR) % PER_OCTAVE;
    (PER_OCTAVE + within) << (octave + 1)
}

#[cfg(test)]
pub(crate) fn bucket_bounds(micros: u64) -> (u64, u64) {
    let i = index(micros);
    (lower_bound(i), lower_bound(i + 1))
}
