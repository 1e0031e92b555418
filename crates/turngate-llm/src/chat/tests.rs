//! Unit tests of the retry arithmetic and of `ConversationQueue` over a
//! scripted backend, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::{Instant, sleep};

use super::retry::{RetryDecision, RetryHints, parse_retry_after};
use super::{
    ChatBackend, ChatCaps, ChatError, ConversationId, ConversationQueue, ErrorKind, PollBackoff,
    QueueConfig, Reply, RetryPolicy, UserMessage,
};

const SEC: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(parse_retry_after("2", now), Some(2 * SEC));
    assert_eq!(parse_retry_after(" 1.5 ", now), Some(ms(1500)));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(10 * SEC));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), Some(Duration::ZERO));
    assert_eq!(
        parse_retry_after("Tue, 29 Feb 2028 00:00:00 GMT", UNIX_EPOCH),
        Some(Duration::from_secs(1_835_395_200))
    );
    for bad in
        ["", "-1", "soon", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT", "inf"]
    {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
}

#[test]
fn retry_after_ms_wins_over_retry_after() {
    let now = SystemTime::now();
    let hints = RetryHints::from_headers(Some("250"), Some("9"), None, now);
    assert_eq!(hints.after, Some(ms(250)));
    let hints = RetryHints::from_headers(Some("junk"), Some("3"), Some("false"), now);
    assert_eq!((hints.after, hints.should_retry), (Some(3 * SEC), Some(false)));
}

#[test]
fn only_transient_statuses_are_retried() {
    assert!(RetryPolicy::retryable_status(429, Some("rate_limit_exceeded")));
    assert!(RetryPolicy::retryable_status(429, None));
    assert!(!RetryPolicy::retryable_status(429, Some("insufficient_quota")));
    for status in [408, 409, 500, 502, 503] {
        assert!(RetryPolicy::retryable_status(status, None), "{status}");
    }
    for status in [400, 401, 403, 404, 422] {
        assert!(!RetryPolicy::retryable_status(status, None), "{status}");
    }
}

#[test]
fn decisions_honour_hints_caps_attempts_and_the_deadline() {
    let policy = RetryPolicy::default();
    let hint = |after| RetryHints { after: Some(after), should_retry: None };
    assert_eq!(policy.decide(true, hint(2 * SEC), 0, 0, 10 * SEC), RetryDecision::After(2 * SEC));
    // The hint is honoured even when shorter than the backoff would be.
    assert_eq!(policy.decide(true, hint(ms(10)), 3, 0, 10 * SEC), RetryDecision::After(ms(10)));
    assert_eq!(policy.decide(true, hint(2 * SEC), 0, 0, SEC), RetryDecision::GiveUp);
    assert_eq!(policy.decide(true, hint(61 * SEC), 0, 0, 600 * SEC), RetryDecision::GiveUp);
    assert_eq!(policy.decide(false, RetryHints::default(), 0, 0, 10 * SEC), RetryDecision::GiveUp);
    let forced = RetryHints { after: None, should_retry: Some(true) };
    assert!(matches!(policy.decide(false, forced, 0, 0, 10 * SEC), RetryDecision::After(_)));
    let refused = RetryHints { after: None, should_retry: Some(false) };
    assert_eq!(policy.decide(true, refused, 0, 0, 10 * SEC), RetryDecision::GiveUp);
    assert_eq!(
        policy.decide(true, RetryHints::default(), policy.max_retries, 0, 600 * SEC),
        RetryDecision::GiveUp
    );
}

#[test]
fn backoff_doubles_to_its_cap_and_jitter_only_shortens() {
    let policy = RetryPolicy { initial: ms(500), max: 8 * SEC, ..RetryPolicy::default() };
    let expected = [500, 1000, 2000, 4000, 8000, 8000, 8000];
    for (attempt, full) in (0u32..).zip(expected) {
        let full = ms(full);
        for random in [0, 1, 12_345, u64::MAX / 3, u64::MAX] {
            let delay = policy.backoff(attempt, random);
            assert!(delay <= full && delay >= full * 3 / 4, "attempt {attempt}: {delay:?}");
        }
        assert_eq!(policy.backoff(attempt, 0), full);
    }
}

#[test]
fn polling_starts_short_and_stays_under_its_cap() {
    let poll = PollBackoff { initial: ms(100), max: ms(150) };
    assert_eq!(poll.interval(0, 0), ms(100));
    assert_eq!(poll.interval(1, 0), ms(150));
    assert_eq!(poll.interval(40, 0), ms(150));
    for attempt in 0..10 {
        for random in [1, 999_999, u64::MAX] {
            let interval = poll.interval(attempt, random);
            assert!(interval >= ms(80) && interval <= ms(150), "{attempt}: {interval:?}");
        }
    }
}

#[test]
fn error_kinds_tell_retry_from_fail() {
    let timeout =
        ChatError::Timeout { provider: "x", waiting_for: "run run_1".into(), elapsed: SEC };
    assert_eq!(timeout.kind(), ErrorKind::Timeout);
    assert!(timeout.is_retryable());
    assert!(timeout.to_string().contains("run run_1"));
    let quota = ChatError::Quota { provider: "x", message: "billing".into() };
    assert_eq!(quota.kind(), ErrorKind::Quota);
    assert!(!quota.is_retryable());
    let full = ChatError::QueueFull { conversation: "c".into(), depth: 3 };
    assert_eq!(full.kind(), ErrorKind::Overloaded);
    assert!(full.to_string().contains("queue full"));
}

/// A backend that answers after a per-message delay, records the order in
/// which it started answering, and fails or stalls on request.
#[derive(Default)]
struct Scripted {
    started: Mutex<Vec<String>>,
    busy: Mutex<Vec<String>>,
    overlaps: Mutex<usize>,
}

#[async_trait]
impl ChatBackend for Scripted {
    async fn submit(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Reply, ChatError> {
        {
            let mut busy = self.busy.lock().unwrap();
            if busy.contains(&conversation.to_string()) {
                *self.overlaps.lock().unwrap() += 1;
            }
            busy.push(conversation.to_string());
        }
        self.started.lock().unwrap().push(message.text.clone());
        let text = message.text.clone();
        let result = async {
            if text.starts_with("panic") {
                panic!("scripted panic");
            }
            if text.starts_with("stall") {
                // Ignores its deadline, like a backend with a bug.
                sleep(3600 * SEC).await;
            }
            sleep(ms(100)).await;
            if text.starts_with("fail") {
                return Err(ChatError::Unavailable {
                    provider: "scripted",
                    message: "boom".into(),
                });
            }
            Ok(Reply { text: format!("re: {text}"), upstream_id: "run_x".into(), tool_calls: 0 })
        }
        .await;
        let mut busy = self.busy.lock().unwrap();
        if let Some(at) = busy.iter().position(|c| c == conversation.as_str()) {
            busy.remove(at);
        }
        result
    }

    async fn cancel_active(&self, _: &ConversationId) -> Result<(), ChatError> {
        Ok(())
    }

    fn capabilities(&self) -> ChatCaps {
        ChatCaps::default()
    }
}

fn queue(config: QueueConfig) -> (Arc<ConversationQueue<Scripted>>, Arc<Scripted>) {
    let backend = Arc::new(Scripted::default());
    (Arc::new(ConversationQueue::new(Arc::clone(&backend), config)), backend)
}

fn spawn_send(
    queue: &Arc<ConversationQueue<Scripted>>,
    conversation: &str,
    text: String,
) -> tokio::task::JoinHandle<Result<super::Served, ChatError>> {
    let queue = Arc::clone(queue);
    let conversation = ConversationId::from(conversation);
    tokio::spawn(async move { queue.send(&conversation, UserMessage::new(text)).await })
}

#[tokio::test(start_paused = true)]
async fn one_conversation_is_served_one_at_a_time_in_arrival_order() {
    let (queue, backend) = queue(QueueConfig { max_depth: 100, ..QueueConfig::default() });
    let handles: Vec<_> = (0..20).map(|i| spawn_send(&queue, "c1", format!("m{i}"))).collect();
    let mut replies = Vec::new();
    for handle in handles {
        replies.push(handle.await.unwrap().unwrap());
    }
    let started = backend.started.lock().unwrap().clone();
    assert_eq!(started, (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    assert_eq!(*backend.overlaps.lock().unwrap(), 0);
    // Each waits for everyone ahead of it: the last waited for 19 replies.
    assert_eq!(replies[19].waited, ms(1900));
    assert_eq!(replies[19].reply.text, "re: m19");
    let stats = queue.stats();
    assert_eq!((stats.accepted, stats.succeeded, stats.depth, stats.conversations), (20, 20, 0, 0));
    assert_eq!(stats.max_wait, ms(1900));
}

#[tokio::test(start_paused = true)]
async fn conversations_do_not_wait_for_each_other() {
    let (queue, _) = queue(QueueConfig::default());
    let a = spawn_send(&queue, "a", "m1".into());
    let b = spawn_send(&queue, "b", "m1".into());
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!((a.waited, b.waited), (Duration::ZERO, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_clearly_and_depth_is_observable() {
    let (queue, _) = queue(QueueConfig { max_depth: 3, ..QueueConfig::default() });
    let held: Vec<_> = (0..3).map(|i| spawn_send(&queue, "c1", format!("m{i}"))).collect();
    tokio::task::yield_now().await;
    assert_eq!(queue.depth(&ConversationId::from("c1")), 3);
    let refused = queue.send(&"c1".into(), UserMessage::new("m3")).await.unwrap_err();
    assert_eq!(refused, ChatError::QueueFull { conversation: "c1".into(), depth: 3 });
    // Another conversation is unaffected.
    assert!(queue.send(&"c2".into(), UserMessage::new("x")).await.is_ok());
    for handle in held {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(queue.depth(&ConversationId::from("c1")), 0);
    assert_eq!(queue.stats().rejected_full, 1);
}

#[tokio::test(start_paused = true)]
async fn failures_and_panics_do_not_stop_the_queue() {
    let (queue, backend) = queue(QueueConfig::default());
    let first = spawn_send(&queue, "c1", "fail-1".into());
    let second = spawn_send(&queue, "c1", "panic-2".into());
    let third = spawn_send(&queue, "c1", "ok-3".into());
    assert_eq!(first.await.unwrap().unwrap_err().kind(), ErrorKind::Transient);
    assert!(second.await.unwrap_err().is_panic());
    assert_eq!(third.await.unwrap().unwrap().reply.text, "re: ok-3");
    assert_eq!(backend.started.lock().unwrap().len(), 3);
    assert_eq!(queue.stats().depth, 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_times_out_while_waiting_leaves_and_the_next_is_served() {
    let config = QueueConfig { timeout: SEC, grace: ms(500), ..QueueConfig::default() };
    let (queue, backend) = queue(config);
    let stalled = spawn_send(&queue, "c1", "stall".into());
    tokio::task::yield_now().await;
    let waiting = spawn_send(&queue, "c1", "late".into());
    // The stalled backend call is abandoned at its deadline plus the grace.
    let stalled = stalled.await.unwrap().unwrap_err();
    assert!(
        matches!(&stalled, ChatError::Timeout { waiting_for, .. } if waiting_for.contains("backend")),
        "{stalled}"
    );
    let waiting = waiting.await.unwrap().unwrap_err();
    assert!(
        matches!(&waiting, ChatError::Timeout { waiting_for, .. } if waiting_for.contains("1 earlier request")),
        "{waiting}"
    );
    // The one that timed out in the queue never reached the backend.
    assert_eq!(backend.started.lock().unwrap().clone(), vec!["stall".to_owned()]);
    let next = queue.send(&"c1".into(), UserMessage::new("next")).await.unwrap();
    assert_eq!(next.waited, Duration::ZERO);
    let stats = queue.stats();
    assert_eq!((stats.timed_out_waiting, stats.failed, stats.succeeded), (1, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn a_turn_handed_over_as_the_waiter_times_out_is_passed_on() {
    // The first request ends exactly when the second one's deadline passes;
    // whichever way that race goes, the third must still be served.
    let config = QueueConfig { timeout: ms(100), grace: ms(500), ..QueueConfig::default() };
    let (queue, _) = queue(config);
    let first = spawn_send(&queue, "c1", "a".into());
    tokio::task::yield_now().await;
    let second = spawn_send(&queue, "c1", "b".into());
    let _ = first.await.unwrap();
    let _ = second.await.unwrap();
    let start = Instant::now();
    let third = queue.send(&"c1".into(), UserMessage::new("c")).await.unwrap();
    assert_eq!(third.reply.text, "re: c");
    assert!(start.elapsed() <= ms(100));
}

#[tokio::test(start_paused = true)]
async fn a_message_deadline_earlier_than_the_queue_timeout_wins() {
    let (queue, _) =
        queue(QueueConfig { timeout: 60 * SEC, grace: Duration::ZERO, ..QueueConfig::default() });
    let message = UserMessage::new("stall").with_deadline(Instant::now() + ms(300));
    let start = Instant::now();
    let error = queue.send(&"c1".into(), message).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(start.elapsed(), ms(300));
}
