//! What a transport counts: traffic, anomalies and ignored echoes.

use super::error::{WireError, WireErrorKind};

/// Counters of one call leg, for metrics and for tests.
///
/// Anomalies are counted here, not logged per frame: a broken peer can send
/// thousands of bad frames a minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireCounters {
    /// Frames received.
    pub frames_in: u64,
    /// Frames produced (replies and encoded commands).
    pub frames_out: u64,
    /// Media frames that became caller audio.
    pub media_in: u64,
    /// Frames that were not the JSON the protocol describes.
    pub malformed: u64,
    /// Frames with an event name we do not know.
    pub unknown_events: u64,
    /// Frames that arrived in a state where they make no sense (media
    /// before start, anything after stop).
    pub out_of_order: u64,
    /// Frames over the size cap.
    pub oversized: u64,
    /// Audio that was not base64 or not a whole number of samples.
    pub bad_audio: u64,
    /// Frames naming another stream or conversation.
    pub wrong_stream: u64,
    /// Binary frames on a text-only protocol.
    pub binary: u64,
    /// Mark echoes whose name is not one of ours (`tg<n>`).
    pub foreign_marks: u64,
    /// Echoes of marks flushed by a clear (the peer returns them all).
    pub flushed_marks: u64,
    /// Echoes of our marks that were neither outstanding nor flushed
    /// (duplicates, or from before a reconnect).
    pub stale_marks: u64,
    /// Frames understood and deliberately ignored (media of another track,
    /// informational events).
    pub ignored: u64,
    /// Media frames that arrived out of order and were put back in order.
    pub reordered: u64,
    /// Media frames that arrived after their place was given up, and were
    /// dropped.
    pub late_dropped: u64,
    /// Gaps in the media sequence that were skipped after waiting.
    pub gaps_skipped: u64,
    /// Core commands that could not be sent (before start, after the end).
    pub commands_dropped: u64,
}

impl WireCounters {
    /// Counts an error returned to the server.
    pub fn record(&mut self, error: &WireError) {
        let counter = match error.kind() {
            WireErrorKind::Oversized => &mut self.oversized,
            WireErrorKind::Binary => &mut self.binary,
            WireErrorKind::Malformed => &mut self.malformed,
            WireErrorKind::Unknown => &mut self.unknown_events,
            WireErrorKind::BadAudio => &mut self.bad_audio,
            WireErrorKind::OutOfOrder => &mut self.out_of_order,
            WireErrorKind::WrongStream => &mut self.wrong_stream,
            // An unusable format is also malformed set-up.
            WireErrorKind::Unsupported => &mut self.malformed,
        };
        *counter += 1;
    }
}
