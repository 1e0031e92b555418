//! The inbox task: decides which sessions to drain, runs the drains, and
//! hands their signals to the session channels.
//!
//! All per-session state lives in this one task, so it needs no locks; the
//! drains themselves run concurrently (up to a bound), but never two for the
//! same session.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::wake::Woken;
use super::{Progress, Shared, SignalSource};
use crate::config::InboxConfig;
use crate::error::Result;
use crate::ids::{SessionId, unix_micros};
use crate::signal::{Delivered, SignalId, StoredSignal};

/// How long the inbox remembers what a closed receiver had read, so that a
/// quick re-registration of the session resumes after it even if the final
/// acknowledgement failed.
const TOMBSTONE_TTL: Duration = Duration::from_secs(600);
/// The most such memories kept.
const MAX_TOMBSTONES: usize = 4096;

pub(super) enum Control {
    Register {
        session: SessionId,
        tx: mpsc::Sender<Delivered>,
        progress: Arc<Progress>,
        /// Answered `false` when a live receiver already holds the session.
        done: oneshot::Sender<bool>,
    },
}

struct Slot {
    generation: u64,
    tx: mpsc::Sender<Delivered>,
    progress: Arc<Progress>,
    /// The highest id placed into the channel.
    fetched: Option<SignalId>,
    /// The highest id the store has confirmed deleted.
    acked: Option<SignalId>,
    busy: bool,
    failures: u32,
    /// When the last drain of this session started.
    last_drain: Instant,
}

struct Tombstone {
    consumed: Option<SignalId>,
    acked: Option<SignalId>,
    until: Instant,
}

struct DrainDone {
    session: SessionId,
    /// `None` for the final acknowledgement of a closed receiver.
    generation: Option<u64>,
    ack: Option<SignalId>,
    max: usize,
    result: Result<Vec<StoredSignal>>,
}

pub(super) struct Dispatcher {
    source: Arc<dyn SignalSource>,
    config: InboxConfig,
    shared: Arc<Shared>,
    control: mpsc::Receiver<Control>,
    slots: HashMap<SessionId, Slot>,
    tombstones: HashMap<SessionId, Tombstone>,
    dirty: HashSet<SessionId>,
    retrying: HashSet<SessionId>,
    retry_at: Option<Instant>,
    inflight: FuturesUnordered<BoxFuture<'static, DrainDone>>,
    next_generation: u64,
}

impl Dispatcher {
    pub(super) fn new(
        source: Arc<dyn SignalSource>,
        config: InboxConfig,
        shared: Arc<Shared>,
        control: mpsc::Receiver<Control>,
    ) -> Self {
        Self {
            source,
            config,
            shared,
            control,
            slots: HashMap::new(),
            tombstones: HashMap::new(),
            dirty: HashSet::new(),
            retrying: HashSet::new(),
            retry_at: None,
            inflight: FuturesUnordered::new(),
            next_generation: 0,
        }
    }

