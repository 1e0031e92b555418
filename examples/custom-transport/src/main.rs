//! Run with `cargo run -p example-custom-transport`, then connect a client
//! to `ws://127.0.0.1:8080/plain`.
//!
//! A carrier protocol of your own, mounted next to the built-in ones:
//! "plain" carries µ-law audio in JSON text frames.
//!
//! ```text
//! client → server  {"event":"start","call":"c1"}
//!                  {"event":"audio","ulaw":"<base64, 8 kHz>"}
//!                  {"event":"played","mark":"tg3"}      the audio before mark tg3 was heard
//!                  {"event":"stop"}
//! server → client  {"event":"audio","ulaw":"<base64>","mark":"tg3"}
//!                  {"event":"clear"}                   drop what is queued (barge-in)
//!                  {"event":"hangup"}
//! ```
//!
//! `Plain` implements `turngate_telephony::Transport` outside the telephony
//! crate and is registered with `ServerBuilder::transport`; the session,
//! the model and every rule about turns are the stock server's.

mod plain;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use turngate_server::ServerBuilder;
use turngate_server::config::Config;

pub use plain::Plain;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::default();
    let addr = config.listen_addr()?;
    let server = ServerBuilder::new(config)
        .transport("plain", Arc::new(|_| Box::new(Plain::default())))
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    server
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
