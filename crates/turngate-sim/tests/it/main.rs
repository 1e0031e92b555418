//! Integration tests: turngate's providers against the strict simulators.

mod chat;
