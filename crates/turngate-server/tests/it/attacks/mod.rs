//! Attacks on every door, performed against the real server over real
//! sockets, each asserting that it fails and that the legitimate call it
//! aimed at keeps being served.
//!
//! Most run against a server configured with every documented secret
//! ([`hardened`]); the attacks that need an insider (a peer holding a
//! valid token, or the development setup without tokens) say so.

mod bounds;
mod doors;
mod failures;
mod isolation;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use turngate_server::config::Config;

use crate::support::config;

pub(crate) const TWILIO_TOKEN: &str = "twilio-auth-token";
pub(crate) const TELNYX_STREAM_TOKEN: &str = "telnyx-stream-token";
pub(crate) const AUDIOCODES_TOKEN: &str = "audiocodes-token";
pub(crate) const CLIENT_TOKEN: &str = "client-token";
pub(crate) const ADMIN_TOKEN: &str = "admin-token";
pub(crate) const WORKER_TOKEN: &str = "worker-token";
pub(crate) const PUBLIC_URL: &str = "https://bridge.example.com";

/// The Telnyx account key the hardened server trusts.
pub(crate) fn telnyx_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Every documented secret set, as a deployment facing the internet has.
pub(crate) fn hardened() -> Config {
    let mut config = config();
    let auth = &mut config.auth;
    auth.twilio_auth_token = TWILIO_TOKEN.to_owned();
    auth.telnyx_public_key =
        base64::engine::general_purpose::STANDARD.encode(telnyx_key().verifying_key().as_bytes());
    auth.telnyx_stream_token = TELNYX_STREAM_TOKEN.to_owned();
    auth.audiocodes_token = AUDIOCODES_TOKEN.to_owned();
    auth.client_token = CLIENT_TOKEN.to_owned();
    auth.admin_token = ADMIN_TOKEN.to_owned();
    auth.worker_token = WORKER_TOKEN.to_owned();
    config.public_url = PUBLIC_URL.to_owned();
    config
}

/// The headers a legitimate carrier puts on its upgrade to the hardened
/// server.
pub(crate) fn carrier_headers(path: &str) -> Vec<(String, String)> {
    match path {
        "/twilio" => {
            let validator = turngate_telephony::twilio::RequestValidator::new(TWILIO_TOKEN);
            let url = format!("{}/twilio", PUBLIC_URL.replace("https://", "wss://"));
            vec![("X-Twilio-Signature".to_owned(), validator.sign(&url, &[]))]
        }
        "/telnyx" => {
            vec![("x-telnyx-streaming-auth-token".to_owned(), TELNYX_STREAM_TOKEN.to_owned())]
        }
        "/audiocodes" => {
            vec![("Authorization".to_owned(), format!("Bearer {AUDIOCODES_TOKEN}"))]
        }
        other => panic!("no carrier at {other}"),
    }
}
