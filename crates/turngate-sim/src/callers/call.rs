//! One call without IO: a carrier protocol, the human, the ear and the
//! recorder, driven by the socket's events and the 20 ms tick, with time
//! passed in as the offset from the start of the call.
//!
//! The IO loop feeds it socket messages, ticks and deadlines, and sends
//! what it queues in [`Shared::out`]; nothing here blocks or reads a clock.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::config::{CallObserver, STAMP_BYTES};
use super::ear::{Ear, EarEvent, MAX_PENDING_MARKS};
use super::human::Human;
use super::report::{CallReport, CallerEvent, Party, Recorder};
use super::voice::Voice;

/// The longest a caller waits for the bot's answers after hanging up
/// before it closes the socket anyway.
const CLOSING_GRACE: Duration = Duration::from_secs(3);

/// A message for the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outgoing {
    /// A text frame.
    Text(String),
    /// The close handshake; nothing follows it.
    Close,
    /// The socket goes away without a close handshake, as a broken line
    /// would; a new one opens when [`Call::wants_socket`] says so.
    Drop,
}

/// The carrier side of one protocol. Methods queue messages and record
/// what they see through [`Shared`]; none of them can fail: whatever the
/// bot does wrong becomes a violation in the report.
pub(super) trait Carrier {
    /// The carrier's id for the call (`CallSid`, `call_control_id`,
    /// `conversationId`).
    fn call_ref(&self) -> &str;
    /// The socket is open: the protocol's opening messages.
    fn open(&mut self, s: &mut Shared);
    /// Whether caller audio flows; the script starts then.
    fn media_flowing(&self) -> bool;
    /// One 20 ms frame of caller audio.
    fn audio(&mut self, s: &mut Shared, voice: Voice);
    /// The caller pressed a key.
    fn dtmf(&mut self, s: &mut Shared, digit: char);
    /// The audio before a mark has played: send it back.
    fn echo_mark(&mut self, s: &mut Shared, name: &str);
    /// The caller hangs up: the protocol's goodbye.
    fn hang_up(&mut self, s: &mut Shared);
    /// Whether, after [`Carrier::hang_up`], the carrier still waits for an
    /// answer from the bot before the socket closes.
    fn closing(&self) -> bool {
        false
    }
    /// A text message from the bot.
    fn text(&mut self, s: &mut Shared, text: &str);
    /// A binary message from the bot (`len` bytes).
    fn binary(&mut self, s: &mut Shared, len: usize);
    /// Time passed (answer timeouts).
    fn poll(&mut self, s: &mut Shared) {
        let _ = s;
    }
    /// When [`Carrier::poll`] has something to do.
    fn next_deadline(&self) -> Option<Duration> {
        None
    }
    /// Whether the bot's first message, whatever it is, ends call setup
    /// (AudioCodes ends it with `session.accepted` instead).
    fn setup_on_first_message(&self) -> bool {
        true
    }
    /// The socket is about to drop on purpose; only carriers whose
    /// protocol resumes calls are asked (the configuration refuses a
    /// reconnect step for the others).
    fn socket_dropped(&mut self, s: &mut Shared) {
        let _ = s;
    }
    /// A new socket is open: the protocol's resume.
    fn reopened(&mut self, s: &mut Shared) {
        let _ = s;
    }
}

