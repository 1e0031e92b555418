//! Telnyx as a webhook sender: every event signed, retried on any answer
//! but 2xx until it is taken (Telnyx retries failed deliveries), each
//! retry carrying the same event id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use turngate_sim::callers::{PlaybackStatus, TelnyxEvent, TelnyxWebhook, telnyx_call_control_id};

use crate::rig::{Worker, telnyx_key};

/// How often a refused delivery is tried again.
const RETRY_EVERY: Duration = Duration::from_millis(700);

/// One event, and how its delivery went.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// `data.id`, which the owner's timeline names.
    pub(crate) event_id: String,
    /// Attempts made, and whether one was taken.
    pub(crate) attempts: u32,
    pub(crate) taken: bool,
}

/// Sends a `call.playback.ended` for `call_id` (a playback nothing started,
/// so the session only records it) to `worker`, until it is taken or
/// `deadline` passes.
pub(crate) async fn deliver(worker: &Worker, call_id: &str, deadline: Instant) -> Delivery {
    let mut webhook = TelnyxWebhook::new(
        TelnyxEvent::PlaybackEnded { status: PlaybackStatus::Completed },
        call_id,
    );
    webhook.call_control_id = telnyx_call_control_id(call_id);
    let mut delivery = Delivery { event_id: webhook.id.clone(), attempts: 0, taken: false };
    while Instant::now() < deadline {
        delivery.attempts += 1;
        webhook.attempt = delivery.attempts;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let signed = webhook.sign(&telnyx_key(), now);
        let sent = worker
            .http
            .post(worker.url("/telnyx/webhook"))
            .header("telnyx-signature-ed25519", signed.signature)
            .header("telnyx-timestamp", signed.timestamp)
            .body(signed.body)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            delivery.taken = true;
            return delivery;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
    delivery
}
