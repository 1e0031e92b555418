//! The cost of `Session::handle` per input, over the mix a live call feeds
//! it: caller audio every 20 ms, speech start and stop, commits, responses
//! created, audio deltas, mark echoes, transcripts and `response.done`,
//! with a barge-in every other turn.
//!
//! Run with `cargo bench -p turngate-core --bench handle`. The call runs
//! once to warm up, then every input of several more calls is timed on its
//! own (the cost of reading the clock, measured here, is subtracted); the
//! figures are nanoseconds per `handle`, the returned commands dropped
//! outside the timing. They are also written to `target/bench/core.json`
//! for `cargo xtask bench`.

#![allow(clippy::print_stdout, reason = "a benchmark reports its figures on stdout")]
#![allow(clippy::print_stderr, reason = "a benchmark reports errors on stderr")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use turngate_core::{
    AudioChunk, BackendCommand, Command, Input, ItemId, MarkId, Origin, ResponseId, ResponseStatus,
    Session, SessionConfig, TransportCommand,
};

/// Simulated calls timed after the warm-up call.
const CALLS: usize = 40;
/// Turns per call.
const TURNS: usize = 30;
/// Caller frames (20 ms) between turns.
const FRAMES_PER_TURN: usize = 100;
/// Audio deltas (100 ms) per response.
const DELTAS: usize = 20;

/// A scripted call, fed input by input.
struct Driver {
    session: Session,
    now: Instant,
    /// The create the session asked for last, to answer it.
    create: Option<turngate_core::ClientEventId>,
    /// Marks the session sent, to echo.
    marks: Vec<MarkId>,
    /// Per input kind, the time of each `handle`.
    times: BTreeMap<&'static str, Vec<u64>>,
    clock_cost: u64,
    timing: bool,
    /// Creates and plays the session asked for, to check the script drove
    /// it through real turns rather than inputs it ignores.
    creates: usize,
    plays: usize,
}

impl Driver {
    fn new(clock_cost: u64, timing: bool) -> Driver {
        let now = Instant::now();
        Driver {
            session: Session::new(SessionConfig::default(), now),
            now,
            create: None,
            marks: Vec::new(),
            times: BTreeMap::new(),
            clock_cost,
            timing,
            creates: 0,
            plays: 0,
        }
    }

