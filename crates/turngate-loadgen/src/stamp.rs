//! Tags written into the audio bytes themselves, so a frame can be
//! recognised where it arrives: caller frames at the simulator's appends,
//! response chunks at the caller.
//!
//! µ-law passes between Twilio (or Telnyx, or AudioCodes `raw/mulaw`) and a
//! Realtime session in `audio/pcmu` untouched, so bytes the sender writes
//! are the bytes the receiver reads. A tag is [`STAMP_BYTES`] µ-law bytes,
//! each `0xF0 | nibble`: codes of µ-law's lowest segment, which decode to
//! magnitudes below 128 of 32,768 (under -48 dBFS), so a tag neither wakes
//! a VAD in silence nor changes the level of speech. Its twelve nibbles
//! hold a two-nibble magic, a kind, and 36 bits of payload.

use turngate_sim::callers::STAMP_BYTES;

/// The two magic nibbles that open every tag.
const MAGIC: [u8; 2] = [0xA, 0x5];
/// Bits of a caller frame's sequence number in a tag.
pub(crate) const SEQ_BITS: u32 = 20;
const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;

/// What a tag identifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A caller frame: the call's index in its step and the frame's
    /// sequence number within the call (modulo 2^20).
    Frame {
        /// The call's index.
        call: u16,
        /// The frame's number in the call.
        seq: u32,
    },
    /// A chunk of response audio, by its number in the run; `turn` marks
    /// the first chunk of a response that answers a commit, `first` the
    /// first chunk of any response (`turn` implies it).
    Chunk {
        /// The chunk's number.
        id: u32,
        /// Whether it is the first audio of a user turn's answer.
        turn: bool,
        /// Whether it is the first audio of its response.
        first: bool,
    },
}

impl Tag {
    /// The tag's bytes.
    pub(crate) fn encode(self) -> [u8; STAMP_BYTES] {
        let (kind, payload): (u8, u64) = match self {
            Tag::Frame { call, seq } => {
                (1, (u64::from(call) << SEQ_BITS) | u64::from(seq & SEQ_MASK))
            }
            Tag::Chunk { id, turn, first } => (
                match (turn, first) {
                    (true, _) => 3,
                    (false, true) => 4,
                    (false, false) => 2,
                },
                u64::from(id),
            ),
        };
        let mut nibbles = [0_u8; STAMP_BYTES];
        let [first, second, third, rest @ ..] = &mut nibbles;
        (*first, *second, *third) = (MAGIC[0], MAGIC[1], kind);
        let count = rest.len();
        for (index, nibble) in rest.iter_mut().enumerate() {
            let shift = 4 * (count - 1 - index);
            *nibble = ((payload >> shift) & 0xF) as u8;
        }
        nibbles.map(|nibble| 0xF0 | nibble)
    }

    /// The tag at the start of `bytes`, if there is one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Tag> {
        let head: &[u8; STAMP_BYTES] = bytes.get(..STAMP_BYTES)?.try_into().ok()?;
        if head.iter().any(|byte| byte & 0xF0 != 0xF0) {
            return None;
        }
        let [first, second, kind, rest @ ..] = head.map(|byte| byte & 0x0F);
        if [first, second] != MAGIC {
            return None;
        }
        let payload = rest.iter().fold(0_u64, |acc, nibble| (acc << 4) | u64::from(*nibble));
        match kind {
            1 => Some(Tag::Frame {
                call: u16::try_from(payload >> SEQ_BITS).ok()?,
                seq: (payload as u32) & SEQ_MASK,
            }),
            2..=4 => Some(Tag::Chunk {
                id: u32::try_from(payload).ok()?,
                turn: kind == 3,
                first: kind != 2,
            }),
            _ => None,
        }
    }

    /// Every tag anywhere in `bytes`, in order. A bridge may join or split
    /// frames (a speech gate forwards its held first frames with the next
    /// one), so a tag is not always at the start of what arrives.
    pub(crate) fn find_all(bytes: &[u8]) -> impl Iterator<Item = Tag> + '_ {
        let opening = MAGIC.map(|nibble| 0xF0 | nibble);
        let mut at = 0;
        std::iter::from_fn(move || {
            while let Some(window) = bytes.get(at..) {
                let found = window.windows(2).position(|pair| pair == opening)?;
                at += found;
                if let Some(tag) = bytes.get(at..).and_then(Tag::decode) {
                    at += STAMP_BYTES;
                    return Some(tag);
                }
                at += 1;
            }
            None
        })
    }
}
