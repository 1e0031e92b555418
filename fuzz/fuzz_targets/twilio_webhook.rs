//! Fuzzes `turngate_telephony::twilio::fuzz_webhook`: a URL, a signature and
//! a form body, parsed and checked as the voice webhook and the media
//! stream's upgrade are; no made-up signature may verify.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_telephony::twilio::fuzz_webhook(data);
});
