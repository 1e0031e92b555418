//! Calls through any [`RealtimeBackend`] with the real session core, against
//! a Realtime simulator: the conformance suite of a Realtime provider.
//!
//! Each call runs the minimal driver loop every deployment runs: it selects
//! over the connection's inputs, tool results and the next due time (the
//! core's [`Session::poll_timeout`], the scripted caller's next frame, the
//! carrier's next playback confirmation), feeds the core, and carries out
//! its commands in order. The caller streams audio faster than real time
//! (`speedup`), talks in turns, and (when asked) talks over the agent; the
//! carrier confirms played audio with marks as Twilio does. When the script
//! is spoken and the session is quiet, the caller hangs up.
//!
//! A call passes when every user turn the core committed was answered and
//! none was dropped; the simulator's [`Record`](super::Record) says whether
//! the wire rules held.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use turngate_audio::{AudioFormat, alaw, pcm16, ulaw};
use turngate_core::{
    AppCommand, AudioChunk, Command, DropReason, EndReason, Event, Input, MarkId, Session,
    SessionConfig, TransportCommand, TurnDetection,
};
use turngate_llm::realtime::{ConnectionStats, RealtimeBackend, RealtimeSessionConfig};
use turngate_llm::tool::{ToolHandler, output_text};

/// One call to run.
#[derive(Clone, Debug)]
pub struct CallPlan {
    /// The upstream session.
    pub session: RealtimeSessionConfig,
    /// The session core.
    pub core: SessionConfig,
    /// What the caller does.
    pub script: CallScript,
}

/// What the scripted caller does.
#[derive(Clone, Debug)]
pub struct CallScript {
    /// Seed of the caller's timing.
    pub seed: u64,
    /// Utterances the caller speaks.
    pub turns: u32,
    /// Audio is sent this many times faster than real time (and played back
    /// as fast), so that a call of seconds takes a fraction of that.
    pub speedup: u32,
    /// True to start utterances without waiting for the agent to finish.
    pub talk_over: bool,
    /// Audio per chunk handed to the core.
    pub chunk: Duration,
    /// Silence after speech before the next utterance may start, at least
    /// (keep it above the server VAD's silence duration so utterances stay
    /// separate turns).
    pub min_gap: Duration,
    /// The longest the call may take (wall time); past it the caller hangs
    /// up whatever is pending, which fails the call.
    pub max_wall: Duration,
}

/// What became of one call.
#[derive(Clone, Debug, Default)]
pub struct CallOutcome {
    /// Utterances the caller finished speaking.
    pub spoken: u32,
    /// User turns the core committed.
    pub committed: u64,
    /// User turns answered (interrupted answers included).
    pub answered: u64,
    /// User turns dropped, with the rule.
    pub dropped: Vec<(DropReason, usize)>,
    /// Responses created (any origin).
    pub responses: u64,
    /// Creates the backend refused (the core retried them).
    pub creates_rejected: u64,
    /// Tool calls run.
    pub tool_calls: u64,
    /// Barge-ins.
    pub barge_ins: u64,
    /// Times the backend became ready (1 + reconnects).
    pub ready: u64,
    /// Backend errors the core reported (code and message).
    pub backend_errors: Vec<String>,
    /// The connection's own counters.
    pub stats: ConnectionStats,
    /// Why the call could not run or ended badly, if it did.
    pub failure: Option<String>,
    /// Wall time of the call.
    pub wall: Duration,
    /// Why the session ended, as the core reported it.
    pub ended: Option<EndReason>,
    /// The last inputs and events of the call (milliseconds since its
    /// start), so that a failed call can be read without a rerun.
    pub trail: VecDeque<String>,
}

/// How many inputs and events a call's trail keeps.
const TRAIL: usize = 48;

impl CallOutcome {
    fn note(&mut self, started: Instant, what: &str) {
        if self.trail.len() == TRAIL {
            self.trail.pop_front();
        }
        self.trail.push_back(format!("{:>6}ms {what}", started.elapsed().as_millis()));
    }
}

impl CallOutcome {
    /// True when every committed turn was answered and nothing went wrong.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.dropped.is_empty() && self.answered == self.committed
    }
}

