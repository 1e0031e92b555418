//! What a simulated call saw: the timeline, the figures and every rule the
//! bot broke, and the recorder that builds it during the call.

use std::fmt;
use std::time::Duration;

use super::config::{Protocol, Step};

/// Who ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The simulated caller (a `HangUp` step, the end of the script, a
    /// missed expectation or the call timeout).
    Caller,
    /// The bot (closed the socket, or an AudioCodes `hangup` activity or
    /// `session.error`).
    Bot,
}

/// One thing that happened during a call, at the caller's side.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallerEvent {
    /// AudioCodes: a separate validation connection got a valid
    /// `connection.validated` before the call.
    ConnectionValidated,
    /// The WebSocket is open.
    Connected,
    /// The call's opening message went out (Twilio and Telnyx `start`,
    /// AudioCodes `session.initiate`).
    StartSent,
    /// The bot's first message arrived.
    FirstBotMessage,
    /// AudioCodes: the bot accepted the session in this format.
    SessionAccepted {
        /// The `mediaFormat` it chose.
        media_format: String,
    },
    /// AudioCodes: the bot answered `userStream.start`; caller audio flows.
    UserStreamStarted,
    /// A script step began.
    Step {
        /// Its position in the script, from 0.
        index: usize,
        /// The step.
        step: Step,
    },
    /// The caller started speaking.
    SpeechStarted {
        /// A "hold on" utterance.
        hold_on: bool,
    },
    /// The caller stopped speaking.
    SpeechStopped,
    /// The caller started talking over the agent.
    BargeInStarted,
    /// Agent audio started playing at the caller's ear.
    AgentAudioStarted,
    /// Agent audio stopped playing at the caller's ear.
    AgentAudioStopped {
        /// Cut short by a clear (or VAIC's own barge-in) rather than played out.
        cleared: bool,
    },
    /// The bot cleared the playback (Twilio or Telnyx `clear`) or VAIC's
    /// barge-in dropped it (AudioCodes).
    Cleared {
        /// Marks echoed at once because of it.
        marks: u32,
    },
    /// A mark went back to the bot after the audio before it played.
    MarkEchoed {
        /// The mark's name.
        name: String,
    },
    /// AudioCodes: a play stream started.
    PlayStreamStarted {
        /// Its `streamId`.
        stream_id: String,
    },
    /// AudioCodes: a play stream stopped.
    PlayStreamStopped {
        /// Its `streamId`.
        stream_id: String,
    },
    /// AudioCodes: a `userStream.speech.*` message (the bot's VAD or ASR).
    BotSpeech {
        /// The message type.
        kind: String,
    },
    /// AudioCodes: an `event` activity from the bot (`hangup`, `transfer`, …).
    BotActivity {
        /// The event's name.
        name: String,
    },
    /// AudioCodes: a text `message` activity (VAIC would speak it).
    BotText {
        /// The text.
        text: String,
    },
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// The bot broke a carrier rule.
    Violation(String),
    /// The script's expectation was not met (no agent audio in time, no
    /// hang-up by the bot, the call timeout).
    ScriptFailure(String),
    /// The call ended.
    HungUp {
        /// Who ended it.
        by: Party,
        /// How.
        reason: String,
    },
    /// The timeline reached its limit; later events are not listed (the
    /// report's figures still count them).
    TimelineFull,
    /// The socket failed or closed without a close handshake.
    ConnectionLost {
        /// What the socket said.
        reason: String,
    },
    /// The caller's line to the bot dropped on purpose (a
    /// [`Step::Reconnect`]); the carrier will resume the call.
    SocketDropped,
    /// The carrier reconnected and asked to resume the call.
    ResumeSent,
    /// The bot accepted the resume; the call goes on on the new socket.
    Resumed,
}

