use std::time::{Duration, Instant};

use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{
    AudioChunk, Event, Input, ItemId, MarkId, Role, SessionConfig, TransportCommand,
};

use super::*;
use crate::tests::replay;
use crate::transport::{
    Decoded, Frame, HangUpSupport, MarkSupport, Notice, OutFrame, ResumeAnswer, Transport,
    WireErrorKind,
};

fn feed(
    t: &mut AudioCodesTransport,
    now: Instant,
    text: &str,
) -> (Result<(), WireErrorKind>, Decoded) {
    let mut out = Decoded::default();
    let result = t.on_frame(now, Frame::Text(text), &mut out).map_err(|e| e.kind());
    (result, out)
}

fn texts(frames: &[OutFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            OutFrame::Text(text) => {
                let v: serde_json::Value = serde_json::from_str(text).unwrap();
                let mut s = v["type"].as_str().unwrap().to_owned();
                for key in ["streamId", "mediaFormat", "reason"] {
                    if let Some(value) = v[key].as_str() {
                        s.push(' ');
                        s.push_str(value);
                    }
                }
                if let Some(chunk) = v["audioChunk"].as_str() {
                    s.push_str(&format!(" {}B", crate::b64_decode(chunk).unwrap().len()));
                }
                s
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn initiate(formats: &str) -> String {
    format!(
        r#"{{"type":"session.initiate","conversationId":"c1","botName":"b","caller":"+1","expectAudioMessages":true,"supportedMediaFormats":{formats}}}"#
    )
}

/// A conversation `c1` in µ-law with its user stream started.
fn accepted(config: AudioCodesConfig, now: Instant) -> AudioCodesTransport {
    let mut t = AudioCodesTransport::new(config, now);
    let start = r#"{"type":"userStream.start","conversationId":"c1"}"#;
    for frame in [initiate(r#"["raw/lpcm16","raw/mulaw"]"#).as_str(), start] {
        t.on_frame(now, Frame::Text(frame), &mut Decoded::default()).unwrap();
    }
    t
}

fn play(t: &mut AudioCodesTransport, now: Instant, mark: u64, bytes: usize) -> Vec<String> {
    let mut frames = Vec::new();
    let audio = AudioChunk::new(vec![0x7f; bytes], Duration::from_millis(bytes as u64 / 8));
    t.encode(
        now,
        TransportCommand::Play { item_id: ItemId::from("i"), audio, mark: MarkId(mark) },
        &mut frames,
    );
    texts(&frames)
}

fn tick(t: &mut AudioCodesTransport, now: Instant) -> (Vec<Input>, Vec<String>) {
    let mut out = Decoded::default();
    t.on_timeout(now, &mut out);
    (out.inputs, texts(&out.replies))
}

#[test]
fn transcript_paces_playout_and_truncates_at_the_estimate() {
    let replayed = replay::run(
        "audiocodes/conversation_paced_barge_in.jsonl",
        |now| Box::new(AudioCodesTransport::new(AudioCodesConfig::default(), now)),
        SessionConfig::default(),
        None,
    );
    let call = replayed.transport.call().unwrap();
    assert_eq!(call.call_id, "4a8b7c10-9d2e-4f3a-8b5c-6d7e8f9a0b1c");
    assert_eq!(call.from.as_deref(), Some("+15550001111"));
    assert_eq!(call.to.as_deref(), Some("+15550002222"));
    assert_eq!(call.custom.get("botName").map(String::as_str), Some("turngate"));
    assert_eq!(call.custom.get("callerHost").map(String::as_str), Some("10.0.0.1"));
    assert_eq!(replayed.transport.counters().ignored, 1);
    assert!(replayed.session.unwrap().is_ended());
}

#[test]
fn the_media_format_is_negotiated_by_preference() {
    let now = Instant::now();
    let cases = [
        (r#"["raw/lpcm16","raw/mulaw"]"#, "session.accepted raw/mulaw"),
        (r#"["raw/lpcm16","raw/lpcm16_24"]"#, "session.accepted raw/lpcm16_24"),
        (r#"["wav/mulaw","raw/lpcm16"]"#, "session.accepted raw/lpcm16"),
        (r#"["raw/lpcm16_8"]"#, "session.accepted raw/lpcm16_8"),
    ];
    for (formats, answer) in cases {
        let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
        let (result, out) = feed(&mut t, now, &initiate(formats));
        assert_eq!(result, Ok(()));
        assert_eq!(texts(&out.replies), [answer], "{formats}");
    }
    // A backend that cannot take µ-law says so in the preference.
    let config = AudioCodesConfig {
        preferred_formats: vec![
            AudioFormat::Pcm16(SampleRate::Hz24000),
            AudioFormat::Pcm16(SampleRate::Hz16000),
        ],
        ..AudioCodesConfig::default()
    };
    let mut t = AudioCodesTransport::new(config, now);
    let (_, out) = feed(&mut t, now, &initiate(r#"["raw/mulaw","raw/lpcm16"]"#));
    assert_eq!(texts(&out.replies), ["session.accepted raw/lpcm16"]);
    assert_eq!(t.media_format(), Some(AcFormat::Lpcm16));
    assert_eq!(t.capabilities().inbound, Some(AudioFormat::Pcm16(SampleRate::Hz16000)));
    let caps = t.capabilities();
    assert_eq!((caps.marks, caps.hang_up), (MarkSupport::Estimated, HangUpSupport::InBand));
    // Without the field, the protocol's default (`raw/lpcm16`) is what is offered.
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let (_, out) = feed(&mut t, now, r#"{"type":"session.initiate","conversationId":"c1"}"#);
    assert_eq!(texts(&out.replies), ["session.accepted raw/lpcm16"]);
}

#[test]
fn a_call_without_a_common_format_is_refused() {
    let now = Instant::now();
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let (result, out) = feed(&mut t, now, &initiate(r#"["wav/lpcm16","audio/mp3"]"#));
    assert_eq!(result, Ok(()));
    assert_eq!(texts(&out.replies), ["session.error No common media format", "Close"]);
    assert_eq!(out.notices, [Notice::Rejected { reason: "No common media format".to_owned() }]);
    assert_eq!(
        feed(&mut t, now, r#"{"type":"userStream.start"}"#).0,
        Err(WireErrorKind::OutOfOrder)
    );

    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let text_only = r#"{"type":"session.initiate","conversationId":"c1","expectAudioMessages":false,"supportedMediaFormats":["raw/mulaw"]}"#;
    let (_, out) = feed(&mut t, now, text_only);
    assert_eq!(out.replies.len(), 2);
    assert!(matches!(&out.notices[..], [Notice::Rejected { .. }]));
}

#[test]
fn resume_on_a_new_socket_asks_the_server() {
    let now = Instant::now();
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let (result, out) = feed(&mut t, now, r#"{"type":"session.resume","conversationId":"c9"}"#);
    assert_eq!(result, Ok(()));
    assert!(out.replies.is_empty());
    assert_eq!(out.notices, [Notice::ResumeRequested { conversation_id: "c9".to_owned() }]);
    // Audio before the answer is out of order.
    assert_eq!(
        feed(&mut t, now, r#"{"type":"userStream.start","conversationId":"c9"}"#).0,
        Err(WireErrorKind::OutOfOrder)
    );
    let mut frames = Vec::new();
    t.answer_resume(now, ResumeAnswer::Accept { format: Some(AudioFormat::Ulaw) }, &mut frames);
    assert_eq!(texts(&frames), ["session.accepted raw/mulaw"]);
    assert_eq!(t.call().unwrap().call_id, "c9");
    assert_eq!(t.poll_timeout(), None);
    // A second answer is ignored.
    frames.clear();
    t.answer_resume(now, ResumeAnswer::Reject { reason: "x".to_owned() }, &mut frames);
    assert!(frames.is_empty());

    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let _ = feed(&mut t, now, r#"{"type":"session.resume","conversationId":"c9"}"#);
    let mut frames = Vec::new();
    t.answer_resume(
        now,
        ResumeAnswer::Reject { reason: "conversation not found".to_owned() },
        &mut frames,
    );
    assert_eq!(texts(&frames), ["session.error conversation not found", "Close"]);

    // Without the format, the answer names none and the default applies.
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let _ = feed(&mut t, now, r#"{"type":"session.resume","conversationId":"c9"}"#);
    let mut frames = Vec::new();
    t.answer_resume(now, ResumeAnswer::Accept { format: None }, &mut frames);
    assert_eq!(texts(&frames), ["session.accepted"]);
    assert_eq!(t.media_format(), Some(AcFormat::Lpcm16));

    // On the socket that carries the conversation, it is answered at once.
    let mut t = accepted(AudioCodesConfig::default(), now);
    let (_, out) = feed(&mut t, now, r#"{"type":"session.resume","conversationId":"c1"}"#);
    assert_eq!(texts(&out.replies), ["session.accepted raw/mulaw"]);
    assert_eq!(
        feed(&mut t, now, r#"{"type":"session.resume","conversationId":"c2"}"#).0,
        Err(WireErrorKind::WrongStream)
    );
}

#[test]
fn connection_validate_is_answered() {
    let now = Instant::now();
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let (result, out) = feed(&mut t, now, r#"{"type":"connection.validate"}"#);
    assert_eq!(result, Ok(()));
    assert_eq!(
        out.replies,
        [OutFrame::Text(r#"{"type":"connection.validated","success":true}"#.to_owned())]
    );
    assert_eq!(out.notices, [Notice::Validated]);
    // No call follows: the socket is closed at the start deadline.
    let (_, replies) = tick(&mut t, now + Duration::from_secs(5));
    assert_eq!(replies, ["Close"]);
}

#[test]
fn one_play_stream_at_a_time_paced_at_the_playback_rate() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    let ms = |n: u64| t0 + Duration::from_millis(n);
    // One second of µ-law: 300 ms goes at once, in 100 ms chunks.
    assert_eq!(
        play(&mut t, t0, 1, 8000),
        [
            "playStream.start play-1 raw/mulaw",
            "playStream.chunk play-1 800B",
            "playStream.chunk play-1 800B",
            "playStream.chunk play-1 800B"
        ]
    );
    // A second Play joins the same stream and the same queue.
    assert!(play(&mut t, t0, 2, 800).is_empty());
    assert_eq!(t.playout().queued, Duration::from_millis(800));
    // Then one chunk each 100 ms, as the cursor allows.
    assert_eq!(t.poll_timeout(), Some(ms(100)));
    assert!(tick(&mut t, ms(99)).1.is_empty());
    assert_eq!(tick(&mut t, ms(100)).1, ["playStream.chunk play-1 800B"]);
    assert_eq!(t.poll_timeout(), Some(ms(200)));
    for n in 2..=7 {
        assert_eq!(tick(&mut t, ms(100 * n)).1, ["playStream.chunk play-1 800B"], "{n}");
    }
    // The first Play's last byte went at 700 and plays until 1000; heard at 1100.
    assert_eq!(tick(&mut t, ms(800)).1, ["playStream.chunk play-1 800B"]);
    assert_eq!(t.poll_timeout(), Some(ms(1100)));
    assert_eq!(tick(&mut t, ms(1100)), (vec![Input::PlaybackMark(MarkId(1))], vec![]));
    // The stream stops once the second Play is estimated heard.
    assert_eq!(
        tick(&mut t, ms(1200)),
        (vec![Input::PlaybackMark(MarkId(2))], vec!["playStream.stop play-1".to_owned()])
    );
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.playout().confirmed, Duration::from_millis(1100));
    // The next Play opens a new stream.
    assert_eq!(play(&mut t, ms(2000), 3, 160)[0], "playStream.start play-2 raw/mulaw");
}

#[test]
fn a_late_timer_sends_what_is_due_and_nothing_more() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    play(&mut t, t0, 1, 4000);
    // The driver wakes up 350 ms late: the cursor ran dry, so the queue
    // refills the lead from now, not from the stale cursor.
    let (inputs, replies) = tick(&mut t, t0 + Duration::from_millis(450));
    assert!(inputs.is_empty());
    assert_eq!(replies.len(), 2);
    let deadline = t.poll_timeout().unwrap();
    assert!(deadline > t0 + Duration::from_millis(450));
}

#[test]
fn clear_stops_the_stream_and_flushes_what_was_not_heard() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    play(&mut t, t0, 1, 800);
    play(&mut t, t0, 2, 800);
    play(&mut t, t0, 3, 800);
    let (inputs, _) = tick(&mut t, t0 + Duration::from_millis(200));
    assert_eq!(inputs, [Input::PlaybackMark(MarkId(1))]);
    let mut frames = Vec::new();
    t.encode(t0 + Duration::from_millis(210), TransportCommand::Clear, &mut frames);
    assert_eq!(texts(&frames), ["playStream.stop play-1"]);
    assert_eq!(t.poll_timeout(), None);
    let playout = t.playout();
    assert_eq!(
        (playout.confirmed, playout.flushed),
        (Duration::from_millis(100), Duration::from_millis(200))
    );
    // Nothing comes back for the flushed marks.
    assert!(tick(&mut t, t0 + Duration::from_secs(5)).0.is_empty());
}

#[test]
fn hang_up_stops_playing_and_sends_the_hangup_activity() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    play(&mut t, t0, 1, 800);
    let mut frames = Vec::new();
    t.encode(t0, TransportCommand::HangUp, &mut frames);
    assert_eq!(texts(&frames), ["playStream.stop play-1", "activities"]);
    assert_eq!(
        frames[1].text(),
        Some(r#"{"type":"activities","activities":[{"type":"event","name":"hangup"}]}"#)
    );
}

#[test]
fn speech_is_mirrored_to_voiceai_connect() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    let mut frames = Vec::new();
    for event in [
        Event::UserSpeaking(true),
        Event::UserSpeaking(false),
        Event::TurnQueued { pending: 1 },
        Event::Transcript { role: Role::User, text: "how \"are\" you".to_owned() },
        Event::Transcript { role: Role::Assistant, text: "fine".to_owned() },
        Event::AgentSpeaking(true),
    ] {
        t.on_event(t0, &event, &mut frames);
    }
    assert_eq!(
        texts(&frames),
        [
            "userStream.speech.started",
            "userStream.speech.stopped",
            "userStream.speech.committed",
            "userStream.speech.recognition"
        ]
    );
    let recognition: serde_json::Value = serde_json::from_str(frames[3].text().unwrap()).unwrap();
    assert_eq!(recognition["alternatives"][0]["text"], "how \"are\" you");

    let quiet = AudioCodesConfig { mirror_speech: false, ..AudioCodesConfig::default() };
    let mut t = accepted(quiet, t0);
    let mut frames = Vec::new();
    t.on_event(t0, &Event::UserSpeaking(true), &mut frames);
    assert!(frames.is_empty());
}

#[test]
fn bad_messages_are_typed_errors_and_counted() {
    let now = Instant::now();
    let mut fresh = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let chunk = r#"{"type":"userStream.chunk","conversationId":"c1","audioChunk":"//8="}"#;
    assert_eq!(feed(&mut fresh, now, chunk).0, Err(WireErrorKind::OutOfOrder));
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let _ = feed(&mut t, now, &initiate(r#"["raw/lpcm16"]"#));
    // A chunk before userStream.start.
    assert_eq!(feed(&mut t, now, chunk).0, Err(WireErrorKind::OutOfOrder));
    let _ = feed(&mut t, now, r#"{"type":"userStream.start","conversationId":"c1"}"#);
    let cases: &[(&str, WireErrorKind)] = &[
        (
            r#"{"type":"userStream.chunk","conversationId":"c1","audioChunk":"AA=="}"#,
            WireErrorKind::BadAudio,
        ),
        (
            r#"{"type":"userStream.chunk","conversationId":"c1","audioChunk":"***"}"#,
            WireErrorKind::BadAudio,
        ),
        (r#"{"type":"userStream.chunk","conversationId":"c1"}"#, WireErrorKind::Malformed),
        (
            r#"{"type":"userStream.chunk","conversationId":"c2","audioChunk":"AAA="}"#,
            WireErrorKind::WrongStream,
        ),
        (r#"{"type":"session.initiate","conversationId":"c1"}"#, WireErrorKind::OutOfOrder),
        (r#"{"type":"session.initiate"}"#, WireErrorKind::Malformed),
        (r#"{"type":"playStream.start"}"#, WireErrorKind::Unknown),
        (r#"{"conversationId":"c1"}"#, WireErrorKind::Malformed),
        (r#"{"type":"activities","conversationId":"c1"}"#, WireErrorKind::Malformed),
        (
            r#"{"type":"activities","activities":[{"type":"event","name":"dtmf","value":"1x"}]}"#,
            WireErrorKind::Malformed,
        ),
        (
            r#"{"type":"activities","activities":[{"type":"event","name":"dtmf"}]}"#,
            WireErrorKind::Malformed,
        ),
        (
            r#"{"type":"session.initiate","conversationId":"c1","supportedMediaFormats":"raw/mulaw"}"#,
            WireErrorKind::Malformed,
        ),
    ];
    for (frame, kind) in cases {
        assert_eq!(feed(&mut t, now, frame).0, Err(*kind), "{frame}");
    }
    // A bad DTMF in one activity rejects the whole message: nothing half-applied.
    let (result, out) = feed(
        &mut t,
        now,
        r#"{"type":"activities","activities":[{"type":"event","name":"dtmf","value":"1"},{"type":"event","name":"hangup"},{"type":"event","name":"dtmf","value":"?"}]}"#,
    );
    assert_eq!(result, Err(WireErrorKind::Malformed));
    assert!(out.inputs.is_empty());
    // 16 kHz PCM: one sample is two bytes.
    let (result, out) = feed(
        &mut t,
        now,
        r#"{"type":"userStream.chunk","conversationId":"c1","audioChunk":"AAA="}"#,
    );
    assert_eq!(result, Ok(()));
    let [Input::CallerAudio(audio)] = out.inputs.as_slice() else { panic!() };
    assert_eq!(audio.duration, Duration::from_nanos(62_500));
    // Hang-up then session end: the call ends once.
    let (_, out) = feed(
        &mut t,
        now,
        r#"{"type":"activities","activities":[{"type":"event","name":"hangup","activityParams":{"hangupReason":"caller"}}]}"#,
    );
    assert_eq!(out.inputs, [Input::CallEnded]);
    let (_, out) = feed(&mut t, now, r#"{"type":"session.end","conversationId":"c1"}"#);
    assert!(out.inputs.is_empty());
    assert_eq!(out.notices, [Notice::Ended { reason: None }]);
    assert_eq!(
        feed(&mut t, now, r#"{"type":"userStream.stop"}"#).0,
        Err(WireErrorKind::OutOfOrder)
    );
    let c = t.counters();
    assert_eq!(
        (c.out_of_order, c.bad_audio, c.malformed, c.wrong_stream, c.unknown_events),
        (3, 2, 8, 1, 1)
    );
}

#[test]
fn json_in_a_binary_frame_is_read_and_other_bytes_are_refused() {
    let now = Instant::now();
    let mut t = AudioCodesTransport::new(AudioCodesConfig::default(), now);
    let mut out = Decoded::default();
    t.on_frame(now, Frame::Binary(br#"{"type":"connection.validate"}"#), &mut out).unwrap();
    assert_eq!(out.notices, [Notice::Validated]);
    let error = t.on_frame(now, Frame::Binary(&[0xff, 0xfe, 0x00]), &mut out).unwrap_err();
    assert_eq!(error.kind(), WireErrorKind::Binary);
    assert_eq!(t.counters().binary, 1);
}

#[test]
fn a_resumed_leg_accepts_in_its_format_and_plays_on_in_a_new_stream() {
    let t0 = Instant::now();
    let mut t = accepted(AudioCodesConfig::default(), t0);
    let ms = |n: u64| t0 + Duration::from_millis(n);
    assert!(t.resumable());
    // One second queued; 300 ms of it went out on the socket that dropped.
    assert_eq!(play(&mut t, t0, 1, 8000).len(), 4);
    let mut out = Vec::new();
    t.resumed(ms(2000), &mut out);
    assert_eq!(texts(&out), ["session.accepted raw/mulaw"]);
    // The rest goes out under a new stream on the new socket.
    let (_, frames) = tick(&mut t, ms(2000));
    assert_eq!(frames[0], "playStream.start play-2 raw/mulaw");
    assert!(frames[1..].iter().all(|f| f == "playStream.chunk play-2 800B"), "{frames:?}");
    // VoiceAI Connect opens its user stream again before sending audio.
    let chunk = r#"{"type":"userStream.chunk","conversationId":"c1","audioChunk":"f39/fw=="}"#;
    assert_eq!(feed(&mut t, ms(2000), chunk).0, Err(WireErrorKind::OutOfOrder));
    let start = r#"{"type":"userStream.start","conversationId":"c1"}"#;
    assert_eq!(texts(&feed(&mut t, ms(2000), start).1.replies), ["userStream.started"]);
    assert_eq!(feed(&mut t, ms(2000), chunk).0, Ok(()));
    // Once the conversation ended there is nothing to resume.
    let end = r#"{"type":"session.end","conversationId":"c1","reasonCode":"x","reason":"y"}"#;
    assert_eq!(feed(&mut t, ms(2100), end).0, Ok(()));
    assert!(!t.resumable());
    let mut out = Vec::new();
    t.resumed(ms(2200), &mut out);
    assert!(out.is_empty());
}
