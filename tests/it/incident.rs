//! The incident that started the coordinator: a call's media lives on
//! worker A, the carrier's `playback.ended` webhooks land on worker B, and
//! "agent speaking" stayed stuck, so dead-air check-ins never fired.
//!
//! Here two workers share one real Redis, each with its own coordinator and
//! session registry. Worker A drives the real session core; the carrier
//! plays the agent's audio and posts "playback ended" to worker B, which
//! signals the session's owner. A's session must hear of it within
//! milliseconds, check in a second time after the configured silence, and
//! hang up after the last check-in and the grace period. The session's
//! playback watchdog is set far beyond the test, so only the signal can end
//! "agent speaking".

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::time::sleep_until;
use turngate_coord::redis::TestServer;
use turngate_coord::{
    Coordinator, InboxConfig, RedisConfig, RedisCoordinator, SessionId, Signal, WorkerId,
};
use turngate_core::{
    AudioChunk, BackendCommand, Command, EndReason, Event, Input, ItemId, Origin, ResponseId,
    ResponseStatus, Session, SessionConfig, TransportCommand,
};

/// The agent's audio per response, played by the carrier in real time.
const SPOKEN: Duration = Duration::from_millis(300);
const SILENCE: Duration = Duration::from_millis(400);
const GRACE: Duration = Duration::from_millis(300);
/// The inbox's fallback tick: the bound on delivery without push.
const TICK: Duration = Duration::from_millis(250);

/// What worker A saw, with times relative to the call's start.
#[derive(Debug, Default)]
struct Timeline {
    check_ins: Vec<Duration>,
    /// When the carrier posted each webhook (to worker B) and when A's
    /// session learned of it.
    webhooks: Vec<Duration>,
    delivered: Vec<Duration>,
    ended: Option<(Duration, EndReason)>,
    playback_assumed: u64,
}

/// Worker B's side: its own registry (which calls it knows nothing about)
/// and coordinator. A webhook names the call; B routes it to the owner.
struct WebhookWorker {
    coordinator: Arc<dyn Coordinator>,
    /// Call Control ids seen in webhooks, mapped to session ids. B learns
    /// them from the webhook itself (here the same string).
    registry: HashMap<String, SessionId>,
}

impl WebhookWorker {
    async fn playback_ended(&mut self, call_control_id: &str, webhook_id: &str) {
        let session = self
            .registry
            .entry(call_control_id.to_owned())
            .or_insert_with(|| SessionId::new(call_control_id).unwrap())
            .clone();
        let signal =
            Signal::new("playback.ended", Vec::new()).unwrap().with_dedup_key(webhook_id).unwrap();
        let receipt = self.coordinator.signal(&session, signal).await.unwrap();
        assert!(receipt.owner.is_some(), "B must find the owner of {call_control_id}");
    }
}

/// One worker's own connection to the shared Redis.
async fn worker(server: &TestServer, push: bool) -> Arc<dyn Coordinator> {
    let config = RedisConfig::new(server.url()).with_prefix("incident").with_push(push);
    Arc::new(RedisCoordinator::connect(config).await.unwrap())
}

