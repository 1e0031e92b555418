//! Which upstream object (thread, conversation) serves each conversation,
//! remembered within bounds.
//!
//! A backend serving a public endpoint sees as many conversation ids as
//! clients care to invent, so the mapping is bounded twice: at most
//! `max_conversations` entries (the least recently used goes first) and
//! none idle for longer than `idle`. A forgotten conversation is not lost
//! when the caller keeps the mapping elsewhere (the server keeps it in the
//! coordinator and binds it again before each message); a caller that
//! does not should size the bounds to the conversations it serves.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::ConversationId;

/// How much a backend remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RememberLimits {
    /// Conversations remembered at most.
    pub max_conversations: usize,
    /// How long a conversation is remembered after it was last used.
    pub idle: Duration,
}

impl Default for RememberLimits {
    fn default() -> Self {
        RememberLimits { max_conversations: 10_000, idle: Duration::from_secs(3600) }
    }
}

#[derive(Debug)]
struct Entry {
    upstream: String,
    used: Instant,
    stamp: u64,
}

/// Conversation → upstream id, least recently used first out.
#[derive(Debug)]
pub(crate) struct Remembered {
    limits: RememberLimits,
    entries: HashMap<ConversationId, Entry>,
    /// Use order: stamp → conversation, oldest first.
    order: BTreeMap<u64, ConversationId>,
    next_stamp: u64,
}

impl Remembered {
    pub(crate) fn new(limits: RememberLimits) -> Remembered {
        Remembered { limits, entries: HashMap::new(), order: BTreeMap::new(), next_stamp: 0 }
    }

    /// The upstream id of `conversation`, marking it used.
    pub(crate) fn get(&mut self, conversation: &ConversationId) -> Option<String> {
        let now = Instant::now();
        self.expire(now);
        let stamp = self.stamp();
        let entry = self.entries.get_mut(conversation)?;
        self.order.remove(&entry.stamp);
        entry.stamp = stamp;
        entry.used = now;
        self.order.insert(stamp, conversation.clone());
        Some(entry.upstream.clone())
    }

    /// Remembers `upstream` for `conversation`, forgetting what is over
    /// the bounds.
    pub(crate) fn insert(&mut self, conversation: ConversationId, upstream: String) {
        let now = Instant::now();
        self.expire(now);
        let stamp = self.stamp();
        if let Some(old) =
            self.entries.insert(conversation.clone(), Entry { upstream, used: now, stamp })
        {
            self.order.remove(&old.stamp);
        }
        self.order.insert(stamp, conversation);
        while self.entries.len() > self.limits.max_conversations.max(1) {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
    }

    /// How many are remembered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }

    /// Forgets every conversation idle for longer than the limit (they are
    /// at the front of the use order).
    fn expire(&mut self, now: Instant) {
        while let Some((&stamp, conversation)) = self.order.first_key_value() {
            let idle = self
                .entries
                .get(conversation)
                .is_none_or(|e| now.saturating_duration_since(e.used) > self.limits.idle);
            if !idle {
                break;
            }
            if let Some(conversation) = self.order.remove(&stamp) {
                self.entries.remove(&conversation);
            }
        }
    }
}

#[cfg(test)]
mod tests;
