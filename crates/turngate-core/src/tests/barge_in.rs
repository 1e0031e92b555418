//! Barge-in: the caller talks over the agent.

use expect_test::expect;

use super::{check, check_with, config};
use crate::BargeIn;

/// Cancel the response, clear the transport, and truncate the item at what
/// the caller heard: the marks that came back, not the audio sent.
#[test]
fn barge_in_cancels_clears_and_truncates_at_what_was_heard() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        delta r1 i1 100
        delta r1 i1 100
        +120ms mark tg1
        +50ms speech
        delta r1 i1 100
        done r1 cancelled
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
            delta r1 i1 100
              play i1 100ms then mark tg2
            delta r1 i1 100
              play i1 100ms then mark tg3
            +120ms mark tg1
            +50ms speech
              · user speaking
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · barge-in on i1 at 100ms
              backend truncate tg3 i1 at 100ms
              · agent silent
            delta r1 i1 100
              · late audio of r1 dropped (100ms)
            done r1 cancelled
              · answered 1 turns, waited 0ms, interrupted
              · gate cancelling -> idle
            = live, gate idle, user speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// If the response was done generating, only playback needs stopping.
#[test]
fn barge_in_after_generation_clears_and_truncates_without_a_cancel() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        delta r1 i1 100
        delta r1 i1 100
        done r1 completed
        +100ms mark tg1
        speech
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
            delta r1 i1 100
              play i1 100ms then mark tg2
            delta r1 i1 100
              play i1 100ms then mark tg3
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +100ms mark tg1
            speech
              · user speaking
              clear
              · barge-in on i1 at 100ms
              backend truncate tg2 i1 at 100ms
              · agent silent
            = live, gate idle, user speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Cut off before a single chunk was confirmed: no truncate at 0 ms (the
/// backend rejects it), and the turn is asked again rather than counted as
/// answered.
#[test]
fn barge_in_before_anything_was_heard_requeues_the_turn() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 200
        speech
        done r1 cancelled
        +400ms silence
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
            delta r1 i1 200
              play i1 200ms then mark tg1
              · agent speaking
            speech
              · user speaking
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · barge-in on i1 at 0ms
              · truncate of i1 skipped
              · agent silent
            done r1 cancelled
              · requeued 1 turns: Interrupted
              · gate cancelling -> idle
            +400ms silence
              · user silent
              backend create tg3 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn barge_in_after_minimum_speech_ignores_a_cough() {
    let mut config = config();
    config.barge_in = BargeIn::AfterSpeechMs(300);
    check_with(
        config,
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 2000
        +100ms speech
        +150ms silence
        +500ms speech
        timeout
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
            delta r1 i1 2000
              play i1 2000ms then mark tg1
              · agent speaking
            +100ms speech
              · user speaking
            +150ms silence
              · user silent
            +500ms speech
              · user speaking
            timeout @1050ms
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · barge-in on i1 at 0ms
              · truncate of i1 skipped
              · agent silent
            = live, gate cancelling, user speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn barge_in_off_lets_the_agent_finish() {
    let mut config = config();
    config.barge_in = BargeIn::Off;
    check_with(
        config,
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 500
        speech
        done r1 completed
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
            delta r1 i1 500
              play i1 500ms then mark tg1
              · agent speaking
            speech
              · user speaking
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            = live, gate idle, both speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// The caller barged in between our create and `response.created`: the
/// response is cancelled the moment it exists.
#[test]
fn barge_in_before_the_response_exists_cancels_it_on_creation() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 200
        done r1 completed
        request Anything else?
        +50ms speech
        created r2 tg2
        done r2 cancelled
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
            delta r1 i1 200
              play i1 200ms then mark tg1
              · agent speaking
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            request Anything else?
              backend create tg2 app "Anything else?"
              · gate idle -> requested
            +50ms speech
              · user speaking
              clear
              · barge-in on i1 at 0ms
              · truncate of i1 skipped
              · agent silent
            created r2 tg2
              backend cancel tg3 r2
              · gate requested -> cancelling
            done r2 cancelled
              · gate cancelling -> idle
            = live, gate idle, user speaking, 0 turns and 0 requests pending
        "#]],
    );
}
