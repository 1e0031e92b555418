//! Failing parts survived: the coordinator going away for longer than a
//! lease lives, and coming back with nothing; a coordinator that cannot
//! be read while a chat message waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use turngate_coord::redis::{RedisConfig, RedisCoordinator, TestServer};
use turngate_coord::{
    Coordinator, FencedLock, Inbox, InboxConfig, Lease, SessionId, Signal, SignalReceipt, WorkerId,
};
use turngate_server::ServerBuilder;
use turngate_sim::callers::{self, CallerConfig, Protocol, Step};

use crate::support::{config, http, serve};

/// A call whose lease the coordinator forgets (Redis down for longer than
/// the lease's TTL, then back empty) takes it again and goes on; one whose
/// lease another worker took meanwhile leaves it to that worker, says so,
/// and still goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_outage_longer_than_a_lease_is_survived() {
    let mut redis = TestServer::start().unwrap_or_else(|e| panic!("{e}"));
    let coordinator: Arc<dyn Coordinator> =
        Arc::new(RedisCoordinator::connect(RedisConfig::new(redis.url())).await.unwrap());
    let mut config = config();
    config.redis.lease_ttl = Duration::from_millis(1500);
    config.session.dead_air.enabled = false;
    let worker = WorkerId::new("survivor").unwrap();
    let server = ServerBuilder::new(config)
        .coordinator(Arc::clone(&coordinator))
        .worker(worker.clone())
        .build()
        .await
        .unwrap();
    let server = serve(server).await;
    let call = |id: &str| CallerConfig {
        protocol: Protocol::Twilio,
        url: server.ws("/twilio"),
        call_id: id.to_owned(),
        script: vec![
            Step::Speak { ms: 600, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::Silence { ms: 6000 },
            Step::Speak { ms: 600, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(60),
        ..CallerConfig::default()
    };
    let kept = tokio::spawn(callers::run(call("kept")));
    let taken = tokio::spawn(callers::run(call("taken")));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Twice the lease's life without Redis, then Redis back with nothing.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    redis.restart().unwrap();
    // Another worker grabs one call's lease before its owner is back.
    let other: Arc<dyn Coordinator> =
        Arc::new(RedisCoordinator::connect(RedisConfig::new(redis.url())).await.unwrap());
    let taken_session = SessionId::new("twilio:CAtaken").unwrap();
    other
        .acquire(&taken_session, &WorkerId::new("usurper").unwrap(), Duration::from_secs(30))
        .await
        .unwrap();
    let kept = kept.await.unwrap().unwrap();
    let taken = taken.await.unwrap().unwrap();
    assert!(kept.is_clean(), "{kept}");
    assert!(taken.is_clean(), "{taken}");
    assert_eq!(kept.turn_latencies.len(), 2, "{kept}");
    let metrics = server.state.metrics.render();
    assert!(metrics.contains("turngate_lease_recoveries_total 1"), "{metrics}");
    assert!(metrics.contains("turngate_leases_lost_total 1"), "{metrics}");
    let record = server.state.records.get("CAtaken").unwrap();
    assert!(record.timeline.iter().any(|e| e.kind == "lease_lost"), "{record:?}");
    // The usurper's lease was never touched.
    assert_eq!(other.owner(&taken_session).await.unwrap().unwrap().as_str(), "usurper");
    server.stop().await;
}

/// A coordinator that answers everything except reads of chat state.
#[derive(Debug)]
struct ForgetfulReads {
    inner: Arc<dyn Coordinator>,
    failing: AtomicBool,
}

#[async_trait]
impl Coordinator for ForgetfulReads {
    async fn set_flag(
        &self,
        scope: &SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> turngate_coord::Result<()> {
        self.inner.set_flag(scope, name, value, ttl).await
    }
    async fn get_flag(
        &self,
        scope: &SessionId,
        name: &str,
    ) -> turngate_coord::Result<Option<Vec<u8>>> {
        if self.failing.load(Ordering::SeqCst) && scope.as_str().starts_with("chat:") {
            return Err(turngate_coord::Error::Timeout {
                op: "get_flag",
                after: Duration::from_millis(1),
            });
        }
        self.inner.get_flag(scope, name).await
    }
    async fn delete_flag(&self, scope: &SessionId, name: &str) -> turngate_coord::Result<bool> {
        self.inner.delete_flag(scope, name).await
    }
    async fn take_flag(
        &self,
        scope: &SessionId,
        name: &str,
    ) -> turngate_coord::Result<Option<Vec<u8>>> {
        self.inner.take_flag(scope, name).await
    }
    async fn signal(
        &self,
        session: &SessionId,
        signal: Signal,
    ) -> turngate_coord::Result<SignalReceipt> {
        self.inner.signal(session, signal).await
    }
    async fn subscribe(
        &self,
        worker: &WorkerId,
        config: InboxConfig,
    ) -> turngate_coord::Result<Inbox> {
        self.inner.subscribe(worker, config).await
    }
    async fn acquire(
        &self,
        session: &SessionId,
        worker: &WorkerId,
        ttl: Duration,
    ) -> turngate_coord::Result<Lease> {
        self.inner.acquire(session, worker, ttl).await
    }
    async fn renew(&self, lease: &Lease, ttl: Duration) -> turngate_coord::Result<Lease> {
        self.inner.renew(lease, ttl).await
    }
    async fn release(&self, lease: &Lease) -> turngate_coord::Result<bool> {
        self.inner.release(lease).await
    }
    async fn owner(&self, session: &SessionId) -> turngate_coord::Result<Option<WorkerId>> {
        self.inner.owner(session).await
    }
    async fn lock(
        &self,
        key: &SessionId,
        ttl: Duration,
        deadline: tokio::time::Instant,
    ) -> turngate_coord::Result<FencedLock> {
        self.inner.lock(key, ttl, deadline).await
    }
    async fn extend_lock(
        &self,
        lock: &FencedLock,
        ttl: Duration,
    ) -> turngate_coord::Result<FencedLock> {
        self.inner.extend_lock(lock, ttl).await
    }
    async fn unlock(&self, lock: &FencedLock) -> turngate_coord::Result<bool> {
        self.inner.unlock(lock).await
    }
    async fn incr(
        &self,
        scope: &SessionId,
        name: &str,
        delta: i64,
        ttl: Duration,
    ) -> turngate_coord::Result<i64> {
        self.inner.incr(scope, name, delta, ttl).await
    }
    async fn counter(&self, scope: &SessionId, name: &str) -> turngate_coord::Result<Option<i64>> {
        self.inner.counter(scope, name).await
    }
}

/// When the conversation's upstream mapping cannot be read, the message
/// is refused with 503 and nothing is sent upstream: a second upstream
/// conversation (a fork of the history) is never created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_chat_mapping_is_a_503_never_a_forked_conversation() {
    let coordinator = Arc::new(ForgetfulReads {
        inner: turngate_server::memory_coordinator(),
        failing: AtomicBool::new(false),
    });
    let server = ServerBuilder::new(config())
        .coordinator(Arc::clone(&coordinator) as Arc<dyn Coordinator>)
        .build()
        .await
        .unwrap();
    let server = serve(server).await;
    let client = http();
    let send = |text: &str| {
        client
            .post(server.url("/chat"))
            .json(&serde_json::json!({"conversation_id": "ledger", "message": text}))
            .send()
    };
    assert_eq!(send("first").await.unwrap().status(), 200);
    let chat = server.state.simulators.chat.as_ref().expect("the chat simulator");
    let conversations = chat.stats().containers_created;
    coordinator.failing.store(true, Ordering::SeqCst);
    let refused = send("second").await.unwrap();
    assert_eq!(refused.status(), 503);
    let body = refused.text().await.unwrap();
    assert!(body.contains("nothing was sent"), "{body}");
    coordinator.failing.store(false, Ordering::SeqCst);
    assert_eq!(send("third").await.unwrap().status(), 200);
    assert_eq!(chat.stats().containers_created, conversations, "a second upstream conversation");
    server.stop().await;
}
