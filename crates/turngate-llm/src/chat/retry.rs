//! Pure retry and polling arithmetic: when to try again, and how long to wait.
//!
//! Nothing here sleeps or reads a clock; callers pass the current time and a
//! random number in, so every rule is testable with plain values.
#![cfg_attr(
    not(any(feature = "openai-assistants", feature = "openai-responses")),
    allow(dead_code, reason = "the arithmetic serves the HTTP providers")
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a failed HTTP request is tried again (OpenAI REST conventions).
///
/// - `retry-after-ms`, then `Retry-After` (seconds or an HTTP date) are
///   honoured, capped at `max_retry_after`;
/// - otherwise exponential backoff from `initial` doubling up to `max`,
///   each delay shortened by up to a quarter at random (jitter);
/// - `408`, `409`, `429 rate_limit_exceeded` and `5xx` are retried;
///   `429 insufficient_quota` and every other status are not;
/// - `x-should-retry` overrides the status rule when present;
/// - every wait is bounded by the request's deadline: a delay that would end
///   past it is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff delay.
    pub initial: Duration,
    /// The longest backoff delay.
    pub max: Duration,
    /// The longest server-requested delay we honour; longer hints fail fast.
    pub max_retry_after: Duration,
    /// How many retries at most, on top of the first attempt.
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            max_retries: 6,
        }
    }
}

/// What the server said about retrying, read from its response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RetryHints {
    /// The delay the server asked for (`retry-after-ms` or `Retry-After`).
    pub(crate) after: Option<Duration>,
    /// `x-should-retry: true|false`.
    pub(crate) should_retry: Option<bool>,
}

impl RetryHints {
    /// Reads the hints from header values (`retry-after-ms`, `retry-after`,
    /// `x-should-retry`), with `now` for HTTP dates.
    pub(crate) fn from_headers(
        retry_after_ms: Option<&str>,
        retry_after: Option<&str>,
        should_retry: Option<&str>,
        now: SystemTime,
    ) -> Self {
        let after = retry_after_ms
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .or_else(|| retry_after.and_then(|v| parse_retry_after(v, now)));
        let should_retry = match should_retry.map(str::trim) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        Self { after, should_retry }
    }
}

/// Whether to retry, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryDecision {
    /// Wait this long, then try again.
    After(Duration),
    /// Do not retry.
    GiveUp,
}

impl RetryPolicy {
    /// Whether an HTTP status is worth retrying, given the upstream error
    /// code (which separates the two kinds of 429).
    pub(crate) fn retryable_status(status: u16, code: Option<&str>) -> bool {
        match status {
            429 => code != Some("insufficient_quota"),
            408 | 409 => true,
            s => s >= 500,
        }
    }

    /// The decision after failed attempt number `attempt` (0 for the first
    /// attempt). `random` is any uniformly random number, for jitter;
    /// `remaining` is the time left before the request's deadline.
    pub(crate) fn decide(
        &self,
        retryable: bool,
        hints: RetryHints,
        attempt: u32,
        random: u64,
        remaining: Duration,
    ) -> RetryDecision {
        let retryable = hints.should_retry.unwrap_or(retryable);
        if !retryable || attempt >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        let delay = match hints.after {
            Some(after) if after > self.max_retry_after => return RetryDecision::GiveUp,
            Some(after) => after,
            None => self.backoff(attempt, random),
        };
        if delay >= remaining { RetryDecision::GiveUp } else { RetryDecision::After(delay) }
    }

    /// Exponential backoff with jitter: `initial * 2^attempt`, capped at
    /// `max`, then shortened by up to 25 % according to `random`.
    pub(crate) fn backoff(&self, attempt: u32, random: u64) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        let full = self.initial.saturating_mul(factor).min(self.max);
        shorten(full, random, 4)
    }
}

/// How often to look at something that will change state on its own (a run
/// finishing, a cancel taking effect).
///
/// The interval starts at `initial` and grows by half each time up to `max`;
/// each one is shortened by up to a fifth at random so many waiters do not
/// poll in lockstep, and so the time between the awaited change and our
/// noticing it averages about `max / 2` even when the change comes at a
/// fixed delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollBackoff {
    /// The first interval.
    pub initial: Duration,
    /// The longest interval.
    pub max: Duration,
}

impl Default for PollBackoff {
    fn default() -> Self {
        // The wait between a blocking run's end and our noticing it is
        // about half an interval; at 100–150 ms that alone was most of the
        // 95–104 ms recovery overhead `turngate-loadgen chat` measured.
        // These polls last only while a cancel settles or a lock is held.
        Self { initial: Duration::from_millis(50), max: Duration::from_millis(100) }
    }
}

impl PollBackoff {
    /// The interval before poll number `attempt` (0-based).
    pub(crate) fn interval(&self, attempt: u32, random: u64) -> Duration {
        let mut full = self.initial;
        for _ in 0..attempt.min(32) {
            full = full.saturating_add(full / 2);
            if full >= self.max {
                break;
            }
        }
        shorten(full.min(self.max), random, 5)
    }
}

/// `full` shortened by up to `1/divisor` of itself according to `random`.
fn shorten(full: Duration, random: u64, divisor: u32) -> Duration {
    let span = full / divisor;
    let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
    let cut = if nanos == 0 { 0 } else { random % nanos };
    full.saturating_sub(Duration::from_nanos(cut))
}

/// Parses `Retry-After`: either delta seconds or an IMF-fixdate HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). A date in the past means "now".
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an IMF-fixdate, the only date format
/// HTTP/1.1 senders may generate.
fn parse_http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || clock.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let day = u32::try_from(day).ok()?;
    let days = u64::try_from(days_from_civil(i64::try_from(year).ok()?, month, day)).ok()?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 (negative before it) of a proleptic Gregorian
/// date: Howard Hinnant's days-from-civil algorithm
/// (http://howardhinnant.github.io/date_algorithms.html). Shared by the
/// HTTP dates here and the model API's shutdown dates.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A random number for jitter without a dependency: the standard library
/// seeds each `RandomState` from the OS once per thread and varies it per
/// instance.
pub(crate) fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x7475_726e_6761_7465);
    hasher.finish()
}
