//! The provider's only IO: the shared WebSocket link task
//! ([`crate::realtime::link`]) driving this provider's [`Protocol`], behind
//! the [`OpenAiLiveConnection`] handle.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use turngate_core::{BackendCommand, Input};

use super::protocol::Protocol;
use super::{OpenAiLiveConfig, PROVIDER};
use crate::realtime::link::{self, LinkProtocol, LinkSettings, Out, TlsCache};
use crate::realtime::stats::SharedStats;
use crate::realtime::{
    BackendError, ConnectionStats, RealtimeConnection, RealtimeSessionConfig, WsConnection,
};

/// An open call with GPT-Live: one session at a time, a new one after each
/// lost link. See [`RealtimeConnection`] for the contract.
#[derive(Debug)]
pub struct OpenAiLiveConnection(WsConnection);

/// Connects and starts the first session; the upgrade happens here, so a
/// refused key or an unreachable host fails the call to `connect`.
pub(crate) async fn connect(
    config: OpenAiLiveConfig,
    session: &RealtimeSessionConfig,
    tls: &TlsCache,
) -> Result<OpenAiLiveConnection, BackendError> {
    let stats = Arc::new(SharedStats::default());
    let protocol = Protocol::new(&config, session, tag(), Arc::clone(&stats));
    let settings = LinkSettings {
        provider: PROVIDER,
        url: config.url.clone(),
        api_key: config.api_key.clone(),
        reconnect: config.reconnect.clone(),
        connect_timeout: config.connect_timeout,
        send_timeout: config.send_timeout,
        write_timeout: config.write_timeout,
        read_buffer_size: config.read_buffer_size,
    };
    link::connect(settings, protocol, stats, tls).await.map(OpenAiLiveConnection)
}

/// A tag for this call's event ids, unique across workers and restarts (a
/// per-process random key hashed with the time), so that no two writers'
/// appends share an `event_id`.
fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let key = std::collections::hash_map::RandomState::new().hash_one(nanos);
    format!("tg{key:016x}")
}

#[async_trait]
impl RealtimeConnection for OpenAiLiveConnection {
    async fn send(&mut self, command: BackendCommand) -> Result<(), BackendError> {
        self.0.send(command).await
    }

    async fn recv(&mut self) -> Option<Input> {
        self.0.recv().await
    }

    async fn close(self: Box<Self>) {
        Box::new(self.0).close().await;
    }

    fn stats(&self) -> ConnectionStats {
        self.0.stats()
    }
}

impl LinkProtocol for Protocol {
    fn link_up(&mut self, now: Instant, reconnect: bool, out: &mut Out) {
        Protocol::link_up(self, now, reconnect, out);
    }

    fn link_down(&mut self, out: &mut Out) {
        Protocol::link_down(self, out);
    }

    fn command(&mut self, now: Instant, command: BackendCommand, out: &mut Out) {
        Protocol::command(self, now, command, out);
    }

    fn server_text(&mut self, now: Instant, text: &str, out: &mut Out) {
        Protocol::server_text(self, now, text, out);
    }

    fn server_binary(&mut self) {
        Protocol::server_binary(self);
    }

    fn tick(&mut self, now: Instant, out: &mut Out) {
        Protocol::tick(self, now, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Protocol::poll_timeout(self)
    }

    fn fatal_close(&self, code: u16) -> bool {
        // A policy refusal does not go away by connecting again.
        code == 1008
    }

    fn close(&mut self, out: &mut Out) -> bool {
        Protocol::close(self, out)
    }
}
