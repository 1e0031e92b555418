//! What the model API says about a model: whether it exists for this key and
//! when it shuts down.
//!
//! `GET /v1/models/{model}` answers with a model object; OpenAI adds an
//! optional `shutdown_date` (`YYYY-MM-DD`, or null when no shutdown is
//! announced) to it, as its deprecations page describes
//! (<https://developers.openai.com/api/docs/deprecations>). After that date
//! requests naming the model fail; they are not rerouted to another model. A
//! model the key cannot use is answered 404 with the error code
//! `model_not_found`.
//!
//! This module only reads the answer; what to do about it (warn, refuse to
//! start) is the application's decision.

use std::fmt;
use std::time::SystemTime;

use serde::Deserialize;
use tokio::time::Instant;

use crate::chat::rest::{Failure, Idempotency, Method, RestClient};
use crate::chat::retry::days_from_civil;
use crate::chat::{ChatError, RestConfig};

const PROVIDER: &str = "openai-models";

/// A calendar day, as the model API writes shutdown dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: i32,
    month: u32,
    day: u32,
}

impl Day {
    /// Parses `YYYY-MM-DD`; anything else (or an impossible day) is `None`.
    pub fn parse(text: &str) -> Option<Day> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(range)?;
            part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok())?
        };
        let year = i32::try_from(digits(0..4)?).ok()?;
        let month = digits(5..7)?;
        let day = digits(8..10)?;
        (day >= 1 && day <= days_in_month(year, month)?).then_some(Day { year, month, day })
    }

    /// The day (UTC) that `time` falls on.
    pub fn of(time: SystemTime) -> Day {
        let seconds = match time.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
        };
        civil_from_days(seconds.div_euclid(86_400))
    }

    /// Days from `self` until `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }

    /// The day `days` after `self` (before, when negative).
    #[must_use]
    pub fn plus_days(self, days: i64) -> Day {
        civil_from_days(self.days_since_epoch() + days)
    }

    fn days_since_epoch(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

// Howard Hinnant's civil-from-days algorithm
// (http://howardhinnant.github.io/date_algorithms.html), the inverse of
// `days_from_civil`; day 0 is 1970-01-01.
fn civil_from_days(days: i64) -> Day {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Day {
        year: i32::try_from(year).unwrap_or(i32::MAX),
        // Both are in range by construction (1..=12, 1..=31).
        month: u32::try_from(month).unwrap_or(1),
        day: u32::try_from(day).unwrap_or(1),
    }
}

/// What the model API said about one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// The model exists for this key; `shutdown` is its announced shutdown
    /// day, if any.
    Available {
        /// The announced shutdown day.
        shutdown: Option<Day>,
    },
    /// The model exists but its `shutdown_date` is not a `YYYY-MM-DD` day.
    UnreadableShutdown(String),
    /// The API answered `model_not_found`: requests naming it will fail.
    NotFound(String),
}

#[derive(Deserialize)]
struct ModelObject {
    // Other fields (`object`, `created`, `owned_by`, and whatever the API
    // adds) are not ours to judge.
    id: String,
    #[serde(default)]
    shutdown_date: Option<serde_json::Value>,
}

/// Asks the model API about `model`, retrying what is safe to retry, until
/// `deadline`.
///
/// # Errors
///
/// The API could not answer (unreachable, unauthorized, rate limited, an
/// unexpected body): the model's status is unknown.
pub async fn status(
    config: &RestConfig,
    model: &str,
    deadline: Instant,
) -> Result<ModelStatus, ChatError> {
    if model.is_empty() || !model.bytes().all(path_safe) {
        return Err(ChatError::Config {
            provider: PROVIDER,
            message: format!("model name {model:?} cannot be looked up"),
        });
    }
    let client = RestClient::new(config.clone(), PROVIDER, None)?;
    let path = format!("/models/{model}");
    match client
        .send_json::<ModelObject>(Method::Get, &path, None, Idempotency::Safe, deadline)
        .await
    {
        Ok(object) => Ok(read_object(model, &object)),
        Err(Failure::Api { status: 404, error })
            if error.code.as_deref() == Some("model_not_found") =>
        {
            Ok(ModelStatus::NotFound(error.message))
        }
        Err(failure) => Err(failure.into_chat_error(PROVIDER)),
    }
}

