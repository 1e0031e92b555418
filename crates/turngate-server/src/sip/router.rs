//! The application's say on a direct-SIP call: accept it (as configured,
//! or with a session of its own), reject it, or refer it elsewhere. Asked
//! once per call, by the one worker whose claim on the call was first.

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;
use turngate_llm::sip::SipHeader;

use crate::config::VoiceApi;

/// An incoming call waiting for its decision.
#[derive(Debug)]
pub struct IncomingSipCall<'a> {
    /// The API the call would run on.
    pub voice_api: VoiceApi,
    /// OpenAI's id of the pending call (`rtc_…` or `live_…`).
    pub call_id: &'a str,
    /// The INVITE's headers, authorization removed by OpenAI, in order.
    /// They come from whoever placed the call: never authorise on them.
    pub headers: &'a [SipHeader],
}

impl IncomingSipCall<'_> {
    /// The first header named `name` (case-insensitive), if any.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }
}

/// What to do with an incoming call.
#[derive(Clone, Debug, PartialEq)]
pub enum SipDecision {
    /// Accept it with the configured model, instructions and voice.
    Accept,
    /// Accept it with this session configuration (a JSON object of the
    /// call's API: flat for Realtime, the inside of `session` for GPT-Live).
    AcceptWith(Value),
    /// Reject it with this SIP status (300 to 699; 486 busy, 603 decline).
    Reject {
        /// The SIP status the caller gets.
        status_code: u16,
    },
    /// Send it elsewhere: a `tel:` or `sip:` URI, which becomes the SIP
    /// `Refer-To` header.
    Refer {
        /// Where to.
        target_uri: String,
    },
}

/// Decides on incoming direct-SIP calls. It runs on the accept path of a
/// ringing call, so it must answer quickly: the server waits for it at most
/// [`ROUTER_TIMEOUT`](super::ROUTER_TIMEOUT) and then rejects the call with
/// 480 (temporarily unavailable) rather than leave it ringing.
#[async_trait]
pub trait SipRouter: fmt::Debug + Send + Sync {
    /// The decision for `call`.
    async fn route(&self, call: &IncomingSipCall<'_>) -> SipDecision;
}

/// Accepts every call as configured (the default).
#[derive(Debug, Default)]
pub struct AcceptAll;

#[async_trait]
impl SipRouter for AcceptAll {
    async fn route(&self, _call: &IncomingSipCall<'_>) -> SipDecision {
        SipDecision::Accept
    }
}
