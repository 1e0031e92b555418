//! `RedisCoordinator`: coordination across worker processes through Redis.
//!
//! Commands go over one multiplexed [`ConnectionManager`] (which reconnects
//! by itself); every compare-and-set step is a Lua script (the `lua/`
//! folder), loaded once and invoked by hash. Wake-ups for
//! a worker's [`Inbox`] arrive on a dedicated pub/sub connection that
//! resubscribes after every reconnect and then wakes every session, since
//! publishes during the gap were missed.
//!
//! Every operation is bounded by [`RedisConfig::op_timeout`]: against an
//! unreachable or stalled server it fails with `Unavailable` or `Timeout`
//! within that time, never hangs.
//!
//! Needs Redis 6.2 or later (`GETDEL`, exclusive `XRANGE` bounds, scripts
//! replicated by effects). The key layout is in [`keys`](crate::keys).

mod config;
mod pubsub;
mod reply;
mod scripts;
mod test_server;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Value};
use tokio::time::Instant;

use self::pubsub::Listener;
use self::reply::{array, int, map_error, stream_entries, text};
use self::scripts::Scripts;
use crate::config::{InboxConfig, ttl_ms};
use crate::coordinator::{Coordinator, FencedLock, Lease};
use crate::error::{Error, Result};
use crate::ids::{SessionId, WorkerId, check_name, random_u64};
use crate::inbox::{Inbox, SignalSource};
use crate::keys::Keys;
use crate::signal::{Signal, SignalId, SignalReceipt, StoredSignal};

pub use self::config::RedisConfig;
pub use self::test_server::TestServer;

/// The Redis coordinator. Cloning shares the connection.
#[derive(Clone)]
pub struct RedisCoordinator {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    keys: Keys,
    config: RedisConfig,
    scripts: Scripts,
}

impl fmt::Debug for RedisCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl RedisCoordinator {
    /// Connects, and loads every script.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a bad URL, prefix or setting;
    /// [`Error::Unavailable`] or [`Error::Timeout`] if Redis cannot be
    /// reached within the connect and operation timeouts.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        let keys = Keys::new(&config.prefix)?;
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| Error::invalid("redis url", e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(config.max_reconnect_backoff);
        let bound = config.connect_timeout + config.op_timeout;
        let conn = match tokio::time::timeout(
            bound,
            ConnectionManager::new_with_config(client.clone(), manager_config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(err)) => return Err(map_error("connect", err, bound)),
            Err(_) => {
                return Err(Error::Timeout { op: "connect", after: bound });
            }
        };
        let coordinator =
            Self { inner: Arc::new(Inner { client, conn, keys, config, scripts: Scripts::new() }) };
        for script in coordinator.inner.scripts.all() {
            let mut conn = coordinator.conn();
            coordinator
                .run("script load", async move { script.load_async(&mut conn).await })
                .await?;
        }
        Ok(coordinator)
    }

