//! How to reach Redis and how patient to be with it.

use std::fmt;
use std::time::Duration;

use crate::config::{Config, ttl_ms};
use crate::error::Result;
use crate::keys::DEFAULT_PREFIX;

/// How to reach Redis and how patient to be with it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisConfig {
    /// A `redis://[user:password@]host:port[/db]` URL (or
    /// `redis+unix:///path`).
    pub url: String,
    /// The prefix of every key and channel; deployments sharing one Redis
    /// use different prefixes.
    pub prefix: String,
    /// The bound on every operation, including waiting for a reconnection.
    pub op_timeout: Duration,
    /// The bound on establishing a connection.
    pub connect_timeout: Duration,
    /// How often the pub/sub connection is pinged, to notice a silently dead
    /// connection (no RST) within about this time plus `op_timeout`.
    pub ping_interval: Duration,
    /// The longest pause between two pub/sub reconnection attempts.
    pub max_reconnect_backoff: Duration,
    /// The longest pause between two attempts to take a held lock.
    pub max_lock_poll: Duration,
    /// Settings shared with every coordinator.
    pub coordination: Config,
    /// True (the default) to push a wake-up to the owner with every signal.
    /// False leaves only the fallback path: owners find signals on their
    /// inbox tick, up to one tick later.
    pub push: bool,
}

impl RedisConfig {
    /// Defaults for `url`: prefix `turngate`, 1 s operation and connection
    /// timeouts.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            op_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            ping_interval: Duration::from_secs(1),
            max_reconnect_backoff: Duration::from_secs(1),
            max_lock_poll: Duration::from_millis(50),
            coordination: Config::default(),
            push: true,
        }
    }

    /// Sets [`push`](Self::push).
    #[must_use]
    pub fn with_push(mut self, push: bool) -> Self {
        self.push = push;
        self
    }

    /// Sets [`prefix`](Self::prefix).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`op_timeout`](Self::op_timeout).
    #[must_use]
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`coordination`](Self::coordination).
    #[must_use]
    pub fn with_coordination(mut self, config: Config) -> Self {
        self.coordination = config;
        self
    }

    pub(super) fn validate(&self) -> Result<()> {
        self.coordination.validate()?;
        ttl_ms("op_timeout", self.op_timeout)?;
        ttl_ms("connect_timeout", self.connect_timeout)?;
        ttl_ms("ping_interval", self.ping_interval)?;
        ttl_ms("max_reconnect_backoff", self.max_reconnect_backoff)?;
        ttl_ms("max_lock_poll", self.max_lock_poll)?;
        Ok(())
    }
}

impl fmt::Debug for RedisConfig {
    // The URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match self.url.rsplit_once('@') {
            Some((scheme_and_user, host)) => {
                let scheme = scheme_and_user.split("://").next().unwrap_or("redis");
                format!("{scheme}://***@{host}")
            }
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &url)
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("coordination", &self.coordination)
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}
