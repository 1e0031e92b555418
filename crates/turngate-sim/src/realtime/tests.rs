//! The simulator's own rules, and the acceptance run: the real OpenAI
//! provider and the real session core against the simulator, over real
//! loopback WebSockets, with adversarial timing and faults.

mod calls;
mod rules;