impl fmt::Display for CallerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerEvent::ConnectionValidated => f.write_str("bot connection validated"),
            CallerEvent::Connected => f.write_str("websocket open"),
            CallerEvent::StartSent => f.write_str("start sent"),
            CallerEvent::FirstBotMessage => f.write_str("first message from the bot"),
            CallerEvent::SessionAccepted { media_format } => {
                write!(f, "session accepted ({media_format})")
            }
            CallerEvent::UserStreamStarted => f.write_str("user stream started"),
            CallerEvent::Step { index, step } => write!(f, "step {index}: {step}"),
            CallerEvent::SpeechStarted { hold_on: false } => f.write_str("caller speaks"),
            CallerEvent::SpeechStarted { hold_on: true } => {
                f.write_str("caller speaks (\"hold on\")")
            }
            CallerEvent::SpeechStopped => f.write_str("caller stops speaking"),
            CallerEvent::BargeInStarted => f.write_str("caller barges in"),
            CallerEvent::AgentAudioStarted => f.write_str("agent audio starts at the ear"),
            CallerEvent::AgentAudioStopped { cleared: false } => {
                f.write_str("agent audio ends at the ear")
            }
            CallerEvent::AgentAudioStopped { cleared: true } => {
                f.write_str("agent audio cut off at the ear")
            }
            CallerEvent::Cleared { marks } => write!(f, "playback cleared ({marks} marks echoed)"),
            CallerEvent::MarkEchoed { name } => write!(f, "mark {name:?} echoed"),
            CallerEvent::PlayStreamStarted { stream_id } => {
                write!(f, "play stream {stream_id:?} starts")
            }
            CallerEvent::PlayStreamStopped { stream_id } => {
                write!(f, "play stream {stream_id:?} stops")
            }
            CallerEvent::BotSpeech { kind } => write!(f, "bot says {kind}"),
            CallerEvent::BotActivity { name } => write!(f, "bot activity {name:?}"),
            CallerEvent::BotText { text } => write!(f, "bot text message {text:?}"),
            CallerEvent::Dtmf { digit } => write!(f, "caller presses {digit}"),
            CallerEvent::Violation(text) => write!(f, "VIOLATION {text}"),
            CallerEvent::ScriptFailure(text) => write!(f, "SCRIPT FAILURE {text}"),
            CallerEvent::HungUp { by: Party::Caller, reason } => {
                write!(f, "caller hangs up ({reason})")
            }
            CallerEvent::HungUp { by: Party::Bot, reason } => write!(f, "bot hangs up ({reason})"),
            CallerEvent::TimelineFull => f.write_str("timeline full; later events not listed"),
            CallerEvent::ConnectionLost { reason } => write!(f, "connection lost ({reason})"),
            CallerEvent::SocketDropped => f.write_str("the line to the bot drops"),
            CallerEvent::ResumeSent => f.write_str("reconnected; resume sent"),
            CallerEvent::Resumed => f.write_str("the bot resumed the call"),
        }
    }
}

/// Everything one simulated call saw. A test using a caller should fail
/// when [`CallReport::is_clean`] is false.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReport {
    /// The protocol spoken.
    pub protocol: Protocol,
    /// The carrier's id for the call (Twilio `CallSid`, Telnyx
    /// `call_control_id`, AudioCodes `conversationId`).
    pub carrier_call_id: String,
    /// What happened, in time order, relative to the start of
    /// [`run`](super::run).
    pub timeline: Vec<(Duration, CallerEvent)>,
    /// From [`run`](super::run) to the open WebSocket.
    pub connect: Option<Duration>,
    /// From the open WebSocket to the bot's first message (Twilio, Telnyx)
    /// or `session.accepted` (AudioCodes).
    pub setup: Option<Duration>,
    /// For each caller utterance answered: from its end to the first agent
    /// audio played after it.
    pub turn_latencies: Vec<Duration>,
    /// For each barge-in the bot honoured: from the caller starting to talk
    /// over the agent to the playback being cleared.
    pub clear_latencies: Vec<Duration>,
    /// Agent audio actually played to the caller.
    pub agent_audio: Duration,
    /// Agent audio received (played, cleared or still queued at the end).
    pub agent_audio_received: Duration,
    /// Times the caller talked over the agent.
    pub barge_ins: u32,
    /// Clears received (or VAIC barge-in flushes).
    pub clears: u32,
    /// Marks echoed to the bot.
    pub marks_echoed: u32,
    /// Whether the bot ended the call.
    pub bot_hung_up: bool,
    /// Who ended the call, if it ended before the report was written.
    pub hung_up_by: Option<Party>,
    /// WebSocket messages sent to the bot.
    pub messages_sent: u64,
    /// WebSocket messages received from the bot.
    pub messages_received: u64,
    /// Every carrier rule the bot broke, each once, with `(×N)` when it
    /// happened N times.
    pub violations: Vec<String>,
    /// Every expectation of the script that was not met.
    pub failures: Vec<String>,
    /// How long the call took.
    pub duration: Duration,
}

impl CallReport {
    /// No violations and no script failures.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.failures.is_empty()
    }

    /// The events of the timeline that match `pred`, with their times.
    pub fn events<'a>(
        &'a self,
        mut pred: impl FnMut(&CallerEvent) -> bool + 'a,
    ) -> impl Iterator<Item = (Duration, &'a CallerEvent)> + 'a {
        self.timeline.iter().filter(move |(_, e)| pred(e)).map(|(at, e)| (*at, e))
    }
}

