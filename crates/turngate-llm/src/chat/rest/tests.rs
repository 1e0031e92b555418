//! Unit tests of error-body parsing.

use super::ApiError;

#[test]
fn the_error_envelope_is_read_field_by_field() {
    let body = include_str!(
        "../../../../../tests/fixtures/openai-chat/responses-error-conversation-locked.json"
    );
    let error = ApiError::parse(body.as_bytes());
    assert_eq!(error.code.as_deref(), Some("conversation_locked"));
    assert_eq!(error.param.as_deref(), Some("conversation"));
    assert_eq!(error.kind.as_deref(), Some("invalid_request_error"));
    assert!(error.message.starts_with("Another process is currently operating"));
}

#[test]
fn a_bare_error_object_and_null_code_are_accepted() {
    let error = ApiError::parse(
        br#"{"message":"x","type":"invalid_request_error","param":null,"code":null}"#,
    );
    assert_eq!(error.message, "x");
    assert_eq!(error.code, None);
    assert_eq!(error.param, None);
}

#[test]
fn a_body_that_is_not_an_error_keeps_its_text() {
    let error = ApiError::parse(b"<html>502 Bad Gateway</html>");
    assert_eq!(error.message, "<html>502 Bad Gateway</html>");
    assert_eq!(error.code, None);
    let numeric = ApiError::parse(br#"{"error":{"message":"m","code":429}}"#);
    assert_eq!(numeric.code.as_deref(), Some("429"));
}