/// Runs `plans` through `backend`, at most `concurrency` at once.
pub async fn run_calls(
    backend: Arc<dyn RealtimeBackend>,
    tools: Arc<dyn ToolHandler>,
    plans: Vec<CallPlan>,
    concurrency: usize,
) -> Vec<CallOutcome> {
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut calls = JoinSet::new();
    for (index, plan) in plans.into_iter().enumerate() {
        let backend = Arc::clone(&backend);
        let tools = Arc::clone(&tools);
        let slots = Arc::clone(&slots);
        calls.spawn(async move {
            let _slot = slots.acquire_owned().await;
            (index, run_call(backend.as_ref(), tools, plan).await)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(error) => outcomes.push((
                usize::MAX,
                CallOutcome {
                    failure: Some(format!("call task failed: {error}")),
                    ..CallOutcome::default()
                },
            )),
        }
    }
    outcomes.sort_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// Runs one call to its end.
pub async fn run_call(
    backend: &dyn RealtimeBackend,
    tools: Arc<dyn ToolHandler>,
    plan: CallPlan,
) -> CallOutcome {
    let started = Instant::now();
    let mut outcome = CallOutcome::default();
    let format = plan.session.input_format;
    let client_vad = plan.core.turn_detection == TurnDetection::Client;
    let mut connection = match backend.connect(plan.session).await {
        Ok(connection) => connection,
        Err(error) => {
            outcome.failure = Some(format!("connect failed: {error}"));
            return outcome;
        }
    };
    let mut session = Session::new(plan.core, now());
    let mut caller = Caller::new(&plan.script, format, client_vad, started);
    let mut carrier = Carrier::new(plan.script.speedup);
    let (tool_tx, mut tool_rx) = mpsc::channel::<(turngate_core::CallId, String)>(16);
    let wall_limit = started + plan.script.max_wall;
    let mut open = true;
    let mut queue: VecDeque<Input> = VecDeque::new();

    while !session.is_ended() {
        let deadline = [
            session.poll_timeout().map(Instant::from_std),
            caller.next_at(),
            carrier.next_at(),
            Some(wall_limit),
        ]
        .into_iter()
        .flatten()
        .min();
        let input = tokio::select! {
            input = connection.recv(), if open => match input {
                Some(input) => Some(input),
                None => {
                    open = false;
                    None
                }
            },
            Some((call_id, output)) = tool_rx.recv() => Some(Input::ToolResult { call_id, output }),
            () = sleep_until(deadline) => None,
        };
        let at = Instant::now();
        queue.extend(input);
        queue.extend(carrier.due(at));
        if at >= wall_limit && !caller.hung_up {
            outcome.failure = Some(format!(
                "the call did not settle within {:?}: {} of {} utterances committed, {} turns pending, gate {:?}",
                plan.script.max_wall,
                session.counters().turns_committed,
                caller.spoken,
                session.pending_turns(),
                session.gate()
            ));
            caller.hung_up = true;
            queue.push_back(Input::CallEnded);
        }
        // The caller judges the session as it will be once what arrived
        // is handled: it never hangs up on a commit still in the queue.
        let settled = queue.is_empty();
        queue.extend(caller.due(at, &session, settled));
        if queue.is_empty() {
            queue.push_back(Input::Tick);
        }
        while let Some(input) = queue.pop_front() {
            if !matches!(input, Input::CallerAudio(_) | Input::Tick) {
                outcome.note(started, &format!("in  {}", brief(&input)));
            }
            let commands = session.handle(at.into_std(), input);
            for command in commands {
                match command {
                    Command::Backend(command) => {
                        if let Err(error) = connection.send(command).await {
                            outcome.failure.get_or_insert(format!("send failed: {error}"));
                        }
                    }
                    Command::Transport(TransportCommand::Play { audio, mark, .. }) => {
                        carrier.play(at, mark, audio.duration);
                    }
                    Command::Transport(TransportCommand::Clear) => queue.extend(carrier.clear()),
                    Command::Transport(TransportCommand::HangUp) => {}
                    Command::App(AppCommand::InvokeTool { call_id, name, arguments }) => {
                        outcome.tool_calls += 1;
                        let tools = Arc::clone(&tools);
                        let tool_tx = tool_tx.clone();
                        tokio::spawn(async move {
                            let arguments = serde_json::from_str(&arguments).unwrap_or_default();
                            let output = match tools.call(&name, arguments).await {
                                Ok(output) => output_text(&output),
                                Err(error) => output_text(&error.to_output()),
                            };
                            let _ = tool_tx.send((call_id, output)).await;
                        });
                    }
                    Command::App(AppCommand::SessionEnded { reason }) => {
                        outcome.ended = Some(reason);
                    }
                    Command::App(_) => {}
                    Command::Event(event) => {
                        outcome.note(started, &format!("ev  {event:?}"));
                        tally(&mut outcome, event);
                    }
                }
            }
        }
        if !open && !session.is_ended() && !session.backend_ready() && caller.hung_up {
            // The connection gave up and the call is over on our side.
            break;
        }
    }
    outcome.spoken = caller.spoken;
    let counters = session.counters();
    outcome.committed = counters.turns_committed;
    outcome.answered = counters.turns_answered;
    outcome.creates_rejected = counters.creates_rejected;
    outcome.barge_ins = counters.barge_ins;
    outcome.stats = connection.stats();
    connection.close().await;
    outcome.wall = started.elapsed();
    outcome
}

/// An input for the trail, without audio payloads.
fn brief(input: &Input) -> String {
    match input {
        Input::ResponseAudio { response_id, audio, .. } => {
            format!("ResponseAudio {} {:?}", response_id.0, audio.duration)
        }
        other => {
            let mut text = format!("{other:?}");
            text.truncate(160);
            text
        }
    }
}

fn tally(outcome: &mut CallOutcome, event: Event) {
    match event {
        Event::TurnsDropped { count, reason } => outcome.dropped.push((reason, count)),
        Event::BackendReady => outcome.ready += 1,
        Event::GateChanged { to: turngate_core::GateKind::Active, .. } => outcome.responses += 1,
        Event::BackendError { code, message } => {
            outcome.backend_errors.push(format!("{}: {message}", code.unwrap_or_default()));
        }
        _ => {}
    }
}

/// The scripted caller: audio chunks, speech start and stop, the hang-up.
#[derive(Debug)]
struct Caller {
    chunk: Duration,
    chunk_wall: Duration,
    speedup: u32,
    loud: Vec<u8>,
    silent: Vec<u8>,
    client_vad: bool,
    talk_over: bool,
    turns: u32,
    min_gap: Duration,
    rng: u64,
    next_at: Instant,
    /// Chunks left in the current utterance (0 when silent).
    speaking: u32,
    /// Chunks of silence before the next utterance may start.
    gap: u32,
    spoken: u32,
    quiet_since: Option<Instant>,
    hung_up: bool,
}

impl Caller {
    fn new(script: &CallScript, format: AudioFormat, client_vad: bool, start: Instant) -> Caller {
        let speedup = script.speedup.max(1);
        let samples = format.sample_rate().samples_per_ms() * duration_ms(script.chunk) as usize;
        let tone: Vec<i16> = (0..samples)
            .map(|n| {
                let phase = n as f64 * 2.0 * std::f64::consts::PI * 400.0
                    / f64::from(format.sample_rate().hz());
                (phase.sin() * 8000.0) as i16
            })
            .collect();
        let mut caller = Caller {
            chunk: script.chunk,
            chunk_wall: script.chunk / speedup,
            speedup,
            loud: encode(format, &tone),
            silent: encode(format, &vec![0; samples]),
            client_vad,
            talk_over: script.talk_over,
            turns: script.turns,
            min_gap: script.min_gap,
            rng: script.seed | 1,
            next_at: start,
            speaking: 0,
            gap: 0,
            spoken: 0,
            quiet_since: None,
            hung_up: false,
        };
        caller.gap = caller.gap_chunks();
        caller
    }

    fn next_at(&self) -> Option<Instant> {
        (!self.hung_up).then_some(self.next_at)
    }

    /// The inputs due by `now`. `settled` is false while inputs from the
    /// backend or the carrier wait to be handled; the caller does not hang
    /// up then.
    fn due(&mut self, now: Instant, session: &Session, settled: bool) -> Vec<Input> {
        let mut inputs = Vec::new();
        while !self.hung_up && self.next_at <= now {
            self.next_at += self.chunk_wall;
            if self.speaking > 0 {
                self.speaking -= 1;
                inputs.push(Input::CallerAudio(AudioChunk::new(self.loud.clone(), self.chunk)));
                if self.speaking == 0 {
                    self.spoken += 1;
                    self.gap = self.gap_chunks();
                    if self.client_vad {
                        inputs.push(Input::UserSpeechStopped);
                    }
                }
                continue;
            }
            inputs.push(Input::CallerAudio(AudioChunk::new(self.silent.clone(), self.chunk)));
            if self.gap > 0 {
                self.gap -= 1;
                continue;
            }
            let agent_busy = session.agent_speaking()
                || session.pending_turns() > 0
                || session.gate() != turngate_core::GateKind::Idle;
            if self.spoken < self.turns {
                if agent_busy && !self.talk_over {
                    continue;
                }
                let chunks = 4 + (self.random() % 8) as u32;
                self.speaking = chunks;
                if self.client_vad {
                    inputs.push(Input::UserSpeechStarted);
                }
                continue;
            }
            // The script is spoken: hang up once the session is quiet for a
            // moment with every utterance committed, answered and heard. A
            // server's VAD commits a moment after the speech ends (later on a
            // loaded machine, later still across a reconnect), so the caller
            // waits for it; an utterance that is never committed was lost,
            // and the wall limit reports it.
            let all_committed = session.counters().turns_committed >= u64::from(self.spoken);
            let quiet = settled
                && all_committed
                && !agent_busy
                && session.tools_running() == 0
                && !session.user_speaking();
            let window = self.min_gap / self.speedup * 2;
            match (quiet, self.quiet_since) {
                (false, _) => self.quiet_since = None,
                (true, None) => self.quiet_since = Some(now),
                (true, Some(since)) => {
                    if now.duration_since(since) >= window {
                        self.hung_up = true;
                        inputs.push(Input::CallEnded);
                    }
                }
            }
        }
        inputs
    }

    fn gap_chunks(&mut self) -> u32 {
        let min = (duration_ms(self.min_gap) / duration_ms(self.chunk).max(1)) as u32 + 1;
        min + (self.random() % u64::from(min.max(1))) as u32
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// The carrier: plays audio in real time divided by the speedup and echoes
/// each mark when the audio before it has played; `clear` echoes every
/// pending mark at once (Twilio's behaviour).
#[derive(Debug)]
struct Carrier {
    speedup: u32,
    playing_until: Option<Instant>,
    marks: VecDeque<(Instant, MarkId)>,
}

impl Carrier {
    fn new(speedup: u32) -> Carrier {
        Carrier { speedup: speedup.max(1), playing_until: None, marks: VecDeque::new() }
    }

    fn play(&mut self, now: Instant, mark: MarkId, duration: Duration) {
        let start = self.playing_until.filter(|until| *until > now).unwrap_or(now);
        let end = start + duration / self.speedup;
        self.playing_until = Some(end);
        self.marks.push_back((end, mark));
    }

    fn clear(&mut self) -> Vec<Input> {
        self.playing_until = None;
        self.marks.drain(..).map(|(_, mark)| Input::PlaybackMark(mark)).collect()
    }

    fn next_at(&self) -> Option<Instant> {
        self.marks.front().map(|(at, _)| *at)
    }

    fn due(&mut self, now: Instant) -> Vec<Input> {
        let mut inputs = Vec::new();
        while let Some((at, mark)) = self.marks.front().copied() {
            if at > now {
                break;
            }
            self.marks.pop_front();
            inputs.push(Input::PlaybackMark(mark));
        }
        inputs
    }
}

fn encode(format: AudioFormat, samples: &[i16]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(samples.len() * format.bytes_per_sample());
    match format {
        AudioFormat::Ulaw => ulaw::encode_extend(samples, &mut bytes),
        AudioFormat::Alaw => alaw::encode_extend(samples, &mut bytes),
        AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(samples, &mut bytes),
    }
    bytes
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
