//! The start-up model check: with a real API key, the server asks the model
//! API about every model it is configured to use, so that a model that is
//! gone stops the start with its name instead of failing every call, and a
//! model with an announced shutdown is warned about at every start until it
//! is replaced.

use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};
use turngate_llm::chat::{ChatError, RestConfig};
use turngate_llm::models::{self, Day, ModelStatus};

use crate::config::{Config, VoiceApi};
use crate::server::ServerError;

/// The longest the check may delay the start, whatever the API does.
pub(crate) const CHECK_BUDGET: Duration = Duration::from_secs(5);

/// One model the configuration names, and the key that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Configured {
    pub(crate) key: &'static str,
    pub(crate) model: String,
}

/// What the start does about one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Fine,
    Warn(String),
    Refuse(String),
}

/// The models the configuration uses: the voice model (the `model` of the
/// Realtime URL and the transcription model, or the GPT-Live model) and the
/// chat model.
pub(crate) fn configured(config: &Config) -> Vec<Configured> {
    let openai = &config.openai;
    let realtime = openai.realtime_model();
    let chat = ("openai.chat_model", Some(openai.chat_model.clone()));
    // GPT-Live transcribes the caller itself; the transcription model is
    // the Realtime session's.
    let checked = match openai.voice_api {
        VoiceApi::Realtime => vec![
            ("openai.realtime_url", realtime),
            chat,
            ("openai.transcription_model", Some(openai.transcription_model.clone())),
        ],
        VoiceApi::Live => vec![("openai.live_model", Some(openai.live_model.clone())), chat],
    };
    let mut models = Vec::new();
    for (key, model) in checked {
        if let Some(model) = model.filter(|m| !m.is_empty()) {
            models.push(Configured { key, model });
        }
    }
    models
}

/// The verdict on one model, given what the API said and today's date.
/// `authoritative` is true when the API is OpenAI's own: only its catalogue
/// says for certain that a model does not exist for the key, while a
/// compatible server's may simply not list the models it serves.
pub(crate) fn judge(
    configured: &Configured,
    answer: Result<ModelStatus, ChatError>,
    today: Day,
    authoritative: bool,
) -> Verdict {
    let Configured { key, model } = configured;
    let off = "(set openai.check_models = false to skip this check)";
    match answer {
        Ok(ModelStatus::Available { shutdown: None }) => Verdict::Fine,
        Ok(ModelStatus::Available { shutdown: Some(day) }) => {
            let left = today.days_until(day);
            if left <= 0 {
                Verdict::Refuse(format!(
                    "{key}: model `{model}` was shut down on {day}; requests naming it fail. Choose a current model {off}"
                ))
            } else {
                Verdict::Warn(format!(
                    "{key}: model `{model}` shuts down on {day}, in {left} days; every call will fail from then on. Choose a current model"
                ))
            }
        }
        Ok(ModelStatus::UnreadableShutdown(text)) => Verdict::Warn(format!(
            "{key}: model `{model}` has a shutdown date this server cannot read ({text}); check the deprecations page"
        )),
        Ok(ModelStatus::NotFound(message)) if authoritative => Verdict::Refuse(format!(
            "{key}: the model API does not know model `{model}` ({message}) {off}"
        )),
        Ok(ModelStatus::NotFound(message)) => Verdict::Warn(format!(
            "{key}: the server at openai.base_url does not list model `{model}` ({message}); requests naming it may fail"
        )),
        Err(error) => Verdict::Warn(format!("{key}: could not check model `{model}`: {error}")),
    }
}

/// Whether `base_url` is OpenAI's own API.
fn is_openai(base_url: &str) -> bool {
    let rest = base_url.strip_prefix("https://").unwrap_or_default();
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    host.eq_ignore_ascii_case("api.openai.com")
}

