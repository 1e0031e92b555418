use std::f32::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use turngate_audio::ulaw;
use turngate_server::ServerBuilder;
use turngate_server::config::Config;

use super::Plain;

/// 20 ms of µ-law: a tone loud enough to be speech, or silence.
fn frame(speech: bool, n: usize) -> String {
    let samples: Vec<i16> = (0..160)
        .map(|i| {
            if speech {
                ((TAU * 300.0 * (n * 160 + i) as f32 / 8000.0).sin() * 8000.0) as i16
            } else {
                0
            }
        })
        .collect();
    let mut bytes = Vec::new();
    ulaw::encode_extend(&samples, &mut bytes);
    json!({"event": "audio", "ulaw": STANDARD.encode(bytes)}).to_string()
}

/// A call over the custom transport reaches the stock server's session and
/// the (simulated) model: the caller speaks, then hears an answer, and the
/// marks it sends back are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_the_custom_transport_is_answered() {
    let server = ServerBuilder::new(Config::default())
        .transport("plain", Arc::new(|_| Box::new(Plain::default())))
        .build()
        .await
        .unwrap();
    let state = Arc::clone(server.state());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    let (mut socket, _) = connect_async(format!("ws://{addr}/plain")).await.unwrap();
    socket
        .send(Message::Text(json!({"event": "start", "call": "plain-1"}).to_string().into()))
        .await
        .unwrap();
    let mut answered = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    // One second of speech, then silence until the answer arrives.
    for n in 0..400 {
        tokio::select! {
            _ = ticker.tick() => {
                socket.send(Message::Text(frame(n < 50, n).into())).await.unwrap();
            }
            message = socket.next() => {
                let Some(Ok(Message::Text(text))) = message else { continue };
                let message: Value = serde_json::from_str(&text).unwrap();
                if message["event"] == "audio" {
                    let mark = message["mark"].as_str().unwrap().to_owned();
                    socket.send(Message::Text(json!({"event": "played", "mark": mark}).to_string().into())).await.unwrap();
                    answered = Some(n);
                    break;
                }
            }
        }
    }
    assert!(answered.is_some(), "no answer came over the custom transport");
    socket.send(Message::Text(json!({"event": "stop"}).to_string().into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let record = state.records.get("plain-1").expect("the server recorded the call");
    assert_eq!(record.provider, "plain");
    assert_eq!(state.simulated_upstream().violations, 0);
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
