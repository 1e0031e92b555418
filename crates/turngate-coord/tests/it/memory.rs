//! The conformance suite against `MemoryCoordinator`.

use turngate_coord::{Coordinator, MemoryCoordinator, conformance};

use crate::conformance_tests;

pub(crate) struct Harness(MemoryCoordinator);

impl Harness {
    pub(crate) fn one(&self) -> &dyn Coordinator {
        &self.0
    }

    pub(crate) fn two(&self) -> &dyn Coordinator {
        &self.0
    }

    pub(crate) fn three(&self) -> &dyn Coordinator {
        &self.0
    }
}

async fn setup() -> Harness {
    Harness(
        MemoryCoordinator::with_config(conformance::config()).expect("the suite's config is valid"),
    )
}

conformance_tests!(setup);
