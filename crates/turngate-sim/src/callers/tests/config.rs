//! Script text, configuration checks and error kinds.

use std::time::Duration;

use crate::callers::{CallerConfig, CallerError, ErrorKind, Protocol, Step, parse_script};

#[test]
fn steps_read_back_what_they_print() {
    let script = vec![
        Step::Speak { ms: 1200, hold_on: false },
        Step::Speak { ms: 800, hold_on: true },
        Step::Silence { ms: 500 },
        Step::WaitForAgent { max_ms: 8000 },
        Step::BargeIn { after_agent_ms: 500, speak_ms: 1000 },
        Step::Dtmf('#'),
        Step::SilentUntilHangup { max_ms: 25_000 },
        Step::HangUp,
    ];
    let text = script.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    assert_eq!(
        text,
        "speak:1200,hold-on:800,silence:500,wait:8000,barge:500:1000,dtmf:#,silent-until-hangup:25000,hangup"
    );
    assert_eq!(parse_script(&text).unwrap(), script);
}

#[test]
fn bad_steps_are_refused_with_a_reason() {
    for (text, reason) in [
        ("speak", "expected 1 argument"),
        ("speak:x", "not a whole number"),
        ("barge:1", "expected 2 argument"),
        ("dtmf:E", "a key is one of"),
        ("dtmf:12", "a key is one of"),
        ("hangup:1", "expected 0 argument"),
        ("shout:3", "unknown step"),
    ] {
        let error = text.parse::<Step>().unwrap_err();
        assert!(error.contains(reason), "{text}: {error}");
    }
    assert_eq!("TELNYX".parse::<Protocol>(), Ok(Protocol::Telnyx));
    assert!("sip".parse::<Protocol>().is_err());
}

#[test]
fn impossible_configurations_are_config_errors() {
    let bad = [
        CallerConfig { timeout: Duration::ZERO, ..CallerConfig::default() },
        CallerConfig { script: vec![Step::Dtmf('x')], ..CallerConfig::default() },
        CallerConfig {
            headers: vec![("bad header".to_owned(), "v".to_owned())],
            ..CallerConfig::default()
        },
        {
            let mut config =
                CallerConfig { protocol: Protocol::AudioCodes, ..CallerConfig::default() };
            config.audiocodes.supported_formats = vec!["wav/lpcm16".to_owned()];
            config
        },
        {
            let mut config = CallerConfig::default();
            config.telnyx.reorder_probability = 1.5;
            config
        },
    ];
    for config in bad {
        let error = config.validate().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    }
    assert!(CallerConfig::default().validate().is_ok());
}

#[test]
fn error_kinds_tell_retry_from_fail() {
    assert_eq!(CallerError::Refused { status: 403 }.kind(), ErrorKind::Auth);
    assert_eq!(CallerError::Refused { status: 503 }.kind(), ErrorKind::Transient);
    assert_eq!(CallerError::Refused { status: 404 }.kind(), ErrorKind::Protocol);
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        CallerError::Connect { addr: "x".to_owned(), source: refused }.kind(),
        ErrorKind::Transient
    );
}
