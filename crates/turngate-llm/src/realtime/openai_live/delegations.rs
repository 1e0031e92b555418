//! The client delegations of one GPT-Live session: each acted on once, each
//! answered once, and a late answer kept out of the model's mouth.
//!
//! `session.delegation.created` carries no task text and no deadline, the
//! caller keeps talking while the work runs, and barge-in cancels nothing.
//! So the session must decide, when a result is ready, whether it is still
//! the answer to what the caller is talking about. The rule here: a result
//! is *current* unless the caller has since said at least
//! [`MOVED_ON_WORDS`] words that start after the delegation's point on the
//! timeline (plus [`SETTLE_MS`], since the words that explain a delegation
//! may be transcribed after it). A current result goes back as commentary
//! (spoken); a stale one as thinking (silent, still known to the model).
//!
//! The registry knows only the delegations this session announced: a result
//! for any other id (a previous session's, after a reconnect) is refused,
//! and so is a second result for the same delegation.
//!
//! Sans-IO, no clock: times are session-timeline milliseconds.

use std::collections::VecDeque;

/// Words the caller must say after a delegation for its result to be stale.
pub const MOVED_ON_WORDS: usize = 3;

/// Milliseconds after a delegation's offset in which the caller's words
/// still count as part of the request.
pub const SETTLE_MS: u64 = 700;

/// Delegations remembered per session (the oldest answered ones go first).
pub const REMEMBERED: usize = 256;

/// What to do with a `session.delegation.created`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first sighting: claim it and start the work.
    New,
    /// Already seen on this session: do nothing.
    Duplicate,
}

/// How a result goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Spoken: `session.commentary.append` naming the delegation.
    Commentary,
    /// Silent: `session.thinking.append` naming the delegation, because the
    /// caller has moved on.
    Thinking,
    /// Not sent: the reason, for the log and the call record.
    Refused(&'static str),
}

#[derive(Debug, Clone)]
struct Delegation {
    id: String,
    offset_ms: u64,
    answered: bool,
}

/// The registry of one session.
#[derive(Debug, Default)]
pub struct Delegations {
    known: VecDeque<Delegation>,
    /// Start (timeline ms) and word count of each caller transcript
    /// fragment, oldest first, kept as far back as the oldest open
    /// delegation needs.
    caller_words: VecDeque<(u64, usize)>,
}

impl Delegations {
    /// An empty registry (a new session).
    #[must_use]
    pub fn new() -> Delegations {
        Delegations::default()
    }

    /// A `session.delegation.created` for `id` at `offset_ms`.
    pub fn created(&mut self, id: &str, offset_ms: u64) -> Seen {
        if self.known.iter().any(|d| d.id == id) {
            return Seen::Duplicate;
        }
        if self.known.len() == REMEMBERED {
            // Forget the oldest answered delegation, else the oldest.
            let position = self.known.iter().position(|d| d.answered).unwrap_or(0);
            self.known.remove(position);
        }
        self.known.push_back(Delegation { id: id.to_owned(), offset_ms, answered: false });
        Seen::New
    }

    /// A caller transcript fragment starting at `start_ms`.
    pub fn caller_said(&mut self, start_ms: u64, text: &str) {
        let words = text.split_whitespace().count();
        if words > 0 {
            self.caller_words.push_back((start_ms, words));
        }
        self.forget_old_words();
    }

    /// The result of delegation `id` is ready: how to send it. Marks the
    /// delegation answered, so a second result is refused.
    pub fn result(&mut self, id: &str) -> Route {
        let Some(delegation) = self.known.iter_mut().find(|d| d.id == id) else {
            return Route::Refused("this session announced no such delegation");
        };
        if delegation.answered {
            return Route::Refused("the delegation was already answered");
        }
        delegation.answered = true;
        let after = delegation.offset_ms.saturating_add(SETTLE_MS);
        let said: usize =
            self.caller_words.iter().filter(|(start, _)| *start >= after).map(|(_, n)| n).sum();
        let route = if said >= MOVED_ON_WORDS { Route::Thinking } else { Route::Commentary };
        self.forget_old_words();
        route
    }

    /// Progress for delegation `id` may go out (as thinking) only while it
    /// is open.
    #[must_use]
    pub fn is_open(&self, id: &str) -> bool {
        self.known.iter().any(|d| d.id == id && !d.answered)
    }

    fn forget_old_words(&mut self) {
        let oldest_open = self.known.iter().filter(|d| !d.answered).map(|d| d.offset_ms).min();
        match oldest_open {
            Some(offset) => {
                let keep_from = offset.saturating_add(SETTLE_MS);
                while self.caller_words.front().is_some_and(|(start, _)| *start < keep_from) {
                    self.caller_words.pop_front();
                }
            }
            None => self.caller_words.clear(),
        }
    }
}
