//! The one writer of a GPT-Live session's context appends.
//!
//! Appends are not idempotent: every `session.*.append` is a new entry on
//! the session timeline, and nothing deduplicates on content. Their
//! acknowledgements (`session.*.appended`) carry no content and may wait as
//! long as the timeline does, so a slow ack is not a failure. The outbox
//! therefore:
//!
//! - gives every append an `event_id` unique across workers
//!   (`<session tag>:<sequence>`) and matches acks and errors by it;
//! - never sends an append twice because its ack is late; it sends one again
//!   only after an `error` naming it, only when the error says nothing was
//!   wrong with the append itself, and under a new `event_id` (a resend is
//!   a new entry on the timeline); a piece of a longer text whose later
//!   pieces already went is not sent again but refused, since sent again
//!   it would land after them;
//! - splits text over the 500-token limit on sentence boundaries and sends
//!   the pieces back to back, in order (one writer per session);
//! - holds every append while an audio fixture plays (the server rejects
//!   them then);
//! - when the session is lost, reports every append not yet placed as
//!   dropped and never replays one into the next session.
//!
//! Sans-IO: it keeps no clock and sends nothing; the connection asks it what
//! to send and tells it what came back.

use std::collections::VecDeque;

use super::wire::AppendKind;

/// Tokens per piece: under the API's 500, with room for the estimate's error.
pub const PIECE_TOKENS: usize = 450;

/// How often an append may be sent again after an error naming it.
pub const MAX_ATTEMPTS: u32 = 3;

/// What the application asks to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// Instructions, thinking or commentary.
    pub kind: AppendKind,
    /// The text, any length.
    pub content: String,
    /// The client delegation it belongs to, or `None` for the session.
    pub delegation_id: Option<String>,
}

/// One append ready for the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its `event_id`.
    pub event_id: String,
    /// Which append.
    pub kind: AppendKind,
    /// At most [`PIECE_TOKENS`] estimated tokens.
    pub content: String,
    /// The delegation, if any.
    pub delegation_id: Option<String>,
}

/// How an append ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server placed it on the timeline (not: spoke it, or was heard).
    Placed {
        /// Its `event_id`.
        event_id: String,
    },
    /// The server refused it for good.
    Rejected {
        /// Its `event_id`.
        event_id: String,
        /// The error code, if any.
        code: Option<String>,
        /// The error text.
        message: String,
    },
    /// It never reached a session that could place it.
    Dropped {
        /// Its `event_id`.
        event_id: String,
    },
    /// An error named it and it goes again, under a new id.
    Retried {
        /// The id the error named.
        event_id: String,
        /// The id it goes under now.
        retry_id: String,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    outgoing: Outgoing,
    attempts: u32,
    /// The push it is a piece of.
    group: u64,
}

/// The outbox of one session.
#[derive(Debug)]
pub struct AppendOutbox {
    tag: String,
    next: u64,
    queued: VecDeque<Entry>,
    in_flight: Vec<Entry>,
    fixture_playing: bool,
}

/// Error codes that say the append itself is wrong: sending it again cannot
/// help.
const FINAL_CODES: &[&str] = &[
    "invalid_value",
    "unknown_parameter",
    "immutable_field_update",
    // Reported at close for an append never placed: the session is over.
    "context_injection_incomplete",
];

impl AppendOutbox {
    /// An outbox whose `event_id`s start with `tag` (unique per session and
    /// worker, e.g. the call id and the session generation).
    pub fn new(tag: impl Into<String>) -> AppendOutbox {
        AppendOutbox {
            tag: tag.into(),
            next: 1,
            queued: VecDeque::new(),
            in_flight: Vec::new(),
            fixture_playing: false,
        }
    }

    /// Queues `request`, split into pieces; returns their `event_id`s in
    /// the order they will be sent.
    pub fn push(&mut self, request: AppendRequest) -> Vec<String> {
        let AppendRequest { kind, content: text, delegation_id } = request;
        let mut ids = Vec::new();
        let group = self.next;
        for content in pieces(&text, PIECE_TOKENS) {
            let event_id = self.new_id();
            ids.push(event_id.clone());
            self.queued.push_back(Entry {
                outgoing: Outgoing {
                    event_id,
                    kind,
                    content,
                    delegation_id: delegation_id.clone(),
                },
                attempts: 0,
                group,
            });
        }
        ids
    }

    /// The next append to send, if one may go now.
    pub fn next_to_send(&mut self) -> Option<Outgoing> {
        if self.fixture_playing {
            return None;
        }
        let mut entry = self.queued.pop_front()?;
        entry.attempts += 1;
        let outgoing = entry.outgoing.clone();
        self.in_flight.push(entry);
        Some(outgoing)
    }

