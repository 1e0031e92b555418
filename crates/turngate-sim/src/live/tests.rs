//! The simulator's rules on its pure session, and the wire behaviour over
//! real loopback WebSockets with a raw client.

mod client;
mod observe;
mod responses;
mod rules;
mod wire;
