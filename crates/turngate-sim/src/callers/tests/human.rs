//! The script runner: steps in order, exact audio lengths, waits that end
//! on what the ear heard, and failures when expectations are not met.

use std::time::Duration;

use super::harness::ms;
use crate::callers::config::{Protocol, Step};
use crate::callers::ear::{Ear, EarEvent};
use crate::callers::human::{Human, Turn};
use crate::callers::report::{CallerEvent, Recorder};
use crate::callers::voice::Voice;

struct Person {
    human: Human,
    ear: Ear,
    rec: Recorder,
    events: Vec<EarEvent>,
}

impl Person {
    fn new(script: Vec<Step>) -> Person {
        Person {
            human: Human::new(script),
            ear: Ear::default(),
            rec: Recorder::new(Protocol::Twilio, "CA1".to_owned(), true),
            events: Vec::new(),
        }
    }

    fn tick(&mut self, at: u64) -> Turn {
        let mut due = Vec::new();
        self.ear.poll(ms(at), &mut due, &mut self.events);
        self.human.tick(ms(at), &self.ear, &mut self.rec)
    }

    /// Ticks from `from` every 20 ms until the caller hangs up; the turns.
    fn run(&mut self, from: u64, limit: u64) -> Vec<(u64, Turn)> {
        let mut turns = Vec::new();
        let mut at = from;
        while at <= limit {
            let turn = self.tick(at);
            let done = turn.hang_up.is_some();
            turns.push((at, turn));
            if done {
                break;
            }
            at += 20;
        }
        turns
    }

    fn agent(&mut self, at: u64, length: u64) {
        self.ear.audio(ms(at), ms(length), &mut self.events);
    }

    fn report(self, at: u64) -> crate::callers::report::CallReport {
        self.rec.finish(ms(at), Duration::ZERO, Duration::ZERO)
    }
}

fn voice_runs(turns: &[(u64, Turn)]) -> Vec<(char, usize)> {
    let mut runs: Vec<(char, usize)> = Vec::new();
    for (_, turn) in turns {
        let kind = match turn.voice {
            Voice::Silence => 's',
            Voice::Speech(_) => 'v',
            Voice::HoldOn(_) => 'h',
        };
        match runs.last_mut() {
            Some((last, count)) if *last == kind => *count += 1,
            _ => runs.push((kind, 1)),
        }
    }
    runs
}

#[test]
fn steps_run_in_order_with_exact_lengths() {
    let mut p = Person::new(vec![
        Step::Speak { ms: 100, hold_on: false },
        Step::Silence { ms: 60 },
        Step::Dtmf('1'),
        Step::Speak { ms: 50, hold_on: true },
        Step::HangUp,
    ]);
    let turns = p.run(0, 10_000);
    // 100 ms = 5 frames; 60 ms = 3; the key press rides on a silent frame;
    // 50 ms rounds up to 3 frames; then the hang-up.
    assert_eq!(voice_runs(&turns), [('v', 5), ('s', 4), ('h', 3), ('s', 1)]);
    let dtmf: Vec<u64> =
        turns.iter().filter(|(_, t)| t.dtmf == Some('1')).map(|(at, _)| *at).collect();
    assert_eq!(dtmf, [160]);
    assert_eq!(turns.last().unwrap().1.hang_up.as_deref(), Some("hang-up step"));
    let report = p.report(300);
    let steps: Vec<usize> = report
        .timeline
        .iter()
        .filter_map(|(_, e)| match e {
            CallerEvent::Step { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [0, 1, 2, 3, 4]);
    let speech: Vec<(Duration, &CallerEvent)> = report
        .events(|e| matches!(e, CallerEvent::SpeechStarted { .. } | CallerEvent::SpeechStopped))
        .collect();
    assert_eq!(
        speech,
        [
            (ms(0), &CallerEvent::SpeechStarted { hold_on: false }),
            (ms(100), &CallerEvent::SpeechStopped),
            (ms(180), &CallerEvent::SpeechStarted { hold_on: true }),
            (ms(240), &CallerEvent::SpeechStopped),
        ]
    );
}

#[test]
fn the_end_of_the_script_hangs_up() {
    let mut p = Person::new(vec![Step::Silence { ms: 40 }]);
    let turns = p.run(0, 1000);
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[2].1.hang_up.as_deref(), Some("end of the script"));
}

#[test]
fn waiting_for_the_agent_ends_after_it_has_spoken_and_gone_quiet() {
    let mut p = Person::new(vec![
        Step::WaitForAgent { max_ms: 5000 },
        Step::Speak { ms: 20, hold_on: false },
    ]);
    assert_eq!(p.tick(0).voice, Voice::Silence);
    p.agent(100, 400); // plays 100..500
    for at in (20..=780).step_by(20) {
        assert_eq!(p.tick(at).voice, Voice::Silence, "still waiting at {at} ms");
    }
    // Quiet for 300 ms since 500 ms.
    assert_eq!(p.tick(800).voice, Voice::Speech(0));
    assert!(p.report(800).failures.is_empty());
}

#[test]
fn waiting_for_an_agent_that_never_speaks_is_a_failure() {
    let mut p = Person::new(vec![Step::WaitForAgent { max_ms: 200 }, Step::HangUp]);
    let turns = p.run(0, 1000);
    assert_eq!(turns.last().unwrap().0, 200);
    let report = p.report(200);
    assert_eq!(report.failures, ["step 0 (wait:200): the agent did not speak in time"]);
}

#[test]
fn a_barge_in_starts_once_the_agent_has_played_long_enough() {
    let mut p =
        Person::new(vec![Step::BargeIn { after_agent_ms: 300, speak_ms: 100 }, Step::HangUp]);
    for at in (0..=80).step_by(20) {
        assert_eq!(p.tick(at).voice, Voice::Silence);
    }
    p.agent(100, 2000);
    for at in (100..=380).step_by(20) {
        assert_eq!(p.tick(at).voice, Voice::Silence, "the agent has played {} ms", at - 100);
    }
    assert_eq!(p.tick(400).voice, Voice::Speech(0));
    let report = p.report(400);
    assert_eq!(report.barge_ins, 1);
    assert!(
        report.timeline.iter().any(|(at, e)| *at == ms(400) && *e == CallerEvent::BargeInStarted)
    );
}

#[test]
fn a_bot_that_never_hangs_up_fails_the_wait_and_the_caller_hangs_up() {
    let mut p = Person::new(vec![Step::SilentUntilHangup { max_ms: 100 }]);
    let turns = p.run(0, 1000);
    assert_eq!(turns.last().unwrap().0, 100);
    assert_eq!(turns.last().unwrap().1.hang_up.as_deref(), Some("the bot did not hang up"));
    assert!(!p.human.expects_bot_hang_up());
    assert_eq!(
        p.report(100).failures,
        ["step 0 (silent-until-hangup:100): the bot did not hang up in time"]
    );
}

#[test]
fn turn_latency_runs_from_the_end_of_speech_to_the_next_agent_audio() {
    let mut p = Person::new(vec![
        Step::Speak { ms: 100, hold_on: false },
        Step::WaitForAgent { max_ms: 5000 },
    ]);
    p.run(0, 100);
    // The agent answers at 350 ms; the caller stopped at 100 ms.
    p.agent(350, 200);
    let events = std::mem::take(&mut p.events);
    for event in events {
        if let EarEvent::Started(at) = event {
            p.rec.agent_started(at);
        }
    }
    assert_eq!(p.report(600).turn_latencies, [ms(250)]);
}
