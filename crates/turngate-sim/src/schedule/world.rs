//! One simulated call: the core, the peers around it, and the clock.
//!
//! Everything happens on a virtual clock through one event queue. Each
//! direction of each connection is a FIFO channel with random latency (a
//! WebSocket never reorders), webhooks are not ordered with anything, and
//! the backend connection may drop, losing whatever was in flight on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use turngate_core::{
    AppCommand, AudioChunk, CallId, Command, Input, Session, TransportCommand, TurnDetection,
    TurnModel,
};

use super::duplex::Duplex;
use super::monitor::{Found, Monitor, ViolationKind};
use super::params::{Flavor, Params};
use super::rng::Rng;
use super::upstream::{Breach, UpOut, Upstream};

/// What happened in a schedule that ran to its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs the core handled.
    pub inputs: u64,
    /// Simulated time.
    pub simulated: Duration,
    /// User turns committed.
    pub turns: u64,
    /// Barge-ins.
    pub barge_ins: u64,
    /// Dead-air check-ins.
    pub check_ins: u64,
    /// Creates the model server refused because a response was active
    /// (only possible when the server creates responses on its own).
    pub upstream_conflicts: u64,
    /// Backend disconnects.
    pub disconnects: u64,
    /// Calls against a full-duplex model.
    pub full_duplex: u64,
    /// Delegations a full-duplex model handed over.
    pub delegations: u64,
}

#[derive(Debug)]
enum Ev {
    /// An input from the transport, the app or the driver itself.
    Core(Input),
    /// An input from the backend connection `epoch`.
    FromUpstream(u32, Input),
    ToUpstream(u32, turngate_core::BackendCommand),
    UpstreamStep(u32, u64),
    ToCarrier(TransportCommand),
    CarrierTick,
    Frame,
    CoreTimer,
    Disconnect,
    Reconnect,
    AppAct,
}

#[derive(Debug)]
struct Scheduled {
    at: Duration,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A FIFO channel: nothing sent later arrives earlier.
#[derive(Debug, Default)]
struct Fifo {
    last: Duration,
}

impl Fifo {
    fn arrival(&mut self, now: Duration, latency: Duration) -> Duration {
        self.last = self.last.max(now + latency);
        self.last
    }
}

/// The model server of a schedule: gated (Realtime) or full duplex (GPT-Live).
#[derive(Debug)]
enum Model {
    Gated(Upstream),
    Duplex(Duplex),
}

impl Model {
    fn reset(&mut self) {
        match self {
            Model::Gated(upstream) => upstream.reset(),
            Model::Duplex(duplex) => duplex.reset(),
        }
    }

    fn configure(&mut self) -> UpOut {
        match self {
            Model::Gated(upstream) => upstream.configure(),
            Model::Duplex(duplex) => duplex.configure(),
        }
    }

    fn receive(
        &mut self,
        command: turngate_core::BackendCommand,
        params: &Params,
        rng: &mut Rng,
        out: &mut Vec<UpOut>,
    ) -> Result<(), Breach> {
        match self {
            Model::Gated(upstream) => upstream.receive(command, params, rng, out),
            Model::Duplex(duplex) => duplex.receive(command, params, rng, out),
        }
    }

    fn step(&mut self, key: u64, params: &Params, rng: &mut Rng, out: &mut Vec<UpOut>) {
        match self {
            Model::Gated(upstream) => upstream.step(key, params, rng, out),
            Model::Duplex(duplex) => duplex.step(key, rng, out),
        }
    }

    fn take_unplaced(&mut self) -> Vec<turngate_core::ClientEventId> {
        match self {
            Model::Gated(_) => Vec::new(),
            Model::Duplex(duplex) => duplex.take_unplaced(),
        }
    }

    fn full_duplex(&self) -> bool {
        matches!(self, Model::Duplex(_))
    }

