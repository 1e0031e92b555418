//! Tool calls: run once their response completes, answered through the gate.

use std::time::Duration;

use expect_test::expect;

use super::{check, check_with, config};

#[test]
fn a_tool_call_is_run_and_its_follow_up_goes_through_the_gate() {
    check(
        "
        ready
        commit
        created r1 tg1
        call r1 c1 lookup {\"order\":42}
        done r1 completed
        commit
        result c1 {\"status\":\"shipped\"}
        created r2 tg3
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
            call r1 c1 lookup {"order":42}
            done r1 completed
              · answered 1 turns, waited 0ms
              app tool c1 lookup {"order":42}
              · gate active -> idle
            commit
              · turn queued (1 pending)
            result c1 {"status":"shipped"}
              backend output tg2 c1 {"status":"shipped"}
              backend create tg3 answer
              · gate idle -> requested
            created r2 tg3
              · gate requested -> active
            done r2 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn the_follow_up_waits_for_every_call_of_the_response() {
    check(
        "
        ready
        commit
        created r1 tg1
        call r1 c1 weather {}
        call r1 c2 time {}
        done r1 completed
        result c2 \"12:00\"
        result c1 \"sunny\"
        result c1 \"again\"
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
            call r1 c1 weather {}
            call r1 c2 time {}
            done r1 completed
              · answered 1 turns, waited 0ms
              app tool c1 weather {}
              app tool c2 time {}
              · gate active -> idle
            result c2 "12:00"
              backend output tg2 c2 "12:00"
            result c1 "sunny"
              backend output tg3 c1 "sunny"
              backend create tg4 tool_follow_up
              · gate idle -> requested
            result c1 "again"
              · ignored: UnknownToolResult
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn tool_calls_of_a_cancelled_response_are_not_run() {
    check(
        "
        ready
        commit
        created r1 tg1
        call r1 c1 transfer {}
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
            call r1 c1 transfer {}
            done r1 cancelled
              · answered 1 turns, waited 0ms, interrupted
              · 1 tool calls discarded (cancelled)
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_tool_that_never_answers_gets_an_error_output() {
    let mut config = config();
    config.tool_timeout = Duration::from_secs(5);
    check_with(
        config,
        "
        ready
        commit
        created r1 tg1
        call r1 c1 slow {}
        done r1 completed
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
            call r1 c1 slow {}
            done r1 completed
              · answered 1 turns, waited 0ms
              app tool c1 slow {}
              · gate active -> idle
            timeout @5000ms
              · tool c1 timed out
              backend output tg2 c1 {"error":"the tool did not answer in time"}
              backend create tg3 tool_follow_up
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
