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
mod recording;
mod routes;
mod server;
mod tls;

pub use routes::{admin_app, app};
pub use server::{Server, ServerBuilder, ServerError, memory_coordinator};
