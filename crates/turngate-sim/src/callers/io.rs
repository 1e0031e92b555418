//! The callers' only IO: the WebSocket to the bot and the call's clock.
//!
//! One task per call: it connects, then loops over the bot's messages, a
//! 20 ms tick (missed ticks are caught up in a burst so the caller's audio
//! keeps its real-time rate) and the call's next deadline (mark echoes,
//! answer timeouts), and writes whatever the call queued with one flush
//! per burst. Every wait is bounded: the connection, each write, the close.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::audiocodes::{AudioCodes, check_validated};
use super::call::{Call, Carrier, Outgoing, Shared};
use super::config::{CallerConfig, Protocol};
use super::error::CallerError;
use super::human::{FRAME, Human};
use super::ids::Rng;
use super::report::{CallReport, CallerEvent, Recorder};
use super::telnyx::Telnyx;
use super::twilio::Twilio;

/// The longest the TCP connection plus the WebSocket upgrade may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one burst of writes may take before the call counts the
/// socket as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the close handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// tungstenite zero-fills its whole read buffer per read (its default is
/// 128 KiB, `WebSocketConfig::read_buffer_size` in the tungstenite docs), so
/// a small one makes every message cheaper.
const READ_BUFFER: usize = 4 * 1024;
/// The largest message accepted from a bot: 30 s of PCM16 at 24 kHz in
/// base64 with room to spare.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// Places one call as `config` says and returns what it saw.
///
/// Errors only when no call could be placed (bad configuration, nothing
/// listening, the upgrade refused). Everything after the WebSocket opens,
/// including the bot breaking rules or vanishing, is in the report.
pub async fn run(config: CallerConfig) -> Result<CallReport, CallerError> {
    config.validate()?;
    let started = Instant::now();
    let call_id = if config.call_id.is_empty() {
        generated_call_id(config.seed)
    } else {
        config.call_id.clone()
    };
    let mut rng = Rng::for_call(config.seed, &call_id);
    let validation =
        if config.protocol == Protocol::AudioCodes && config.audiocodes.validate_connection {
            Some(validate(&config, started).await?)
        } else {
            None
        };
    let (addr, request) = request(&config)?;
    let ws = connect(&addr, request, config.timeout.min(CONNECT_TIMEOUT)).await?;
    let human = Human::new(config.script.clone());
    let report = match config.protocol {
        Protocol::Twilio => {
            let carrier = Twilio::new(&call_id, &config.custom_parameters, &mut rng);
            drive(carrier, human, ws, &config, started, validation).await
        }
        Protocol::Telnyx => {
            let carrier = Telnyx::new(
                &call_id,
                &config.from,
                &config.to,
                &config.custom_parameters,
                config.telnyx.clone(),
                rng,
            );
            drive(carrier, human, ws, &config, started, validation).await
        }
        Protocol::AudioCodes => {
            let carrier =
                AudioCodes::new(&call_id, &config.from, &config.to, config.audiocodes.clone(), rng);
            drive(carrier, human, ws, &config, started, validation).await
        }
    };
    Ok(report)
}

/// A call id for a configuration without one, distinct within the process.
fn generated_call_id(seed: u64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::for_call(seed ^ n.rotate_left(32), "generated");
    format!("sim-{n}-{}", rng.hex(8))
}

/// The host and port to dial, and the upgrade request with the headers.
fn request(config: &CallerConfig) -> Result<(String, Request), CallerError> {
    let url_error = |reason: String| CallerError::Url { url: config.url.clone(), reason };
    let mut request =
        config.url.as_str().into_client_request().map_err(|e| url_error(e.to_string()))?;
    let uri = request.uri();
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => {
            return Err(url_error(
                "TLS (wss://) is not supported; callers speak plain ws://".to_owned(),
            ));
        }
        _ => return Err(url_error("the scheme must be ws://".to_owned())),
    }
    let host = uri.host().ok_or_else(|| url_error("no host".to_owned()))?;
    // An IPv6 literal keeps its brackets in `host()`, as `connect` wants.
    let addr = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    for (name, value) in &config.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| CallerError::Config(format!("header `{name}`: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| CallerError::Config(format!("header `{name}` value: {e}")))?;
        request.headers_mut().append(name, value);
    }
    Ok((addr, request))
}

async fn connect(
    addr: &str,
    request: Request,
    limit: Duration,
) -> Result<WebSocketStream<TcpStream>, CallerError> {
    let timed_out = || CallerError::ConnectTimeout { addr: addr.to_owned(), after: limit };
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| CallerError::Connect { addr: addr.to_owned(), source })?;
        // Media frames are small and latency-bound: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
            Ok((ws, _response)) => Ok(ws),
            Err(WsError::Http(response)) => {
                Err(CallerError::Refused { status: response.status().as_u16() })
            }
            Err(error) => Err(CallerError::Handshake(error.to_string())),
        }
    };
    tokio::time::timeout(limit, attempt).await.map_err(|_| timed_out())?
}

/// Live Hub's "validate bot connection": its own WebSocket, one
/// `connection.validate`, and the bot's answer judged. Returns when it
/// ended and the rule broken, if any.
async fn validate(config: &CallerConfig, started: Instant) -> Result<Validation, CallerError> {
    let (addr, request) = request(config)?;
    let mut ws = connect(&addr, request, config.timeout.min(CONNECT_TIMEOUT)).await?;
    let limit = config.audiocodes.answer_timeout;
    let exchange = async {
        ws.send(Message::text(r#"{"type":"connection.validate"}"#))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return check_validated(text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    return Err("a binary frame in answer to connection.validate".to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    return Err(format!("the socket failed before connection.validated: {error}"));
                }
                None => return Err("the socket closed before connection.validated".to_owned()),
            }
        }
    };
    let outcome = match tokio::time::timeout(limit, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no connection.validated within {} ms", limit.as_millis())),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    Ok((Instant::now().saturating_duration_since(started), outcome))
}

