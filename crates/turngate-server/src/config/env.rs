//! Environment variables: each sets one configuration key.

use super::{ChatBackendKind, Config, ConfigError, LiveDelegationMode, LogFormat, VoiceApi};

/// One environment variable the server reads.
#[derive(Clone, Copy, Debug)]
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// The configuration key it sets.
    pub key: &'static str,
}

/// Every variable, in the order the reference lists them. `TURNGATE_CONFIG`
/// names the file and is read by [`Config::load`] itself.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar { name: "TURNGATE_CONFIG", key: "(the configuration file)" },
    EnvVar { name: "TURNGATE_LISTEN", key: "listen" },
    EnvVar { name: "TURNGATE_ADMIN_LISTEN", key: "admin_listen" },
    EnvVar { name: "TURNGATE_ENDPOINTS", key: "endpoints" },
    EnvVar { name: "TURNGATE_LOG_FORMAT", key: "log_format" },
    EnvVar { name: "TURNGATE_PUBLIC_URL", key: "public_url" },
    EnvVar { name: "TURNGATE_ADVERTISE_URL", key: "advertise_url" },
    EnvVar { name: "OPENAI_API_KEY", key: "openai.api_key" },
    EnvVar { name: "TURNGATE_VOICE_API", key: "openai.voice_api" },
    EnvVar { name: "TURNGATE_REALTIME_URL", key: "openai.realtime_url" },
    EnvVar { name: "TURNGATE_LIVE_URL", key: "openai.live_url" },
    EnvVar { name: "TURNGATE_LIVE_MODEL", key: "openai.live_model" },
    EnvVar { name: "TURNGATE_LIVE_DELEGATION", key: "openai.live_delegation" },
    EnvVar { name: "OPENAI_WEBHOOK_SECRET", key: "openai.webhook_secret" },
    EnvVar { name: "TURNGATE_OPENAI_WEBHOOK_SECRET", key: "openai.webhook_secret" },
    EnvVar { name: "TURNGATE_OPENAI_BASE_URL", key: "openai.base_url" },
    EnvVar { name: "TURNGATE_CHAT_BACKEND", key: "openai.chat_backend" },
    EnvVar { name: "TURNGATE_ASSISTANT_ID", key: "openai.assistant_id" },
    EnvVar { name: "TURNGATE_CHAT_MODEL", key: "openai.chat_model" },
    EnvVar { name: "TURNGATE_TRANSCRIPTION_MODEL", key: "openai.transcription_model" },
    EnvVar { name: "TURNGATE_REDIS_URL", key: "redis.url" },
    EnvVar { name: "TURNGATE_TWILIO_AUTH_TOKEN", key: "auth.twilio_auth_token" },
    EnvVar { name: "TURNGATE_TELNYX_PUBLIC_KEY", key: "auth.telnyx_public_key" },
    EnvVar { name: "TURNGATE_AUDIOCODES_TOKEN", key: "auth.audiocodes_token" },
    EnvVar { name: "TURNGATE_TELNYX_API_KEY", key: "telnyx.api_key" },
    EnvVar { name: "TURNGATE_CLIENT_TOKEN", key: "auth.client_token" },
    EnvVar { name: "TURNGATE_TELNYX_STREAM_TOKEN", key: "auth.telnyx_stream_token" },
    EnvVar { name: "TURNGATE_ADMIN_TOKEN", key: "auth.admin_token" },
    EnvVar { name: "TURNGATE_WORKER_TOKEN", key: "auth.worker_token" },
    EnvVar { name: "TURNGATE_RECORDING_DIR", key: "recording_dir" },
    EnvVar { name: "TURNGATE_TLS_CERT_FILE", key: "tls.cert_file" },
    EnvVar { name: "TURNGATE_TLS_KEY_FILE", key: "tls.key_file" },
    EnvVar { name: "TURNGATE_TLS_CA_FILE", key: "tls.ca_file" },
];

