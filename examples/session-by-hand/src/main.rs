//! Run with `cargo run -p example-session-by-hand`.
//!
//! Drives the session core through one phone call by hand: the backend gets
//! ready, the agent greets, the caller asks something, talks over the
//! answer, falls silent and is checked on.
//! Every input is printed with the commands the core answered it with; this
//! is all a real driver does, with sockets instead of a script.

#![allow(clippy::print_stdout, reason = "the example's output is the point")]

use std::time::{Duration, Instant};

use turngate_core::{
    AudioChunk, Command, Input, ItemId, MarkId, Origin, ResponseId, ResponseStatus, Session,
    SessionConfig,
};

fn main() {
    let start = Instant::now();
    let config = SessionConfig {
        greeting: Some("Greet the caller and offer help.".to_owned()),
        ..SessionConfig::default()
    };
    let mut session = Session::new(config, start);
    let response = |id: &str| ResponseId(id.to_owned());
    let item = |id: &str| ItemId(id.to_owned());
    let audio = |ms: u64| AudioChunk::new(Vec::new(), Duration::from_millis(ms));

    let script: Vec<(u64, &str, Input)> = vec![
        (0, "caller audio before the model is ready", Input::CallerAudio(audio(20))),
        (300, "the model session is configured", Input::BackendReady),
        (450, "the greeting starts", created("resp_1", 1)),
        (500, "greeting audio", delta(&response, &item, "resp_1", "item_1", audio(800))),
        (520, "greeting generated, still playing", done("resp_1", ResponseStatus::Completed)),
        (1300, "the greeting has been heard", Input::PlaybackMark(MarkId(1))),
        (1400, "the caller asks a question", Input::UserSpeechStarted),
        (1700, "", Input::UserSpeechStopped),
        (1750, "the model commits the question", Input::InputCommitted { item_id: None }),
        (1900, "the answer starts", created("resp_2", 2)),
        (1950, "answer audio", delta(&response, &item, "resp_2", "item_2", audio(600))),
        (2000, "more answer audio", delta(&response, &item, "resp_2", "item_2", audio(600))),
        (2600, "the caller heard the first part", Input::PlaybackMark(MarkId(2))),
        (2800, "the caller talks over the answer", Input::UserSpeechStarted),
        (
            2820,
            "audio generated before the cancel",
            delta(&response, &item, "resp_2", "item_2", audio(400)),
        ),
        (2850, "the cancel lands", done("resp_2", ResponseStatus::Cancelled)),
        (3300, "", Input::UserSpeechStopped),
        (3350, "the model commits the interruption", Input::InputCommitted { item_id: None }),
        (3500, "the reply starts", created("resp_3", 5)),
        (3550, "reply audio", delta(&response, &item, "resp_3", "item_3", audio(800))),
        (3600, "reply generated", done("resp_3", ResponseStatus::Completed)),
        (4400, "the reply has been heard", Input::PlaybackMark(MarkId(4))),
    ];

    for (at, what, input) in script {
        step(&mut session, start, start + Duration::from_millis(at), what, input);
    }
    // Nobody speaks now: wake up when the session asks to, and see it check in.
    if let Some(deadline) = session.poll_timeout() {
        step(&mut session, start, deadline, "silence: the session's own timer", Input::Tick);
    }
    println!("\ncounters: {:?}", session.counters());
}

fn created(id: &str, create: u64) -> Input {
    Input::ResponseCreated {
        response_id: ResponseId(id.to_owned()),
        origin: Origin::Create(turngate_core::ClientEventId(create)),
        out_of_band: false,
    }
}

fn delta(
    response: &dyn Fn(&str) -> ResponseId,
    item: &dyn Fn(&str) -> ItemId,
    response_id: &str,
    item_id: &str,
    audio: AudioChunk,
) -> Input {
    Input::ResponseAudio { response_id: response(response_id), item_id: item(item_id), audio }
}

fn done(id: &str, status: ResponseStatus) -> Input {
    Input::ResponseDone { response_id: ResponseId(id.to_owned()), status }
}

fn step(session: &mut Session, start: Instant, at: Instant, what: &str, input: Input) {
    let note = if what.is_empty() { String::new() } else { format!("   // {what}") };
    println!("{:>6} ms  {input:?}{note}", at.duration_since(start).as_millis());
    for command in session.handle(at, input) {
        match command {
            Command::Event(event) => println!("            · {event:?}"),
            other => println!("            → {other:?}"),
        }
    }
}
