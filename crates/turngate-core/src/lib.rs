//! The session core.