/// Runs the check when it applies (an API key, `openai.check_models`),
/// every model at once, within [`CHECK_BUDGET`].
///
/// # Errors
///
/// A configured model is unknown to the API or already shut down.
pub(crate) async fn run(config: &Config) -> Result<(), ServerError> {
    if config.uses_simulators() || !config.openai.check_models {
        return Ok(());
    }
    let mut rest =
        RestConfig::new(config.openai.base_url.clone()).with_api_key(config.openai.api_key.clone());
    rest.request_timeout = CHECK_BUDGET;
    rest.connect_timeout = CHECK_BUDGET.min(rest.connect_timeout);
    let deadline = Instant::now() + CHECK_BUDGET;
    let mut lookups = JoinSet::new();
    let models = configured(config);
    for (index, model) in models.iter().enumerate() {
        let rest = rest.clone();
        let name = model.model.clone();
        lookups.spawn(async move { (index, models::status(&rest, &name, deadline).await) });
    }
    let mut answers: Vec<Option<Result<ModelStatus, ChatError>>> = vec![None; models.len()];
    // The lookups stop at the deadline themselves; this bound is for a
    // server that accepts the connection and then never answers.
    let _ = tokio::time::timeout_at(deadline + Duration::from_millis(250), async {
        while let Some(joined) = lookups.join_next().await {
            if let Ok((index, answer)) = joined
                && let Some(slot) = answers.get_mut(index)
            {
                *slot = Some(answer);
            }
        }
    })
    .await;
    lookups.abort_all();
    let today = Day::of(SystemTime::now());
    let authoritative = is_openai(&config.openai.base_url);
    let mut refusals = Vec::new();
    for (model, answer) in models.iter().zip(answers) {
        let answer = answer.unwrap_or_else(|| {
            Err(ChatError::Unavailable {
                provider: "openai-models",
                message: format!("no answer within {} s", CHECK_BUDGET.as_secs()),
            })
        });
        match judge(model, answer, today, authoritative) {
            Verdict::Fine => info!(key = model.key, model = %model.model, "model checked"),
            Verdict::Warn(text) => warn!("{text}"),
            Verdict::Refuse(text) => refusals.push(text),
        }
    }
    if refusals.is_empty() { Ok(()) } else { Err(ServerError::Models(refusals.join("; "))) }
}

#[cfg(test)]
mod tests {
    use turngate_llm::chat::ChatError;
    use turngate_llm::models::{Day, ModelStatus};

    use super::{Configured, Verdict, configured, is_openai, judge};
    use crate::config::{Config, VoiceApi};

    #[test]
    fn the_models_are_read_from_the_configuration() {
        let mut config = Config::default();
        config.openai.realtime_url = "wss://example.com/v1/realtime?foo=1&model=rt-x".to_owned();
        config.openai.transcription_model.clear();
        let names: Vec<(&str, String)> =
            configured(&config).into_iter().map(|c| (c.key, c.model)).collect();
        assert_eq!(
            names,
            [
                ("openai.realtime_url", "rt-x".to_owned()),
                ("openai.chat_model", config.openai.chat_model.clone()),
            ]
        );
        config.openai.realtime_url = "wss://example.com/v1/realtime".to_owned();
        assert!(configured(&config).iter().all(|c| c.key != "openai.realtime_url"));
        // GPT-Live transcribes by itself: its model replaces both voice models.
        config.openai.voice_api = VoiceApi::Live;
        config.openai.transcription_model = "gpt-live-transcribe".to_owned();
        let names: Vec<&str> = configured(&config).into_iter().map(|c| c.key).collect();
        assert_eq!(names, ["openai.live_model", "openai.chat_model"]);
    }

    #[test]
    fn only_openai_itself_is_taken_as_the_last_word_on_a_missing_model() {
        assert!(is_openai("https://api.openai.com/v1"));
        assert!(is_openai("https://API.openai.com:443/v1"));
        for other in [
            "http://127.0.0.1:9000/v1",
            "https://api.openai.com.evil.example/v1",
            "http://api.openai.com/v1",
            "https://example.com/api.openai.com",
        ] {
            assert!(!is_openai(other), "{other}");
        }
    }

    #[test]
    fn each_answer_has_its_verdict() {
        let today = Day::parse("2026-12-03").unwrap();
        let model = Configured { key: "openai.chat_model", model: "m".to_owned() };
        let on = |day: &str| Ok(ModelStatus::Available { shutdown: Day::parse(day) });
        let kind = |verdict: Verdict| match verdict {
            Verdict::Fine => "fine",
            Verdict::Warn(_) => "warn",
            Verdict::Refuse(_) => "refuse",
        };
        let cases: Vec<(Result<ModelStatus, ChatError>, &str)> = vec![
            (Ok(ModelStatus::Available { shutdown: None }), "fine"),
            (on("2027-01-20"), "warn"),
            (on("2026-12-04"), "warn"),
            (on("2026-12-03"), "refuse"),
            (on("2026-01-01"), "refuse"),
            (Ok(ModelStatus::UnreadableShutdown("soon".to_owned())), "warn"),
            (Ok(ModelStatus::NotFound("no such model".to_owned())), "refuse"),
            // The same answer from a compatible server only warns (below).
            (Err(ChatError::Unavailable { provider: "p", message: "down".to_owned() }), "warn"),
        ];
        for (answer, expected) in cases {
            let shown = format!("{answer:?}");
            assert_eq!(kind(judge(&model, answer, today, true)), expected, "{shown}");
        }
        let missing = Ok(ModelStatus::NotFound("no such model".to_owned()));
        assert_eq!(kind(judge(&model, missing, today, false)), "warn");
        let gone = judge(&model, on("2026-12-01"), today, false);
        assert_eq!(kind(gone), "refuse", "a shutdown date passed is certain from any server");
        let Verdict::Warn(text) = judge(&model, on("2027-01-20"), today, true) else { panic!() };
        assert!(text.contains("shuts down on 2027-01-20, in 48 days"), "{text}");
    }
}
