//! A small JSON writer for outbound frames.
//!
//! Outbound frames have a handful of fixed shapes; writing them into one
//! `String` sized up front (base64 audio encoded straight into it) costs one
//! allocation per frame, where building a serde value and serialising it
//! copies the payload twice.

use base64::Engine as _;

use super::media::B64;

/// Writes one JSON object into a `String`.
///
/// Keys are our own constants and are written as given; string values are
/// escaped. Nesting is tracked only as far as commas need it: callers close
/// what they open.
#[derive(Debug)]
pub struct JsonOut {
    buf: String,
    comma: bool,
}

impl JsonOut {
    /// Starts an object with room for `capacity` bytes.
    pub fn object(capacity: usize) -> JsonOut {
        let mut buf = String::with_capacity(capacity.max(16));
        buf.push('{');
        JsonOut { buf, comma: false }
    }

    fn key(&mut self, key: &str) {
        if self.comma {
            self.buf.push(',');
        }
        self.buf.push('"');
        self.buf.push_str(key);
        self.buf.push_str("\":");
        self.comma = true;
    }

    /// Adds `"key":"value"` with `value` escaped.
    pub fn str(mut self, key: &str, value: &str) -> JsonOut {
        self.key(key);
        push_json_str(&mut self.buf, value);
        self
    }

    /// Adds `"key":"value"` if there is a value.
    pub fn opt_str(self, key: &str, value: Option<&str>) -> JsonOut {
        match value {
            Some(value) => self.str(key, value),
            None => self,
        }
    }

    /// Adds `"key":true` or `false`.
    pub fn bool(mut self, key: &str, value: bool) -> JsonOut {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// Adds `"key":"<base64 of bytes>"`, encoded straight into the frame.
    pub fn b64(mut self, key: &str, bytes: &[u8]) -> JsonOut {
        self.key(key);
        self.buf.push('"');
        B64.encode_string(bytes, &mut self.buf);
        self.buf.push('"');
        self
    }

    /// Adds `"key":` followed by JSON the caller vouches for.
    pub fn raw(mut self, key: &str, json: &str) -> JsonOut {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// Opens `"key":{`; close it with [`JsonOut::close`].
    pub fn open(mut self, key: &str) -> JsonOut {
        self.key(key);
        self.buf.push('{');
        self.comma = false;
        self
    }

    /// Closes the innermost object opened with [`JsonOut::open`].
    pub fn close(mut self) -> JsonOut {
        self.buf.push('}');
        self.comma = true;
        self
    }

    /// Closes the outer object and returns the text.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Appends `value` as a JSON string literal, quotes included.
pub fn push_json_str(buf: &mut String, value: &str) {
    buf.reserve(value.len() + 2);
    buf.push('"');
    let mut start = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        buf.push_str(value.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            buf.push_str("\\u00");
            buf.push(char::from(HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0')));
            buf.push(char::from(HEX.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0')));
        } else {
            buf.push_str(escape);
        }
        start = i + 1;
    }
    buf.push_str(value.get(start..).unwrap_or_default());
    buf.push('"');
}
