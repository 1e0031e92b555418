//! The backend function calls of one GPT-Live session in Responses
//! delegation: each executed once, answered with exactly one
//! `function_call_output`, and the backend continued with one
//! `response.create` once nothing is left to answer.
//!
//! In Responses delegation a backend Responses model does the delegated
//! work; the application only runs the functions it calls. A call is read
//! from a `response.output_item.done` whose item is a completed
//! `function_call` (the `response.completed` snapshot's `output` is
//! empty), and the same call can be seen twice (a primary and a sideband;
//! pipecat guards against a repeated `call_id` too). The backend is then
//! continued with `response.create`, once every call has its output and
//! the response has finished (openai-python's Live types,
//! `response_item_create_event.py` and `response_create_event.py`;
//! pipecat-ai/pipecat PR #5688 sends it that way).
//!
//! `response.create` names no response, so the rule is kept per session,
//! the strict reading: one `response.create` when every call seen since
//! the previous one has its output and no backend response is still
//! running. Running responses are known by id, from the delegation's
//! `response_id` and the backend's own `response.created`, until their
//! `response.completed`, `.failed` or `.incomplete`; a repeated event
//! therefore cannot count twice.
//!
//! Sans-IO, no clock.

use std::collections::VecDeque;

/// Calls remembered per session, answered ones included, so a repeat of an
/// old call is still known as one.
pub const REMEMBERED: usize = 256;

/// What to do with a backend function call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSeen {
    /// The first sighting: run it.
    New,
    /// Already seen on this session: do nothing.
    Duplicate,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    answered: bool,
}

/// The backend calls and responses of one session.
#[derive(Debug, Default)]
pub struct BackendCalls {
    /// Every call seen, oldest first (bounded by [`REMEMBERED`]).
    calls: VecDeque<Call>,
    /// Calls seen since the last `response.create` went out.
    batch: usize,
    /// Backend responses started and not yet finished.
    running: Vec<String>,
    /// `response.create`s sent.
    continued: u64,
}

impl BackendCalls {
    /// An empty registry (a new session).
    #[must_use]
    pub fn new() -> BackendCalls {
        BackendCalls::default()
    }

    /// A backend response started (announced by a delegation, or by the
    /// backend's own `response.created`).
    pub fn response_started(&mut self, response_id: &str) {
        if !self.running.iter().any(|id| id == response_id) {
            self.running.push(response_id.to_owned());
        }
    }

    /// A backend response finished. Without an id (a snapshot that does not
    /// carry one) the oldest running response is taken as the one. True when
    /// the backend should now be continued.
    pub fn response_done(&mut self, response_id: Option<&str>) -> bool {
        match response_id {
            Some(id) => self.running.retain(|running| running != id),
            None if !self.running.is_empty() => {
                self.running.remove(0);
            }
            None => {}
        }
        self.due()
    }

    /// A completed `function_call` item.
    pub fn called(&mut self, call_id: &str) -> CallSeen {
        if self.calls.iter().any(|call| call.id == call_id) {
            return CallSeen::Duplicate;
        }
        if self.calls.len() == REMEMBERED {
            // Answered calls go first; a session with this many unanswered
            // ones is broken, and its oldest call's output will be refused.
            let oldest = self.calls.iter().position(|call| call.answered).unwrap_or(0);
            self.calls.remove(oldest);
        }
        self.calls.push_back(Call { id: call_id.to_owned(), answered: false });
        self.batch += 1;
        CallSeen::New
    }

    /// Takes `call_id`'s one output: `Ok` when it may go out now, else why
    /// not (for the log and the call record). Only once, and only for a
    /// call this session made.
    pub fn answer(&mut self, call_id: &str) -> Result<(), &'static str> {
        match self.calls.iter_mut().find(|call| call.id == call_id) {
            None => Err("no such call in this session (it may have died with an earlier one)"),
            Some(call) if call.answered => Err("the call already has its output"),
            Some(call) => {
                call.answered = true;
                Ok(())
            }
        }
    }

    /// True when the backend should be continued now: it was given calls
    /// since the last continuation, all of them have their output, and no
    /// backend response is running. The caller sends `response.create` and
    /// calls [`BackendCalls::continued`].
    #[must_use]
    pub fn due(&self) -> bool {
        self.batch > 0 && self.running.is_empty() && self.calls.iter().all(|call| call.answered)
    }

    /// A `response.create` went out.
    pub fn continued(&mut self) {
        self.batch = 0;
        self.continued += 1;
    }

    /// True when nothing is open: no call unanswered, no continuation owed,
    /// no backend response running (a quiet moment to replace the session).
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.batch == 0 && self.running.is_empty()
    }

    /// `response.create`s sent so far.
    #[must_use]
    pub fn continuations(&self) -> u64 {
        self.continued
    }
}

#[cfg(test)]
mod tests {
    use super::{BackendCalls, CallSeen};

    #[test]
    fn the_backend_is_continued_once_every_call_is_answered_and_its_response_finished() {
        let mut calls = BackendCalls::new();
        calls.response_started("resp_1");
        assert_eq!(calls.called("call_a"), CallSeen::New);
        assert_eq!(calls.called("call_b"), CallSeen::New);
        assert!(!calls.response_done(Some("resp_1")), "two calls are unanswered");
        assert_eq!(calls.answer("call_a"), Ok(()));
        assert!(!calls.due());
        assert_eq!(calls.answer("call_b"), Ok(()));
        assert!(calls.due());
        calls.continued();
        assert!(!calls.due(), "one response.create per batch");
        assert!(calls.is_idle());
    }

    #[test]
    fn answers_before_the_response_finishes_wait_for_it() {
        let mut calls = BackendCalls::new();
        calls.response_started("resp_1");
        calls.called("call_a");
        assert_eq!(calls.answer("call_a"), Ok(()));
        assert!(!calls.due(), "the response is still running");
        // A repeated start is the same response.
        calls.response_started("resp_1");
        assert!(calls.response_done(Some("resp_1")));
    }

    #[test]
    fn a_repeated_call_runs_once_and_takes_one_output() {
        let mut calls = BackendCalls::new();
        calls.called("call_a");
        assert_eq!(calls.called("call_a"), CallSeen::Duplicate);
        assert_eq!(calls.answer("call_a"), Ok(()));
        assert!(calls.answer("call_a").is_err());
        assert!(calls.answer("call_elsewhere").is_err());
    }

    #[test]
    fn a_response_without_calls_owes_no_continuation() {
        let mut calls = BackendCalls::new();
        calls.response_started("resp_1");
        assert!(!calls.is_idle());
        assert!(!calls.response_done(None));
        assert!(calls.is_idle());
        assert!(!calls.response_done(Some("resp_unknown")));
    }

    #[test]
    fn a_second_response_running_holds_the_continuation() {
        let mut calls = BackendCalls::new();
        calls.response_started("resp_1");
        calls.called("call_a");
        calls.response_started("resp_2");
        assert!(!calls.response_done(Some("resp_1")));
        assert_eq!(calls.answer("call_a"), Ok(()));
        assert!(!calls.due());
        assert!(calls.response_done(Some("resp_2")));
    }

    #[test]
    fn old_calls_are_forgotten_answered_first() {
        let mut calls = BackendCalls::new();
        for n in 0..super::REMEMBERED {
            calls.called(&format!("call_{n}"));
        }
        let _ = calls.answer("call_7");
        calls.called("call_new");
        assert_eq!(calls.called("call_0"), CallSeen::Duplicate, "unanswered calls are kept");
        assert_eq!(calls.called("call_7"), CallSeen::New, "the answered one made room");
    }
}
