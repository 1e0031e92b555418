//! The built-in providers, chosen from the configuration: the coordinator
//! (Redis or in memory), the Realtime backend and the chat backend (OpenAI
//! or any compatible server; with no API key, the strict in-process
//! simulators, reached over loopback through the very same providers).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tracing::info;
use turngate_coord::{Coordinator, MemoryCoordinator};
use turngate_llm::chat::assistants::{AssistantsBackend, AssistantsConfig};
use turngate_llm::chat::responses::{ResponsesBackend, ResponsesConfig};
use turngate_llm::chat::{ChatBackend, RestConfig};
use turngate_llm::realtime::openai::{OpenAiRealtime, OpenAiRealtimeConfig};
use turngate_llm::realtime::openai_live::{
    DEFAULT_DELEGATION_TOOL, LiveDelegation, OpenAiLive, OpenAiLiveConfig,
};
use turngate_llm::realtime::{RealtimeBackend, ToolSpec};
use turngate_llm::tool::{ToolError, ToolHandler};
use turngate_sim::chat::ChatSim;
use turngate_sim::live::{LiveSimConfig, LiveSimServer};
use turngate_sim::realtime::{SimConfig as RealtimeSimConfig, SimServer};

use crate::config::{ChatBackendKind, Config, LiveDelegationMode, VoiceApi};
use crate::server::ServerError;

/// The simulators this process runs in place of upstream APIs; they stop
/// when dropped.
#[derive(Debug, Default)]
pub struct Simulators {
    /// The Realtime simulator, if one serves.
    pub realtime: Option<SimServer>,
    /// The GPT-Live simulator, if one serves.
    pub live: Option<LiveSimServer>,
    /// The chat simulator, if one serves.
    pub chat: Option<ChatSim>,
}

pub(crate) async fn coordinator(config: &Config) -> Result<Arc<dyn Coordinator>, ServerError> {
    if config.redis.url.is_empty() {
        return Ok(Arc::new(MemoryCoordinator::new()));
    }
    redis_coordinator(config).await
}

#[cfg(feature = "redis")]
async fn redis_coordinator(config: &Config) -> Result<Arc<dyn Coordinator>, ServerError> {
    let mut redis = turngate_coord::RedisConfig::new(config.redis.url.clone());
    if !config.redis.prefix.is_empty() {
        redis = redis.with_prefix(config.redis.prefix.clone());
    }
    let coordinator = turngate_coord::RedisCoordinator::connect(redis).await?;
    info!("coordinating through Redis");
    Ok(Arc::new(coordinator))
}

#[cfg(not(feature = "redis"))]
async fn redis_coordinator(_config: &Config) -> Result<Arc<dyn Coordinator>, ServerError> {
    Err(ServerError::Provider {
        what: "redis.url",
        detail: "this build has no Redis support (build with the `redis` feature)".to_owned(),
    })
}

pub(crate) async fn realtime(
    config: &Config,
    simulators: &mut Simulators,
) -> Result<Arc<dyn RealtimeBackend>, ServerError> {
    if config.openai.voice_api == VoiceApi::Live {
        return live(config, simulators).await;
    }
    let mut realtime = OpenAiRealtimeConfig::default();
    if config.uses_simulators() {
        // Two-second answers leave room to talk over them; every third
        // response calls the first tool, so the tool path runs too.
        let sim_config = RealtimeSimConfig {
            chunks_per_response: 20,
            function_call_every: 3,
            ..RealtimeSimConfig::default()
        };
        let sim = turngate_sim::realtime::serve(sim_config, loopback()).await.map_err(|e| {
            ServerError::Provider { what: "realtime simulator", detail: e.to_string() }
        })?;
        realtime.url = sim.url();
        realtime.api_key = None;
        info!(url = %realtime.url, "Realtime simulator serving in process");
        simulators.realtime = Some(sim);
    } else {
        realtime.url.clone_from(&config.openai.realtime_url);
        realtime.api_key = Some(config.openai.api_key.clone());
    }
    Ok(Arc::new(OpenAiRealtime::new(realtime)))
}

async fn live(
    config: &Config,
    simulators: &mut Simulators,
) -> Result<Arc<dyn RealtimeBackend>, ServerError> {
    let mut live = OpenAiLiveConfig::default();
    if config.uses_simulators() {
        // Every third thing the caller says is delegated, so the
        // delegation path runs too.
        let sim_config = LiveSimConfig { delegate_every: 3, ..LiveSimConfig::default() };
        let sim = turngate_sim::live::serve(sim_config).await.map_err(|e| {
            ServerError::Provider { what: "GPT-Live simulator", detail: e.to_string() }
        })?;
        live.url = sim.url();
        // Like the real API, the simulator wants a bearer key; any will do.
        live.api_key = Some("turngate-simulator".to_owned());
        info!(url = %live.url, "GPT-Live simulator serving in process");
        simulators.live = Some(sim);
    } else {
        live.url.clone_from(&config.openai.live_url);
        live.api_key = Some(config.openai.api_key.clone());
    }
    live.model.clone_from(&config.openai.live_model);
    if config.openai.live_delegation == LiveDelegationMode::Responses {
        live.delegation = LiveDelegation::Responses {
            model: config.openai.chat_model.clone(),
            instructions: None,
        };
    }
    Ok(Arc::new(OpenAiLive::new(live)))
}

