//! Fuzzes the GPT-Live provider with server events between our own
//! commands (`turngate_llm::realtime::openai_live::fuzz_server_events`,
//! whose docs say how the input is read).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_llm::realtime::openai_live::fuzz_server_events(data);
});
