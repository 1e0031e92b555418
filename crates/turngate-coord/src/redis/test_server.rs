//! A throwaway `redis-server` for this crate's tests and benchmark.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ids::random_u64;

/// How long a started server may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process of its own: a free loopback port, a fresh
/// temporary directory, no snapshots, and killed (and its directory
/// removed) when dropped. It never touches any other Redis.
///
/// For tests and benchmarks; **not semver-stable**.
#[derive(Debug)]
pub struct TestServer {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    persistent: bool,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a server without persistence (`--save "" --appendonly no`).
    ///
    /// # Errors
    ///
    /// A description if no `redis-server` binary is found or it does not
    /// start.
    pub fn start() -> Result<Self, String> {
        Self::launch(false)
    }

    /// Starts a server with an append-only file fsynced on every write
    /// (`--appendonly yes --appendfsync always`), so a restart keeps every
    /// acknowledged write.
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub fn start_persistent() -> Result<Self, String> {
        Self::launch(true)
    }

    /// The `redis-server` to run: `$TURNGATE_REDIS_SERVER`, else
    /// `redis-server` on the `PATH`, else the usual install locations.
    ///
    /// # Errors
    ///
    /// A message saying how to provide one.
    pub fn find_binary() -> Result<PathBuf, String> {
        if let Some(path) = std::env::var_os("TURNGATE_REDIS_SERVER") {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(format!("TURNGATE_REDIS_SERVER={} is not a file", path.display()))
            };
        }
        let on_path = std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("redis-server"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let usual = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].map(PathBuf::from);
        on_path.into_iter().chain(usual).find(|p| p.is_file()).ok_or_else(|| {
            "no redis-server binary found: the Redis tests need one (install the \
                 redis-server package, or set TURNGATE_REDIS_SERVER to its path; the \
                 conformance tests alone can instead use TURNGATE_TEST_REDIS_URL)"
                .to_owned()
        })
    }

    fn launch(persistent: bool) -> Result<Self, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = Self::find_binary()?;
        let dir = std::env::temp_dir().join(format!(
            "turngate-redis-{}-{}-{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            random_u64() as u32
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut server = Self { binary, port: 0, dir, persistent, child: None };
        // Another process may take the probed port before the server binds
        // it; a few fresh ports make that race harmless.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let appendonly = if self.persistent { "yes" } else { "no" };
        let mut child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", appendonly])
            .args(["--appendfsync", "always", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited with {status}: {}",
                    self.port,
                    tail(&log)
                ));
            }
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} not ready within {READY_TIMEOUT:?}: {}",
                    self.port,
                    tail(&log)
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while running.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory (so a
    /// persistent server reloads its data).
    ///
    /// # Errors
    ///
    /// A description if it does not come back within a few seconds.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let mut last_error = String::new();
        // The port was just released; retry briefly in case the kernel or
        // another process still holds it.
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(last_error)
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is
    /// answered, the way a hung server or a black-holed route behaves.
    ///
    /// # Errors
    ///
    /// A description if the signal could not be sent.
    pub fn pause(&self) -> Result<(), String> {
        self.send_signal("-STOP")
    }

    /// Thaws a [paused](Self::pause) server (SIGCONT).
    ///
    /// # Errors
    ///
    /// A description if the signal could not be sent.
    pub fn resume(&self) -> Result<(), String> {
        self.send_signal("-CONT")
    }

    fn send_signal(&self, signal: &str) -> Result<(), String> {
        let pid = self.pid().ok_or("the server is not running")?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .map_err(|e| format!("running kill: {e}"))?;
        if status.success() { Ok(()) } else { Err(format!("kill {signal} {pid} failed: {status}")) }
    }

    /// The directory holding the server's files and log.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A paused server would ignore nothing, but make sure it can die
        // cleanly and release its port.
        let _ = self.resume();
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

/// Whether a server on `port` answers `PING` with `PONG` (not, for example,
/// `-LOADING`).
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf.get(..n).is_some_and(|b| b.starts_with(b"+PONG")))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}
