//! The call-duration limit.

use std::time::Duration;

use expect_test::expect;

use super::{check, check_with, config};

fn short_call() -> crate::SessionConfig {
    let mut config = config();
    config.max_call_duration = Duration::from_secs(60);
    config.dead_air.enabled = false;
    config
}

#[test]
fn at_the_limit_the_agent_says_goodbye_then_hangs_up() {
    check_with(
        short_call(),
        "
        ready
        +50s commit
        created r1 tg1
        +8s delta r1 i1 5000
        +2s
        commit
        done r1 cancelled
        created r2 tg3
        delta r2 i2 1000
        done r2 completed
        +1s mark tg2
        ",
        expect![[r#"
            ready
              · backend ready
            +50s commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            +8s delta r1 i1 5000
              play i1 5000ms then mark tg1
              · agent speaking
            +2s
              · ending: max_duration
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · agent silent
            commit
              · dropped 1 turns: SessionEnding
            done r1 cancelled
              · dropped 1 turns: SessionEnding
              · gate cancelling -> idle
              backend create tg3 goodbye "The call has reached its time limit. Say a short, friendly goodbye."
              · gate idle -> requested
            created r2 tg3
              · gate requested -> active
            delta r2 i2 1000
              play i2 1000ms then mark tg2
              · agent speaking
            done r2 completed
              · gate active -> idle
            +1s mark tg2
              · agent silent
              hang up
              app ended: max_duration
            = ended (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_goodbye_that_never_plays_does_not_keep_the_call_open() {
    check_with(
        short_call(),
        "
        ready
        +60s
        timeout
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            +60s
              · ending: max_duration
              backend create tg1 goodbye "The call has reached its time limit. Say a short, friendly goodbye."
              · gate idle -> requested
            timeout @70000ms
              · timed out: ResponseCreated
              · gate requested -> idle
              backend create tg2 goodbye "The call has reached its time limit. Say a short, friendly goodbye."
              · gate idle -> requested
            timeout @75000ms
              · timed out: Goodbye
              · dropped goodbye request: SessionEnding
              · gate requested -> idle
              hang up
              app ended: max_duration
            = ended (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn without_a_goodbye_the_limit_hangs_up_at_once() {
    let mut config = short_call();
    config.goodbye = None;
    check_with(
        config,
        "
        ready
        commit
        created r1 tg1
        +60s
        commit
        ",
        expect![[r#"
            ready
              · backend ready
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            +60s
              · ending: max_duration
              backend cancel tg2 r1
              · gate active -> cancelling
              · dropped 1 turns: SessionEnding
              · gate cancelling -> idle
              hang up
              app ended: max_duration
            commit
              · ignored: SessionOver
            = ended (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Caller audio is paced in audio time: real-time audio (even after a
/// burst of jitter) goes through, audio beyond the bucket ends the call.
#[test]
fn caller_audio_faster_than_real_time_ends_the_call_as_a_policy_violation() {
    check(
        "
        ready
        audio 4000
        +1s audio 1000
        +1s audio 1500
        audio 1500
        audio 20
        ",
        expect![[r#"
            ready
              · backend ready
            audio 4000
              backend append 4000ms
            +1s audio 1000
              backend append 1000ms
            +1s audio 1500
              backend append 1500ms
            audio 1500
              backend append 1500ms
            audio 20
              · caller audio too fast (20ms over)
              hang up
              app ended: policy_violation
            = ended (policy_violation), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_peer_fault_ends_the_call_with_its_reason() {
    check(
        "
        ready
        fault not-reading
        bye
        ",
        expect![[r#"
            ready
              · backend ready
            fault not-reading
              hang up
              app ended: peer_not_reading
            bye
              · ignored: SessionOver
            = ended (peer_not_reading), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