    /// Appends sent and not yet placed or refused.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Appends waiting to be sent.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// An `*.appended` arrived for `client_event_id`. `None` when it names
    /// no append of ours (a duplicate, or another writer's).
    pub fn acknowledged(&mut self, client_event_id: &str) -> Option<Outcome> {
        let entry = self.take_in_flight(client_event_id)?;
        Some(Outcome::Placed { event_id: entry.outgoing.event_id })
    }

    /// An `error` named `client_event_id`. The append goes to the front of
    /// the line again, under a new id, when the error says nothing about the
    /// append itself, it has attempts left and no later piece of its text
    /// has gone already; otherwise it is rejected. `None` when the id is
    /// not one of ours in flight.
    pub fn failed(
        &mut self,
        client_event_id: &str,
        code: Option<&str>,
        message: &str,
    ) -> Option<Outcome> {
        let mut entry = self.take_in_flight(client_event_id)?;
        let final_error = code.is_some_and(|code| FINAL_CODES.contains(&code));
        let overtaken = self.in_flight.iter().any(|other| other.group == entry.group);
        if final_error || overtaken || entry.attempts >= MAX_ATTEMPTS {
            let message = if overtaken && !final_error {
                format!("{message} (not sent again: later pieces of its text were sent)")
            } else {
                message.to_owned()
            };
            return Some(Outcome::Rejected {
                event_id: entry.outgoing.event_id,
                code: code.map(str::to_owned),
                message,
            });
        }
        let event_id = std::mem::replace(&mut entry.outgoing.event_id, self.new_id());
        let retry_id = entry.outgoing.event_id.clone();
        self.queued.push_front(entry);
        Some(Outcome::Retried { event_id, retry_id })
    }

    fn new_id(&mut self) -> String {
        let id = format!("{}:{}", self.tag, self.next);
        self.next += 1;
        id
    }

    /// A fixture started playing: appends wait.
    pub fn fixture_started(&mut self) {
        self.fixture_playing = true;
    }

    /// The fixture finished, failed or was given up on: appends go again.
    pub fn fixture_ended(&mut self) {
        self.fixture_playing = false;
    }

    /// The session is gone: every append not placed is dropped, none is
    /// replayed anywhere.
    pub fn session_lost(&mut self) -> Vec<Outcome> {
        let in_flight = std::mem::take(&mut self.in_flight);
        let queued = std::mem::take(&mut self.queued);
        in_flight
            .into_iter()
            .chain(queued)
            .map(|entry| Outcome::Dropped { event_id: entry.outgoing.event_id })
            .collect()
    }

    fn take_in_flight(&mut self, event_id: &str) -> Option<Entry> {
        let position = self.in_flight.iter().position(|e| e.outgoing.event_id == event_id)?;
        Some(self.in_flight.remove(position))
    }
}

/// A conservative token estimate: about three characters per token, above
/// what English text costs (about four), so that pieces stay under the limit.
pub fn estimated_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(3)
}

/// `text` in pieces of at most `limit` estimated tokens: whole sentences
/// where they fit, else whole words, else characters. Joining the pieces
/// gives back the text.
pub fn pieces(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    // The sum of the two estimates bounds the estimate of the two joined
    // (rounding up twice is never less than rounding up once).
    let fits =
        |current: &str, more: &str| estimated_tokens(current) + estimated_tokens(more) <= limit;
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for sentence in split_keeping(text, is_sentence_end) {
        if fits(&current, sentence) {
            current.push_str(sentence);
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if fits("", sentence) {
            current.push_str(sentence);
            continue;
        }
        // A sentence too long on its own: by words, then by characters.
        for word in split_keeping(sentence, |c, _| c.is_whitespace()) {
            if !current.is_empty() && !fits(&current, word) {
                out.push(std::mem::take(&mut current));
            }
            if fits(&current, word) {
                current.push_str(word);
                continue;
            }
            for c in word.chars() {
                let mut one = [0; 4];
                if !current.is_empty() && !fits(&current, c.encode_utf8(&mut one)) {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
            }
        }
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

fn is_sentence_end(c: char, next: Option<char>) -> bool {
    matches!(c, '.' | '!' | '?' | '\n') && next.is_none_or(char::is_whitespace)
}

/// Splits after every character `at` accepts (given the next character),
/// keeping the separators and the whitespace that follows them with the
/// piece before.
fn split_keeping(text: &str, at: impl Fn(char, Option<char>) -> bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        if at(c, next) {
            let mut end = index + c.len_utf8();
            while let Some((i, n)) = chars.peek().copied() {
                if !n.is_whitespace() {
                    break;
                }
                end = i + n.len_utf8();
                chars.next();
            }
            parts.extend(text.get(start..end));
            start = end;
        }
    }
    parts.extend(text.get(start..).filter(|rest| !rest.is_empty()));
    parts
}
