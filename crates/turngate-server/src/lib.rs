//! The turngate server: telephony transports, LLM backends and the
//! coordinator composed into one deployable process.
//!
//! A library with a builder ([`ServerBuilder`]) plus a thin `main`, so users
//! register their own transports, backends, coordinator and tools without
//! forking. One task per call drives `turngate-core`; a panic or an error
//! ends that call only.
//!
//! What it deliberately does not do: decide anything about turns (the core
//! does), speak any wire protocol itself (the transports and backends do),
//! or keep state across restarts beyond what the coordinator stores.

pub mod client_frames;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod providers;
pub mod record;
pub mod sessions;
pub mod state;

mod admission;
mod chat_order;
mod driver;
mod http;
mod model_check;
mod recording;
mod routes;
mod server;
pub mod sip;
mod tls;

pub use routes::{admin_app, app};

/// The parsers a peer reaches on `/chat` and `/session`, for the cargo-fuzz
/// targets in `fuzz/`.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    /// A `/chat` body: parsed as the route parses it, then checked.
    pub fn chat_body(data: &[u8]) {
        if let Ok(request) = serde_json::from_slice::<crate::routes::chat::ChatRequest>(data) {
            let _ = request.check();
        }
    }

    /// One `/session` client frame.
    pub fn session_frame(data: &[u8]) {
        let _ = crate::client_frames::parse(&String::from_utf8_lossy(data));
    }
}
pub use server::{Server, ServerBuilder, ServerError, memory_coordinator};
