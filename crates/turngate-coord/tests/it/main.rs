//! Integration tests: the conformance suite against every coordinator, and
//! fault tests against a `redis-server` each test starts for itself.

mod memory;
#[cfg(feature = "redis")]
mod redis_conformance;
#[cfg(feature = "redis")]
mod redis_faults;
#[cfg(feature = "redis")]
mod support;

/// Declares one test per conformance function, each on a fresh harness from
/// `$setup` (an async function returning something with `one()`, `two()`
/// and `three()` coordinators).
macro_rules! conformance_tests {
    ($setup:path) => {
        conformance_tests!(@one $setup; flags, flag_ttl, take_flag_is_exclusive, counters,
            leases, lease_expiry, lock_fencing, lock_expiry, lock_handoff, invalid_arguments,
            inbox_health);
        conformance_tests!(@two $setup; signals_in_order, signals_wait_for_owner,
            signals_are_pushed, signals_backpressure, signals_dedup, signals_bounded,
            signals_expire_unowned, signals_many_sessions, signals_concurrent_senders,
            signals_reregister);

        #[tokio::test]
        async fn signals_handover() {
            let h = $setup().await;
            turngate_coord::conformance::signals_handover(h.one(), h.three(), h.two()).await;
        }
    };
    (@one $setup:path; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let h = $setup().await;
                turngate_coord::conformance::$name(h.one()).await;
            }
        )*
    };
    (@two $setup:path; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let h = $setup().await;
                turngate_coord::conformance::$name(h.one(), h.two()).await;
            }
        )*
    };
}

pub(crate) use conformance_tests;