impl fmt::Display for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} call {}", self.protocol, self.carrier_call_id)?;
        for (at, event) in &self.timeline {
            writeln!(f, "{:>9.3}s  {event}", at.as_secs_f64())?;
        }
        let ms = |d: Duration| d.as_millis();
        let opt =
            |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| format!("{} ms", ms(d)));
        writeln!(f, "connect {}, setup {}", opt(self.connect), opt(self.setup))?;
        let list = |ds: &[Duration]| {
            if ds.is_empty() {
                "-".to_owned()
            } else {
                ds.iter().map(|d| format!("{} ms", ms(*d))).collect::<Vec<_>>().join(", ")
            }
        };
        writeln!(f, "turn latencies {}", list(&self.turn_latencies))?;
        writeln!(f, "barge-in to clear {}", list(&self.clear_latencies))?;
        writeln!(
            f,
            "agent audio {} ms played of {} ms received; {} barge-ins, {} clears, {} marks echoed",
            ms(self.agent_audio),
            ms(self.agent_audio_received),
            self.barge_ins,
            self.clears,
            self.marks_echoed
        )?;
        writeln!(
            f,
            "{} messages sent, {} received; ended by {}",
            self.messages_sent,
            self.messages_received,
            match self.hung_up_by {
                Some(Party::Caller) => "the caller",
                Some(Party::Bot) => "the bot",
                None => "nobody",
            }
        )?;
        if self.violations.is_empty() {
            writeln!(f, "no violations")?;
        }
        for violation in &self.violations {
            writeln!(f, "violation: {violation}")?;
        }
        for failure in &self.failures {
            writeln!(f, "script failure: {failure}")?;
        }
        Ok(())
    }
}

/// Builds the report while the call runs. Times are offsets from the start
/// of the call.
#[derive(Debug)]
pub(super) struct Recorder {
    protocol: Protocol,
    carrier_call_id: String,
    detailed: bool,
    timeline: Vec<(Duration, CallerEvent)>,
    violations: Vec<(String, u32)>,
    failures: Vec<String>,
    connected: Option<Duration>,
    setup: Option<Duration>,
    first_message: bool,
    turn_end: Option<Duration>,
    barge_in_at: Option<Duration>,
    turn_latencies: Vec<Duration>,
    clear_latencies: Vec<Duration>,
    pub(super) barge_ins: u32,
    pub(super) clears: u32,
    pub(super) marks_echoed: u32,
    pub(super) messages_sent: u64,
    pub(super) messages_received: u64,
    hung_up_by: Option<Party>,
}

/// Events a timeline holds at most.
const MAX_TIMELINE: usize = 50_000;

/// Distinct violations listed per call; more are counted on one last line.
const MAX_DISTINCT_VIOLATIONS: usize = 64;

impl Recorder {
    pub(super) fn new(protocol: Protocol, carrier_call_id: String, detailed: bool) -> Recorder {
        Recorder {
            protocol,
            carrier_call_id,
            detailed,
            timeline: Vec::with_capacity(64),
            violations: Vec::new(),
            failures: Vec::new(),
            connected: None,
            setup: None,
            first_message: false,
            turn_end: None,
            barge_in_at: None,
            turn_latencies: Vec::new(),
            clear_latencies: Vec::new(),
            barge_ins: 0,
            clears: 0,
            marks_echoed: 0,
            messages_sent: 0,
            messages_received: 0,
            hung_up_by: None,
        }
    }

    /// Adds an event, unless the timeline is full: a bot that makes the
    /// caller log without end (play streams, activities) cannot grow the
    /// report without bound; the figures keep counting.
    pub(super) fn event(&mut self, at: Duration, event: CallerEvent) {
        match self.timeline.len() {
            n if n < MAX_TIMELINE => self.timeline.push((at, event)),
            n if n == MAX_TIMELINE => self.timeline.push((at, CallerEvent::TimelineFull)),
            _ => {}
        }
    }

    /// An event only kept in detailed timelines.
    pub(super) fn detail(&mut self, at: Duration, event: CallerEvent) {
        if self.detailed {
            self.event(at, event);
        }
    }

    pub(super) fn connected(&mut self, at: Duration) {
        self.connected = Some(at);
        self.event(at, CallerEvent::Connected);
    }

    /// A message from the bot arrived; the first one ends setup for the
    /// protocols without a handshake of their own.
    pub(super) fn bot_message(&mut self, at: Duration, ends_setup: bool) {
        self.messages_received += 1;
        if !self.first_message {
            self.first_message = true;
            self.event(at, CallerEvent::FirstBotMessage);
            if ends_setup {
                self.setup_done(at);
            }
        }
    }

