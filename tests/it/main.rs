//! One end-to-end test binary, one module per scenario.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    reason = "end-to-end tests fail loudly and report what they measured"
)]

mod incident;
