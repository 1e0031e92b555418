use super::*;
use crate::ErrorKind;
use crate::coordinator::CoordinatorExt;

fn s(id: &str) -> SessionId {
    SessionId::new(id).unwrap()
}

fn w(id: &str) -> WorkerId {
    WorkerId::new(id).unwrap()
}

#[tokio::test(start_paused = true)]
async fn flags_and_counters_expire_on_tokio_time() {
    let c = MemoryCoordinator::new();
    let scope = s("call");
    c.set_flag(&scope, "f", b"1", Duration::from_secs(10)).await.unwrap();
    c.incr(&scope, "n", 2, Duration::from_secs(10)).await.unwrap();
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(c.get_flag(&scope, "f").await.unwrap().is_some());
    assert_eq!(c.counter(&scope, "n").await.unwrap(), Some(2));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(c.get_flag(&scope, "f").await.unwrap(), None);
    assert_eq!(c.counter(&scope, "n").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn leases_expire_on_tokio_time() {
    let c = MemoryCoordinator::new();
    let lease = c.acquire(&s("call"), &w("a"), Duration::from_secs(30)).await.unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    let lease = c.renew(&lease, Duration::from_secs(30)).await.unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(c.owner(&s("call")).await.unwrap(), Some(w("a")));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(c.owner(&s("call")).await.unwrap(), None);
    let err = c.renew(&lease, Duration::from_secs(30)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test(start_paused = true)]
async fn a_lock_waiter_times_out_exactly_at_its_deadline() {
    let c = MemoryCoordinator::new();
    let key = s("conv");
    let held = c.lock_within(&key, Duration::from_secs(60), Duration::ZERO).await.unwrap();
    let started = Instant::now();
    let err =
        c.lock_within(&key, Duration::from_secs(60), Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    // A waiter whose deadline is past the holder's expiry gets the lock at
    // the expiry.
    let started = Instant::now();
    let next =
        c.lock_within(&key, Duration::from_secs(60), Duration::from_secs(120)).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(55));
    assert!(next.token() > held.token());
}

#[tokio::test]
async fn fencing_tokens_increase_across_keys_and_time() {
    let c = MemoryCoordinator::new();
    let mut last = 0;
    for i in 0..50 {
        let key = s(&format!("k{}", i % 3));
        let lock = c.lock_within(&key, Duration::from_secs(5), Duration::ZERO).await.unwrap();
        assert!(lock.token() > last);
        last = lock.token();
        assert!(c.unlock(&lock).await.unwrap());
    }
    // Seeded from the clock, so a new process does not restart at 1.
    assert!(last > 1_600_000_000_000_000);
}

#[tokio::test(start_paused = true)]
async fn draining_keeps_a_backlog_alive_and_unowned_signals_expire() {
    let config = Config::default().with_signal_ttl(Duration::from_secs(10));
    let c = MemoryCoordinator::with_config(config).unwrap();
    let kept = s("kept");
    let lost = s("lost");
    for session in [&kept, &lost] {
        c.signal(session, Signal::new("k", Vec::new()).unwrap()).await.unwrap();
    }
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(8)).await;
        // An owner that drains without room to fetch still refreshes the
        // TTL.
        assert!(c.drain(&kept, None, None, 0).await.unwrap().is_empty());
    }
    assert_eq!(c.drain(&kept, None, None, 10).await.unwrap().len(), 1);
    assert!(c.drain(&lost, None, None, 10).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn expired_entries_are_swept() {
    let c = MemoryCoordinator::new();
    let scope = s("sweep");
    for i in 0..300 {
        c.set_flag(&scope, &format!("f{i}"), b"x", Duration::from_secs(1)).await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(2)).await;
    for i in 0..SWEEP_EVERY {
        c.set_flag(&scope, &format!("g{i}"), b"x", Duration::from_secs(60)).await.unwrap();
    }
    let flags = c.state().flags.len();
    assert!(flags <= 300, "{flags} flags kept after a sweep");
}

#[tokio::test]
async fn dedup_keys_are_bounded_oldest_first() {
    let config = Config { max_dedup_keys: 3, ..Config::default() };
    let c = MemoryCoordinator::with_config(config).unwrap();
    let session = s("dedup");
    for key in ["a", "b", "c", "d"] {
        let signal = Signal::new("k", Vec::new()).unwrap().with_dedup_key(key).unwrap();
        assert!(!c.signal(&session, signal).await.unwrap().duplicate);
    }
    let again = |key: &str| Signal::new("k", Vec::new()).unwrap().with_dedup_key(key).unwrap();
    assert!(c.signal(&session, again("d")).await.unwrap().duplicate);
    // "a" was forgotten to make room.
    assert!(!c.signal(&session, again("a")).await.unwrap().duplicate);
}
