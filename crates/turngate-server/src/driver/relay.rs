//! Relaying a resume to the worker that holds the call.
//!
//! A load balancer may send VoiceAI Connect's new socket to any worker, but
//! the call (its session, upstream connection and transport state) lives
//! on the worker that holds its lease. The worker that got the socket
//! connects to the owner's `/audiocodes`, repeats the `session.resume`, and
//! pipes messages both ways until either side closes; the owner sees an
//! ordinary resume on a new socket.
//!
//! ```text
//!   VAIC ──new socket──▶ worker B ──relay socket──▶ worker A (holds the call)
//! ```
//!
//! Workers find each other through the coordinator: each stores the URL it
//! is reached at in the flag `workers/<worker id>` and refreshes it while
//! it serves. A relayed resume is marked, so it is never relayed again.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};
use turngate_coord::{SessionId, WorkerId};

use crate::state::AppState;

/// The header a relaying worker puts on its upgrade: its own id.
pub(crate) const RELAYED_BY: &str = "x-turngate-relayed-by";
/// The header carrying the workers' shared secret (`auth.worker_token`).
pub(crate) const WORKER_TOKEN: &str = "x-turngate-worker-token";
/// The coordinator scope of the workers' addresses.
const WORKERS: &str = "workers";
/// How long an advertised address lives without a refresh.
const ADVERTISE_TTL: Duration = Duration::from_secs(30);
/// How often it is refreshed.
const ADVERTISE_EVERY: Duration = Duration::from_secs(10);
/// The longest the connection to the owner may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one message may take to go out on either socket.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Keeps this worker's address in the coordinator until the task is
/// aborted; the TTL removes it if the worker dies.
pub(crate) async fn advertise(state: Arc<AppState>, url: String) {
    let Ok(scope) = SessionId::new(WORKERS) else { return };
    let name = state.worker.as_str().to_owned();
    info!(%url, "advertising this worker for relayed resumes");
    loop {
        if let Err(error) =
            state.coordinator.set_flag(&scope, &name, url.as_bytes(), ADVERTISE_TTL).await
        {
            warn!(%error, "could not advertise this worker's address");
        }
        tokio::time::sleep(ADVERTISE_EVERY).await;
    }
}

/// Removes this worker's address (at shutdown).
pub(crate) async fn withdraw(state: &AppState) {
    if let Ok(scope) = SessionId::new(WORKERS) {
        let _ = state.coordinator.delete_flag(&scope, state.worker.as_str()).await;
    }
}

/// The URL `worker` advertised, if it is alive and advertised one.
pub(crate) async fn address_of(state: &AppState, worker: &WorkerId) -> Option<String> {
    let scope = SessionId::new(WORKERS).ok()?;
    let value = state.coordinator.get_flag(&scope, worker.as_str()).await.ok()??;
    String::from_utf8(value).ok()
}

/// Opens the relay socket to the owner at `base` (an `http://` URL, or an
/// `https://` one over TLS, verified against the platform's roots and
/// `tls.ca_file`) and sends the resume on it.
pub(crate) async fn connect(
    state: &AppState,
    base: &str,
    conversation_id: &str,
) -> Result<Upstream, String> {
    let (url, connector) = if let Some(rest) = base.strip_prefix("http://") {
        (format!("ws://{}/audiocodes", rest.trim_end_matches('/')), Connector::Plain)
    } else if let Some(rest) = base.strip_prefix("https://") {
        let Some(tls) = state.tls.client.clone() else {
            return Err("no TLS roots to verify the owner with (set tls.ca_file)".to_owned());
        };
        (format!("wss://{}/audiocodes", rest.trim_end_matches('/')), Connector::Rustls(tls))
    } else {
        return Err(format!("the owner's address `{base}` is not an http:// or https:// URL"));
    };
    let mut request = url.as_str().into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    let auth = &state.config.auth;
    // Workers prove themselves with their own secret when there is one, so
    // a carrier's token never opens the relay path; without one the relay
    // presents what VoiceAI Connect would.
    if !auth.worker_token.is_empty() {
        let token = HeaderValue::from_str(&auth.worker_token).map_err(|e| e.to_string())?;
        headers.insert(WORKER_TOKEN, token);
    } else if !auth.audiocodes_token.is_empty() {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", auth.audiocodes_token))
            .map_err(|e| e.to_string())?;
        headers.insert(tungstenite::http::header::AUTHORIZATION, bearer);
    }
    let me = HeaderValue::from_str(state.worker.as_str()).map_err(|e| e.to_string())?;
    headers.insert(RELAYED_BY, me);
    let max = state.config.limits.max_frame_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(connector),
    );
    let (mut upstream, _) = timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| format!("no answer from {url} in {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let resume = serde_json::json!({"type": "session.resume", "conversationId": conversation_id});
    upstream.send(WsMessage::text(resume.to_string())).await.map_err(|e| e.to_string())?;
    Ok(upstream)
}

/// Pipes messages between the peer's socket and the owner's until either
/// side closes, fails, or the worker stops its calls.
pub(crate) async fn pipe(state: &AppState, mut socket: WebSocket, mut upstream: Upstream) {
    let mut stop = state.stop_signal();
    let outcome: Result<&str, String> = loop {
        tokio::select! {
            from_peer = socket.recv() => {
                let message = match from_peer {
                    Some(Ok(Message::Text(text))) => WsMessage::text(text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => WsMessage::Binary(bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    // The peer went away: drop the relay socket without a
                    // close handshake, so the owner holds the call for
                    // another resume rather than taking it as a hang-up.
                    Some(Ok(Message::Close(_))) | None => break Ok("the peer closed"),
                    Some(Err(error)) => break Err(error.to_string()),
                };
                match timeout(SEND_TIMEOUT, upstream.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => break Err(format!("to the owner: {error}")),
                    Err(_) => break Err("the owner stopped reading".to_owned()),
                }
            }
            from_owner = upstream.next() => {
                let message = match from_owner {
                    Some(Ok(WsMessage::Text(text))) => Message::Text(text.as_str().into()),
                    Some(Ok(WsMessage::Binary(bytes))) => Message::Binary(bytes),
                    Some(Ok(WsMessage::Close(_))) | None => {
                        let _ = socket.send(Message::Close(None)).await;
                        break Ok("the owner closed");
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => {
                        let _ = socket.send(Message::Close(None)).await;
                        break Err(format!("from the owner: {error}"));
                    }
                };
                match timeout(SEND_TIMEOUT, socket.send(message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => break Err(format!("to the peer: {error}")),
                    Err(_) => break Err("the peer stopped reading".to_owned()),
                }
            }
            _ = stop.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                break Ok("this worker is stopping");
            }
        }
    };
    match outcome {
        Ok(why) => info!(why, "relay ended"),
        Err(error) => debug!(%error, "relay failed"),
    }
}
