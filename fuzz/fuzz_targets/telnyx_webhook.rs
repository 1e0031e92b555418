//! Fuzzes `turngate_telephony::telnyx::fuzz_webhook`: see the harness docs in
//! `crates/turngate-telephony/src/telnyx/mod.rs` (`fuzz_webhook`) for how the input is read.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_telephony::telnyx::fuzz_webhook(data);
});
