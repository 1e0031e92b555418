//! The behaviour every [`Coordinator`] must show, as public async test
//! functions that take any coordinator.
//!
//! Each implementation's tests build a coordinator with [`config`] and call
//! every function here; a third-party implementation can do the same. The
//! functions panic with a description on the first violation. They use
//! fresh random session and worker ids, so they may run concurrently against
//! one backend, and they use real (short) sleeps, because a Redis server's
//! clock cannot be paused.
//!
//! Functions taking two coordinators (`owner`, `sender`) model two worker
//! processes; pass two independently connected instances for a networked
//! implementation, or the same one twice for an in-process one.
//!
//! **Not semver-stable**: functions may be added, changed or removed in any
//! release, as the contract is refined.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::config::{Config, InboxConfig};
use crate::coordinator::{Coordinator, CoordinatorExt, FencedLock, Lease};
use crate::error::{ErrorKind, Result};
use crate::ids::{SessionId, WorkerId, random_u64};
use crate::inbox::{Inbox, SessionSignals};
use crate::signal::{Delivered, Signal, SignalReceipt};

/// The settings a coordinator under test must be built with.
#[must_use]
pub fn config() -> Config {
    Config::default()
        .with_signal_ttl(Duration::from_millis(1500))
        .with_max_pending_signals(64)
        .with_dedup_window(Duration::from_secs(30))
}

/// The inbox settings the suite uses unless a test needs others.
#[must_use]
pub fn inbox_config() -> InboxConfig {
    InboxConfig::default().with_tick(Duration::from_millis(200))
}

/// How long the suite waits for a signal that should arrive.
const ARRIVAL: Duration = Duration::from_secs(5);

fn session(tag: &str) -> SessionId {
    must(SessionId::new(format!("cf-{tag}-{:012x}", random_u64() >> 16)), "session id")
}

fn worker(tag: &str) -> WorkerId {
    must(WorkerId::new(format!("cfw-{tag}-{:012x}", random_u64() >> 16)), "worker id")
}

#[track_caller]
fn must<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: unexpected error: {err} ({:?})", err.kind()),
    }
}

#[track_caller]
fn must_fail<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> crate::Error {
    match result {
        Ok(value) => panic!("{what}: expected a {kind:?} error, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(err.kind(), kind, "{what}: wrong error kind for {err}");
            err
        }
    }
}

fn signal(kind: &str, n: u32) -> Signal {
    must(Signal::new(kind, n.to_be_bytes().to_vec()), "signal")
}

fn number(d: &Delivered) -> u32 {
    let bytes: [u8; 4] = d
        .signal
        .payload()
        .try_into()
        .unwrap_or_else(|_| panic!("payload of {:?} is not a u32", d.signal));
    u32::from_be_bytes(bytes)
}

async fn recv_within(rx: &mut SessionSignals, within: Duration) -> Option<Delivered> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

async fn recv_n(rx: &mut SessionSignals, n: usize) -> Vec<Delivered> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match recv_within(rx, ARRIVAL).await {
            Some(d) => out.push(d),
            None => panic!(
                "session {}: only {} of {n} signals arrived within {ARRIVAL:?}",
                rx.session(),
                out.len()
            ),
        }
    }
    out
}

async fn assert_quiet(rx: &mut SessionSignals, within: Duration) {
    if let Some(extra) = recv_within(rx, within).await {
        panic!(
            "session {}: unexpected extra signal {:?} (id {})",
            rx.session(),
            extra.signal,
            extra.id
        );
    }
}

fn assert_in_order(got: &[Delivered], expected: impl IntoIterator<Item = u32>) {
    let numbers: Vec<u32> = got.iter().map(number).collect();
    let expected: Vec<u32> = expected.into_iter().collect();
    assert_eq!(numbers, expected, "signals out of order, lost or duplicated");
    for pair in got.windows(2) {
        if let [a, b] = pair {
            assert!(a.id < b.id, "ids not increasing: {} then {}", a.id, b.id);
        }
    }
}

/// Acquires `session` for `worker`, starts the worker's inbox and registers
/// the session on it.
async fn own(
    c: &dyn Coordinator,
    session: &SessionId,
    worker: &WorkerId,
    inbox: InboxConfig,
) -> (Lease, Inbox, SessionSignals) {
    let lease = must(c.acquire(session, worker, Duration::from_secs(30)).await, "acquire");
    let inbox = must(c.subscribe(worker, inbox).await, "subscribe");
    let rx = must(inbox.register(&lease).await, "register");
    (lease, inbox, rx)
}