    fn conflicts(&self) -> u32 {
        match self {
            Model::Gated(upstream) => upstream.conflicts,
            Model::Duplex(_) => 0,
        }
    }
}

/// How many recent steps a failure report shows.
const TRACE_STEPS: usize = 40;
/// How long after the caller falls silent the session has to end.
const DRAIN: Duration = Duration::from_secs(180);

pub(crate) struct World {
    rng: Rng,
    params: Params,
    start: Instant,
    now: Duration,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    session: Session,
    ended: bool,
    timer_at: Option<Duration>,
    upstream: Model,
    epoch: u32,
    /// When the core hears of the latest disconnect: a full-duplex
    /// provider reports what died with the session after that.
    lost_notice: Duration,
    socket_alive: bool,
    to_upstream: Fifo,
    from_upstream: Fifo,
    to_carrier: Fifo,
    from_carrier: Fifo,
    carrier: VecDeque<(turngate_core::MarkId, Duration)>,
    carrier_end: Duration,
    speaking_until: Option<Duration>,
    speech_flag: u8,
    next_speech: Option<Duration>,
    monitor: Monitor,
    tracing: bool,
    trace: VecDeque<String>,
    stats: Stats,
    up_out: Vec<UpOut>,
}

/// Why a schedule failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ViolationKind,
    pub(crate) at: Duration,
    pub(crate) detail: String,
    pub(crate) trace: Vec<String>,
}

impl World {
    /// A world for `seed`; with `tracing`, the last steps are kept for a report.
    pub(crate) fn new(seed: u64, base: &turngate_core::SessionConfig, tracing: bool) -> World {
        let mut rng = Rng::new(seed);
        let params = Params::random(&mut rng, base);
        // The simulation reads the real clock once, for an origin; from then
        // on time is virtual and only offsets from it matter.
        let start = Instant::now();
        let session = Session::new(params.config.clone(), start);
        let monitor = Monitor::new(&params.config);
        World {
            rng,
            start,
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            session,
            ended: false,
            timer_at: None,
            upstream: if params.config.turn_model == TurnModel::FullDuplex {
                Model::Duplex(Duplex::default())
            } else {
                Model::Gated(Upstream::default())
            },
            epoch: 0,
            lost_notice: Duration::ZERO,
            socket_alive: true,
            to_upstream: Fifo::default(),
            from_upstream: Fifo::default(),
            to_carrier: Fifo::default(),
            from_carrier: Fifo::default(),
            carrier: VecDeque::new(),
            carrier_end: Duration::ZERO,
            speaking_until: None,
            speech_flag: 0,
            next_speech: None,
            monitor,
            tracing,
            trace: VecDeque::new(),
            stats: Stats::default(),
            up_out: Vec::new(),
            params,
        }
    }

