//! Cross-worker coordination: flags, signals, leases, locks and counters.
