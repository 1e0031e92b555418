//! The crate's errors: bad frames and bad signatures.

/// Why a frame was not turned into inputs.
///
/// None of these ends the leg by itself: the transport counts the error and
/// stays usable, and the server decides (log, close after too many).
/// [`WireError::is_fatal`] names the few after which the leg cannot carry a
/// call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The frame is larger than the configured cap; it was not parsed.
    #[error("frame of {len} bytes is over the {cap}-byte cap")]
    Oversized {
        /// The frame's size.
        len: usize,
        /// The cap.
        cap: usize,
    },
    /// A binary frame on a protocol whose frames are JSON text.
    #[error("binary frame of {len} bytes on a text protocol")]
    BinaryFrame {
        /// The frame's size.
        len: usize,
    },
    /// Not JSON, or JSON without the fields the event needs.
    #[error("malformed frame: {detail}")]
    Malformed {
        /// What was wrong (the parser's message).
        detail: String,
    },
    /// An event name the protocol does not define (or we do not know).
    #[error("unknown event `{name}`")]
    UnknownEvent {
        /// The name, cut to 64 characters.
        name: String,
    },
    /// A field has a value the protocol does not allow.
    #[error("bad {field}: {detail}")]
    BadField {
        /// The field.
        field: &'static str,
        /// The value or what is wrong with it.
        detail: String,
    },
    /// A media payload that is not base64.
    #[error("media payload is not base64")]
    BadBase64,
    /// A media payload whose size cannot be audio in the leg's format.
    #[error("media payload of {len} bytes: {reason}")]
    WrongSize {
        /// The decoded size.
        len: usize,
        /// Why it is wrong.
        reason: &'static str,
    },
    /// An event that makes no sense in the leg's state.
    #[error("`{event}` out of order: {reason}")]
    OutOfOrder {
        /// The event.
        event: &'static str,
        /// The state it arrived in.
        reason: &'static str,
    },
    /// The frame names a stream or conversation other than this leg's.
    #[error("frame for another stream or conversation")]
    WrongStream,
    /// The leg's audio is in a format we cannot carry.
    #[error("unsupported media format `{format}`")]
    UnsupportedFormat {
        /// The format as the peer named it.
        format: String,
    },
}

/// The broad class of a [`WireError`], for counters and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireErrorKind {
    /// Over the size cap.
    Oversized,
    /// A binary frame.
    Binary,
    /// Not the JSON the protocol describes.
    Malformed,
    /// An unknown event.
    Unknown,
    /// Bad base64 or a wrong size.
    BadAudio,
    /// Out of order.
    OutOfOrder,
    /// Another stream's frame.
    WrongStream,
    /// A format we cannot carry.
    Unsupported,
}

impl WireErrorKind {
    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            WireErrorKind::Oversized => "oversized",
            WireErrorKind::Binary => "binary",
            WireErrorKind::Malformed => "malformed",
            WireErrorKind::Unknown => "unknown",
            WireErrorKind::BadAudio => "bad_audio",
            WireErrorKind::OutOfOrder => "out_of_order",
            WireErrorKind::WrongStream => "wrong_stream",
            WireErrorKind::Unsupported => "unsupported",
        }
    }
}

impl WireError {
    /// The error's class.
    pub fn kind(&self) -> WireErrorKind {
        match self {
            WireError::Oversized { .. } => WireErrorKind::Oversized,
            WireError::BinaryFrame { .. } => WireErrorKind::Binary,
            WireError::Malformed { .. } | WireError::BadField { .. } => WireErrorKind::Malformed,
            WireError::UnknownEvent { .. } => WireErrorKind::Unknown,
            WireError::BadBase64 | WireError::WrongSize { .. } => WireErrorKind::BadAudio,
            WireError::OutOfOrder { .. } => WireErrorKind::OutOfOrder,
            WireError::WrongStream => WireErrorKind::WrongStream,
            WireError::UnsupportedFormat { .. } => WireErrorKind::Unsupported,
        }
    }

    /// True if the leg cannot carry the call after this error (its audio
    /// format is one we cannot play or measure). Everything else is one bad
    /// frame, counted and skipped.
    pub fn is_fatal(&self) -> bool {
        matches!(self, WireError::UnsupportedFormat { .. })
    }

    /// An unknown event, with its name cut so a hostile peer cannot make
    /// the error (and the log line) large.
    pub fn unknown(name: &str) -> WireError {
        WireError::UnknownEvent { name: cut(name, 64).to_owned() }
    }

    /// A malformed frame, from the parser's error.
    pub fn malformed(error: &serde_json::Error) -> WireError {
        WireError::Malformed { detail: error.to_string() }
    }
}

/// Why a webhook or upgrade request's signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A header the scheme needs is absent or empty.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header or key is not in the encoding the scheme uses.
    #[error("bad {0} encoding")]
    BadEncoding(&'static str),
    /// The configured key is not a valid key for the scheme.
    #[error("the configured key is not a valid key")]
    BadKey,
    /// The signed timestamp is too far from now (a replay, or a clock off).
    #[error("timestamp {skew_secs} s away from now, over the {tolerance_secs} s tolerance")]
    Stale {
        /// How far from now, in seconds.
        skew_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The body does not match the hash the URL carries (Twilio `bodySHA256`).
    #[error("the body does not match bodySHA256")]
    BodyMismatch,
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    text.get(..end).unwrap_or_default()
}
