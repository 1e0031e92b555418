use std::time::Duration;

use turngate_core::{PlantedBug, SessionConfig};

use super::{ViolationKind, run_many, run_one};

/// How many schedules the normal test suite runs (`TURNGATE_SIM_CASES`).
fn cases() -> u64 {
    std::env::var("TURNGATE_SIM_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[test]
fn randomized_schedules_keep_every_invariant() {
    let cases = cases();
    let report = run_many(cases, 1, threads(), &SessionConfig::default());
    eprintln!(
        "{} schedules in {:.1}s: {} inputs, {:.0} simulated hours, {} turns, {} barge-ins, {} check-ins, {} disconnects, {} full-duplex calls, {} delegations",
        report.cases,
        report.elapsed.as_secs_f64(),
        report.totals.inputs,
        report.totals.simulated.as_secs_f64() / 3600.0,
        report.totals.turns,
        report.totals.barge_ins,
        report.totals.check_ins,
        report.totals.disconnects,
        report.totals.full_duplex,
        report.totals.delegations,
    );
    if let Some(violation) = report.violation {
        panic!("{violation}");
    }
    assert_eq!(report.cases, cases);
    // The schedules must actually exercise what they claim to.
    assert!(report.totals.turns > cases, "too few turns: {}", report.totals.turns);
    assert!(report.totals.barge_ins > cases / 20, "too few barge-ins: {}", report.totals.barge_ins);
    assert!(report.totals.check_ins > cases / 4, "too few check-ins: {}", report.totals.check_ins);
    assert!(
        report.totals.disconnects > cases / 10,
        "too few disconnects: {}",
        report.totals.disconnects
    );
    assert!(
        report.totals.full_duplex > cases / 8,
        "too few full-duplex calls: {}",
        report.totals.full_duplex
    );
    assert!(
        report.totals.delegations > cases / 8,
        "too few delegations: {}",
        report.totals.delegations
    );
}

#[test]
fn a_seed_replays_identically() {
    let config = SessionConfig::default();
    for seed in [3, 99, 12_345] {
        let first = run_one(seed, &config).map_err(|v| v.to_string());
        let second = run_one(seed, &config).map_err(|v| v.to_string());
        assert_eq!(first, second);
    }
}

/// Each deliberate defect in the core is found within the default number of
/// schedules, and reported as the invariant it breaks.
#[test]
fn every_planted_bug_is_caught() {
    let planted = [
        (PlantedBug::CreateWhileRequested, ViolationKind::TwoResponses),
        (PlantedBug::SpeakingEndsOnResponseDone, ViolationKind::SpeakingMismatch),
        (PlantedBug::ForgetTurnWhileBusy, ViolationKind::TurnAccounting),
        (PlantedBug::DeadAirIgnoresUser, ViolationKind::CheckInWhileSpeaking),
        (PlantedBug::PlayLateAudio, ViolationKind::LateAudioPlayed),
        (PlantedBug::GateInFullDuplex, ViolationKind::GateInFullDuplex),
    ];
    for (bug, expected) in planted {
        let config = SessionConfig { planted_bug: Some(bug), ..SessionConfig::default() };
        let report = run_many(cases(), 1, threads(), &config);
        let violation = report
            .violation
            .unwrap_or_else(|| panic!("{bug:?} survived {} schedules", report.cases));
        eprintln!(
            "{bug:?} caught after {} schedules: {:?} (seed {:#x})",
            report.cases, violation.kind, violation.seed
        );
        assert!(
            violation.kind == expected,
            "{bug:?} was reported as {:?}, expected {expected:?}:\n{violation}",
            violation.kind
        );
        assert!(violation.at > Duration::ZERO || violation.kind == ViolationKind::Panic);
    }
}