/// Sends a signal the way a well-behaved sender does: a `Full` queue means
/// the owner is behind, so back off briefly and retry.
async fn send(c: &dyn Coordinator, session: &SessionId, s: Signal) -> SignalReceipt {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        match c.signal(session, s.clone()).await {
            Err(err) if err.kind() == ErrorKind::Full && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return must(other, "signal"),
        }
    }
}

/// Set, read, overwrite and delete flags; scopes do not leak into each
/// other; values are binary-safe.
pub async fn flags(c: &dyn Coordinator) {
    let a = session("flags-a");
    let b = session("flags-b");
    let ttl = Duration::from_secs(30);
    assert_eq!(must(c.get_flag(&a, "speaking").await, "get"), None);
    must(c.set_flag(&a, "speaking", b"1", ttl).await, "set");
    must(c.set_flag(&b, "speaking", &[0, 255, 10], ttl).await, "set");
    assert_eq!(must(c.get_flag(&a, "speaking").await, "get"), Some(b"1".to_vec()));
    assert_eq!(must(c.get_flag(&b, "speaking").await, "get"), Some(vec![0, 255, 10]));
    must(c.set_flag(&a, "speaking", b"2", ttl).await, "overwrite");
    assert_eq!(must(c.get_flag(&a, "speaking").await, "get"), Some(b"2".to_vec()));
    assert!(must(c.delete_flag(&a, "speaking").await, "delete"));
    assert!(!must(c.delete_flag(&a, "speaking").await, "delete again"));
    assert_eq!(must(c.get_flag(&a, "speaking").await, "get"), None);
    assert_eq!(
        must(c.get_flag(&b, "speaking").await, "get"),
        Some(vec![0, 255, 10]),
        "deleting in one scope touched another"
    );
}

