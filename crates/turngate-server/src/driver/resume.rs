//! Resuming a call on a new socket (AudioCodes `session.resume`).
//!
//! VoiceAI Connect may lose its WebSocket mid-call and reconnect with
//! `session.resume` for the same conversation. The call's task holds the
//! session, the upstream connection and the transport's state, so the new
//! socket is handed to that task rather than starting a second call:
//!
//! ```text
//!   new socket ─▶ session.resume(c) ─▶ Resumable::offer(c) ─┬─▶ the call's task swaps sockets,
//!                                                           │   answers session.accepted
//!                                                           └─▶ no call here: session.error
//! ```
//!
//! A call registers itself while its transport can be resumed and stays
//! registered until it ends, so a resume that races the old socket's close
//! still reaches it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use std::time::Instant;

use axum::extract::ws::WebSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use turngate_coord::SessionId;
use turngate_telephony::{ResumeAnswer, Transport};

use crate::state::AppState;

/// A socket that asked to resume a call, with the transport that read its
/// `session.resume` (kept to answer `session.error` if the call cannot
/// take it after all).
pub(crate) struct Handoff {
    pub(crate) socket: WebSocket,
    pub(crate) transport: Box<dyn Transport>,
}

/// A registered call: its registration's number and where its handoffs go.
type Registration = (u64, mpsc::Sender<Box<Handoff>>);

/// The calls on this worker that a new socket may resume, by session key.
#[derive(Debug, Default)]
pub(crate) struct Resumable {
    calls: Mutex<HashMap<String, Registration>>,
    registrations: AtomicU64,
}

impl Resumable {
    /// Registers the call `key`; it stays registered until the slot drops.
    /// `None` if a live call holds the key already: a registration never
    /// replaces another.
    pub(crate) fn register(self: &Arc<Self>, key: &str) -> Option<ResumeSlot> {
        // One handoff at a time: a second resume while the first is being
        // taken over is refused rather than queued behind it.
        let (sender, receiver) = mpsc::channel(1);
        let id = self.registrations.fetch_add(1, Ordering::Relaxed);
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if calls.get(key).is_some_and(|(_, sender)| !sender.is_closed()) {
            return None;
        }
        calls.insert(key.to_owned(), (id, sender));
        Some(ResumeSlot { key: key.to_owned(), id, registry: Arc::clone(self), receiver })
    }

    /// Hands `handoff` to the call `key`; gives it back when no call here
    /// can take it.
    pub(crate) fn offer(&self, key: &str, handoff: Box<Handoff>) -> Result<(), Box<Handoff>> {
        let sender = self
            .calls
            .lock()
            .ok()
            .and_then(|calls| calls.get(key).map(|(_, sender)| sender.clone()));
        match sender {
            Some(sender) => sender.try_send(handoff).map_err(|error| match error {
                mpsc::error::TrySendError::Full(handoff)
                | mpsc::error::TrySendError::Closed(handoff) => handoff,
            }),
            None => Err(handoff),
        }
    }
}

/// A call's registration; unregisters on drop.
pub(crate) struct ResumeSlot {
    key: String,
    id: u64,
    registry: Arc<Resumable>,
    receiver: mpsc::Receiver<Box<Handoff>>,
}

impl ResumeSlot {
    /// The next socket handed to this call.
    pub(crate) async fn next(&mut self) -> Option<Box<Handoff>> {
        self.receiver.recv().await
    }

    /// Unregisters and returns the handoffs that arrived too late to be
    /// taken, so each can be answered.
    pub(crate) fn close(mut self) -> Vec<Handoff> {
        self.unregister();
        self.receiver.close();
        let mut late = Vec::new();
        while let Ok(handoff) = self.receiver.try_recv() {
            late.push(*handoff);
        }
        late
    }

    fn unregister(&self) {
        if let Ok(mut calls) = self.registry.calls.lock() {
            // Only this slot's own entry: a later call with the same key
            // may have replaced it.
            if calls.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                calls.remove(&self.key);
            }
        }
    }
}

impl Drop for ResumeSlot {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// Waits for the next handoff when the call has a slot, forever otherwise.
pub(crate) async fn next_handoff(slot: &mut Option<ResumeSlot>) -> Option<Box<Handoff>> {
    match slot {
        Some(slot) => slot.next().await,
        None => std::future::pending().await,
    }
}

/// A resume this worker's calls cannot take: relayed to the worker that
/// holds the call when another one does and can be reached (unless this
/// socket is itself a relay), refused with `session.error` otherwise.
///
/// What the peer is told names no worker and no address: those are for
/// the log. A peer only learns that the conversation cannot be resumed.
pub(crate) async fn elsewhere(
    state: &AppState,
    handoff: Handoff,
    key: &str,
    conversation_id: &str,
    relayed: bool,
) {
    let limit = state.config.limits.write_timeout;
    let owner = match SessionId::new(key) {
        Ok(session) => state.coordinator.owner(&session).await,
        Err(error) => Err(error),
    };
    let cannot = format!("conversation {conversation_id} cannot be resumed here");
    let reason = match owner {
        Ok(Some(owner)) if owner != state.worker && !relayed => {
            match super::relay::address_of(state, &owner).await {
                Some(base) => match super::relay::connect(state, &base, conversation_id).await {
                    Ok(upstream) => {
                        info!(%owner, "relaying the resume to the worker that holds the call");
                        super::relay::pipe(state, handoff.socket, upstream).await;
                        return;
                    }
                    Err(error) => {
                        warn!(%owner, %error, "the worker holding the call could not be reached");
                        cannot
                    }
                },
                None => {
                    warn!(%owner, "the worker holding the call advertises no address");
                    cannot
                }
            }
        }
        Ok(Some(owner)) if owner != state.worker => {
            debug!(%owner, "a relayed resume for a call this worker does not hold");
            cannot
        }
        Ok(_) => format!("conversation {conversation_id} is not known"),
        Err(error) => {
            warn!(%error, "the call's owner could not be looked up");
            cannot
        }
    };
    state.metrics.refused.inc("resume_refused");
    reject_resume(Box::new(handoff), reason, limit).await;
}

/// Answers a resume with `session.error`, which ends the call at the peer.
pub(crate) async fn reject_resume(mut handoff: Box<Handoff>, reason: String, limit: Duration) {
    info!(%reason, "resume refused");
    let mut out = Vec::new();
    handoff.transport.answer_resume(Instant::now(), ResumeAnswer::Reject { reason }, &mut out);
    if let Err(error) = super::send_frames(&mut handoff.socket, &mut out, limit).await {
        debug!(%error, "could not refuse the resume");
    }
    super::socket::close_plain(&mut handoff.socket, limit).await;
}
