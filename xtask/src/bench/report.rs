//! The benchmarks' figures as flat `"key": number` JSON (read, merged,
//! written without a JSON library), the codec benchmark's text output
//! turned into figures, and the Markdown table of a run.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};

/// Named figures, in the order they were first put.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Figures(Vec<(String, f64)>);

impl Figures {
    /// Reads a flat JSON object of numbers (`null`s are skipped); an absent
    /// file holds no figures.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Figures> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Figures::parse(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Figures::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Parses a flat JSON object whose values are numbers or `null`.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Figures> {
        let body = text
            .trim()
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .context("not a JSON object")?;
        let mut figures = Figures::default();
        let mut rest = body.trim();
        while !rest.is_empty() {
            let after_quote = rest.strip_prefix('"').context("a key must be a string")?;
            let end = key_end(after_quote).context("an unterminated key")?;
            let key = after_quote.get(..end).unwrap_or_default().replace("\\\"", "\"");
            let after_key = after_quote.get(end + 1..).unwrap_or_default().trim_start();
            let after_colon = after_key.strip_prefix(':').context("a key without a value")?;
            let (value, next) = after_colon.split_once(',').unwrap_or((after_colon, ""));
            let value = value.trim();
            if value != "null" {
                let number: f64 =
                    value.parse().with_context(|| format!("`{key}` is not a number: {value}"))?;
                figures.put(&key, number);
            }
            rest = next.trim();
        }
        Ok(figures)
    }

    /// Sets `key`, replacing an earlier value.
    pub(crate) fn put(&mut self, key: &str, value: f64) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes every figure of `other`, its values winning.
    pub(crate) fn merge(&mut self, other: Figures) {
        for (key, value) in other.0 {
            self.put(&key, value);
        }
    }

    pub(crate) fn to_json(&self) -> String {
        let mut text = String::from("{\n");
        for (index, (key, value)) in self.0.iter().enumerate() {
            let comma = if index + 1 < self.0.len() { "," } else { "" };
            let key = key.replace('"', "\\\"");
            let _ = writeln!(text, "  \"{key}\": {}{comma}", number(*value));
        }
        text.push_str("}\n");
        text
    }

    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.to_json()).with_context(|| format!("writing {}", path.display()))
    }
}

/// Where a key's closing quote is (skipping escaped quotes).
fn key_end(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(index),
            _ => escaped = false,
        }
    }
    None
}

