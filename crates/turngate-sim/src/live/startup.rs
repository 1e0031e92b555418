//! The checks of a `session.start` config beyond its schema, and the
//! session resource it resolves to.

// Reading a `serde_json::Value` by key yields `Null` for a missing key and
// never panics; the only writes index objects built a few lines above.
#![allow(clippy::indexing_slicing, reason = "serde_json::Value key access, see above")]

use std::collections::HashSet;

use serde_json::{Value, json};
use turngate_audio::{AudioFormat, SampleRate};

use super::schema::{self, FORBIDDEN_VOICES, MODELS, Refusal, VOICES};
use super::violations::LiveViolationKind as Kind;

/// The most tokens of startup instructions (openai-python `session_config.py`).
const INSTRUCTION_TOKENS_MAX: usize = 16_384;
/// The most rendered tokens of startup history (openai-python `session_config.py`).
const INPUT_TOKENS_MAX: usize = 8_192;

/// The semantic checks of a `session.start` config the schema cannot
/// express.
pub(super) fn check_config(session: &Value) -> Result<(), (Kind, Refusal)> {
    let model = session["model"].as_str().unwrap_or_default();
    if !MODELS.contains(&model) {
        // The code is recorded for an organisation without entitlement
        // (Travizm/dsh-openai-live `docs/protocol.md`); the text is OpenAI's
        // usual one for an unknown model. The SDK's type takes any string;
        // the strict reading accepts its two literals only.
        return Err((
            Kind::InvalidEvent,
            Refusal::new(
                "model_not_found",
                format!("The model '{model}' does not exist or you do not have access to it."),
                Some("session.model".to_owned()),
            ),
        ));
    }
    if let Some(voice) = session["audio"]["output"]["voice"].as_str() {
        let param = "session.audio.output.voice";
        if FORBIDDEN_VOICES.contains(&voice) {
            // The code is recorded (aplisay/llm-agent PR #306); the text is ours.
            let refusal = Refusal::new(
                "forbidden",
                format!("The voice '{voice}' is not available for Live sessions."),
                Some(param.to_owned()),
            );
            return Err((Kind::InvalidEvent, refusal));
        }
        if !VOICES.contains(&voice) {
            return Err((Kind::InvalidEvent, schema::invalid_value(param, voice, VOICES)));
        }
    }
    if let Some(instructions) = session["instructions"].as_str()
        && schema::tokens(instructions) > INSTRUCTION_TOKENS_MAX
    {
        // Ours: the limit is documented, its error text is not.
        let refusal = Refusal::new(
            "invalid_value",
            "Instructions must not exceed 16384 tokens.".to_owned(),
            Some("session.instructions".to_owned()),
        );
        return Err((Kind::InvalidEvent, refusal));
    }
    if let Some(items) = session["input"].as_array() {
        let tokens: usize = items
            .iter()
            .filter_map(|item| item["content"][0]["text"].as_str())
            .map(schema::tokens)
            .sum();
        if tokens > INPUT_TOKENS_MAX {
            // Ours: the limit is documented, its error text is not.
            let refusal = Refusal::new(
                "invalid_value",
                "Startup input must not exceed 8192 tokens.".to_owned(),
                Some("session.input".to_owned()),
            );
            return Err((Kind::InvalidEvent, refusal));
        }
    }
    if session["delegation"]["type"] == "decisions" {
        // Ours: a limit of the simulator, not of the API.
        let refusal = Refusal::new(
            "invalid_value",
            "The simulator supports client and Responses delegation only.".to_owned(),
            Some("session.delegation.type".to_owned()),
        );
        return Err((Kind::Unsupported, refusal));
    }
    if let Some(triggers) = session.get("triggers") {
        check_triggers(triggers).map_err(|refusal| (Kind::InvalidEvent, refusal))?;
    }
    Ok(())
}

/// At most one trigger per transcript event type (openai-python
/// `decision_trigger.py`).
pub(super) fn check_triggers(triggers: &Value) -> Result<(), Refusal> {
    let mut seen = HashSet::new();
    for (index, trigger) in
        triggers.as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate()
    {
        let event_type = trigger["event_type"].as_str().unwrap_or_default();
        if !seen.insert(event_type) {
            // Ours: the rule is documented, its error text is not.
            return Err(Refusal::new(
                "invalid_value",
                "At most one trigger per event_type is allowed.".to_owned(),
                Some(format!("session.triggers[{index}].event_type")),
            ));
        }
    }
    Ok(())
}

/// The resolved config of a `session.start`, as the session resource
/// echoes it (`id`, `expires_at` and `status` are added at startup).
pub(super) fn resolved(session: &Value, ack_delay_ms: u64) -> Value {
    let format = match session["audio"]["format"] {
        Value::Object(_) => session["audio"]["format"].clone(),
        _ => json!({"type": "audio/pcm", "rate": 24000}),
    };
    let voice = match &session["audio"]["output"]["voice"] {
        Value::Null => json!("marin"),
        voice => voice.clone(),
    };
    let mut resource = json!({
        "id": null,
        "expires_at": 0,
        "status": "active",
        "model": session["model"],
        "instructions": session["instructions"],
        "audio": {"format": format, "output": {"voice": voice}},
        "delegation": {"type": "client", "acknowledgement_delay_ms": ack_delay_ms},
        "input": session.get("input").cloned().unwrap_or_else(|| json!([])),
        "store": session.get("store").cloned().unwrap_or(json!(false)),
        "safety_identifier": session["safety_identifier"],
        "triggers": session.get("triggers").cloned().unwrap_or_else(|| json!([])),
    });
    if let Some(client) = session.get("client") {
        resource["client"] = client.clone();
    }
    if session["delegation"]["type"] == "responses" {
        // The backend config is echoed as given; `session.update` merges
        // into it.
        resource["delegation"]["type"] = json!("responses");
        resource["delegation"]["responses"] = session["delegation"]["responses"].clone();
    }
    resource
}

pub(super) fn format_of(format: &Value) -> AudioFormat {
    match (format["type"].as_str(), format["rate"].as_u64()) {
        (Some("audio/pcmu"), _) => AudioFormat::Ulaw,
        (Some("audio/pcma"), _) => AudioFormat::Alaw,
        (Some("audio/pcm"), Some(16_000)) => AudioFormat::Pcm16(SampleRate::Hz16000),
        _ => AudioFormat::Pcm16(SampleRate::Hz24000),
    }
}
