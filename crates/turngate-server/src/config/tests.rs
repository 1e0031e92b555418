use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::reference::{KEYS, lookup};
use super::{ChatBackendKind, Config, LogFormat, Overrides, reference};

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name| map.get(name).cloned()
}

fn load_text(text: &str, vars: &[(&str, &str)], flags: &Overrides) -> Result<Config, String> {
    let dir = std::env::temp_dir().join(format!("turngate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.toml", text.len() * 31 + vars.len()));
    std::fs::write(&path, text).unwrap();
    let result = Config::load(Some(&path), &env(vars), flags).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    result
}

#[test]
fn the_defaults_are_valid_and_use_the_simulators() {
    let config = Config::load(None, &env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config.listen, "127.0.0.1:8080");
    assert!(config.uses_simulators());
    assert!(config.redis.url.is_empty());
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let file = "listen = \"127.0.0.1:7000\"\n[redis]\nurl = \"redis://127.0.0.1:6000\"\n[session.dead_air]\ntimeout_ms = 5000\n";
    let config = load_text(file, &[], &Overrides::default()).unwrap();
    assert_eq!(config.listen, "127.0.0.1:7000");
    assert_eq!(config.session.dead_air.timeout, Duration::from_secs(5));

    let vars = [("TURNGATE_LISTEN", "127.0.0.1:7001"), ("TURNGATE_CHAT_BACKEND", "assistants")];
    let config = load_text(file, &vars, &Overrides::default()).unwrap();
    assert_eq!(config.listen, "127.0.0.1:7001");
    assert_eq!(config.openai.chat_backend, ChatBackendKind::Assistants);
    assert_eq!(config.redis.url, "redis://127.0.0.1:6000");

    let flags = Overrides {
        listen: Some("127.0.0.1:7002".to_owned()),
        redis_url: Some("redis://10.0.0.1:6379/2".to_owned()),
        log_format: Some(LogFormat::Json),
        insecure: false,
    };
    let config = load_text(file, &vars, &flags).unwrap();
    assert_eq!(config.listen, "127.0.0.1:7002");
    assert_eq!(config.redis.url, "redis://10.0.0.1:6379/2");
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn an_unknown_key_in_the_file_is_named() {
    let error =
        load_text("[redis]\nurll = \"redis://x\"\n", &[], &Overrides::default()).unwrap_err();
    assert!(error.contains("urll"), "{error}");
    let error =
        load_text("[session.dead_air]\ntimout_ms = 1\n", &[], &Overrides::default()).unwrap_err();
    assert!(error.contains("timout_ms"), "{error}");
}

#[test]
fn bad_values_are_named_with_their_key() {
    for (vars, key) in [
        (vec![("TURNGATE_REDIS_URL", "redis//nohost")], "redis.url"),
        (vec![("TURNGATE_REDIS_URL", "redis://host:notaport")], "redis.url"),
        (vec![("TURNGATE_REDIS_URL", "http://host:6379")], "redis.url"),
        (vec![("TURNGATE_LISTEN", "localhost")], "listen"),
        (
            vec![("TURNGATE_REALTIME_URL", "https://api.openai.com/v1/realtime")],
            "openai.realtime_url",
        ),
        (vec![("TURNGATE_OPENAI_BASE_URL", "api.openai.com")], "openai.base_url"),
        (vec![("TURNGATE_CHAT_BACKEND", "threads")], "openai.chat_backend"),
        (vec![("TURNGATE_VOICE_API", "gpt")], "openai.voice_api"),
        (
            vec![("TURNGATE_LIVE_URL", "wss://api.openai.com/v1/live/sessions?model=gpt-live-1")],
            "openai.live_url",
        ),
        (vec![("TURNGATE_VOICE_API", "live"), ("TURNGATE_LIVE_MODEL", " ")], "openai.live_model"),
        (vec![("TURNGATE_LIVE_DELEGATION", "decisions")], "openai.live_delegation"),
        (
            vec![
                ("TURNGATE_VOICE_API", "live"),
                ("TURNGATE_LIVE_DELEGATION", "responses"),
                ("TURNGATE_CHAT_MODEL", ""),
            ],
            "openai.chat_model",
        ),
        (vec![("TURNGATE_LOG_FORMAT", "xml")], "log_format"),
    ] {
        let error = Config::load(None, &env(&vars), &Overrides::default()).unwrap_err().to_string();
        assert!(error.contains(key), "{vars:?}: {error}");
    }
    let error =
        load_text("[session.dead_air]\ntimeout_ms = 0\n", &[], &Overrides::default()).unwrap_err();
    assert!(error.contains("session.dead_air.timeout_ms"), "{error}");
    let error = load_text("[chat]\nqueue_depth = 0\n", &[], &Overrides::default()).unwrap_err();
    assert!(error.contains("chat.queue_depth"), "{error}");
}

#[test]
fn good_redis_urls_pass() {
    for url in [
        "redis://127.0.0.1:6379",
        "redis://:secret@host:6379/3",
        "rediss://host",
        "redis+unix:///tmp/redis.sock",
    ] {
        let vars = [("TURNGATE_REDIS_URL", url)];
        Config::load(None, &env(&vars), &Overrides::default()).unwrap();
    }
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let vars = [
        ("OPENAI_API_KEY", "sk-very-secret"),
        ("TURNGATE_REDIS_URL", "redis://:hunter2@host:6379"),
        ("TURNGATE_TWILIO_AUTH_TOKEN", "twilio-secret"),
    ];
    let config = Config::load(None, &env(&vars), &Overrides::default()).unwrap();
    let shown = format!("{config:?}");
    for secret in ["sk-very-secret", "hunter2", "twilio-secret"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

/// Every key the configuration has is documented, and every documented key
/// exists (or is an option that is unset by default).
#[test]
fn every_key_has_a_meaning_in_the_reference() {
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let mut leaves = Vec::new();
    collect(&defaults, "", &mut leaves);
    for leaf in &leaves {
        assert!(KEYS.iter().any(|(k, _)| k == leaf), "`{leaf}` has no meaning in reference.rs");
    }
    for (key, _) in KEYS {
        let optional = ["session.greeting"].contains(key);
        assert!(
            lookup(&defaults, key).is_some() || optional,
            "`{key}` is documented but does not exist"
        );
    }
}

fn collect(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) if path != "session.barge_in" => collect(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// `docs/configuration.md` is the generated reference; set
/// `TURNGATE_BLESS=1` to rewrite it after changing the configuration.
#[test]
fn the_configuration_document_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let generated = reference();
    if std::env::var_os("TURNGATE_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/configuration.md is out of date; run `TURNGATE_BLESS=1 cargo test -p turngate-server config`"
    );
}

fn all_secrets() -> Config {
    let mut config = Config::default();
    let auth = &mut config.auth;
    auth.twilio_auth_token = "twilio".to_owned();
    auth.telnyx_public_key = base64_key();
    auth.telnyx_stream_token = "telnyx-stream".to_owned();
    auth.audiocodes_token = "audiocodes".to_owned();
    auth.client_token = "client".to_owned();
    auth.admin_token = "admin".to_owned();
    auth.worker_token = "worker".to_owned();
    config.public_url = "https://bridge.example.com".to_owned();
    config
}

/// A valid ed25519 public key: the curve's base point, base64.
fn base64_key() -> String {
    "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=".to_owned()
}

#[test]
fn off_loopback_every_open_door_is_named_and_the_server_refuses() {
    let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let error = Config::default().check_exposure(&public, None, &[]).unwrap_err().to_string();
    for key in [
        "auth.twilio_auth_token",
        "auth.telnyx_stream_token",
        "auth.telnyx_public_key",
        "auth.audiocodes_token",
        "auth.client_token",
        "auth.admin_token",
        "auth.allow_unauthenticated",
    ] {
        assert!(error.contains(key), "{key} not named: {error}");
    }
    // With every secret set nothing is open.
    assert_eq!(all_secrets().check_exposure(&public, None, &[]).unwrap().0, vec![]);
    // A Twilio token without a public URL would trust the Host header.
    let mut config = all_secrets();
    config.public_url.clear();
    let error = config.check_exposure(&public, None, &[]).unwrap_err().to_string();
    assert!(error.contains("public_url"), "{error}");
    // A registered transport without authentication is a door too.
    let error =
        all_secrets().check_exposure(&public, None, &["/mine".to_owned()]).unwrap_err().to_string();
    assert!(error.contains("/mine"), "{error}");
}

#[test]
fn loopback_warns_and_an_explicit_choice_allows_open_doors() {
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let doors = Config::default().check_exposure(&local, None, &[]).unwrap();
    assert!(!doors.0.is_empty());
    let public: std::net::SocketAddr = "[::]:8080".parse().unwrap();
    let flags = Overrides { insecure: true, ..Overrides::default() };
    let config = Config::load(None, &env(&[]), &flags).unwrap();
    assert!(config.auth.allow_unauthenticated);
    assert!(!config.check_exposure(&public, None, &[]).unwrap().0.is_empty());
}

#[test]
fn doors_not_served_are_not_open_and_the_admin_door_follows_its_listener() {
    let public: std::net::SocketAddr = "10.0.0.5:8080".parse().unwrap();
    let admin: std::net::SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let vars = [("TURNGATE_ENDPOINTS", "audiocodes"), ("TURNGATE_AUDIOCODES_TOKEN", "ac")];
    let mut config = Config::load(None, &env(&vars), &Overrides::default()).unwrap();
    assert_eq!(config.endpoints, vec!["audiocodes".to_owned()]);
    // Only the admin door is open, and it is on the public address.
    let error = config.check_exposure(&public, None, &[]).unwrap_err().to_string();
    assert!(error.contains("/calls") && !error.contains("/twilio"), "{error}");
    // Served on a loopback admin listener it is not reachable from outside.
    config.admin_listen = admin.to_string();
    config.check_exposure(&public, Some(&admin), &[]).unwrap();
}

#[test]
fn new_secrets_and_limits_are_checked_at_load() {
    for (vars, key) in [
        (vec![("TURNGATE_TELNYX_PUBLIC_KEY", "not-a-key")], "auth.telnyx_public_key"),
        (vec![("TURNGATE_TELNYX_PUBLIC_KEY", "AAAA")], "auth.telnyx_public_key"),
        (vec![("TURNGATE_ENDPOINTS", "twilio,sip")], "endpoints"),
        (vec![("TURNGATE_ADMIN_LISTEN", "nowhere")], "admin_listen"),
        (
            vec![("TURNGATE_WORKER_TOKEN", "same"), ("TURNGATE_AUDIOCODES_TOKEN", "same")],
            "auth.worker_token",
        ),
    ] {
        let error = Config::load(None, &env(&vars), &Overrides::default()).unwrap_err().to_string();
        assert!(error.contains(key), "{vars:?}: {error}");
    }
    let error = load_text("[auth]\nmetrics_require_token = true\n", &[], &Overrides::default())
        .unwrap_err();
    assert!(error.contains("auth.metrics_require_token"), "{error}");
    let error =
        load_text("[limits]\nwrite_timeout_ms = 0\n", &[], &Overrides::default()).unwrap_err();
    assert!(error.contains("limits.write_timeout_ms"), "{error}");
    let vars = [("TURNGATE_TELNYX_PUBLIC_KEY", base64_key())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Config::load(None, &env(&vars), &Overrides::default()).unwrap();
}
