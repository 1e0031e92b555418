//! The provider's tests: wire fixtures, the pure protocol, and the IO task
//! against small local WebSocket servers.

mod fuzz;
mod io;
mod protocol;
mod support;
mod wire;
