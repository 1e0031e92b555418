//! The simulated model: deterministic answers from the conversation's text.

/// The marker that makes work never end by itself.
pub(crate) const HANG: &str = "[hang]";

/// The reply to `latest` (the latest user text), with the tool outputs the
/// model was given on the way.
pub(crate) fn reply(latest: &str, tool_outputs: &[(String, String)]) -> String {
    let mut text = format!("echo: {latest}");
    for (name, output) in tool_outputs {
        text.push_str(&format!(" [{name} returned {output}]"));
    }
    text
}

/// The tools the model calls for `latest`, among those it may use:
/// every `name` whose `call:name` appears in the text, in the tools' order.
pub(crate) fn wanted_tools<'a>(latest: &str, tools: &'a [String]) -> Vec<&'a String> {
    tools.iter().filter(|name| latest.contains(&format!("call:{name}"))).collect()
}

/// The arguments the model passes: the text it is answering.
pub(crate) fn arguments(latest: &str) -> String {
    serde_json::json!({ "text": latest }).to_string()
}
