//! What happened on recent calls: a transcript and a timeline per call,
//! kept in memory for `GET /calls/{id}`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One call's record.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// The provider's id for the call.
    pub call_id: String,
    /// The transport it came in on.
    pub provider: String,
    /// When it started, in unix milliseconds.
    pub started_at_ms: u64,
    /// Why it ended, once it has.
    pub ended: Option<String>,
    /// Everything notable, in order.
    pub timeline: Vec<Entry>,
    /// Final counters of the session, once it has ended.
    pub counters: Option<turngate_core::Counters>,
    #[serde(skip)]
    started: Option<Instant>,
}

/// One notable moment of a call.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Milliseconds since the call started.
    pub at_ms: u64,
    /// What kind: `user`, `assistant`, `barge_in`, `check_in`, `hang_up`, ….
    pub kind: String,
    /// The words said, or details.
    pub text: String,
}

/// The most entries one call keeps; a runaway call cannot grow without bound.
const MAX_ENTRIES: usize = 2000;

impl CallRecord {
    fn new(call_id: &str, provider: &str, started: Instant) -> CallRecord {
        let started_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        CallRecord {
            call_id: call_id.to_owned(),
            provider: provider.to_owned(),
            started_at_ms,
            ended: None,
            timeline: Vec::new(),
            counters: None,
            started: Some(started),
        }
    }

    /// Adds an entry at `now`.
    pub fn push(&mut self, now: Instant, kind: &str, text: impl Into<String>) {
        if self.timeline.len() >= MAX_ENTRIES {
            return;
        }
        let at = self.started.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.timeline.push(Entry {
            at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
            kind: kind.to_owned(),
            text: text.into(),
        });
    }
}

/// A handle on a live call's record.
pub type LiveRecord = Arc<Mutex<CallRecord>>;

/// The recent calls, newest last, bounded.
#[derive(Debug)]
pub struct Records {
    recent: Mutex<VecDeque<LiveRecord>>,
    capacity: usize,
}

impl Records {
    /// Keeps at most `capacity` calls.
    pub fn new(capacity: usize) -> Records {
        Records { recent: Mutex::new(VecDeque::new()), capacity: capacity.max(1) }
    }

    /// Starts the record of a call.
    pub fn start(&self, call_id: &str, provider: &str, now: Instant) -> LiveRecord {
        let record = Arc::new(Mutex::new(CallRecord::new(call_id, provider, now)));
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.capacity {
            recent.pop_front();
        }
        recent.push_back(Arc::clone(&record));
        record
    }

    /// A snapshot of the call's record, if it is recent.
    pub fn get(&self, call_id: &str) -> Option<CallRecord> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().rev().find_map(|record| {
            let record = record.lock().unwrap_or_else(|e| e.into_inner());
            (record.call_id == call_id).then(|| record.clone())
        })
    }

    /// Snapshots of every recent call, oldest first.
    pub fn all(&self) -> Vec<CallRecord> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone()).collect()
    }
}
