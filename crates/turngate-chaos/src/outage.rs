//! Redis killed for longer than a lease lives, during live calls, then
//! restarted.
//!
//! Two workers share the Redis; Telnyx calls are spread over both, and
//! each call's webhooks go to the worker that does not hold it, so every
//! one crosses the coordinator. While Redis is down the media path must
//! not notice (a question asked then is answered), webhooks are refused
//! with 503 and retried by the sender, and leases expire. Afterwards every
//! lease must be back with the worker that holds the call, every webhook
//! delivered to the call exactly once, and every call served to its end.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;
use turngate_sim::callers::{Protocol, Step};
use turngate_sim::realtime::{Pacing, SimConfig};

use crate::calls::{self, carrier_id, place, question, session_key};
use crate::rig::{Rig, owner};
use crate::webhooks::{Delivery, deliver};
use crate::{Scale, Verdict};

pub(crate) async fn run(binary: &Path, scale: Scale) -> anyhow::Result<Verdict> {
    let realtime =
        SimConfig { pacing: Pacing::RealTime, chunks_per_response: 10, ..SimConfig::default() };
    let mut rig = Rig::start("outage", binary, realtime, scale.lease_ttl).await?;
    let workers = [rig.worker("outage-a").await?, rig.worker("outage-b").await?];
    let observer = rig.observer().await?;
    let half = scale.outage / 2;
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // A question before the outage, one in its middle, one well after it.
    let mut script: Vec<Step> = question().to_vec();
    script.push(Step::Silence { ms: 2000 + millis(half) });
    script.extend(question());
    script.push(Step::Silence { ms: millis(half) + millis(scale.lease_ttl / 3) + 6000 });
    script.extend(question());
    script.push(Step::HangUp);

    let mut placed = Vec::new();
    for n in 0..scale.outage_calls {
        let worker = n % 2;
        let id = format!("outage-{n}");
        placed.push(place(&workers[worker], worker, Protocol::Telnyx, id, script.clone()));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut violations = Vec::new();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut owners: HashMap<String, String> = HashMap::new();
    for call in &placed {
        match owner(&observer, &session_key(call.protocol, &call.id)).await {
            Some(worker) => {
                owners.insert(call.id.clone(), worker);
            }
            None => violations.push(format!("call {}: no lease before the outage", call.id)),
        }
    }
    // Webhooks before, during and after, each to the worker without the
    // call, all of one round concurrently (as Telnyx sends them).
    let deliver_all = |deadline: Instant| {
        join_all(placed.iter().map(|call| deliver(&workers[1 - call.worker], &call.id, deadline)))
    };
    let mut deliveries: Vec<(&str, Delivery)> = Vec::new();
    let before = deliver_all(Instant::now() + Duration::from_secs(3)).await;
    deliveries.extend(before.into_iter().map(|d| ("before", d)));

    rig.redis.kill();
    let restart_by = Instant::now() + scale.outage;
    let during_deadline = restart_by + Duration::from_secs(20);
    let at_once = deliver_all(during_deadline);
    let halfway = async {
        tokio::time::sleep(half).await;
        deliver_all(during_deadline).await
    };
    let redis = &mut rig.redis;
    let restart = async move {
        tokio::time::sleep_until(restart_by).await;
        redis.restart().map_err(anyhow::Error::msg)
    };
    let (first, second, restarted) = tokio::join!(at_once, halfway, restart);
    restarted?;
    deliveries.extend(first.into_iter().chain(second).map(|d| ("during", d)));
    // Every lease is back with the worker that holds the call.
    tokio::time::sleep(scale.lease_ttl / 3 + Duration::from_secs(2)).await;
    let mut reacquired = 0;
    for call in &placed {
        let now = owner(&observer, &session_key(call.protocol, &call.id)).await;
        match (owners.get(&call.id), now) {
            (Some(before), Some(after)) if *before == after => reacquired += 1,
            (Some(before), after) => violations.push(format!(
                "call {}: lease held by {after:?} after the outage, not by {before}",
                call.id
            )),
            (None, _) => {}
        }
    }
    let after = deliver_all(Instant::now() + Duration::from_secs(5)).await;
    deliveries.extend(after.into_iter().map(|d| ("after", d)));

    let mut served = 0;
    for call in &mut placed {
        match calls::outcome(call).await {
            Ok(_) => served += 1,
            Err(problem) => violations.push(problem),
        }
    }
    for worker in &workers {
        if !worker.wait_idle(Duration::from_secs(15)).await {
            violations.push(format!(
                "worker {}: calls still active after every caller hung up",
                worker.name
            ));
        }
    }
    // Each taken webhook reached its call once.
    let mut timelines: HashMap<String, Vec<String>> = HashMap::new();
    for call in &placed {
        let record = workers[call.worker].record(&carrier_id(call.protocol, &call.id)).await;
        let signals = record
            .and_then(|r| r.get("timeline").and_then(|t| t.as_array()).cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.get("kind").and_then(|k| k.as_str()) == Some("signal"))
            .filter_map(|e| e.get("text").and_then(|t| t.as_str()).map(str::to_owned))
            .collect();
        timelines.insert(call.id.clone(), signals);
    }
    let mut once = 0;
    let total = deliveries.len();
    for (at, delivery) in &deliveries {
        if !delivery.taken {
            violations
                .push(format!("webhook {} ({at} the outage) was never taken", delivery.event_id));
            continue;
        }
        let seen: usize = timelines
            .values()
            .map(|signals| signals.iter().filter(|s| s.ends_with(&delivery.event_id)).count())
            .sum();
        match seen {
            1 => once += 1,
            0 => violations.push(format!(
                "webhook {} ({at} the outage) never reached its call",
                delivery.event_id
            )),
            n => violations.push(format!(
                "webhook {} ({at} the outage) reached its call {n} times",
                delivery.event_id
            )),
        }
    }
    let mut recoveries = 0.0;
    for worker in &workers {
        recoveries += worker.metric("turngate_lease_recoveries_total").await.unwrap_or(0.0);
    }
    let retried = deliveries.iter().filter(|(_, d)| d.attempts > 1).count();
    let summary = format!(
        "{} calls, Redis down {:.0} s (lease TTL {:.0} s): {served} served to the end, {once}/{total} webhook signals delivered once ({retried} retried while refused), {reacquired}/{} leases back with their owner ({recoveries:.0} recoveries)",
        placed.len(),
        scale.outage.as_secs_f64(),
        scale.lease_ttl.as_secs_f64(),
        owners.len(),
    );
    Ok(Verdict { name: "redis-outage", summary, violations })
}
