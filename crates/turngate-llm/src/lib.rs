//! LLM backends: the `RealtimeBackend` and `ChatBackend` traits and their providers.

pub mod chat;
pub mod realtime;
pub mod tool;
