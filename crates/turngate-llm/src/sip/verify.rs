//! The signature check of OpenAI's webhooks: Standard Webhooks with
//! HMAC-SHA256, as openai-python 3.57.0 verifies them
//! (`openai/lib/_webhooks.py`, `Webhooks.verify_signature` and
//! `Webhooks.unwrap` in `openai/resources/webhooks/webhooks.py`) and as
//! OpenAI's webhooks guide describes them
//! (<https://developers.openai.com/api/docs/guides/webhooks>).
//!
//! Pure functions: the caller passes the headers, the raw body and the
//! current time in Unix seconds. The error texts are the SDK's, so a log line
//! reads the same whichever side of a deployment wrote it.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::{WebhookError, WebhookEvent, parse_event};

type HmacSha256 = Hmac<Sha256>;

/// The header carrying one or more `v1,<base64>` signatures, separated by
/// whitespace.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The header carrying the signing time in Unix seconds, as a decimal integer.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the delivery's id, the first part of the signed content.
pub const ID_HEADER: &str = "webhook-id";

/// How far the signed timestamp may be from now, either side: 300 s, the
/// SDK's default `tolerance` of `verify_signature`.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The largest body hashed by default. OpenAI's call webhooks are a few
/// kilobytes (the INVITE's headers are the bulk), so 1 MiB leaves room for
/// any INVITE while bounding the work a forged request can cost.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// The most entries a `webhook-signature` header may hold. OpenAI sends one,
/// and Standard Webhooks uses several only while a secret is rotated, so 16
/// is generous; more is refused before any hashing or comparing.
pub const MAX_SIGNATURES: usize = 16;

/// A secret written as `whsec_<base64>` is the base64 of the key; any other
/// secret is the key as its UTF-8 bytes (`_webhooks.py`).
const SECRET_PREFIX: &str = "whsec_";
/// The version tag of a signature entry: `v1,` marks HMAC-SHA256.
const SIGNATURE_PREFIX: &str = "v1,";

/// Why a configured secret cannot be used. Found when the verifier is
/// built, so a misconfigured deployment fails at start rather than refusing
/// every call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret was given at all.
    #[error("no webhook secret is configured")]
    NoSecret,
    /// A secret (1-based position in the list) is empty, or is `whsec_`
    /// with nothing after it: an empty HMAC key would make any holder of
    /// the empty string a signer.
    #[error("webhook secret {position} is empty")]
    Empty {
        /// Its position in the configured list, from 1.
        position: usize,
    },
    /// A secret starts with `whsec_` but the rest is not standard base64
    /// with padding.
    #[error("webhook secret {position} starts with `whsec_` but the rest is not standard base64")]
    NotBase64 {
        /// Its position in the configured list, from 1.
        position: usize,
    },
}

