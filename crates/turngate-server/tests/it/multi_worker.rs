//! Two `turngate` processes sharing a real Redis, as a deployment behind a
//! load balancer runs them.
//!
//! A Telnyx call's media lives on worker A; the provider's Call Control
//! webhooks land on worker B. B verifies them and routes them to A through
//! the coordinator; A's session must pause the silence timer while the
//! provider plays something, resume it when the playback ends, check in
//! twice and hang up, on time. Chat requests for one conversation spread
//! over both workers are answered in the order they were sent, with no
//! conflict at the upstream. An AudioCodes call whose socket drops on A
//! and comes back on B is relayed by B to A and goes on.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use turngate_coord::redis::TestServer;
use turngate_sim::callers::{
    self, CallerConfig, PlaybackStatus, Protocol, Step, TelnyxEvent, TelnyxWebhook,
    telnyx_call_control_id,
};
use turngate_sim::chat::ChatSim;

use crate::support::http;

const SILENCE_MS: u64 = 1000;
const GRACE_MS: u64 = 1000;

/// A `turngate serve` child process, killed when dropped.
pub(crate) struct Worker {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn_worker(name: &str, env: &[(&str, String)], log_dir: &std::path::Path) -> Worker {
    let port = free_port();
    let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_turngate"))
        .arg("serve")
        .env("TURNGATE_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Worker { child, base: format!("127.0.0.1:{port}") }
}

pub(crate) async fn wait_ready(worker: &Worker) {
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("http://{}/readyz", worker.base)).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "worker at {} never became ready", worker.base);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What both workers talk to: a real Redis and the upstream simulators.
pub(crate) struct Peers {
    redis: TestServer,
    realtime: turngate_sim::realtime::SimServer,
    chat: ChatSim,
    /// Where the workers' logs (and any configuration file) go.
    dir: PathBuf,
}

impl Peers {
    pub(crate) async fn start(name: &str) -> Peers {
        let redis = TestServer::start().unwrap_or_else(|e| panic!("{e}"));
        let realtime =
            turngate_sim::realtime::serve(Default::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let chat = ChatSim::responses(Default::default()).await.unwrap();
        let dir = std::env::temp_dir().join(format!("turngate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Peers { redis, realtime, chat, dir }
    }

    /// Two workers pointed at the peers, with `extra` variables, ready.
    pub(crate) async fn two_workers(&self, extra: Vec<(&str, String)>) -> (Worker, Worker) {
        let mut env = vec![
            ("TURNGATE_REDIS_URL", self.redis.url()),
            ("OPENAI_API_KEY", "test-key".to_owned()),
            ("TURNGATE_REALTIME_URL", self.realtime.url()),
            ("TURNGATE_OPENAI_BASE_URL", self.chat.base_url()),
        ];
        env.extend(extra);
        let a = spawn_worker("worker-a", &env, &self.dir);
        let b = spawn_worker("worker-b", &env, &self.dir);
        wait_ready(&a).await;
        wait_ready(&b).await;
        (a, b)
    }
}

async fn post_webhook(
    worker: &Worker,
    key: &SigningKey,
    event: TelnyxEvent,
    call_control_id: &str,
) -> u16 {
    let mut webhook = TelnyxWebhook::new(event, call_control_id);
    webhook.call_control_id = call_control_id.to_owned();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let signed = webhook.sign(key, now);
    let mut request =
        http().post(format!("http://{}/telnyx/webhook", worker.base)).body(signed.body.clone());
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_another_worker_drive_the_call_and_chat_stays_in_order() {
    let peers = Peers::start("multi-worker").await;
    let (realtime, chat) = (&peers.realtime, &peers.chat);
    let key = SigningKey::from_bytes(&[42; 32]);
    let config_path: PathBuf = peers.dir.join("turngate.toml");
    std::fs::write(
        &config_path,
        format!(
            "[session.dead_air]\ntimeout_ms = {SILENCE_MS}\nmax_check_ins = 2\nhang_up_grace_ms = {GRACE_MS}\n"
        ),
    )
    .unwrap();
    let (a, b) = peers
        .two_workers(vec![
            (
                "TURNGATE_TELNYX_PUBLIC_KEY",
                base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
            ),
            ("TURNGATE_CONFIG", config_path.to_string_lossy().into_owned()),
        ])
        .await;

    // The call's media goes to A.
    let call_id = "multi-worker-1";
    let control_id = telnyx_call_control_id(call_id);
    let caller = tokio::spawn(callers::run(CallerConfig {
        protocol: Protocol::Telnyx,
        url: format!("ws://{}/telnyx", a.base),
        call_id: call_id.to_owned(),
        script: vec![Step::SilentUntilHangup { max_ms: 30_000 }],
        timeout: Duration::from_secs(40),
        detailed_timeline: false,
        ..CallerConfig::default()
    }));
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The app plays something through Call Control; Telnyx tells B.
    assert_eq!(post_webhook(&b, &key, TelnyxEvent::PlaybackStarted, &control_id).await, 204);
    // Longer than the silence timeout: only B's signal can keep A quiet.
    tokio::time::sleep(Duration::from_millis(2 * SILENCE_MS + 500)).await;
    let ended_at = started.elapsed();
    let ended = TelnyxEvent::PlaybackEnded { status: PlaybackStatus::Completed };
    assert_eq!(post_webhook(&b, &key, ended, &control_id).await, 204);

    // Meanwhile, chat over both workers, one conversation, sent in order.
    let mut chats = Vec::new();
    for i in 0..8u64 {
        let worker = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
        chats.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40 * i)).await;
            let response = http()
                .post(format!("http://{worker}/chat"))
                .json(&serde_json::json!({"conversation_id": "shared", "message": format!("message {i}")}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    for (i, chat_task) in chats.into_iter().enumerate() {
        let (status, body) = chat_task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["reply"], format!("echo: message {i}"), "{body}");
    }

    let report = caller.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.bot_hung_up, "{report}");

    let record: Value = http()
        .get(format!("http://{}/calls/{control_id}", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let check_ins: Vec<u64> = record["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "check_in")
        .map(|e| e["at_ms"].as_u64().unwrap())
        .collect();
    eprintln!("playback ended at {ended_at:?}; record: {record}");
    assert_eq!(record["ended"], "dead_air", "{record}");
    assert_eq!(check_ins.len(), 2, "{record}");
    // The first check-in comes one silence period after the playback ended,
    // as routed through B and the coordinator (not earlier: the playback
    // held it; not much later: the signal was not stuck).
    let first = Duration::from_millis(check_ins[0]);
    assert!(
        first >= ended_at + Duration::from_millis(SILENCE_MS) - Duration::from_millis(200),
        "{first:?} vs {ended_at:?}"
    );
    assert!(
        first <= ended_at + Duration::from_millis(SILENCE_MS + 500),
        "{first:?} vs {ended_at:?}"
    );

    // The chat upstream saw one conversation in the order sent, no conflict.
    let violations = chat.violations();
    assert_eq!(violations.total(), 0, "{violations:?}");
    let container = chat
        .timeline()
        .into_iter()
        .map(|event| event.container)
        .next()
        .expect("the chat simulator saw the conversation");
    let users: Vec<String> = chat
        .texts(&container)
        .into_iter()
        .filter(|(role, _)| role == "user")
        .map(|(_, text)| text)
        .collect();
    let expected: Vec<String> = (0..8).map(|i| format!("message {i}")).collect();
    assert_eq!(users, expected);
    assert_eq!(realtime.counts().violations(), 0, "{:?}", realtime.record().details());
}

/// VoiceAI Connect loses its socket to worker A mid-answer and the load
/// balancer sends the new one to worker B. B finds A through Redis, relays
/// the resume, and the call goes on where it lives, on A, to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audiocodes_resume_on_another_worker_reaches_the_call() {
    use serde_json::json;

    use crate::resume::{Vaic, call_until_answer, resume};

    let peers = Peers::start("multi-resume").await;
    let realtime = &peers.realtime;
    let (a, b) = peers.two_workers(Vec::new()).await;

    let conversation = "across-workers";
    let first = call_until_answer(&format!("ws://{}/audiocodes", a.base), conversation).await;
    first.drop_connection();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = Vaic::connect(&format!("ws://{}/audiocodes", b.base)).await;
    second.send(resume(conversation)).await;
    assert_eq!(second.expect("session.accepted").await["mediaFormat"], "raw/mulaw");
    second.send(json!({"type": "userStream.start", "conversationId": conversation})).await;
    second.expect("userStream.started").await;
    second.expect("playStream.start").await;
    second
        .send(json!({"type": "session.end", "conversationId": conversation,
            "reasonCode": "client-disconnected", "reason": "Client Side"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let record: Value = http()
        .get(format!("http://{}/calls/{conversation}", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> =
        record["timeline"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"detached") && kinds.contains(&"resumed"), "{record}");
    assert_eq!(record["ended"], "caller_hung_up", "{record}");
    let on_b = http().get(format!("http://{}/calls/{conversation}", b.base)).send().await.unwrap();
    assert_eq!(on_b.status(), 404, "worker B only relayed the call");
    assert_eq!(realtime.counts().violations(), 0, "{:?}", realtime.record().details());
}
