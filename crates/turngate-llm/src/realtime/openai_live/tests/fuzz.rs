//! The fuzz harness run in the test suite: a realistic session, then
//! seeded mutations of it (`crate::realtime::mutate`).

use super::super::fuzz::fuzz_server_events;

/// A session as GPT-Live might send it, with our own steps between.
pub(crate) const SEED: &str = "\u{1}
!a160
{\"type\":\"session.input_transcript.delta\",\"event_id\":\"e1\",\"delta\":\" Where is my order?\",\"start_ms\":0,\"end_ms\":900}
{\"type\":\"session.output_audio.delta\",\"delta\":\"//////////////////////////8=\"}
{\"type\":\"session.output_audio.delta\",\"delta\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}
{\"type\":\"session.output_transcript.delta\",\"event_id\":\"e2\",\"delta\":\"One moment.\",\"start_ms\":900,\"end_ms\":1400}
{\"type\":\"session.delegation.created\",\"event_id\":\"e3\",\"offset_ms\":950,\"delegation\":{\"id\":\"deleg_1\",\"type\":\"delegation\",\"target\":\"client\"}}
!k80
!f1
{\"type\":\"session.commentary.appended\",\"event_id\":\"e4\",\"client_event_id\":\"fz:1:1\",\"start_ms\":1500,\"end_ms\":1600}
!i
{\"type\":\"error\",\"event_id\":\"e5\",\"error\":{\"type\":\"server_error\",\"code\":\"server_error\",\"message\":\"try again\",\"client_event_id\":\"fz:1:2\"}}
{\"type\":\"error\",\"event_id\":\"e6\",\"error\":{\"type\":\"invalid_request_error\",\"code\":\"invalid_value\",\"message\":\"Context append text must not exceed 500 tokens.\",\"param\":\"content\",\"client_event_id\":\"fz:1:2\"}}
{\"type\":\"session.usage.updated\",\"event_id\":\"e7\",\"usage\":{\"seconds\":15}}
{\"type\":\"something.new\",\"event_id\":\"e8\"}
!f1
!k10
{\"type\":\"session.closed\",\"event_id\":\"e9\",\"reason\":\"connection_lost\",\"session\":{\"id\":\"live_fz\",\"expires_at\":1,\"status\":\"active\"},\"usage\":{\"seconds\":20}}
!k8000
!a160
!k100
{\"type\":\"session.closed\",\"event_id\":\"e10\",\"reason\":\"close_requested\",\"session\":{\"id\":\"live_fz\",\"expires_at\":1,\"status\":\"active\"},\"usage\":{\"seconds\":99}}
!d
!u
!a160
!k500";

/// A Responses-delegation session: two backend calls, one uncorrelated,
/// an output given twice, a lost session and an output for its call.
pub(crate) const RESPONSES_SEED: &str = "\u{3}
!a160
{\"type\":\"session.input_transcript.delta\",\"event_id\":\"e1\",\"delta\":\" Where is order 42?\",\"start_ms\":0,\"end_ms\":900}
{\"type\":\"session.delegation.created\",\"event_id\":\"e2\",\"offset_ms\":950,\"delegation\":{\"id\":\"deleg_1\",\"type\":\"delegation\",\"target\":\"responses\",\"response_id\":\"resp_1\"}}
{\"type\":\"response.event\",\"event_id\":\"e3\",\"delegation_id\":\"deleg_1\",\"event\":{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}}
{\"type\":\"response.event\",\"event_id\":\"e4\",\"delegation_id\":\"deleg_1\",\"event\":{\"type\":\"response.output_item.done\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}}
{\"type\":\"response.event\",\"event_id\":\"e5\",\"delegation_id\":\"deleg_1\",\"event\":{\"type\":\"response.output_item.done\",\"sequence_number\":2,\"output_index\":1,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"lookup_order\",\"arguments\":\"{\\\"order\\\":\\\"42\\\"}\",\"status\":\"completed\"}}}
{\"type\":\"response.event\",\"event_id\":\"e6\",\"event\":{\"type\":\"response.output_item.done\",\"sequence_number\":3,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_2\",\"name\":\"time\",\"arguments\":\"{}\",\"status\":\"completed\"}}}
!f1
{\"type\":\"response.event\",\"event_id\":\"e7\",\"delegation_id\":\"deleg_1\",\"event\":{\"type\":\"response.completed\",\"sequence_number\":4,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[]}}}
!f2
!f2
{\"type\":\"error\",\"event_id\":\"e8\",\"error\":{\"type\":\"invalid_request_error\",\"code\":null,\"message\":\"No tool output found for function call call_2.\",\"client_event_id\":\"fz:1:continue3\"}}
!d
!u
!f1
!k500";

#[test]
fn the_realistic_session_reaches_the_core() {
    let inputs = fuzz_server_events(SEED.as_bytes());
    assert!(inputs >= 6, "only {inputs} inputs: the seed does not get past the parser");
    let inputs = fuzz_server_events(RESPONSES_SEED.as_bytes());
    assert!(inputs >= 5, "only {inputs} inputs: the Responses seed does not get past the parser");
}

#[test]
fn mutated_sessions_never_panic_or_produce_bad_frames() {
    crate::realtime::mutate::never_panics(SEED, fuzz_server_events);
    crate::realtime::mutate::never_panics(RESPONSES_SEED, fuzz_server_events);
}
