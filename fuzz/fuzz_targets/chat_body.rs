//! Fuzzes the `/chat` request body as the route parses and checks it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_server::fuzzing::chat_body(data);
});