/// A flag disappears after its TTL, for get and take alike.
pub async fn flag_ttl(c: &dyn Coordinator) {
    let s = session("flag-ttl");
    must(c.set_flag(&s, "short", b"x", Duration::from_millis(100)).await, "set");
    must(c.set_flag(&s, "long", b"y", Duration::from_secs(30)).await, "set");
    assert!(must(c.get_flag(&s, "short").await, "get").is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(must(c.get_flag(&s, "short").await, "get"), None);
    assert_eq!(must(c.take_flag(&s, "short").await, "take"), None);
    assert!(must(c.get_flag(&s, "long").await, "get").is_some());
}

/// Of many concurrent takers of one flag, exactly one gets the value.
pub async fn take_flag_is_exclusive(c: &dyn Coordinator) {
    let s = session("take");
    for round in 0..5u8 {
        must(c.set_flag(&s, "ended", &[round], Duration::from_secs(30)).await, "set");
        let takes = join_all((0..16).map(|_| c.take_flag(&s, "ended"))).await;
        let winners: Vec<Vec<u8>> = takes.into_iter().filter_map(|r| must(r, "take")).collect();
        assert_eq!(winners, vec![vec![round]], "round {round}: not exactly one taker");
        assert_eq!(must(c.get_flag(&s, "ended").await, "get"), None);
    }
}

/// Counters count, start from zero, go negative, and expire.
pub async fn counters(c: &dyn Coordinator) {
    let s = session("ctr");
    let ttl = Duration::from_secs(30);
    assert_eq!(must(c.counter(&s, "plays").await, "get"), None);
    assert_eq!(must(c.incr(&s, "plays", 3, ttl).await, "incr"), 3);
    assert_eq!(must(c.decr(&s, "plays", 1, ttl).await, "decr"), 2);
    assert_eq!(must(c.counter(&s, "plays").await, "get"), Some(2));
    assert_eq!(must(c.decr(&s, "plays", 5, ttl).await, "decr"), -3);
    assert_eq!(must(c.counter(&s, "other").await, "get"), None);
    let short = Duration::from_millis(100);
    assert_eq!(must(c.incr(&s, "brief", 7, short).await, "incr"), 7);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(must(c.counter(&s, "brief").await, "get"), None);
    assert_eq!(must(c.incr(&s, "brief", 1, short).await, "incr"), 1);
}

/// One owner at a time; re-acquiring by the owner re-keys the lease; renew
/// and release only with the current token.
pub async fn leases(c: &dyn Coordinator) {
    let s = session("lease");
    let w1 = worker("one");
    let w2 = worker("two");
    let ttl = Duration::from_secs(30);
    let first = must(c.acquire(&s, &w1, ttl).await, "acquire");
    assert_eq!(first.worker(), &w1);
    assert_eq!(must(c.owner(&s).await, "owner"), Some(w1.clone()));
    let err = must_fail(c.acquire(&s, &w2, ttl).await, ErrorKind::Conflict, "second worker");
    assert!(err.to_string().contains(w1.as_str()), "{err} does not name the owner");
    let second = must(c.acquire(&s, &w1, ttl).await, "re-acquire by owner");
    assert_ne!(first.token(), second.token(), "re-acquire kept the token");
    must_fail(c.renew(&first, ttl).await, ErrorKind::Conflict, "renew stale lease");
    assert!(!must(c.release(&first).await, "release stale lease"));
    assert_eq!(must(c.owner(&s).await, "owner"), Some(w1.clone()));
    let renewed = must(c.renew(&second, ttl).await, "renew");
    assert_eq!(renewed.token(), second.token());
    assert!(must(c.release(&renewed).await, "release"));
    assert_eq!(must(c.owner(&s).await, "owner"), None);
    let third = must(c.acquire(&s, &w2, ttl).await, "acquire after release");
    assert!(must(c.release(&third).await, "release"));
}

/// An expired lease frees the session; its former holder can neither renew
/// nor release its successor's lease.
pub async fn lease_expiry(c: &dyn Coordinator) {
    let s = session("lease-exp");
    let w1 = worker("one");
    let w2 = worker("two");
    let old = must(c.acquire(&s, &w1, Duration::from_millis(100)).await, "acquire");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(must(c.owner(&s).await, "owner"), None, "lease did not expire");
    let new = must(c.acquire(&s, &w2, Duration::from_secs(30)).await, "acquire after expiry");
    let err = must_fail(
        c.renew(&old, Duration::from_secs(30)).await,
        ErrorKind::Conflict,
        "renew expired lease",
    );
    assert!(err.to_string().contains(w2.as_str()), "{err} does not name the owner");
    assert!(!must(c.release(&old).await, "release expired lease"));
    assert_eq!(must(c.owner(&s).await, "owner"), Some(w2.clone()));
    assert!(must(c.release(&new).await, "release"));
}

/// A held lock makes others wait until their deadline, then fail with a
/// timeout; each acquisition gets a larger fencing token; release and extend
/// need the current token.
pub async fn lock_fencing(c: &dyn Coordinator) {
    let key = session("lock");
    let ttl = Duration::from_secs(30);
    let first = must(c.lock_within(&key, ttl, Duration::ZERO).await, "lock");
    let started = Instant::now();
    must_fail(
        c.lock_within(&key, ttl, Duration::from_millis(150)).await,
        ErrorKind::Timeout,
        "lock while held",
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(140) && waited < Duration::from_secs(3),
        "waited {waited:?} for a 150 ms deadline"
    );
    let extended = must(c.extend_lock(&first, ttl).await, "extend");
    assert_eq!(extended.token(), first.token());
    assert!(must(c.unlock(&first).await, "unlock"));
    assert!(!must(c.unlock(&first).await, "unlock twice"));
    let second = must(c.lock_within(&key, ttl, Duration::ZERO).await, "relock");
    assert!(second.token() > first.token(), "token {} not above {}", second.token(), first.token());
    must_fail(c.extend_lock(&first, ttl).await, ErrorKind::Conflict, "extend stale");
    assert!(!must(c.unlock(&first).await, "unlock stale"));
    assert!(must(c.unlock(&second).await, "unlock"));
}

/// An expired lock passes to a waiter with a larger token, and the expired
/// holder can no longer release or extend it.
pub async fn lock_expiry(c: &dyn Coordinator) {
    let key = session("lock-exp");
    let stale = must(c.lock_within(&key, Duration::from_millis(100), Duration::ZERO).await, "lock");
    let started = Instant::now();
    let fresh = must(
        c.lock_within(&key, Duration::from_secs(30), Duration::from_secs(3)).await,
        "lock after expiry",
    );
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "lock taken while the first was still held"
    );
    assert!(fresh.token() > stale.token());
    assert!(!must(c.unlock(&stale).await, "unlock expired"));
    must_fail(
        c.extend_lock(&stale, Duration::from_secs(1)).await,
        ErrorKind::Conflict,
        "extend expired",
    );
    assert!(must(c.unlock(&fresh).await, "unlock"));
}

