//! The server over real sockets: routes, auth, webhooks, chat, calls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stderr,
    reason = "tests fail loudly and report what they measured"
)]

mod attacks;
mod calls;
mod demo;
mod live;
mod models;
mod multi_worker;
mod resume;
mod routes;
mod session;
mod shutdown;
mod sip;
mod support;
