//! The measurements of one load step, taken at both ends of the bridge in
//! this one process, on one clock.
//!
//! Upstream, every caller frame is tagged (see [`crate::stamp`]) with its
//! call and sequence number when it is built, and its send time goes into
//! the call's ring of recent frames; the simulator's append hook finds the
//! tag and takes the time difference. Downstream, the simulator tags every
//! response chunk with a run-wide number and notes its send time; the
//! caller's payload hook finds the tag. Only frames *sent* inside the
//! measurement window count, so ramp-up and the calls' readiness buffers
//! stay out of the figures.
//!
//! Lost frames are frames sent in the window and never delivered:
//! upstream, sent minus received per call; downstream, chunks of responses
//! that completed (a cancelled response's late chunks are dropped by the
//! core on purpose) that never reached the caller.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use turngate_sim::callers::{CallObserver, STAMP_BYTES};
use turngate_sim::realtime::{SessionObserver, SimObserver};

use crate::hist::Histogram;
use crate::stamp::{SEQ_BITS, Tag};

/// Frames remembered per call: 10.24 s of 20 ms frames. A frame later
/// than that is counted as late, not measured.
const FRAME_RING: usize = 512;
/// Response chunks remembered: over a minute at 4,000 speaking calls.
const CHUNK_RING_BITS: u32 = 21;
const CHUNK_RING: usize = 1 << CHUNK_RING_BITS;
/// Bits of a chunk slot that check its id (the rest hold the send time).
const CHECK_BITS: u32 = 24;
/// Seconds of the window tracked by [`Probe::worst_by_second`].
const WINDOW_SECONDS: usize = 3600;
/// Bytes of one 20 ms µ-law frame: the stride at which tags are sought in
/// an append (one append may carry several frames).
const FRAME_BYTES: usize = 160;

/// One caller's frames.
#[derive(Debug)]
struct CallRecord {
    /// Recent frames: `send time << SEQ_BITS | seq`, 0 when free or taken.
    frames: Vec<AtomicU64>,
    sent: AtomicU64,
    received: AtomicU64,
    started: AtomicU64,
    first_append: AtomicU64,
}

impl CallRecord {
    fn new() -> CallRecord {
        CallRecord {
            frames: (0..FRAME_RING).map(|_| AtomicU64::new(0)).collect(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            started: AtomicU64::new(0),
            first_append: AtomicU64::new(0),
        }
    }
}

/// Everything one step measures. Times are microseconds since `epoch`.
#[derive(Debug)]
pub(crate) struct Probe {
    epoch: Instant,
    window_start: AtomicU64,
    window_end: AtomicU64,
    calls: Vec<CallRecord>,
    chunks: Vec<AtomicU64>,
    next_chunk: AtomicU32,
    /// First chunks of answers to a commit, with the commit's time.
    turns: Mutex<HashMap<u32, u64>>,
    /// Chunks sent in the window whose response completed.
    expected: Mutex<Vec<u32>>,
    /// Caller frame to append, in the window.
    pub(crate) up: Histogram,
    /// Response chunk to caller, in the window (without first chunks when
    /// `gated`).
    pub(crate) down: Histogram,
    /// The first chunk of each response to the caller, in the window.
    pub(crate) onset: Histogram,
    /// The bridge holds each response's first audio by design (GPT-Live's
    /// speech gate keeps it until speech is certain): first chunks are
    /// then measured as `onset` only, and `down` is the forwarding cost.
    gated: bool,
    /// Commit to the first chunk of its answer at the caller.
    pub(crate) turn: Histogram,
    /// How late the callers' 20 ms ticks ran (the load generator's own lag).
    pub(crate) tick_lag: Histogram,
    /// The worst added latency (either direction) of each second of the
    /// window, by when the frame was sent: shows whether a tail is spread
    /// out or a few stalls.
    worst_by_second: Vec<AtomicU64>,
    /// Appended 20 ms blocks without a tag.
    pub(crate) untagged: AtomicU64,
    /// Tagged frames or chunks that arrived after their slot was reused,
    /// or twice.
    pub(crate) unmatched: AtomicU64,
}

/// Frame and chunk counts of the window, once it is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Losses {
    /// Caller frames sent in the window.
    pub(crate) up_sent: u64,
    /// Of them, never appended.
    pub(crate) up_lost: u64,
    /// Chunks of completed responses sent in the window.
    pub(crate) down_sent: u64,
    /// Of them, never at the caller.
    pub(crate) down_lost: u64,
}

impl Probe {
    /// A probe for `calls` calls; `gated` when the bridge holds each
    /// response's onset (see [`Probe::onset`]).
    pub(crate) fn new(calls: usize, gated: bool) -> Probe {
        Probe {
            epoch: Instant::now(),
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            calls: (0..calls).map(|_| CallRecord::new()).collect(),
            chunks: (0..CHUNK_RING).map(|_| AtomicU64::new(0)).collect(),
            next_chunk: AtomicU32::new(1),
            turns: Mutex::new(HashMap::new()),
            expected: Mutex::new(Vec::new()),
            up: Histogram::default(),
            down: Histogram::default(),
            onset: Histogram::default(),
            gated,
            turn: Histogram::default(),
            tick_lag: Histogram::default(),
            worst_by_second: (0..WINDOW_SECONDS).map(|_| AtomicU64::new(0)).collect(),
            untagged: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
        }
    }

