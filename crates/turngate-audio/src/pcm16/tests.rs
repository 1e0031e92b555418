use super::{extend_le_bytes, from_le_bytes, to_le_bytes};
use crate::Error;

#[test]
fn bytes_are_little_endian() {
    let bytes = [0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80, 0xFF, 0x7F];
    let mut samples = [0; 4];
    assert_eq!(from_le_bytes(&bytes, &mut samples), Ok(4));
    assert_eq!(samples, [0x1234, -1, i16::MIN, i16::MAX]);

    let mut back = [0; 8];
    assert_eq!(to_le_bytes(&samples, &mut back), Ok(8));
    assert_eq!(back, bytes);

    let mut appended = vec![9];
    extend_le_bytes(&samples, &mut appended);
    assert_eq!(appended[0], 9);
    assert_eq!(appended[1..], bytes);
}

#[test]
fn every_sample_round_trips() {
    let samples: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    let mut bytes = vec![0; samples.len() * 2];
    to_le_bytes(&samples, &mut bytes).unwrap();
    let mut back = vec![0; samples.len()];
    from_le_bytes(&bytes, &mut back).unwrap();
    assert_eq!(back, samples);
}

#[test]
fn odd_byte_counts_and_short_outputs_are_errors() {
    let mut samples = [5_i16; 2];
    assert_eq!(from_le_bytes(&[1, 2, 3], &mut samples), Err(Error::OddByteCount { len: 3 }));
    assert_eq!(
        from_le_bytes(&[1, 2, 3, 4, 5, 6], &mut samples),
        Err(Error::OutputTooShort { needed: 3, available: 2 })
    );
    assert_eq!(samples, [5, 5], "nothing written on error");

    let mut bytes = [7_u8; 3];
    assert_eq!(
        to_le_bytes(&[1, 2], &mut bytes),
        Err(Error::OutputTooShort { needed: 4, available: 3 })
    );
    assert_eq!(bytes, [7, 7, 7]);
    assert_eq!(from_le_bytes(&[], &mut []), Ok(0));
}
