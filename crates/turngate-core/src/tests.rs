//! Data-driven tests of the session: a script of inputs in, a transcript of
//! commands out, compared with an inline snapshot (`UPDATE_EXPECT=1` rewrites
//! the snapshots; review the diff before keeping it).
//!
//! Script lines, one input each; `+300ms` or `+2s` in front advances the
//! clock first, and a line that is only a time advance sends a tick:
//!
//! ```text
//! ready | lost                         backend ready / disconnected
//! audio 20                             caller audio, 20 ms
//! speech | silence                     caller speech started / stopped
//! commit                               input committed by the backend
//! created r1 [tg3 | server | oob]      response created: its create, the server's, out of band
//! delta r1 i1 200                      200 ms of response audio for item i1
//! transcript r1 i1 text...             assistant transcript
//! call r1 c1 name {json}               function call
//! done r1 completed                    response done with a status
//! error tg1 code                       backend error for a client event (`-` for none); the
//!                                      codes response-active, nothing-to-cancel,
//!                                      nothing-to-commit and lost name their kinds
//! mark tg1 | playing | played          playback confirmations
//! external-ended                       the external playback ended
//! heard text...                        the caller's transcript
//! placed tg1                           a full-duplex backend placed instruction tg1
//! say text... | request [text...]      app: typed user text / a response
//! oob [text...]                        app: an out-of-band response
//! result c1 {json}                     app: a tool's result
//! hangup | bye | dtmf 5 | tick         app hang-up, caller hang-up, key, tick
//! fault policy | fault not-reading     the peer broke the connection's rules
//! connect 1 [last] | disconnect 1      app-client connections
//! send text...                         app: a message for every client
//! timeout                              jump to the session's next deadline
//! ```

mod barge_in;
mod clients;
mod config;
mod dead_air;
mod full_duplex;
mod gate;
mod incidents;
mod limits;
mod playback;
mod readiness;
mod tools;
mod turns;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use expect_test::Expect;

use crate::{
    AppCommand, AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Command,
    ConnId, Event, Input, ItemId, MarkId, Origin, ResponseId, ResponseStatus, Session,
    SessionConfig, SessionPhase, TransportCommand,
};

/// The configuration most cases use: the defaults.
pub(crate) fn config() -> SessionConfig {
    SessionConfig::default()
}

/// The defaults for a full-duplex backend (GPT-Live).
pub(crate) fn full_duplex() -> SessionConfig {
    SessionConfig { turn_model: crate::TurnModel::FullDuplex, ..SessionConfig::default() }
}

/// Runs `script` on a default session and compares the transcript.
#[track_caller]
#[allow(clippy::needless_pass_by_value, reason = "`expect![[…]]` snapshots are passed by value")]
pub(crate) fn check(script: &str, expect: Expect) {
    check_with(config(), script, expect);
}

/// Runs `script` on a session with `config` and compares the transcript.
#[track_caller]
#[allow(clippy::needless_pass_by_value, reason = "`expect![[…]]` snapshots are passed by value")]
pub(crate) fn check_with(config: SessionConfig, script: &str, expect: Expect) {
    expect.assert_eq(&run(config, script));
}

fn run(config: SessionConfig, script: &str) -> String {
    let start = Instant::now();
    let mut now = start;
    let mut session = Session::new(config, now);
    let mut transcript = String::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (advance, rest) = split_advance(line);
        now += advance;
        let input = if rest == "timeout" {
            now = session.poll_timeout().expect("script: `timeout` with no deadline pending");
            Input::Tick
        } else if rest.is_empty() {
            Input::Tick
        } else {
            parse(rest)
        };
        let at = now.duration_since(start).as_millis();
        if rest == "timeout" {
            writeln!(transcript, "timeout @{at}ms").unwrap();
        } else {
            writeln!(transcript, "{line}").unwrap();
        }
        for command in session.handle(now, input) {
            writeln!(transcript, "  {}", render(&command)).unwrap();
        }
    }
    writeln!(transcript, "= {}", state(&session)).unwrap();
    transcript
}

fn split_advance(line: &str) -> (Duration, &str) {
    let Some(rest) = line.strip_prefix('+') else { return (Duration::ZERO, line) };
    let (amount, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let duration = if let Some(ms) = amount.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("script: bad milliseconds"))
    } else if let Some(s) = amount.strip_suffix('s') {
        Duration::from_secs_f64(s.parse().expect("script: bad seconds"))
    } else {
        panic!("script: a time advance needs a unit: {line}")
    };
    (duration, rest.trim())
}

