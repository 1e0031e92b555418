//! Redis restarts, outages, stalls and missed wake-ups, against a
//! `redis-server` each test starts, kills and restarts itself.

use std::net::TcpListener;
use std::time::Duration;

use tokio::time::Instant;
use turngate_coord::redis::TestServer;
use turngate_coord::{
    Coordinator, CoordinatorExt, Delivered, ErrorKind, InboxConfig, RedisConfig, RedisCoordinator,
    SessionId, SessionSignals, Signal, WorkerId,
};

use crate::support::{connect, fast_config, raw, server};

/// The slack allowed on top of a configured timeout before a call counts as
/// hanging.
const SLACK: Duration = Duration::from_millis(700);

fn numbered(n: u32) -> Signal {
    Signal::new("n", n.to_be_bytes().to_vec()).expect("a valid signal")
}

fn number(d: &Delivered) -> u32 {
    u32::from_be_bytes(d.signal.payload().try_into().expect("a 4-byte payload"))
}

/// Receives exactly `n` signals, failing if they do not arrive in time.
async fn receive(rx: &mut SessionSignals, n: usize, within: Duration) -> Vec<u32> {
    let deadline = Instant::now() + within;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(d)) => got.push(number(&d)),
            Ok(None) => panic!("inbox stopped after {} signals", got.len()),
            Err(_) => panic!("only {} of {n} signals within {within:?}", got.len()),
        }
    }
    got
}

async fn assert_quiet(rx: &mut SessionSignals) {
    if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        panic!("unexpected extra signal {}", number(&d));
    }
}