/// Applies every variable that is set.
pub(super) fn apply(
    config: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for var in ENV_VARS {
        let Some(value) = env(var.name) else { continue };
        let bad = |problem: String| ConfigError::new(var.name, var.key, problem);
        match var.name {
            "TURNGATE_LISTEN" => config.listen = value,
            "TURNGATE_ADMIN_LISTEN" => config.admin_listen = value,
            // A comma-separated list: `twilio,audiocodes`.
            "TURNGATE_ENDPOINTS" => {
                config.endpoints = value
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "TURNGATE_LOG_FORMAT" => {
                config.log_format = match value.as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => return Err(bad(format!("`{other}` is neither `text` nor `json`"))),
                };
            }
            "TURNGATE_PUBLIC_URL" => config.public_url = value,
            "TURNGATE_ADVERTISE_URL" => config.advertise_url = value,
            "OPENAI_API_KEY" => config.openai.api_key = value,
            "TURNGATE_VOICE_API" => {
                config.openai.voice_api = match value.as_str() {
                    "realtime" => VoiceApi::Realtime,
                    "live" => VoiceApi::Live,
                    other => {
                        return Err(bad(format!("`{other}` is neither `realtime` nor `live`")));
                    }
                };
            }
            "TURNGATE_REALTIME_URL" => config.openai.realtime_url = value,
            "TURNGATE_LIVE_URL" => config.openai.live_url = value,
            "TURNGATE_LIVE_MODEL" => config.openai.live_model = value,
            // The SDK's own variable, and ours; ours wins when both are set,
            // since it comes later in the table.
            "TURNGATE_OPENAI_WEBHOOK_SECRET" | "OPENAI_WEBHOOK_SECRET" => {
                config.openai.webhook_secret = value;
            }
            "TURNGATE_LIVE_DELEGATION" => {
                config.openai.live_delegation = match value.as_str() {
                    "client" => LiveDelegationMode::Client,
                    "responses" => LiveDelegationMode::Responses,
                    other => {
                        return Err(bad(format!("`{other}` is neither `client` nor `responses`")));
                    }
                };
            }
            "TURNGATE_OPENAI_BASE_URL" => config.openai.base_url = value,
            "TURNGATE_CHAT_BACKEND" => {
                config.openai.chat_backend = match value.as_str() {
                    "responses" => ChatBackendKind::Responses,
                    "assistants" => ChatBackendKind::Assistants,
                    other => {
                        return Err(bad(format!(
                            "`{other}` is neither `responses` nor `assistants`"
                        )));
                    }
                };
            }
            "TURNGATE_ASSISTANT_ID" => config.openai.assistant_id = value,
            "TURNGATE_CHAT_MODEL" => config.openai.chat_model = value,
            "TURNGATE_TRANSCRIPTION_MODEL" => config.openai.transcription_model = value,
            "TURNGATE_REDIS_URL" => config.redis.url = value,
            "TURNGATE_TWILIO_AUTH_TOKEN" => config.auth.twilio_auth_token = value,
            "TURNGATE_TELNYX_PUBLIC_KEY" => config.auth.telnyx_public_key = value,
            "TURNGATE_AUDIOCODES_TOKEN" => config.auth.audiocodes_token = value,
            "TURNGATE_TELNYX_API_KEY" => config.telnyx.api_key = value,
            "TURNGATE_CLIENT_TOKEN" => config.auth.client_token = value,
            "TURNGATE_TELNYX_STREAM_TOKEN" => config.auth.telnyx_stream_token = value,
            "TURNGATE_ADMIN_TOKEN" => config.auth.admin_token = value,
            "TURNGATE_WORKER_TOKEN" => config.auth.worker_token = value,
            "TURNGATE_RECORDING_DIR" => config.recording_dir = value,
            "TURNGATE_TLS_CERT_FILE" => config.tls.cert_file = value,
            "TURNGATE_TLS_KEY_FILE" => config.tls.key_file = value,
            "TURNGATE_TLS_CA_FILE" => config.tls.ca_file = value,
            _ => {}
        }
    }
    Ok(())
}
