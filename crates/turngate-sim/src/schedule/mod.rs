//! The deterministic simulation of the session core.
//!
//! Each schedule is one call, drawn from a seed: a model Realtime server
//! that enforces the real API's rules, a carrier that plays audio in real
//! time and confirms it the way Twilio or a Call Control webhook does, a
//! caller who talks, pauses and interrupts, and an app that runs tools and
//! asks for responses. Latencies, faults (rejected creates, slow
//! `response.created`, failed responses, late deltas, duplicate events,
//! dropped connections) and the session's own configuration are random.
//! After every step a monitor checks the core's invariants (listed in
//! `docs/ARCHITECTURE.md`) from what
//! crossed the core's boundary:
//!
//! 1. never two responses requested or active at once;
//! 2. every committed user turn answered or dropped by a documented rule;
//! 3. "agent speaking" true exactly while audio sent is unconfirmed, so it
//!    never outlives the playback-ended signal;
//! 4. no dead-air check-in while either side speaks;
//! 5. against a full-duplex model (a quarter of the calls): nothing of the
//!    turn gate is ever sent, and every delegation is answered exactly once
//!    or called off explicitly.
//!
//! A failing schedule prints its seed and a command that replays it.

mod duplex;
mod monitor;
mod params;
mod rng;
mod upstream;
mod world;

#[cfg(test)]
mod tests;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use turngate_core::SessionConfig;

pub use monitor::ViolationKind;
pub use params::Flavor;
pub use world::Stats;

/// A schedule that broke an invariant.
#[derive(Debug)]
pub struct Violation {
    /// The seed that replays it.
    pub seed: u64,
    /// The invariant.
    pub kind: ViolationKind,
    /// Simulated time of the failing step.
    pub at: Duration,
    /// What exactly was wrong.
    pub detail: String,
    /// The last steps before it, oldest first.
    pub trace: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:?} at {:.3}s of seed {:#x}: {}",
            self.kind,
            self.at.as_secs_f64(),
            self.seed,
            self.detail
        )?;
        writeln!(f, "last steps:")?;
        for step in &self.trace {
            writeln!(f, "  {step}")?;
        }
        write!(f, "replay with: cargo xtask sim --seed {:#x}", self.seed)
    }
}

/// Runs the schedule of one seed against a session configured from `base`
/// (the schedule randomizes its timings and modes; anything else, such as a
/// planted bug, is kept).
pub fn run_one(seed: u64, base: &SessionConfig) -> Result<Stats, Violation> {
    match run_traced(seed, base, false) {
        Ok(stats) => Ok(stats),
        // Schedules run without a trace to be fast; a failing one is run
        // again with it, which reproduces it exactly.
        Err(_) => match run_traced(seed, base, true) {
            Ok(_) => Err(Violation {
                seed,
                kind: ViolationKind::Panic,
                at: Duration::ZERO,
                detail: "the schedule failed once and passed on replay: it is not deterministic"
                    .to_owned(),
                trace: Vec::new(),
            }),
            Err(violation) => Err(violation),
        },
    }
}

fn run_traced(seed: u64, base: &SessionConfig, tracing: bool) -> Result<Stats, Violation> {
    let outcome = catch_unwind(AssertUnwindSafe(|| world::World::new(seed, base, tracing).run()));
    match outcome {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(failure)) => Err(Violation {
            seed,
            kind: failure.kind,
            at: failure.at,
            detail: failure.detail,
            trace: failure.trace,
        }),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(Violation {
                seed,
                kind: ViolationKind::Panic,
                at: Duration::ZERO,
                detail,
                trace: Vec::new(),
            })
        }
    }
}

/// What a batch of schedules found.
#[derive(Debug, Default)]
pub struct Report {
    /// Schedules run.
    pub cases: u64,
    /// The first violation found (the batch stops there).
    pub violation: Option<Violation>,
    /// Totals over the schedules that passed.
    pub totals: Stats,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs seeds `first_seed .. first_seed + cases` on `threads` threads and
/// stops at the first violation.
pub fn run_many(cases: u64, first_seed: u64, threads: usize, base: &SessionConfig) -> Report {
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let found: Mutex<Option<Violation>> = Mutex::new(None);
    let totals: Mutex<(u64, Stats)> = Mutex::new((0, Stats::default()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut local = Stats::default();
                let mut ran = 0;
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= cases {
                        break;
                    }
                    ran += 1;
                    match run_one(first_seed.wrapping_add(index), base) {
                        Ok(stats) => add(&mut local, &stats),
                        Err(violation) => {
                            stop.store(true, Ordering::Relaxed);
                            let mut slot = found.lock().unwrap_or_else(|e| e.into_inner());
                            // Keep the lowest seed so a rerun reports the same one.
                            if slot.as_ref().is_none_or(|v| violation.seed < v.seed) {
                                *slot = Some(violation);
                            }
                        }
                    }
                }
                let mut totals = totals.lock().unwrap_or_else(|e| e.into_inner());
                totals.0 += ran;
                add(&mut totals.1, &local);
            });
        }
    });
    let (cases, totals) = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    Report {
        cases,
        violation: found.into_inner().unwrap_or_else(|e| e.into_inner()),
        totals,
        elapsed: started.elapsed(),
    }
}

fn add(total: &mut Stats, one: &Stats) {
    total.inputs += one.inputs;
    total.simulated += one.simulated;
    total.turns += one.turns;
    total.barge_ins += one.barge_ins;
    total.check_ins += one.check_ins;
    total.upstream_conflicts += one.upstream_conflicts;
    total.disconnects += one.disconnects;
    total.full_duplex += one.full_duplex;
    total.delegations += one.delegations;
}
