//! App-client sessions (`GET /session`): several connections per session,
//! sequence-numbered messages replayed after a reconnect, and confirmation
//! requests that wait for a client's answer with a timeout.
//!
//! Each session is one task driving a `turngate_core::Session` for its
//! outbox and connection counting (the core's replay and grace-period rules
//! are the ones tested there); connections talk to it through bounded
//! channels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::debug;
use turngate_core::{AppCommand, Command, ConnId, Input, Session, SessionConfig};

/// Messages queued for one connection before it counts as too slow.
const CONNECTION_QUEUE: usize = 256;
/// Bytes of messages queued for one connection before it counts as too
/// slow. The messages are shared with the outbox, so this bounds what a
/// slow connection can keep alive after the outbox has let go of it.
const CONNECTION_BYTES: usize = 2 * 1024 * 1024;
/// Requests queued for one session's task.
const SESSION_QUEUE: usize = 256;

/// What a session's task is asked to do.
#[derive(Debug)]
pub(crate) enum ToSession {
    /// A connection finished its handshake.
    Connect { conn: ConnId, last_seq: Option<u64>, sender: ConnectionSender },
    /// A connection closed.
    Disconnect { conn: ConnId },
    /// A message for every client, sequenced and kept for replay.
    Publish { text: String },
    /// A client answered a confirmation request.
    Answer { id: u64, approved: bool },
    /// Ask the clients to confirm something.
    Confirm { prompt: String, timeout: Duration, reply: oneshot::Sender<ConfirmOutcome> },
}

/// How a confirmation request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmOutcome {
    /// A client approved.
    Approved,
    /// A client declined.
    Declined,
    /// Nobody answered in time.
    TimedOut,
    /// No client was connected to ask.
    NoClient,
}

/// Every live app session of this worker.
#[derive(Debug)]
pub struct Sessions {
    live: Mutex<HashMap<String, mpsc::Sender<ToSession>>>,
    next_conn: AtomicU64,
    count: Arc<crate::admission::Capped>,
}

impl Sessions {
    /// No sessions yet; at most `max` at once.
    pub(crate) fn new(max: usize) -> Sessions {
        Sessions {
            live: Mutex::default(),
            next_conn: AtomicU64::new(0),
            count: Arc::new(crate::admission::Capped::new(max)),
        }
    }

