//! The conversation so far, kept as text, to carry it into a new upstream
//! session after a reconnect.
//!
//! Entries are kept in conversation order: a user turn takes its place when
//! it is committed and gets its words when the transcription arrives (which
//! may be after the answer started); an assistant item takes its place when
//! it starts and gets its words when its transcript is final. Entries still
//! without words when the link drops are left out of the re-injection.

use std::collections::VecDeque;

use super::TranscriptLimits;

/// One remembered conversation item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// The caller's words (`None` until the transcription arrives).
    User { item_id: Option<String>, text: Option<String> },
    /// The assistant's words (`None` until the transcript is final).
    Assistant { item_id: String, text: Option<String> },
    /// A function call the model made.
    Call { call_id: String, name: String, arguments: String },
    /// The output returned for a call.
    Output { call_id: String, output: String },
}

/// A bounded, ordered record of the conversation.
#[derive(Debug)]
pub(crate) struct Transcript {
    entries: VecDeque<Entry>,
    chars: usize,
    limits: TranscriptLimits,
}

impl Transcript {
    pub(crate) fn new(limits: TranscriptLimits) -> Transcript {
        Transcript { entries: VecDeque::new(), chars: 0, limits }
    }

    /// A committed user turn (its words may come later).
    pub(crate) fn user_committed(&mut self, item_id: Option<&str>) {
        self.push(Entry::User { item_id: item_id.map(str::to_owned), text: None });
    }

    /// A typed user message.
    pub(crate) fn user_text(&mut self, text: &str) {
        self.push(Entry::User { item_id: None, text: Some(text.to_owned()) });
    }

    /// The transcription of a user turn; a turn we did not see committed
    /// (an earlier link's) is added at the end.
    pub(crate) fn user_transcript(&mut self, item_id: Option<&str>, text: &str) {
        let slot = self.entries.iter_mut().rev().find_map(|entry| match entry {
            Entry::User { item_id: Some(id), text: slot @ None }
                if Some(id.as_str()) == item_id =>
            {
                Some(slot)
            }
            _ => None,
        });
        match slot {
            Some(slot) => {
                *slot = Some(text.to_owned());
                self.chars += text.len();
                self.evict();
            }
            None => self.push(Entry::User { item_id: None, text: Some(text.to_owned()) }),
        }
    }

    /// An assistant message started.
    pub(crate) fn assistant_started(&mut self, item_id: &str) {
        let known = self
            .entries
            .iter()
            .any(|entry| matches!(entry, Entry::Assistant { item_id: id, .. } if id == item_id));
        if !known {
            self.push(Entry::Assistant { item_id: item_id.to_owned(), text: None });
        }
    }

    /// The final words of an assistant message.
    pub(crate) fn assistant_text(&mut self, item_id: &str, text: &str) {
        let slot = self.entries.iter_mut().rev().find_map(|entry| match entry {
            Entry::Assistant { item_id: id, text } if id == item_id => Some(text),
            _ => None,
        });
        match slot {
            Some(slot) => {
                let old = slot.replace(text.to_owned()).map_or(0, |t| t.len());
                self.chars = self.chars.saturating_sub(old) + text.len();
                self.evict();
            }
            None => {
                self.push(Entry::Assistant {
                    item_id: item_id.to_owned(),
                    text: Some(text.to_owned()),
                });
            }
        }
    }

    /// The caller heard only `fraction` of an assistant message: keep that
    /// share of its words, cut at a word boundary, as the server does with
    /// its own transcript when the item is truncated.
    pub(crate) fn assistant_cut(&mut self, item_id: &str, fraction: f64) {
        for entry in self.entries.iter_mut().rev() {
            if let Entry::Assistant { item_id: id, text: Some(text) } = entry
                && id == item_id
            {
                let keep = cut_len(text, fraction);
                self.chars = self.chars.saturating_sub(text.len() - keep);
                text.truncate(keep);
                return;
            }
        }
    }

    /// A function call of the model.
    pub(crate) fn call(&mut self, call_id: &str, name: &str, arguments: &str) {
        let known = self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Call { call_id: id, .. } if id == call_id));
        if !known {
            self.push(Entry::Call {
                call_id: call_id.to_owned(),
                name: name.to_owned(),
                arguments: arguments.to_owned(),
            });
        }
    }

    /// The output returned for a call.
    pub(crate) fn output(&mut self, call_id: &str, output: &str) {
        self.push(Entry::Output { call_id: call_id.to_owned(), output: output.to_owned() });
    }

    /// What to re-inject into a new session, in order: entries with words,
    /// calls, and outputs whose call is still remembered (the server refuses
    /// an output for a call it does not know).
    pub(crate) fn replay(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|entry| match entry {
            Entry::User { text, .. } | Entry::Assistant { text, .. } => {
                text.as_deref().is_some_and(|t| !t.trim().is_empty())
            }
            Entry::Call { .. } => true,
            Entry::Output { call_id, .. } => self
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Call { call_id: id, .. } if id == call_id)),
        })
    }

    fn push(&mut self, entry: Entry) {
        self.chars += entry_chars(&entry);
        self.entries.push_back(entry);
        self.evict();
    }

    fn evict(&mut self) {
        while self.entries.len() > self.limits.max_items
            || (self.chars > self.limits.max_chars && self.entries.len() > 1)
        {
            let Some(oldest) = self.entries.pop_front() else { break };
            self.chars = self.chars.saturating_sub(entry_chars(&oldest));
        }
    }
}

fn entry_chars(entry: &Entry) -> usize {
    match entry {
        Entry::User { text, .. } | Entry::Assistant { text, .. } => {
            text.as_ref().map_or(0, String::len)
        }
        Entry::Call { name, arguments, .. } => name.len() + arguments.len(),
        Entry::Output { output, .. } => output.len(),
    }
}

/// The length to keep of `text` for a share `fraction` of it: at a char
/// boundary, and back to the last whitespace so no word is cut in half.
fn cut_len(text: &str, fraction: f64) -> usize {
    let fraction = fraction.clamp(0.0, 1.0);
    if fraction >= 1.0 {
        return text.len();
    }
    let target = (text.len() as f64 * fraction) as usize;
    let mut end = target.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    // A cut right before whitespace ends a whole word already.
    if text.get(end..).is_some_and(|rest| rest.starts_with(char::is_whitespace)) {
        return end;
    }
    match text.get(..end).and_then(|head| head.rfind(char::is_whitespace)) {
        Some(space) => space,
        None => end,
    }
}
