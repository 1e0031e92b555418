use std::sync::Arc;
use std::time::Duration;

use turngate_server::ServerBuilder;
use turngate_sim::callers::{self, CallerConfig, Protocol, Step};

use super::{Parrot, config};

/// A Twilio call through the stock server and the out-of-tree backend: the
/// caller speaks, the server's local VAD ends the turn, Parrot answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_answered_by_the_custom_backend() {
    let server = ServerBuilder::new(config()).realtime(Arc::new(Parrot)).build().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let report = callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: format!("ws://{addr}/twilio"),
        call_id: "parrot-1".to_owned(),
        script: vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 5000 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(15),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.turn_latencies.len(), 1, "{report}");
    assert!(report.agent_audio >= Duration::from_millis(400), "{report}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
