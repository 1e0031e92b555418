//! Kaiser-windowed sinc low-pass design for the polyphase resampler.
//!
//! The specification is the same for every rate pair, relative to the lower
//! of the two Nyquist frequencies `F` (4 kHz when 8 kHz is involved, 8 kHz
//! between 16 and 24 kHz): pass up to 0.85 `F` (3.4 kHz at 8 kHz, the top of
//! the telephone band), stop from `F` on with 85 dB of attenuation. Kaiser's
//! formulas give the window shape and the minimum length; the length is then
//! rounded up to whole SIMD lanes per phase, which only narrows the
//! transition band. The formulas are estimates: the exact responses reach
//! 84.4 to 85.7 dB, which the tests check.

use std::f64::consts::PI;

/// The passband edge as a fraction of the lower Nyquist frequency.
pub(super) const PASSBAND_EDGE: f64 = 0.85;

/// The stopband edge as a fraction of the lower Nyquist frequency.
pub(super) const STOPBAND_EDGE: f64 = 1.0;

/// Stopband attenuation that the design aims for; the passband ripple follows
/// from it (20·log10(1 + 10^(−85/20)), about 0.0005 dB). G.711 itself
/// resolves about 38 dB; the margin is for wideband PCM16, where 85 dB is
/// within about 15 dB of the i16 rounding floor.
pub(super) const ATTENUATION_DB: f64 = 85.0;

/// Taps per phase are a multiple of this so the dot product runs in whole
/// SIMD registers without a scalar tail.
pub(super) const LANES: usize = 8;

/// A designed filter: `phases` interleaved sub-filters of `taps` each.
#[derive(Debug)]
pub(super) struct Design {
    /// Taps per phase, a multiple of [`LANES`].
    pub(super) taps: usize,
    /// The prototype low-pass at the upsampled rate, unity gain at DC,
    /// `phases * taps` long.
    pub(super) prototype: Vec<f64>,
}

/// Designs the low-pass for upsampling by `up` then downsampling by `down`,
/// where `lower_nyquist` is the lower Nyquist frequency as a fraction of the
/// upsampled rate (cycles per sample).
pub(super) fn design(up: usize, lower_nyquist: f64) -> Design {
    let pass = PASSBAND_EDGE * lower_nyquist;
    let stop = STOPBAND_EDGE * lower_nyquist;
    // Kaiser's length estimate, with the transition in radians per sample.
    let transition = 2.0 * PI * (stop - pass);
    let min_len = ((ATTENUATION_DB - 7.95) / (2.285 * transition)).ceil() as usize + 1;
    let taps = min_len.div_ceil(up).div_ceil(LANES) * LANES;
    let len = taps * up;
    let cutoff = (pass + stop) / 2.0;
    Design { taps, prototype: windowed_sinc(len, cutoff, kaiser_beta(ATTENUATION_DB)) }
}

/// Kaiser's β for a stopband attenuation in dB.
fn kaiser_beta(attenuation_db: f64) -> f64 {
    if attenuation_db > 50.0 {
        0.1102 * (attenuation_db - 8.7)
    } else if attenuation_db >= 21.0 {
        0.5842 * (attenuation_db - 21.0).powf(0.4) + 0.07886 * (attenuation_db - 21.0)
    } else {
        0.0
    }
}

/// A `len`-tap low-pass with its -6 dB point at `cutoff` cycles per sample,
/// scaled to unity gain at DC.
fn windowed_sinc(len: usize, cutoff: f64, beta: f64) -> Vec<f64> {
    let centre = (len as f64 - 1.0) / 2.0;
    let window_scale = bessel_i0(beta);
    let mut taps: Vec<f64> = (0..len)
        .map(|n| {
            let offset = n as f64 - centre;
            let sinc = if offset == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * PI * cutoff * offset).sin() / (PI * offset)
            };
            let ratio = if centre > 0.0 { offset / centre } else { 0.0 };
            let window = bessel_i0(beta * (1.0 - ratio * ratio).max(0.0).sqrt()) / window_scale;
            sinc * window
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    for tap in &mut taps {
        *tap /= sum;
    }
    taps
}

/// The zeroth-order modified Bessel function of the first kind, by its power
/// series (converges quickly for the β values used here, below 10).
fn bessel_i0(x: f64) -> f64 {
    let quarter_square = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    while term > sum * 1e-17 {
        term *= quarter_square / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}
