//! The configuration reference, generated so it cannot drift from the code:
//! `docs/configuration.md` is this text, and a test says so.

use std::fmt::Write as _;

use super::{Config, ENV_VARS};

/// Every key with its meaning; a test checks that no key lacks one.
pub(super) const KEYS: &[(&str, &str)] = &[
    (
        "listen",
        "Address to listen on. Off loopback the server refuses to start while a served door is unauthenticated (see `auth.allow_unauthenticated`).",
    ),
    (
        "admin_listen",
        "A second address serving only the operator routes (`/calls`, `/metrics`, health); when set, the main address does not serve `/calls`. Empty: the operator routes share `listen`.",
    ),
    (
        "endpoints",
        "Public endpoints served: any of `twilio`, `telnyx`, `audiocodes`, `chat`, `session`, and `openai_sip` (OpenAI's SIP call webhooks at `/openai/webhook`, not served unless listed) (environment: comma-separated). List only what you use: a door not served cannot be attacked.",
    ),
    ("log_format", "`text` for people, `json` for log collectors."),
    (
        "public_url",
        "Externally reachable base URL (`https://bridge.example.com`), for TwiML and Twilio signatures; taken from the request's `Host` when empty.",
    ),
    (
        "advertise_url",
        "How other workers reach this one directly (`http://10.0.0.5:8080`, or `https://…` when its listener serves TLS), to relay a resumed AudioCodes call to the worker that holds it; empty: the listen address when it names one host, else no relaying.",
    ),
    ("drain_timeout_ms", "How long active calls may continue after SIGTERM before they are ended."),
    ("recording_dir", "Directory for per-call WAV recordings (both directions); empty for none."),
    (
        "auth.twilio_auth_token",
        "Checks `X-Twilio-Signature` on `/twilio/voice` and the `/twilio` upgrade; empty: not checked (warned at start).",
    ),
    (
        "auth.telnyx_public_key",
        "Telnyx account public key (base64, 32 bytes) for Call Control webhook signatures; empty: not checked (warned).",
    ),
    (
        "auth.audiocodes_token",
        "Bearer token AudioCodes VoiceAI Connect must present on `/audiocodes`; empty: not checked (warned).",
    ),
    (
        "auth.client_token",
        "Bearer token app clients must present on `/session` and `/chat`; empty: not checked (warned).",
    ),
    (
        "auth.telnyx_stream_token",
        "Token Telnyx must present in `x-telnyx-streaming-auth-token` on the `/telnyx` upgrade (the `stream_auth_token` of the call's `streaming_start` or dial). Also what makes the server trust a stream enough to hang its call up through Call Control. Empty: not checked (warned).",
    ),
    (
        "auth.admin_token",
        "Bearer token operators must present on `/calls` and `/calls/{id}` (transcripts, key presses, tool arguments). Empty: not checked (warned).",
    ),
    (
        "auth.metrics_require_token",
        "Require `auth.admin_token` on `/metrics` too (it reveals counts, never call content).",
    ),
    (
        "auth.worker_token",
        "Secret workers present to each other (`x-turngate-worker-token`) when one relays a resumed AudioCodes call to the worker holding it; must differ from every carrier token. Empty: relays present the AudioCodes token.",
    ),
    (
        "auth.allow_unauthenticated",
        "Serve unauthenticated doors on a non-loopback address anyway (also `--insecure`). Off: the server refuses to start and names each key to set.",
    ),
    (
        "tls.cert_file",
        "PEM certificate chain the listeners present; with `tls.key_file` every listener serves HTTPS/WSS only. Empty: plain HTTP (terminate TLS in front).",
    ),
    ("tls.key_file", "PEM private key of `tls.cert_file`."),
    (
        "tls.ca_file",
        "PEM roots trusted, besides the platform's, when relaying to another worker over an `https://` advertise URL (a private CA).",
    ),
    (
        "openai.api_key",
        "OpenAI (or compatible) API key. Empty: the in-process strict simulators serve every call, and the server says so at start.",
    ),
    (
        "openai.voice_api",
        "`realtime` (the Realtime API, turns gated by turngate) or `live` (GPT-Live, full duplex: the model takes its own turns; greetings, check-ins and the goodbye become instruction appends, and a delegation reaches your tools as a call of `delegate` with the caller's request).",
    ),
    (
        "openai.realtime_url",
        "Full Realtime WebSocket URL, `?model=` included; any Realtime-compatible server.",
    ),
    ("openai.live_url", "GPT-Live primary WebSocket URL, without query parameters."),
    ("openai.live_model", "GPT-Live model, named in `session.start`."),
    (
        "openai.webhook_secret",
        "The signing secret of your OpenAI webhook endpoint (`whsec_…`, from the dashboard), several separated by spaces while a rotation keeps the old one valid: every `POST /openai/webhook` is verified against it as the official SDK does (`webhook-id`, `webhook-timestamp` within 300 s, `webhook-signature`) before its body is read. Also read from the SDK's `OPENAI_WEBHOOK_SECRET`.",
    ),
    (
        "openai.live_delegation",
        "Who does the work a GPT-Live model delegates: `client` (your tools get one call of `delegate` with the caller's request, and its output is spoken, or kept silent once the caller moved on) or `responses` (a backend Responses model, `openai.chat_model`, calls your own tools; each call runs once and is answered once, and the voice model speaks the result).",
    ),
    ("openai.base_url", "REST base URL for the chat APIs, e.g. `http://127.0.0.1:9000/v1`."),
    ("openai.voice", "The agent's voice."),
    ("openai.instructions", "The agent's instructions."),
    (
        "openai.chat_backend",
        "`responses` (Responses + Conversations) or `assistants` (threads and runs, for compatible servers).",
    ),
    (
        "openai.assistant_id",
        "Assistant for the Assistants API; one is created at start when empty.",
    ),
    ("openai.chat_model", "Model for the chat APIs."),
    (
        "openai.transcription_model",
        "Model that transcribes the caller for the call record (the Realtime session's input transcription). Empty: no caller transcript.",
    ),
    (
        "openai.check_models",
        "With an API key: at start, ask `GET {base_url}/models/{model}` about the Realtime model (the `model` of `realtime_url`), the chat model and the transcription model, at most 5 s in all. A model whose announced `shutdown_date` has passed, or that OpenAI's own API (`api.openai.com`) does not know for the key (`model_not_found`), stops the start; one with a shutdown date ahead, or that a compatible server does not list, is warned about at every start; an API that cannot answer is warned about and the start goes on. `false` skips the check (servers without a models endpoint).",
    ),
    (
        "telnyx.api_key",
        "Telnyx API key, used to hang up calls (`POST /calls/{id}/actions/hangup`): closing a Telnyx media stream does not end the call. Empty: the server can only drop the stream (warned).",
    ),
    ("telnyx.api_url", "Telnyx's REST API root."),
    (
        "redis.url",
        "`redis://host:port[/db]`, `rediss://…` or `redis+unix:///path`; empty for the in-memory coordinator (one process).",
    ),
    (
        "redis.prefix",
        "Prefix of every key and channel, so deployments can share one Redis (no braces).",
    ),
    (
        "redis.lease_ttl_ms",
        "How long a call's ownership outlives a worker that stopped renewing it (renewed every third of it, off the media path).",
    ),
    (
        "session.turn_detection",
        "`server`: the model's VAD commits turns; `client`: the transport reports speech and the core commits.",
    ),
    (
        "session.response_mode",
        "`client`: turngate sends every `response.create` (race-free); `server_auto`: the model answers commits itself and turngate adopts its responses.",
    ),
    (
        "session.auto_response_grace_ms",
        "With `server_auto`, how long a turn waits for the model's own response before turngate asks.",
    ),
    ("session.min_commit_ms", "Least audio a commit carries (the API rejects less than 100 ms)."),
    (
        "session.greeting",
        "Instructions for a greeting as soon as the model is ready; none when unset.",
    ),
    (
        "session.barge_in",
        "`off`, `immediate`, or `{ after_speech_ms = N }` (interrupt only after N ms of caller speech).",
    ),
    ("session.dead_air.enabled", "Check in on silence and hang up after the last check-in."),
    ("session.dead_air.timeout_ms", "Silence before a check-in."),
    (
        "session.dead_air.hold_on_timeout_ms",
        "Silence before a check-in after the caller asked for a moment.",
    ),
    (
        "session.dead_air.hold_on_phrases",
        "Phrases (case-insensitive, inside the caller's transcript) that mean \"give me a moment\".",
    ),
    ("session.dead_air.check_in", "Instructions for the check-in response."),
    ("session.dead_air.max_check_ins", "Check-ins before hanging up."),
    ("session.dead_air.hang_up_grace_ms", "Silence after the last check-in before hanging up."),
    ("session.max_call_duration_ms", "Longest call; then the goodbye, then hang-up."),
    (
        "session.goodbye",
        "Instructions for the goodbye at the duration limit; without it the call hangs up at once.",
    ),
    ("session.goodbye_timeout_ms", "How long the goodbye may take before hanging up anyway."),
    (
        "session.ready_timeout_ms",
        "How long the model may take to become ready (at start and after a reconnect) before the call ends.",
    ),
    (
        "session.readiness_buffer_ms",
        "Caller audio held while the model is not ready (the oldest beyond it is dropped and counted), and the most recent uncommitted audio sent again after a dropped model connection.",
    ),
    ("session.create_timeout_ms", "How long a `response.create` may go unanswered."),
    ("session.cancel_timeout_ms", "How long a `response.cancel` may go unanswered."),
    (
        "session.response_timeout_ms",
        "How long a response may generate before it is cancelled and its turns asked again.",
    ),
    ("session.max_attempts", "Times a request is sent before it is dropped (with an event)."),
    ("session.retry_backoff_ms", "Wait before retrying a rejected create; doubles per attempt."),
    (
        "session.playback_grace_ms",
        "How long past its expected end audio may stay unconfirmed before it is assumed heard.",
    ),
    (
        "session.external_playback_timeout_ms",
        "How long a provider-side playback may run without its end signal.",
    ),
    (
        "session.tool_timeout_ms",
        "How long a tool may run before an error output is returned for it.",
    ),
    ("session.outbox_capacity", "Messages kept per session for app clients that reconnect."),
    (
        "session.outbox_max_bytes",
        "Bytes of those messages kept at most (the newest is always kept).",
    ),
    (
        "session.caller_audio_rate",
        "How many times faster than real time caller audio may arrive, sustained; beyond it and the burst the call ends as `policy_violation`.",
    ),
    (
        "session.caller_audio_burst_ms",
        "Caller audio that may arrive at once beyond that rate (a stalled stream flushing its buffer).",
    ),
    ("session.client_grace_ms", "How long a session outlives its last app client."),
    (
        "session.end_when_clients_gone",
        "End the session when the last app client is gone for the grace period.",
    ),
    ("chat.queue_depth", "Requests waiting per conversation before new ones get HTTP 429."),
    ("chat.request_timeout_ms", "How long one `/chat` request may wait and run before HTTP 504."),
    (
        "chat.max_conversations",
        "Conversations whose upstream ids a worker keeps in memory; the least recently used beyond it is forgotten (and looked up in the coordinator again when it returns).",
    ),
    (
        "chat.conversation_idle_ms",
        "How long a conversation's in-memory state outlives its last message.",
    ),
    ("limits.max_frame_bytes", "Largest WebSocket message accepted."),
    ("limits.max_body_bytes", "Largest HTTP request body accepted."),
    (
        "limits.max_messages_per_second",
        "WebSocket messages per second one connection may send (a 20 ms media stream sends 50).",
    ),
    ("limits.max_calls", "Concurrent calls before new ones are refused."),
    (
        "limits.handshake_timeout_ms",
        "How long an app client on `/session` has to acknowledge `ready`.",
    ),
    (
        "limits.resume_window_ms",
        "How long a call whose socket dropped waits for the peer to reconnect and resume it \
         (AudioCodes `session.resume`); 0 ends it at once.",
    ),
    (
        "limits.resume_quiet_ms",
        "A resume for a call whose socket still looks open is refused unless that socket has sent nothing for this long (it is half-open).",
    ),
    (
        "limits.write_timeout_ms",
        "Longest one write to a caller, app client or worker socket may take; a peer that stops reading is disconnected and its call ends as `peer_not_reading`.",
    ),
    (
        "limits.max_connections",
        "Concurrent TCP connections; beyond it new ones are closed at once.",
    ),
    (
        "limits.max_pending_upgrades_per_ip",
        "WebSocket connections from one IP address that have not yet started a call or session.",
    ),
    (
        "limits.header_read_timeout_ms",
        "How long a client may take to send a request's headers; also how long an idle keep-alive connection is kept.",
    ),
    ("limits.body_read_timeout_ms", "How long a client may take to send a request's body."),
    ("limits.max_sessions", "App sessions (`/session`) live at once on this worker."),
    ("limits.max_client_connections", "App-client connections open at once on this worker."),
];

