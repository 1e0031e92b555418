//! The "plain" protocol as a sans-IO transport.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use turngate_audio::AudioFormat;
use turngate_core::{AudioChunk, Input, MarkId, TransportCommand};
use turngate_telephony::{
    CallInfo, Decoded, Frame, HangUpSupport, MarkSupport, Notice, OutFrame, Playout, ProviderId,
    Transport, TransportCaps, WireCounters, WireError,
};

/// One "plain" call leg.
#[derive(Debug, Default)]
pub struct Plain {
    call: Option<CallInfo>,
    ended: bool,
    playout: Playout,
    counters: WireCounters,
}

impl Transport for Plain {
    fn provider(&self) -> ProviderId {
        ProviderId::Other("plain")
    }

    fn capabilities(&self) -> TransportCaps {
        TransportCaps {
            inbound: Some(AudioFormat::Ulaw),
            outbound: Some(AudioFormat::Ulaw),
            marks: MarkSupport::Confirmed,
            clear: true,
            dtmf: false,
            playback_ended: false,
            hang_up: HangUpSupport::InBand,
        }
    }

    fn call(&self) -> Option<&CallInfo> {
        self.call.as_ref()
    }

    fn on_frame(
        &mut self,
        _now: Instant,
        frame: Frame<'_>,
        out: &mut Decoded,
    ) -> Result<(), WireError> {
        let Frame::Text(text) = frame else {
            return Err(WireError::BadField {
                field: "frame",
                detail: "plain is JSON text only".to_owned(),
            });
        };
        let message: Value = serde_json::from_str(text)
            .map_err(|e| WireError::BadField { field: "json", detail: e.to_string() })?;
        let field = |name: &'static str| {
            message
                .get(name)
                .and_then(Value::as_str)
                .ok_or(WireError::BadField { field: name, detail: "missing".to_owned() })
        };
        match field("event")? {
            "start" if self.call.is_none() => {
                self.call =
                    Some(CallInfo { call_id: field("call")?.to_owned(), ..CallInfo::default() });
                out.notices.push(Notice::CallStarted);
            }
            "audio" if self.call.is_some() && !self.ended => {
                let payload = STANDARD
                    .decode(field("ulaw")?)
                    .map_err(|e| WireError::BadField { field: "ulaw", detail: e.to_string() })?;
                // µ-law at 8 kHz: one byte per sample, eight per millisecond.
                let duration = Duration::from_micros(payload.len() as u64 * 125);
                out.inputs.push(Input::CallerAudio(AudioChunk::new(payload, duration)));
            }
            "played" if self.call.is_some() => {
                let mark: MarkId = field("mark")?.parse().map_err(|_| WireError::BadField {
                    field: "mark",
                    detail: "not one of ours".to_owned(),
                })?;
                out.inputs.push(Input::PlaybackMark(mark));
            }
            "stop" => {
                self.ended = true;
                out.notices.push(Notice::Ended { reason: None });
            }
            other => {
                return Err(WireError::BadField {
                    field: "event",
                    detail: format!("`{other}` here"),
                });
            }
        }
        Ok(())
    }

    fn encode(&mut self, _now: Instant, command: TransportCommand, out: &mut Vec<OutFrame>) {
        match command {
            TransportCommand::Play { audio, mark, .. } => {
                self.playout.sent += audio.duration;
                let frame = json!({"event": "audio", "ulaw": STANDARD.encode(&audio.payload), "mark": mark.to_string()});
                out.push(OutFrame::Text(frame.to_string()));
            }
            TransportCommand::Clear => {
                out.push(OutFrame::Text(json!({"event": "clear"}).to_string()));
            }
            TransportCommand::HangUp => {
                out.push(OutFrame::Text(json!({"event": "hangup"}).to_string()));
                out.push(OutFrame::Close);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn on_timeout(&mut self, _now: Instant, _out: &mut Decoded) {}

    fn playout(&self) -> Playout {
        self.playout
    }

    fn counters(&self) -> &WireCounters {
        &self.counters
    }
}