    pub(super) fn setup_done(&mut self, at: Duration) {
        if self.setup.is_none() {
            self.setup = Some(at.saturating_sub(self.connected.unwrap_or_default()));
        }
    }

    /// The bot broke a rule. Each distinct text is kept once, counted.
    pub(super) fn violation(&mut self, at: Duration, text: String) {
        if let Some(entry) = self.violations.iter_mut().find(|(t, _)| *t == text) {
            entry.1 += 1;
            return;
        }
        // Past the cap, one last line counts every further distinct text, so
        // a bot that breaks rules in endless variety cannot grow the report.
        if self.violations.len() > MAX_DISTINCT_VIOLATIONS {
            if let Some(last) = self.violations.last_mut() {
                last.1 += 1;
            }
            return;
        }
        let text = if self.violations.len() == MAX_DISTINCT_VIOLATIONS {
            "further distinct violations, not listed".to_owned()
        } else {
            text
        };
        self.event(at, CallerEvent::Violation(text.clone()));
        self.violations.push((text, 1));
    }

    pub(super) fn failure(&mut self, at: Duration, text: String) {
        self.event(at, CallerEvent::ScriptFailure(text.clone()));
        self.failures.push(text);
    }

    pub(super) fn speech_started(&mut self, at: Duration, hold_on: bool, barge_in: bool) {
        if barge_in {
            self.barge_ins += 1;
            self.barge_in_at = Some(at);
            self.event(at, CallerEvent::BargeInStarted);
        }
        self.event(at, CallerEvent::SpeechStarted { hold_on });
    }

    /// The caller stopped talking: the next agent audio answers this turn.
    pub(super) fn speech_stopped(&mut self, at: Duration) {
        self.turn_end = Some(at);
        self.event(at, CallerEvent::SpeechStopped);
    }

    pub(super) fn agent_started(&mut self, at: Duration) {
        if let Some(end) = self.turn_end
            && at >= end
        {
            self.turn_latencies.push(at - end);
            self.turn_end = None;
        }
        self.event(at, CallerEvent::AgentAudioStarted);
    }

    pub(super) fn agent_stopped(&mut self, at: Duration, cleared: bool) {
        self.event(at, CallerEvent::AgentAudioStopped { cleared });
    }

    pub(super) fn cleared(&mut self, at: Duration, marks: u32) {
        self.clears += 1;
        if let Some(barge_in) = self.barge_in_at.take() {
            self.clear_latencies.push(at.saturating_sub(barge_in));
        }
        self.event(at, CallerEvent::Cleared { marks });
    }

    pub(super) fn mark_echoed(&mut self, at: Duration, name: &str) {
        self.marks_echoed += 1;
        if self.detailed {
            self.event(at, CallerEvent::MarkEchoed { name: name.to_owned() });
        }
    }

    pub(super) fn hung_up(&mut self, at: Duration, by: Party, reason: String) {
        if self.hung_up_by.is_none() {
            self.hung_up_by = Some(by);
            self.event(at, CallerEvent::HungUp { by, reason });
        }
    }

    pub(super) fn hung_up_by(&self) -> Option<Party> {
        self.hung_up_by
    }

    /// The finished report. `played` and `received` come from the ear.
    pub(super) fn finish(
        mut self,
        duration: Duration,
        played: Duration,
        received: Duration,
    ) -> CallReport {
        // Events observed late (an utterance's end is known only after the
        // gap that confirms it) are stamped with when they happened; a
        // stable sort keeps the order of simultaneous events.
        self.timeline.sort_by_key(|(at, _)| *at);
        CallReport {
            protocol: self.protocol,
            carrier_call_id: self.carrier_call_id,
            timeline: self.timeline,
            connect: self.connected,
            setup: self.setup,
            turn_latencies: self.turn_latencies,
            clear_latencies: self.clear_latencies,
            agent_audio: played,
            agent_audio_received: received,
            barge_ins: self.barge_ins,
            clears: self.clears,
            marks_echoed: self.marks_echoed,
            bot_hung_up: self.hung_up_by == Some(Party::Bot),
            hung_up_by: self.hung_up_by,
            messages_sent: self.messages_sent,
            messages_received: self.messages_received,
            violations: self
                .violations
                .into_iter()
                .map(|(text, n)| if n > 1 { format!("{text} (×{n})") } else { text })
                .collect(),
            failures: self.failures,
            duration,
        }
    }
}
