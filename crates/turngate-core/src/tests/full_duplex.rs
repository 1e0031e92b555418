//! A full-duplex backend (GPT-Live): the model takes its own turns, so the
//! core never commits, opens, cancels or truncates anything. Its speech
//! arrives as server responses, one per stretch of speech.

use std::time::Duration;

use expect_test::expect;

use super::{check_with, full_duplex};
use crate::{BargeIn, DeadAirConfig, SessionConfig, TurnDetection};

/// A greeting is an instruction sent as soon as the session is ready, and
/// the model's speech plays and is confirmed as with any backend.
#[test]
fn greeting_is_an_instruction_and_speech_plays() {
    let config = SessionConfig { greeting: Some("Say hello.".to_owned()), ..full_duplex() };
    check_with(
        config,
        "
        audio 20
        ready
        created s1 server
        delta s1 s1 100
        +100ms mark tg1
        done s1 completed
        ",
        expect![[r#"
            audio 20
            ready
              · backend ready
              backend append 20ms
              backend instruct tg1 greeting "Say hello."
            created s1 server
              · gate idle -> active
            delta s1 s1 100
              play s1 100ms then mark tg1
              · agent speaking
            +100ms mark tg1
              · agent silent
            done s1 completed
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Barge-in clears what the carrier still queues and nothing else: no
/// cancel, no truncate, and the model's next words still play, because
/// whether to stop is the model's decision.
#[test]
fn barge_in_only_clears_the_leg() {
    check_with(
        full_duplex(),
        "
        ready
        created s1 server
        delta s1 s1 100
        delta s1 s1 100
        +100ms mark tg1
        speech
        delta s1 s1 40
        done s1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            created s1 server
              · gate idle -> active
            delta s1 s1 100
              play s1 100ms then mark tg1
              · agent speaking
            delta s1 s1 100
              play s1 100ms then mark tg2
            +100ms mark tg1
            speech
              · user speaking
              clear
              · barge-in on s1 at 100ms
              · agent silent
            delta s1 s1 40
              play s1 40ms then mark tg3
              · agent speaking
            done s1 completed
              · gate active -> idle
            = live, gate idle, both speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// With the core's own VAD, the caller's pauses commit nothing: the model
/// ends turns itself.
#[test]
fn the_caller_pausing_commits_nothing() {
    let config = SessionConfig { turn_detection: TurnDetection::Client, ..full_duplex() };
    check_with(
        config,
        "
        ready
        speech
        audio 300
        silence
        commit
        ",
        expect![[r#"
            ready
              · backend ready
            speech
              · user speaking
            audio 300
              backend append 300ms
            silence
              · user silent
            commit
              · ignored: UnexpectedCommit
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A delegation runs as soon as it arrives, even while the model speaks,
/// and its result goes back with no follow-up response: the model goes on
/// by itself.
#[test]
fn delegated_work_runs_at_once_and_needs_no_follow_up() {
    check_with(
        full_duplex(),
        "
        ready
        created s1 server
        call - d1 lookup {}
        result d1 {\"ok\":true}
        done s1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            created s1 server
              · gate idle -> active
            call - d1 lookup {}
              app tool d1 lookup {}
            result d1 {"ok":true}
              backend output tg1 d1 {"ok":true}
            done s1 completed
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A lost connection is a lost session: its delegations cannot be answered
/// in the next one, so the app hears that the work was called off, and a
/// late result is refused rather than sent into a session that never asked.
#[test]
fn a_lost_session_calls_off_its_delegations() {
    check_with(
        full_duplex(),
        "
        ready
        call - d1 lookup {}
        audio 200
        lost
        result d1 {}
        ready
        ",
        expect![[r#"
            ready
              · backend ready
            call - d1 lookup {}
              app tool d1 lookup {}
            audio 200
              backend append 200ms
            lost
              · backend lost
              · 1 tool calls discarded (cancelled)
            result d1 {}
              · ignored: UnknownToolResult
            ready
              · backend ready
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Dead air checks in with an instruction, and a refused instruction is
/// reported and not sent again.
#[test]
fn check_ins_are_instructions_and_a_refusal_is_final() {
    let config = SessionConfig {
        dead_air: DeadAirConfig {
            timeout: Duration::from_secs(5),
            check_in: "Ask if they are there.".to_owned(),
            ..DeadAirConfig::default()
        },
        ..full_duplex()
    };
    check_with(
        config,
        "
        ready
        +5s
        error tg1 invalid_value
        +1s
        ",
        expect![[r#"
            ready
              · backend ready
            +5s
              · check-in 1
              backend instruct tg1 check_in "Ask if they are there."
            error tg1 invalid_value
              · backend error invalid_value: from the script
              · dropped check_in request: Rejected
            +1s
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// At the duration limit the model is told to say goodbye. Speech in
/// progress is neither cancelled (it cannot be) nor cut; the goodbye counts
/// as said once the model has spoken half a second after the backend placed
/// it, and the call hangs up when the caller has heard that.
#[test]
fn the_goodbye_is_speech_after_it_was_placed() {
    let config = SessionConfig {
        max_call_duration: Duration::from_secs(60),
        goodbye: Some("Say goodbye.".to_owned()),
        ..full_duplex()
    };
    check_with(
        config,
        "
        ready
        created s1 server
        delta s1 s1 100
        +60s
        delta s1 s1 300
        placed tg1
        delta s1 s1 100
        done s1 completed
        created s2 server
        delta s2 s2 600
        done s2 completed
        +700ms mark tg4
        ",
        expect![[r#"
            ready
              · backend ready
            created s1 server
              · gate idle -> active
            delta s1 s1 100
              play s1 100ms then mark tg1
              · agent speaking
            +60s
              · playback assumed heard
              · agent silent
              · ending: max_duration
              backend instruct tg1 goodbye "Say goodbye."
            delta s1 s1 300
              play s1 300ms then mark tg2
              · agent speaking
            placed tg1
            delta s1 s1 100
              play s1 100ms then mark tg3
            done s1 completed
              · gate active -> idle
            created s2 server
              · gate idle -> active
            delta s2 s2 600
              play s2 600ms then mark tg4
            done s2 completed
              · gate active -> idle
            +700ms mark tg4
              · agent silent
              hang up
              app ended: max_duration
            = ended (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A full-duplex model has no side responses, speaks on request only when
/// told what to say, and takes no typed turns: each refusal is explicit.
#[test]
fn requests_need_instructions_and_typed_text_is_refused() {
    let config = SessionConfig { barge_in: BargeIn::Off, ..full_duplex() };
    check_with(
        config,
        "
        ready
        request
        oob Whisper.
        request Tell them about the offer.
        say hello there
        ",
        expect![[r#"
            ready
              · backend ready
            request
              · dropped app request: Unsupported
            oob Whisper.
              · dropped app request: Unsupported
            request Tell them about the offer.
              backend instruct tg1 app "Tell them about the offer."
            say hello there
              · dropped app request: Unsupported
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// Nothing ever times out the model's speech: a stretch may last as long
/// as the model talks.
#[test]
fn long_speech_is_never_cancelled() {
    check_with(
        full_duplex(),
        "
        ready
        created s1 server
        +200s
        done s1 completed
        ",
        expect![[r#"
            ready
              · backend ready
            created s1 server
              · gate idle -> active
            +200s
            done s1 completed
              · gate active -> idle
            = live, gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A goodbye instructed to a session that was lost before it spoke is
/// instructed again to the next one, so the caller still hears it.
#[test]
fn a_goodbye_lost_with_its_session_is_instructed_again() {
    let config = SessionConfig {
        max_call_duration: Duration::from_secs(60),
        goodbye: Some("Say goodbye.".to_owned()),
        ..full_duplex()
    };
    check_with(
        config,
        "
        ready
        +60s
        lost
        ready
        ",
        expect![[r#"
            ready
              · backend ready
            +60s
              · check-in 1
              backend instruct tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · ending: max_duration
              backend instruct tg2 goodbye "Say goodbye."
            lost
              · backend lost
            ready
              · backend ready
              backend instruct tg3 goodbye "Say goodbye."
            = ending (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}

/// A session lost with the goodbye unplaced gives it to the next session,
/// once (the provider reports the loss after the disconnect); a check-in
/// lost with its session had its moment and is dropped, said so.
#[test]
fn instructions_lost_with_their_session() {
    let config = SessionConfig {
        max_call_duration: Duration::from_secs(60),
        goodbye: Some("Say goodbye.".to_owned()),
        ..full_duplex()
    };
    check_with(
        config,
        "
        ready
        +7s
        error tg1 lost
        +53s
        lost
        error tg3 lost
        ready
        ",
        expect![[r#"
            ready
              · backend ready
            +7s
              · check-in 1
              backend instruct tg1 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
            error tg1 lost
              · dropped check_in request: BackendLost
            +53s
              · check-in 2
              backend instruct tg2 check_in "The caller has been silent for a while. Briefly ask whether they are still there."
              · ending: max_duration
              backend instruct tg3 goodbye "Say goodbye."
            lost
              · backend lost
            error tg3 lost
            ready
              · backend ready
              backend instruct tg4 goodbye "Say goodbye."
            = ending (max_duration), gate idle, nobody speaking, 0 turns and 0 requests pending
        "#]],
    );
}
