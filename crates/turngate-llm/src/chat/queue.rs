//! A per-conversation FIFO in front of any [`ChatBackend`].
//!
//! Requests for one conversation run one at a time, in the order the queue
//! accepted them; different conversations run in parallel. Each
//! conversation's queue is bounded (a full one rejects with
//! [`ChatError::QueueFull`]), each request has a total timeout (waiting plus
//! answering), and a failed or timed-out request never holds up the ones
//! behind it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};

use super::{ChatBackend, ChatCaps, ChatError, ConversationId, Reply, UserMessage};

/// How a [`ConversationQueue`] bounds its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most requests per conversation, the running one included.
    pub max_depth: usize,
    /// Total time for one request, from acceptance to reply.
    pub timeout: Duration,
    /// Extra time a backend gets past the request's deadline to report its
    /// own (more precise) timeout before the queue stops waiting for it.
    pub grace: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { max_depth: 32, timeout: Duration::from_secs(60), grace: Duration::from_secs(2) }
    }
}

/// A reply with the time it spent queued and in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The backend's reply.
    pub reply: Reply,
    /// Time from acceptance to the start of the backend call.
    pub waited: Duration,
    /// Time from acceptance to the reply.
    pub elapsed: Duration,
}

/// Counters for health and metrics; a snapshot, cheap to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Requests queued or running now, over all conversations.
    pub depth: usize,
    /// Conversations with at least one request queued or running.
    pub conversations: usize,
    /// Requests accepted since start.
    pub accepted: u64,
    /// Requests rejected because their conversation's queue was full.
    pub rejected_full: u64,
    /// Requests answered.
    pub succeeded: u64,
    /// Requests that failed (backend errors and timeouts).
    pub failed: u64,
    /// Requests that timed out before reaching the backend.
    pub timed_out_waiting: u64,
    /// Sum of the time requests waited before reaching the backend.
    pub total_wait: Duration,
    /// The longest such wait.
    pub max_wait: Duration,
}

/// Per-conversation FIFO with bounded depth and per-request timeouts, in
/// front of a [`ChatBackend`]. It is itself a `ChatBackend`, so a server
/// can hold it as `Arc<dyn ChatBackend>`.
pub struct ConversationQueue<B: ?Sized> {
    lanes: Arc<Mutex<HashMap<ConversationId, Lane>>>,
    config: QueueConfig,
    counters: Counters,
    backend: Arc<B>,
}

impl<B: ?Sized> std::fmt::Debug for ConversationQueue<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationQueue")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    rejected_full: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    timed_out_waiting: AtomicU64,
    total_wait_nanos: AtomicU64,
    max_wait_nanos: AtomicU64,
}

/// One conversation's requests: whether one is running, and who waits.
#[derive(Debug, Default)]
struct Lane {
    depth: usize,
    running: bool,
    waiting: VecDeque<oneshot::Sender<()>>,
}

impl<B: ?Sized> ConversationQueue<B> {
    /// A queue in front of `backend`.
    pub fn new(backend: Arc<B>, config: QueueConfig) -> Self {
        Self {
            lanes: Arc::new(Mutex::new(HashMap::new())),
            config,
            counters: Counters::default(),
            backend,
        }
    }

