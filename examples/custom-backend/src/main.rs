//! Run with `cargo run -p example-custom-backend` (then point a Twilio,
//! Telnyx or AudioCodes stream at `ws://127.0.0.1:8080/twilio` etc.).
//!
//! A speech-to-speech backend that is not OpenAI: "Parrot" answers every
//! response request with a short tone. It implements `RealtimeBackend`
//! outside the provider crates and is registered through
//! `ServerBuilder::realtime`; everything else (transports, the turn gate,
//! barge-in, dead air) is the stock server. Parrot has no voice activity
//! detection of its own, so the session commits turns itself, from the
//! server's local VAD (`turn_detection = "client"`).

mod parrot;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use turngate_core::TurnDetection;
use turngate_server::ServerBuilder;
use turngate_server::config::Config;

pub use parrot::Parrot;

/// The stock configuration, adapted to a backend without server-side VAD.
pub fn config() -> Config {
    let mut config = Config::default();
    config.session.turn_detection = TurnDetection::Client;
    config
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = config();
    let addr = config.listen_addr()?;
    let server = ServerBuilder::new(config).realtime(Arc::new(Parrot)).build().await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    server
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