/// The Markdown reference of every key, its default and its variable.
pub fn reference() -> String {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut text = String::from(
        "# Configuration\n\n\
         <!-- Generated from crates/turngate-server/src/config; `TURNGATE_BLESS=1 cargo test -p turngate-server config` rewrites it. -->\n\n\
         The server reads, in this order, each overriding the one before:\n\n\
         1. a TOML file (`--config <path>` or `TURNGATE_CONFIG`);\n\
         2. environment variables;\n\
         3. command-line flags (`--listen`, `--redis-url`, `--log-format`, `--insecure`).\n\n\
         Unknown keys and invalid values stop the server at start with a message naming the key.\n\
         Durations are whole milliseconds (keys ending in `_ms`).\n\n\
         ## Environment variables\n\n\
         | variable | sets |\n| --- | --- |\n",
    );
    for var in ENV_VARS {
        let _ = writeln!(text, "| `{}` | `{}` |", var.name, var.key);
    }
    text.push_str("\n## Keys\n\n| key | default | meaning |\n| --- | --- | --- |\n");
    for (key, meaning) in KEYS {
        let default = lookup(&defaults, key).map_or_else(|| "(not set)".to_owned(), shown);
        let _ = writeln!(text, "| `{key}` | {default} | {meaning} |");
    }
    text
}

pub(super) fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

fn shown(value: &toml::Value) -> String {
    let text = match value {
        toml::Value::String(s) if s.is_empty() => return "(empty)".to_owned(),
        toml::Value::Array(items) if items.len() > 3 => format!("{} phrases", items.len()),
        other => other.to_string(),
    };
    let text = if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    };
    format!("`{}`", text.replace('|', "\\|"))
}