    pub(crate) fn run(mut self) -> Result<Stats, Failure> {
        let connect = self.rng.millis(50, 800);
        self.at(connect, Ev::Reconnect);
        self.at(Duration::ZERO, Ev::Frame);
        self.arm_timer();
        for at in self.params.disconnects.clone() {
            self.at(at, Ev::Disconnect);
        }
        if let Some(at) = self.params.hang_up_at {
            self.at(at, Ev::Core(Input::CallEnded));
        }
        if let Some((low, _)) = self.params.app_every {
            let first = self.rng.millis(low, low * 2);
            self.at(first, Ev::AppAct);
        }
        let limit = self.params.active_for + DRAIN;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.at > limit || self.ended {
                break;
            }
            self.now = next.at;
            if let Err((kind, detail)) = self.dispatch(next.ev) {
                return Err(self.failure(kind, detail));
            }
        }
        self.finish()
    }

    fn finish(mut self) -> Result<Stats, Failure> {
        if !self.ended {
            let detail = format!(
                "still {:?} after {:?}; gate {:?}, {} turns pending",
                self.session.phase(),
                self.now,
                self.session.gate(),
                self.session.pending_turns()
            );
            return Err(self.failure(ViolationKind::NeverEnded, detail));
        }
        let monitor = &self.monitor;
        if monitor.answered + monitor.dropped != monitor.commits {
            let detail = format!(
                "{} turns committed, {} answered, {} dropped by a rule",
                monitor.commits, monitor.answered, monitor.dropped
            );
            return Err(self.failure(ViolationKind::TurnAccounting, detail));
        }
        if let Err((kind, detail)) = self.monitor.delegations_settled() {
            return Err(self.failure(kind, detail));
        }
        self.stats.simulated = self.now;
        self.stats.turns = self.monitor.commits;
        self.stats.barge_ins = self.monitor.barge_ins;
        self.stats.check_ins = self.monitor.check_ins_total;
        self.stats.upstream_conflicts = u64::from(self.upstream.conflicts());
        self.stats.full_duplex = u64::from(matches!(self.upstream, Model::Duplex(_)));
        self.stats.delegations = self.monitor.delegations;
        Ok(self.stats)
    }

    fn failure(&mut self, kind: ViolationKind, detail: String) -> Failure {
        Failure { kind, at: self.now, detail, trace: self.trace.drain(..).collect() }
    }

    fn at(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, ev }));
    }

    fn after(&mut self, delay: Duration, ev: Ev) {
        self.at(self.now + delay, ev);
    }

    fn dispatch(&mut self, ev: Ev) -> Result<(), Found> {
        match ev {
            Ev::Core(input) => self.deliver(input),
            Ev::FromUpstream(epoch, input) => {
                // Whatever the old connection still had in flight died with it.
                if epoch == self.epoch && self.socket_alive {
                    self.deliver(input)?;
                }
                Ok(())
            }
            Ev::ToUpstream(epoch, command) => {
                if epoch != self.epoch || !self.socket_alive {
                    self.lost_with_session(&command);
                    return Ok(());
                }
                let mut out = std::mem::take(&mut self.up_out);
                let result = self.upstream.receive(command, &self.params, &mut self.rng, &mut out);
                self.upstream_out(&mut out);
                self.up_out = out;
                result.map_err(|breach| {
                    (ViolationKind::UpstreamRule, format!("{}: {}", breach.0, breach.1))
                })
            }
            Ev::UpstreamStep(epoch, key) => {
                if epoch == self.epoch && self.socket_alive {
                    let mut out = std::mem::take(&mut self.up_out);
                    self.upstream.step(key, &self.params, &mut self.rng, &mut out);
                    self.upstream_out(&mut out);
                    self.up_out = out;
                }
                Ok(())
            }
            Ev::ToCarrier(command) => {
                self.carrier_receive(command);
                Ok(())
            }
            Ev::CarrierTick => self.carrier_tick(),
            Ev::Frame => self.frame(),
            Ev::CoreTimer => {
                self.timer_at = None;
                if self.session.poll_timeout().is_some_and(|t| t <= self.instant()) {
                    self.deliver(Input::Tick)?;
                }
                self.arm_timer();
                Ok(())
            }
            Ev::Disconnect => {
                if self.socket_alive {
                    self.socket_alive = false;
                    self.epoch += 1;
                    self.stats.disconnects += 1;
                    let unplaced = self.upstream.take_unplaced();
                    self.upstream.reset();
                    let notice = self.rng.millis(10, 200);
                    self.after(notice, Ev::Core(Input::BackendDisconnected));
                    self.lost_notice = self.now + notice;
                    for event_id in unplaced {
                        self.report_lost(event_id);
                    }
                    let back = notice + self.rng.millis(100, 3000);
                    self.after(back, Ev::Reconnect);
                }
                Ok(())
            }
            Ev::Reconnect => {
                self.socket_alive = true;
                self.to_upstream = Fifo { last: self.now };
                self.from_upstream = Fifo { last: self.now };
                let out = self.upstream.configure();
                self.upstream_out(&mut vec![out]);
                Ok(())
            }
            Ev::AppAct => {
                self.app_act()?;
                if let Some((low, high)) = self.params.app_every
                    && self.now < self.params.active_for
                {
                    let next = self.rng.millis(low, high);
                    self.after(next, Ev::AppAct);
                }
                Ok(())
            }
        }
    }

    fn instant(&self) -> Instant {
        self.start + self.now
    }

    /// Hands one input to the core and routes what it answers.
    fn deliver(&mut self, input: Input) -> Result<(), Found> {
        if self.ended {
            return Ok(());
        }
        // A timer due at this very instant fires before the input, as the
        // core itself would order them; say so explicitly so the monitor
        // sees the same order.
        if input != Input::Tick && self.session.poll_timeout().is_some_and(|t| t <= self.instant())
        {
            self.deliver_now(Input::Tick)?;
            if self.ended {
                return Ok(());
            }
        }
        self.deliver_now(input)
    }

    fn deliver_now(&mut self, input: Input) -> Result<(), Found> {
        self.monitor.before(&input);
        self.stats.inputs += 1;
        let audio_of = match &input {
            Input::ResponseAudio { response_id, .. } => Some(response_id.clone()),
            _ => None,
        };
        let shown = self.tracing.then(|| format!("{input:?}"));
        let commands = self.session.handle(self.instant(), input);
        let checked = self.monitor.after(audio_of.as_ref(), &commands, &self.session);
        if let Some(shown) = shown {
            if self.trace.len() == TRACE_STEPS {
                self.trace.pop_front();
            }
            let at = self.now.as_secs_f64();
            self.trace.push_back(format!("{at:>9.3}s {shown} -> {commands:?}"));
        }
        checked?;
        for command in commands {
            self.route(command);
        }
        self.arm_timer();
        Ok(())
    }

    fn route(&mut self, command: Command) {
        match command {
            Command::Backend(backend) => {
                // Sent into a connection that already died: lost, as on a real socket.
                if self.socket_alive {
                    let latency = self.latency(self.params.upstream_latency);
                    let at = self.to_upstream.arrival(self.now, latency);
                    self.at(at, Ev::ToUpstream(self.epoch, backend));
                } else {
                    self.lost_with_session(&backend);
                }
            }
            Command::Transport(transport) => {
                let latency = self.latency(self.params.carrier_latency);
                let at = self.to_carrier.arrival(self.now, latency);
                self.at(at, Ev::ToCarrier(transport));
            }
            Command::App(AppCommand::InvokeTool { call_id, .. }) => {
                if !self.rng.chance(self.params.p_tool_silent) {
                    let delay = self.rng.millis(10, 1500);
                    self.after(delay, Ev::Core(tool_result(call_id)));
                }
            }
            Command::App(AppCommand::SessionEnded { .. }) => self.ended = true,
            Command::App(_) | Command::Event(_) => {}
        }
    }

    /// A full-duplex provider answers an instruction or a result that
    /// cannot be placed any more, after the disconnect it belongs to.
    fn lost_with_session(&mut self, command: &turngate_core::BackendCommand) {
        use turngate_core::BackendCommand as B;
        if let (true, B::Instruct { event_id, .. } | B::FunctionOutput { event_id, .. }) =
            (self.upstream.full_duplex(), command)
        {
            self.report_lost(*event_id);
        }
    }

    fn report_lost(&mut self, event_id: turngate_core::ClientEventId) {
        let at = self.now.max(self.lost_notice) + Duration::from_millis(1);
        let error = Input::BackendError {
            event_id: Some(event_id),
            kind: turngate_core::BackendErrorKind::Lost,
            code: Some("turngate_session_lost".to_owned()),
            message: "not placed: the session was lost before it".to_owned(),
        };
        self.at(at, Ev::Core(error));
    }

    fn arm_timer(&mut self) {
        let Some(deadline) = self.session.poll_timeout() else { return };
        let at = deadline.saturating_duration_since(self.start).max(self.now);
        if self.timer_at.is_none_or(|armed| at < armed) {
            self.timer_at = Some(at);
            self.at(at, Ev::CoreTimer);
        }
    }

    fn latency(&mut self, (low, high): (u64, u64)) -> Duration {
        self.rng.millis(low, high)
    }

    fn upstream_out(&mut self, out: &mut Vec<UpOut>) {
        for item in out.drain(..) {
            match item {
                UpOut::Send(delay, input) => {
                    let latency = self.latency(self.params.upstream_latency);
                    let at = self.from_upstream.arrival(self.now + delay, latency);
                    self.at(at, Ev::FromUpstream(self.epoch, input));
                }
                UpOut::Step(delay, key) => self.after(delay, Ev::UpstreamStep(self.epoch, key)),
            }
        }
    }

    // ---- The carrier: plays what it is sent, in real time -------------------

    fn carrier_receive(&mut self, command: TransportCommand) {
        match command {
            TransportCommand::Play { audio, mark, .. } => {
                let start = self.carrier_end.max(self.now);
                let end = start + audio.duration;
                self.carrier_end = end;
                self.carrier.push_back((mark, end));
                self.at(end, Ev::CarrierTick);
            }
            TransportCommand::Clear => {
                // Twilio answers a clear by echoing every pending mark at once.
                let pending: Vec<_> = self.carrier.drain(..).collect();
                self.carrier_end = self.now;
                if self.params.flavor == Flavor::Marks {
                    for (mark, _) in pending {
                        self.carrier_to_core(Input::PlaybackMark(mark));
                    }
                }
            }
            TransportCommand::HangUp => {}
        }
    }

    fn carrier_tick(&mut self) -> Result<(), Found> {
        let mut drained = false;
        while let Some((mark, end)) = self.carrier.front().copied() {
            if end > self.now {
                break;
            }
            self.carrier.pop_front();
            drained = self.carrier.is_empty();
            if self.params.flavor == Flavor::Marks {
                self.carrier_to_core(Input::PlaybackMark(mark));
            }
        }
        if drained && self.params.flavor == Flavor::Webhook {
            let delay = self.latency(self.params.webhook_latency);
            self.after(delay, Ev::Core(Input::PlaybackEnded));
            if self.rng.chance(self.params.p_duplicate_webhook) {
                let again = delay + self.latency(self.params.webhook_latency);
                self.after(again, Ev::Core(Input::PlaybackEnded));
            }
        }
        Ok(())
    }

    fn carrier_to_core(&mut self, input: Input) {
        let latency = self.latency(self.params.carrier_latency);
        let at = self.from_carrier.arrival(self.now, latency);
        self.at(at, Ev::Core(input));
    }

    // ---- The caller: talks, pauses, interrupts ---------------------------------

    /// Every frame the caller's audio goes out, and the caller decides
    /// whether to start or stop talking.
    fn frame(&mut self) -> Result<(), Found> {
        self.caller_decides();
        let flag = if self.speaking_until.is_some() { self.speech_flag } else { 0 };
        let audio = AudioChunk::new(vec![flag], self.params.frame);
        self.carrier_to_core(Input::CallerAudio(audio));
        let frame = self.params.frame;
        self.after(frame, Ev::Frame);
        Ok(())
    }

    fn caller_decides(&mut self) {
        let local_vad = self.params.config.turn_detection == TurnDetection::Client;
        if let Some(until) = self.speaking_until {
            if self.now >= until {
                self.speaking_until = None;
                if local_vad {
                    self.carrier_to_core(Input::UserSpeechStopped);
                }
            }
            return;
        }
        if self.now >= self.params.active_for {
            return;
        }
        let agent_audible = !self.carrier.is_empty();
        match self.next_speech {
            Some(at) if self.now >= at => {
                self.next_speech = None;
                let length = if self.rng.chance(self.params.p_cough) {
                    self.rng.millis(100, 250)
                } else {
                    self.rng.millis(400, 4000)
                };
                self.speaking_until = Some(self.now + length);
                self.speech_flag = if self.rng.chance(self.params.p_hold_on) { 2 } else { 1 };
                if local_vad {
                    self.carrier_to_core(Input::UserSpeechStarted);
                }
            }
            Some(_) => {}
            None if agent_audible => {
                if self.rng.chance(self.params.p_barge / 5.0) {
                    let delay = self.rng.millis(100, 1500);
                    self.next_speech = Some(self.now + delay);
                }
            }
            None => {
                let delay = if self.rng.chance(self.params.p_long_pause) {
                    self.rng.millis(3000, 15_000)
                } else {
                    self.rng.millis(300, 2500)
                };
                self.next_speech = Some(self.now + delay);
            }
        }
    }

    // ---- The app: asks for responses and types text ------------------------------

    fn app_act(&mut self) -> Result<(), Found> {
        if self.now >= self.params.active_for {
            return Ok(());
        }
        let input = match self.rng.range(0, 3) {
            0 => Input::RequestResponse {
                instructions: Some("Mention the offer.".to_owned()),
                out_of_band: false,
            },
            1 => Input::RequestResponse {
                instructions: Some("Classify.".to_owned()),
                out_of_band: true,
            },
            _ => Input::UserText { text: "typed".to_owned() },
        };
        self.deliver(input)
    }
}

fn tool_result(call_id: CallId) -> Input {
    Input::ToolResult { call_id, output: "{\"ok\":true}".to_owned() }
}
