use super::*;

fn session(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

#[test]
fn every_key_of_a_session_shares_its_hash_tag() {
    let keys = Keys::new("tg").unwrap();
    let s = session("call:42");
    let all = [
        keys.flag(&s, "agent_speaking"),
        keys.flag(&s, "odd{name}"),
        keys.counter(&s, "playbacks"),
        keys.owner(&s),
        keys.signals(&s),
        keys.signals_seen(&s),
        keys.signals_seen_ids(&s),
        keys.lock(&s),
        keys.fence(&s),
    ];
    for key in &all {
        assert_eq!(hash_tag(key), "call:42", "{key}");
        assert!(key.starts_with("tg:{call:42}:"), "{key}");
    }
    assert_eq!(all[0], "tg:{call:42}:flag:agent_speaking");
    assert_eq!(all[3], "tg:{call:42}:owner");
}

#[test]
fn hash_tag_follows_redis_rules() {
    assert_eq!(hash_tag("plain"), "plain");
    assert_eq!(hash_tag("a{b}c"), "b");
    assert_eq!(hash_tag("a{}c{d}"), "a{}c{d}");
    assert_eq!(hash_tag("a{b"), "a{b");
    assert_eq!(hash_tag("{x}{y}"), "x");
}

#[test]
fn prefixes_with_braces_are_refused() {
    assert!(Keys::new("tg{x}").is_err());
    assert!(Keys::new("").is_err());
    assert_eq!(Keys::default().prefix(), DEFAULT_PREFIX);
}

#[test]
fn worker_channels_are_prefixed() {
    let keys = Keys::new("tg").unwrap();
    let w = WorkerId::new("w-1").unwrap();
    assert_eq!(keys.worker_channel(&w), "tg:worker:w-1");
    assert!(keys.worker_channel(&w).starts_with(&keys.worker_channel_prefix()));
}