/// The state every carrier works on.
#[derive(Debug)]
pub(super) struct Shared {
    /// The current time, as an offset from the start of the call.
    pub(super) now: Duration,
    /// The same moment as an `Instant`, for the observer.
    pub(super) instant: Instant,
    /// Messages for the socket, in order.
    pub(super) out: Vec<Outgoing>,
    pub(super) ear: Ear,
    pub(super) rec: Recorder,
    /// A reusable buffer for decoding the bot's audio.
    pub(super) scratch: Vec<u8>,
    ear_events: Vec<EarEvent>,
    due: Vec<String>,
    end: Option<(Party, String)>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl Shared {
    pub(super) fn new(rec: Recorder, observer: Option<Arc<dyn CallObserver>>) -> Shared {
        Shared {
            now: Duration::ZERO,
            instant: Instant::now(),
            out: Vec::with_capacity(8),
            ear: Ear::default(),
            rec,
            scratch: Vec::with_capacity(4096),
            ear_events: Vec::new(),
            due: Vec::new(),
            end: None,
            observer,
        }
    }

    /// Queues a text message.
    pub(super) fn send(&mut self, text: String) {
        self.rec.messages_sent += 1;
        self.out.push(Outgoing::Text(text));
    }

    /// Queues a frame of caller audio and tells the observer.
    pub(super) fn send_audio(&mut self, text: String, payload_bytes: usize) {
        if let Some(observer) = &self.observer {
            observer.audio_sent(self.instant, payload_bytes);
        }
        self.send(text);
    }

    /// The base64 text of one caller frame, with the observer's stamp in
    /// place of its first [`STAMP_BYTES`] bytes when it asks for one.
    pub(super) fn stamped<'a>(&self, payload: &'a str) -> Cow<'a, str> {
        let Some(observer) = &self.observer else { return Cow::Borrowed(payload) };
        let prefix = STAMP_BYTES / 3 * 4;
        let (Some(stamp), Some(rest)) = (observer.stamp(self.instant), payload.get(prefix..))
        else {
            return Cow::Borrowed(payload);
        };
        let mut text = String::with_capacity(payload.len());
        STANDARD.encode_string(stamp, &mut text);
        text.push_str(rest);
        Cow::Owned(text)
    }

    /// Agent audio arrived (its decoded bytes are in `scratch`): it joins
    /// the playout queue.
    pub(super) fn agent_audio(&mut self, payload_bytes: usize, audio: Duration) {
        if let Some(observer) = &self.observer {
            observer.agent_payload(self.instant, &self.scratch);
            observer.audio_received(self.instant, payload_bytes, audio);
        }
        self.ear.audio(self.now, audio, &mut self.ear_events);
    }

    /// A mark arrived; it is echoed once the audio before it has played.
    pub(super) fn mark(&mut self, name: String) {
        match self.ear.mark(self.now, name) {
            Ok(Some(name)) => self.due.push(name),
            Ok(None) => {}
            Err(_) => self.violation(format!(
                "more than {MAX_PENDING_MARKS} marks waiting for playout; the caller drops the rest"
            )),
        }
    }

    /// The playback is cleared: queued audio dropped, pending marks echoed.
    pub(super) fn clear(&mut self) {
        let before = self.due.len();
        self.ear.clear(self.now, &mut self.due, &mut self.ear_events);
        let marks = u32::try_from(self.due.len() - before).unwrap_or(u32::MAX);
        self.rec.cleared(self.now, marks);
    }

    /// The bot broke a rule.
    pub(super) fn violation(&mut self, text: String) {
        self.rec.violation(self.now, text);
    }

    /// The call is over for the carrier's reasons.
    pub(super) fn end(&mut self, by: Party, reason: String) {
        if self.end.is_none() {
            self.end = Some((by, reason));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the socket opened.
    Connecting,
    /// The call is up.
    Live,
    /// The line dropped on purpose; it comes back at `back_at`.
    Away { back_at: Duration },
    /// The IO is opening the new socket.
    Reconnecting,
    /// The caller hung up; the carrier waits for the bot's last answer.
    Closing { deadline: Duration },
    /// Nothing more happens.
    Over,
}

/// One call of carrier `C`.
#[derive(Debug)]
pub(super) struct Call<C> {
    carrier: C,
    human: Human,
    s: Shared,
    phase: Phase,
    timeout: Duration,
}

impl<C: Carrier> Call<C> {
    pub(super) fn new(carrier: C, human: Human, shared: Shared, timeout: Duration) -> Call<C> {
        Call { carrier, human, s: shared, phase: Phase::Connecting, timeout }
    }

    fn at(&mut self, now: Duration, instant: Instant) {
        self.s.now = now;
        self.s.instant = instant;
    }

    /// The socket opened.
    pub(super) fn open(&mut self, now: Duration, instant: Instant) {
        self.at(now, instant);
        self.s.rec.connected(now);
        self.phase = Phase::Live;
        self.carrier.open(&mut self.s);
        self.settle();
    }

    /// The 20 ms tick: one frame of caller audio.
    pub(super) fn tick(&mut self, now: Duration, instant: Instant) {
        self.at(now, instant);
        self.settle();
        if self.phase != Phase::Live || !self.carrier.media_flowing() {
            return;
        }
        let turn = self.human.tick(now, &self.s.ear, &mut self.s.rec);
        if let Some(reason) = turn.hang_up {
            self.hang_up(reason);
        } else if let Some(gap) = turn.reconnect {
            self.s.rec.event(now, CallerEvent::SocketDropped);
            self.carrier.socket_dropped(&mut self.s);
            self.s.out.push(Outgoing::Drop);
            self.phase = Phase::Away { back_at: now + gap };
        } else {
            if let Some(digit) = turn.dtmf {
                self.carrier.dtmf(&mut self.s, digit);
            }
            self.carrier.audio(&mut self.s, turn.voice);
        }
        self.settle();
    }

    /// A text message from the bot.
    pub(super) fn text(&mut self, now: Duration, instant: Instant, text: &str) {
        self.at(now, instant);
        if self.phase == Phase::Over {
            return;
        }
        let ends_setup = self.carrier.setup_on_first_message();
        self.s.rec.bot_message(now, ends_setup);
        self.carrier.text(&mut self.s, text);
        self.settle();
    }

    /// A binary message from the bot.
    pub(super) fn binary(&mut self, now: Duration, instant: Instant, len: usize) {
        self.at(now, instant);
        if self.phase == Phase::Over {
            return;
        }
        self.s.rec.bot_message(now, self.carrier.setup_on_first_message());
        self.carrier.binary(&mut self.s, len);
        self.settle();
    }

    /// The socket closed: cleanly (`lost` is `None`) or not.
    pub(super) fn closed(&mut self, now: Duration, instant: Instant, lost: Option<String>) {
        self.at(now, instant);
        self.settle();
        if let Some(reason) = &lost {
            self.s.rec.event(now, CallerEvent::ConnectionLost { reason: reason.clone() });
        }
        match self.phase {
            Phase::Live => {
                let reason = lost.map_or_else(
                    || "closed the socket".to_owned(),
                    |_| "connection lost".to_owned(),
                );
                self.bot_hung_up(reason);
            }
            Phase::Reconnecting => {
                let reason = lost.unwrap_or_default();
                self.s.rec.failure(now, format!("the bot could not be reached again: {reason}"));
            }
            _ => {}
        }
        self.phase = Phase::Over;
    }

    /// Time passed: marks due, utterance ends, answer timeouts, the call
    /// timeout, the end of a dropped line's gap.
    pub(super) fn poll(&mut self, now: Duration, instant: Instant) {
        self.at(now, instant);
        if let Phase::Away { back_at } = self.phase
            && now >= back_at
        {
            self.phase = Phase::Reconnecting;
        }
        self.carrier.poll(&mut self.s);
        self.settle();
    }

    /// Whether the IO should open a new socket now.
    pub(super) fn wants_socket(&self) -> bool {
        self.phase == Phase::Reconnecting
    }

    /// The new socket is open: the carrier resumes the call on it.
    pub(super) fn reopened(&mut self, now: Duration, instant: Instant) {
        self.at(now, instant);
        if self.phase != Phase::Reconnecting {
            return;
        }
        self.phase = Phase::Live;
        self.s.rec.event(now, CallerEvent::ResumeSent);
        self.carrier.reopened(&mut self.s);
        self.settle();
    }

    /// When [`Call::poll`] next has something to do.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        let mut next =
            [self.s.ear.next_deadline(), self.carrier.next_deadline()].into_iter().flatten().min();
        match self.phase {
            Phase::Live => next = Some(next.map_or(self.timeout, |n| n.min(self.timeout))),
            Phase::Closing { deadline } => next = Some(next.map_or(deadline, |n| n.min(deadline))),
            Phase::Away { back_at } => next = Some(next.map_or(back_at, |n| n.min(back_at))),
            Phase::Connecting | Phase::Reconnecting | Phase::Over => {}
        }
        next
    }

    /// Whether the call has ended (the socket may still need closing).
    pub(super) fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// The messages to send, in order.
    pub(super) fn outgoing(&mut self) -> std::vec::Drain<'_, Outgoing> {
        self.s.out.drain(..)
    }

    /// The report, at `now`.
    pub(super) fn finish(mut self, now: Duration) -> CallReport {
        self.s.now = now;
        let mut events = Vec::new();
        let mut due = Vec::new();
        self.s.ear.poll(now, &mut due, &mut events);
        self.record_ear(&events);
        let played = self.s.ear.played(now);
        let received = self.s.ear.received();
        self.s.rec.finish(now, played, received)
    }

    /// The caller hangs up.
    fn hang_up(&mut self, reason: String) {
        let now = self.s.now;
        self.s.rec.hung_up(now, Party::Caller, reason);
        self.carrier.hang_up(&mut self.s);
        if self.carrier.closing() {
            // The carrier's own answer timeout decides first; the grace
            // only guards against a carrier that never stops waiting.
            let waits_until = self.carrier.next_deadline().unwrap_or(now).max(now);
            self.phase = Phase::Closing { deadline: waits_until + CLOSING_GRACE };
        } else {
            self.close();
        }
    }

    fn close(&mut self) {
        self.s.out.push(Outgoing::Close);
        self.phase = Phase::Over;
    }

    fn bot_hung_up(&mut self, reason: String) {
        let now = self.s.now;
        if !self.human.expects_bot_hang_up() && self.s.rec.hung_up_by().is_none() {
            let during = match self.human.current_step() {
                Some((index, step)) => format!("during step {index} ({step})"),
                None => "before the script started".to_owned(),
            };
            self.s.rec.failure(now, format!("the bot hung up {during}"));
        }
        self.s.rec.hung_up(now, Party::Bot, reason);
    }

    /// Carries everything the last event caused through: ear events into
    /// the report, due marks back to the bot, endings and timeouts.
    fn settle(&mut self) {
        let now = self.s.now;
        let mut events = std::mem::take(&mut self.s.ear_events);
        let mut due = std::mem::take(&mut self.s.due);
        self.s.ear.poll(now, &mut due, &mut events);
        self.record_ear(&events);
        events.clear();
        self.s.ear_events = events;
        if self.phase != Phase::Over {
            for name in due.drain(..) {
                self.carrier.echo_mark(&mut self.s, &name);
                self.s.rec.mark_echoed(now, &name);
            }
        }
        due.clear();
        self.s.due = due;

        if let Some((by, reason)) = self.s.end.take()
            && self.phase != Phase::Over
        {
            match by {
                Party::Bot => self.bot_hung_up(reason),
                Party::Caller => self.s.rec.hung_up(now, Party::Caller, reason),
            }
            self.close();
        }
        match self.phase {
            Phase::Live if now >= self.timeout => {
                let during = match self.human.current_step() {
                    Some((index, step)) => format!(" during step {index} ({step})"),
                    None => String::new(),
                };
                self.s
                    .rec
                    .failure(now, format!("the call timed out after {:?}{during}", self.timeout));
                self.hang_up("call timeout".to_owned());
            }
            Phase::Closing { deadline } if !self.carrier.closing() || now >= deadline => {
                self.close();
            }
            Phase::Away { .. } | Phase::Reconnecting if now >= self.timeout => {
                self.s.rec.failure(now, format!("the call timed out after {:?}", self.timeout));
                self.phase = Phase::Over;
            }
            _ => {}
        }
    }

    fn record_ear(&mut self, events: &[EarEvent]) {
        for event in events {
            match *event {
                EarEvent::Started(at) => self.s.rec.agent_started(at),
                EarEvent::Stopped { at, cleared } => self.s.rec.agent_stopped(at, cleared),
            }
        }
    }
}
