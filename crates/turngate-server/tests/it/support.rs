//! Starting a server on a free port, and stopping it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use turngate_server::ServerBuilder;
use turngate_server::config::Config;
use turngate_server::state::AppState;

/// A server running in the test's runtime.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Shuts the server down and waits for it (graceful drain included).
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// The configuration tests start from: simulators, memory coordinator.
pub(crate) fn config() -> Config {
    Config { drain_timeout: std::time::Duration::from_secs(2), ..Config::default() }
}

pub(crate) async fn start(config: Config) -> Running {
    serve(ServerBuilder::new(config).build().await.unwrap()).await
}

/// Serves a built server on a free port.
pub(crate) async fn serve(server: turngate_server::Server) -> Running {
    let state = Arc::clone(server.state());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Running { addr, state, stop: Some(stop), task: Some(task) }
}

pub(crate) fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap()
}
