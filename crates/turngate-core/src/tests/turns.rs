//! Pending turns: what waits for the gate, and in which order.

use std::time::Duration;

use expect_test::expect;

use super::{check, check_with, config};
use crate::{ResponseMode, TurnDetection};

/// Whatever waits for the gate is served in arrival order: here a turn
/// committed before an app request is answered first, then the request.
#[test]
fn app_requests_and_turns_are_served_in_arrival_order() {
    let mut config = config();
    config.greeting = Some("Greet the caller.".to_owned());
    check_with(
        config,
        "
        ready
        created r1 tg1
        commit
        request Mention the offer.
        done r1 completed
        created r2 tg2
        request Ask for feedback.
        commit
        done r2 completed
        created r3 tg3
        done r3 completed
        ",
        expect![[r#"
            ready
              · backend ready
              backend create tg1 greeting "Greet the caller."
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            commit
              · turn queued (1 pending)
              · deferred answer
            request Mention the offer.
              · deferred app
            done r1 completed
              · gate active -> idle
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            request Ask for feedback.
              · deferred app
            commit
              · turn queued (1 pending)
              · deferred answer
            done r2 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
              backend create tg3 app "Mention the offer."
              · gate idle -> requested
            created r3 tg3
              · gate requested -> active
            done r3 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
              backend create tg4 app "Ask for feedback."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Turns committed before `response.created` are covered by that response,
/// since it sees the whole conversation; later ones wait for the next.
#[test]
fn a_response_covers_turns_committed_before_it_was_created() {
    check(
        "
        ready
        commit
        +100ms commit
        created r1 tg1
        +100ms commit
        done r1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            +100ms commit
              · turn queued (2 pending)
              · deferred answer
            created r1 tg1
              · gate requested -> active
            +100ms commit
              · turn queued (1 pending)
              · deferred answer
            done r1 completed
              · answered 2 turns, waited 100ms
              · gate active -> idle
              backend create tg2 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn the_core_commits_only_with_enough_audio() {
    let mut config = config();
    config.turn_detection = TurnDetection::Client;
    check_with(
        config,
        "
        ready
        speech
        audio 40
        audio 40
        silence
        speech
        audio 40
        silence
        commit
        ",
        expect![[r#"
            ready
              · backend ready
            speech
              · user speaking
            audio 40
              backend append 40ms
            audio 40
              backend append 40ms
            silence
              · user silent
            speech
              · user speaking
            audio 40
              backend append 40ms
            silence
              · user silent
              backend commit tg1
              · turn queued (1 pending)
              backend create tg2 answer
              · gate idle -> requested
            commit
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_rejected_commit_drops_its_turn() {
    let mut config = config();
    config.turn_detection = TurnDetection::Client;
    check_with(
        config,
        "
        ready
        request Hello.
        audio 200
        silence
        error tg2 nothing-to-commit
        created r1 tg1
        done r1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            request Hello.
              backend create tg1 app "Hello."
              · gate idle -> requested
            audio 200
              backend append 200ms
            silence
              backend commit tg2
              · turn queued (1 pending)
              · deferred answer
            error tg2 nothing-to-commit
              · dropped 1 turns: CommitRejected
              · benign error nothing-to-commit
            created r1 tg1
              · gate requested -> active
            done r1 completed
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn typed_user_text_is_a_turn() {
    check(
        "
        ready
        say What are your opening hours?
        created r1 tg2
        done r1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            say What are your opening hours?
              backend text tg1 "What are your opening hours?"
              · turn queued (1 pending)
              backend create tg2 answer
              · gate idle -> requested
            created r1 tg2
              · gate requested -> active
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// With server-created responses the core waits for the server's own answer
/// and asks itself only when none came within the grace period.
#[test]
fn server_auto_mode_leaves_the_first_move_to_the_server() {
    let mut config = config();
    config.response_mode = ResponseMode::ServerAuto;
    config.auto_response_grace = Duration::from_millis(500);
    check_with(
        config,
        "
        ready
        commit
        +100ms created r1
        done r1 completed
        commit
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            commit
              · turn queued (1 pending)
            +100ms created r1
              · adopted r1
              · gate idle -> active
            done r1 completed
              · answered 1 turns, waited 100ms
              · gate active -> idle
            commit
              · turn queued (1 pending)
            timeout @600ms
              backend create tg1 answer
              · gate idle -> requested
            = live, gate requested, nobody speaking, 1 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn turns_failing_every_attempt_are_dropped_explicitly() {
    check(
        "
        ready
        commit
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
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            done r1 failed
              · requeued 1 turns: ResponseFailed
              · gate active -> idle
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            done r2 failed
              · requeued 1 turns: ResponseFailed
              · gate active -> idle
              backend create tg3 answer
              · gate idle -> requested
            created r3 tg3
              · gate requested -> active
            done r3 failed
              · dropped 1 turns: RetriesExhausted
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