    fn feed(&mut self, kind: &'static str, input: Input) {
        let start = Instant::now();
        let commands = self.session.handle(self.now, black_box(input));
        let took = start.elapsed();
        if self.timing {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            self.times.entry(kind).or_default().push(nanos.saturating_sub(self.clock_cost));
        }
        for command in commands {
            match command {
                Command::Backend(BackendCommand::CreateResponse { event_id, .. }) => {
                    self.create = Some(event_id);
                    self.creates += 1;
                }
                Command::Transport(TransportCommand::Play { mark, .. }) => {
                    self.marks.push(mark);
                    self.plays += 1;
                }
                _ => {}
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
            self.feed("tick", Input::Tick);
        }
    }

    fn caller_frames(&mut self, frames: usize) {
        for _ in 0..frames {
            self.advance(Duration::from_millis(20));
            let audio = AudioChunk::new(vec![0xFF; 160], Duration::from_millis(20));
            self.feed("caller_audio", Input::CallerAudio(audio));
        }
    }

    fn turn(&mut self, number: usize, barge_in: bool) {
        self.feed("speech_started", Input::UserSpeechStarted);
        self.caller_frames(FRAMES_PER_TURN / 2);
        self.feed("speech_stopped", Input::UserSpeechStopped);
        let user_item = ItemId(format!("item_u{number}"));
        self.feed("committed", Input::InputCommitted { item_id: Some(user_item) });
        let response_id = ResponseId(format!("resp_{number}"));
        let origin = self.create.take().map_or(Origin::Server, Origin::Create);
        let created =
            Input::ResponseCreated { response_id: response_id.clone(), origin, out_of_band: false };
        self.feed("response_created", created);
        let item_id = ItemId(format!("item_a{number}"));
        let deltas = if barge_in { DELTAS / 2 } else { DELTAS };
        for _ in 0..deltas {
            self.advance(Duration::from_millis(100));
            let audio = AudioChunk::new(vec![0xFF; 800], Duration::from_millis(100));
            let delta = Input::ResponseAudio {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
                audio,
            };
            self.feed("response_audio", delta);
            // The carrier echoes a mark once the audio before it has played.
            if self.marks.len() > 1 {
                let mark = self.marks.remove(0);
                self.feed("mark", Input::PlaybackMark(mark));
            }
        }
        if barge_in {
            self.feed("speech_started", Input::UserSpeechStarted);
            let marks: Vec<MarkId> = self.marks.drain(..).collect();
            for mark in marks {
                self.feed("mark", Input::PlaybackMark(mark));
            }
            let done = Input::ResponseDone { response_id, status: ResponseStatus::Cancelled };
            self.feed("response_done", done);
            self.feed("speech_stopped", Input::UserSpeechStopped);
            return;
        }
        let transcript = Input::ResponseTranscript {
            response_id: response_id.clone(),
            item_id,
            text: "a short answer from the assistant".to_owned(),
        };
        self.feed("transcript", transcript);
        self.feed(
            "response_done",
            Input::ResponseDone { response_id, status: ResponseStatus::Completed },
        );
        let marks: Vec<MarkId> = self.marks.drain(..).collect();
        for mark in marks {
            self.advance(Duration::from_millis(100));
            self.feed("mark", Input::PlaybackMark(mark));
        }
        self.caller_frames(FRAMES_PER_TURN / 2);
    }

    fn call(&mut self) {
        self.feed("backend_ready", Input::BackendReady);
        for number in 0..TURNS {
            self.turn(number, number % 2 == 1);
        }
        self.feed("call_ended", Input::CallEnded);
        let deltas = TURNS.div_ceil(2) * DELTAS + TURNS / 2 * (DELTAS / 2);
        assert_eq!(
            (self.creates, self.plays),
            (TURNS, deltas),
            "the script no longer drives the session through its turns"
        );
    }
}

/// The median cost of two clock reads with nothing between them.
fn clock_cost() -> u64 {
    let mut samples: Vec<u64> = (0..10_001)
        .map(|_| {
            let start = Instant::now();
            let took = black_box(start).elapsed();
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn main() {
    let clock = clock_cost();
    Driver::new(clock, false).call();
    let mut all: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for _ in 0..CALLS {
        let mut driver = Driver::new(clock, true);
        driver.call();
        for (kind, times) in driver.times {
            all.entry(kind).or_default().extend(times);
        }
    }
    let mut everything: Vec<u64> = all.values().flatten().copied().collect();
    everything.sort_unstable();
    println!("Session::handle, {CALLS} calls of {TURNS} turns, clock cost {clock} ns subtracted");
    println!("{:<18} {:>9} {:>8} {:>8} {:>8}", "input", "count", "p50 ns", "p99 ns", "mean ns");
    let mut lines = Vec::new();
    for (kind, times) in &mut all {
        times.sort_unstable();
        let mean = times.iter().sum::<u64>() / times.len().max(1) as u64;
        println!(
            "{kind:<18} {:>9} {:>8} {:>8} {:>8}",
            times.len(),
            percentile(times, 0.5),
            percentile(times, 0.99),
            mean
        );
        lines.push(format!("\"core.handle_ns_p50.{kind}\": {}", percentile(times, 0.5)));
    }
    let p50 = percentile(&everything, 0.5);
    let p99 = percentile(&everything, 0.99);
    let mean = everything.iter().sum::<u64>() / everything.len().max(1) as u64;
    println!("{:<18} {:>9} {:>8} {:>8} {:>8}", "all (the mix)", everything.len(), p50, p99, mean);
    let mut text = format!(
        "{{\"core.handle_ns_p50\": {p50}, \"core.handle_ns_p99\": {p99}, \"core.handle_ns_mean\": {mean}"
    );
    for line in lines {
        text.push_str(", ");
        text.push_str(&line);
    }
    text.push_str("}\n");
    let dir = target_dir().join("bench");
    let path = dir.join("core.json");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(error) => {
            eprintln!("cannot write {}: {error}", path.display());
            std::process::exit(1);
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}