    pub(super) async fn run(mut self) {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // A far-future instant stands in for "no retry pending"; the
            // branch is disabled then anyway.
            let retry_at =
                self.retry_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.finish(done);
                }
                control = self.control.recv() => match control {
                    Some(control) => self.apply(control),
                    None => break,
                },
                () = self.shared.wakes.notified() => self.apply_wakes(),
                () = tokio::time::sleep_until(retry_at), if self.retry_at.is_some() => {
                    self.retry_at = None;
                    self.dirty.extend(self.retrying.drain());
                }
                _ = tick.tick() => self.on_tick(),
            }
            self.start_drains();
        }
    }

    fn apply(&mut self, control: Control) {
        let Control::Register { session, tx, progress, done } = control;
        // A session has one receiver: a second registration while the first
        // is alive is refused, so a newcomer can never take a live
        // session's signals away from it.
        if self.slots.get(&session).is_some_and(|old| !old.tx.is_closed()) {
            let _ = done.send(false);
            return;
        }
        // A new receiver resumes after whatever its predecessor (dropped,
        // not yet forgotten) read, so signals the predecessor fetched but
        // never returned are fetched again, and none it returned is handed
        // out twice.
        let (resume, acked) = if let Some(old) = self.slots.remove(&session) {
            (old.progress.revoke(), old.acked)
        } else if let Some(tomb) = self.tombstones.remove(&session) {
            (tomb.consumed, tomb.acked)
        } else {
            (None, None)
        };
        progress.start_after(resume);
        self.next_generation += 1;
        self.slots.insert(
            session.clone(),
            Slot {
                generation: self.next_generation,
                tx,
                progress,
                fetched: resume,
                acked,
                busy: false,
                failures: 0,
                last_drain: Instant::now(),
            },
        );
        self.shared.lock_health().sessions = self.slots.len();
        self.dirty.insert(session);
        // The caller may have given up waiting; the registration stands
        // regardless, and its receiver is dropped with the caller.
        let _ = done.send(true);
    }

    fn apply_wakes(&mut self) {
        match self.shared.wakes.take() {
            Woken::All => self.dirty.extend(self.slots.keys().cloned()),
            Woken::Some(sessions) => {
                let known = sessions.into_iter().filter(|s| self.slots.contains_key(s));
                self.dirty.extend(known);
            }
        }
    }

    fn on_tick(&mut self) {
        self.dirty.extend(self.slots.keys().cloned());
        let now = Instant::now();
        self.tombstones.retain(|_, tomb| tomb.until > now);
    }

    fn finish(&mut self, done: DrainDone) {
        let DrainDone { session, generation, ack, max, result } = done;
        let Some(generation) = generation else {
            // The final acknowledgement of a closed receiver: on success the
            // signals it read are gone from the store, so a later
            // registration cannot see them again and the memory of them can
            // go too.
            match result {
                Ok(_) => {
                    if self.tombstones.get(&session).is_some_and(|tomb| tomb.consumed <= ack) {
                        self.tombstones.remove(&session);
                    }
                }
                Err(err) => self.record_failure(&session, &err, true),
            }
            return;
        };
        let Some(slot) = self.slots.get_mut(&session) else {
            return;
        };
        if slot.generation != generation {
            // The session was registered again while this drain ran; its
            // result belongs to the old receiver and is dropped here (nothing
            // was acknowledged beyond what the old receiver read, so the new
            // one fetches the same signals).
            return;
        }
        slot.busy = false;
        match result {
            Ok(signals) => {
                slot.failures = 0;
                slot.acked = slot.acked.max(ack);
                let received_at_us = unix_micros();
                let fetched = signals.len();
                let mut closed = false;
                for stored in signals {
                    if slot.fetched.is_some_and(|f| stored.id <= f) {
                        continue;
                    }
                    let delivered = Delivered {
                        session: session.clone(),
                        id: stored.id,
                        signal: stored.signal,
                        received_at_us,
                    };
                    match slot.tx.try_send(delivered) {
                        Ok(()) => slot.fetched = Some(stored.id),
                        // Only this task sends, and it asked for no more than
                        // the free capacity, so this cannot happen; if it did,
                        // the signal stays in the store and is fetched again.
                        Err(TrySendError::Full(_)) => break,
                        Err(TrySendError::Closed(_)) => {
                            closed = true;
                            break;
                        }
                    }
                }
                if closed || (max > 0 && fetched >= max) {
                    // A full batch: more may be waiting. A closed receiver is
                    // cleaned up by the next pass.
                    self.dirty.insert(session);
                }
            }
            Err(err) => {
                slot.failures = slot.failures.saturating_add(1);
                let exponent = slot.failures.saturating_sub(1).min(10);
                let delay =
                    self.config.retry_backoff.saturating_mul(1 << exponent).min(self.config.tick);
                let first = slot.failures == 1;
                self.record_failure(&session, &err, first);
                let at = Instant::now() + delay;
                self.retry_at = Some(self.retry_at.map_or(at, |r| r.min(at)));
                self.retrying.insert(session);
            }
        }
    }

    /// Counts a failed drain; the first of a streak is logged as a warning,
    /// the rest (retries during an outage) only at debug level.
    fn record_failure(&self, session: &SessionId, err: &crate::Error, first: bool) {
        {
            let mut health = self.shared.lock_health();
            health.drain_failures += 1;
            health.last_error = Some(err.to_string());
        }
        if first {
            tracing::warn!(%session, error = %err, "draining signals failed; retrying");
        } else {
            tracing::debug!(%session, error = %err, "draining signals failed; retrying");
        }
    }

    fn start_drains(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let sessions: Vec<SessionId> = self.dirty.iter().cloned().collect();
        for session in sessions {
            if self.inflight.len() >= self.config.max_concurrent_drains {
                // The rest stay dirty and start as drains finish.
                break;
            }
            let Some(slot) = self.slots.get_mut(&session) else {
                self.dirty.remove(&session);
                continue;
            };
            if slot.busy {
                // Started again when the running drain finishes.
                continue;
            }
            self.dirty.remove(&session);
            if slot.tx.is_closed() {
                self.close(&session);
                continue;
            }
            let consumed = slot.progress.consumed();
            let ack = consumed.filter(|c| Some(*c) > slot.acked);
            // Announce the backlog before measuring the room, so a read
            // between the two either sees the flag or leaves room we see.
            slot.progress.backlogged.store(true, Ordering::Release);
            let room = slot.tx.capacity().min(self.config.batch);
            let now = Instant::now();
            if room > 0 {
                slot.progress.backlogged.store(false, Ordering::Release);
            } else if ack.is_none() && now < slot.last_drain + self.config.tick {
                // Nothing to fetch into and nothing to acknowledge. Once per
                // tick an empty drain still runs, because it refreshes the
                // TTL of the waiting signals: a slow reader must not lose
                // them.
                continue;
            }
            slot.busy = true;
            slot.last_drain = now;
            let generation = Some(slot.generation);
            let after = slot.fetched;
            self.spawn_drain(session, generation, ack, after, room);
        }
    }

    fn close(&mut self, session: &SessionId) {
        let Some(slot) = self.slots.remove(session) else {
            return;
        };
        self.shared.lock_health().sessions = self.slots.len();
        let consumed = slot.progress.consumed();
        if self.tombstones.len() >= MAX_TOMBSTONES {
            let now = Instant::now();
            self.tombstones.retain(|_, tomb| tomb.until > now);
            if self.tombstones.len() >= MAX_TOMBSTONES {
                self.tombstones.clear();
            }
        }
        self.tombstones.insert(
            session.clone(),
            Tombstone { consumed, acked: slot.acked, until: Instant::now() + TOMBSTONE_TTL },
        );
        if consumed > slot.acked {
            self.spawn_drain(session.clone(), None, consumed, None, 0);
        }
    }

    fn spawn_drain(
        &mut self,
        session: SessionId,
        generation: Option<u64>,
        ack: Option<SignalId>,
        after: Option<SignalId>,
        max: usize,
    ) {
        let source = self.source.clone();
        self.inflight.push(Box::pin(async move {
            let result = source.drain(&session, ack, after, max).await;
            DrainDone { session, generation, ack, max, result }
        }));
    }
}
