//! Fixed-size frames out of arbitrary chunks.

#[cfg(test)]
mod tests;

use std::num::NonZeroUsize;

use crate::{AudioFormat, SampleRate};

/// Cuts a stream that arrives in chunks of any length into frames of one
/// fixed length, carrying the partial frame over to the next chunk.
///
/// Works on bytes (`Framer<u8>`, for G.711 or raw PCM16 bytes, where an odd
/// trailing byte simply waits for its partner) or on samples
/// (`Framer<i16>`). Pull frames after every push:
///
/// ```text
/// framer.push(&chunk);
/// while let Some(frame) = framer.next_frame() { send(frame).await; }
/// ```
///
/// The buffer starts at two frames and grows only if a chunk is larger than
/// everything seen before, so after warm-up no push or frame allocates.
/// Frames not pulled stay buffered: draining after each push keeps the
/// buffer below one frame plus one chunk.
#[derive(Debug, Clone)]
pub struct Framer<T> {
    frame_len: usize,
    buffer: Vec<T>,
    /// The first element of `buffer` not yet handed out.
    start: usize,
}

impl<T: Copy> Framer<T> {
    /// A framer that yields frames of `frame_len` elements.
    #[must_use]
    pub fn new(frame_len: NonZeroUsize) -> Framer<T> {
        let frame_len = frame_len.get();
        Framer { frame_len, buffer: Vec::with_capacity(frame_len.saturating_mul(2)), start: 0 }
    }

    /// The length of every frame [`next_frame`](Self::next_frame) returns.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Elements received and not yet handed out.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Adds a chunk of any length, including empty.
    pub fn push(&mut self, chunk: &[T]) {
        // Drop what was handed out, moving the partial frame to the front,
        // so the buffer only ever holds what is still pending.
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole frame, or `None` until enough has been pushed.
    pub fn next_frame(&mut self) -> Option<&[T]> {
        let end = self.start.checked_add(self.frame_len)?;
        let frame = self.buffer.get(self.start..end)?;
        self.start = end;
        Some(frame)
    }

    /// Everything pending, which after draining [`next_frame`](Self::next_frame)
    /// is the tail shorter than a frame; `None` when nothing is pending. The
    /// framer is empty afterwards.
    pub fn flush(&mut self) -> Option<&[T]> {
        let start = self.start;
        self.start = self.buffer.len();
        self.buffer.get(start..).filter(|tail| !tail.is_empty())
    }

    /// Like [`flush`](Self::flush), but pads the tail with `fill` up to a
    /// whole number of frames (for example with [`crate::ulaw::SILENCE`]).
    pub fn flush_padded(&mut self, fill: T) -> Option<&[T]> {
        let pending = self.pending();
        if pending == 0 {
            return None;
        }
        let padded = pending.div_ceil(self.frame_len) * self.frame_len;
        self.buffer.resize(self.start + padded, fill);
        self.flush()
    }

    /// Drops everything pending (after a barge-in, say).
    pub fn clear(&mut self) {
        self.buffer.clear();
        self.start = 0;
    }
}

impl Framer<u8> {
    /// A framer yielding 20 ms of `format` as bytes (160 bytes of G.711, or
    /// 320, 640 or 960 bytes of PCM16 at 8, 16 or 24 kHz).
    #[must_use]
    pub fn for_format(format: AudioFormat) -> Framer<u8> {
        Framer::new(NonZeroUsize::new(format.bytes_per_frame()).unwrap_or(NonZeroUsize::MIN))
    }
}

impl Framer<i16> {
    /// A framer yielding 20 ms of samples at `rate` (160, 320 or 480).
    #[must_use]
    pub fn for_rate(rate: SampleRate) -> Framer<i16> {
        Framer::new(NonZeroUsize::new(rate.samples_per_frame()).unwrap_or(NonZeroUsize::MIN))
    }
}
