//! One worker SIGKILLed mid-call: the other worker's calls go on as if
//! nothing happened, and the dead worker's leases expire within one TTL,
//! so its calls' ids are free again.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;
use turngate_sim::callers::{Protocol, Step};
use turngate_sim::realtime::{Pacing, SimConfig};

use crate::calls::{self, place, question, session_key};
use crate::rig::{Rig, owner};
use crate::{Scale, Verdict};

pub(crate) async fn run(binary: &Path, scale: Scale) -> anyhow::Result<Verdict> {
    let realtime =
        SimConfig { pacing: Pacing::RealTime, chunks_per_response: 10, ..SimConfig::default() };
    let rig = Rig::start("kill", binary, realtime, scale.lease_ttl).await?;
    let mut workers = [rig.worker("kill-a").await?, rig.worker("kill-b").await?];
    let observer = rig.observer().await?;
    let mut script: Vec<Step> = question().to_vec();
    script.push(Step::Silence { ms: 3000 });
    script.extend(question());
    script.push(Step::HangUp);
    let protocols = [Protocol::Twilio, Protocol::Telnyx, Protocol::AudioCodes];
    let mut placed = Vec::new();
    for n in 0..scale.kill_calls {
        let worker = n % 2;
        let protocol = protocols[(n / 2) % protocols.len()];
        placed.push(place(&workers[worker], worker, protocol, format!("kill-{n}"), script.clone()));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut violations = Vec::new();
    let doomed: Vec<String> =
        placed.iter().filter(|c| c.worker == 1).map(|c| session_key(c.protocol, &c.id)).collect();
    for session in &doomed {
        if owner(&observer, session).await.is_none() {
            violations.push(format!("{session}: no lease before the kill"));
        }
    }
    workers[1].kill();
    let killed = Instant::now();
    // The dead worker's leases must be gone within one TTL (plus a margin
    // for the last renewal having just happened).
    let limit = scale.lease_ttl + Duration::from_secs(2);
    let mut freed_after = Duration::ZERO;
    for session in &doomed {
        loop {
            if owner(&observer, session).await.is_none() {
                freed_after = freed_after.max(killed.elapsed());
                break;
            }
            if killed.elapsed() > limit {
                violations.push(format!("{session}: still leased {limit:?} after its worker died"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut survivors = 0;
    let mut lost = 0;
    for call in &mut placed {
        let served = calls::outcome(call).await;
        match (call.worker, served) {
            (0, Ok(_)) => survivors += 1,
            (0, Err(problem)) => violations.push(problem),
            // Calls on the dead worker end with it; that is the fault.
            (_, _) => lost += 1,
        }
    }
    if !workers[0].wait_idle(Duration::from_secs(15)).await {
        violations.push("the surviving worker still has active calls".to_owned());
    }
    let summary = format!(
        "{} calls on two workers, one SIGKILLed: {survivors}/{} on the survivor served to the end, {lost} ended with the dead one, its {} leases freed within {:.1} s (TTL {:.0} s)",
        placed.len(),
        placed.iter().filter(|c| c.worker == 0).count(),
        doomed.len(),
        freed_after.as_secs_f64(),
        scale.lease_ttl.as_secs_f64(),
    );
    Ok(Verdict { name: "worker-kill", summary, violations })
}