/// When a validation connection ended, and the rule it found broken.
type Validation = (Duration, Result<(), String>);

async fn drive<C: Carrier>(
    carrier: C,
    human: Human,
    ws: WebSocketStream<TcpStream>,
    config: &CallerConfig,
    started: Instant,
    validation: Option<Validation>,
) -> CallReport {
    let mut rec =
        Recorder::new(config.protocol, carrier.call_ref().to_owned(), config.detailed_timeline);
    match validation {
        Some((at, Ok(()))) => rec.event(at, CallerEvent::ConnectionValidated),
        Some((at, Err(violation))) => rec.violation(at, violation),
        None => {}
    }
    let shared = Shared::new(rec, config.observer.clone());
    let mut call = Call::new(carrier, human, shared, config.timeout);
    let since = |at: Instant| at.saturating_duration_since(started);

    let now = Instant::now();
    call.open(since(now), now.into_std());
    let mut ws = Some(ws);
    let mut closing = write(&mut ws, &mut call, started).await;

    let mut ticker = tokio::time::interval_at(Instant::now(), FRAME);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let far = started + config.timeout + Duration::from_secs(3600);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);

    let mut armed = far;
    while !call.is_over() {
        if call.wants_socket() {
            // The line comes back: a new socket, on which the carrier
            // resumes the call.
            let opened = match request(config) {
                Ok((addr, request)) => {
                    connect(&addr, request, config.timeout.min(CONNECT_TIMEOUT)).await
                }
                Err(error) => Err(error),
            };
            let now = Instant::now();
            match opened {
                Ok(new) => {
                    ws = Some(new);
                    call.reopened(since(now), now.into_std());
                }
                Err(error) => call.closed(since(now), now.into_std(), Some(error.to_string())),
            }
            closing |= write(&mut ws, &mut call, started).await;
            continue;
        }
        let deadline = call.next_deadline().map(|d| started + d);
        // Re-arming a timer costs a trip through the timer wheel; most loop
        // turns (a tick, a media message) leave the deadline where it was.
        if deadline.unwrap_or(far) != armed {
            armed = deadline.unwrap_or(far);
            sleep.as_mut().reset(armed);
        }
        tokio::select! {
            message = next_message(&mut ws) => {
                let now = Instant::now();
                let (at, instant) = (since(now), now.into_std());
                match message {
                    Some(Ok(Message::Text(text))) => call.text(at, instant, text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => call.binary(at, instant, bytes.len()),
                    // tungstenite answers pings itself on the next write.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_))) => call.closed(at, instant, None),
                    Some(Err(error)) => call.closed(at, instant, Some(error.to_string())),
                    None => call.closed(at, instant, Some("the socket ended without a close frame".to_owned())),
                }
            }
            tick = ticker.tick() => call.tick(since(tick), tick.into_std()),
            () = &mut sleep, if deadline.is_some() => {
                let now = Instant::now();
                call.poll(since(now), now.into_std());
            }
        }
        closing |= write(&mut ws, &mut call, started).await;
    }
    // Whoever ended the call, finish the close handshake (bounded) so the
    // bot sees a clean close rather than a reset.
    if let Some(mut ws) = ws {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if !closing {
                let _ = ws.close(None).await;
            }
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
    }
    call.finish(since(Instant::now()))
}

/// The next message on the socket; never, while there is none.
async fn next_message(
    ws: &mut Option<WebSocketStream<TcpStream>>,
) -> Option<Result<Message, WsError>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

/// Writes what the call queued, with one flush. Returns whether a close
/// frame went out. A write that fails or stalls ends the call.
async fn write<C: Carrier>(
    socket: &mut Option<WebSocketStream<TcpStream>>,
    call: &mut Call<C>,
    started: Instant,
) -> bool {
    let mut closed = false;
    let mut wrote = false;
    let mut dropped = false;
    let Some(ws) = socket.as_mut() else {
        // No socket while the line is down: nothing can be queued but a
        // close, which has nothing to close.
        call.outgoing().for_each(drop);
        return false;
    };
    let result = tokio::time::timeout(WRITE_TIMEOUT, async {
        for outgoing in call.outgoing() {
            match outgoing {
                Outgoing::Text(text) => {
                    ws.feed(Message::text(text)).await?;
                    wrote = true;
                }
                Outgoing::Close => {
                    ws.close(None).await?;
                    closed = true;
                }
                Outgoing::Drop => {
                    dropped = true;
                    break;
                }
            }
        }
        if wrote && !closed {
            ws.flush().await?;
        }
        Ok::<(), WsError>(())
    })
    .await;
    if dropped {
        // Gone without a close frame, as a broken line leaves it.
        *socket = None;
        return false;
    }
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(_) => Some(format!("writing to the socket stalled for {WRITE_TIMEOUT:?}")),
    };
    if let Some(reason) = failure
        && !call.is_over()
    {
        let now = Instant::now();
        call.closed(now.saturating_duration_since(started), now.into_std(), Some(reason));
    }
    closed
}