/// A waiter gets the lock soon after it is released, long before the
/// holder's TTL would have run out.
pub async fn lock_handoff(c: &dyn Coordinator) {
    let key = session("lock-handoff");
    let held = must(c.lock_within(&key, Duration::from_secs(20), Duration::ZERO).await, "lock");
    let started = Instant::now();
    let waiter = c.lock_within(&key, Duration::from_secs(20), Duration::from_secs(5));
    let releaser = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        must(c.unlock(&held).await, "unlock")
    };
    let (got, released) = tokio::join!(waiter, releaser);
    assert!(released);
    let got: FencedLock = must(got, "waiter");
    assert!(started.elapsed() < Duration::from_secs(2), "waiter took {:?}", started.elapsed());
    assert!(got.token() > held.token());
    assert!(must(c.unlock(&got).await, "unlock"));
}

/// Malformed requests fail with `Invalid` and change nothing.
pub async fn invalid_arguments(c: &dyn Coordinator) {
    let s = session("invalid");
    let w = worker("invalid");
    must_fail(c.set_flag(&s, "f", b"x", Duration::ZERO).await, ErrorKind::Invalid, "zero flag ttl");
    must_fail(
        c.set_flag(&s, "bad name", b"x", Duration::from_secs(1)).await,
        ErrorKind::Invalid,
        "flag name with a space",
    );
    must_fail(c.acquire(&s, &w, Duration::ZERO).await, ErrorKind::Invalid, "zero lease ttl");
    must_fail(
        c.lock_within(&s, Duration::ZERO, Duration::ZERO).await,
        ErrorKind::Invalid,
        "zero lock ttl",
    );
    must_fail(c.incr(&s, "n", 1, Duration::ZERO).await, ErrorKind::Invalid, "zero counter ttl");
    assert_eq!(must(c.owner(&s).await, "owner"), None);
    let lease = must(c.acquire(&s, &w, Duration::from_secs(5)).await, "acquire");
    let other = must(c.subscribe(&worker("other"), inbox_config()).await, "subscribe");
    must_fail(other.register(&lease).await, ErrorKind::Invalid, "register another worker's lease");
    assert!(must(c.release(&lease).await, "release"));
}

/// Signals from another worker arrive at the owner once each, in order.
pub async fn signals_in_order(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("order");
    let w = worker("owner");
    let (_lease, _inbox, mut rx) = own(owner, &s, &w, inbox_config()).await;
    // More signals than a queue may hold at once: the owner reads while the
    // sender sends, as in production.
    let sending = async {
        for n in 0..200 {
            let receipt = send(sender, &s, signal("playback.ended", n)).await;
            assert_eq!(receipt.owner.as_ref(), Some(&w), "receipt does not name the owner");
            assert!(!receipt.duplicate);
            tokio::task::yield_now().await;
        }
    };
    let ((), got) = tokio::join!(sending, recv_n(&mut rx, 200));
    assert_in_order(&got, 0..200);
    assert!(got.iter().all(|d| d.session == s && d.signal.kind() == "playback.ended"));
    assert_quiet(&mut rx, Duration::from_millis(400)).await;
}

/// Signals sent before any worker owns the session are kept and delivered,
/// in order, to the first owner that registers it.
pub async fn signals_wait_for_owner(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("early");
    for n in 0..5 {
        let receipt = send(sender, &s, signal("early", n)).await;
        assert_eq!(receipt.owner, None, "receipt names an owner before any lease");
    }
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("late"), inbox_config()).await;
    let got = recv_n(&mut rx, 5).await;
    assert_in_order(&got, 0..5);
    assert_quiet(&mut rx, Duration::from_millis(300)).await;
}

/// With the polling tick far away, signals still arrive promptly: they are
/// pushed.
pub async fn signals_are_pushed(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("push");
    let cfg = inbox_config().with_tick(Duration::from_secs(60));
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("push"), cfg).await;
    // Let the first (registration) drain finish, so every later delivery
    // depends on a push.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 0..20 {
        let started = Instant::now();
        send(sender, &s, signal("push", n)).await;
        let got = recv_within(&mut rx, Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("signal {n} not pushed within 2 s"));
        assert_eq!(number(&got), n);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "signal {n} took {:?}",
            started.elapsed()
        );
    }
}