    /// The backend behind the queue.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// Requests queued or running for `conversation`.
    pub fn depth(&self, conversation: &ConversationId) -> usize {
        lock(&self.lanes).get(conversation).map_or(0, |lane| lane.depth)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> QueueStats {
        let c = &self.counters;
        let (depth, conversations) = {
            let lanes = lock(&self.lanes);
            (lanes.values().map(|lane| lane.depth).sum(), lanes.len())
        };
        QueueStats {
            depth,
            conversations,
            accepted: c.accepted.load(Ordering::Relaxed),
            rejected_full: c.rejected_full.load(Ordering::Relaxed),
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            timed_out_waiting: c.timed_out_waiting.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(c.total_wait_nanos.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(c.max_wait_nanos.load(Ordering::Relaxed)),
        }
    }
}

impl<B: ChatBackend + ?Sized> ConversationQueue<B> {
    /// Queues `message` behind earlier requests for `conversation`, then
    /// asks the backend, all within the request's timeout.
    pub async fn send(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Served, ChatError> {
        let accepted = Instant::now();
        // The queue's timeout caps the request; a message may only shorten it.
        let cap = accepted + self.config.timeout;
        let deadline = message.deadline.map_or(cap, |own| own.min(cap));
        let (mut ticket, turn) = self.enter(conversation)?;
        if let Some(mut turn) = turn {
            let ahead = ticket.ahead;
            if timeout_at(deadline, &mut turn).await.is_err() {
                // The hand-off happens under the lanes lock, so checking for a
                // baton that arrived just now is race-free there.
                ticket.holds_turn = ticket.took_turn_late(&mut turn);
                if !ticket.holds_turn {
                    self.counters.timed_out_waiting.fetch_add(1, Ordering::Relaxed);
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    return Err(ChatError::Timeout {
                        provider: "queue",
                        waiting_for: format!(
                            "{ahead} earlier request(s) for conversation {conversation} to finish"
                        ),
                        elapsed: accepted.elapsed(),
                    });
                }
            } else {
                ticket.holds_turn = true;
            }
        }
        let waited = accepted.elapsed();
        self.record_wait(waited);
        let call = self.backend.submit(conversation, message.with_deadline(deadline));
        let result = match timeout_at(deadline + self.config.grace, call).await {
            Ok(result) => result,
            Err(_) => Err(ChatError::Timeout {
                provider: "queue",
                waiting_for: format!("the backend's reply for conversation {conversation}"),
                elapsed: accepted.elapsed(),
            }),
        };
        drop(ticket);
        let counter = if result.is_ok() { &self.counters.succeeded } else { &self.counters.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        result.map(|reply| Served { reply, waited, elapsed: accepted.elapsed() })
    }

    /// Takes a place in the conversation's lane, or refuses when it is full.
    /// Returns the place and, unless it is at the head, the turn to wait for.
    fn enter(
        &self,
        conversation: &ConversationId,
    ) -> Result<(Ticket, Option<oneshot::Receiver<()>>), ChatError> {
        let mut lanes = lock(&self.lanes);
        let lane = lanes.entry(conversation.clone()).or_default();
        if lane.depth >= self.config.max_depth {
            let depth = lane.depth;
            if depth == 0 {
                lanes.remove(conversation);
            }
            self.counters.rejected_full.fetch_add(1, Ordering::Relaxed);
            return Err(ChatError::QueueFull { conversation: conversation.to_string(), depth });
        }
        let ahead = lane.depth;
        lane.depth += 1;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let turn = if lane.running {
            let (tx, rx) = oneshot::channel();
            lane.waiting.push_back(tx);
            Some(rx)
        } else {
            lane.running = true;
            None
        };
        let ticket = Ticket {
            lanes: Arc::clone(&self.lanes),
            conversation: conversation.clone(),
            holds_turn: turn.is_none(),
            ahead,
        };
        Ok((ticket, turn))
    }

    fn record_wait(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.counters.total_wait_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.counters.max_wait_nanos.fetch_max(nanos, Ordering::Relaxed);
    }
}

/// A request's place in its lane. Dropping it (on success, failure, timeout
/// or a panic in the backend) frees the place and hands the turn on.
struct Ticket {
    lanes: Arc<Mutex<HashMap<ConversationId, Lane>>>,
    conversation: ConversationId,
    holds_turn: bool,
    ahead: usize,
}

impl Ticket {
    /// After a timed-out wait: whether the turn was handed over anyway, in
    /// the instant between the timeout and now.
    fn took_turn_late(&self, turn: &mut oneshot::Receiver<()>) -> bool {
        let _lanes = lock(&self.lanes);
        let took = turn.try_recv().is_ok();
        // Closing under the lock means no later hand-off can pick this
        // receiver: the sender's `send` fails and the next waiter is tried.
        turn.close();
        took
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut lanes = lock(&self.lanes);
        let Some(lane) = lanes.get_mut(&self.conversation) else { return };
        lane.depth = lane.depth.saturating_sub(1);
        if self.holds_turn {
            lane.running = false;
            while let Some(next) = lane.waiting.pop_front() {
                if next.send(()).is_ok() {
                    lane.running = true;
                    break;
                }
            }
        }
        if lane.depth == 0 {
            lanes.remove(&self.conversation);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The lanes hold plain bookkeeping that every critical section leaves
    // consistent, so a panic elsewhere does not make them unusable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl<B: ChatBackend + ?Sized> ChatBackend for ConversationQueue<B> {
    async fn submit(
        &self,
        conversation: &ConversationId,
        message: UserMessage,
    ) -> Result<Reply, ChatError> {
        self.send(conversation, message).await.map(|served| served.reply)
    }

    async fn cancel_active(&self, conversation: &ConversationId) -> Result<(), ChatError> {
        self.backend.cancel_active(conversation).await
    }

    fn capabilities(&self) -> ChatCaps {
        self.backend.capabilities()
    }

    fn upstream_of(&self, conversation: &ConversationId) -> Option<String> {
        self.backend.upstream_of(conversation)
    }

    fn bind_upstream(&self, conversation: &ConversationId, upstream: String) {
        self.backend.bind_upstream(conversation, upstream);
    }
}
