//! LLM backends: the `RealtimeBackend` and `ChatBackend` traits and their providers.

pub mod chat;
#[cfg(any(feature = "openai-assistants", feature = "openai-responses"))]
pub mod models;
pub mod realtime;
#[cfg(feature = "openai-sip")]
pub mod sip;
pub mod tool;