    /// `at` in microseconds since the probe was made.
    pub(crate) fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// Frames sent from `start` until `end` are measured.
    pub(crate) fn set_window(&self, start: Instant, end: Instant) {
        self.window_end.store(self.micros(end), Ordering::Relaxed);
        self.window_start.store(self.micros(start), Ordering::Relaxed);
    }

    fn in_window(&self, micros: u64) -> bool {
        (self.window_start.load(Ordering::Relaxed)..self.window_end.load(Ordering::Relaxed))
            .contains(&micros)
    }

    /// The observer of call `index`, started now.
    pub(crate) fn caller(self: &Arc<Self>, index: u16) -> CallProbe {
        if let Some(call) = self.calls.get(usize::from(index)) {
            call.started.store(self.micros(Instant::now()), Ordering::Relaxed);
        }
        CallProbe { probe: Arc::clone(self), call: index, seq: AtomicU32::new(0) }
    }

    /// Setup times (call placed to its first audio at the model), in
    /// microseconds, of the calls whose audio arrived.
    pub(crate) fn setups(&self) -> Vec<u64> {
        self.calls
            .iter()
            .filter_map(|call| {
                let started = call.started.load(Ordering::Relaxed);
                let first = call.first_append.load(Ordering::Relaxed);
                (started > 0 && first >= started).then(|| first - started)
            })
            .collect()
    }

    /// Calls whose audio never reached the model.
    pub(crate) fn calls_without_audio(&self) -> usize {
        self.calls
            .iter()
            .filter(|call| {
                call.started.load(Ordering::Relaxed) > 0
                    && call.first_append.load(Ordering::Relaxed) == 0
            })
            .count()
    }

    /// What the window lost; call it once the window is over and its last
    /// frames had time to arrive.
    pub(crate) fn losses(&self) -> Losses {
        let (mut up_sent, mut up_received) = (0, 0);
        for call in &self.calls {
            up_sent += call.sent.load(Ordering::Relaxed);
            up_received += call.received.load(Ordering::Relaxed);
        }
        let expected = self.expected.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let down_lost = expected
            .iter()
            .filter(|id| {
                let slot = self.chunk_slot(**id).map_or(0, |s| s.load(Ordering::Relaxed));
                slot != 0 && slot & check_mask() == check(**id)
            })
            .count() as u64;
        Losses {
            up_sent,
            up_lost: up_sent.saturating_sub(up_received),
            down_sent: expected.len() as u64,
            down_lost,
        }
    }

    fn note_worst(&self, sent: u64, latency: u64) {
        let second = sent.saturating_sub(self.window_start.load(Ordering::Relaxed)) / 1_000_000;
        if let Some(slot) = usize::try_from(second).ok().and_then(|s| self.worst_by_second.get(s))
            && latency > slot.load(Ordering::Relaxed)
        {
            slot.fetch_max(latency, Ordering::Relaxed);
        }
    }

    /// The worst added latency of each second of the window so far, in
    /// microseconds.
    pub(crate) fn worst_by_second(&self) -> Vec<u64> {
        let seconds = self
            .window_end
            .load(Ordering::Relaxed)
            .saturating_sub(self.window_start.load(Ordering::Relaxed))
            .div_ceil(1_000_000);
        self.worst_by_second
            .iter()
            .take(usize::try_from(seconds).unwrap_or(0))
            .map(|slot| slot.load(Ordering::Relaxed))
            .collect()
    }

    fn chunk_slot(&self, id: u32) -> Option<&AtomicU64> {
        self.chunks.get(id as usize & (CHUNK_RING - 1))
    }

