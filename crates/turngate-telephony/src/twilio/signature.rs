//! Twilio request signatures (`X-Twilio-Signature`): pure functions.
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter
//! sorted by name as `name` + `value`)). Twilio is not consistent about the
//! port in the signed URL, so, like Twilio's own validators, a URL is
//! accepted with the default port present or absent. JSON-bodied webhooks
//! sign the URL alone and carry the body's SHA-256 in its `bodySHA256`
//! query parameter. WebSocket upgrades are signed over the `wss://` URL.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::transport::{SignatureError, b64_decode, b64_encode_into};

type HmacSha1 = Hmac<Sha1>;

/// Checks `X-Twilio-Signature` headers with an account's auth token.
#[derive(Clone)]
pub struct RequestValidator {
    auth_token: String,
}

impl fmt::Debug for RequestValidator {
    // The token is a secret; never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestValidator").field("auth_token", &"<redacted>").finish()
    }
}

impl RequestValidator {
    /// A validator for the account whose auth token this is.
    pub fn new(auth_token: impl Into<String>) -> RequestValidator {
        RequestValidator { auth_token: auth_token.into() }
    }

    /// The signature Twilio would send for `url` and form `params`.
    pub fn sign(&self, url: &str, params: &[(&str, &str)]) -> String {
        let mac = self.mac(url, params);
        let mut out = String::with_capacity(28);
        b64_encode_into(&mac.finalize().into_bytes(), &mut out);
        out
    }

    /// Validates a form-encoded webhook (the voice URL that answers with
    /// TwiML, status callbacks): `url` exactly as Twilio requested it, query
    /// included; `params` the POST body's parameters, in any order.
    pub fn validate(
        &self,
        url: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let expected = decode_signature(signature)?;
        let (with_port, without_port) = port_variants(url);
        for candidate in
            [Some(url), with_port.as_deref(), without_port.as_deref()].into_iter().flatten()
        {
            // `verify_slice` compares in constant time.
            if self.mac(candidate, params).verify_slice(&expected).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }

    /// Validates a JSON-bodied webhook: the URL carries `bodySHA256`, the
    /// hex SHA-256 of the raw body, and the signature covers the URL alone.
    pub fn validate_json(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let claimed =
            query_param(url, "bodySHA256").ok_or(SignatureError::Missing("bodySHA256"))?;
        let actual = hex(&Sha256::digest(body));
        if !ct_eq_ignore_case(claimed.as_bytes(), actual.as_bytes()) {
            // A body that does not match is refused whatever the signature says.
            return Err(SignatureError::BodyMismatch);
        }
        self.validate(url, &[], signature)
    }

    /// Validates the WebSocket upgrade of a Media Streams connection. Twilio
    /// signs the `wss://` URL; a server behind a proxy that sees `https://`
    /// (or `http://`) passes what it sees, and the scheme is rewritten here.
    pub fn validate_upgrade(
        &self,
        url: &str,
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let rewritten = if let Some(rest) = url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            url.to_owned()
        };
        self.validate(&rewritten, &[], signature)
    }

    fn mac(&self, url: &str, params: &[(&str, &str)]) -> HmacSha1 {
        let Ok(mut mac) = HmacSha1::new_from_slice(self.auth_token.as_bytes()) else {
            unreachable!("invariant: HMAC accepts keys of any length")
        };
        mac.update(url.as_bytes());
        let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
        // Names in byte order (Twilio's "Unix-style case-sensitive" sort);
        // repeated names in the order of their values, as Twilio's SDKs do.
        sorted.sort_unstable();
        for (name, value) in sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac
    }
}

fn decode_signature(signature: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty());
    let signature = signature.ok_or(SignatureError::Missing("X-Twilio-Signature"))?;
    b64_decode(signature).map_err(|_| SignatureError::BadEncoding("X-Twilio-Signature"))
}

/// The URL with its scheme's default port added, and with any port removed
/// (each `None` when it would equal the URL).
fn port_variants(url: &str) -> (Option<String>, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (None, None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = authority.get(host_start..).unwrap_or_default();
    // A port is `:digits` after the host (and after `]` for an IPv6 literal).
    let port_at = host_port.rfind(':').filter(|&colon| {
        let digits = host_port.get(colon + 1..).unwrap_or_default();
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !host_port.get(colon..).unwrap_or_default().contains(']')
    });
    match port_at {
        Some(colon) => {
            let cut = host_start + colon;
            let without = format!("{scheme}://{}{tail}", authority.get(..cut).unwrap_or_default());
            (None, Some(without))
        }
        None => {
            let port = match scheme.to_ascii_lowercase().as_str() {
                "https" | "wss" => 443,
                "http" | "ws" => 80,
                _ => return (None, None),
            };
            (Some(format!("{scheme}://{authority}:{port}{tail}")), None)
        }
    }
}

/// The first value of a query parameter, as written (not percent-decoded:
/// the parameters we read are hex digits).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0xf] {
            out.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    out
}

/// Compares without an early exit (lengths are public: a SHA-256 is 64 hex digits).
fn ct_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase()))
        == 0
}