fn number(value: f64) -> String {
    if !value.is_finite() {
        "null".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

/// The figures in the codec benchmark's output: G.711 throughput (MB/s of
/// input) and resampling (millions of input samples per second). A figure
/// line reads `<name>  <MB/s> MB/s  <M samples/s> M samples/s  …`.
pub(crate) fn codec(output: &str) -> anyhow::Result<Figures> {
    let mut figures = Figures::default();
    for line in output.lines() {
        let Some((before, after)) = line.split_once(" MB/s") else { continue };
        let Some((name, mb_s)) = before.trim_end().rsplit_once(char::is_whitespace) else {
            continue;
        };
        let (Ok(mb_s), Some(Ok(msamples))) =
            (mb_s.parse::<f64>(), after.split_whitespace().next().map(str::parse::<f64>))
        else {
            continue;
        };
        match name.trim() {
            "µ-law encode (PCM16 in)" => figures.put("g711.ulaw_encode_mb_s", mb_s),
            "µ-law decode (bytes in)" => figures.put("g711.ulaw_decode_mb_s", mb_s),
            "A-law encode (PCM16 in)" => figures.put("g711.alaw_encode_mb_s", mb_s),
            "A-law decode (bytes in)" => figures.put("g711.alaw_decode_mb_s", mb_s),
            other => {
                if let Some((from, to)) =
                    other.strip_suffix(" kHz").and_then(|rates| rates.split_once(" → "))
                {
                    figures.put(&format!("resample.{from}_to_{to}_khz.msamples_s"), msamples);
                }
            }
        }
    }
    if figures.get("g711.ulaw_decode_mb_s").is_none()
        || figures.get("g711.ulaw_encode_mb_s").is_none()
    {
        bail!("the codec benchmark's output has no µ-law figures");
    }
    Ok(figures)
}

/// The mixed-protocol step's figures, renamed `mixed.<figure>` so they sit
/// beside the Twilio knee's without replacing them.
pub(crate) fn mixed(figures: &Figures, calls: &str) -> Figures {
    let prefix = format!("step.{calls}.");
    let mut renamed = Figures::default();
    for (key, value) in &figures.0 {
        if let Some(name) = key.strip_prefix(&prefix) {
            renamed.put(&format!("mixed.{name}"), *value);
        }
    }
    if let Ok(calls) = calls.parse::<f64>() {
        renamed.put("mixed.calls", calls);
    }
    renamed
}

/// Every figure renamed `<prefix><figure>`, so a second run of the same
/// benchmark (another voice API) sits beside the first.
pub(crate) fn prefixed(figures: &Figures, prefix: &str) -> Figures {
    let mut renamed = Figures::default();
    for (key, value) in &figures.0 {
        renamed.put(&format!("{prefix}{key}"), *value);
    }
    renamed
}

/// One row of the summary table: a figure, how it is shown, its target.
struct Row {
    what: &'static str,
    keys: &'static [&'static str],
    target: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        what: "concurrent Twilio↔Realtime calls holding p99 added latency ≤ 5 ms, no frame lost",
        keys: &["calls.max_calls_p99_5ms"],
        target: "≥ 2,000",
    },
    Row {
        what: "p99 added latency at that load (ms, the worse direction)",
        keys: &["calls.p99_added_ms_at_max"],
        target: "≤ 5",
    },
    Row {
        what: "caller → model added latency p50 / p99 / max (ms)",
        keys: &["calls.up_p50_ms_at_max", "calls.up_p99_ms_at_max", "calls.up_max_ms_at_max"],
        target: "",
    },
    Row {
        what: "model → caller added latency p50 / p99 / max (ms)",
        keys: &["calls.down_p50_ms_at_max", "calls.down_p99_ms_at_max", "calls.down_max_ms_at_max"],
        target: "",
    },
    Row {
        what: "Twilio + Telnyx + AudioCodes side by side: calls, up p99 / down p99 (ms), lost, holds",
        keys: &[
            "mixed.calls",
            "mixed.up_p99_ms",
            "mixed.down_p99_ms",
            "mixed.lost_up",
            "mixed.lost_down",
            "mixed.holds",
        ],
        target: "",
    },
    Row {
        what: "concurrent Twilio↔GPT-Live calls holding p99 added latency ≤ 5 ms, no frame lost",
        keys: &["live.calls.max_calls_p99_5ms"],
        target: "",
    },
    Row {
        what: "GPT-Live at that load: up p99 / down p99 (ms), server CPU per call (%)",
        keys: &[
            "live.calls.up_p99_ms_at_max",
            "live.calls.down_p99_ms_at_max",
            "live.calls.cpu_pct_per_call",
        ],
        target: "",
    },
    Row {
        what: "GPT-Live speech onset p50 / p99 (ms, the gate holds an utterance's first frame until speech is certain)",
        keys: &["live.calls.onset_p50_ms_at_max", "live.calls.onset_p99_ms_at_max"],
        target: "",
    },
    Row {
        what: "GPT-Live turn latency p50 (ms, the model's end of the caller's turn → first answer audio at the caller)",
        keys: &["live.turn.p50_ms"],
        target: "",
    },
    Row {
        what: "server CPU per call (% of one core)",
        keys: &["calls.cpu_pct_per_call"],
        target: "",
    },
    Row { what: "server RSS per call (KiB)", keys: &["calls.rss_kib_per_call"], target: "≤ 256" },
    Row {
        what: "call setup p50 / p99 (ms, call placed → its audio at the model)",
        keys: &["setup.p50_ms", "setup.p99_ms"],
        target: "p50 ≤ 20",
    },
    Row {
        what: "turn latency p50 / p99 (ms, commit → first answer audio at the caller)",
        keys: &["turn.p50_ms", "turn.p99_ms"],
        target: "",
    },
    Row {
        what: "cross-worker signal p50 / p99 over loopback Redis (µs)",
        keys: &["signal.p50_us", "signal.p99_us"],
        target: "p99 ≤ 2,000",
    },
    Row { what: "Redis round trip p50 (µs)", keys: &["redis_rtt.p50_us"], target: "" },
    Row {
        what: "chat recovery overhead p50 / p99 past the simulator's cancel (ms)",
        keys: &["chat.recovery_overhead_ms_p50", "chat.recovery_overhead_ms_p99"],
        target: "p50 ≤ 100",
    },
    Row {
        what: "G.711 µ-law decode / encode (MB/s of input)",
        keys: &["g711.ulaw_decode_mb_s", "g711.ulaw_encode_mb_s"],
        target: "≥ 1,000",
    },
    Row {
        what: "`Session::handle` p50 / p99 per input (ns, a live call's mix)",
        keys: &["core.handle_ns_p50", "core.handle_ns_p99"],
        target: "",
    },
    Row {
        what: "Twilio media frame decode / 100 ms play encode (ns)",
        keys: &["frames.twilio.media_decode_ns_p50", "frames.twilio.play_encode_ns_p50"],
        target: "",
    },
];

