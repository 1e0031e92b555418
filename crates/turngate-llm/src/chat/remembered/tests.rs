//! The bounds on remembered conversations.

use std::time::Duration;

use super::{RememberLimits, Remembered};
use crate::chat::ConversationId;

fn id(n: usize) -> ConversationId {
    ConversationId::new(format!("c{n}"))
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_goes_first_and_the_idle_ones_go_too() {
    let limits = RememberLimits { max_conversations: 3, idle: Duration::from_secs(60) };
    let mut map = Remembered::new(limits);
    for n in 0..3 {
        map.insert(id(n), format!("up{n}"));
    }
    // Using c0 makes c1 the least recently used.
    assert_eq!(map.get(&id(0)).as_deref(), Some("up0"));
    map.insert(id(3), "up3".to_owned());
    assert_eq!(map.len(), 3);
    assert_eq!(map.get(&id(1)), None);
    assert_eq!(map.get(&id(0)).as_deref(), Some("up0"));
    // A flood of new ids never grows it past the bound.
    for n in 10..10_000 {
        map.insert(id(n), "x".to_owned());
    }
    assert_eq!(map.len(), 3);
    tokio::time::advance(Duration::from_secs(61)).await;
    map.insert(id(1), "again".to_owned());
    assert_eq!(map.len(), 1, "the idle ones were forgotten");
    assert_eq!(map.get(&id(1)).as_deref(), Some("again"));
}
