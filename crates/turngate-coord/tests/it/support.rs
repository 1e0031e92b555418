//! Redis test support: a server per test, coordinators connected to it, and
//! a raw connection for looking behind the coordinator's back.

use std::time::Duration;

use turngate_coord::redis::TestServer;
use turngate_coord::{Config, RedisConfig, RedisCoordinator};

/// Starts a `redis-server` of the test's own; a missing binary fails the
/// test with the reason.
pub(crate) fn server() -> TestServer {
    TestServer::start().unwrap_or_else(|e| panic!("{e}"))
}

/// The settings the fault tests use: short timeouts so failures surface
/// quickly.
pub(crate) fn fast_config(url: &str) -> RedisConfig {
    let mut config = RedisConfig::new(url)
        .with_prefix(format!("tgt{}", std::process::id()))
        .with_op_timeout(Duration::from_millis(300))
        .with_connect_timeout(Duration::from_millis(300));
    config.ping_interval = Duration::from_millis(200);
    config.max_reconnect_backoff = Duration::from_millis(100);
    config
}

pub(crate) async fn connect(config: RedisConfig) -> RedisCoordinator {
    RedisCoordinator::connect(config).await.unwrap_or_else(|e| panic!("connecting to Redis: {e}"))
}

pub(crate) struct RedisHarness {
    pub(crate) owner: RedisCoordinator,
    pub(crate) sender: RedisCoordinator,
    pub(crate) other: RedisCoordinator,
    // Dropped last: the server outlives the connections to it.
    _server: Option<TestServer>,
}

/// Three coordinators on one Redis: the test's own server, or the one named
/// by `TURNGATE_TEST_REDIS_URL` under a key prefix no other run uses (that
/// server is never flushed).
pub(crate) async fn redis_harness(coordination: Config) -> RedisHarness {
    let (server, url) = match std::env::var("TURNGATE_TEST_REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = server();
            let url = server.url();
            (Some(server), url)
        }
    };
    let prefix = format!(
        "tgtest-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let config = RedisConfig::new(url).with_prefix(prefix).with_coordination(coordination);
    RedisHarness {
        owner: connect(config.clone()).await,
        sender: connect(config.clone()).await,
        other: connect(config).await,
        _server: server,
    }
}

/// A plain connection to `url`, for inspecting or bypassing the coordinator.
pub(crate) async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test's Redis")
}
