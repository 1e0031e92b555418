use super::*;

#[test]
fn ttls_round_up_to_whole_milliseconds() {
    assert_eq!(ttl_ms("t", Duration::from_millis(5)).unwrap(), 5);
    assert_eq!(ttl_ms("t", Duration::from_micros(5_001)).unwrap(), 6);
    assert!(ttl_ms("t", Duration::from_micros(999)).is_err());
    assert!(ttl_ms("t", Duration::ZERO).is_err());
    assert!(ttl_ms("t", MAX_TTL + Duration::from_secs(1)).is_err());
}

#[test]
fn defaults_validate_and_zero_bounds_do_not() {
    Config::default().validate().unwrap();
    InboxConfig::default().validate().unwrap();
    assert!(Config::default().with_max_pending_signals(0).validate().is_err());
    assert!(InboxConfig::default().with_capacity(0).validate().is_err());
}