    /// The key layout in use.
    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The settings in use.
    #[must_use]
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// One `PING` round trip, timed: a health check and the latency floor of
    /// every other operation.
    ///
    /// # Errors
    ///
    /// `Unavailable` or `Timeout` if Redis does not answer in time.
    pub async fn ping(&self) -> Result<Duration> {
        let mut conn = self.conn();
        let started = Instant::now();
        let _: Value = self
            .run("ping", async move { redis::cmd("PING").query_async(&mut conn).await })
            .await?;
        Ok(started.elapsed())
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    fn ttl(&self, what: &'static str, ttl: Duration) -> Result<u64> {
        ttl_ms(what, ttl)
    }

    /// Runs one Redis request under the operation timeout.
    async fn run<T>(
        &self,
        op: &'static str,
        request: impl Future<Output = RedisResult<T>> + Send,
    ) -> Result<T> {
        let bound = self.inner.config.op_timeout;
        match tokio::time::timeout(bound, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(map_error(op, err, bound)),
            Err(_) => Err(Error::Timeout { op, after: bound }),
        }
    }

    async fn command<T: redis::FromRedisValue + Send>(
        &self,
        op: &'static str,
        cmd: redis::Cmd,
    ) -> Result<T> {
        let mut conn = self.conn();
        self.run(op, async move { cmd.query_async(&mut conn).await }).await
    }

    async fn try_lock(&self, key: &SessionId, holder: u64, ttl_ms: u64) -> Result<LockAttempt> {
        let config = &self.inner.config;
        let fence_ms = ttl_ms.max(self.ttl("fence_ttl", config.coordination.fence_ttl)?);
        let mut invocation = self.inner.scripts.lock.prepare_invoke();
        invocation
            .key(self.inner.keys.lock(key))
            .key(self.inner.keys.fence(key))
            .arg(holder.to_string())
            .arg(ttl_ms)
            .arg(fence_ms);
        let mut conn = self.conn();
        let reply: Value =
            self.run("lock", async move { invocation.invoke_async(&mut conn).await }).await?;
        match array(&reply).map(|items| (items.first().and_then(int), items.get(1).and_then(int))) {
            Some((Some(1), Some(token))) => u64::try_from(token)
                .map(LockAttempt::Taken)
                .map_err(|_| Error::backend("lock", "negative fencing token")),
            Some((Some(0), Some(remaining_ms))) => Ok(LockAttempt::Held {
                remaining: Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0)),
            }),
            _ => Err(Error::backend("lock", format!("unexpected reply {reply:?}"))),
        }
    }
}

enum LockAttempt {
    Taken(u64),
    Held { remaining: Duration },
}

/// Reads a `{flag, text}` script reply.
fn flag_and_text(op: &'static str, reply: &Value) -> Result<(i64, String)> {
    let parsed = array(reply).and_then(|items| {
        let flag = items.first().and_then(int)?;
        let text = items.get(1).and_then(text).unwrap_or("").to_owned();
        Some((flag, text))
    });
    parsed.ok_or_else(|| Error::backend(op, format!("unexpected reply {reply:?}")))
}