/// Runs the call on worker A while the carrier posts webhooks to worker B.
async fn scenario(push: bool) -> Timeline {
    let server = TestServer::start().unwrap_or_else(|e| panic!("{e}"));
    let a = worker(&server, push).await;
    let b = worker(&server, push).await;
    let worker_a = WorkerId::new("worker-a").unwrap();
    let call = SessionId::new("v3-call-1").unwrap();

    // Worker A owns the call: lease, inbox, and the session task.
    let lease = a.acquire(&call, &worker_a, Duration::from_secs(30)).await.unwrap();
    let inbox = a.subscribe(&worker_a, InboxConfig::default().with_tick(TICK)).await.unwrap();
    let mut signals = inbox.register(&lease).await.unwrap();

    // The carrier's webhooks go to worker B, through this channel.
    let (webhook_tx, mut webhook_rx) = mpsc::channel::<(String, String)>(16);
    let mut b_side = WebhookWorker { coordinator: b, registry: HashMap::new() };
    let b_task = tokio::spawn(async move {
        while let Some((call_control_id, webhook_id)) = webhook_rx.recv().await {
            b_side.playback_ended(&call_control_id, &webhook_id).await;
        }
    });

    let mut config = SessionConfig::default();
    config.dead_air.timeout = SILENCE;
    config.dead_air.max_check_ins = 2;
    config.dead_air.hang_up_grace = GRACE;
    config.playback_grace = Duration::from_secs(600);
    let start = Instant::now();
    let mut session = Session::new(config, start);
    let mut timeline = Timeline::default();
    let mut backlog: Vec<Input> = vec![Input::BackendReady];
    let mut webhook_posted_at: Vec<Duration> = Vec::new();
    let deadline = start + Duration::from_secs(20);

    'call: loop {
        // Feed whatever the test's model backend answered synchronously.
        while let Some(input) = (!backlog.is_empty()).then(|| backlog.remove(0)) {
            let now = Instant::now();
            for command in session.handle(now, input) {
                match command {
                    // The model: every create is answered at once with a
                    // short spoken response.
                    Command::Backend(BackendCommand::CreateResponse { event_id, .. }) => {
                        let id = ResponseId(format!("resp_{event_id}"));
                        let item = ItemId(format!("item_{event_id}"));
                        backlog.push(Input::ResponseCreated {
                            response_id: id.clone(),
                            origin: Origin::Create(event_id),
                            out_of_band: false,
                        });
                        backlog.push(Input::ResponseAudio {
                            response_id: id.clone(),
                            item_id: item,
                            audio: AudioChunk::new(Vec::new(), SPOKEN),
                        });
                        backlog.push(Input::ResponseDone {
                            response_id: id,
                            status: ResponseStatus::Completed,
                        });
                    }
                    // The carrier plays the audio in real time, then posts
                    // `call.playback.ended` to whichever worker the load
                    // balancer picks: B.
                    Command::Transport(TransportCommand::Play { audio, mark, .. }) => {
                        let tx = webhook_tx.clone();
                        let played_at = now + audio.duration;
                        webhook_posted_at.push(played_at.duration_since(start));
                        tokio::spawn(async move {
                            sleep_until(played_at.into()).await;
                            let _ = tx.send(("v3-call-1".to_owned(), format!("wh-{mark}"))).await;
                        });
                    }
                    Command::Event(Event::CheckIn { .. }) => {
                        timeline.check_ins.push(now.duration_since(start));
                    }
                    Command::Event(Event::PlaybackAssumed) => timeline.playback_assumed += 1,
                    Command::App(turngate_core::AppCommand::SessionEnded { reason }) => {
                        timeline.ended = Some((now.duration_since(start), reason));
                        break 'call;
                    }
                    _ => {}
                }
            }
        }
        let wake = session.poll_timeout().unwrap_or(deadline).min(deadline);
        tokio::select! {
            delivered = signals.recv() => {
                let delivered = delivered.expect("the inbox stays open during the call");
                assert_eq!(delivered.signal.kind(), "playback.ended");
                timeline.delivered.push(Instant::now().duration_since(start));
                backlog.push(Input::PlaybackEnded);
            }
            () = sleep_until(wake.into()) => {
                assert!(Instant::now() < deadline, "the call never ended: {timeline:?}");
                backlog.push(Input::Tick);
            }
        }
    }
    timeline.webhooks = webhook_posted_at;
    a.release(&lease).await.unwrap();
    drop(webhook_tx);
    b_task.await.unwrap();
    timeline
}

fn check_timeline(timeline: &Timeline, delivery_bound: Duration) {
    let slack = Duration::from_millis(150);
    assert_eq!(timeline.check_ins.len(), 2, "{timeline:?}");
    assert_eq!(timeline.webhooks.len(), 2, "{timeline:?}");
    assert_eq!(timeline.delivered.len(), 2, "{timeline:?}");
    assert_eq!(timeline.playback_assumed, 0, "only the webhook may end playback: {timeline:?}");
    for (posted, delivered) in timeline.webhooks.iter().zip(&timeline.delivered) {
        let took = delivered.saturating_sub(*posted);
        assert!(took <= delivery_bound, "webhook took {took:?} to reach the owner: {timeline:?}");
    }
    // The second check-in comes a silence period after the first one was
    // heard, not earlier (stuck timer) and not much later (stuck speaking).
    let second = timeline.check_ins[1];
    let first_heard = timeline.delivered[0];
    assert!(second >= first_heard + SILENCE, "{timeline:?}");
    assert!(second <= first_heard + SILENCE + slack, "{timeline:?}");
    let (ended, reason) = timeline.ended.expect("the call ended");
    assert_eq!(reason, EndReason::DeadAir);
    let last_heard = timeline.delivered[1];
    assert!(ended >= last_heard + GRACE, "{timeline:?}");
    assert!(ended <= last_heard + GRACE + slack, "{timeline:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_on_another_worker_ends_agent_speaking_within_milliseconds() {
    let timeline = scenario(true).await;
    eprintln!("with push: {timeline:?}");
    check_timeline(&timeline, Duration::from_millis(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_push_the_fallback_tick_still_delivers_it() {
    let timeline = scenario(false).await;
    eprintln!("without push: {timeline:?}");
    check_timeline(&timeline, TICK + Duration::from_millis(100));
}
