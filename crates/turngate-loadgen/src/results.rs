//! Results as one flat JSON object of `"key": number` pairs, the shape
//! `cargo xtask bench` merges into `target/bench/results.json` without a
//! JSON library.

use std::fmt::Write as _;
use std::path::Path;

/// Named figures, in the order they were put.
#[derive(Debug, Default)]
pub(crate) struct Results {
    entries: Vec<(String, f64)>,
}

impl Results {
    /// Sets `key` (replacing an earlier value of it).
    pub(crate) fn put(&mut self, key: impl Into<String>, value: f64) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<f64> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The JSON text: integers without a fraction, others with three
    /// decimals, anything not finite as `null`.
    pub(crate) fn to_json(&self) -> String {
        let mut text = String::from("{\n");
        for (index, (key, value)) in self.entries.iter().enumerate() {
            let comma = if index + 1 < self.entries.len() { "," } else { "" };
            let _ = writeln!(text, "  \"{}\": {}{comma}", escape(key), number(*value));
        }
        text.push('}');
        text.push('\n');
        text
    }

    /// Writes the JSON text to `path`, creating its directory.
    pub(crate) fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.to_json())?;
        Ok(())
    }
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

fn escape(key: &str) -> String {
    key.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}
