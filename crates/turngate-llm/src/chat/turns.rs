//! One piece of work at a time per conversation, inside one backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OwnedMutexGuard;
use tokio::time::{Instant, timeout_at};

use super::{ChatError, ConversationId};

/// A lock per conversation, kept only while someone holds or waits for it.
#[derive(Debug, Default)]
pub(crate) struct ConversationTurns {
    locks: Mutex<HashMap<ConversationId, Arc<tokio::sync::Mutex<()>>>>,
}

impl ConversationTurns {
    /// Waits, until `deadline`, for `conversation` to be free; the turn
    /// lasts as long as the returned guard.
    pub(crate) async fn take(
        &self,
        conversation: &ConversationId,
        deadline: Instant,
        provider: &'static str,
    ) -> Result<OwnedMutexGuard<()>, ChatError> {
        let started = Instant::now();
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            // Drop locks nobody holds or waits for, so the map stays as
            // small as the set of busy conversations.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(locks.entry(conversation.clone()).or_default())
        };
        timeout_at(deadline, lock.lock_owned()).await.map_err(|_| ChatError::Timeout {
            provider,
            waiting_for: format!("an earlier message of conversation {conversation}"),
            elapsed: started.elapsed(),
        })
    }
}
