use super::*;
use crate::ErrorKind;

#[test]
fn session_ids_reject_what_would_break_keys() {
    assert!(SessionId::new("call-123:leg-a").is_ok());
    for bad in ["", "a b", "a{b", "a}b", "tab\there", "nl\n"] {
        let err = SessionId::new(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}");
    }
    assert!(SessionId::new("x".repeat(MAX_ID_LEN)).is_ok());
    assert!(SessionId::new("x".repeat(MAX_ID_LEN + 1)).is_err());
}

#[test]
fn names_allow_braces_but_not_whitespace() {
    assert!(check_name("flag name", "agent_speaking").is_ok());
    assert!(check_name("flag name", "a{b}").is_ok());
    assert!(check_name("flag name", "a b").is_err());
    assert!(check_name("flag name", "").is_err());
}

#[test]
fn random_worker_ids_differ() {
    let a = WorkerId::random();
    let b = WorkerId::random();
    assert_ne!(a, b);
    assert!(WorkerId::new(a.as_str()).is_ok());
}

#[test]
fn display_is_the_raw_id() {
    let s = SessionId::new("abc").unwrap();
    assert_eq!(s.to_string(), "abc");
    assert_eq!(format!("{s:?}"), "SessionId(\"abc\")");
}
