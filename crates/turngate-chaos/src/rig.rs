//! What every scenario stands on: a real `redis-server`, the strict
//! simulators of the upstream APIs, and real `turngate serve` processes
//! configured with every secret, as a deployment facing the internet is.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::Value;
use turngate_coord::redis::{RedisConfig, RedisCoordinator, TestServer};
use turngate_coord::{Coordinator, SessionId};
use turngate_sim::chat::ChatSim;
use turngate_sim::realtime::{SimConfig, SimServer};

/// The secrets every worker is started with.
pub(crate) const STREAM_TOKEN: &str = "chaos-telnyx-stream";
pub(crate) const AUDIOCODES_TOKEN: &str = "chaos-audiocodes";
pub(crate) const CLIENT_TOKEN: &str = "chaos-client";
pub(crate) const ADMIN_TOKEN: &str = "chaos-admin";
const WORKER_TOKEN: &str = "chaos-worker";
const TWILIO_TOKEN: &str = "chaos-twilio";
const PUBLIC_URL: &str = "https://chaos.example";

/// How long a worker may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The Telnyx account key the workers trust.
pub(crate) fn telnyx_key() -> SigningKey {
    SigningKey::from_bytes(&[0xC4; 32])
}

/// The upgrade headers a carrier with the right secrets sends to `path`.
pub(crate) fn carrier_headers(path: &str) -> Vec<(String, String)> {
    match path {
        "/twilio" => {
            let validator = turngate_telephony::twilio::RequestValidator::new(TWILIO_TOKEN);
            let url = format!("{}/twilio", PUBLIC_URL.replace("https://", "wss://"));
            vec![("X-Twilio-Signature".to_owned(), validator.sign(&url, &[]))]
        }
        "/telnyx" => vec![("x-telnyx-streaming-auth-token".to_owned(), STREAM_TOKEN.to_owned())],
        _ => vec![("Authorization".to_owned(), format!("Bearer {AUDIOCODES_TOKEN}"))],
    }
}

/// Redis, the simulators, and a directory for logs.
pub(crate) struct Rig {
    pub(crate) redis: TestServer,
    pub(crate) realtime: SimServer,
    pub(crate) chat: ChatSim,
    pub(crate) dir: PathBuf,
    binary: PathBuf,
    lease_ttl: Duration,
}

impl Rig {
    /// Starts a persistent Redis (append-only, fsynced per write, as a
    /// deployment that must not lose acknowledged signals runs it) and the
    /// simulators; `realtime` shapes the Realtime simulator.
    pub(crate) async fn start(
        name: &str,
        binary: &Path,
        realtime: SimConfig,
        lease_ttl: Duration,
    ) -> anyhow::Result<Rig> {
        if !binary.exists() {
            bail!("{} does not exist; `cargo xtask chaos` builds it", binary.display());
        }
        let redis = TestServer::start_persistent().map_err(anyhow::Error::msg)?;
        let realtime = turngate_sim::realtime::serve(realtime, loopback()).await?;
        let chat = ChatSim::responses(turngate_sim::chat::SimConfig::default()).await?;
        let dir =
            std::env::temp_dir().join(format!("turngate-chaos-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Rig { redis, realtime, chat, dir, binary: binary.to_path_buf(), lease_ttl })
    }

    /// A `turngate serve` pointed at the rig.
    pub(crate) async fn worker(&self, name: &str) -> anyhow::Result<Worker> {
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "drain_timeout_ms = 2000\n\n[redis]\nlease_ttl_ms = {}\n\n[session.dead_air]\nenabled = false\n\n[limits]\nmax_calls = 10000\n",
                self.lease_ttl.as_millis()
            ),
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::create(self.dir.join(format!("{name}.log")))?;
        let public_key = base64::engine::general_purpose::STANDARD
            .encode(telnyx_key().verifying_key().as_bytes());
        let mut command = Command::new(&self.binary);
        command.arg("serve");
        for (name, _) in std::env::vars() {
            if name.starts_with("TURNGATE_") || name == "OPENAI_API_KEY" {
                command.env_remove(name);
            }
        }
        command
            .env("TURNGATE_LISTEN", addr.to_string())
            .env("TURNGATE_CONFIG", &config)
            .env("TURNGATE_REDIS_URL", self.redis.url())
            .env("OPENAI_API_KEY", "sk-chaos")
            .env("TURNGATE_REALTIME_URL", self.realtime.url())
            .env("TURNGATE_OPENAI_BASE_URL", self.chat.base_url())
            .env("TURNGATE_PUBLIC_URL", PUBLIC_URL)
            .env("TURNGATE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
            .env("TURNGATE_TELNYX_PUBLIC_KEY", public_key)
            .env("TURNGATE_TELNYX_STREAM_TOKEN", STREAM_TOKEN)
            .env("TURNGATE_AUDIOCODES_TOKEN", AUDIOCODES_TOKEN)
            .env("TURNGATE_CLIENT_TOKEN", CLIENT_TOKEN)
            .env("TURNGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("TURNGATE_WORKER_TOKEN", WORKER_TOKEN)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child =
            command.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        let worker = Worker { name: name.to_owned(), child: Some(child), addr, http: http() };
        worker.wait_ready().await?;
        Ok(worker)
    }

    /// A coordinator of its own on the rig's Redis, to look at leases.
    pub(crate) async fn observer(&self) -> anyhow::Result<Arc<dyn Coordinator>> {
        Ok(Arc::new(RedisCoordinator::connect(RedisConfig::new(self.redis.url())).await?))
    }
}

/// One `turngate serve` process; killed when dropped.
pub(crate) struct Worker {
    pub(crate) name: String,
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    pub(crate) http: reqwest::Client,
}

impl Worker {
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(response) = self.http.get(self.url("/readyz")).send().await
                && response.status() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("worker {} was not ready within {READY_TIMEOUT:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, as a crash or an OOM kill would.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// True while the process lives and answers `/healthz`.
    pub(crate) async fn alive(&mut self) -> bool {
        let running = self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)));
        running && self.http.get(self.url("/healthz")).send().await.is_ok_and(|r| r.status() == 200)
    }

    /// Resident memory in KiB, from `/proc`.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The value of an unlabelled metric, or of one label of a family.
    pub(crate) async fn metric(&self, name: &str) -> Option<f64> {
        let body = self.http.get(self.url("/metrics")).send().await.ok()?.text().await.ok()?;
        body.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
    }

    /// Waits until no call is active here; false if some still are at the end.
    pub(crate) async fn wait_idle(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.metric("turngate_active_calls").await == Some(0.0) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    /// A call's record from `/calls/{id}`, with the admin token.
    pub(crate) async fn record(&self, call_id: &str) -> Option<Value> {
        let response = self
            .http
            .get(self.url(&format!("/calls/{call_id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The worker id that holds `session`'s lease, if any. The observer's own
/// connection may need a moment to come back after Redis restarted, so a
/// failing read is retried rather than taken for "no owner".
pub(crate) async fn owner(observer: &Arc<dyn Coordinator>, session: &str) -> Option<String> {
    let session = SessionId::new(session).ok()?;
    for _ in 0..25 {
        match observer.owner(&session).await {
            Ok(owner) => return owner.map(|w| w.as_str().to_owned()),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    None
}

/// An HTTP client with bounded waits (reqwest is built without a default
/// TLS provider; ring is the workspace's).
pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
