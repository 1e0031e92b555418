//! The frames an app client sends on `/session`, parsed in one place (the
//! route and the fuzz target share it). Every frame is a JSON object with
//! a `type`; anything else is refused with a reason the client is told.

use serde_json::Value;

/// One frame from an app client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// `{"type":"ack","last_seq":n?}`: the handshake's answer.
    Ack {
        /// The last sequence number the client saw, if it says.
        last_seq: Option<u64>,
    },
    /// `{"type":"ping"}`.
    Ping,
    /// `{"type":"answer","id":n,"approved":bool}`: a confirmation's answer.
    Answer {
        /// The confirmation.
        id: u64,
        /// The client's decision.
        approved: bool,
    },
    /// `{"type":"message","text":…}`: a message for the chat backend.
    Message {
        /// What the user typed (never empty).
        text: String,
    },
}

/// Parses one frame; the error is the reason to send back.
pub fn parse(text: &str) -> Result<ClientFrame, &'static str> {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return Err("not JSON");
    };
    match message.get("type").and_then(Value::as_str) {
        Some("ack") => {
            Ok(ClientFrame::Ack { last_seq: message.get("last_seq").and_then(Value::as_u64) })
        }
        Some("ping") => Ok(ClientFrame::Ping),
        Some("answer") => {
            let id = message.get("id").and_then(Value::as_u64);
            let approved = message.get("approved").and_then(Value::as_bool);
            match (id, approved) {
                (Some(id), Some(approved)) => Ok(ClientFrame::Answer { id, approved }),
                _ => Err("an answer needs `id` and `approved`"),
            }
        }
        Some("message") => match message.get("text").and_then(Value::as_str) {
            Some(text) if !text.is_empty() => Ok(ClientFrame::Message { text: text.to_owned() }),
            _ => Err("a message needs `text`"),
        },
        _ => Err("unknown message type"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientFrame, parse};

    #[test]
    fn frames_parse_or_say_why_not() {
        assert_eq!(
            parse(r#"{"type":"ack","last_seq":4}"#),
            Ok(ClientFrame::Ack { last_seq: Some(4) })
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
        assert_eq!(
            parse(r#"{"type":"answer","id":2,"approved":false}"#),
            Ok(ClientFrame::Answer { id: 2, approved: false })
        );
        assert_eq!(
            parse(r#"{"type":"answer","id":"2"}"#),
            Err("an answer needs `id` and `approved`")
        );
        assert_eq!(parse(r#"{"type":"message","text":""}"#), Err("a message needs `text`"));
        assert_eq!(parse("{"), Err("not JSON"));
        assert_eq!(parse(r#"{"type":"shout"}"#), Err("unknown message type"));
    }
}