    /// Caller frame `seq` of `call` reached the simulator at `now`.
    fn frame_arrived(&self, call: u16, seq: u32, now: u64) {
        let Some(record) = self.calls.get(usize::from(call)) else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let _ = record.first_append.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        let Some(slot) = record.frames.get(seq as usize % FRAME_RING) else { return };
        let value = slot.load(Ordering::Relaxed);
        let taken = value != 0
            && value & u64::from(seq_mask()) == u64::from(seq)
            && slot.compare_exchange(value, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if !taken {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sent = value >> SEQ_BITS;
        if self.in_window(sent) {
            self.up.record(now.saturating_sub(sent));
            self.note_worst(sent, now.saturating_sub(sent));
            record.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Response chunk `id` reached a caller at `now`.
    fn chunk_arrived(&self, id: u32, turn: bool, first: bool, now: u64) {
        let Some(slot) = self.chunk_slot(id) else { return };
        let value = slot.load(Ordering::Relaxed);
        let taken = value != 0
            && value & check_mask() == check(id)
            && slot.compare_exchange(value, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if !taken {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sent = value >> CHECK_BITS;
        if self.in_window(sent) {
            if first {
                self.onset.record(now.saturating_sub(sent));
            }
            if !(first && self.gated) {
                self.down.record(now.saturating_sub(sent));
                self.note_worst(sent, now.saturating_sub(sent));
            }
        }
        if turn {
            let commit = self.turns.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
            if let Some(commit) = commit
                && self.in_window(commit)
            {
                self.turn.record(now.saturating_sub(commit));
            }
        }
    }
}

fn seq_mask() -> u32 {
    (1 << SEQ_BITS) - 1
}

fn check_mask() -> u64 {
    (1 << CHECK_BITS) - 1
}

/// The bits of a chunk id its slot keeps to tell it from a later chunk in
/// the same slot.
fn check(id: u32) -> u64 {
    u64::from(id >> CHUNK_RING_BITS) & check_mask()
}

/// One caller's hooks.
#[derive(Debug)]
pub(crate) struct CallProbe {
    probe: Arc<Probe>,
    call: u16,
    seq: AtomicU32,
}

impl CallObserver for CallProbe {
    fn stamp(&self, at: Instant) -> Option<[u8; STAMP_BYTES]> {
        let probe = &self.probe;
        let now = probe.micros(Instant::now());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) & seq_mask();
        let record = probe.calls.get(usize::from(self.call))?;
        if let Some(slot) = record.frames.get(seq as usize % FRAME_RING) {
            slot.store((now << SEQ_BITS) | u64::from(seq), Ordering::Relaxed);
        }
        if probe.in_window(now) {
            record.sent.fetch_add(1, Ordering::Relaxed);
            probe.tick_lag.record(now.saturating_sub(probe.micros(at)));
        }
        Some(Tag::Frame { call: self.call, seq }.encode())
    }

    fn agent_payload(&self, at: Instant, payload: &[u8]) {
        let now = self.probe.micros(at);
        for tag in Tag::find_all(payload) {
            if let Tag::Chunk { id, turn, first } = tag {
                self.probe.chunk_arrived(id, turn, first, now);
            }
        }
    }
}

/// The simulator's hooks: each session reports to the probe of the step
/// that was current when it opened.
#[derive(Debug)]
pub(crate) struct SimProbe {
    current: Mutex<Arc<Probe>>,
}

impl SimProbe {
    pub(crate) fn new(probe: Arc<Probe>) -> SimProbe {
        SimProbe { current: Mutex::new(probe) }
    }

    /// Sessions opened from now on report to `probe`.
    pub(crate) fn switch(&self, probe: Arc<Probe>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = probe;
    }
}

impl SimObserver for SimProbe {
    fn session(&self) -> Box<dyn SessionObserver> {
        let probe = Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner));
        Box::new(SessionProbe { probe, commit: None, answer_due: false, responses: HashMap::new() })
    }
}

/// One simulated session's hooks.
#[derive(Debug)]
struct SessionProbe {
    probe: Arc<Probe>,
    /// When the latest user turn was committed.
    commit: Option<u64>,
    /// Whether the next response's first chunk answers that commit.
    answer_due: bool,
    /// The chunks each unfinished response sent in the window.
    responses: HashMap<String, Vec<u32>>,
}

impl SessionObserver for SessionProbe {
    fn appended(&mut self, audio: &[u8]) {
        let now = self.probe.micros(Instant::now());
        for start in (0..audio.len()).step_by(FRAME_BYTES) {
            match audio.get(start..).and_then(Tag::decode) {
                Some(Tag::Frame { call, seq }) => self.probe.frame_arrived(call, seq, now),
                _ => {
                    self.probe.untagged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn committed(&mut self) {
        self.commit = Some(self.probe.micros(Instant::now()));
        self.answer_due = true;
    }

    fn audio_chunk(&mut self, response_id: &str, first: bool, audio: &mut [u8]) {
        let probe = &self.probe;
        let id = probe.next_chunk.fetch_add(1, Ordering::Relaxed);
        let now = probe.micros(Instant::now());
        let turn = first && self.answer_due;
        if turn {
            self.answer_due = false;
            if let Some(commit) = self.commit {
                probe.turns.lock().unwrap_or_else(PoisonError::into_inner).insert(id, commit);
            }
        }
        if let Some(slot) = probe.chunk_slot(id) {
            slot.store((now << CHECK_BITS) | check(id), Ordering::Relaxed);
        }
        if probe.in_window(now) {
            match self.responses.get_mut(response_id) {
                Some(chunks) => chunks.push(id),
                None => {
                    self.responses.insert(response_id.to_owned(), vec![id]);
                }
            }
        }
        if let Some(head) = audio.get_mut(..STAMP_BYTES) {
            head.copy_from_slice(&Tag::Chunk { id, turn, first }.encode());
        }
    }

    fn response_done(&mut self, response_id: &str, status: &str) {
        if let Some(mut chunks) = self.responses.remove(response_id)
            && status == "completed"
        {
            let mut expected = self.probe.expected.lock().unwrap_or_else(PoisonError::into_inner);
            expected.append(&mut chunks);
        }
    }
}
