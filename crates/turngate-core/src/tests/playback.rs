//! Playback: what the caller heard, from the transport's confirmations.

use expect_test::expect;

use super::check;

#[test]
fn agent_speaks_from_the_first_audio_until_the_last_mark() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        delta r1 i1 100
        done r1 completed
        +100ms mark tg1
        +100ms mark tg2
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
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +100ms mark tg1
            +100ms mark tg2
              · agent silent
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// An echo confirms every chunk before it too; echoes after a clear (Twilio
/// returns all pending marks at once) and duplicates are ignored.
#[test]
fn marks_confirm_in_order_and_stale_marks_are_ignored() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 100
        delta r1 i1 100
        delta r1 i1 100
        +200ms mark tg2
        mark tg2
        speech
        mark tg3
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
            +200ms mark tg2
            mark tg2
              · ignored: UnknownMark
            speech
              · user speaking
              backend cancel tg2 r1
              · gate active -> cancelling
              clear
              · barge-in on i1 at 200ms
              backend truncate tg3 i1 at 200ms
              · agent silent
            mark tg3
              · ignored: UnknownMark
            = live, gate cancelling, user speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Confirmations that never come cannot leave the agent speaking forever.
#[test]
fn unconfirmed_audio_is_assumed_heard_after_the_grace_period() {
    check(
        "
        ready
        commit
        created r1 tg1
        delta r1 i1 500
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
            delta r1 i1 500
              play i1 500ms then mark tg1
              · agent speaking
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            timeout @2500ms
              · playback assumed heard
              · agent silent
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

#[test]
fn external_playback_runs_from_started_to_ended() {
    check(
        "
        ready
        playing
        +3s played
        played
        playing
        timeout
        ",
        expect![[r#"
            ready
              · backend ready
            playing
              · agent speaking
            +3s played
              · agent silent
            played
              · ignored: PlaybackNotActive
            playing
              · agent speaking
            timeout @63000ms
              · playback assumed heard
              · agent silent
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A provider's own playback ending (a Call Control webhook) says nothing
/// about audio the core streamed: only that audio's marks confirm it.
#[test]
fn an_external_playback_ending_does_not_confirm_streamed_audio() {
    check(
        "
        ready
        playing
        commit
        created r1 tg1
        delta r1 i1 300
        done r1 completed
        +100ms external-ended
        external-ended
        +200ms mark tg1
        ",
        expect![[r#"
            ready
              · backend ready
            playing
              · agent speaking
            commit
              · turn queued (1 pending)
              backend create tg1 answer
              · gate idle -> requested
            created r1 tg1
              · gate requested -> active
            delta r1 i1 300
              play i1 300ms then mark tg1
            done r1 completed
              · answered 1 turns, waited 0ms
              · gate active -> idle
            +100ms external-ended
            external-ended
              · ignored: PlaybackNotActive
            +200ms mark tg1
              · agent silent
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