/// A session task that does not read does not lose signals: they wait in
/// the store while its channel is full and arrive, in order, once it reads.
pub async fn signals_backpressure(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("backpressure");
    let cfg = inbox_config().with_capacity(4).with_batch(4);
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("slow"), cfg).await;
    for n in 0..50 {
        send(sender, &s, signal("bp", n)).await;
    }
    // Several ticks pass with the channel full.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = recv_n(&mut rx, 50).await;
    assert_in_order(&got, 0..50);
    assert_quiet(&mut rx, Duration::from_millis(300)).await;
}

/// A repeated de-duplication key is acknowledged with the original id and
/// delivered once.
pub async fn signals_dedup(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("dedup");
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("dedup"), inbox_config()).await;
    let keyed = |n: u32, key: &str| must(signal("evt", n).with_dedup_key(key), "dedup key");
    let first = send(sender, &s, keyed(1, "evt_1")).await;
    let again = send(sender, &s, keyed(1, "evt_1")).await;
    assert!(!first.duplicate);
    assert!(again.duplicate, "a repeated key was not recognised");
    assert_eq!(again.id, first.id);
    let other = send(sender, &s, keyed(2, "evt_2")).await;
    assert!(!other.duplicate);
    let got = recv_n(&mut rx, 2).await;
    assert_in_order(&got, [1, 2]);
    let late = send(sender, &s, keyed(1, "evt_1")).await;
    assert!(late.duplicate, "key forgotten after delivery");
    assert_quiet(&mut rx, Duration::from_millis(400)).await;
}

/// A session's queue is bounded: past [`Config::max_pending_signals`] a
/// signal is refused with `Full`, nothing is dropped, and room returns once
/// the owner drains.
pub async fn signals_bounded(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let max = u32::try_from(config().max_pending_signals).unwrap_or(u32::MAX);
    let s = session("bounded");
    for n in 0..max {
        send(sender, &s, signal("b", n)).await;
    }
    must_fail(
        sender.signal(&s, signal("b", max)).await,
        ErrorKind::Full,
        "signal beyond the bound",
    );
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("bounded"), inbox_config()).await;
    let got = recv_n(&mut rx, usize::try_from(max).unwrap_or(usize::MAX)).await;
    assert_in_order(&got, 0..max);
    // Room returns once the read signals are acknowledged (on the next
    // drain, at the latest one tick away).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match sender.signal(&s, signal("b", max)).await {
            Ok(_) => break,
            Err(err) if err.kind() == ErrorKind::Full && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("signal after draining: {err}"),
        }
    }
    let got = recv_n(&mut rx, 1).await;
    assert_in_order(&got, [max]);
}

/// Signals nobody drains expire after the signal TTL.
pub async fn signals_expire_unowned(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("expire");
    for n in 0..3 {
        send(sender, &s, signal("old", n)).await;
    }
    tokio::time::sleep(config().signal_ttl + Duration::from_millis(300)).await;
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("expire"), inbox_config()).await;
    assert_quiet(&mut rx, Duration::from_millis(400)).await;
    send(sender, &s, signal("new", 7)).await;
    let got = recv_n(&mut rx, 1).await;
    assert_in_order(&got, [7]);
}

/// One inbox serves many sessions, each in its own order.
pub async fn signals_many_sessions(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let w = worker("many");
    let inbox = must(owner.subscribe(&w, inbox_config()).await, "subscribe");
    let mut sessions = Vec::new();
    for i in 0..5 {
        let s = session(&format!("many{i}"));
        let lease = must(owner.acquire(&s, &w, Duration::from_secs(30)).await, "acquire");
        let rx = must(inbox.register(&lease).await, "register");
        sessions.push((s, rx));
    }
    for n in 0..20 {
        for (s, _) in &sessions {
            send(sender, s, signal("m", n)).await;
        }
    }
    for (_, rx) in &mut sessions {
        let got = recv_n(rx, 20).await;
        assert_in_order(&got, 0..20);
    }
    assert_eq!(inbox.health().sessions, 5);
}