/// Sends `signal`, retrying through transient failures (each one recorded)
/// until it is stored; that is the sender-side half of the guarantee.
async fn send_retrying(
    c: &RedisCoordinator,
    session: &SessionId,
    signal: Signal,
    failures: &mut Vec<ErrorKind>,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.signal(session, signal.clone()).await {
            Ok(_) => return,
            Err(err) => {
                assert!(err.is_transient(), "non-transient failure while sending: {err}");
                assert!(Instant::now() < deadline, "could not send for 20 s: {err}");
                failures.push(err.kind());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The restart test. A persistent Redis (append-only file, fsync on every
/// write) is killed with SIGKILL and restarted while 1,000 signals stream
/// from one worker to another. Every signal is delivered exactly once and
/// in order; the sender sees explicit errors during the outage and retries
/// them (with de-duplication keys, so an ambiguous failure cannot double a
/// signal); the owner's lease survives and renews; and delivery after the
/// restart needs no polling (the tick is a minute), so the pub/sub
/// connection resubscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_persistence_delivers_every_signal_exactly_once() {
    const TOTAL: u32 = 1_000;
    let mut server = TestServer::start_persistent().unwrap_or_else(|e| panic!("{e}"));
    let config = fast_config(&server.url());
    let owner = connect(config.clone()).await;
    let sender = connect(config).await;
    let session = SessionId::new("call-restart").unwrap();
    let worker = WorkerId::random();
    let lease = owner.acquire(&session, &worker, Duration::from_secs(60)).await.unwrap();
    let inbox = owner
        .subscribe(&worker, InboxConfig::default().with_tick(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut rx = inbox.register(&lease).await.unwrap();

    let (at_300, reached_300) = tokio::sync::oneshot::channel();
    let sending = tokio::spawn({
        let session = session.clone();
        async move {
            let mut failures = Vec::new();
            let mut at_300 = Some(at_300);
            for n in 0..TOTAL {
                let signal = numbered(n).with_dedup_key(&format!("sig-{n}")).unwrap();
                send_retrying(&sender, &session, signal, &mut failures).await;
                if n == 300
                    && let Some(tx) = at_300.take()
                {
                    let _ = tx.send(());
                }
                // Spread the stream over the restart rather than finishing
                // before it.
                if n % 4 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            failures
        }
    });
    let receiving = tokio::spawn(async move {
        let got = receive(&mut rx, TOTAL as usize, Duration::from_secs(40)).await;
        (got, rx)
    });

    reached_300.await.unwrap();
    server.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.restart().unwrap();

    let failures = sending.await.unwrap();
    let (got, mut rx) = receiving.await.unwrap();
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>(), "lost, doubled or reordered");
    assert!(
        !failures.is_empty(),
        "the sender saw no error: the outage did not happen while sending"
    );
    assert!(
        failures.iter().all(|k| matches!(k, ErrorKind::Unavailable | ErrorKind::Timeout)),
        "{failures:?}"
    );
    assert!(inbox.health().reconnects >= 1, "{:?}", inbox.health());

    // The lease was persisted: it renews, and the owner is unchanged.
    owner.renew(&lease, Duration::from_secs(60)).await.unwrap();
    assert_eq!(owner.owner(&session).await.unwrap(), Some(worker.clone()));

    // With the tick a minute away, a prompt delivery is a push.
    let again = connect(fast_config(&server.url())).await;
    let started = Instant::now();
    again.signal(&session, numbered(TOTAL)).await.unwrap();
    assert_eq!(receive(&mut rx, 1, Duration::from_secs(2)).await, [TOTAL]);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_quiet(&mut rx).await;
}

/// A Redis without persistence loses its dataset on restart. What still
/// holds: signals delivered before stay delivered once (none replayed), the
/// owner finds out from `renew` that its lease is gone and takes it again,
/// and signals sent after the restart (retried through the outage) are all
/// delivered, in order, to the same receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_without_persistence_revalidates_the_lease() {
    let mut server = server();
    let config = fast_config(&server.url());
    let owner = connect(config.clone()).await;
    let sender = connect(config).await;
    let session = SessionId::new("call-volatile").unwrap();
    let worker = WorkerId::random();
    let lease = owner.acquire(&session, &worker, Duration::from_secs(60)).await.unwrap();
    let inbox = owner
        .subscribe(&worker, InboxConfig::default().with_tick(Duration::from_millis(200)))
        .await
        .unwrap();
    let mut rx = inbox.register(&lease).await.unwrap();
    for n in 0..500 {
        sender.signal(&session, numbered(n)).await.unwrap();
    }
    assert_eq!(receive(&mut rx, 500, Duration::from_secs(10)).await, (0..500).collect::<Vec<_>>());

    server.restart().unwrap();

    // The first calls may fail while the connection is re-established; the
    // first answer from the new server is that the lease is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lost = loop {
        match owner.renew(&lease, Duration::from_secs(60)).await {
            Err(err) if err.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => break other,
        }
    };
    let err = lost.expect_err("renew succeeded on an emptied Redis");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(owner.owner(&session).await.unwrap(), None);
    let lease = owner.acquire(&session, &worker, Duration::from_secs(60)).await.unwrap();
    assert_eq!(owner.owner(&session).await.unwrap(), Some(lease.worker().clone()));

    let mut failures = Vec::new();
    for n in 500..1000 {
        send_retrying(&sender, &session, numbered(n), &mut failures).await;
    }
    assert_eq!(
        receive(&mut rx, 500, Duration::from_secs(10)).await,
        (500..1000).collect::<Vec<_>>()
    );
    assert_quiet(&mut rx).await;
}

/// With Redis down, every operation fails with `Unavailable` or `Timeout`
/// within the operation timeout (plus slack), and everything works again
/// once Redis is back.
#[tokio::test]
async fn redis_down_fails_fast_and_recovers() {
    let mut server = server();
    let config = fast_config(&server.url());
    let bound = config.op_timeout + config.connect_timeout + SLACK;
    let c = connect(config).await;
    let s = SessionId::new("down").unwrap();
    let w = WorkerId::random();
    let ttl = Duration::from_secs(5);
    c.set_flag(&s, "f", b"1", ttl).await.unwrap();
    server.kill();

    macro_rules! fails_fast {
        ($op:expr) => {{
            let started = Instant::now();
            let result = tokio::time::timeout(Duration::from_secs(10), $op)
                .await
                .expect(concat!(stringify!($op), " hung"));
            let err = result.expect_err(concat!(stringify!($op), " succeeded with Redis down"));
            assert!(
                matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                "{}: {err}",
                stringify!($op)
            );
            assert!(started.elapsed() < bound, "{} took {:?}", stringify!($op), started.elapsed());
        }};
    }
    // Repeat, so both the first failure (connection dropped) and later ones
    // (reconnection refused) are covered.
    for _ in 0..3 {
        fails_fast!(c.set_flag(&s, "f", b"1", ttl));
        fails_fast!(c.get_flag(&s, "f"));
        fails_fast!(c.take_flag(&s, "f"));
        fails_fast!(c.signal(&s, numbered(1)));
        fails_fast!(c.acquire(&s, &w, ttl));
        fails_fast!(c.owner(&s));
        fails_fast!(c.lock_within(&s, ttl, Duration::from_secs(2)));
        fails_fast!(c.incr(&s, "n", 1, ttl));
        fails_fast!(c.ping());
        fails_fast!(c.subscribe(&w, InboxConfig::default()));
    }
    fails_fast!(RedisCoordinator::connect(fast_config(&server.url())));

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.set_flag(&s, "f", b"2", ttl).await.is_err() {
        assert!(Instant::now() < deadline, "no recovery within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.get_flag(&s, "f").await.unwrap(), Some(b"2".to_vec()));
}

/// A server that accepts connections but never answers (frozen with
/// SIGSTOP, or a listener that never speaks) produces `Timeout` errors
/// within the bound rather than a hang; the inbox notices its pub/sub
/// connection is dead; all recovers when the server thaws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_redis_times_out_and_recovers() {
    let server = server();
    let config = fast_config(&server.url());
    let bound = config.op_timeout + SLACK;
    let owner = connect(config.clone()).await;
    let sender = connect(config.clone()).await;
    let s = SessionId::new("frozen").unwrap();
    let w = WorkerId::random();
    let lease = owner.acquire(&s, &w, Duration::from_secs(60)).await.unwrap();
    let inbox = owner
        .subscribe(&w, InboxConfig::default().with_tick(Duration::from_millis(200)))
        .await
        .unwrap();
    let mut rx = inbox.register(&lease).await.unwrap();

    server.pause().unwrap();
    let started = Instant::now();
    let err = sender.signal(&s, numbered(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
    let started = Instant::now();
    let err = owner.get_flag(&s, "f").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(3);
    while inbox.health().connected {
        assert!(Instant::now() < deadline, "dead pub/sub connection not noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A listener that accepts and never answers: connecting times out.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("redis://{}/", silent.local_addr().unwrap());
    let started = Instant::now();
    let err = RedisCoordinator::connect(fast_config(&silent_url)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < config.connect_timeout + config.op_timeout + SLACK,
        "took {:?}",
        started.elapsed()
    );

    server.resume().unwrap();
    let mut failures = Vec::new();
    send_retrying(&sender, &s, numbered(2), &mut failures).await;
    // Signal 1 timed out; it may or may not have been stored before the
    // freeze took hold (a timeout is ambiguous), so accept it once at most.
    let got = loop {
        let got = receive(&mut rx, 1, Duration::from_secs(5)).await;
        if got != [1] {
            break got;
        }
    };
    assert_eq!(got, [2]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !inbox.health().connected {
        assert!(Instant::now() < deadline, "pub/sub did not reconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(inbox.health().reconnects >= 1);
}

/// A signal stored without a wake-up (as when a publish is missed) arrives
/// on the inbox tick.
#[tokio::test]
async fn missed_wake_up_costs_one_tick() {
    let server = server();
    let config = fast_config(&server.url());
    let owner = connect(config).await;
    let s = SessionId::new("missed").unwrap();
    let w = WorkerId::random();
    let lease = owner.acquire(&s, &w, Duration::from_secs(60)).await.unwrap();
    let tick = Duration::from_millis(300);
    let inbox = owner.subscribe(&w, InboxConfig::default().with_tick(tick)).await.unwrap();
    let mut rx = inbox.register(&lease).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Write the stream entry directly, with no PUBLISH.
    let mut conn = raw(&server.url()).await;
    let key = owner.keys().signals(&s);
    let _: String = redis::cmd("XADD")
        .arg(&key)
        .arg("*")
        .arg("k")
        .arg("n")
        .arg("p")
        .arg(7u32.to_be_bytes().as_slice())
        .arg("t")
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(receive(&mut rx, 1, tick * 3).await, [7]);
    assert!(started.elapsed() <= tick + Duration::from_millis(200));
}

/// Killing the worker's pub/sub connection on the server side: the inbox
/// reconnects, resubscribes, and pushes work again (the tick is a minute).
#[tokio::test]
async fn pubsub_resubscribes_after_its_connection_is_killed() {
    let server = server();
    let config = fast_config(&server.url());
    let owner = connect(config.clone()).await;
    let sender = connect(config).await;
    let s = SessionId::new("resub").unwrap();
    let w = WorkerId::random();
    let lease = owner.acquire(&s, &w, Duration::from_secs(60)).await.unwrap();
    let inbox = owner
        .subscribe(&w, InboxConfig::default().with_tick(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut rx = inbox.register(&lease).await.unwrap();

    let mut conn = raw(&server.url()).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    // Sent while the subscription may be down: delivered by the drain that
    // follows the resubscription.
    sender.signal(&s, numbered(1)).await.unwrap();
    assert_eq!(receive(&mut rx, 1, Duration::from_secs(3)).await, [1]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while inbox.health().reconnects < 1 {
        assert!(Instant::now() < deadline, "{:?}", inbox.health());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    sender.signal(&s, numbered(2)).await.unwrap();
    assert_eq!(receive(&mut rx, 1, Duration::from_secs(2)).await, [2]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Scripts run by hash: the server sees `EVALSHA` and never `EVAL`, and
/// after a restart empties its script cache they are reloaded on demand.
#[tokio::test]
async fn scripts_run_by_hash_and_reload_after_restart() {
    let mut server = server();
    let c = connect(fast_config(&server.url())).await;
    let s = SessionId::new("scripts").unwrap();
    let w = WorkerId::random();
    let _before = c.acquire(&s, &w, Duration::from_secs(5)).await.unwrap();
    c.signal(&s, numbered(1)).await.unwrap();
    let stats: String = {
        let mut conn = raw(&server.url()).await;
        redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap()
    };
    assert!(stats.contains("cmdstat_evalsha:"), "{stats}");
    assert!(!stats.contains("cmdstat_eval:"), "a script body was sent: {stats}");

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let lease = loop {
        match c.acquire(&s, &w, Duration::from_secs(5)).await {
            Ok(lease) => break lease,
            Err(err) if err.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("acquire after restart: {err}"),
        }
    };
    assert!(c.release(&lease).await.unwrap());
}

/// A lock holder that stalls past its TTL loses the lock to a waiter with a
/// larger fencing token, across two processes' worth of coordinators.
#[tokio::test]
async fn fencing_tokens_across_workers() {
    let server = server();
    let config: RedisConfig = fast_config(&server.url());
    let a = connect(config.clone()).await;
    let b = connect(config).await;
    let key = SessionId::new("conversation-1").unwrap();
    let first = a.lock_within(&key, Duration::from_millis(150), Duration::ZERO).await.unwrap();
    let second = b.lock_within(&key, Duration::from_secs(5), Duration::from_secs(2)).await.unwrap();
    assert!(second.token() > first.token());
    assert!(!a.unlock(&first).await.unwrap());
    assert!(b.unlock(&second).await.unwrap());
}
