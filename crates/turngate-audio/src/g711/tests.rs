//! Full-domain checks of both laws against independent implementations of
//! the ITU-T G.191 `g711.c` algorithms (segment search by shifting, as the
//! reference does it) and of Sun's `g711.c` (segment search by table scan).
//! None of these helpers shares code with the lookup tables under test.

use super::{alaw, ulaw};
use crate::Error;

fn all_samples() -> impl Iterator<Item = i16> {
    i16::MIN..=i16::MAX
}

fn all_codes() -> impl Iterator<Item = u8> {
    u8::MIN..=u8::MAX
}

/// G.191 `ulaw_compress` for one sample.
fn g191_ulaw_compress(sample: i16) -> u8 {
    let x = i32::from(sample);
    // 14-bit magnitude, one's complement for negative samples, biased by 33.
    let mut absno = if x < 0 { (!x >> 2) + 33 } else { (x >> 2) + 33 };
    if absno > 0x1FFF {
        absno = 0x1FFF;
    }
    let mut rest = absno >> 6;
    let mut segno = 1;
    while rest != 0 {
        segno += 1;
        rest >>= 1;
    }
    let high_nibble = 0x0008 - segno;
    let low_nibble = 0x000F - ((absno >> segno) & 0x000F);
    let mut code = (high_nibble << 4) | low_nibble;
    if x >= 0 {
        code |= 0x0080;
    }
    u8::try_from(code).unwrap()
}

/// G.191 `ulaw_expand` for one code.
fn g191_ulaw_expand(code: u8) -> i16 {
    let log = i32::from(code);
    let sign = if log < 0x0080 { -1 } else { 1 };
    let complement = !log;
    let exponent = (complement >> 4) & 0x0007;
    let segment = exponent + 1;
    let mantissa = complement & 0x000F;
    let step = 4 << segment;
    let value = sign * ((0x0080 << exponent) + step * mantissa + step / 2 - 4 * 33);
    i16::try_from(value).unwrap()
}

/// G.191 `alaw_compress` for one sample.
fn g191_alaw_compress(sample: i16) -> u8 {
    let x = i32::from(sample);
    let mut ix = if x < 0 { !x >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut iexp = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            iexp += 1;
        }
        ix -= 16;
        ix += iexp << 4;
    }
    if x >= 0 {
        ix |= 0x0080;
    }
    u8::try_from(ix ^ 0x0055).unwrap()
}

/// G.191 `alaw_expand` for one code.
fn g191_alaw_expand(code: u8) -> i16 {
    let log = i32::from(code);
    let ix = (log ^ 0x0055) & 0x007F;
    let iexp = ix >> 4;
    let mut mant = ix & 0x000F;
    if iexp > 0 {
        mant += 16;
    }
    mant = (mant << 4) + 0x0008;
    if iexp > 1 {
        mant <<= iexp - 1;
    }
    i16::try_from(if log > 127 { mant } else { -mant }).unwrap()
}

/// The index of the first segment end at or above `value`, or 8 past them.
fn sun_search(value: i32, ends: &[i32; 8]) -> i32 {
    let index = ends.iter().position(|&end| value <= end).unwrap_or(8);
    i32::try_from(index).unwrap()
}

/// Sun `g711.c` (December 1994 revision) `linear2ulaw`.
fn sun_linear2ulaw(sample: i16) -> u8 {
    const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let mut value = i32::from(sample) >> 2;
    let mask = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    value = value.min(8159) + (0x84 >> 2);
    let seg = sun_search(value, &SEG_UEND);
    let code =
        if seg >= 8 { 0x7F ^ mask } else { ((seg << 4) | ((value >> (seg + 1)) & 0xF)) ^ mask };
    u8::try_from(code).unwrap()
}

/// Sun `g711.c` `ulaw2linear`.
fn sun_ulaw2linear(code: u8) -> i16 {
    let bits = i32::from(!code);
    let t = (((bits & 0xF) << 3) + 0x84) << ((bits & 0x70) >> 4);
    i16::try_from(if bits & 0x80 != 0 { 0x84 - t } else { t - 0x84 }).unwrap()
}

