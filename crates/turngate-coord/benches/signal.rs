//! Cross-worker signal latency over loopback Redis, next to the raw Redis
//! round trip measured in the same run.
//!
//! Run with `cargo bench -p turngate-coord --features redis --bench signal`.
//! It starts its own `redis-server` on a free port, connects two
//! coordinators (worker A owns a session, worker B sends to it), and times
//! each signal from the moment B starts sending until A's session task has
//! it, one signal in flight at a time. Figures go to stdout and to
//! `target/bench/signal.json`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use turngate_coord::redis::TestServer;
use turngate_coord::{
    Coordinator, InboxConfig, RedisConfig, RedisCoordinator, SessionId, Signal, WorkerId,
};

const WARMUP: usize = 500;
const SIGNALS: usize = 5_000;
const PINGS: usize = 5_000;

type BoxResult<T> = Result<T, Box<dyn Error>>;

fn main() -> BoxResult<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> BoxResult<()> {
    let server = TestServer::start()?;
    let owner = RedisCoordinator::connect(RedisConfig::new(server.url())).await?;
    let sender = RedisCoordinator::connect(RedisConfig::new(server.url())).await?;
    let session = SessionId::new("bench-call")?;
    let worker = WorkerId::random();
    let lease = owner.acquire(&session, &worker, Duration::from_secs(300)).await?;
    let inbox = owner.subscribe(&worker, InboxConfig::default()).await?;
    let mut signals = inbox.register(&lease).await?;

    let mut end_to_end = Vec::with_capacity(SIGNALS);
    let mut by_stamp = Vec::with_capacity(SIGNALS);
    for i in 0..WARMUP + SIGNALS {
        let n = u32::try_from(i)?;
        let signal = Signal::new("playback.ended", n.to_be_bytes().to_vec())?;
        let started = Instant::now();
        sender.signal(&session, signal).await?;
        let delivered = tokio::time::timeout(Duration::from_secs(5), signals.recv())
            .await?
            .ok_or("the inbox stopped")?;
        let elapsed = started.elapsed();
        if delivered.signal.payload() != n.to_be_bytes() {
            return Err(format!("signal {n} arrived out of order").into());
        }
        if i >= WARMUP {
            end_to_end.push(elapsed);
            by_stamp.push(delivered.latency());
        }
    }

    let mut rtt = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        rtt.push(owner.ping().await?);
    }

    let signal = Summary::of(&mut end_to_end);
    let stamped = Summary::of(&mut by_stamp);
    let ping = Summary::of(&mut rtt);
    println!("signal B->A, {SIGNALS} signals, one in flight (end to end):");
    println!("  {signal}");
    println!("signal B->A, sent_at stamp to fetch by A's inbox:");
    println!("  {stamped}");
    println!("redis PING round trip, {PINGS} pings:");
    println!("  {ping}");
    println!(
        "target: signal p99 <= 2000 us: {}",
        if signal.p99 <= 2000 { "met" } else { "MISSED" }
    );

    let json = format!(
        "{{\"signal.p50_us\":{},\"signal.p99_us\":{},\"signal.p999_us\":{},\"signal.max_us\":{},\
         \"signal.count\":{SIGNALS},\"signal_stamp.p50_us\":{},\"signal_stamp.p99_us\":{},\
         \"redis_rtt.p50_us\":{},\"redis_rtt.p99_us\":{}}}\n",
        signal.p50,
        signal.p99,
        signal.p999,
        signal.max,
        stamped.p50,
        stamped.p99,
        ping.p50,
        ping.p99
    );
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("signal.json");
    std::fs::write(&path, json)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    )
}

/// Percentiles in whole microseconds.
struct Summary {
    p50: u128,
    p99: u128,
    p999: u128,
    max: u128,
}

impl Summary {
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let last = samples.len().saturating_sub(1);
            // Nearest-rank percentile; the float only picks an index.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into at most a few thousand samples"
            )]
            let index = ((last as f64) * q).round() as usize;
            samples.get(index.min(last)).map_or(0, Duration::as_micros)
        };
        Self { p50: at(0.50), p99: at(0.99), p999: at(0.999), max: at(1.0) }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} us, p99 {} us, p99.9 {} us, max {} us",
            self.p50, self.p99, self.p999, self.max
        )
    }
}
