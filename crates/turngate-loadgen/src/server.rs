//! The bridge under test: the real `turngate serve` binary as a child
//! process, pointed at the simulator through its documented configuration
//! (environment plus a TOML file), and a minimal HTTP client for its
//! readiness and metrics endpoints.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::calls::VoiceApi;
use crate::procfs::Sample;

/// How long the server may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one HTTP exchange with it may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration file the benchmark gives the server: no dead-air
/// check-ins (a scripted caller's silences are not dead air), room for
/// every call and a short drain. Logging stays at the server's default
/// (a line per call start and end), as users run it.
pub(crate) const CONFIG_TOML: &str = "\
drain_timeout_ms = 2000

[session.dead_air]
enabled = false

[limits]
max_calls = 60000
";

/// A running `turngate serve`.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
    ticks: u64,
}

impl Server {
    /// Starts `binary` listening on a free loopback port, with the voice
    /// API `api` at `url`; its log goes to `log`.
    pub(crate) fn start(
        binary: &Path,
        api: VoiceApi,
        url: &str,
        work_dir: &Path,
        ticks: u64,
    ) -> anyhow::Result<Server> {
        if !binary.exists() {
            bail!(
                "{} does not exist; build it with `cargo build --release -p turngate-server`",
                binary.display()
            );
        }
        std::fs::create_dir_all(work_dir)?;
        let config = work_dir.join("turngate-bench.toml");
        std::fs::write(&config, CONFIG_TOML)?;
        let log_path = work_dir.join("turngate-server.log");
        let log = File::create(&log_path)?;
        let addr = free_port()?;
        let mut command = Command::new(binary);
        command.arg("serve");
        // Only the benchmark's settings: nothing from the caller's shell.
        for (name, _) in std::env::vars() {
            if name.starts_with("TURNGATE_") || name == "OPENAI_API_KEY" || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command
            .env("OPENAI_API_KEY", "sk-bench")
            .env("TURNGATE_LISTEN", addr.to_string())
            .env("TURNGATE_CONFIG", &config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        match api {
            VoiceApi::Realtime => command.env("TURNGATE_REALTIME_URL", url),
            VoiceApi::Live => {
                command.env("TURNGATE_VOICE_API", "live").env("TURNGATE_LIVE_URL", url)
            }
        };
        let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server { child, addr, ticks };
        server.wait_ready(&log_path)?;
        Ok(server)
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ws://…/<path>` on the server.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/{path}", self.addr)
    }

    /// CPU time and memory now.
    pub(crate) fn sample(&self) -> Option<Sample> {
        Sample::read(&self.pid().to_string(), self.ticks)
    }

    fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                bail!("the server exited at start ({status}):\n{text}");
            }
            if matches!(get(self.addr, "/readyz"), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server was not ready within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of an unlabelled gauge or counter in `/metrics`.
    pub(crate) fn metric(&self, name: &str) -> Option<f64> {
        let (status, body) = get(self.addr, "/metrics").ok()?;
        if status != 200 {
            return None;
        }
        metric_value(&body, name)
    }

    /// Waits (bounded) until no call is active on the server.
    pub(crate) fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.metric("turngate_active_calls") == Some(0.0) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// SIGTERM, then a kill if it lingers.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A benchmark that fails half-way must not leave a server behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback address with a port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the status and body.
fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    parse_response(&response)
}

/// The status code and body of an HTTP/1.1 response (body not chunked, or
/// chunked with the chunk sizes left in, which metric lines survive).
pub(crate) fn parse_response(text: &str) -> anyhow::Result<(u16, String)> {
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no HTTP status line")?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_owned()))
}

/// The value of metric `name` (no labels) in a Prometheus text body.
pub(crate) fn metric_value(body: &str, name: &str) -> Option<f64> {
    body.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Where the workspace's release binary is, from this crate's location.
pub(crate) fn default_binary() -> PathBuf {
    workspace_root().join("target/release/turngate")
}

/// The workspace root (this crate lives two levels below it).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}
