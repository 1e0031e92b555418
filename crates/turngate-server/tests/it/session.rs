//! App-client sessions: handshake, sequencing, replay, confirmations, grace.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::support::{Running, config, http, start};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(server: &Running, query: &str) -> Client {
    let (socket, _) = connect_async(server.ws(&format!("/session?{query}"))).await.unwrap();
    socket
}

async fn next(socket: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

async fn ready(server: &Running, query: &str, last_seq: Option<u64>) -> Client {
    let mut socket = open(server, query).await;
    assert_eq!(next(&mut socket).await["type"], "ready");
    let ack = match last_seq {
        Some(seq) => json!({"type": "ack", "last_seq": seq}),
        None => json!({"type": "ack"}),
    };
    socket.send(Message::Text(ack.to_string().into())).await.unwrap();
    socket
}

async fn publish(server: &Running, id: &str, message: Value) {
    let response = http()
        .post(server.url(&format!("/session/{id}/publish")))
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn nothing_is_delivered_before_the_client_acknowledges_and_a_silent_client_is_closed() {
    let mut config = config();
    config.limits.handshake_timeout = Duration::from_millis(300);
    let server = start(config).await;
    let mut socket = open(&server, "id=s1").await;
    assert_eq!(next(&mut socket).await["type"], "ready");
    // No ack: the session never sees this connection, and it is closed.
    let closing = next(&mut socket).await;
    assert_eq!(closing["type"], "error", "{closing}");
    assert!(closing["reason"].as_str().unwrap().contains("acknowledgement"), "{closing}");
    assert!(server.state.sessions.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_reconnecting_client_gets_exactly_what_it_missed() {
    let server = start(config()).await;
    let mut first = ready(&server, "id=s2", None).await;
    publish(&server, "s2", json!({"n": 1})).await;
    publish(&server, "s2", json!({"n": 2})).await;
    assert_eq!(next(&mut first).await, json!({"seq": 1, "message": {"n": 1}}));
    assert_eq!(next(&mut first).await, json!({"seq": 2, "message": {"n": 2}}));
    // A second tab sees only what comes from now on.
    let mut second = ready(&server, "id=s2&last_seq=2", None).await;
    first.close(None).await.unwrap();
    publish(&server, "s2", json!({"n": 3})).await;
    assert_eq!(next(&mut second).await, json!({"seq": 3, "message": {"n": 3}}));
    publish(&server, "s2", json!({"n": 4})).await;
    // The first tab comes back having seen 2: it gets 3 and 4, in order.
    let mut back = ready(&server, "id=s2", Some(2)).await;
    assert_eq!(next(&mut back).await, json!({"seq": 3, "message": {"n": 3}}));
    assert_eq!(next(&mut back).await, json!({"seq": 4, "message": {"n": 4}}));
    server.stop().await;
}

#[tokio::test]
async fn confirmations_end_approved_declined_timed_out_or_without_a_client() {
    let server = start(config()).await;
    let ask = |timeout_ms: u64| {
        http()
            .post(server.url("/session/s3/confirm"))
            .json(&json!({"prompt": "Transfer to billing?", "timeout_ms": timeout_ms}))
            .send()
    };
    let outcome = ask(500).await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(outcome["outcome"], "no_client");

    let mut client = ready(&server, "id=s3", None).await;
    let asking = tokio::spawn(ask(5000));
    let request = next(&mut client).await;
    assert_eq!(request["message"]["type"], "confirm", "{request}");
    let id = request["message"]["id"].as_u64().unwrap();
    let answer = json!({"type": "answer", "id": id, "approved": true});
    client.send(Message::Text(answer.to_string().into())).await.unwrap();
    let outcome = asking.await.unwrap().unwrap().json::<Value>().await.unwrap();
    assert_eq!(outcome["outcome"], "approved");
    assert_eq!(next(&mut client).await["message"]["type"], "confirm_closed");

    let outcome = ask(300).await.unwrap().json::<Value>().await.unwrap();
    assert_eq!(outcome["outcome"], "timed_out");
    server.stop().await;
}

#[tokio::test]
async fn a_chat_message_is_answered_as_a_sequenced_reply() {
    let server = start(config()).await;
    let mut client = ready(&server, "id=s4", None).await;
    let message = json!({"type": "message", "text": "hello"});
    client.send(Message::Text(message.to_string().into())).await.unwrap();
    let reply = next(&mut client).await;
    assert_eq!(reply["seq"], 1, "{reply}");
    assert_eq!(reply["message"]["type"], "reply", "{reply}");
    assert!(reply["message"]["text"].as_str().unwrap().contains("hello"), "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn a_session_outlives_its_last_client_by_the_grace_period_only() {
    let mut config = config();
    config.session.client_grace = Duration::from_millis(400);
    let server = start(config).await;
    let client = ready(&server, "id=s5", None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.state.sessions.len(), 1);
    drop(client);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.state.sessions.len(), 1, "ended before the grace period");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(server.state.sessions.is_empty(), "still alive after the grace period");
    server.stop().await;
}