fn show(value: Option<f64>) -> String {
    match value {
        None => "–".to_owned(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// CPU (% of one core) that other processes may use in a measured window
/// before the run is marked disturbed.
const DISTURBED_PCT: f64 = 20.0;

/// The Markdown section of one run.
pub(crate) fn markdown(figures: &Figures, quick: bool, machine: &str, commit: &str) -> String {
    let mut text = String::new();
    let kind = if quick { "quick run" } else { "full run" };
    let _ = writeln!(text, "### {} · {kind} · {machine} · commit {commit}\n", today());
    let window = figures.get("calls.window_s").map_or_else(String::new, |w| format!("{w:.0} s"));
    let _ = writeln!(
        text,
        "`cargo xtask bench{}`; load generator, Realtime simulator and server on the same machine; each step measured over a {window} window after ramp-up and warm-up.\n",
        if quick { " --quick" } else { "" }
    );
    let disturbed = figures
        .0
        .iter()
        .filter(|(key, _)| key.starts_with("step.") && key.ends_with(".other_cpu_pct"))
        .map(|(_, value)| *value)
        .fold(0.0_f64, f64::max);
    if disturbed > DISTURBED_PCT {
        let _ = writeln!(
            text,
            "**Disturbed:** other processes used up to {disturbed:.0} % of a core during a measured window; the call figures understate the bridge.\n"
        );
    }
    let _ = writeln!(text, "| figure | measured | target |\n| --- | --- | --- |");
    for row in ROWS {
        let shown: Vec<String> = row.keys.iter().map(|k| show(figures.get(k))).collect();
        let _ = writeln!(text, "| {} | {} | {} |", row.what, shown.join(" / "), row.target);
    }
    let steps: BTreeSet<u64> = figures
        .0
        .iter()
        .filter_map(|(key, _)| key.strip_prefix("step.")?.split('.').next()?.parse().ok())
        .collect();
    if !steps.is_empty() {
        let _ = writeln!(
            text,
            "\n| calls | up p50 / p99 / max (ms) | down p50 / p99 / max (ms) | lost up / down | server CPU % | server RSS MiB | load generator CPU % | other processes CPU % | holds |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        );
        for calls in steps {
            let get = |name: &str| figures.get(&format!("step.{calls}.{name}"));
            let triple = |a: &str, b: &str, c: &str| {
                format!("{} / {} / {}", show(get(a)), show(get(b)), show(get(c)))
            };
            let _ = writeln!(
                text,
                "| {calls} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
                triple("up_p50_ms", "up_p99_ms", "up_max_ms"),
                triple("down_p50_ms", "down_p99_ms", "down_max_ms"),
                show(get("lost_up")),
                show(get("lost_down")),
                show(get("server_cpu_pct")),
                show(get("server_rss_kib").map(|k| (k / 1024.0).round())),
                show(get("loadgen_cpu_pct")),
                show(get("other_cpu_pct")),
                if get("holds") == Some(1.0) { "yes" } else { "no" },
            );
        }
    }
    text.push('\n');
    text
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