fn worker_or_none(op: &'static str, id: &str) -> Result<Option<WorkerId>> {
    if id.is_empty() {
        return Ok(None);
    }
    WorkerId::new(id)
        .map(Some)
        .map_err(|e| Error::backend(op, format!("stored owner is not a worker id: {e}")))
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    async fn set_flag(
        &self,
        scope: &SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        check_name("flag name", name)?;
        let ms = self.ttl("flag ttl", ttl)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.inner.keys.flag(scope, name)).arg(value).arg("PX").arg(ms);
        let _: Value = self.command("set_flag", cmd).await?;
        Ok(())
    }

    async fn get_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        check_name("flag name", name)?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.inner.keys.flag(scope, name));
        self.command("get_flag", cmd).await
    }

    async fn delete_flag(&self, scope: &SessionId, name: &str) -> Result<bool> {
        check_name("flag name", name)?;
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.inner.keys.flag(scope, name));
        let deleted: i64 = self.command("delete_flag", cmd).await?;
        Ok(deleted > 0)
    }

    async fn take_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        check_name("flag name", name)?;
        // GETDEL is atomic on the server: of concurrent takers exactly one
        // sees the value.
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.inner.keys.flag(scope, name));
        self.command("take_flag", cmd).await
    }

    async fn signal(&self, session: &SessionId, signal: Signal) -> Result<SignalReceipt> {
        let keys = &self.inner.keys;
        let config = &self.inner.config.coordination;
        let mut invocation = self.inner.scripts.signal.prepare_invoke();
        invocation
            .key(keys.signals(session))
            .key(keys.signals_seen(session))
            .key(keys.signals_seen_ids(session))
            .key(keys.owner(session))
            .arg(signal.kind())
            .arg(signal.payload())
            .arg(signal.sent_at_us())
            .arg(self.ttl("signal_ttl", config.signal_ttl)?)
            .arg(config.max_pending_signals)
            .arg(signal.dedup_key().unwrap_or(""))
            .arg(self.ttl("dedup_window", config.dedup_window)?)
            .arg(if self.inner.config.push { keys.worker_channel_prefix() } else { String::new() })
            .arg(session.as_str())
            .arg(config.max_dedup_keys);
        let mut conn = self.conn();
        let reply: Value =
            self.run("signal", async move { invocation.invoke_async(&mut conn).await }).await?;
        let parts = array(&reply).map(|items| {
            (items.first().and_then(text), items.get(1).and_then(text), items.get(2).and_then(text))
        });
        let Some((Some(status), Some(id), Some(owner))) = parts else {
            return Err(Error::backend("signal", format!("unexpected reply {reply:?}")));
        };
        let owner = worker_or_none("signal", owner)?;
        match status {
            "full" => Err(Error::QueueFull {
                session: session.to_string(),
                max: config.max_pending_signals,
            }),
            "ok" | "dup" => {
                let id: SignalId = id
                    .parse()
                    .map_err(|_| Error::backend("signal", format!("bad stream id {id:?}")))?;
                Ok(SignalReceipt::new(id, owner, status == "dup"))
            }
            other => Err(Error::backend("signal", format!("unexpected status {other:?}"))),
        }
    }

    async fn subscribe(&self, worker: &WorkerId, config: InboxConfig) -> Result<Inbox> {
        let (mut inbox, waker) = Inbox::spawn(worker.clone(), Arc::new(self.clone()), config)?;
        let listener = Listener::new(
            self.inner.client.clone(),
            self.inner.keys.worker_channel(worker),
            waker,
            &self.inner.config,
        );
        // The first subscription happens here, so a caller learns at once
        // that Redis is unreachable; later ones happen in the background.
        let connection = listener.connect().await?;
        inbox.attach(tokio::spawn(listener.run(connection)));
        Ok(inbox)
    }

    async fn acquire(
        &self,
        session: &SessionId,
        worker: &WorkerId,
        ttl: Duration,
    ) -> Result<Lease> {
        let ms = self.ttl("lease ttl", ttl)?;
        let token = random_u64();
        let started = Instant::now();
        let mut invocation = self.inner.scripts.acquire.prepare_invoke();
        invocation
            .key(self.inner.keys.owner(session))
            .arg(worker.as_str())
            .arg(token.to_string())
            .arg(ms);
        let mut conn = self.conn();
        let reply: Value =
            self.run("acquire", async move { invocation.invoke_async(&mut conn).await }).await?;
        match flag_and_text("acquire", &reply)? {
            (1, _) => Ok(Lease::new(session.clone(), worker.clone(), token, started + ttl)),
            (_, owner) => Err(Error::LeaseHeld { session: session.to_string(), owner }),
        }
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let ms = self.ttl("lease ttl", ttl)?;
        let started = Instant::now();
        let mut invocation = self.inner.scripts.renew.prepare_invoke();
        invocation
            .key(self.inner.keys.owner(lease.session()))
            .arg(lease.worker().as_str())
            .arg(lease.token().to_string())
            .arg(ms);
        let mut conn = self.conn();
        let reply: Value =
            self.run("renew", async move { invocation.invoke_async(&mut conn).await }).await?;
        match flag_and_text("renew", &reply)? {
            (1, _) => Ok(Lease::new(
                lease.session().clone(),
                lease.worker().clone(),
                lease.token(),
                started + ttl,
            )),
            (_, owner) => Err(Error::LeaseLost {
                session: lease.session().to_string(),
                owner: (!owner.is_empty()).then_some(owner),
            }),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let mut invocation = self.inner.scripts.release.prepare_invoke();
        invocation
            .key(self.inner.keys.owner(lease.session()))
            .arg(lease.worker().as_str())
            .arg(lease.token().to_string());
        let mut conn = self.conn();
        let released: i64 =
            self.run("release", async move { invocation.invoke_async(&mut conn).await }).await?;
        Ok(released == 1)
    }

    async fn owner(&self, session: &SessionId) -> Result<Option<WorkerId>> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(self.inner.keys.owner(session)).arg("worker");
        let owner: Option<String> = self.command("owner", cmd).await?;
        worker_or_none("owner", owner.as_deref().unwrap_or(""))
    }

    async fn lock(&self, key: &SessionId, ttl: Duration, deadline: Instant) -> Result<FencedLock> {
        let ms = self.ttl("lock ttl", ttl)?;
        // One nonce for every attempt of this call: an attempt that took the
        // lock but whose reply was lost is recognised by the next attempt.
        let holder = random_u64();
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let attempt_started = Instant::now();
            let remaining = match self.try_lock(key, holder, ms).await? {
                LockAttempt::Taken(token) => {
                    return Ok(FencedLock::new(key.clone(), token, attempt_started + ttl));
                }
                LockAttempt::Held { remaining } => remaining,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::LockTimeout { key: key.to_string(), waited: now - started });
            }
            // Poll with a growing pause, but never past the holder's expiry
            // or the caller's deadline.
            let wait = pause.min(remaining.max(Duration::from_millis(1))).min(deadline - now);
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(self.inner.config.max_lock_poll);
        }
    }

    async fn extend_lock(&self, lock: &FencedLock, ttl: Duration) -> Result<FencedLock> {
        let ms = self.ttl("lock ttl", ttl)?;
        let started = Instant::now();
        let mut invocation = self.inner.scripts.extend.prepare_invoke();
        invocation.key(self.inner.keys.lock(lock.key())).arg(lock.token().to_string()).arg(ms);
        let mut conn = self.conn();
        let extended: i64 = self
            .run("extend_lock", async move { invocation.invoke_async(&mut conn).await })
            .await?;
        if extended == 1 {
            Ok(FencedLock::new(lock.key().clone(), lock.token(), started + ttl))
        } else {
            Err(Error::LockLost { key: lock.key().to_string(), token: lock.token() })
        }
    }

    async fn unlock(&self, lock: &FencedLock) -> Result<bool> {
        let mut invocation = self.inner.scripts.unlock.prepare_invoke();
        invocation.key(self.inner.keys.lock(lock.key())).arg(lock.token().to_string());
        let mut conn = self.conn();
        let released: i64 =
            self.run("unlock", async move { invocation.invoke_async(&mut conn).await }).await?;
        Ok(released == 1)
    }

    async fn incr(&self, scope: &SessionId, name: &str, delta: i64, ttl: Duration) -> Result<i64> {
        check_name("counter name", name)?;
        let ms = self.ttl("counter ttl", ttl)?;
        let mut invocation = self.inner.scripts.incr.prepare_invoke();
        invocation.key(self.inner.keys.counter(scope, name)).arg(delta).arg(ms);
        let mut conn = self.conn();
        self.run("incr", async move { invocation.invoke_async(&mut conn).await }).await
    }

    async fn counter(&self, scope: &SessionId, name: &str) -> Result<Option<i64>> {
        check_name("counter name", name)?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.inner.keys.counter(scope, name));
        let value: Option<String> = self.command("counter", cmd).await?;
        value
            .map(|v| {
                v.parse().map_err(|_| Error::backend("counter", format!("not an integer: {v:?}")))
            })
            .transpose()
    }
}

#[async_trait]
impl SignalSource for RedisCoordinator {
    async fn drain(
        &self,
        session: &SessionId,
        ack: Option<SignalId>,
        after: Option<SignalId>,
        max: usize,
    ) -> Result<Vec<StoredSignal>> {
        let ttl = self.ttl("signal_ttl", self.inner.config.coordination.signal_ttl)?;
        let mut invocation = self.inner.scripts.drain.prepare_invoke();
        invocation
            .key(self.inner.keys.signals(session))
            .arg(ack.map(|id| id.to_string()).unwrap_or_default())
            .arg(after.map(|id| id.to_string()).unwrap_or_default())
            .arg(max)
            .arg(ttl);
        let mut conn = self.conn();
        let reply: Value =
            self.run("drain", async move { invocation.invoke_async(&mut conn).await }).await?;
        stream_entries("drain", &reply)
    }
}
