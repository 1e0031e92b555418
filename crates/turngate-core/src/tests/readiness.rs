//! Readiness: nothing goes upstream before the backend is configured.

use std::time::Duration;

use expect_test::expect;

use super::{check, check_with, config};

#[test]
fn caller_audio_waits_for_the_backend_and_is_sent_in_order() {
    let mut config = config();
    config.greeting = Some("Greet the caller.".to_owned());
    check_with(
        config,
        "
        audio 20
        audio 20
        say hello
        request Offer help.
        +1s ready
        audio 20
        ",
        expect![[r#"
            audio 20
            audio 20
            say hello
            request Offer help.
            +1s ready
              · backend ready
              backend append 20ms
              backend append 20ms
              backend text tg1 "hello"
              · turn queued (1 pending)
              backend create tg2 greeting "Greet the caller."
              · gate idle -> requested
            audio 20
              backend append 20ms
            = live, gate requested, nobody speaking, 1 turns and 1 requests pending
        "#]],
    );
}

#[test]
fn the_readiness_buffer_keeps_the_most_recent_audio() {
    let mut config = config();
    config.readiness_buffer = Duration::from_millis(50);
    check_with(
        config,
        "
        audio 20
        audio 20
        audio 20
        audio 20
        ready
        ",
        expect![[r#"
            audio 20
            audio 20
            audio 20
              · caller audio dropped (20ms)
            audio 20
              · caller audio dropped (20ms)
            ready
              · backend ready
              backend append 20ms
              backend append 20ms
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_backend_that_never_becomes_ready_ends_the_session() {
    check(
        "
        audio 20
        timeout
        audio 20
        ",
        expect![[r#"
            audio 20
            timeout @10000ms
              hang up
              app ended: backend_not_ready
            audio 20
              · ignored: SessionOver
            = ended (backend_not_ready), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A backend that gave up for good (an unknown model, every reconnect
/// spent) ends the session at once, with a turn in flight dropped by the
/// ending rule, not ten seconds later at the ready timeout.
#[test]
fn a_backend_that_gave_up_for_good_ends_the_session_at_once() {
    check(
        "
        ready
        speech
        audio 200
        silence
        commit
        gone
        audio 20
        ",
        expect![[r#"
            ready
              · backend ready
            speech
              · user speaking
            audio 200
              backend append 200ms
            silence
              · user silent
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            gone
              · dropped 1 turns: SessionEnding
              · gate requested -> idle
              hang up
              app ended: backend_unavailable
            audio 20
              · ignored: SessionOver
            = ended (backend_unavailable), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// The backend's input buffer dies with its connection: what the caller
/// said since the last commit is sent again first on the next one, then
/// what they said while it was away, so a sentence cut by the drop is
/// heard whole. Audio already committed as a turn is not sent twice.
#[test]
fn audio_not_yet_committed_is_sent_again_after_a_lost_backend() {
    check(
        "
        ready
        audio 20
        commit
        audio 40
        speech
        audio 60
        lost
        audio 80
        ready
        ",
        expect![[r#"
            ready
              · backend ready
            audio 20
              backend append 20ms
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            audio 40
              backend append 40ms
            speech
              · user speaking
              · barge-in, nothing playing
            audio 60
              backend append 60ms
            lost
              · backend lost
              · gate requested -> idle
            audio 80
            ready
              · backend ready
              backend append 40ms
              backend append 60ms
              backend append 80ms
            = live, gate idle, user speaking, 1 turns and 0 requests pending
        "#]],
    );
}

/// A dropped backend connection loses what was in flight there: the turns
/// are asked again once it is back, and nothing is sent while it is away.
#[test]
fn a_lost_backend_requeues_its_turns_and_resumes_when_ready() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        lost
        audio 20
        done r1 completed
        +2s ready
        created r2 tg2
        done r2 completed
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
            delta r1 i1 100
              play i1 100ms then mark tg1
              · agent speaking
            lost
              · backend lost
              · requeued 1 turns: BackendLost
              · gate active -> idle
            audio 20
            done r1 completed
              · ignored: UnknownResponseDone
            +2s ready
              · backend ready
              backend append 20ms
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            done r2 completed
              · answered 1 turns, waited 2000ms
              · gate active -> idle
            = live, gate idle, agent speaking, 0 turns and 0 requests pending
        "#]],
    );
}
