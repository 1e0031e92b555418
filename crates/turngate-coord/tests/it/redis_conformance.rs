//! The conformance suite against `RedisCoordinator`: three independently
//! connected instances (two owners and a sender, as separate workers would
//! be) on a `redis-server` of the test's own, or on
//! `TURNGATE_TEST_REDIS_URL` under a fresh key prefix.

use turngate_coord::{Coordinator, conformance};

use crate::conformance_tests;
use crate::support::{RedisHarness, redis_harness};

async fn setup() -> RedisHarness {
    redis_harness(conformance::config()).await
}

impl RedisHarness {
    pub(crate) fn one(&self) -> &dyn Coordinator {
        &self.owner
    }

    pub(crate) fn two(&self) -> &dyn Coordinator {
        &self.sender
    }

    pub(crate) fn three(&self) -> &dyn Coordinator {
        &self.other
    }
}

conformance_tests!(setup);
