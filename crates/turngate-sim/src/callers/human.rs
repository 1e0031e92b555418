//! The simulated human: runs the script one 20 ms frame at a time, deciding
//! what the line carries (speech, silence, a key press) and when to hang up,
//! from what the ear has heard.
//!
//! Speech and silence are counted in frames, not measured in time, so a
//! `Speak { ms: 1000 }` sends exactly one second of audio even when the
//! timer runs late and frames go out in a burst.

use std::time::Duration;

use super::config::Step;
use super::ear::Ear;
use super::report::{CallerEvent, Recorder};
use super::voice::Voice;

/// How long the agent must have been quiet for `WaitForAgent` to end.
pub(super) const QUIET_AFTER_AGENT: Duration = Duration::from_millis(300);

/// The length of one frame of caller audio.
pub(super) const FRAME: Duration = Duration::from_millis(20);

/// What the caller does during one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Turn {
    /// What the line carries.
    pub(super) voice: Voice,
    /// A key pressed at the start of the frame.
    pub(super) dtmf: Option<char>,
    /// The caller hangs up instead, for this reason.
    pub(super) hang_up: Option<String>,
    /// The line to the bot drops instead, and comes back after this long.
    pub(super) reconnect: Option<Duration>,
}

impl Turn {
    fn voice(voice: Voice) -> Turn {
        Turn { voice, dtmf: None, hang_up: None, reconnect: None }
    }

    fn hang_up(reason: String) -> Turn {
        Turn { voice: Voice::Silence, dtmf: None, hang_up: Some(reason), reconnect: None }
    }
}

#[derive(Clone, Debug)]
enum Doing {
    Speaking { frames_left: u64, frame: usize, hold_on: bool },
    Silent { frames_left: u64 },
    Waiting { deadline: Duration, utterances_before: u64, heard: bool },
    AwaitingBargeIn { after: Duration, speak_frames: u64 },
    AwaitingDrop { after: Duration, gap: Duration },
    AwaitingHangUp { deadline: Duration },
    HangingUp { reason: String },
}

#[derive(Debug)]
pub(super) struct Human {
    script: Vec<Step>,
    next: usize,
    current: Option<(usize, Doing)>,
}

fn frames(ms: u64) -> u64 {
    ms.div_ceil(FRAME.as_millis() as u64)
}

impl Human {
    pub(super) fn new(script: Vec<Step>) -> Human {
        Human { script, next: 0, current: None }
    }

    /// The step in progress and its position.
    pub(super) fn current_step(&self) -> Option<(usize, &Step)> {
        let (index, _) = self.current.as_ref()?;
        self.script.get(*index).map(|step| (*index, step))
    }

    /// Whether the step in progress waits for the bot to hang up.
    pub(super) fn expects_bot_hang_up(&self) -> bool {
        matches!(self.current, Some((_, Doing::AwaitingHangUp { .. })))
    }

