//! The Lua scripts, one per compare-and-set operation.
//!
//! `redis::Script` sends `EVALSHA` with the script's SHA-1 and, only if the
//! server answers `NOSCRIPT` (first use, or after a restart or failover
//! emptied the script cache), loads the body with `SCRIPT LOAD` and retries
//! the `EVALSHA` (redis 1.8, `ScriptInvocation::invoke_async`). The
//! coordinator also loads every script when it connects, so in steady state
//! the body never travels again.

use redis::Script;

/// Every script the coordinator runs.
#[derive(Debug)]
pub(super) struct Scripts {
    pub(super) signal: Script,
    pub(super) drain: Script,
    pub(super) acquire: Script,
    pub(super) renew: Script,
    pub(super) release: Script,
    pub(super) lock: Script,
    pub(super) unlock: Script,
    pub(super) extend: Script,
    pub(super) incr: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            signal: Script::new(include_str!("lua/signal.lua")),
            drain: Script::new(include_str!("lua/drain.lua")),
            acquire: Script::new(include_str!("lua/acquire.lua")),
            renew: Script::new(include_str!("lua/renew.lua")),
            release: Script::new(include_str!("lua/release.lua")),
            lock: Script::new(include_str!("lua/lock.lua")),
            unlock: Script::new(include_str!("lua/unlock.lua")),
            extend: Script::new(include_str!("lua/extend.lua")),
            incr: Script::new(include_str!("lua/incr.lua")),
        }
    }

    /// Every script, for loading them all at connect time.
    pub(super) fn all(&self) -> [&Script; 9] {
        [
            &self.signal,
            &self.drain,
            &self.acquire,
            &self.renew,
            &self.release,
            &self.lock,
            &self.unlock,
            &self.extend,
            &self.incr,
        ]
    }
}
