//! The upstream Realtime server aborting connections at random: every
//! connection drops after a random number of events. The provider
//! reconnects and the core asks again for what was lost, so every
//! question is still answered, and the strict upstream sees no rule broken.

use std::path::Path;
use std::time::Duration;

use turngate_sim::callers::{Protocol, Step};
use turngate_sim::realtime::{Faults, Pacing, SimConfig};

use crate::calls::{self, place, question};
use crate::rig::Rig;
use crate::{Scale, Verdict};

pub(crate) async fn run(binary: &Path, scale: Scale) -> anyhow::Result<Verdict> {
    let realtime = SimConfig {
        pacing: Pacing::RealTime,
        chunks_per_response: 10,
        faults: Faults { drop_connection: Some((1.0, 30, 150)), ..Faults::default() },
        ..SimConfig::default()
    };
    let rig = Rig::start("upstream", binary, realtime, scale.lease_ttl).await?;
    let worker = rig.worker("upstream-a").await?;
    let mut script: Vec<Step> = Vec::new();
    for _ in 0..3 {
        script.extend(question());
        script.push(Step::Silence { ms: 500 });
    }
    script.push(Step::HangUp);
    let protocols = [Protocol::Twilio, Protocol::Telnyx, Protocol::AudioCodes];
    let mut placed = Vec::new();
    for n in 0..scale.abort_calls {
        let protocol = protocols[n % protocols.len()];
        placed.push(place(&worker, 0, protocol, format!("upstream-{n}"), script.clone()));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut violations = Vec::new();
    let mut served = 0;
    let mut answered = 0;
    for call in &mut placed {
        match calls::outcome(call).await {
            Ok(report) => {
                served += 1;
                answered += report.turn_latencies.len();
            }
            Err(problem) => {
                let saved = calls::save_record(&worker, &rig.dir, call).await;
                violations.push(format!("{problem} ({saved})"));
            }
        }
    }
    if !worker.wait_idle(Duration::from_secs(15)).await {
        violations.push("calls still active after every caller hung up".to_owned());
    }
    let counts = rig.realtime.counts();
    if counts.violations() > 0 {
        violations.push(format!(
            "the upstream saw {} rule(s) broken: {:?}",
            counts.violations(),
            rig.realtime.record().details()
        ));
    }
    let summary = format!(
        "{} calls, {} upstream connections of which {} dropped mid-session: {served} served to the end, {answered} questions answered, {} upstream violations",
        placed.len(),
        counts.connections,
        counts.dropped,
        counts.violations(),
    );
    Ok(Verdict { name: "upstream-aborts", summary, violations })
}
