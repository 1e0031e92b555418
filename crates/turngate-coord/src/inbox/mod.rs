//! The owner side of signals: one [`Inbox`] per worker, one
//! [`SessionSignals`] receiver per session the worker owns.
//!
//! The inbox runs one task. It learns that a session may have new signals
//! from wake-ups (a Redis pub/sub message, or a direct call in memory), from
//! its periodic tick, and from a reconnection (which wakes every session,
//! because publishes during the outage were missed). For each such session it
//! asks the store for signals after the last one it fetched, at most as many
//! as the session's channel has room for, and acknowledges (deletes) those
//! the session task has already read. Hence:
//!
//! - nothing is lost while a channel is full: unfetched signals wait in the
//!   store, and reading from the channel wakes the inbox again;
//! - a signal is handed to the session task once: fetches are idempotent
//!   (a repeated fetch after a lost reply is filtered by id), and a signal is
//!   deleted only after the task read it;
//! - drains of one session never overlap, so delivery is in id order.

mod dispatch;
mod wake;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::InboxConfig;
use crate::coordinator::Lease;
use crate::error::{Error, Result};
use crate::ids::{SessionId, WorkerId};
use crate::signal::{Delivered, SignalId, StoredSignal};

use self::dispatch::{Control, Dispatcher};
use self::wake::WakeSet;

/// How long [`Inbox::register`] waits for room in the inbox's control queue.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(1);

/// The store side of an inbox: what a [`Coordinator`](crate::Coordinator)
/// implementation provides so that [`Inbox::spawn`] can deliver its signals.
#[async_trait]
pub trait SignalSource: fmt::Debug + Send + Sync {
    /// Deletes every signal of `session` with an id up to and including
    /// `ack`, then returns up to `max` signals with ids greater than
    /// `after` (all of them if `after` is `None`), oldest first. `max` may be
    /// zero (acknowledge only). If signals remain, their TTL is refreshed:
    /// a live owner that is slow to read must not lose its backlog.
    ///
    /// Must be idempotent: the inbox repeats a drain whose reply was lost.
    async fn drain(
        &self,
        session: &SessionId,
        ack: Option<SignalId>,
        after: Option<SignalId>,
        max: usize,
    ) -> Result<Vec<StoredSignal>>;
}

/// A worker's receiving end for signals. Create it with
/// [`Coordinator::subscribe`](crate::Coordinator::subscribe), keep it for
/// the worker's lifetime, and [`register`](Self::register) each session the
/// worker takes a lease on.
///
/// Dropping the inbox stops it: every [`SessionSignals`] then ends.
pub struct Inbox {
    worker: WorkerId,
    config: InboxConfig,
    control: mpsc::Sender<Control>,
    shared: Arc<Shared>,
    tasks: Vec<AbortOnDrop>,
}

impl Inbox {
    /// Starts an inbox for `worker` over `source`; returns it and the waker
    /// through which the implementation reports wake-ups and connection
    /// state. For [`Coordinator`](crate::Coordinator) implementations.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if `config` is invalid or there is no Tokio
    /// runtime.
    pub fn spawn(
        worker: WorkerId,
        source: Arc<dyn SignalSource>,
        config: InboxConfig,
    ) -> Result<(Self, InboxWaker)> {
        config.validate()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::invalid("runtime", "an inbox must start inside a Tokio runtime"))?;
        let shared = Arc::new(Shared {
            wakes: WakeSet::new(config.max_pending_wakes),
            closed: AtomicBool::new(false),
            health: Mutex::new(InboxHealth {
                connected: true,
                reconnects: 0,
                sessions: 0,
                drain_failures: 0,
                last_error: None,
            }),
        });
        let (control, control_rx) = mpsc::channel(64);
        let dispatcher = Dispatcher::new(source, config.clone(), shared.clone(), control_rx);
        let task = AbortOnDrop(runtime.spawn(dispatcher.run()));
        let waker = InboxWaker { shared: shared.clone() };
        let inbox = Self { worker, config, control, shared, tasks: vec![task] };
        Ok((inbox, waker))
    }

    /// Ties `task` to this inbox: it is aborted when the inbox is dropped.
    /// For implementations (for example a pub/sub listener).
    pub fn attach(&mut self, task: JoinHandle<()>) {
        self.tasks.push(AbortOnDrop(task));
    }

    /// The worker this inbox receives for.
    #[must_use]
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// The inbox's settings.
    #[must_use]
    pub fn config(&self) -> &InboxConfig {
        &self.config
    }

    /// Starts receiving the signals of the session `lease` is for. Signals
    /// stored before this call (for example while no worker owned the
    /// session) are delivered first.
    ///
    /// A session has one receiver at a time: registering it while an earlier
    /// receiver is still alive is refused, so a second socket naming a live
    /// call can never take that call's signals. Once the earlier receiver is
    /// dropped the session can be registered again; signals it had fetched
    /// but not returned are delivered to the new one.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if the lease belongs to another worker,
    /// [`Error::Conflict`] (kind `Conflict`) if a live receiver holds the
    /// session, [`Error::Closed`] if the inbox has stopped,
    /// [`Error::Timeout`] if it is too busy to accept the registration
    /// within a second.
    pub async fn register(&self, lease: &Lease) -> Result<SessionSignals> {
        if lease.worker() != &self.worker {
            return Err(Error::invalid(
                "lease",
                format!(
                    "lease of worker {} registered on the inbox of worker {}",
                    lease.worker(),
                    self.worker
                ),
            ));
        }
        let session = lease.session().clone();
        let (tx, rx) = mpsc::channel(self.config.capacity);
        let progress = Arc::new(Progress::default());
        let (done, registered) = oneshot::channel();
        let control =
            Control::Register { session: session.clone(), tx, progress: progress.clone(), done };
        // Waiting for the inbox task to apply the registration means that,
        // once this returns, a receiver it replaced has already been ended.
        let apply = async {
            self.control.send(control).await.ok()?;
            registered.await.ok()
        };
        match tokio::time::timeout(REGISTER_TIMEOUT, apply).await {
            Ok(Some(true)) => {}
            Ok(Some(false)) => {
                return Err(Error::Registered { session: session.to_string() });
            }
            Ok(None) => return Err(Error::Closed { what: "inbox" }),
            Err(_) => {
                return Err(Error::Timeout { op: "register", after: REGISTER_TIMEOUT });
            }
        }
        Ok(SessionSignals { session, rx, progress, shared: self.shared.clone(), finished: false })
    }

    /// A snapshot of the inbox's state, for health checks.
    #[must_use]
    pub fn health(&self) -> InboxHealth {
        self.shared.health()
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("worker", &self.worker)
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

/// The signals of one session, in order, each once. Owned by the session's
/// task; [`recv`](Self::recv) is cancel-safe, so it can sit in a
/// `tokio::select!` loop.
pub struct SessionSignals {
    session: SessionId,
    rx: mpsc::Receiver<Delivered>,
    progress: Arc<Progress>,
    shared: Arc<Shared>,
    finished: bool,
}

impl SessionSignals {
    /// The session.
    #[must_use]
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The next signal; `None` once the inbox has stopped or this receiver
    /// was replaced by a newer registration of the same session.
    pub async fn recv(&mut self) -> Option<Delivered> {
        if self.finished {
            return None;
        }
        let Some(delivered) = self.rx.recv().await else {
            self.finished = true;
            return None;
        };
        // Recording the read and checking for replacement happen under one
        // lock, so a replacement either sees this read (and does not hand
        // the signal out again) or makes this receiver give it up.
        if !self.progress.consume(delivered.id) {
            self.finished = true;
            self.rx.close();
            return None;
        }
        if self.progress.backlogged.swap(false, Ordering::AcqRel) {
            self.shared.wakes.wake(&self.session);
        }
        Some(delivered)
    }
}

impl Drop for SessionSignals {
    fn drop(&mut self) {
        // Closing first makes the inbox see the receiver as gone when the
        // wake-up reaches it, so it acknowledges what was read and forgets
        // the session.
        self.rx.close();
        self.shared.wakes.wake(&self.session);
    }
}

impl fmt::Debug for SessionSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSignals")
            .field("session", &self.session)
            .field("buffered", &self.rx.len())
            .finish_non_exhaustive()
    }
}

