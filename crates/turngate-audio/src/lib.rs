//! Telephony audio: G.711 codecs, resampling, framing and energy.
//!
//! This crate is pure computation. It does no IO, keeps no global state and
//! depends on no other turngate crate.
