//! The observer hooks over a real WebSocket: what a recording observer
//! sees, and its tags coming out on the wire.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::client::{AUTH, WAIT, connect, fast, pcm24};
use crate::live::{LiveSimConfig, serve_observed};
use crate::realtime::{SessionObserver, SimObserver};

/// What every session of one simulator told its observer.
#[derive(Debug, Default)]
struct Log {
    sessions: u32,
    appended: Vec<u8>,
    commits: u32,
    /// Each voiced chunk: its utterance, whether it was the first, its tag.
    chunks: Vec<(String, bool, u64)>,
    done: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Recorder(Arc<Mutex<Log>>);

impl SimObserver for Recorder {
    fn session(&self) -> Box<dyn SessionObserver> {
        self.0.lock().unwrap().sessions += 1;
        Box::new(Recorder(Arc::clone(&self.0)))
    }
}

const TAG: &[u8; 4] = b"TAG!";

impl SessionObserver for Recorder {
    fn appended(&mut self, audio: &[u8]) {
        self.0.lock().unwrap().appended.extend_from_slice(audio);
    }

    fn committed(&mut self) {
        self.0.lock().unwrap().commits += 1;
    }

    fn audio_chunk(&mut self, response_id: &str, first: bool, audio: &mut [u8]) {
        let mut log = self.0.lock().unwrap();
        let number = log.chunks.len() as u64;
        log.chunks.push((response_id.to_owned(), first, number));
        audio[..4].copy_from_slice(TAG);
        audio[4..12].copy_from_slice(&number.to_le_bytes());
    }

    fn response_done(&mut self, response_id: &str, status: &str) {
        self.0.lock().unwrap().done.push((response_id.to_owned(), status.to_owned()));
    }
}

/// The tag of an output frame, if the observer put one there.
fn tag(event: &Value) -> Option<u64> {
    if event["type"] != "session.output_audio.delta" {
        return None;
    }
    let bytes = STANDARD.decode(event["delta"].as_str().unwrap()).unwrap();
    (bytes[..4] == TAG[..]).then(|| u64::from_le_bytes(bytes[4..12].try_into().unwrap()))
}

#[tokio::test]
async fn an_observer_sees_input_commits_tagged_speech_and_how_each_utterance_ended() {
    let log = Arc::new(Mutex::new(Log::default()));
    let observer = Arc::new(Recorder(Arc::clone(&log)));
    let config = LiveSimConfig {
        reply: (Duration::from_millis(1000), Duration::from_millis(1000)),
        ..fast()
    };
    let server =
        serve_observed(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), observer).await.unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    client.start().await;
    let mut voice = pcm24();
    let mut events = Vec::new();

    // A caller utterance, answered and heard to its end.
    let mut frames = 0;
    events.extend(client.audio(&mut voice, 20, true).await);
    events.extend(client.audio(&mut voice, 120, false).await);
    frames += 140;
    // The second one is talked over as soon as the answer starts.
    events.extend(client.audio(&mut voice, 20, true).await);
    frames += 20;
    loop {
        events.extend(client.audio(&mut voice, 1, false).await);
        frames += 1;
        if events.iter().filter_map(tag).count() > 50 {
            break;
        }
        assert!(frames < 400, "the second answer never started");
    }
    events.extend(client.audio(&mut voice, 25, true).await);
    events.extend(client.audio(&mut voice, 40, false).await);
    frames += 65;
    events.extend(client.settle().await);

    let record = server.record();
    assert!(record.wait_for(WAIT, |r| r.sessions()[0].input_ms == frames as u64 * 20).await);
    let stats = record.sessions()[0].clone();
    let log = log.lock().unwrap();
    assert_eq!(log.sessions, 1);
    assert_eq!(log.appended.len(), frames * 960, "every accepted append, decoded");
    assert_eq!(u64::from(log.commits), stats.caller_utterances);
    assert_eq!(log.commits, 3, "one commit per caller utterance");

    // The tags come out on the wire, on voiced frames only, in order.
    let on_wire: Vec<u64> = events.iter().filter_map(tag).collect();
    let observed: Vec<u64> = log.chunks.iter().map(|(_, _, n)| *n).collect();
    assert_eq!(on_wire, observed);
    assert_eq!(observed.len() as u64 * 20, stats.output_speech_ms, "no silence frame is seen");

    let first = &log.chunks[0].0;
    let of_first: Vec<bool> =
        log.chunks.iter().filter(|(id, _, _)| id == first).map(|(_, f, _)| *f).collect();
    assert_eq!(of_first.len(), 50, "one second of answer");
    assert!(of_first[0] && of_first[1..].iter().all(|f| !f), "{of_first:?}");
    let second = &log.chunks.iter().find(|(id, _, _)| id != first).unwrap().0;
    assert_ne!(first, second);
    assert_eq!(
        log.done[..2],
        [(first.clone(), "completed".to_owned()), (second.clone(), "cancelled".to_owned())]
    );
    assert_eq!(stats.barge_ins, 1);
}
