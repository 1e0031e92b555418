//! The callers' tests: the pure parts with synthetic time (playout, the
//! script, each carrier's rules, the voice, webhooks), then every carrier
//! against a small fake bot over real loopback WebSockets.

mod audiocodes;
mod bot;
mod config;
mod ear;
mod harness;
mod human;
mod io_audiocodes;
mod io_telnyx;
mod io_twilio;
mod observe;
mod telnyx;
mod twilio;
mod voice;
mod webhook;