/// Concurrent senders to one session: every signal arrives once, and each
/// sender's signals keep their order.
pub async fn signals_concurrent_senders(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("concurrent");
    let (_lease, _inbox, mut rx) = own(owner, &s, &worker("conc"), inbox_config()).await;
    let senders = (0..4u32).map(|k| {
        let s = &s;
        async move {
            for n in 0..50u32 {
                send(sender, s, signal("c", k * 1000 + n)).await;
                tokio::task::yield_now().await;
            }
        }
    });
    let (_, got) = tokio::join!(join_all(senders), recv_n(&mut rx, 200));
    for k in 0..4u32 {
        let mine: Vec<u32> = got.iter().map(number).filter(|n| n / 1000 == k).collect();
        let expected: Vec<u32> = (0..50).map(|n| k * 1000 + n).collect();
        assert_eq!(mine, expected, "sender {k}: lost, duplicated or reordered");
    }
    assert_quiet(&mut rx, Duration::from_millis(300)).await;
}

/// A live receiver cannot be displaced; registering a session again after
/// its receiver is dropped hands over exactly the signals that receiver
/// did not return: none twice, none lost.
pub async fn signals_reregister(owner: &dyn Coordinator, sender: &dyn Coordinator) {
    let s = session("rereg");
    let (lease, inbox, mut first) = own(owner, &s, &worker("rereg"), inbox_config()).await;
    for n in 0..10 {
        send(sender, &s, signal("r", n)).await;
    }
    let got = recv_n(&mut first, 4).await;
    assert_in_order(&got, 0..4);
    // A second registration while the first receiver lives is refused, and
    // the first keeps receiving.
    must_fail(inbox.register(&lease).await, ErrorKind::Conflict, "register a live session again");
    let got = recv_n(&mut first, 2).await;
    assert_in_order(&got, 4..6);
    drop(first);
    let mut second = must(inbox.register(&lease).await, "register after the first is dropped");
    let got = recv_n(&mut second, 4).await;
    assert_in_order(&got, 6..10);
    // Dropping a receiver and registering again resumes after what it read.
    let got = {
        send(sender, &s, signal("r", 10)).await;
        send(sender, &s, signal("r", 11)).await;
        recv_n(&mut second, 1).await
    };
    assert_in_order(&got, [10]);
    drop(second);
    let mut third = must(inbox.register(&lease).await, "register after drop");
    let got = recv_n(&mut third, 1).await;
    assert_in_order(&got, [11]);
    assert_quiet(&mut third, Duration::from_millis(300)).await;
}

/// When ownership moves to another worker, the new owner receives what the
/// old one had not read, and everything sent afterwards.
pub async fn signals_handover(
    first_owner: &dyn Coordinator,
    second_owner: &dyn Coordinator,
    sender: &dyn Coordinator,
) {
    let s = session("handover");
    let (lease, inbox, mut rx) = own(first_owner, &s, &worker("first"), inbox_config()).await;
    for n in 0..6 {
        send(sender, &s, signal("h", n)).await;
    }
    let got = recv_n(&mut rx, 3).await;
    assert_in_order(&got, 0..3);
    drop(rx);
    // The old inbox acknowledges what its receiver read when it sees the
    // receiver gone; give it a moment before the old worker shuts down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(inbox);
    assert!(must(first_owner.release(&lease).await, "release"));
    let (_lease, _inbox, mut rx) = own(second_owner, &s, &worker("second"), inbox_config()).await;
    let got = recv_n(&mut rx, 3).await;
    assert_in_order(&got, 3..6);
    let receipt = send(sender, &s, signal("h", 6)).await;
    assert!(receipt.owner.is_some());
    let got = recv_n(&mut rx, 1).await;
    assert_in_order(&got, [6]);
    assert_quiet(&mut rx, Duration::from_millis(300)).await;
}

/// The inbox reports itself connected and counts its sessions.
pub async fn inbox_health(c: &dyn Coordinator) {
    let s = session("health");
    let (_lease, inbox, rx) = own(c, &s, &worker("health"), inbox_config()).await;
    let health = inbox.health();
    assert!(health.connected, "{health:?}");
    // Registration is processed by the inbox task; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while inbox.health().sessions != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(inbox.health().sessions, 1);
    drop(rx);
    let deadline = Instant::now() + Duration::from_secs(2);
    while inbox.health().sessions != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(inbox.health().sessions, 0, "a dropped receiver was not forgotten");
}
