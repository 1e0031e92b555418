//! LLM backends: the `RealtimeBackend` and `ChatBackend` traits and their providers.
