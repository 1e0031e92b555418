//! The simulator over real loopback WebSockets, driven by a raw
//! tokio-tungstenite client: the upgrade, pacing, expiry and lost sockets.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::client::{AUTH, WAIT, connect, fast, pcm24};
use crate::live::{
    CloseReason, LiveFaults, LiveSimConfig, LiveViolationKind as Kind, Pacing, serve,
};

#[tokio::test]
async fn the_upgrade_needs_a_bearer_token() {
    let server =
        serve(LiveSimConfig { api_key: Some("sk-test".to_owned()), ..fast() }).await.unwrap();
    let url = server.url();
    assert_eq!(connect(&url, &[]).await.err(), Some(401));
    assert_eq!(connect(&url, &[("authorization", "Bearer sk-wrong")]).await.err(), Some(401));
    assert_eq!(connect(&url, &[("authorization", "sk-test")]).await.err(), Some(401));
    assert!(connect(&url, &[AUTH]).await.is_ok());

    let open = serve(fast()).await.unwrap();
    assert_eq!(connect(&open.url(), &[("authorization", "Bearer ")]).await.err(), Some(401));
    assert!(connect(&open.url(), &[("authorization", "Bearer anything")]).await.is_ok());
    assert_eq!(server.record().count(Kind::RefusedUpgrade), 3);
    assert_eq!(server.record().connections(), 1);
}

#[tokio::test]
async fn the_upgrade_refuses_a_query_string_the_beta_header_and_other_paths() {
    let server = serve(fast()).await.unwrap();
    let url = server.url();
    assert_eq!(connect(&format!("{url}?model=gpt-live-1"), &[AUTH]).await.err(), Some(400));
    assert_eq!(connect(&url, &[AUTH, ("openai-beta", "realtime=v1")]).await.err(), Some(400));
    let realtime = format!("ws://{}/v1/realtime", server.addr());
    assert_eq!(connect(&realtime, &[AUTH]).await.err(), Some(404));
    assert_eq!(server.record().count(Kind::RefusedUpgrade), 3);
}

#[tokio::test]
async fn nothing_is_sent_before_session_start_and_started_names_a_live_session() {
    let server =
        serve(LiveSimConfig { startup_delay: Duration::from_millis(50), ..fast() }).await.unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    assert_eq!(
        client.next(Duration::from_millis(150)).await,
        None,
        "a passive socket hears nothing"
    );
    assert!(!client.ended);
    let started = client.start().await;
    assert_eq!(started["client_event_id"], "s");
    let id = started["session"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("live_"), "{id}");
    assert!(started["session"]["expires_at"].as_u64().unwrap() > 1_700_000_000);
    let record = server.record();
    assert!(record.wait_for(WAIT, |r| r.session(&id).is_some()).await);
}

#[tokio::test]
async fn a_start_with_an_unknown_field_is_refused_and_the_socket_closed() {
    let server = serve(fast()).await.unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    client
        .send(json!({"type": "session.start", "event_id": "s", "session": {"model": "gpt-live-1", "voice": "marin"}}))
        .await;
    let error = client.until_type("error").await.unwrap();
    assert_eq!(
        error["error"],
        json!({
            "type": "invalid_request_error",
            "code": "unknown_parameter",
            "message": "Unknown parameter: 'session.voice'.",
            "param": "session.voice",
            "client_event_id": "s",
        })
    );
    assert!(client.until_end().await && client.close_frame);
    assert_eq!(server.record().failed_starts(), 1);
}

#[tokio::test]
async fn the_paced_track_runs_without_input_and_is_silence() {
    let server =
        serve(LiveSimConfig { pacing: Pacing::Interval(Duration::from_millis(2)), ..fast() })
            .await
            .unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    client.start().await;
    let mut deltas = 0;
    while deltas < 40 {
        let event = client.until_type("session.output_audio.delta").await.expect("a frame");
        assert!(event.get("event_id").is_none());
        let bytes = STANDARD.decode(event["delta"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), 960, "20 ms of PCM16 at 24 kHz");
        assert!(bytes.iter().all(|b| *b == 0), "digital silence");
        deltas += 1;
    }
}

