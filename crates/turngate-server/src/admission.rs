//! Admission control: the bounded tables every new connection, call and
//! session passes through, each handing out a guard that gives its place
//! back when dropped, however the holder ends.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// WebSocket connections per peer address that have not yet identified a
/// call or session: the cheapest thing for a flood to hold.
#[derive(Debug)]
pub(crate) struct PendingUpgrades {
    cap: usize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl PendingUpgrades {
    pub(crate) fn new(cap: usize) -> PendingUpgrades {
        PendingUpgrades { cap, by_ip: Mutex::new(HashMap::new()) }
    }

    /// A place for one more pending upgrade from `ip`; `None` at the cap.
    /// Requests without a known peer (a router called without a socket)
    /// are not counted.
    pub(crate) fn enter(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<PendingGuard> {
        let Some(ip) = ip else {
            return Some(PendingGuard { table: None, ip: None });
        };
        let mut by_ip = lock(&self.by_ip);
        let count = by_ip.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(PendingGuard { table: Some(Arc::clone(self)), ip: Some(ip) })
    }

    /// Pending upgrades from `ip` now.
    #[cfg(test)]
    pub(crate) fn pending(&self, ip: IpAddr) -> usize {
        lock(&self.by_ip).get(&ip).copied().unwrap_or(0)
    }
}

/// One pending upgrade; dropping it (the call started, or the socket went
/// away first) frees the place.
#[derive(Debug)]
pub(crate) struct PendingGuard {
    table: Option<Arc<PendingUpgrades>>,
    ip: Option<IpAddr>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let (Some(table), Some(ip)) = (self.table.take(), self.ip) else { return };
        let mut by_ip = lock(&table.by_ip);
        if let Some(count) = by_ip.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                by_ip.remove(&ip);
            }
        }
    }
}

/// The calls live on this worker, by session key. A second socket naming a
/// call that is live here is refused before anything of the live call is
/// touched: its lease, its inbox registration and its resume slot stay as
/// they are.
#[derive(Debug, Default)]
pub(crate) struct LiveCalls {
    keys: Mutex<HashSet<String>>,
}

impl LiveCalls {
    /// Claims `key` for a new call; `None` if a call with that key is live.
    pub(crate) fn claim(self: &Arc<Self>, key: &str) -> Option<LiveClaim> {
        if !lock(&self.keys).insert(key.to_owned()) {
            return None;
        }
        Some(LiveClaim { table: Arc::clone(self), key: key.to_owned() })
    }

    /// True if a call with this key is live here.
    #[cfg(test)]
    pub(crate) fn is_live(&self, key: &str) -> bool {
        lock(&self.keys).contains(key)
    }
}

/// A live call's claim on its key, released when the call's task ends.
#[derive(Debug)]
pub(crate) struct LiveClaim {
    table: Arc<LiveCalls>,
    key: String,
}

impl Drop for LiveClaim {
    fn drop(&mut self) {
        lock(&self.table.keys).remove(&self.key);
    }
}

/// A count with a cap (app sessions, app-client connections).
#[derive(Debug)]
pub(crate) struct Capped {
    cap: usize,
    count: AtomicUsize,
}

impl Capped {
    pub(crate) fn new(cap: usize) -> Capped {
        Capped { cap, count: AtomicUsize::new(0) }
    }

    /// One more; `None` at the cap.
    pub(crate) fn enter(self: &Arc<Self>) -> Option<CappedGuard> {
        let admitted = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.cap).then_some(n + 1))
            .is_ok();
        admitted.then(|| CappedGuard { table: Arc::clone(self) })
    }

    /// How many now.
    #[cfg(test)]
    pub(crate) fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

/// One counted in, counted out when dropped.
#[derive(Debug)]
pub(crate) struct CappedGuard {
    table: Arc<Capped>,
}

impl Drop for CappedGuard {
    fn drop(&mut self) {
        self.table.count.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use super::{Capped, LiveCalls, PendingUpgrades};

    #[test]
    fn pending_upgrades_are_capped_per_address_and_freed_on_drop() {
        let table = Arc::new(PendingUpgrades::new(2));
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let first = table.enter(Some(a)).unwrap();
        let _second = table.enter(Some(a)).unwrap();
        assert!(table.enter(Some(a)).is_none(), "a third from one address");
        assert!(table.enter(Some(b)).is_some(), "another address is not affected");
        drop(first);
        assert_eq!(table.pending(a), 1);
        assert!(table.enter(Some(a)).is_some());
        assert!(table.enter(None).is_some(), "no peer, not counted");
    }

    #[test]
    fn a_live_key_cannot_be_claimed_twice_until_released() {
        let calls = Arc::new(LiveCalls::default());
        let claim = calls.claim("twilio:CA1").unwrap();
        assert!(calls.claim("twilio:CA1").is_none());
        assert!(calls.is_live("twilio:CA1"));
        drop(claim);
        assert!(calls.claim("twilio:CA1").is_some());
    }

    #[test]
    fn capped_counts_refuse_past_the_cap() {
        let capped = Arc::new(Capped::new(1));
        let one = capped.enter().unwrap();
        assert!(capped.enter().is_none());
        drop(one);
        assert_eq!(capped.current(), 0);
        assert!(capped.enter().is_some());
    }
}
