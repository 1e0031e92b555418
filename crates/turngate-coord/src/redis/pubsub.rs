//! The dedicated pub/sub connection that wakes a worker's inbox.
//!
//! Pub/sub is at-most-once: a message published while this connection is
//! down is gone. That is acceptable here because a message only says "look
//! at session S"; the signal itself is in the session's stream. After every
//! (re)subscription the inbox is told to look at every session, which
//! covers whatever was published during the gap.

use std::time::Duration;

use futures_util::StreamExt;
use redis::Value;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::time::MissedTickBehavior;

use super::RedisConfig;
use super::reply::map_error;
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::inbox::InboxWaker;

pub(super) type Connection = (PubSubSink, PubSubStream);

/// The first pause between reconnection attempts; it doubles up to the
/// configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub(super) struct Listener {
    client: redis::Client,
    channel: String,
    waker: InboxWaker,
    op_timeout: Duration,
    connect_timeout: Duration,
    ping_interval: Duration,
    max_backoff: Duration,
}

impl Listener {
    pub(super) fn new(
        client: redis::Client,
        channel: String,
        waker: InboxWaker,
        config: &RedisConfig,
    ) -> Self {
        Self {
            client,
            channel,
            waker,
            op_timeout: config.op_timeout,
            connect_timeout: config.connect_timeout,
            ping_interval: config.ping_interval,
            max_backoff: config.max_reconnect_backoff,
        }
    }

    /// Opens a pub/sub connection and subscribes to the worker's channel.
    pub(super) async fn connect(&self) -> Result<Connection> {
        let bound = self.connect_timeout + self.op_timeout;
        let attempt = async {
            let (mut sink, stream) = self.client.get_async_pubsub().await?.split();
            sink.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>((sink, stream))
        };
        match tokio::time::timeout(bound, attempt).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(err)) => Err(map_error("subscribe", err, bound)),
            Err(_) => Err(Error::Timeout { op: "subscribe", after: bound }),
        }
    }

    /// Serves `connection` until it fails, then reconnects, forever (the
    /// task is aborted when the inbox is dropped).
    pub(super) async fn run(self, mut connection: Connection) {
        loop {
            self.serve(connection).await;
            if self.waker.is_closed() {
                return;
            }
            self.waker.set_connected(false);
            tracing::warn!(channel = %self.channel, "pub/sub connection lost; reconnecting");
            connection = self.reconnect().await;
            // Marking the connection up wakes every session: anything
            // published while it was down was missed.
            self.waker.set_connected(true);
            tracing::info!(channel = %self.channel, "pub/sub connection restored");
        }
    }

    async fn serve(&self, (mut sink, mut stream): Connection) {
        let mut ping = tokio::time::interval(self.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick completes at once; the connection was just checked.
        ping.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => {
                    let Some(message) = message else {
                        return;
                    };
                    let session = String::from_utf8_lossy(message.get_payload_bytes());
                    match SessionId::new(session.as_ref()) {
                        Ok(session) => self.waker.wake(&session),
                        Err(_) => {
                            tracing::debug!(channel = %self.channel, "ignored malformed wake-up");
                        }
                    }
                }
                _ = ping.tick() => {
                    // A connection that died without a reset (a dropped
                    // route, a frozen server) is noticed here.
                    let pong = tokio::time::timeout(self.op_timeout, sink.ping::<Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return;
                    }
                    if self.waker.is_closed() {
                        return;
                    }
                }
            }
        }
    }

    async fn reconnect(&self) -> Connection {
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(backoff).await;
            match self.connect().await {
                Ok(connection) => return connection,
                Err(err) => {
                    tracing::debug!(channel = %self.channel, error = %err, "pub/sub reconnect failed");
                    self.waker.record_error(&err);
                }
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }
}
