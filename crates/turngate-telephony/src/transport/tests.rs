use std::time::Duration;

use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::MarkId;

use super::*;

#[test]
fn json_out_escapes_like_serde() {
    let nasty =
        "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} unit \u{1f} é ✓ 😀 </script>";
    let text = JsonOut::object(8)
        .str("a", nasty)
        .bool("b", true)
        .open("c")
        .b64("d", &[0, 1, 2, 250])
        .opt_str("e", None)
        .opt_str("f", Some("x"))
        .close()
        .raw("g", "[1,2]")
        .finish();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["a"], nasty);
    assert_eq!(value["b"], true);
    assert_eq!(value["c"]["d"], "AAEC+g==");
    assert!(value["c"].get("e").is_none());
    assert_eq!(value["c"]["f"], "x");
    assert_eq!(value["g"], serde_json::json!([1, 2]));
}

#[test]
fn base64_accepts_missing_padding_and_rejects_garbage() {
    assert_eq!(b64_decode("//8=").unwrap(), [0xff, 0xff]);
    assert_eq!(b64_decode("//8").unwrap(), [0xff, 0xff]);
    assert_eq!(b64_decode("").unwrap(), Vec::<u8>::new());
    assert_eq!(b64_decode("a b"), Err(WireError::BadBase64));
    assert_eq!(b64_decode("////="), Err(WireError::BadBase64));
}

#[test]
fn audio_must_be_whole_samples() {
    let chunk = check_audio(vec![0; 160], AudioFormat::Ulaw).unwrap();
    assert_eq!(chunk.duration, Duration::from_millis(20));
    let pcm = AudioFormat::Pcm16(SampleRate::Hz16000);
    assert_eq!(check_audio(vec![0; 640], pcm).unwrap().duration, Duration::from_millis(20));
    assert!(matches!(check_audio(vec![0; 641], pcm), Err(WireError::WrongSize { len: 641, .. })));
    assert!(matches!(
        check_audio(Vec::new(), AudioFormat::Ulaw),
        Err(WireError::WrongSize { len: 0, .. })
    ));
    assert_eq!(bytes_for(pcm, Duration::from_millis(100)), 3200);
    assert_eq!(bytes_for(pcm, Duration::from_micros(1030)), 32);
}

#[test]
fn marks_confirm_in_order_and_clear_flushes() {
    let mut ledger = MarkLedger::default();
    for n in 1..=4 {
        ledger.sent(MarkId(n), Duration::from_millis(40));
    }
    assert_eq!(ledger.echo("tg2"), Echo::Confirmed(MarkId(2)));
    // Echoing 2 confirmed 1 too; a later echo of 1 is stale.
    assert_eq!(ledger.echo("tg1"), Echo::Stale);
    assert_eq!(ledger.echo("resp_1:3"), Echo::Foreign);
    assert_eq!(ledger.echo("tg+3"), Echo::Foreign);
    ledger.clear();
    assert_eq!(ledger.echo("tg4"), Echo::Flushed);
    assert_eq!(ledger.echo("tg3"), Echo::Flushed);
    assert_eq!(ledger.echo("tg3"), Echo::Stale);
    let playout = ledger.playout();
    assert_eq!(playout.sent, Duration::from_millis(160));
    assert_eq!(playout.confirmed, Duration::from_millis(80));
    assert_eq!(playout.flushed, Duration::from_millis(80));
    assert_eq!(playout.outstanding_marks, 0);
}

#[test]
fn dtmf_keys_are_checked() {
    for key in ["0", "9", "*", "#", "A", "D"] {
        assert_eq!(dtmf_digit(key).unwrap().to_string(), key);
    }
    assert_eq!(dtmf_digit("b").unwrap(), 'B');
    for bad in ["", "12", "E", "x", "١"] {
        assert!(dtmf_digit(bad).is_err(), "{bad}");
    }
}

#[test]
fn errors_have_kinds_and_bounded_text() {
    let long = "x".repeat(10_000);
    let WireError::UnknownEvent { name } = WireError::unknown(&long) else { panic!() };
    assert_eq!(name.len(), 64);
    assert_eq!(error::cut("ééé", 3), "é");
    assert!(WireError::UnsupportedFormat { format: "G722".to_owned() }.is_fatal());
    assert!(!WireError::BadBase64.is_fatal());
    assert_eq!(Limits::default().check(200_000).unwrap_err().kind(), WireErrorKind::Oversized);
}

#[test]
fn long_frames_are_shortened_in_debug_output() {
    let frame = OutFrame::Text("é".repeat(1000));
    let shown = format!("{frame:?}");
    assert!(shown.len() < 200 && shown.contains("2000 bytes"), "{shown}");
}
