//! Serving the router on a listener with every wait bounded.
//!
//! `axum::serve` has no header read timeout and no connection cap, so a
//! peer could hold thousands of half-open connections for free. This loop
//! accepts connections itself and serves each with hyper's HTTP/1 server:
//!
//! - at most `limits.max_connections` HTTP connections at once; the next
//!   one is closed as soon as it is accepted (and counted), so the accept
//!   queue never fills with connections nobody will serve;
//! - the request head must arrive within `limits.header_read_timeout`,
//!   which hyper also applies to an idle keep-alive connection waiting for
//!   its next request;
//! - request bodies must arrive within `limits.body_read_timeout` (see
//!   [`read_body_in_time`]);
//! - every request carries the peer's address ([`Peer`]), for per-address
//!   limits;
//! - TCP_NODELAY on every socket: media messages are small and latency
//!   bound, and without it a message written while an earlier one is
//!   unacknowledged waits for the peer's delayed ACK (measured up to 20 ms
//!   on the first audio after a speech event).
//!
//! A connection that upgrades to a WebSocket leaves this loop's count: the
//! call, session or relay it becomes is counted by its own limit.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// How long open connections get to finish once the server stops.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// The pause after an accept error (out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The address a request came from, when it came over a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// The peer of a request, if known (tests may call the router without a
/// socket).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub(crate) Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(parts.extensions.get::<Peer>().map(|peer| peer.0)))
    }
}

/// What bounds the HTTP side of a listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HttpLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
}

/// How a listener serves: its limits, TLS if any, where it counts.
pub(crate) struct Serving {
    pub(crate) limits: HttpLimits,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) metrics: Arc<Metrics>,
}

/// Serves `app` on `listener` until `stop` completes; then stops
/// accepting, asks open connections to finish, and returns once they have
/// or after a short grace. With TLS, the handshake must finish within the
/// header read timeout too.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    serving: Serving,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let Serving { limits, tls, metrics } = serving;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut stop => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics.connections_refused.inc();
            debug!(%peer, "too many connections; closing this one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let closing = closing_rx.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_one(stream, peer, app, limits, closing).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => serve_one(stream, peer, app, limits, closing).await,
                        Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake too slow"),
                    }
                }
            }
            drop(permit);
        });
    }
    let _ = closing.send(true);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(CLOSE_GRACE + Duration::from_secs(1), finished).await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

/// Serves one connection, plain or TLS, until it ends or the server stops.
async fn serve_one<I>(
    stream: I,
    peer: SocketAddr,
    app: Router,
    limits: HttpLimits,
    mut closing: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(Peer(peer));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                debug!(%peer, %error, "connection ended with an error");
            }
        }
        _ = closing.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
        }
    }
}

/// What [`read_body_in_time`] needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    pub(crate) max_bytes: usize,
    pub(crate) timeout: Duration,
}

/// Reads a request's whole body within the deadline before the handler
/// sees it, so a client that sends its headers and then trickles (or
/// withholds) the body cannot hold a handler, and a body over the size
/// limit is refused before it is buffered. Every body this server accepts
/// is small and read whole anyway.
pub(crate) async fn read_body_in_time(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over {} bytes\n", limits.max_bytes),
        )
            .into_response()
    };
    if declared.is_some_and(|len| len > limits.max_bytes as u64) {
        return too_large();
    }
    match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(_)) if declared.is_none() => too_large(),
        Ok(Err(error)) => {
            (StatusCode::BAD_REQUEST, format!("the request body could not be read: {error}\n"))
                .into_response()
        }
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} ms\n", limits.timeout.as_millis()),
        )
            .into_response(),
    }
}
