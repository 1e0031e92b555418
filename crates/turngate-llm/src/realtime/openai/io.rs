//! The provider's only IO: the shared WebSocket link task
//! ([`crate::realtime::link`]) driving this provider's [`Protocol`], behind
//! the [`OpenAiConnection`] handle.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use turngate_core::{BackendCommand, Input};

use super::protocol::{Out, Protocol, SharedStats};
use super::{OpenAiRealtimeConfig, PROVIDER};
pub(crate) use crate::realtime::link::TlsCache;
use crate::realtime::link::{self, LinkProtocol, LinkSettings};
use crate::realtime::{
    BackendError, ConnectionStats, RealtimeConnection, RealtimeSessionConfig, WsConnection,
};

/// An open session with the OpenAI Realtime API. See
/// [`RealtimeConnection`] for the contract.
#[derive(Debug)]
pub struct OpenAiConnection(WsConnection);

/// Connects one session: the upgrade happens here, so a refused key or an
/// unreachable host fails the call to `connect`; the rest runs in the task.
pub(crate) async fn connect(
    config: OpenAiRealtimeConfig,
    session: RealtimeSessionConfig,
    tls: &TlsCache,
) -> Result<OpenAiConnection, BackendError> {
    let stats = Arc::new(SharedStats::default());
    let protocol = Protocol::new(&config, session, Arc::clone(&stats))?;
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
    link::connect(settings, protocol, stats, tls).await.map(OpenAiConnection)
}

#[async_trait]
impl RealtimeConnection for OpenAiConnection {
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
    fn link_up(&mut self, _now: Instant, reconnect: bool, out: &mut Out) {
        Protocol::link_up(self, reconnect, out);
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
        // 4000 is the refusal of the retired beta shape; 1008 a policy
        // refusal: neither goes away by connecting again. 1001 at 60 minutes
        // is the session limit, which a new session continues past.
        matches!(code, 4000 | 1008)
    }
}
