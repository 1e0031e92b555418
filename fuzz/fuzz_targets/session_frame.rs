//! Fuzzes one `/session` app-client frame.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    turngate_server::fuzzing::session_frame(data);
});
