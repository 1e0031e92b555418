//! Chat conflict recovery: how long after a blocking run or response has
//! ended our next message is accepted, on top of the simulator's own
//! cancel time.
//!
//! Assistants: another client leaves a run active on our thread (it asks
//! for a tool and walks away); our next message must cancel it, wait while
//! it is `cancelling`, and add the message. Responses: our own message
//! hangs and misses its deadline, so the backend cancels it; the next
//! message must wait out the lock the cancel leaves on the conversation.
//! The simulators' timelines hold when each blocking piece of work ended
//! (`cancelled`) and when the next message was accepted; the difference is
//! the client's recovery overhead, which polling intervals and retry
//! backoff decide.
//!
//! The rounds are spread over several simulator cancel times, so the
//! figure does not hinge on how one cancel time happens to line up with
//! the poll schedule. They run with the backends' default polling, as users
//! get it, and again with a faster poll, to show how much of the overhead
//! is the poll interval.

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::time::Instant;
use turngate_llm::chat::assistants::{AssistantsBackend, AssistantsConfig};
use turngate_llm::chat::responses::{ResponsesBackend, ResponsesConfig};
use turngate_llm::chat::{ChatBackend, ConversationId, PollBackoff, RestConfig, UserMessage};
use turngate_sim::chat::{ChatSim, SimConfig};

use crate::results::Results;

/// How long the simulators take to finish a cancel, in turn.
pub(crate) const CANCELS: [Duration; 4] = [
    Duration::from_millis(350),
    Duration::from_millis(500),
    Duration::from_millis(650),
    Duration::from_millis(800),
];

/// The faster poll the second pass uses.
const FAST_POLL: PollBackoff =
    PollBackoff { initial: Duration::from_millis(40), max: Duration::from_millis(60) };

/// Recovery overheads in milliseconds, per API.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Assistants: stale run cancelled → our message accepted.
    pub(crate) assistants: Vec<f64>,
    /// Responses: our timed-out response cancelled → the next one accepted.
    pub(crate) responses: Vec<f64>,
    /// Both APIs with [`FAST_POLL`].
    pub(crate) fast_poll: Vec<f64>,
}

fn sim_config(cancel: Duration) -> SimConfig {
    SimConfig { cancel, run: Duration::from_millis(200), ..SimConfig::default() }
}

/// Measures about `rounds` recoveries on each API with the default polling
/// (and as many with the fast poll), spread over [`CANCELS`].
pub(crate) async fn measure(rounds: usize) -> anyhow::Result<Recovery> {
    let each = rounds.div_ceil(CANCELS.len()).max(1);
    let mut recovery = Recovery::default();
    for cancel in CANCELS {
        recovery.assistants.extend(assistants(each, cancel, PollBackoff::default()).await?);
        recovery.responses.extend(responses(each, cancel, PollBackoff::default()).await?);
        recovery.fast_poll.extend(assistants(each, cancel, FAST_POLL).await?);
        recovery.fast_poll.extend(responses(each, cancel, FAST_POLL).await?);
    }
    Ok(recovery)
}

async fn assistants(
    rounds: usize,
    cancel: Duration,
    poll: PollBackoff,
) -> anyhow::Result<Vec<f64>> {
    let sim = ChatSim::assistants(sim_config(cancel)).await?;
    let mut config = AssistantsConfig::new(RestConfig::new(sim.base_url()), "asst_plain");
    config.poll = poll;
    let backend = AssistantsBackend::new(config)?;
    let conversation = ConversationId::from("bench-assistants");
    backend.submit(&conversation, UserMessage::new("hello")).await?;
    let thread = backend.upstream_of(&conversation).context("the backend made no thread")?;
    for round in 0..rounds {
        // Each round's text differs: the simulator counts a repeated user
        // text as a duplicate delivery.
        if !sim.foreign_message(&thread, &format!("please call:weather (round {round})")) {
            bail!("round {round}: the thread still had an active run");
        }
        sim.foreign_run(&thread, &["weather"]).context("a run was already active")?;
        // Let the foreign run reach `requires_action`, the state the real
        // incidents left behind.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = format!("message {round}");
        let reply = backend.submit(&conversation, UserMessage::new(text.clone())).await?;
        if reply.text != format!("echo: {text}") {
            bail!("round {round}: unexpected reply {:?}", reply.text);
        }
    }
    finish(&sim, rounds, "assistants")
}

async fn responses(rounds: usize, cancel: Duration, poll: PollBackoff) -> anyhow::Result<Vec<f64>> {
    let sim = ChatSim::responses(sim_config(cancel)).await?;
    let mut config = ResponsesConfig::new(RestConfig::new(sim.base_url()), "gpt-5.2");
    config.poll = poll;
    let backend = ResponsesBackend::new(config)?;
    let conversation = ConversationId::from("bench-responses");
    for round in 0..rounds {
        let stuck = UserMessage::new(format!("[hang] {round}"))
            .with_deadline(Instant::now() + Duration::from_millis(400));
        if backend.submit(&conversation, stuck).await.is_ok() {
            bail!("round {round}: a message that hangs was answered");
        }
        let text = format!("message {round}");
        let reply = backend.submit(&conversation, UserMessage::new(text.clone())).await?;
        if reply.text != format!("echo: {text}") {
            bail!("round {round}: unexpected reply {:?}", reply.text);
        }
    }
    finish(&sim, rounds, "responses")
}

/// The simulator's recovery overheads, after checking it saw no violation
/// and one recovery per round.
fn finish(sim: &ChatSim, rounds: usize, api: &str) -> anyhow::Result<Vec<f64>> {
    let violations = sim.violations();
    if violations.total() != 0 {
        bail!("{api}: the simulator saw violations: {violations:?}");
    }
    let overheads: Vec<f64> =
        sim.recovery_overheads().iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    if overheads.len() != rounds {
        bail!("{api}: {} recoveries in {rounds} rounds", overheads.len());
    }
    Ok(overheads)
}

impl Recovery {
    /// The figures under `chat.`.
    pub(crate) fn write(&self, results: &mut Results) {
        let mut all: Vec<f64> = self.assistants.iter().chain(&self.responses).copied().collect();
        results.put("chat.recovery_overhead_ms_p50", percentile(&mut all, 0.50));
        results.put("chat.recovery_overhead_ms_p99", percentile(&mut all, 0.99));
        results.put("chat.recovery_overhead_ms_max", percentile(&mut all, 1.0));
        let mut assistants = self.assistants.clone();
        let mut responses = self.responses.clone();
        results.put("chat.assistants_overhead_ms_p50", percentile(&mut assistants, 0.50));
        results.put("chat.responses_overhead_ms_p50", percentile(&mut responses, 0.50));
        let mut fast = self.fast_poll.clone();
        results.put("chat.recovery_overhead_ms_p50_fast_poll", percentile(&mut fast, 0.50));
        results.put("chat.rounds", all.len() as f64);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        results.put("chat.sim_cancel_ms_min", CANCELS.first().map_or(0.0, |d| ms(*d)));
        results.put("chat.sim_cancel_ms_max", CANCELS.last().map_or(0.0, |d| ms(*d)));
    }
}

/// The nearest-rank percentile `q` of `values` (sorted in place); 0 when empty.
pub(crate) fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values.get(rank - 1).copied().unwrap_or_default()
}