fn parse(line: &str) -> Input {
    let words: Vec<&str> = line.split_whitespace().collect();
    let rest_from = |n: usize| words[n..].join(" ");
    let response = |n: usize| ResponseId(words[n].to_owned());
    match words[0] {
        "ready" => Input::BackendReady,
        "lost" => Input::BackendDisconnected,
        "gone" => Input::BackendUnavailable,
        "audio" => Input::CallerAudio(audio(words[1])),
        "speech" => Input::UserSpeechStarted,
        "silence" => Input::UserSpeechStopped,
        "commit" => Input::InputCommitted { item_id: None },
        "created" => Input::ResponseCreated {
            response_id: response(1),
            origin: match words.get(2) {
                Some(&"server") => Origin::Server,
                Some(tag) => tag.parse::<ClientEventId>().map_or(Origin::Unknown, Origin::Create),
                None => Origin::Unknown,
            },
            out_of_band: words.get(2) == Some(&"oob"),
        },
        "delta" => Input::ResponseAudio {
            response_id: response(1),
            item_id: ItemId(words[2].to_owned()),
            audio: audio(words[3]),
        },
        "transcript" => Input::ResponseTranscript {
            response_id: response(1),
            item_id: ItemId(words[2].to_owned()),
            text: rest_from(3),
        },
        "call" => Input::FunctionCall {
            response_id: response(1),
            call_id: CallId(words[2].to_owned()),
            name: words[3].to_owned(),
            arguments: rest_from(4),
        },
        "done" => Input::ResponseDone {
            response_id: response(1),
            status: match words[2] {
                "completed" => ResponseStatus::Completed,
                "cancelled" => ResponseStatus::Cancelled,
                "failed" => ResponseStatus::Failed,
                "incomplete" => ResponseStatus::Incomplete,
                other => panic!("script: unknown status {other}"),
            },
        },
        "error" => Input::BackendError {
            event_id: words[1].parse().ok(),
            // The code names the kind the provider would read from its own
            // code (the core never sees a provider's strings otherwise).
            kind: match words.get(2).copied() {
                Some("response-active") => BackendErrorKind::ResponseActive,
                Some("nothing-to-cancel") => BackendErrorKind::NothingToCancel,
                Some("nothing-to-commit") => BackendErrorKind::NothingToCommit,
                Some("lost") => BackendErrorKind::Lost,
                _ => BackendErrorKind::Other,
            },
            code: words.get(2).map(|c| (*c).to_owned()),
            message: "from the script".to_owned(),
        },
        "mark" => Input::PlaybackMark(words[1].parse::<MarkId>().expect("script: bad mark")),
        "playing" => Input::PlaybackStarted,
        "played" => Input::PlaybackEnded,
        "external-ended" => Input::ExternalPlaybackEnded,
        "heard" => Input::UserTranscript { item_id: None, text: rest_from(1) },
        "placed" => {
            Input::InstructionPlaced { event_id: words[1].parse().expect("script: bad event id") }
        }
        "say" => Input::UserText { text: rest_from(1) },
        "request" => Input::RequestResponse {
            instructions: (words.len() > 1).then(|| rest_from(1)),
            out_of_band: false,
        },
        "oob" => Input::RequestResponse {
            instructions: (words.len() > 1).then(|| rest_from(1)),
            out_of_band: true,
        },
        "result" => {
            Input::ToolResult { call_id: CallId(words[1].to_owned()), output: rest_from(2) }
        }
        "hangup" => Input::HangUp,
        "bye" => Input::CallEnded,
        "fault" => Input::PeerFault {
            reason: match words[1] {
                "policy" => crate::EndReason::PolicyViolation,
                "not-reading" => crate::EndReason::PeerNotReading,
                other => panic!("script: unknown fault {other}"),
            },
        },
        "dtmf" => Input::Dtmf { digit: words[1].chars().next().unwrap() },
        "tick" => Input::Tick,
        "connect" => Input::ClientConnected {
            conn: ConnId(words[1].parse().unwrap()),
            last_seq: words.get(2).map(|s| s.parse().unwrap()),
        },
        "disconnect" => Input::ClientDisconnected { conn: ConnId(words[1].parse().unwrap()) },
        "send" => Input::SendToClients { text: rest_from(1) },
        other => panic!("script: unknown input {other}"),
    }
}

fn audio(ms: &str) -> AudioChunk {
    let ms: u64 = ms.parse().expect("script: bad audio length");
    AudioChunk::new(Vec::new(), Duration::from_millis(ms))
}

fn ms(duration: Duration) -> u128 {
    duration.as_millis()
}

