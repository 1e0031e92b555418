//! How a GPT-Live simulator behaves: pacing, the model's timing, limits and
//! faults.

use std::time::Duration;

/// The behaviour of one simulated GPT-Live server.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveSimConfig {
    /// Required as `Authorization: Bearer <key>`; `None` accepts any
    /// non-empty bearer token (a missing or empty one is still refused).
    pub api_key: Option<String>,
    /// How the output track is paced.
    pub pacing: Pacing,
    /// The audio in one `session.output_audio.delta`.
    pub frame: Duration,
    /// Wall-clock time from `session.start` to `session.started` (about
    /// 1.1 s on the real service, per the captures in Travizm/dsh-openai-live
    /// `docs/w1-delegation-envelope.md`).
    pub startup_delay: Duration,
    /// Session timeline an append waits, from the moment it is sent, before
    /// its `*.appended` acknowledgement (600–960 ms on the real service, per
    /// Travizm/dsh-openai-live `docs/commentary-pacing.md`).
    pub ack_lag: Duration,
    /// The shortest and longest answer to a caller utterance, as audio.
    pub reply: (Duration, Duration),
    /// The audio per spoken word when the model voices an append's text.
    pub word: Duration,
    /// The shortest and longest timeline the model keeps talking after the
    /// caller starts talking over it.
    pub barge_in: (Duration, Duration),
    /// The caller silence that ends a caller utterance.
    pub end_of_turn: Duration,
    /// Every Kth caller utterance is delegated (to the client, or to the
    /// Responses backend in a Responses session) instead of answered; 0
    /// never.
    pub delegate_every: u32,
    /// The shortest and longest session timeline between two events of a
    /// simulated Responses backend response.
    pub backend_gap: (Duration, Duration),
    /// Close the session with reason `expired` after this long without
    /// input audio; `None` never. One third-party client measured about
    /// 31 s for a session that never received audio; the figure is
    /// unverified, so it is on by default to hold clients to the strict
    /// reading (keep the input fed).
    pub idle_expiry: Option<Duration>,
    /// Close the session with reason `expired` this long after it started
    /// (2 hours on the real service); also sets `expires_at`.
    pub session_limit: Duration,
    /// Session timeline between `session.usage.updated` events (about 15 s
    /// on the real service, per Travizm/dsh-openai-live
    /// `docs/usable-window.md`); `None` never.
    pub usage_every: Option<Duration>,
    /// Injected faults.
    pub faults: LiveFaults,
    /// Seed of the model's and the faults' randomness.
    pub seed: u64,
}

/// How the output track is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// One frame per frame duration of wall clock, as the real service
    /// streams it: the track runs with or without input.
    RealTime,
    /// One frame per this interval of wall clock: real time compressed (or
    /// stretched) for tests whose callers run faster than real time.
    Interval(Duration),
    /// The track follows the input timeline: each frame's worth of input
    /// audio releases one output frame at once. Deterministic, and as fast
    /// as the client sends; the track stops when the input stops.
    Fast,
}

/// Faults, each off by default.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveFaults {
    /// With this probability per connection, drop the socket (no close
    /// frame, no `session.closed`) after a random number of server events
    /// in this range. The session is lost for good (`connection_lost`).
    pub drop_connection: Option<(f64, u64, u64)>,
    /// Delay each append's acknowledgement by a further random timeline up
    /// to this (acknowledgements still go out in send order).
    pub ack_delay: Option<Duration>,
    /// With this probability per command (anything but audio appends and
    /// `session.close`), refuse it with a `server_error`.
    pub server_error: f64,
    /// With this probability per delegation, send its
    /// `session.delegation.created` twice, as a client that sees the same
    /// event on two connections (the primary and a sideband) would.
    pub duplicate_delegation: f64,
    /// With this probability per function call of the Responses backend,
    /// send its `response.output_item.done` envelope twice, as a client that
    /// sees the event on the primary and a sideband would. The call still
    /// takes exactly one output.
    pub duplicate_function_call: f64,
    /// With this probability per `response.event`, omit its
    /// `delegation_id`, as the service may when it cannot correlate the
    /// event with a delegation (openai-python `response_event.py`).
    pub uncorrelated_events: f64,
}

impl Default for LiveSimConfig {
    fn default() -> Self {
        LiveSimConfig {
            api_key: None,
            pacing: Pacing::Fast,
            frame: Duration::from_millis(20),
            startup_delay: Duration::from_millis(50),
            ack_lag: Duration::from_millis(600),
            reply: (Duration::from_millis(400), Duration::from_millis(1200)),
            word: Duration::from_millis(250),
            barge_in: (Duration::from_millis(200), Duration::from_millis(400)),
            end_of_turn: Duration::from_millis(500),
            delegate_every: 0,
            backend_gap: (Duration::from_millis(200), Duration::from_millis(400)),
            idle_expiry: Some(Duration::from_secs(31)),
            session_limit: Duration::from_secs(2 * 60 * 60),
            usage_every: Some(Duration::from_secs(15)),
            faults: LiveFaults::default(),
            seed: 0x11fe,
        }
    }
}

impl Default for LiveFaults {
    fn default() -> Self {
        LiveFaults {
            drop_connection: None,
            ack_delay: None,
            server_error: 0.0,
            duplicate_delegation: 0.0,
            duplicate_function_call: 0.0,
            uncorrelated_events: 0.0,
        }
    }
}
