//! The Responses provider (behind `ConversationQueue`) against the
//! Responses + Conversations simulator.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use turngate_llm::chat::responses::{ResponsesBackend, ResponsesConfig};
use turngate_llm::chat::{
    ChatBackend, ChatError, ConversationId, ConversationQueue, QueueConfig, RestConfig, UserMessage,
};
use turngate_sim::chat::{ChatSim, SimConfig};

use super::{fixed_tool, median};

fn config(sim: &ChatSim) -> ResponsesConfig {
    ResponsesConfig::new(RestConfig::new(sim.base_url()), "gpt-5.2")
}

fn weather_tool() -> serde_json::Value {
    json!({"type": "function", "name": "weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}})
}

fn assert_clean(sim: &ChatSim) {
    let violations = sim.violations();
    assert_eq!(violations.total(), 0, "{violations:#?}");
}

#[tokio::test]
async fn fifty_concurrent_messages_are_answered_in_order_without_conflicts() {
    let sim = ChatSim::responses(SimConfig::default()).await.unwrap();
    let backend = Arc::new(ResponsesBackend::new(config(&sim)).unwrap());
    let queue = Arc::new(ConversationQueue::new(
        Arc::clone(&backend),
        QueueConfig { max_depth: 64, timeout: Duration::from_secs(60), ..QueueConfig::default() },
    ));
    let finished = Arc::new(std::sync::Mutex::new(Vec::new()));
    let conversation = ConversationId::from("fifty");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (queue, finished, conversation) =
                (Arc::clone(&queue), Arc::clone(&finished), conversation.clone());
            tokio::spawn(async move {
                let served = queue.send(&conversation, UserMessage::new(format!("m{i}"))).await;
                finished.lock().unwrap().push(i);
                served
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let served = task.await.unwrap().unwrap_or_else(|e| panic!("m{i}: {e}"));
        assert_eq!(served.reply.text, format!("echo: m{i}"));
    }
    assert_eq!(*finished.lock().unwrap(), (0..50).collect::<Vec<_>>());
    let upstream = backend.conversation_of(&conversation).unwrap();
    let expected: Vec<(String, String)> = (0..50)
        .flat_map(|i| {
            [("user".to_owned(), format!("m{i}")), ("assistant".to_owned(), format!("echo: m{i}"))]
        })
        .collect();
    assert_eq!(sim.texts(&upstream), expected);
    assert_clean(&sim);
    assert_eq!(sim.stats().settling_refusals, 0);
}

#[tokio::test]
async fn the_same_holds_for_foreground_responses() {
    let sim =
        ChatSim::responses(SimConfig { run: Duration::from_millis(50), ..SimConfig::default() })
            .await
            .unwrap();
    let mut config = config(&sim);
    config.background = false;
    let backend = Arc::new(ResponsesBackend::new(config).unwrap());
    let queue = Arc::new(ConversationQueue::new(Arc::clone(&backend), QueueConfig::default()));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                queue.send(&"fg".into(), UserMessage::new(format!("f{i}"))).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap().reply.text, format!("echo: f{i}"));
    }
    assert!(!backend.capabilities().cancel);
    assert_clean(&sim);
}

/// The deadline path: a response that never ends gives the caller a timeout
/// naming it; it is cancelled, and the next message waits out the settling
/// lock (retrying `conversation_locked`) and is answered.
#[tokio::test]
async fn a_response_that_never_ends_times_out_naming_it_and_the_next_message_is_served() {
    let sim = ChatSim::responses(SimConfig::default()).await.unwrap();
    let backend = Arc::new(ResponsesBackend::new(config(&sim)).unwrap());
    let queue = Arc::new(ConversationQueue::new(Arc::clone(&backend), QueueConfig::default()));
    let conversation = ConversationId::from("hang");
    let stuck = {
        let (queue, conversation) = (Arc::clone(&queue), conversation.clone());
        tokio::spawn(async move {
            queue
                .send(
                    &conversation,
                    UserMessage::new("[hang] first")
                        .with_deadline(Instant::now() + Duration::from_secs(1)),
                )
                .await
        })
    };
    let next = {
        let (queue, conversation) = (Arc::clone(&queue), conversation.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(8);
            queue.send(&conversation, UserMessage::new("second").with_deadline(deadline)).await
        })
    };
    let error = stuck.await.unwrap().unwrap_err();
    let ChatError::Timeout { waiting_for, .. } = &error else {
        panic!("expected a timeout, got {error}")
    };
    assert!(waiting_for.starts_with("response resp_"), "{waiting_for}");
    let served = next.await.unwrap().unwrap();
    assert_eq!(served.reply.text, "echo: second");
    assert!(sim.stats().settling_refusals > 0, "the cancel had to settle first");
    assert_eq!(sim.recovery_overheads().len(), 1);
    eprintln!("responses recovery overhead {:?}", median(sim.recovery_overheads()));
    assert_clean(&sim);
}

#[tokio::test]
async fn function_calls_are_answered_through_the_handler() {
    let sim = ChatSim::responses(SimConfig::default()).await.unwrap();
    let mut config = config(&sim);
    config.tool_definitions = vec![weather_tool()];
    config.tools = Some(fixed_tool());
    let backend = ResponsesBackend::new(config).unwrap();
    let reply =
        backend.submit(&"tools".into(), UserMessage::new("call:weather now")).await.unwrap();
    assert_eq!(reply.text, r#"echo: call:weather now [weather returned {"temp":21}]"#);
    assert_eq!(reply.tool_calls, 1);
    assert_clean(&sim);
}

#[tokio::test]
async fn without_a_handler_calls_get_error_outputs_and_the_conversation_stays_usable() {
    let sim =
        ChatSim::responses(SimConfig { run: Duration::from_millis(50), ..SimConfig::default() })
            .await
            .unwrap();
    let mut config = config(&sim);
    config.tool_definitions = vec![weather_tool()];
    let backend = ResponsesBackend::new(config).unwrap();
    let conversation = ConversationId::from("no-handler");
    let error =
        backend.submit(&conversation, UserMessage::new("call:weather please")).await.unwrap_err();
    assert!(
        matches!(&error, ChatError::NoToolHandler { tools, .. } if tools == &["weather".to_owned()]),
        "{error}"
    );
    let reply = backend.submit(&conversation, UserMessage::new("just talk")).await.unwrap();
    assert_eq!(reply.text, "echo: just talk");
    assert_clean(&sim);
}

#[tokio::test]
async fn cancel_active_stops_a_background_response() {
    let sim = ChatSim::responses(SimConfig {
        cancel: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let backend = Arc::new(ResponsesBackend::new(config(&sim)).unwrap());
    let conversation = ConversationId::from("cancel");
    let running = {
        let (backend, conversation) = (Arc::clone(&backend), conversation.clone());
        tokio::spawn(
            async move { backend.submit(&conversation, UserMessage::new("[hang] long")).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    backend.cancel_active(&conversation).await.unwrap();
    let error = running.await.unwrap().unwrap_err();
    assert!(matches!(&error, ChatError::Ended { status, .. } if status == "cancelled"), "{error}");
    assert_eq!(
        backend.submit(&conversation, UserMessage::new("after")).await.unwrap().text,
        "echo: after"
    );
    assert_clean(&sim);
}
