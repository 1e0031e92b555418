//! How a Realtime simulator behaves: pacing, responses, faults.

use std::time::Duration;

/// The behaviour of one simulated Realtime server.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Required as `Authorization: Bearer <key>`; `None` accepts any
    /// credentials (but still requires the header's absence of the beta
    /// marker and a `model` query parameter).
    pub api_key: Option<String>,
    /// How fast response audio is sent.
    pub pacing: Pacing,
    /// Audio chunks per audio response.
    pub chunks_per_response: u32,
    /// The audio each chunk carries.
    pub chunk: Duration,
    /// Every Kth default-conversation response is a function call (of the
    /// session's first tool), when the session has tools; 0 never.
    pub function_call_every: u32,
    /// Send input transcriptions after commits when the session asks for them.
    pub transcribe: bool,
    /// Injected faults.
    pub faults: Faults,
    /// Seed of the fault and timing randomness.
    pub seed: u64,
}

/// How response audio is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// One chunk per chunk duration, as a speaking model would.
    RealTime,
    /// As fast as the socket takes them (every chunk still goes out as its
    /// own step, so client events interleave).
    Fast,
    /// One chunk per this interval: real time compressed (or stretched) for
    /// tests that run their callers faster than real time.
    Interval(Duration),
}

/// Faults, each off by default.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// With this probability per connection, drop the socket (no close
    /// frame) after a random number of server events in this range.
    pub drop_connection: Option<(f64, u64, u64)>,
    /// Delay `response.created` by a random time up to this (the response
    /// is active from the moment the create is taken).
    pub created_delay: Option<Duration>,
    /// With this probability per response, fail it with a `server_error`.
    pub server_error: f64,
    /// Close the session with 1001 and the session-limit reason after this
    /// long (OpenAI: 60 minutes).
    pub session_limit: Option<Duration>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_key: None,
            pacing: Pacing::Fast,
            chunks_per_response: 5,
            chunk: Duration::from_millis(100),
            function_call_every: 0,
            transcribe: true,
            faults: Faults::default(),
            seed: 0x5eed,
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_connection: None,
            created_delay: None,
            server_error: 0.0,
            session_limit: None,
        }
    }
}
