//! Strict simulators of turngate's peers, for tests, the demo and load.
//!
//! [`schedule`] is the deterministic simulation of the session core: seeded,
//! reproducible calls against model peers with randomized timing and faults,
//! checked step by step against the core's invariants.
//!
//! [`callers`] are the carrier side of each telephony protocol (Twilio,
//! Telnyx, AudioCodes) plus a scripted human: they call a bot, hold it to
//! the carrier's rules and report what the caller heard.
//!
//! [`live`] is a strict simulator of OpenAI's GPT-Live primary WebSocket
//! (client and Responses delegation), holding a client to its timeline and
//! delegation rules.
//!
//! Nothing here is semver-stable: it exists to hold the rest of the project
//! to the real protocols' rules, and changes whenever they are found to be
//! stricter than modelled.

pub mod callers;
pub mod chat;
pub mod live;
pub mod realtime;
pub mod schedule;
