//! The Parrot backend: every response is the same half-second tone.

use std::f32::consts::TAU;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use turngate_audio::{AudioFormat, alaw, pcm16, ulaw};
use turngate_core::{
    AudioChunk, BackendCommand, Input, ItemId, Origin, ResponseId, ResponseStatus, TurnModel,
};
use turngate_llm::realtime::{
    BackendError, ConnectionStats, RealtimeBackend, RealtimeCapabilities, RealtimeConnection,
    RealtimeSessionConfig,
};

/// How long each answer plays.
const ANSWER: Duration = Duration::from_millis(500);

/// A backend that answers with a tone.
#[derive(Debug, Clone, Copy)]
pub struct Parrot;

#[async_trait]
impl RealtimeBackend for Parrot {
    fn capabilities(&self) -> RealtimeCapabilities {
        RealtimeCapabilities {
            provider: "parrot",
            input_formats: vec![AudioFormat::Ulaw, AudioFormat::Alaw],
            output_formats: vec![AudioFormat::Ulaw, AudioFormat::Alaw],
            turn_model: TurnModel::Gated,
        }
    }

    async fn connect(
        &self,
        config: RealtimeSessionConfig,
    ) -> Result<Box<dyn RealtimeConnection>, BackendError> {
        let (inputs, receiver) = mpsc::unbounded_channel();
        // The session is configured at once: say so.
        let _ = inputs.send(Input::BackendReady);
        Ok(Box::new(ParrotConnection {
            format: config.output_format,
            inputs,
            receiver,
            responses: 0,
            stats: ConnectionStats::default(),
        }))
    }
}

#[derive(Debug)]
struct ParrotConnection {
    format: AudioFormat,
    inputs: mpsc::UnboundedSender<Input>,
    receiver: mpsc::UnboundedReceiver<Input>,
    responses: u64,
    stats: ConnectionStats,
}

#[async_trait]
impl RealtimeConnection for ParrotConnection {
    async fn send(&mut self, command: BackendCommand) -> Result<(), BackendError> {
        match command {
            BackendCommand::Commit { .. } => {
                let _ = self.inputs.send(Input::InputCommitted { item_id: None });
            }
            BackendCommand::CreateResponse { event_id, spec } => {
                self.responses += 1;
                let response_id = ResponseId(format!("parrot_resp_{}", self.responses));
                let item_id = ItemId(format!("parrot_item_{}", self.responses));
                let answer = [
                    Input::ResponseCreated {
                        response_id: response_id.clone(),
                        origin: Origin::Create(event_id),
                        out_of_band: spec.out_of_band,
                    },
                    Input::ResponseAudio {
                        response_id: response_id.clone(),
                        item_id: item_id.clone(),
                        audio: tone(self.format, ANSWER),
                    },
                    Input::ResponseTranscript {
                        response_id: response_id.clone(),
                        item_id,
                        text: "♪".to_owned(),
                    },
                    Input::ResponseDone { response_id, status: ResponseStatus::Completed },
                ];
                for input in answer {
                    let _ = self.inputs.send(input);
                }
            }
            // Parrot's answers are done the moment they start; there is
            // nothing to cancel, truncate or feed back.
            _ => {}
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Input> {
        self.receiver.recv().await
    }

    async fn close(self: Box<Self>) {}

    fn stats(&self) -> ConnectionStats {
        self.stats.clone()
    }
}

/// A 660 Hz tone at a comfortable level, in `format`.
fn tone(format: AudioFormat, length: Duration) -> AudioChunk {
    let rate = format.sample_rate().hz() as f32;
    let count = (rate * length.as_secs_f32()) as usize;
    let samples: Vec<i16> =
        (0..count).map(|n| ((TAU * 660.0 * n as f32 / rate).sin() * 6000.0) as i16).collect();
    let mut payload = Vec::new();
    match format {
        AudioFormat::Ulaw => ulaw::encode_extend(&samples, &mut payload),
        AudioFormat::Alaw => alaw::encode_extend(&samples, &mut payload),
        AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(&samples, &mut payload),
    }
    AudioChunk::new(payload, length)
}