pub(crate) async fn chat(
    config: &Config,
    simulators: &mut Simulators,
) -> Result<Arc<dyn ChatBackend>, ServerError> {
    let kind = config.openai.chat_backend;
    let mut rest = RestConfig::new(config.openai.base_url.clone());
    if config.uses_simulators() {
        let sim = turngate_sim::chat::SimConfig::default();
        let sim = match kind {
            ChatBackendKind::Responses => ChatSim::responses(sim).await,
            ChatBackendKind::Assistants => ChatSim::assistants(sim).await,
        }
        .map_err(|e| ServerError::Provider { what: "chat simulator", detail: e.to_string() })?;
        rest = RestConfig::new(sim.base_url());
        info!(base_url = %sim.base_url(), "chat simulator serving in process");
        simulators.chat = Some(sim);
    } else {
        rest = rest.with_api_key(config.openai.api_key.clone());
    }
    let mut assistant_id = config.openai.assistant_id.clone();
    if kind == ChatBackendKind::Assistants && assistant_id.is_empty() {
        // No assistant named: make one, as the configuration reference says.
        let functions: Vec<Value> = DemoTools::specs()
            .into_iter()
            .map(|spec| json!({"name": spec.name, "description": spec.description, "parameters": spec.parameters}))
            .collect();
        assistant_id = AssistantsBackend::create_assistant(
            &rest,
            &config.openai.chat_model,
            &config.openai.instructions,
            &functions,
            std::time::Duration::from_secs(30),
        )
        .await
        .map_err(|e| ServerError::Provider {
            what: "openai.assistant_id",
            detail: format!("creating an assistant failed: {e}"),
        })?;
        info!(%assistant_id, "created an assistant");
    }
    let tools: Arc<dyn ToolHandler> = Arc::new(DemoTools);
    let provider = |e: turngate_llm::chat::ChatError| ServerError::Provider {
        what: "chat backend",
        detail: e.to_string(),
    };
    let remember = turngate_llm::chat::RememberLimits {
        max_conversations: config.chat.max_conversations,
        idle: config.chat.conversation_idle,
    };
    Ok(match kind {
        ChatBackendKind::Responses => {
            let mut responses = ResponsesConfig::new(rest, config.openai.chat_model.clone());
            responses.instructions = Some(config.openai.instructions.clone());
            responses.tools = Some(tools);
            responses.remember = remember;
            Arc::new(ResponsesBackend::new(responses).map_err(provider)?)
        }
        ChatBackendKind::Assistants => {
            let mut assistants = AssistantsConfig::new(rest, assistant_id);
            assistants.tools = Some(tools);
            assistants.remember = remember;
            Arc::new(AssistantsBackend::new(assistants).map_err(provider)?)
        }
    })
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The tools the built-in binary offers: small, deterministic ones that
/// show the function-call path end to end. Applications register their own
/// handler through the builder.
#[derive(Debug, Clone, Copy)]
pub struct DemoTools;

impl DemoTools {
    /// How the model is told about them.
    pub fn specs() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "lookup_order".to_owned(),
                description: "Looks up the status of an order by its number.".to_owned(),
                parameters: json!({
                    "type": "object",
                    "properties": {"order": {"type": "string", "description": "The order number."}},
                    "required": ["order"]
                }),
            },
            ToolSpec {
                name: "time".to_owned(),
                description: "Tells the current time.".to_owned(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        ]
    }
}

#[async_trait]
impl ToolHandler for DemoTools {
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        match name {
            "lookup" | "lookup_order" => {
                let order = arguments.get("order").cloned().unwrap_or(Value::Null);
                Ok(json!({ "order": order, "status": "shipped", "eta_days": 2 }))
            }
            "time" => Ok(json!({ "time": "12:00" })),
            // GPT-Live hands work over as a delegation with no task text:
            // the request is what the caller said.
            DEFAULT_DELEGATION_TOOL => {
                let request = arguments.get("request").and_then(Value::as_str).unwrap_or("");
                let order: String = request.chars().filter(char::is_ascii_digit).collect();
                if order.is_empty() {
                    Ok(json!({ "answer": "Everything on the account is in order." }))
                } else {
                    Ok(json!({ "order": order, "status": "shipped", "eta_days": 2 }))
                }
            }
            other => Err(ToolError::new(format!("no tool named {other}"))),
        }
    }
}
