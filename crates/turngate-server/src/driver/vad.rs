//! Speech detection on the caller's audio, for sessions whose turns the
//! core itself commits (`turn_detection = "client"`): backends without a
//! server-side VAD, or deployments that want the decision local.

use std::num::NonZeroUsize;

use turngate_audio::energy::{Vad, VadConfig, VadEvent};
use turngate_audio::{AudioFormat, Framer, alaw, ulaw};
use turngate_core::Input;

/// An energy VAD over 20 ms frames of the leg's audio.
#[derive(Debug)]
pub(crate) struct LocalVad {
    format: AudioFormat,
    vad: Vad,
    framer: Framer<i16>,
    samples: Vec<i16>,
}

impl LocalVad {
    pub(crate) fn new(format: AudioFormat) -> LocalVad {
        let frame = NonZeroUsize::new(format.sample_rate().samples_per_frame())
            .unwrap_or(NonZeroUsize::MIN);
        LocalVad {
            format,
            vad: Vad::new(VadConfig::default()),
            framer: Framer::new(frame),
            samples: Vec::new(),
        }
    }

    /// Feeds one chunk of caller audio; returns the speech transitions in it.
    pub(crate) fn push(&mut self, payload: &[u8], out: &mut Vec<Input>) {
        self.samples.clear();
        match self.format {
            AudioFormat::Ulaw => ulaw::decode_extend(payload, &mut self.samples),
            AudioFormat::Alaw => alaw::decode_extend(payload, &mut self.samples),
            AudioFormat::Pcm16(_) => {
                self.samples.extend(payload.chunks_exact(2).map(|pair| match pair {
                    [low, high] => i16::from_le_bytes([*low, *high]),
                    _ => 0,
                }));
            }
        }
        self.framer.push(&self.samples);
        while let Some(frame) = self.framer.next_frame() {
            match self.vad.push_frame(frame) {
                Some(VadEvent::SpeechStarted) => out.push(Input::UserSpeechStarted),
                Some(VadEvent::SpeechStopped) => out.push(Input::UserSpeechStopped),
                None => {}
            }
        }
    }
}
