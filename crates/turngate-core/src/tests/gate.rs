//! The turn gate: one response requested or active at a time.

use std::time::Duration;

use expect_test::expect;

use super::{check, check_with, config};

#[test]
fn a_create_is_sent_only_from_idle() {
    check(
        "
        ready
        commit
        commit
        request Tell a joke.
        created r1 tg1
        done r1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            commit
              · turn queued (2 pending)
              · deferred answer
            request Tell a joke.
              · deferred app
            created r1 tg1
              · gate requested -> active
            done r1 completed
              · answered 2 turns, waited 0ms
              · gate active -> idle
              backend create tg2 app "Tell a joke."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_response_the_server_started_takes_the_gate() {
    check(
        "
        ready
        created r1
        commit
        request Anything else?
        done r1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            created r1
              · adopted r1
              · gate idle -> active
            commit
              · turn queued (1 pending)
              · deferred answer
            request Anything else?
              · deferred app
            done r1 completed
              · gate active -> idle
              backend create tg1 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 1 requests pending
        "#]],
    );
}

/// With the create tag echoed, a response that is not ours is known to be
/// the server's: our create is still outstanding behind it.
#[test]
fn our_create_behind_a_server_response_stays_outstanding() {
    check(
        "
        ready
        request Hello.
        created r1 tg99
        done r1 completed
        created r2 tg1
        done r2 completed
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            created r1 tg99
              · adopted r1
              · gate requested -> active
            done r1 completed
              · gate active -> requested
            created r2 tg1
              · gate requested -> active
            done r2 completed
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Without the tag, a response arriving after our create is probably ours;
/// an error naming our create proves otherwise and the request is retried.
#[test]
fn a_probable_claim_is_refuted_by_an_error_for_our_create() {
    check(
        "
        ready
        request Hello.
        created r1
        error tg1 response-active
        done r1 completed
        +250ms
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            created r1
              · gate requested -> active
            error tg1 response-active
              · create rejected (response-active), retry in 250ms
            done r1 completed
              · gate active -> idle
            +250ms
              backend create tg2 app "Hello."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn every_done_status_releases_the_gate() {
    check(
        "
        ready
        commit
        created r1 tg1
        done r1 incomplete
        commit
        created r2 tg2
        done r2 cancelled
        commit
        created r3 tg3
        done r3 failed
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
            done r1 incomplete
              · answered 1 turns, waited 0ms
              · gate active -> idle
            commit
              · turn queued (1 pending)
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            done r2 cancelled
              · answered 1 turns, waited 0ms, interrupted
              · gate active -> idle
            commit
              · turn queued (1 pending)
              backend create tg3 answer
              · gate idle -> requested
            created r3 tg3
              · gate requested -> active
            done r3 failed
              · requeued 1 turns: ResponseFailed
              · gate active -> idle
              backend create tg4 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_failing_request_is_dropped_after_its_attempts() {
    check(
        "
        ready
        request Hello.
        created r1 tg1
        done r1 failed
        created r2 tg2
        done r2 failed
        created r3 tg3
        done r3 failed
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            done r1 failed
              · gate active -> idle
              backend create tg2 app "Hello."
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            done r2 failed
              · gate active -> idle
              backend create tg3 app "Hello."
              · gate idle -> requested
            created r3 tg3
              · gate requested -> active
            done r3 failed
              · dropped app request: RetriesExhausted
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn repeated_rejections_back_off_exponentially() {
    check(
        "
        ready
        request Hello.
        error tg1 server_error
        timeout
        error tg2 server_error
        timeout
        error tg3 server_error
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            error tg1 server_error
              · gate requested -> idle
              · create rejected (server_error), retry in 250ms
            timeout @250ms
              backend create tg2 app "Hello."
              · gate idle -> requested
            error tg2 server_error
              · gate requested -> idle
              · create rejected (server_error), retry in 500ms
            timeout @750ms
              backend create tg3 app "Hello."
              · gate idle -> requested
            error tg3 server_error
              · gate requested -> idle
              · create rejected (server_error), retry in 1000ms
              · dropped app request: RetriesExhausted
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn out_of_band_responses_are_not_gated() {
    check(
        "
        ready
        commit
        created r1 tg1
        oob Classify the caller's mood.
        created r2 oob
        delta r2 i2 100
        done r2 completed
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
            oob Classify the caller's mood.
              backend create tg2 app out-of-band "Classify the caller's mood."
            created r2 oob
            delta r2 i2 100
              · late audio of r2 dropped (100ms)
            done r2 completed
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn cancel_not_active_is_benign() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 200
        speech
        done r1 completed
        error tg2 nothing-to-cancel
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
            done r1 completed
              · requeued 1 turns: Interrupted
              · gate cancelling -> idle
            error tg2 nothing-to-cancel
              · benign error nothing-to-cancel
            = live, gate idle, user speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn an_unanswered_create_times_out_and_is_retried() {
    check(
        "
        ready
        request Hello.
        timeout
        timeout
        created r1 tg2
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            timeout @10000ms
              · timed out: ResponseCreated
              · gate requested -> idle
              backend create tg2 app "Hello."
              · gate idle -> requested
            timeout @20000ms
              · timed out: ResponseCreated
              · gate requested -> idle
              backend create tg3 app "Hello."
              · gate idle -> requested
            created r1 tg2
              · adopted r1
              · gate requested -> active
            = live, gate active, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn an_unanswered_cancel_times_out_and_frees_the_gate() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        +50ms speech
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
            delta r1 i1 100
              play i1 100ms then mark tg1
              · agent speaking
            +50ms speech
              · user speaking
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · barge-in on i1 at 0ms
              · truncate of i1 skipped
              · agent silent
            timeout @5050ms
              · timed out: CancelDone
              · requeued 1 turns: Interrupted
              · gate cancelling -> idle
            = live, gate idle, user speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_response_generating_too_long_is_cancelled_and_its_turns_asked_again() {
    let mut config = config();
    config.response_timeout = Duration::from_secs(30);
    check_with(
        config,
        "
        ready
        commit
        created r1 tg1
        timeout
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
            timeout @30000ms
              · timed out: ResponseDone
              backend cancel tg2 r1
              · gate active -> cancelling
            done r1 cancelled
              · requeued 1 turns: ResponseFailed
              · gate cancelling -> idle
              backend create tg3 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_second_created_while_active_is_ignored_and_its_audio_dropped() {
    check(
        "
        ready
        commit
        created r1 tg1
        created r2
        delta r2 i2 100
        done r2 completed
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
            created r2
              · ignored: ExtraResponseCreated
            delta r2 i2 100
              · late audio of r2 dropped (100ms)
            done r2 completed
              · ignored: UnknownResponseDone
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn errors_not_tied_to_a_request_are_reported() {
    check(
        "
        ready
        error - rate_limit_exceeded
        error - nothing-to-commit
        error tg77 invalid_value
        ",
        expect![[r#"
            ready
              · backend ready
            error - rate_limit_exceeded
              · backend error rate_limit_exceeded: from the script
            error - nothing-to-commit
              · benign error nothing-to-commit
            error tg77 invalid_value
              · ignored: UnknownEventError
              · backend error invalid_value: from the script
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
