//! The failures seen in real deployments, one test each.

use expect_test::expect;

use super::check;

/// A user turn committed while a response is active waits, and is answered
/// by a create sent only after `response.done`.
#[test]
fn input_during_an_active_response_is_answered_after_it() {
    check(
        "
        ready
        commit
        created r1 tg1
        +200ms commit
        delta r1 i1 300
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
            +200ms commit
              · turn queued (1 pending)
              · deferred answer
            delta r1 i1 300
              play i1 300ms then mark tg1
              · agent speaking
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
              backend create tg2 answer
              · gate idle -> requested
            = live, gate requested, agent speaking, 1 turns and 0 requests pending
        "#]],
    );
}

/// `response.done` releases the gate and every turn that waited behind the
/// response is answered by exactly one create.
#[test]
fn response_done_answers_all_pending_input_with_one_create() {
    check(
        "
        ready
        commit
        created r1 tg1
        +100ms commit
        +100ms commit
        done r1 completed
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
            +100ms commit
              · turn queued (1 pending)
              · deferred answer
            +100ms commit
              · turn queued (2 pending)
              · deferred answer
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            done r2 completed
              · answered 2 turns, waited 100ms
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A create the backend rejects gets only an `error`, never `response.done`:
/// the error releases the gate, and the turn is answered by the server's
/// response that caused the conflict instead of by a retry.
#[test]
fn create_rejected_with_an_error_releases_the_gate() {
    check(
        "
        ready
        commit
        error tg1 response-active
        created r9
        done r9 completed
        +1s
        ",
        expect![[r#"
            ready
              · backend ready
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            error tg1 response-active
              · gate requested -> idle
              · create rejected (response-active), retry in 250ms
            created r9
              · adopted r9
              · gate idle -> active
            done r9 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +1s
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A late `response.done` for an older response arrives while our next
/// create is outstanding: it must not release the gate.
#[test]
fn response_done_arriving_while_a_create_is_outstanding_is_ignored() {
    check(
        "
        ready
        commit
        created r1 tg1
        speech
        +300ms silence
        commit
        done r1 cancelled
        done r1 cancelled
        commit
        created r2 tg3
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
            speech
              · user speaking
              backend cancel tg2 r1
              · gate active -> cancelling
              · barge-in, nothing playing
            +300ms silence
              · user silent
            commit
              · turn queued (1 pending)
              · deferred answer
            done r1 cancelled
              · requeued 1 turns: Interrupted
              · gate cancelling -> idle
              backend create tg3 answer
              · gate idle -> requested
            done r1 cancelled
              · ignored: UnknownResponseDone
            commit
              · turn queued (3 pending)
              · deferred answer
            created r2 tg3
              · gate requested -> active
            = live, gate active, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// The playback-ended webhook (routed to this worker) is what ends "agent
/// speaking", not `response.done`; the silence timer starts from it.
#[test]
fn playback_ended_webhook_ends_agent_speaking() {
    check(
        "
        ready
        request Greet the caller.
        created r1 tg1
        delta r1 i1 2000
        done r1 completed
        +2s played
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            request Greet the caller.
              backend create tg1 app "Greet the caller."
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            delta r1 i1 2000
              play i1 2000ms then mark tg1
              · agent speaking
            done r1 completed
              · gate active -> idle
            +2s played
              · agent silent
            timeout @9000ms
              · check-in 1
              backend create tg2 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// The second check-in is timed from the end of the first one's playback,
/// and the call hangs up after the last check-in plus the grace period.
#[test]
fn second_check_in_comes_after_the_first_is_played() {
    check(
        "
        ready
        timeout
        created r1 tg1
        delta r1 i1 1500
        done r1 completed
        +1500ms played
        timeout
        created r2 tg2
        delta r2 i2 1500
        done r2 completed
        +1500ms mark tg2
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            timeout @7000ms
              · check-in 1
              backend create tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            delta r1 i1 1500
              play i1 1500ms then mark tg1
              · agent speaking
            done r1 completed
              · gate active -> idle
            +1500ms played
              · agent silent
            timeout @15500ms
              · check-in 2
              backend create tg2 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            delta r2 i2 1500
              play i2 1500ms then mark tg2
              · agent speaking
            done r2 completed
              · gate active -> idle
            +1500ms mark tg2
              · agent silent
            timeout @22000ms
              hang up
              app ended: dead_air
            = ended (dead_air), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