    /// The session's task handle, started if it is not running; `None`
    /// when a new one would be over the limit of live sessions.
    pub(crate) fn open(
        self: &Arc<Self>,
        id: &str,
        config: &SessionConfig,
    ) -> Option<mpsc::Sender<ToSession>> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = live.get(id).filter(|s| !s.is_closed()) {
            return Some(sender.clone());
        }
        let counted = self.count.enter()?;
        let (sender, receiver) = mpsc::channel(SESSION_QUEUE);
        live.insert(id.to_owned(), sender.clone());
        let mut config = config.clone();
        config.dead_air.enabled = false;
        config.end_when_clients_gone = true;
        let sessions = Arc::clone(self);
        let id = id.to_owned();
        tokio::spawn(async move {
            run(config, receiver).await;
            let mut live = sessions.live.lock().unwrap_or_else(|e| e.into_inner());
            // Only this task's own entry: a session opened again under the
            // same id after this one closed its queue may have replaced it.
            if live.get(&id).is_some_and(mpsc::Sender::is_closed) {
                live.remove(&id);
            }
            drop(live);
            drop(counted);
            debug!(session = %id, "app session ended");
        });
        Some(sender)
    }

    /// The session's task handle, if it is running.
    pub(crate) fn get(&self, id: &str) -> Option<mpsc::Sender<ToSession>> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|s| !s.is_closed())
            .cloned()
    }

    /// A fresh connection id.
    pub(crate) fn next_conn(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Sessions running now.
    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when none runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Pending {
    reply: oneshot::Sender<ConfirmOutcome>,
    deadline: Instant,
}

async fn run(config: SessionConfig, mut inbox: mpsc::Receiver<ToSession>) {
    let mut session = Session::new(config, Instant::now());
    // App sessions have no model connection of their own to wait for.
    let _ = session.handle(Instant::now(), Input::BackendReady);
    let mut connections: HashMap<ConnId, ConnectionSender> = HashMap::new();
    let mut confirms: HashMap<u64, Pending> = HashMap::new();
    let mut next_confirm = 0u64;
    loop {
        let confirm_deadline = confirms.values().map(|p| p.deadline).min();
        let wake = [session.poll_timeout(), confirm_deadline]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        let input = tokio::select! {
            message = inbox.recv() => match message {
                None => break,
                Some(ToSession::Connect { conn, last_seq, sender }) => {
                    connections.insert(conn, sender);
                    Some(Input::ClientConnected { conn, last_seq })
                }
                Some(ToSession::Disconnect { conn }) => {
                    connections.remove(&conn);
                    Some(Input::ClientDisconnected { conn })
                }
                Some(ToSession::Publish { text }) => Some(Input::SendToClients { text }),
                Some(ToSession::Answer { id, approved }) => {
                    if let Some(pending) = confirms.remove(&id) {
                        let outcome = if approved { ConfirmOutcome::Approved } else { ConfirmOutcome::Declined };
                        let _ = pending.reply.send(outcome);
                        Some(Input::SendToClients { text: confirm_closed(id, outcome) })
                    } else {
                        None
                    }
                }
                Some(ToSession::Confirm { prompt, timeout, reply }) => {
                    if connections.is_empty() {
                        let _ = reply.send(ConfirmOutcome::NoClient);
                        None
                    } else {
                        next_confirm += 1;
                        confirms.insert(next_confirm, Pending { reply, deadline: Instant::now() + timeout });
                        let text = serde_json::json!({
                            "type": "confirm", "id": next_confirm, "prompt": prompt,
                            "timeout_ms": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                        });
                        Some(Input::SendToClients { text: text.to_string() })
                    }
                }
            },
            () = sleep_until(wake.into()) => Some(Input::Tick),
        };
        let now = Instant::now();
        let expired: Vec<u64> =
            confirms.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        let mut inputs: Vec<Input> = input.into_iter().collect();
        for id in expired {
            if let Some(pending) = confirms.remove(&id) {
                let _ = pending.reply.send(ConfirmOutcome::TimedOut);
                inputs.push(Input::SendToClients {
                    text: confirm_closed(id, ConfirmOutcome::TimedOut),
                });
            }
        }
        for input in inputs {
            for command in session.handle(now, input) {
                match command {
                    Command::App(AppCommand::Deliver { conn, seq, text }) => {
                        deliver(&mut connections, conn, Outgoing::Sequenced { seq, text });
                    }
                    Command::App(AppCommand::ReplayGap { conn, oldest_held }) => {
                        deliver(&mut connections, conn, Outgoing::Gap { oldest_held });
                    }
                    Command::App(AppCommand::SessionEnded { .. }) => {
                        for (_, pending) in confirms.drain() {
                            let _ = pending.reply.send(ConfirmOutcome::NoClient);
                        }
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Tells clients that a confirmation is settled, so every tab closes it.
fn confirm_closed(id: u64, outcome: ConfirmOutcome) -> String {
    serde_json::json!({"type": "confirm_closed", "id": id, "outcome": outcome}).to_string()
}

/// What a connection sends its client: a message of the session's outbox
/// (shared, not copied) or the notice of a gap in the replay.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// `{"seq":n,"message":…}`.
    Sequenced { seq: u64, text: Arc<str> },
    /// `{"type":"gap","oldest_held":n}`.
    Gap { oldest_held: u64 },
}

impl Outgoing {
    /// The frame's text.
    pub(crate) fn render(&self) -> String {
        match self {
            Outgoing::Sequenced { seq, text } => format!("{{\"seq\":{seq},\"message\":{text}}}"),
            Outgoing::Gap { oldest_held } => {
                format!("{{\"type\":\"gap\",\"oldest_held\":{oldest_held}}}")
            }
        }
    }

    fn weight(&self) -> usize {
        match self {
            Outgoing::Sequenced { text, .. } => text.len() + 32,
            Outgoing::Gap { .. } => 48,
        }
    }
}

/// The session's end of one connection's queue, bounded in messages and
/// in bytes.
#[derive(Debug)]
pub(crate) struct ConnectionSender {
    sender: mpsc::Sender<Outgoing>,
    bytes: Arc<AtomicUsize>,
}

/// The connection's end of its queue.
#[derive(Debug)]
pub(crate) struct ConnectionReceiver {
    receiver: mpsc::Receiver<Outgoing>,
    bytes: Arc<AtomicUsize>,
}

impl ConnectionSender {
    /// Queues `message`; false when the connection is too far behind (or gone).
    fn offer(&self, message: Outgoing) -> bool {
        let weight = message.weight();
        if self.bytes.load(Ordering::Acquire) + weight > CONNECTION_BYTES {
            return false;
        }
        self.bytes.fetch_add(weight, Ordering::AcqRel);
        if self.sender.try_send(message).is_err() {
            self.bytes.fetch_sub(weight, Ordering::AcqRel);
            return false;
        }
        true
    }
}

impl ConnectionReceiver {
    /// The next message; `None` once the session dropped this connection.
    pub(crate) async fn recv(&mut self) -> Option<Outgoing> {
        let message = self.receiver.recv().await?;
        self.bytes.fetch_sub(message.weight(), Ordering::AcqRel);
        Some(message)
    }
}

/// Queues a message for one connection; a connection too slow to drain its
/// queue is dropped (it reconnects and replays what it missed).
fn deliver(connections: &mut HashMap<ConnId, ConnectionSender>, conn: ConnId, message: Outgoing) {
    let Some(sender) = connections.get(&conn) else { return };
    if !sender.offer(message) {
        debug!(%conn, "client too slow; dropping its connection");
        connections.remove(&conn);
    }
}

/// One connection's outgoing queue.
pub(crate) fn connection_queue() -> (ConnectionSender, ConnectionReceiver) {
    let (sender, receiver) = mpsc::channel(CONNECTION_QUEUE);
    let bytes = Arc::new(AtomicUsize::new(0));
    (ConnectionSender { sender, bytes: Arc::clone(&bytes) }, ConnectionReceiver { receiver, bytes })
}
