//! The configuration as operators write it, and the ids as wires carry them.

use std::time::Duration;

use crate::{BargeIn, ClientEventId, MarkId, SessionConfig, TurnDetection};

#[test]
fn durations_are_written_in_milliseconds_and_omitted_keys_keep_defaults() {
    let config: SessionConfig = serde_json::from_str(
        r#"{"turn_detection":"client","barge_in":{"after_speech_ms":300},
            "dead_air":{"timeout_ms":5000,"max_check_ins":3},"max_call_duration_ms":600000}"#,
    )
    .unwrap();
    assert_eq!(config.turn_detection, TurnDetection::Client);
    assert_eq!(config.barge_in, BargeIn::AfterSpeechMs(300));
    assert_eq!(config.dead_air.timeout, Duration::from_secs(5));
    assert_eq!(config.dead_air.max_check_ins, 3);
    assert_eq!(config.dead_air.hold_on_timeout, Duration::from_secs(25));
    assert_eq!(config.max_call_duration, Duration::from_secs(600));
    assert_eq!(config.create_timeout, SessionConfig::default().create_timeout);
}

#[test]
fn an_unknown_key_is_an_error_that_names_it() {
    let error = serde_json::from_str::<SessionConfig>(r#"{"dead_air":{"timout_ms":5000}}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("timout_ms"), "{error}");
}

#[test]
fn validation_names_the_key_that_cannot_work() {
    let mut config = SessionConfig::default();
    assert_eq!(config.validate(), Ok(()));
    config.dead_air.timeout = Duration::ZERO;
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "session.dead_air.timeout_ms: must be greater than zero"
    );
    let config = SessionConfig { max_attempts: 0, ..SessionConfig::default() };
    assert_eq!(config.validate().unwrap_err().key, "max_attempts");
}

#[test]
fn the_configuration_round_trips() {
    let config = SessionConfig::default();
    let text = serde_json::to_string(&config).unwrap();
    let back: SessionConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
}

#[test]
fn core_ids_have_a_wire_form_that_parses_back_and_foreign_ones_do_not() {
    assert_eq!(ClientEventId(42).to_string(), "tg42");
    assert_eq!("tg42".parse::<ClientEventId>(), Ok(ClientEventId(42)));
    assert_eq!("tg7".parse::<MarkId>(), Ok(MarkId(7)));
    for foreign in ["", "tg", "tg+1", "tg-1", "event_42", "42", "tg18446744073709551616", "TG1"] {
        assert!(foreign.parse::<MarkId>().is_err(), "{foreign:?} parsed");
    }
}
