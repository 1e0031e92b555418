//! The silence timer: check-ins while nobody speaks, then hang-up.

use std::time::Instant;

use crate::config::DeadAirConfig;

/// Dead-air state.
///
/// The timer runs only while the session is quiet: neither side speaking,
/// nothing waiting for or holding the gate, no tool running. Whoever decides
/// quietness calls [`DeadAir::set_quiet`] after every input; the timer
/// restarts from the moment quiet begins.
#[derive(Debug, Default)]
pub(crate) struct DeadAir {
    quiet_since: Option<Instant>,
    check_ins: u32,
    hold_on: bool,
}

/// What an expired silence timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Ask whether the caller is still there (the number of this check-in).
    CheckIn(u32),
    /// Every check-in went unanswered: hang up.
    HangUp,
}

impl DeadAir {
    pub(crate) fn set_quiet(&mut self, now: Instant, quiet: bool) {
        match (quiet, self.quiet_since) {
            (true, None) => self.quiet_since = Some(now),
            (false, Some(_)) => self.quiet_since = None,
            _ => {}
        }
    }

    /// The caller did something (spoke, pressed a key): start counting again.
    pub(crate) fn caller_active(&mut self) {
        self.check_ins = 0;
        self.hold_on = false;
        self.quiet_since = None;
    }

    /// The caller asked for a moment.
    pub(crate) fn hold_on(&mut self) {
        self.hold_on = true;
    }

    pub(crate) fn deadline(&self, config: &DeadAirConfig) -> Option<Instant> {
        if !config.enabled {
            return None;
        }
        let since = self.quiet_since?;
        let wait = if self.check_ins >= config.max_check_ins {
            config.hang_up_grace
        } else if self.hold_on {
            config.hold_on_timeout
        } else {
            config.timeout
        };
        Some(since + wait)
    }

    /// Called when the deadline has passed.
    pub(crate) fn expire(&mut self, config: &DeadAirConfig) -> Expiry {
        self.quiet_since = None;
        if self.check_ins >= config.max_check_ins {
            Expiry::HangUp
        } else {
            self.check_ins += 1;
            Expiry::CheckIn(self.check_ins)
        }
    }

    pub(crate) fn check_ins(&self) -> u32 {
        self.check_ins
    }

    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet_since.is_some()
    }
}
