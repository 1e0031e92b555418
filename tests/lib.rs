//! End-to-end tests across turngate's crates; everything is in `it/`.
