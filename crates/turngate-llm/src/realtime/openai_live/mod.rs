//! OpenAI GPT-Live over its primary WebSocket (`wss://api.openai.com/v1/live/sessions`),
//! the second speech-to-speech backend: a full-duplex model that decides
//! itself when to speak and when to stop, so the client opens no responses,
//! cancels nothing and truncates nothing. What remains for the client is
//! keeping the input timeline moving, appending context and results exactly
//! once, and acting on each delegation exactly once.
//!
//! This module grows in the provider shape the others share; it holds the
//! wire format so far ([`wire`]), which the protocol and connection layers
//! build on.
//!
//! Facts come from the openai-python SDK's Live types (`openai/types/live/`,
//! version 3.57.0) and OpenAI's GPT-Live guides
//! (<https://developers.openai.com/api/docs/guides/live-conversations>,
//! <https://developers.openai.com/api/docs/guides/voice-websockets?api=live>).

pub mod appends;
pub mod delegations;
pub mod silence;
pub mod wire;

#[cfg(test)]
mod tests;

/// The primary WebSocket URL. It takes no query parameters: the model is
/// named in `session.start`.
pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/live/sessions";

/// The default GPT-Live model.
pub const DEFAULT_MODEL: &str = "gpt-live-1";
