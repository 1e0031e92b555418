//! Hanging up calls whose media stream cannot: Telnyx Call Control.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tracing::{debug, warn};

use crate::state::AppState;

/// Asks Telnyx to hang up `call_control_id`, without waiting for it. The
/// command id makes a retried request a no-op at Telnyx.
pub(crate) fn telnyx(state: &AppState, call_control_id: &str) {
    let settings = &state.config.telnyx;
    if settings.api_key.is_empty() {
        warn!("telnyx.api_key is not set: the media stream is closed, but the call stays up");
        return;
    }
    let url = format!(
        "{}/calls/{}/actions/hangup",
        settings.api_url.trim_end_matches('/'),
        path_segment(call_control_id)
    );
    let body = json!({ "command_id": format!("turngate-hangup-{call_control_id}") });
    let request = state
        .http
        .post(url)
        .bearer_auth(&settings.api_key)
        .json(&body)
        .timeout(Duration::from_secs(5));
    tokio::spawn(async move {
        match request.send().await {
            Ok(response) if response.status().is_success() => debug!("Telnyx hung the call up"),
            // 422 with code 90018: the call had already ended.
            Ok(response) if response.status() == StatusCode::UNPROCESSABLE_ENTITY => {
                debug!("Telnyx says the call had already ended");
            }
            Ok(response) => {
                warn!(status = %response.status(), "Telnyx refused to hang up the call");
            }
            Err(error) => warn!(%error, "the Telnyx hang-up request failed"),
        }
    });
}

/// Percent-encodes what a path segment cannot carry as is.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn call_control_ids_keep_their_colon_and_lose_slashes() {
        assert_eq!(super::path_segment("v3:abc-DEF_1"), "v3:abc-DEF_1");
        assert_eq!(super::path_segment("a/b?c"), "a%2Fb%3Fc");
    }
}
