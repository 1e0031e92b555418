use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;

use tokio::time::Instant;

use super::wake::Woken;
use super::*;
use crate::signal::Signal;

/// A store whose drains can be made to fail, and which records what it was
/// asked.
#[derive(Debug, Default)]
struct FakeSource {
    queue: Mutex<VecDeque<StoredSignal>>,
    /// Every drain with a number divisible by this (if non-zero) applies its
    /// effect and then reports failure, like a reply lost on the wire.
    lose_every: AtomicUsize,
    drains: AtomicUsize,
    max_asked: AtomicUsize,
    acks: Mutex<Vec<SignalId>>,
}

impl FakeSource {
    fn push(&self, seq: u64) {
        let signal = Signal::new("t", seq.to_be_bytes().to_vec()).unwrap();
        self.queue.lock().unwrap().push_back(StoredSignal { id: SignalId::new(1, seq), signal });
    }

    fn len(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

#[async_trait]
impl SignalSource for FakeSource {
    async fn drain(
        &self,
        _session: &SessionId,
        ack: Option<SignalId>,
        after: Option<SignalId>,
        max: usize,
    ) -> Result<Vec<StoredSignal>> {
        let n = self.drains.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_asked.fetch_max(max, Ordering::SeqCst);
        let mut queue = self.queue.lock().unwrap();
        if let Some(ack) = ack {
            self.acks.lock().unwrap().push(ack);
            queue.retain(|s| s.id > ack);
        }
        let out: Vec<StoredSignal> =
            queue.iter().filter(|s| after.is_none_or(|a| s.id > a)).take(max).cloned().collect();
        let every = self.lose_every.load(Ordering::SeqCst);
        if every > 0 && n.is_multiple_of(every) {
            return Err(Error::Unavailable { op: "drain", source: "reply lost".into() });
        }
        Ok(out)
    }
}

fn session() -> SessionId {
    SessionId::new("s").unwrap()
}

fn lease(worker: &WorkerId) -> Lease {
    Lease::new(session(), worker.clone(), 1, Instant::now())
}

fn seq(d: &Delivered) -> u64 {
    u64::from_be_bytes(d.signal.payload().try_into().unwrap())
}

async fn start(
    source: Arc<FakeSource>,
    config: InboxConfig,
) -> (Inbox, InboxWaker, SessionSignals) {
    let worker = WorkerId::new("w").unwrap();
    let (inbox, waker) = Inbox::spawn(worker.clone(), source, config).unwrap();
    let rx = inbox.register(&lease(&worker)).await.unwrap();
    (inbox, waker, rx)
}

async fn recv(rx: &mut SessionSignals) -> u64 {
    let d = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no signal within 5 s")
        .expect("inbox stopped");
    seq(&d)
}

#[tokio::test]
async fn lost_drain_replies_neither_lose_nor_duplicate() {
    let source = Arc::new(FakeSource::default());
    source.lose_every.store(2, Ordering::SeqCst);
    let config = InboxConfig::default().with_tick(Duration::from_millis(20)).with_batch(3);
    let (_inbox, waker, mut rx) = start(source.clone(), config).await;
    for n in 1..=30 {
        source.push(n);
        if n % 5 == 0 {
            waker.wake(&session());
        }
    }
    for n in 1..=30 {
        assert_eq!(recv(&mut rx).await, n);
    }
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err());
}

#[tokio::test]
async fn a_full_channel_leaves_signals_in_the_store() {
    let source = Arc::new(FakeSource::default());
    let config = InboxConfig::default().with_tick(Duration::from_millis(20)).with_capacity(2);
    let (_inbox, waker, mut rx) = start(source.clone(), config).await;
    for n in 1..=10 {
        source.push(n);
    }
    waker.wake(&session());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Nothing beyond the channel's room was fetched, and nothing was
    // acknowledged, so everything is still stored.
    assert!(source.max_asked.load(Ordering::SeqCst) <= 2);
    assert_eq!(source.len(), 10);
    for n in 1..=10 {
        assert_eq!(recv(&mut rx).await, n);
        // A slow reader.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn reads_are_acknowledged_and_a_dropped_receiver_is_forgotten() {
    let source = Arc::new(FakeSource::default());
    let config = InboxConfig::default().with_tick(Duration::from_millis(20));
    let (inbox, waker, mut rx) = start(source.clone(), config).await;
    for n in 1..=5 {
        source.push(n);
    }
    waker.wake(&session());
    for n in 1..=3 {
        assert_eq!(recv(&mut rx).await, n);
    }
    // The next tick acknowledges the three reads, and only those.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(source.len(), 2);
    assert_eq!(source.acks.lock().unwrap().last().copied(), Some(SignalId::new(1, 3)));
    assert_eq!(inbox.health().sessions, 1);
    // Dropping the receiver after one more read acknowledges that read.
    assert_eq!(recv(&mut rx).await, 4);
    drop(rx);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(inbox.health().sessions, 0);
    assert_eq!(source.len(), 1);
    // Registering again resumes after the last read.
    let worker = inbox.worker().clone();
    let mut rx = inbox.register(&lease(&worker)).await.unwrap();
    assert_eq!(recv(&mut rx).await, 5);
}

#[tokio::test]
async fn a_dropped_inbox_ends_its_receivers() {
    let source = Arc::new(FakeSource::default());
    let (inbox, waker, mut rx) = start(source, InboxConfig::default()).await;
    assert!(!waker.is_closed());
    drop(inbox);
    assert!(waker.is_closed());
    let end = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
    assert_eq!(end.unwrap(), None);
}

#[tokio::test]
async fn registering_another_workers_lease_is_refused() {
    let source = Arc::new(FakeSource::default());
    let worker = WorkerId::new("w").unwrap();
    let (inbox, _waker) = Inbox::spawn(worker, source, InboxConfig::default()).unwrap();
    let other = WorkerId::new("other").unwrap();
    let err = inbox.register(&lease(&other)).await.unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Invalid);
}

#[test]
fn an_inbox_needs_a_runtime() {
    let source = Arc::new(FakeSource::default());
    let worker = WorkerId::new("w").unwrap();
    let err = Inbox::spawn(worker, source, InboxConfig::default()).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Invalid);
}

#[test]
fn the_wake_set_collapses_and_overflows_into_all() {
    let set = WakeSet::new(2);
    let a = SessionId::new("a").unwrap();
    let b = SessionId::new("b").unwrap();
    let c = SessionId::new("c").unwrap();
    set.wake(&a);
    set.wake(&a);
    set.wake(&b);
    match set.take() {
        Woken::Some(s) => assert_eq!(s.len(), 2),
        Woken::All => panic!("overflowed too early"),
    }
    assert_eq!(set.take(), Woken::Some(Default::default()));
    set.wake(&a);
    set.wake(&b);
    set.wake(&c);
    assert_eq!(set.take(), Woken::All);
    assert_eq!(set.take(), Woken::Some(Default::default()));
}

#[test]
fn progress_refuses_reads_after_revocation() {
    let progress = Progress::default();
    assert!(progress.consume(SignalId::new(1, 1)));
    assert_eq!(progress.revoke(), Some(SignalId::new(1, 1)));
    assert!(!progress.consume(SignalId::new(1, 2)));
    assert_eq!(progress.consumed(), Some(SignalId::new(1, 1)));
}