/// Sun `g711.c` (December 1994 revision) `linear2alaw`.
fn sun_linear2alaw(sample: i16) -> u8 {
    const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = sun_search(value, &SEG_AEND);
    let code = if seg >= 8 {
        0x7F ^ mask
    } else {
        let shift = if seg < 2 { 1 } else { seg };
        ((seg << 4) | ((value >> shift) & 0xF)) ^ mask
    };
    u8::try_from(code).unwrap()
}

/// Sun `g711.c` `alaw2linear`.
fn sun_alaw2linear(code: u8) -> i16 {
    let bits = i32::from(code ^ 0x55);
    let mut t = (bits & 0xF) << 4;
    let seg = (bits & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    i16::try_from(if bits & 0x80 != 0 { t } else { -t }).unwrap()
}

#[test]
fn ulaw_encode_matches_g191_for_every_sample() {
    for sample in all_samples() {
        assert_eq!(ulaw::encode(sample), g191_ulaw_compress(sample), "sample {sample}");
    }
}

#[test]
fn ulaw_decode_matches_g191_for_every_code() {
    for code in all_codes() {
        assert_eq!(ulaw::decode(code), g191_ulaw_expand(code), "code {code:#04x}");
    }
}

#[test]
fn alaw_encode_matches_g191_for_every_sample() {
    for sample in all_samples() {
        assert_eq!(alaw::encode(sample), g191_alaw_compress(sample), "sample {sample}");
    }
}

#[test]
fn alaw_decode_matches_g191_for_every_code() {
    for code in all_codes() {
        assert_eq!(alaw::decode(code), g191_alaw_expand(code), "code {code:#04x}");
    }
}

#[test]
fn sun_alaw_is_identical_to_g191_over_the_full_domain() {
    for sample in all_samples() {
        assert_eq!(sun_linear2alaw(sample), g191_alaw_compress(sample), "sample {sample}");
    }
    for code in all_codes() {
        assert_eq!(sun_alaw2linear(code), g191_alaw_expand(code), "code {code:#04x}");
    }
}

#[test]
fn sun_ulaw_decode_is_identical_to_g191() {
    for code in all_codes() {
        assert_eq!(sun_ulaw2linear(code), g191_ulaw_expand(code), "code {code:#04x}");
    }
}

/// Sun's `linear2ulaw` negates where G.191 complements, so it differs exactly
/// on the four inputs on the zero side of each negative decision threshold,
/// and there it picks the next code away from zero. The crate docs state this.
#[test]
fn sun_ulaw_encode_differs_from_g191_only_beside_negative_thresholds() {
    let differing: Vec<i16> =
        all_samples().filter(|&x| sun_linear2ulaw(x) != g191_ulaw_compress(x)).collect();
    // A threshold `t` is a negative input whose code differs from that of
    // `t + 1`, the sign change between -1 and 0 excluded.
    let expected: Vec<i16> = (i16::MIN..-1)
        .filter(|&t| g191_ulaw_compress(t) != g191_ulaw_compress(t + 1))
        .flat_map(|t| (1..=4).map(move |offset| t + offset))
        .collect();
    eprintln!(
        "Sun linear2ulaw differs from G.191 ulaw_compress on {} inputs, from {} to {}",
        differing.len(),
        differing.first().unwrap(),
        differing.last().unwrap()
    );
    assert_eq!(differing, expected);
    assert_eq!(expected.len(), 127 * 4, "one run of four per threshold");
    for x in differing {
        assert_eq!(
            sun_linear2ulaw(x),
            g191_ulaw_compress(x) - 1,
            "sample {x}: Sun's code is one step further from zero"
        );
    }
    // The two agree with the crate on both sides of the first threshold.
    assert_eq!(ulaw::encode(-31_612), 0x01);
    assert_eq!(sun_linear2ulaw(-31_612), 0x00);
}

#[test]
fn ulaw_negative_samples_mirror_their_complement() {
    for sample in i16::MIN..0 {
        assert_eq!(ulaw::encode(sample), ulaw::encode(!sample) ^ 0x80, "sample {sample}");
    }
}

#[test]
fn decoded_values_survive_a_round_trip() {
    for code in all_codes() {
        let value = ulaw::decode(code);
        assert_eq!(ulaw::decode(ulaw::encode(value)), value, "µ-law {code:#04x}");
        let value = alaw::decode(code);
        assert_eq!(alaw::decode(alaw::encode(value)), value, "A-law {code:#04x}");
    }
}

#[test]
fn codes_survive_a_round_trip_except_negative_zero() {
    for code in all_codes() {
        // µ-law has two zeros; 0x7F (negative zero) comes back as 0xFF.
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(ulaw::encode(ulaw::decode(code)), expected, "µ-law {code:#04x}");
        // A-law has no zero code, so every code comes back.
        assert_eq!(alaw::encode(alaw::decode(code)), code, "A-law {code:#04x}");
    }
}

#[test]
fn quantisation_is_monotonic() {
    let mut previous = (i16::MIN, i16::MIN);
    for sample in all_samples() {
        let current = (ulaw::decode(ulaw::encode(sample)), alaw::decode(alaw::encode(sample)));
        assert!(current.0 >= previous.0, "µ-law at {sample}");
        assert!(current.1 >= previous.1, "A-law at {sample}");
        previous = current;
    }
}

#[test]
fn silence_codes_decode_to_the_smallest_magnitude() {
    assert_eq!(ulaw::decode(ulaw::SILENCE), 0);
    assert_eq!(ulaw::encode(0), ulaw::SILENCE);
    assert_eq!(alaw::decode(alaw::SILENCE), 8);
    assert_eq!(alaw::encode(0), alaw::SILENCE);
}

#[test]
fn slice_conversions_match_the_single_sample_functions() {
    let samples: Vec<i16> = all_samples().step_by(7).collect();
    let mut codes = vec![0; samples.len() + 3];
    assert_eq!(ulaw::encode_into(&samples, &mut codes), Ok(samples.len()));
    for (&sample, &code) in samples.iter().zip(&codes) {
        assert_eq!(code, ulaw::encode(sample));
    }
    assert_eq!(codes[samples.len()..], [0, 0, 0], "nothing past the input");

    let mut decoded = vec![0; samples.len()];
    assert_eq!(ulaw::decode_into(&codes[..samples.len()], &mut decoded), Ok(samples.len()));
    for (&code, &value) in codes.iter().zip(&decoded) {
        assert_eq!(value, ulaw::decode(code));
    }

    assert_eq!(alaw::encode_into(&samples, &mut codes), Ok(samples.len()));
    for (&sample, &code) in samples.iter().zip(&codes) {
        assert_eq!(code, alaw::encode(sample));
    }
    assert_eq!(alaw::decode_into(&codes[..samples.len()], &mut decoded), Ok(samples.len()));
    for (&code, &value) in codes.iter().zip(&decoded) {
        assert_eq!(value, alaw::decode(code));
    }
}

#[test]
fn short_outputs_are_an_error_and_left_untouched() {
    let samples = [1000_i16, -1000, 0];
    let mut codes = [0xAA_u8; 2];
    let error = Error::OutputTooShort { needed: 3, available: 2 };
    assert_eq!(ulaw::encode_into(&samples, &mut codes), Err(error));
    assert_eq!(alaw::encode_into(&samples, &mut codes), Err(error));
    assert_eq!(codes, [0xAA, 0xAA]);

    let mut decoded = [7_i16; 2];
    assert_eq!(ulaw::decode_into(&[1, 2, 3], &mut decoded), Err(error));
    assert_eq!(alaw::decode_into(&[1, 2, 3], &mut decoded), Err(error));
    assert_eq!(decoded, [7, 7]);

    assert_eq!(ulaw::encode_into(&[], &mut []), Ok(0));
}

#[test]
fn extend_appends_and_reuses_capacity() {
    let samples: Vec<i16> = (0..160).map(|i| i * 100 - 8000).collect();
    let mut codes = Vec::new();
    ulaw::encode_extend(&samples, &mut codes);
    assert_eq!(codes.len(), 160);
    alaw::encode_extend(&samples, &mut codes);
    assert_eq!(codes.len(), 320);
    assert_eq!(codes[160], alaw::encode(samples[0]));

    let mut decoded = Vec::with_capacity(160);
    let pointer = decoded.as_ptr();
    for _ in 0..100 {
        decoded.clear();
        ulaw::decode_extend(&codes[..160], &mut decoded);
    }
    assert_eq!(decoded.as_ptr(), pointer, "no reallocation once warm");
    assert_eq!(decoded[5], ulaw::decode(codes[5]));
    alaw::decode_extend(&codes[160..], &mut decoded);
    assert_eq!(decoded[165], alaw::decode(codes[165]));
}
