//! The start-up model check against the chat simulator's
//! `GET /v1/models/{model}`: a model that is gone stops the start, naming
//! it; one that is retiring, one a compatible server does not list, or an
//! API that cannot answer, does not.

use std::time::{Duration, Instant, SystemTime};

use turngate_llm::models::Day;
use turngate_server::config::Config;
use turngate_server::{ServerBuilder, ServerError};
use turngate_sim::chat::{ChatSim, SimConfig, SimModel};

use super::support;

fn model(id: &str, shutdown: Option<Day>) -> SimModel {
    SimModel { id: id.to_owned(), shutdown_date: shutdown.map(|day| day.to_string()) }
}

/// A configuration with a key, pointed at `chat`, naming three models.
fn config(chat: &ChatSim, realtime: &str, chat_model: &str, transcription: &str) -> Config {
    let mut config = support::config();
    config.openai.api_key = "sk-test".to_owned();
    config.openai.base_url = chat.base_url();
    config.openai.realtime_url = format!("ws://127.0.0.1:9/v1/realtime?model={realtime}");
    config.openai.chat_model = chat_model.to_owned();
    config.openai.transcription_model = transcription.to_owned();
    config
}

async fn sim(models: Vec<SimModel>) -> ChatSim {
    let config = SimConfig { api_key: Some("sk-test".to_owned()), models, ..SimConfig::default() };
    ChatSim::responses(config).await.unwrap()
}

async fn refusal(config: Config) -> String {
    match ServerBuilder::new(config).build().await {
        Err(ServerError::Models(text)) => text,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("the server started"),
    }
}

#[tokio::test]
async fn a_model_past_its_shutdown_or_unknown_stops_the_start_naming_it() {
    let today = Day::of(SystemTime::now());
    let chat = sim(vec![
        model("rt-current", None),
        model("chat-gone", Some(today.plus_days(-1))),
        model("chat-today", Some(today)),
        model("stt-current", None),
    ])
    .await;
    let text = refusal(config(&chat, "rt-current", "chat-gone", "stt-current")).await;
    assert!(text.contains("openai.chat_model"), "{text}");
    assert!(text.contains("`chat-gone` was shut down on"), "{text}");
    assert!(!text.contains("rt-current") && !text.contains("stt-current"), "{text}");

    // The shutdown day itself counts as shut down.
    let text = refusal(config(&chat, "rt-current", "chat-today", "stt-current")).await;
    assert!(text.contains("`chat-today` was shut down"), "{text}");

    // A model this (compatible) server does not list only warns: its
    // catalogue is not the last word the way OpenAI's is.
    let text = refusal(config(&chat, "rt-unknown", "chat-gone", "stt-current")).await;
    assert!(text.contains("openai.chat_model"), "{text}");
    assert!(!text.contains("rt-unknown"), "{text}");
    let unknown = config(&chat, "rt-unknown", "stt-current", "stt-current");
    assert!(ServerBuilder::new(unknown).build().await.is_ok());
    assert_eq!(chat.violations().total(), 0, "{:?}", chat.violations());
}

#[tokio::test]
async fn a_retiring_model_an_unreachable_api_or_a_disabled_check_lets_it_start() {
    let today = Day::of(SystemTime::now());
    let chat = sim(vec![
        model("rt-retiring", Some(today.plus_days(30))),
        model("chat-current", None),
        model("stt-gone", Some(today.plus_days(-400))),
    ])
    .await;
    let retiring = config(&chat, "rt-retiring", "chat-current", "");
    assert!(ServerBuilder::new(retiring).build().await.is_ok(), "a retiring model only warns");

    let mut unchecked = config(&chat, "rt-retiring", "chat-current", "stt-gone");
    unchecked.openai.check_models = false;
    assert!(ServerBuilder::new(unchecked).build().await.is_ok(), "the check can be turned off");

    // Nothing listens on the discard port: the check warns and the start
    // goes on, well within its budget.
    let mut unreachable = config(&chat, "rt-retiring", "chat-current", "stt-gone");
    unreachable.openai.base_url = "http://127.0.0.1:9/v1".to_owned();
    let started = Instant::now();
    assert!(ServerBuilder::new(unreachable).build().await.is_ok());
    assert!(started.elapsed() < Duration::from_secs(6), "took {:?}", started.elapsed());
    assert_eq!(chat.violations().total(), 0, "{:?}", chat.violations());
}
