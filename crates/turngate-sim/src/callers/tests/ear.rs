//! The playout queue: real-time playback, marks, clears and utterances.

use super::harness::ms;
use crate::callers::ear::{Ear, EarEvent, MAX_PENDING_MARKS, UTTERANCE_GAP};

#[derive(Default)]
struct Probe {
    ear: Ear,
    due: Vec<String>,
    events: Vec<EarEvent>,
}

impl Probe {
    fn audio(&mut self, at: u64, length: u64) {
        self.ear.audio(ms(at), ms(length), &mut self.events);
    }

    fn poll(&mut self, at: u64) -> (Vec<String>, Vec<EarEvent>) {
        self.ear.poll(ms(at), &mut self.due, &mut self.events);
        (std::mem::take(&mut self.due), std::mem::take(&mut self.events))
    }
}

#[test]
fn audio_plays_back_to_back_in_real_time() {
    let mut p = Probe::default();
    p.audio(100, 300);
    p.audio(150, 300); // queued behind the first: plays 400..700
    assert_eq!(p.ear.ahead(ms(150)), ms(550));
    assert_eq!(p.ear.played(ms(400)), ms(300));
    assert_eq!(p.ear.played(ms(700)), ms(600));
    assert_eq!(p.ear.played(ms(5000)), ms(600), "nothing plays that was not received");
}

#[test]
fn a_mark_is_due_when_the_audio_queued_before_it_ends() {
    let mut p = Probe::default();
    p.audio(0, 200);
    assert_eq!(p.ear.mark(ms(0), "a".to_owned()), Ok(None));
    p.audio(0, 200);
    assert_eq!(p.ear.mark(ms(0), "b".to_owned()), Ok(None));
    assert_eq!(p.ear.next_deadline(), Some(ms(200)));
    assert!(p.poll(199).0.is_empty());
    assert_eq!(p.poll(200).0, ["a"]);
    assert_eq!(p.poll(400).0, ["b"]);
    assert_eq!(
        p.ear.mark(ms(400), "idle".to_owned()),
        Ok(Some("idle".to_owned())),
        "nothing queued: at once"
    );
}

#[test]
fn a_clear_cuts_the_audio_and_releases_every_mark() {
    let mut p = Probe::default();
    p.audio(0, 1000);
    assert_eq!(p.ear.mark(ms(0), "a".to_owned()), Ok(None));
    p.audio(0, 1000);
    assert_eq!(p.ear.mark(ms(0), "b".to_owned()), Ok(None));
    let (mut due, mut events) = (Vec::new(), Vec::new());
    p.ear.clear(ms(250), &mut due, &mut events);
    assert_eq!(due, ["a", "b"]);
    assert_eq!(events, [EarEvent::Stopped { at: ms(250), cleared: true }]);
    assert_eq!(p.ear.played(ms(3000)), ms(250));
    assert_eq!(p.ear.received(), ms(2000));
    assert_eq!(p.ear.next_deadline(), None);
}

#[test]
fn short_pauses_stay_inside_one_utterance() {
    let mut p = Probe::default();
    p.audio(0, 100);
    assert_eq!(p.poll(0).1, [EarEvent::Started(ms(0))]);
    // 100 ms of silence between chunks: less than the gap.
    p.audio(200, 100);
    assert!(p.poll(200).1.is_empty());
    assert_eq!(p.ear.utterances(), 1);
    assert_eq!(p.ear.utterance_elapsed(ms(250)), Some(ms(250)));
    // The end is known once the gap has passed, stamped when audio ran out.
    let end = 300 + UTTERANCE_GAP.as_millis() as u64;
    assert!(p.poll(end - 1).1.is_empty());
    assert_eq!(p.poll(end).1, [EarEvent::Stopped { at: ms(300), cleared: false }]);
    assert_eq!(p.ear.quiet_for(ms(600)), Some(ms(300)));
    // A longer pause starts a second utterance.
    p.audio(1000, 100);
    assert_eq!(p.poll(1000).1, [EarEvent::Started(ms(1000))]);
    assert_eq!(p.ear.utterances(), 2);
    assert_eq!(p.ear.quiet_for(ms(1000)), None);
}

#[test]
fn a_clear_after_the_audio_ran_out_cuts_nothing() {
    let mut p = Probe::default();
    p.audio(0, 100);
    p.poll(0);
    let (mut due, mut events) = (Vec::new(), Vec::new());
    p.ear.clear(ms(120), &mut due, &mut events);
    assert_eq!(events, [EarEvent::Stopped { at: ms(100), cleared: false }]);
    assert_eq!(p.ear.played(ms(120)), ms(100));
}

#[test]
fn pending_marks_are_bounded() {
    let mut p = Probe::default();
    p.audio(0, 1000);
    for i in 0..MAX_PENDING_MARKS {
        assert_eq!(p.ear.mark(ms(0), format!("m{i}")), Ok(None));
    }
    assert_eq!(p.ear.mark(ms(0), "one too many".to_owned()), Err("one too many".to_owned()));
    assert_eq!(p.poll(1000).0.len(), MAX_PENDING_MARKS);
}
