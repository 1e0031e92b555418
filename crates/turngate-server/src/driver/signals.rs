//! Signals between workers about a call: the names on the wire and the
//! session inputs they stand for.

use turngate_core::Input;

/// The provider played something the core did not stream.
pub(crate) const PLAYBACK_STARTED: &str = "playback.started";
/// The playback the provider started on its own ended.
pub(crate) const PLAYBACK_ENDED: &str = "playback.ended";
/// The call is over on the provider's side.
pub(crate) const CALL_ENDED: &str = "call.ended";

/// The session a call's signals are addressed to: one per provider call id,
/// so a webhook naming the call finds the worker holding its media.
pub(crate) fn session_key(provider: &str, call_id: &str) -> String {
    // Hash tags use braces; ids never carry them into the key.
    let safe: String =
        call_id.chars().map(|c| if c == '{' || c == '}' { '_' } else { c }).collect();
    format!("{provider}:{safe}")
}

/// The signal kind that carries an input to another worker.
pub(crate) fn signal_for(input: &Input) -> Option<&'static str> {
    match input {
        Input::PlaybackStarted => Some(PLAYBACK_STARTED),
        Input::ExternalPlaybackEnded => Some(PLAYBACK_ENDED),
        Input::CallEnded => Some(CALL_ENDED),
        _ => None,
    }
}

/// The input a signal kind stands for.
pub(crate) fn input_for(kind: &str) -> Option<Input> {
    match kind {
        PLAYBACK_STARTED => Some(Input::PlaybackStarted),
        PLAYBACK_ENDED => Some(Input::ExternalPlaybackEnded),
        CALL_ENDED => Some(Input::CallEnded),
        _ => None,
    }
}
