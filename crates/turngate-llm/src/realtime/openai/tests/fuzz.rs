//! The fuzz harness run in the test suite: a realistic session, then
//! seeded mutations of it (`crate::realtime::mutate`).

use super::super::fuzz::fuzz_server_events;

/// A session as the server might send it, with our own steps between.
pub(crate) const SEED: &str = "\u{1}
{\"type\":\"input_audio_buffer.speech_started\",\"event_id\":\"e1\",\"audio_start_ms\":100,\"item_id\":\"item_1\"}
!a1600
{\"type\":\"input_audio_buffer.speech_stopped\",\"event_id\":\"e2\",\"audio_end_ms\":900,\"item_id\":\"item_1\"}
!c
{\"type\":\"input_audio_buffer.committed\",\"event_id\":\"e3\",\"previous_item_id\":null,\"item_id\":\"item_1\"}
!r
{\"type\":\"response.created\",\"event_id\":\"e4\",\"response\":{\"id\":\"resp_1\",\"object\":\"realtime.response\",\"status\":\"in_progress\",\"metadata\":{\"turngate_create\":\"tg3\"},\"output\":[]}}
{\"type\":\"response.output_item.added\",\"event_id\":\"e5\",\"response_id\":\"resp_1\",\"output_index\":0,\"item\":{\"id\":\"item_2\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}
{\"type\":\"response.output_audio.delta\",\"event_id\":\"e6\",\"response_id\":\"resp_1\",\"item_id\":\"item_2\",\"output_index\":0,\"content_index\":0,\"delta\":\"//////////8=\"}
!k10
{\"type\":\"response.output_audio_transcript.done\",\"event_id\":\"e7\",\"response_id\":\"resp_1\",\"item_id\":\"item_2\",\"output_index\":0,\"content_index\":0,\"transcript\":\"hello\"}
!t20
{\"type\":\"response.output_item.added\",\"event_id\":\"e8\",\"response_id\":\"resp_1\",\"output_index\":1,\"item\":{\"id\":\"item_3\",\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"lookup\",\"arguments\":\"\"}}
{\"type\":\"response.output_item.done\",\"event_id\":\"e9\",\"response_id\":\"resp_1\",\"output_index\":1,\"item\":{\"id\":\"item_3\",\"type\":\"function_call\",\"call_id\":\"call_1\",\"name\":\"lookup\",\"arguments\":\"{}\"}}
{\"type\":\"response.done\",\"event_id\":\"e10\",\"response\":{\"id\":\"resp_1\",\"object\":\"realtime.response\",\"status\":\"completed\",\"output\":[]}}
!f1
!o
{\"type\":\"error\",\"event_id\":\"e11\",\"error\":{\"type\":\"invalid_request_error\",\"code\":\"conversation_already_has_active_response\",\"message\":\"Conversation already has an active response in progress: resp_1.\",\"event_id\":\"tg6\"}}
!x1
!d
!u
{\"type\":\"session.updated\",\"event_id\":\"e12\",\"session\":{}}
{\"type\":\"rate_limits.updated\",\"event_id\":\"e13\",\"rate_limits\":[]}
{\"type\":\"something.new\",\"event_id\":\"e14\"}
!k500";

#[test]
fn the_realistic_session_reaches_the_core() {
    let inputs = fuzz_server_events(SEED.as_bytes());
    assert!(inputs >= 8, "only {inputs} inputs: the seed does not get past the parser");
}

#[test]
fn mutated_sessions_never_panic_or_produce_bad_frames() {
    crate::realtime::mutate::never_panics(SEED, fuzz_server_events);
}