fn render(command: &Command) -> String {
    match command {
        Command::Backend(backend) => match backend {
            BackendCommand::AppendAudio(audio) => {
                format!("backend append {}ms", ms(audio.duration))
            }
            BackendCommand::Commit { event_id } => format!("backend commit {event_id}"),
            BackendCommand::CreateResponse { event_id, spec } => {
                let mut text = format!("backend create {event_id} {}", spec.purpose.as_str());
                if spec.out_of_band {
                    text.push_str(" out-of-band");
                }
                if let Some(instructions) = &spec.instructions {
                    write!(text, " {instructions:?}").unwrap();
                }
                text
            }
            BackendCommand::CancelResponse { event_id, response_id } => {
                format!("backend cancel {event_id} {response_id}")
            }
            BackendCommand::Truncate { event_id, item_id, audio_end_ms } => {
                format!("backend truncate {event_id} {item_id} at {audio_end_ms}ms")
            }
            BackendCommand::FunctionOutput { event_id, call_id, output } => {
                format!("backend output {event_id} {call_id} {output}")
            }
            BackendCommand::AddUserText { event_id, text } => {
                format!("backend text {event_id} {text:?}")
            }
            BackendCommand::Instruct { event_id, purpose, text } => {
                format!("backend instruct {event_id} {} {text:?}", purpose.as_str())
            }
        },
        Command::Transport(transport) => match transport {
            TransportCommand::Play { item_id, audio, mark } => {
                format!("play {item_id} {}ms then mark {mark}", ms(audio.duration))
            }
            TransportCommand::Clear => "clear".to_owned(),
            TransportCommand::HangUp => "hang up".to_owned(),
        },
        Command::App(app) => match app {
            AppCommand::InvokeTool { call_id, name, arguments } => {
                format!("app tool {call_id} {name} {arguments}")
            }
            AppCommand::Deliver { conn, seq, text } => format!("app deliver {conn} #{seq} {text}"),
            AppCommand::ReplayGap { conn, oldest_held } => {
                format!("app gap {conn} oldest #{oldest_held}")
            }
            AppCommand::SessionEnded { reason } => format!("app ended: {reason}"),
        },
        Command::Event(event) => format!("· {}", render_event(event)),
    }
}

fn render_event(event: &Event) -> String {
    match event {
        Event::GateChanged { from, to } => format!("gate {} -> {}", from.as_str(), to.as_str()),
        Event::ServerResponseAdopted { response_id } => format!("adopted {response_id}"),
        Event::AgentSpeaking(true) => "agent speaking".to_owned(),
        Event::AgentSpeaking(false) => "agent silent".to_owned(),
        Event::UserSpeaking(true) => "user speaking".to_owned(),
        Event::UserSpeaking(false) => "user silent".to_owned(),
        Event::TurnQueued { pending } => format!("turn queued ({pending} pending)"),
        Event::ResponseDeferred { purpose } => format!("deferred {}", purpose.as_str()),
        Event::TurnsAnswered { count, waited, interrupted } => {
            let cut = if *interrupted { ", interrupted" } else { "" };
            format!("answered {count} turns, waited {}ms{cut}", ms(*waited))
        }
        Event::TurnsRequeued { count, reason } => format!("requeued {count} turns: {reason:?}"),
        Event::TurnsDropped { count, reason } => format!("dropped {count} turns: {reason:?}"),
        Event::RequestDropped { purpose, reason } => {
            format!("dropped {} request: {reason:?}", purpose.as_str())
        }
        Event::CreateRejected { code, retry_in } => {
            format!(
                "create rejected ({}), retry in {}ms",
                code.as_deref().unwrap_or("-"),
                ms(*retry_in)
            )
        }
        Event::TimedOut(wait) => format!("timed out: {wait:?}"),
        Event::BargeIn { item_id: Some(item), played_ms } => {
            format!("barge-in on {item} at {played_ms}ms")
        }
        Event::BargeIn { item_id: None, .. } => "barge-in, nothing playing".to_owned(),
        Event::TruncateSkipped { item_id } => format!("truncate of {item_id} skipped"),
        Event::LateAudioDropped { response_id, duration } => {
            format!("late audio of {response_id} dropped ({}ms)", ms(*duration))
        }
        Event::CallerAudioDropped { duration } => {
            format!("caller audio dropped ({}ms)", ms(*duration))
        }
        Event::CallerAudioTooFast { duration } => {
            format!("caller audio too fast ({}ms over)", ms(*duration))
        }
        Event::PlaybackAssumed => "playback assumed heard".to_owned(),
        Event::CheckIn { number } => format!("check-in {number}"),
        Event::HoldOn => "hold on".to_owned(),
        Event::BackendReady => "backend ready".to_owned(),
        Event::BackendLost => "backend lost".to_owned(),
        Event::Ignored(what) => format!("ignored: {what:?}"),
        Event::BenignError { code } => format!("benign error {code}"),
        Event::BackendError { code, message } => {
            format!("backend error {}: {message}", code.as_deref().unwrap_or("-"))
        }
        Event::Transcript { role, text } => format!("{role:?}: {text}"),
        Event::Dtmf { digit } => format!("dtmf {digit}"),
        Event::ToolCallsDiscarded { count, status } => {
            format!("{count} tool calls discarded ({})", status.as_str())
        }
        Event::ToolTimedOut { call_id } => format!("tool {call_id} timed out"),
        Event::CallEnding { reason } => format!("ending: {reason}"),
    }
}

fn state(session: &Session) -> String {
    let phase = match session.phase() {
        SessionPhase::Starting => "starting".to_owned(),
        SessionPhase::Live => "live".to_owned(),
        SessionPhase::Ending(reason) => format!("ending ({reason})"),
        SessionPhase::Ended(reason) => format!("ended ({reason})"),
    };
    let speaking = match (session.agent_speaking(), session.user_speaking()) {
        (true, true) => "both speaking",
        (true, false) => "agent speaking",
        (false, true) => "user speaking",
        (false, false) => "nobody speaking",
    };
    format!(
        "{phase}, gate {}, {speaking}, {} turns and {} requests pending",
        session.gate().as_str(),
        session.pending_turns(),
        session.pending_requests()
    )
}