/// Model names are letters, digits and `-._:` (fine-tuned models carry
/// colons); anything else would need escaping and is not a model name.
fn path_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b':')
}

fn read_object(asked: &str, object: &ModelObject) -> ModelStatus {
    if object.id != asked {
        tracing::debug!(provider = PROVIDER, asked, answered = %object.id, "model lookup answered for another id");
    }
    match &object.shutdown_date {
        None | Some(serde_json::Value::Null) => ModelStatus::Available { shutdown: None },
        Some(serde_json::Value::String(text)) => match Day::parse(text) {
            Some(day) => ModelStatus::Available { shutdown: Some(day) },
            None => ModelStatus::UnreadableShutdown(text.clone()),
        },
        Some(other) => ModelStatus::UnreadableShutdown(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::{Day, ModelObject, ModelStatus, read_object};

    fn day(text: &str) -> Day {
        Day::parse(text).unwrap_or_else(|| panic!("{text} is a day"))
    }

    #[test]
    fn days_are_read_strictly() {
        assert_eq!(day("2027-01-20").to_string(), "2027-01-20");
        assert_eq!(day("2028-02-29").to_string(), "2028-02-29");
        for bad in [
            "2027-1-20",
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-01-32",
            "20270120",
            "",
            "2027-01-2x",
            "+027-01-20",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_day_of_a_time_and_the_days_between() {
        assert_eq!(Day::of(SystemTime::UNIX_EPOCH).to_string(), "1970-01-01");
        // 2026-12-03T17:57:00Z.
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_320_620);
        assert_eq!(Day::of(time).to_string(), "2026-12-03");
        assert_eq!(day("2026-12-03").days_until(day("2027-01-20")), 48);
        assert_eq!(day("2027-01-20").days_until(day("2027-01-14")), -6);
        assert_eq!(day("2024-02-28").days_until(day("2024-03-01")), 2);
        assert_eq!(day("2000-01-01").days_until(day("2100-01-01")), 36_525);
        assert_eq!(day("2026-12-03").plus_days(48), day("2027-01-20"));
        assert_eq!(day("2024-03-01").plus_days(-1), day("2024-02-29"));
    }

    fn object(json: &str) -> ModelObject {
        serde_json::from_str(json).expect("a model object")
    }

    #[test]
    fn a_model_object_gives_its_shutdown_day() {
        let dated = object(
            r#"{"id":"gpt-realtime","object":"model","created":1756339200,"owned_by":"system","shutdown_date":"2027-01-20"}"#,
        );
        assert_eq!(
            read_object("gpt-realtime", &dated),
            ModelStatus::Available { shutdown: Some(day("2027-01-20")) }
        );
        let open = object(r#"{"id":"gpt-realtime-2.1","object":"model","shutdown_date":null}"#);
        assert_eq!(
            read_object("gpt-realtime-2.1", &open),
            ModelStatus::Available { shutdown: None }
        );
        let silent = object(r#"{"id":"m","object":"model","created":1}"#);
        assert_eq!(read_object("m", &silent), ModelStatus::Available { shutdown: None });
        let odd = object(r#"{"id":"m","shutdown_date":1800000000}"#);
        assert_eq!(
            read_object("m", &odd),
            ModelStatus::UnreadableShutdown("1800000000".to_owned())
        );
        let text = object(r#"{"id":"m","shutdown_date":"January 2027"}"#);
        assert_eq!(
            read_object("m", &text),
            ModelStatus::UnreadableShutdown("January 2027".to_owned())
        );
    }
}
