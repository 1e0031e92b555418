//! The carrier-side identifiers of a call, a small seeded generator for
//! them, and the wall-clock text form carriers put in their messages.

use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64: a tiny seeded generator. The callers need a few random ids
/// and reorder decisions per call, reproducible from a seed, and nothing
/// that a statistical test would notice.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// A generator for one call: the run's seed mixed with the call's id, so
    /// that concurrent calls of one run differ and a rerun repeats them.
    pub(super) fn for_call(seed: u64, call_id: &str) -> Rng {
        // FNV-1a over the id, then mixed with the seed.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in call_id.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(seed ^ hash.rotate_left(17))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        // The top 53 bits make an exact double in [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` lowercase hex digits.
    pub(super) fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(len);
        let mut bits = 0u64;
        for i in 0..len {
            if i % 16 == 0 {
                bits = self.next_u64();
            }
            let digit = DIGITS.get((bits & 0xF) as usize).copied().unwrap_or(b'0');
            text.push(char::from(digit));
            bits >>= 4;
        }
        text
    }

    /// A random version-4-shaped UUID in its usual text form.
    pub(super) fn uuid(&mut self) -> String {
        let hex = self.hex(32);
        let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or("0");
        format!(
            "{}-{}-4{}-a{}-{}",
            part(0..8),
            part(8..12),
            part(13..16),
            part(17..20),
            part(20..32)
        )
    }
}

/// The Twilio `CallSid` a caller uses for `call_id`: the id itself when it
/// already looks like one, else `CA` followed by it. Servers key their
/// records by this, so tests and the demo can find a call by its id.
pub fn twilio_call_sid(call_id: &str) -> String {
    if call_id.starts_with("CA") { call_id.to_owned() } else { format!("CA{call_id}") }
}

/// The Telnyx `call_control_id` a caller uses for `call_id` (`v3:` and the
/// id, unless it already has a version prefix). Webhooks built for the call
/// must carry the same one.
pub fn telnyx_call_control_id(call_id: &str) -> String {
    if call_id.starts_with("v2:") || call_id.starts_with("v3:") {
        call_id.to_owned()
    } else {
        format!("v3:{call_id}")
    }
}

/// The AudioCodes `conversationId` a caller uses for `call_id`: the id.
pub fn audiocodes_conversation_id(call_id: &str) -> String {
    call_id.to_owned()
}

/// `time` as RFC 3339 in UTC with microseconds, the form Telnyx uses in
/// `occurred_at` (`2025-06-05T08:54:19.698408Z`).
pub(super) fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}
