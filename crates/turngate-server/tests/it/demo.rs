//! The README's main command, as a test: the demo behaves, and the metrics
//! it exercised show up in `/metrics`.

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_behaves() {
    turngate_server::demo::run(turngate_server::config::Config::default()).await.unwrap();
}

#[test]
fn a_metrics_check_catches_what_is_missing_or_zero() {
    let problems = turngate_server::demo::check_metrics(
        "turngate_responses_total 0\nturngate_upstream_conflicts_total 2\n",
    );
    assert!(
        problems.iter().any(|p| p.contains("turngate_responses_total is zero")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("turngate_barge_ins_total is missing")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("upstream_conflicts_total is not 0")),
        "{problems:?}"
    );
}

/// A bad configuration stops the binary with the key named and a non-zero exit.
#[test]
fn bad_configuration_exits_non_zero_naming_the_key() {
    let output = Command::new(env!("CARGO_BIN_EXE_turngate"))
        .arg("serve")
        .env("TURNGATE_REDIS_URL", "redis://host:notaport")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("redis.url"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("turngate-bad-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[session]\nmax_call_duraton_ms = 1000\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_turngate"))
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_call_duraton_ms"), "{stderr}");
}

/// Off loopback the binary will not serve an open door: it names every key
/// to set and exits 2. `--insecure` says it is meant; with every secret set
/// it starts without being told.
#[test]
fn the_binary_refuses_to_serve_open_doors_off_loopback() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let output = Command::new(env!("CARGO_BIN_EXE_turngate"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for key in [
        "auth.twilio_auth_token",
        "auth.telnyx_stream_token",
        "auth.telnyx_public_key",
        "auth.audiocodes_token",
        "auth.client_token",
        "auth.admin_token",
        "--insecure",
    ] {
        assert!(stderr.contains(key), "{key} not named: {stderr}");
    }

    let starts = |command: &mut Command| {
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let listening = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take(200)
            .any(|line| line.contains("listening"));
        let _ = child.kill();
        let _ = child.wait();
        listening
    };
    let mut insecure = Command::new(env!("CARGO_BIN_EXE_turngate"));
    insecure.args(["serve", "--listen", "0.0.0.0:0", "--insecure"]);
    assert!(starts(&mut insecure), "--insecure did not start");
    let key = "WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";
    let mut secured = Command::new(env!("CARGO_BIN_EXE_turngate"));
    secured
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("TURNGATE_TWILIO_AUTH_TOKEN", "t")
        .env("TURNGATE_PUBLIC_URL", "https://bridge.example.com")
        .env("TURNGATE_TELNYX_STREAM_TOKEN", "s")
        .env("TURNGATE_TELNYX_PUBLIC_KEY", key)
        .env("TURNGATE_AUDIOCODES_TOKEN", "a")
        .env("TURNGATE_CLIENT_TOKEN", "c")
        .env("TURNGATE_ADMIN_TOKEN", "o");
    assert!(starts(&mut secured), "a server with every secret did not start");
}
