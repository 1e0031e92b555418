//! Dead air: check-ins while nobody speaks.

use expect_test::expect;

use super::check;

#[test]
fn the_silence_timer_does_not_run_while_the_caller_speaks() {
    check(
        "
        ready
        speech
        +20s
        silence
        +6s
        +1s
        ",
        expect![[r#"
            ready
              · backend ready
            speech
              · user speaking
            +20s
            silence
              · user silent
            +6s
            +1s
              · check-in 1
              backend create tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn the_silence_timer_waits_for_playback_not_for_response_done() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 3000
        done r1 completed
        +3s mark tg1
        +6999ms
        +1ms
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
            delta r1 i1 3000
              play i1 3000ms then mark tg1
              · agent speaking
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +3s mark tg1
              · agent silent
            +6999ms
            +1ms
              · check-in 1
              backend create tg2 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn asking_for_a_moment_uses_the_longer_timeout() {
    check(
        "
        ready
        speech
        silence
        heard Hold on, let me find my card.
        +7s
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            speech
              · user speaking
            silence
              · user silent
            heard Hold on, let me find my card.
              · User: Hold on, let me find my card.
              · hold on
            +7s
            timeout @25000ms
              · check-in 1
              backend create tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn caller_speech_resets_the_check_in_count() {
    check(
        "
        ready
        timeout
        created r1 tg1
        delta r1 i1 1000
        done r1 completed
        +1s mark tg1
        +3s speech
        +1s silence
        commit
        created r2 tg2
        delta r2 i2 1000
        done r2 completed
        +1s mark tg2
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
            delta r1 i1 1000
              play i1 1000ms then mark tg1
              · agent speaking
            done r1 completed
              · gate active -> idle
            +1s mark tg1
              · agent silent
            +3s speech
              · user speaking
            +1s silence
              · user silent
            commit
              · turn queued (1 pending)
              backend create tg2 answer
              · gate idle -> requested
            created r2 tg2
              · gate requested -> active
            delta r2 i2 1000
              play i2 1000ms then mark tg2
              · agent speaking
            done r2 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +1s mark tg2
              · agent silent
            timeout @20000ms
              · check-in 1
              backend create tg3 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn a_key_press_counts_as_the_caller_being_there() {
    check(
        "
        ready
        +6s dtmf 5
        +6s
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            +6s dtmf 5
              · dtmf 5
            +6s
            timeout @13000ms
              · check-in 1
              backend create tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · gate idle -> requested
            = live, gate requested, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
