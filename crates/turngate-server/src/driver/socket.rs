//! Writing to a caller's socket, every write bounded in time.
//!
//! A peer that stops reading fills its TCP window and then our send
//! buffer; after that a write waits for as long as the peer likes. Every
//! write here has a deadline, so a call's task is never held by its peer:
//! a burst that cannot be written in `limits.write_timeout` ends the call
//! as `peer_not_reading`, and nothing more is written to that socket.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt as _;
use tokio::time::timeout;
use turngate_telephony::OutFrame;

/// The WebSocket close code for a peer that broke the rules (RFC 6455 §7.4.1).
pub(crate) const POLICY_VIOLATION: u16 = 1008;
/// The close code for a server that will not serve the connection now.
pub(crate) const TRY_AGAIN_LATER: u16 = 1013;
/// A close frame's reason has to fit in 123 bytes.
const MAX_REASON: usize = 123;

/// Why a write did not go out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// The socket failed or is closed.
    #[error("the socket failed: {0}")]
    Failed(String),
    /// The peer did not take the bytes within the deadline.
    #[error("the peer read nothing for {0:?}")]
    Stalled(Duration),
}

/// Sends `frames` in order within `limit`, leaving the vector empty for
/// reuse: every message is fed to the socket and the burst is flushed
/// once, so a `Play` (audio, then its mark) costs one write, not one per
/// message.
pub(crate) async fn send_frames(
    socket: &mut WebSocket,
    frames: &mut Vec<OutFrame>,
    limit: Duration,
) -> Result<(), SendError> {
    send_frames_closing(socket, frames, limit, None).await
}

/// [`send_frames`], with the code and reason a close among the frames
/// carries (a call ended for breaking a rule says which).
pub(crate) async fn send_frames_closing(
    socket: &mut WebSocket,
    frames: &mut Vec<OutFrame>,
    limit: Duration,
    close: Option<(u16, &str)>,
) -> Result<(), SendError> {
    let outcome = timeout(limit, write_all(socket, frames, close)).await;
    frames.clear();
    outcome.unwrap_or(Err(SendError::Stalled(limit)))
}

async fn write_all(
    socket: &mut WebSocket,
    frames: &mut Vec<OutFrame>,
    close: Option<(u16, &str)>,
) -> Result<(), SendError> {
    let failed = |e: axum::Error| SendError::Failed(e.to_string());
    let mut pending = false;
    for frame in frames.drain(..) {
        match frame {
            OutFrame::Text(text) => {
                socket.feed(Message::Text(text.into())).await.map_err(failed)?;
                pending = true;
            }
            // `HangUpViaApi` is carried out by the call (it needs the
            // provider's API); on the socket it closes like `Close`.
            OutFrame::Close | OutFrame::HangUpViaApi => {
                // Sending the close flushes whatever was fed before it.
                let frame = close.map(|(code, reason)| close_frame(code, reason));
                let _ = socket.send(Message::Close(frame)).await;
                pending = false;
            }
        }
    }
    if pending {
        socket.flush().await.map_err(failed)?;
    }
    Ok(())
}

/// Closes the socket with `code` and `reason`, waiting at most `limit`.
pub(crate) async fn close(socket: &mut WebSocket, code: u16, reason: &str, limit: Duration) {
    let _ = timeout(limit, socket.send(Message::Close(Some(close_frame(code, reason))))).await;
}

/// A close frame, its reason cut to what the frame can carry.
fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let cut =
        (0..=reason.len().min(MAX_REASON)).rev().find(|&i| reason.is_char_boundary(i)).unwrap_or(0);
    CloseFrame { code, reason: reason.get(..cut).unwrap_or_default().into() }
}

/// Closes the socket without a reason, waiting at most `limit`.
pub(crate) async fn close_plain(socket: &mut WebSocket, limit: Duration) {
    let _ = timeout(limit, socket.send(Message::Close(None))).await;
}
