//! The set of sessions woken since the inbox last looked.
//!
//! Wake-ups are hints: the signals themselves wait in the store. Collapsing
//! repeated wake-ups of one session into one entry keeps memory bounded by
//! the number of distinct sessions, and overflowing into "wake everything"
//! keeps it bounded even then, without ever forgetting that a session needs
//! a look.

use std::collections::HashSet;
use std::mem;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::ids::SessionId;

/// What the inbox should drain.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Every registered session.
    All,
    /// These sessions (possibly none).
    Some(HashSet<SessionId>),
}

#[derive(Debug, Default)]
struct State {
    sessions: HashSet<SessionId>,
    all: bool,
}

#[derive(Debug)]
pub(crate) struct WakeSet {
    state: Mutex<State>,
    notify: Notify,
    max: usize,
}

impl WakeSet {
    pub(crate) fn new(max: usize) -> Self {
        Self { state: Mutex::default(), notify: Notify::new(), max }
    }

    pub(crate) fn wake(&self, session: &SessionId) {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.all && !state.sessions.contains(session) {
                if state.sessions.len() >= self.max {
                    state.all = true;
                    state.sessions = HashSet::new();
                } else {
                    state.sessions.insert(session.clone());
                }
            }
        }
        // `notify_one` stores a permit when nobody waits, so a wake-up that
        // lands while the inbox is busy is seen on its next wait.
        self.notify.notify_one();
    }

    pub(crate) fn wake_all(&self) {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.all = true;
            state.sessions = HashSet::new();
        }
        self.notify.notify_one();
    }

    pub(crate) fn take(&self) -> Woken {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if mem::take(&mut state.all) {
            state.sessions = HashSet::new();
            Woken::All
        } else {
            Woken::Some(mem::take(&mut state.sessions))
        }
    }

    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }
}