/// Why a webhook request does not verify. The first seven texts are the
/// SDK's own (`InvalidWebhookSignatureError` and `get_required_header`'s
/// `ValueError`); the two bounds are ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// One of the three headers is absent (an empty one counts as present,
    /// as in the SDK).
    #[error("Could not find {0} header")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer.
    #[error("Invalid webhook timestamp format")]
    InvalidTimestamp,
    /// The timestamp is more than the tolerance before now.
    #[error("Webhook timestamp is too old")]
    TooOld,
    /// The timestamp is more than the tolerance after now.
    #[error("Webhook timestamp is too new")]
    TooNew,
    /// The body is larger than the verifier hashes; refused before hashing.
    #[error("The webhook body is {len} bytes, over the {max} byte limit")]
    BodyTooLarge {
        /// The body's length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// `webhook-signature` holds more entries than [`MAX_SIGNATURES`];
    /// refused before hashing.
    #[error("The webhook-signature header holds {count} entries, over the limit of {max}")]
    TooManySignatures {
        /// How many whitespace-separated entries the header holds.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// No signature matches any configured secret.
    #[error("The given webhook signature does not match the expected signature")]
    Mismatch,
}

/// Why [`WebhookVerifier::verify_and_parse`] refused a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    /// The request is not signed by OpenAI (or is stale, or too large). The
    /// body was not parsed.
    #[error(transparent)]
    Signature(#[from] VerifyError),
    /// The request is signed, but the body is not an event we can read.
    #[error(transparent)]
    Body(#[from] WebhookError),
}

/// Checks the signatures of OpenAI's webhooks with the endpoint's signing
/// secret, or several while one is rotated (`rotate_secret` can keep the old
/// secret valid for 24 hours: configure both until then).
#[derive(Clone)]
pub struct WebhookVerifier {
    /// The HMAC keys, decoded once, in the order configured.
    keys: Vec<Vec<u8>>,
    tolerance_secs: u64,
    max_body_bytes: usize,
}

impl fmt::Debug for WebhookVerifier {
    // The keys are secrets; never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.keys.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for one signing secret (`whsec_…` as OpenAI shows it, or
    /// any other string, used as it is).
    pub fn new(secret: &str) -> Result<WebhookVerifier, SecretError> {
        WebhookVerifier::with_secrets([secret])
    }

    /// A verifier that accepts a signature made with any of these secrets:
    /// the new and the old one while a secret is rotated.
    pub fn with_secrets<I, S>(secrets: I) -> Result<WebhookVerifier, SecretError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            keys.push(decode_secret(secret.as_ref(), index + 1)?);
        }
        if keys.is_empty() {
            return Err(SecretError::NoSecret);
        }
        Ok(WebhookVerifier {
            keys,
            tolerance_secs: DEFAULT_TOLERANCE.as_secs(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        })
    }

    /// Changes how far the signed timestamp may be from now, either side.
    /// Whole seconds count, since the timestamp has no finer resolution.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> WebhookVerifier {
        self.tolerance_secs = tolerance.as_secs();
        self
    }

    /// Changes the largest body that is hashed.
    #[must_use]
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> WebhookVerifier {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// How far the signed timestamp may be from now.
    #[must_use]
    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(self.tolerance_secs)
    }

    /// The largest body that is hashed.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Verifies one request: its headers as received (names in any case;
    /// for a repeated name the first occurrence counts, as the SDK's lookup
    /// returns one value), the raw body bytes, and the current time in Unix
    /// seconds.
    ///
    /// The steps and their order are the SDK's: the three headers, the
    /// timestamp's format, the replay window (a timestamp exactly the
    /// tolerance away is accepted), then the signatures. Our two bounds come
    /// right before anything is hashed.
    pub fn verify(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), VerifyError> {
        let signature_header = find_header(headers, SIGNATURE_HEADER)?;
        let timestamp = find_header(headers, TIMESTAMP_HEADER)?;
        let webhook_id = find_header(headers, ID_HEADER)?;

        // The SDK reads the timestamp with Python's `int()`, which also takes
        // surrounding whitespace and digit underscores; OpenAI sends plain
        // digits, so the strict reading (an optional sign and digits) loses
        // nothing. The string as received is what is signed, either way.
        let signed_at: i64 = timestamp.parse().map_err(|_| VerifyError::InvalidTimestamp)?;
        // In i128, so no timestamp (nor `now`) can overflow the comparison.
        let (now, signed_at, tolerance) =
            (i128::from(now_unix_secs), i128::from(signed_at), i128::from(self.tolerance_secs));
        if now - signed_at > tolerance {
            return Err(VerifyError::TooOld);
        }
        if signed_at > now + tolerance {
            return Err(VerifyError::TooNew);
        }

        if body.len() > self.max_body_bytes {
            return Err(VerifyError::BodyTooLarge { len: body.len(), max: self.max_body_bytes });
        }
        let count = signature_header.split_whitespace().count();
        if count > MAX_SIGNATURES {
            return Err(VerifyError::TooManySignatures { count, max: MAX_SIGNATURES });
        }
        // The SDK strips `v1,` where present and compares an entry without
        // it whole. We take the strict reading: only `v1,` entries are
        // HMAC-SHA256 signatures, and an entry of another version (or none)
        // is ignored, so a future scheme's value is never compared as if it
        // were ours.
        let signatures: Vec<&str> = signature_header
            .split_whitespace()
            .filter_map(|entry| entry.strip_prefix(SIGNATURE_PREFIX))
            .collect();

        let mut matched = false;
        for key in &self.keys {
            let expected = signature(key, webhook_id, timestamp, body);
            for candidate in &signatures {
                // Every pair is compared, each in constant time: whether and
                // where a match is found says nothing about the expected value.
                matched |= constant_time_eq(expected.as_bytes(), candidate.as_bytes());
            }
        }
        if matched { Ok(()) } else { Err(VerifyError::Mismatch) }
    }

    /// Verifies one request as [`verify`](Self::verify) does and only then
    /// parses its body: the SDK's `unwrap`. An unverified body is never
    /// parsed, so a forged request costs no more than one HMAC per secret.
    pub fn verify_and_parse(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<WebhookEvent, UnwrapError> {
        self.verify(headers, body, now_unix_secs)?;
        Ok(parse_event(body)?)
    }

    /// The `webhook-signature` value OpenAI would send for this delivery,
    /// made with the first configured secret (`v1,<base64>`): for the
    /// simulators and tests that play OpenAI's part.
    #[must_use]
    pub fn sign(&self, webhook_id: &str, timestamp: &str, body: &[u8]) -> String {
        let key = self.keys.first().map_or(&[][..], Vec::as_slice);
        format!("{SIGNATURE_PREFIX}{}", signature(key, webhook_id, timestamp, body))
    }
}

/// The HMAC key a configured secret stands for.
fn decode_secret(secret: &str, position: usize) -> Result<Vec<u8>, SecretError> {
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        // Standard alphabet with padding, as the SDK's `base64.b64decode`
        // reads it; where Python would skip stray characters, we refuse, so
        // a secret pasted with a typo fails at start rather than silently
        // giving another key.
        Some(encoded) => {
            STANDARD.decode(encoded).map_err(|_| SecretError::NotBase64 { position })?
        }
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err(SecretError::Empty { position });
    }
    Ok(key)
}

/// The first header of that name, compared case-insensitively (HTTP header
/// names are; the SDK lowercases both sides).
fn find_header<'h>(
    headers: &[(&'h str, &'h str)],
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| *value)
        .ok_or(VerifyError::MissingHeader(name))
}

/// `base64(HMAC-SHA256(key, "{webhook_id}.{timestamp}.{body}"))`, standard
/// alphabet with padding. The timestamp is the header exactly as received
/// and the body the raw bytes: re-serialised JSON would not match. (The SDK
/// decodes the body as UTF-8 and encodes it again, which gives the same
/// bytes for any body that is UTF-8; a body that is not could not be JSON.)
fn signature(key: &[u8], webhook_id: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        unreachable!("invariant: HMAC accepts keys of any length")
    };
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Compares two strings without an early exit on the first difference, as
/// the SDK's `hmac.compare_digest` does. Lengths are public: every valid
/// signature is 44 characters.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