#[tokio::test]
async fn a_paced_caller_utterance_is_answered_with_voiced_speech() {
    let server =
        serve(LiveSimConfig { pacing: Pacing::Interval(Duration::from_millis(5)), ..fast() })
            .await
            .unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    client.start().await;
    let mut voice = pcm24();
    let mut events = client.audio(&mut voice, 20, true).await;
    events.extend(client.audio(&mut voice, 40, false).await);
    let is_said = |e: &Value| e["type"] == "session.output_transcript.delta";
    let said = match events.iter().find(|e| is_said(e)) {
        Some(event) => Some(event.clone()),
        None => client.until(is_said).await,
    };
    assert_eq!(said.unwrap()["delta"], "Sure,");
    let is_voiced = |e: &Value| {
        e["type"] == "session.output_audio.delta"
            && STANDARD.decode(e["delta"].as_str().unwrap()).unwrap().iter().any(|b| *b != 0)
    };
    let voiced = match events.iter().find(|e| is_voiced(e)) {
        Some(event) => Some(event.clone()),
        None => client.until(is_voiced).await,
    };
    assert!(voiced.is_some(), "speech is a voiced tone on the track");
    let record = server.record();
    assert!(record.wait_for(WAIT, |r| r.sessions()[0].speech_stretches == 1).await);
}

#[tokio::test]
async fn idle_expiry_closes_the_session_with_expired() {
    let server = serve(LiveSimConfig { idle_expiry: Some(Duration::from_millis(200)), ..fast() })
        .await
        .unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    let started = client.start().await;
    let id = started["session"]["id"].as_str().unwrap().to_owned();
    let closed = client.until_type("session.closed").await.expect("session.closed");
    assert_eq!(closed["reason"], "expired");
    assert_eq!(closed["session"]["id"], id.as_str());
    assert!(client.until_end().await && client.close_frame);
    assert_eq!(server.record().close_reasons(), [(id, CloseReason::Expired)]);
}

#[tokio::test]
async fn close_reports_pending_appends_then_session_closed() {
    let server = serve(fast()).await.unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    client.start().await;
    client
        .send(json!({"type": "session.commentary.append", "event_id": "c1", "content": "Hello.", "delegation_id": null}))
        .await;
    client.send(json!({"type": "session.close", "event_id": "bye"})).await;
    let error = client.until_type("error").await.unwrap();
    assert_eq!(error["error"]["code"], "context_injection_incomplete");
    assert_eq!(error["error"]["client_event_id"], "c1");
    let closed = client.until_type("session.closed").await.unwrap();
    assert_eq!(
        (&closed["reason"], &closed["client_event_id"]),
        (&json!("close_requested"), &json!("bye"))
    );
    assert!(client.until_end().await && client.close_frame);
}

#[tokio::test]
async fn a_dropped_socket_loses_the_session_for_good() {
    let server = serve(LiveSimConfig {
        delegate_every: 1,
        faults: LiveFaults { drop_connection: Some((1.0, 150, 150)), ..LiveFaults::default() },
        ..fast()
    })
    .await
    .unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    let first = client.start().await["session"]["id"].as_str().unwrap().to_owned();
    let mut voice = pcm24();
    let mut events = client.audio(&mut voice, 20, true).await;
    events.extend(client.audio(&mut voice, 60, false).await);
    let delegation = events
        .iter()
        .find(|e| e["type"] == "session.delegation.created")
        .map(|e| e["delegation"]["id"].as_str().unwrap().to_owned())
        .expect("a delegation before the drop");
    // Keep the timeline fed until the fault takes the socket away.
    while !client.ended {
        client.audio(&mut voice, 10, false).await;
    }
    assert!(!client.close_frame, "dropped without a close frame");
    let record = server.record();
    assert!(
        record
            .wait_for(WAIT, |r| r.close_reasons() == [(first.clone(), CloseReason::ConnectionLost)])
            .await
    );
    assert_eq!(record.dropped(), 1);
    assert_eq!(record.session(&first).unwrap().delegations_unanswered_at_close, 1);

    // A new connection is a new session: the old delegation is unknown.
    let mut again = connect(&server.url(), &[AUTH]).await.unwrap();
    let second = again.start().await["session"]["id"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    again
        .send(json!({"type": "session.commentary.append", "event_id": "late", "content": "Done.", "delegation_id": delegation}))
        .await;
    let error = again.until_type("error").await.unwrap();
    assert_eq!(error["error"]["param"], "delegation_id");
    assert_eq!(error["client_event_id"], "late");
    let unknown = record.violations_of(Kind::UnknownDelegation);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].session_id.as_deref(), Some(second.as_str()));
}

#[tokio::test]
async fn a_graceful_close_without_session_close_is_a_remote_hangup() {
    let server = serve(fast()).await.unwrap();
    let mut client = connect(&server.url(), &[AUTH]).await.unwrap();
    let id = client.start().await["session"]["id"].as_str().unwrap().to_owned();
    client.ws.close(None).await.unwrap();
    let record = server.record();
    assert!(
        record
            .wait_for(WAIT, |r| r.close_reasons() == [(id.clone(), CloseReason::RemoteHangup)])
            .await
    );
}
