//! Fuzzes OpenAI's SIP call webhooks: headers and a body, verified as the
//! official SDK verifies them and parsed (`turngate_llm::sip::fuzz_webhook`,
//! whose docs say how the input is read).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_llm::sip::fuzz_webhook(data);
});
