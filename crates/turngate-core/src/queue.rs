//! What waits for the gate: committed user turns and requested responses.
//!
//! Both share one sequence so that the order of arrival decides which is
//! answered first; all waiting user turns are answered by a single response.

use std::collections::VecDeque;
use std::time::Instant;

use crate::command::Purpose;

/// A committed user turn that no response has covered yet.
#[derive(Clone, Debug)]
pub(crate) struct PendingTurn {
    pub(crate) seq: u64,
    pub(crate) committed_at: Instant,
    /// Responses that were asked for it and lost (failed, backend gone).
    pub(crate) attempts: u32,
}

/// A response someone asked for.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) seq: u64,
    pub(crate) purpose: Purpose,
    pub(crate) instructions: Option<String>,
    /// Creates sent for it that were rejected, timed out or lost.
    pub(crate) attempts: u32,
}

/// The waiting room in front of the gate.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    turns: VecDeque<PendingTurn>,
    requests: VecDeque<Request>,
    next_seq: u64,
}

/// What the next create is for.
#[derive(Debug)]
pub(crate) enum Next {
    /// Answer the waiting turns (all of them, in one response).
    Turns,
    /// The oldest requested response.
    Request,
}

impl Queue {
    pub(crate) fn push_turn(&mut self, now: Instant) -> u64 {
        let seq = self.take_seq();
        self.turns.push_back(PendingTurn { seq, committed_at: now, attempts: 0 });
        seq
    }

    pub(crate) fn push_request(&mut self, purpose: Purpose, instructions: Option<String>) {
        let seq = self.take_seq();
        self.requests.push_back(Request { seq, purpose, instructions, attempts: 0 });
    }

    /// Puts a request back where its sequence number says it belongs, so a
    /// retried request keeps its place ahead of later arrivals.
    pub(crate) fn requeue_request(&mut self, request: Request) {
        let at = self.requests.partition_point(|r| r.seq < request.seq);
        self.requests.insert(at, request);
    }

    /// Puts turns back in sequence order.
    pub(crate) fn requeue_turns(&mut self, turns: Vec<PendingTurn>) {
        for turn in turns {
            let at = self.turns.partition_point(|t| t.seq < turn.seq);
            self.turns.insert(at, turn);
        }
    }

    /// Which waiting item arrived first, if any.
    pub(crate) fn next(&self) -> Option<Next> {
        match (self.turns.front(), self.requests.front()) {
            (None, None) => None,
            (Some(_), None) => Some(Next::Turns),
            (None, Some(_)) => Some(Next::Request),
            (Some(turn), Some(request)) if turn.seq < request.seq => Some(Next::Turns),
            (Some(_), Some(_)) => Some(Next::Request),
        }
    }

    pub(crate) fn pop_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    /// Hands every waiting turn to the response that now covers them.
    pub(crate) fn take_turns(&mut self) -> Vec<PendingTurn> {
        self.turns.drain(..).collect()
    }

    /// Removes one turn (its commit was rejected); true if it was waiting.
    pub(crate) fn remove_turn(&mut self, seq: u64) -> bool {
        let before = self.turns.len();
        self.turns.retain(|t| t.seq != seq);
        self.turns.len() != before
    }

    /// Drops waiting requests for which `drop` says so, returning them.
    pub(crate) fn drain_requests_where(
        &mut self,
        mut drop: impl FnMut(&Request) -> bool,
    ) -> Vec<Request> {
        let mut dropped = Vec::new();
        self.requests.retain(|r| {
            if drop(r) {
                dropped.push(r.clone());
                false
            } else {
                true
            }
        });
        dropped
    }

    pub(crate) fn turns(&self) -> &VecDeque<PendingTurn> {
        &self.turns
    }

    pub(crate) fn turns_mut(&mut self) -> &mut VecDeque<PendingTurn> {
        &mut self.turns
    }

    pub(crate) fn requests(&self) -> &VecDeque<Request> {
        &self.requests
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.turns.is_empty() && self.requests.is_empty()
    }

    /// The sequence number an answer to the waiting turns takes: the oldest's.
    pub(crate) fn oldest_turn_seq(&self) -> Option<u64> {
        self.turns.front().map(|t| t.seq)
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}
