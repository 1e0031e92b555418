use super::*;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn entry(id: &str, kind: &str, payload: &[u8], t: &str) -> Value {
    Value::Array(vec![
        bulk(id),
        Value::Array(vec![
            bulk("k"),
            bulk(kind),
            bulk("p"),
            Value::BulkString(payload.to_vec()),
            bulk("t"),
            bulk(t),
        ]),
    ])
}

#[test]
fn stream_entries_parse_in_order() {
    let reply =
        Value::Array(vec![entry("1-0", "a", b"\x00\xff", "10"), entry("1-1", "b", b"", "11")]);
    let got = stream_entries("drain", &reply).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, SignalId::new(1, 0));
    assert_eq!(got[0].signal.kind(), "a");
    assert_eq!(got[0].signal.payload(), b"\x00\xff");
    assert_eq!(got[0].signal.sent_at_us(), 10);
    assert_eq!(got[1].id, SignalId::new(1, 1));
}

#[test]
fn malformed_stream_replies_are_backend_errors() {
    for reply in [
        Value::Int(3),
        Value::Array(vec![Value::Int(1)]),
        Value::Array(vec![Value::Array(vec![bulk("x-y"), Value::Array(vec![])])]),
        Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("k"), bulk("a")]),
        ])]),
    ] {
        let err = stream_entries("drain", &reply).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Backend, "{reply:?}");
    }
    assert!(stream_entries("drain", &Value::Array(vec![])).unwrap().is_empty());
}

#[test]
fn io_errors_are_unavailable_and_script_errors_backend() {
    let io: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into();
    assert_eq!(map_error("op", io, Duration::from_secs(1)).kind(), crate::ErrorKind::Unavailable);
    let timeout: RedisError = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
    assert_eq!(map_error("op", timeout, Duration::from_secs(1)).kind(), crate::ErrorKind::Timeout);
    let other: RedisError = (RedisKind::UnexpectedReturnType, "nope").into();
    assert_eq!(map_error("op", other, Duration::from_secs(1)).kind(), crate::ErrorKind::Backend);
}

#[test]
fn integers_parse_from_ints_and_strings() {
    assert_eq!(int(&Value::Int(-4)), Some(-4));
    assert_eq!(int(&bulk("17")), Some(17));
    assert_eq!(int(&bulk("x")), None);
    assert_eq!(int(&Value::Nil), None);
}