    /// The caller's next frame at `now`.
    pub(super) fn tick(&mut self, now: Duration, ear: &Ear, rec: &mut Recorder) -> Turn {
        // Each pass either returns this frame's turn or finishes a step, so
        // the loop ends within one pass per remaining step.
        loop {
            let Some((index, doing)) = self.current.as_mut() else {
                let Some(step) = self.script.get(self.next).cloned() else {
                    return Turn::hang_up("end of the script".to_owned());
                };
                let index = self.next;
                self.next += 1;
                rec.event(now, CallerEvent::Step { index, step: step.clone() });
                match self.begin(now, &step, ear, rec) {
                    Ok(doing) => self.current = Some((index, doing)),
                    Err(turn) => return turn,
                }
                continue;
            };
            let index = *index;
            match doing {
                Doing::Speaking { frames_left: 0, .. } => {
                    rec.speech_stopped(now);
                    self.current = None;
                }
                Doing::Speaking { frames_left, frame, hold_on } => {
                    *frames_left -= 1;
                    let voice =
                        if *hold_on { Voice::HoldOn(*frame) } else { Voice::Speech(*frame) };
                    *frame += 1;
                    return Turn::voice(voice);
                }
                Doing::Silent { frames_left: 0 } => self.current = None,
                Doing::Silent { frames_left } => {
                    *frames_left -= 1;
                    return Turn::voice(Voice::Silence);
                }
                Doing::Waiting { deadline, utterances_before, heard } => {
                    *heard |= ear.in_utterance() || ear.utterances() > *utterances_before;
                    let quiet = ear.quiet_for(now).is_some_and(|q| q >= QUIET_AFTER_AGENT);
                    if *heard && quiet {
                        self.current = None;
                    } else if now >= *deadline {
                        let what = if *heard { "finish speaking" } else { "speak" };
                        let step =
                            self.script.get(index).map(ToString::to_string).unwrap_or_default();
                        rec.failure(
                            now,
                            format!("step {index} ({step}): the agent did not {what} in time"),
                        );
                        self.current = None;
                    } else {
                        return Turn::voice(Voice::Silence);
                    }
                }
                Doing::AwaitingBargeIn { after, speak_frames } => {
                    let playing = ear.ahead(now) > Duration::ZERO;
                    if playing && ear.utterance_elapsed(now).is_some_and(|e| e >= *after) {
                        rec.speech_started(now, false, true);
                        let frames_left = *speak_frames;
                        *doing = Doing::Speaking { frames_left, frame: 0, hold_on: false };
                    } else {
                        return Turn::voice(Voice::Silence);
                    }
                }
                Doing::AwaitingDrop { after, gap } => {
                    let playing = ear.ahead(now) > Duration::ZERO;
                    if playing && ear.utterance_elapsed(now).is_some_and(|e| e >= *after) {
                        let gap = *gap;
                        self.current = None;
                        return Turn { reconnect: Some(gap), ..Turn::voice(Voice::Silence) };
                    }
                    return Turn::voice(Voice::Silence);
                }
                Doing::AwaitingHangUp { deadline } => {
                    if now < *deadline {
                        return Turn::voice(Voice::Silence);
                    }
                    let step = self.script.get(index).map(ToString::to_string).unwrap_or_default();
                    rec.failure(
                        now,
                        format!("step {index} ({step}): the bot did not hang up in time"),
                    );
                    let reason = "the bot did not hang up".to_owned();
                    *doing = Doing::HangingUp { reason: reason.clone() };
                    return Turn::hang_up(reason);
                }
                Doing::HangingUp { reason } => return Turn::hang_up(reason.clone()),
            }
        }
    }

    /// Starts `step`: what the caller is doing now, or a turn that is all
    /// the step is (a key press, a hang-up).
    fn begin(
        &mut self,
        now: Duration,
        step: &Step,
        ear: &Ear,
        rec: &mut Recorder,
    ) -> Result<Doing, Turn> {
        let ms = Duration::from_millis;
        Ok(match *step {
            Step::Speak { ms, hold_on } => {
                rec.speech_started(now, hold_on, false);
                Doing::Speaking { frames_left: frames(ms), frame: 0, hold_on }
            }
            Step::Silence { ms } => Doing::Silent { frames_left: frames(ms) },
            Step::WaitForAgent { max_ms } => Doing::Waiting {
                deadline: now + ms(max_ms),
                utterances_before: ear.utterances(),
                heard: ear.in_utterance(),
            },
            Step::BargeIn { after_agent_ms, speak_ms } => {
                Doing::AwaitingBargeIn { after: ms(after_agent_ms), speak_frames: frames(speak_ms) }
            }
            Step::Dtmf(digit) => {
                rec.event(now, CallerEvent::Dtmf { digit });
                return Err(Turn { dtmf: Some(digit), ..Turn::voice(Voice::Silence) });
            }
            Step::SilentUntilHangup { max_ms } => {
                Doing::AwaitingHangUp { deadline: now + ms(max_ms) }
            }
            Step::Reconnect { after_agent_ms, gap_ms } => {
                Doing::AwaitingDrop { after: ms(after_agent_ms), gap: ms(gap_ms) }
            }
            Step::HangUp => {
                let reason = "hang-up step".to_owned();
                let index = self.next.saturating_sub(1);
                self.current = Some((index, Doing::HangingUp { reason: reason.clone() }));
                return Err(Turn::hang_up(reason));
            }
        })
    }
}