/// The handle through which a [`Coordinator`](crate::Coordinator)
/// implementation tells its inbox about wake-ups and its connection.
#[derive(Clone)]
pub struct InboxWaker {
    shared: Arc<Shared>,
}

impl InboxWaker {
    /// `session` may have new signals.
    pub fn wake(&self, session: &SessionId) {
        self.shared.wakes.wake(session);
    }

    /// Every session may have new signals (for example after a reconnect,
    /// when wake-ups may have been missed).
    pub fn wake_all(&self) {
        self.shared.wakes.wake_all();
    }

    /// Records whether the wake-up channel is connected. Becoming connected
    /// again counts a reconnect and wakes every session.
    pub fn set_connected(&self, connected: bool) {
        let reconnected = {
            let mut health = self.shared.lock_health();
            let was = health.connected;
            health.connected = connected;
            if connected && !was {
                health.reconnects += 1;
            }
            connected && !was
        };
        if reconnected {
            self.wake_all();
        }
    }

    /// Records an error of the wake-up channel.
    pub fn record_error(&self, error: &Error) {
        self.shared.lock_health().last_error = Some(error.to_string());
    }

    /// Whether the inbox has been dropped (the implementation can then stop
    /// sending wake-ups to it).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for InboxWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxWaker").finish_non_exhaustive()
    }
}

/// A snapshot of an inbox's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxHealth {
    /// Whether the wake-up channel (Redis pub/sub) is connected. While it is
    /// not, signals still arrive on the tick once the store is reachable.
    pub connected: bool,
    /// How many times the wake-up channel reconnected.
    pub reconnects: u64,
    /// Sessions registered.
    pub sessions: usize,
    /// Drains that failed (each is retried).
    pub drain_failures: u64,
    /// The last error seen, if any.
    pub last_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    wakes: WakeSet,
    closed: AtomicBool,
    health: Mutex<InboxHealth>,
}

impl Shared {
    fn lock_health(&self) -> std::sync::MutexGuard<'_, InboxHealth> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn health(&self) -> InboxHealth {
        self.lock_health().clone()
    }
}

/// What a session's receiver has read, shared with the inbox task.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    state: Mutex<ProgressState>,
    /// Set by the inbox when it left signals in the store for lack of room;
    /// the receiver wakes the inbox on its next read.
    backlogged: AtomicBool,
}

#[derive(Debug, Default)]
struct ProgressState {
    consumed: Option<SignalId>,
    revoked: bool,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that the receiver read `id`; false if the receiver has been
    /// replaced and must not return it.
    fn consume(&self, id: SignalId) -> bool {
        let mut state = self.lock();
        if state.revoked {
            return false;
        }
        state.consumed = state.consumed.max(Some(id));
        true
    }

    fn consumed(&self) -> Option<SignalId> {
        self.lock().consumed
    }

    /// Stops the receiver and returns the last id it read.
    fn revoke(&self) -> Option<SignalId> {
        let mut state = self.lock();
        state.revoked = true;
        state.consumed
    }

    fn start_after(&self, id: Option<SignalId>) {
        self.lock().consumed = id;
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests;
