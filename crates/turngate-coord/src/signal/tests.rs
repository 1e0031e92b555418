use super::*;
use crate::ErrorKind;

#[test]
fn signal_ids_order_and_round_trip() {
    let a: SignalId = "1700000000000-0".parse().unwrap();
    let b: SignalId = "1700000000000-1".parse().unwrap();
    let c: SignalId = "1700000000001-0".parse().unwrap();
    assert!(a < b && b < c);
    assert_eq!(b.to_string(), "1700000000000-1");
    for bad in ["", "1", "a-b", "1-", "-1", "1-2-3"] {
        assert_eq!(bad.parse::<SignalId>().unwrap_err().kind(), ErrorKind::Invalid, "{bad:?}");
    }
}

#[test]
fn signals_validate_kind_payload_and_dedup_key() {
    let s = Signal::new("playback.ended", b"7".to_vec()).unwrap();
    assert_eq!(s.kind(), "playback.ended");
    assert!(s.sent_at_us() > 0);
    assert!(Signal::new("", Vec::new()).is_err());
    assert!(Signal::new("two words", Vec::new()).is_err());
    assert!(Signal::new("big", vec![0; MAX_PAYLOAD + 1]).is_err());
    assert!(Signal::new("max", vec![0; MAX_PAYLOAD]).is_ok());
    assert!(s.clone().with_dedup_key("evt_123").is_ok());
    assert!(s.clone().with_dedup_key("").is_err());
    assert!(s.with_dedup_key("a b").is_err());
}

#[test]
fn debug_hides_the_payload() {
    let s = Signal::new("k", b"secret".to_vec()).unwrap();
    let shown = format!("{s:?}");
    assert!(!shown.contains("secret"));
    assert!(shown.contains("payload_len: 6"));
}

#[test]
fn latency_saturates_on_clock_skew() {
    let signal = Signal::new("k", Vec::new()).unwrap().with_sent_at_us(1_000);
    let mut d = Delivered {
        session: SessionId::new("s").unwrap(),
        id: SignalId::new(0, 1),
        signal,
        received_at_us: 1_500,
    };
    assert_eq!(d.latency(), Duration::from_micros(500));
    d.received_at_us = 10;
    assert_eq!(d.latency(), Duration::ZERO);
}
