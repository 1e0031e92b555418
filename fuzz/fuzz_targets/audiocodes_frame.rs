//! Fuzzes `turngate_telephony::audiocodes::fuzz_frames`: see the harness docs in
//! `crates/turngate-telephony/src/transport/fuzz.rs` for how the input is read.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_telephony::audiocodes::fuzz_frames(data);
});
