//! The TwiML that connects a call to our Media Streams endpoint.

/// Why TwiML could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TwimlError {
    /// Bidirectional streams need a `wss://` URL.
    #[error("the stream url must start with wss://")]
    NotWss,
    /// Twilio drops the query string of a stream URL; pass values as
    /// parameters instead.
    #[error("the stream url must not carry a query string; use parameters")]
    QueryInUrl,
    /// A value holds a character XML cannot carry (a control character).
    #[error("{0} holds a character XML 1.0 cannot carry")]
    BadCharacter(&'static str),
}

/// `<Response><Connect><Stream url=…>` with `<Parameter>`s.
///
/// Nothing follows `<Connect>`: when our server closes the socket the call
/// has no more TwiML to run and ends, which is how a Twilio leg hangs up.
/// Parameters arrive in the stream's `start.customParameters` (the place
/// for per-call values and tokens; a query string in `url` is dropped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectStream {
    url: String,
    name: Option<String>,
    status_callback: Option<String>,
    status_callback_method: Option<String>,
    parameters: Vec<(String, String)>,
}

impl ConnectStream {
    /// A stream to `url` (`wss://…`, no query string).
    pub fn new(url: impl Into<String>) -> ConnectStream {
        ConnectStream { url: url.into(), ..ConnectStream::default() }
    }

    /// Names the stream (`name`).
    pub fn name(mut self, name: impl Into<String>) -> ConnectStream {
        self.name = Some(name.into());
        self
    }

    /// Where Twilio reports `stream-started`, `stream-stopped` and
    /// `stream-error` (`statusCallback`), and with which method.
    pub fn status_callback(
        mut self,
        url: impl Into<String>,
        method: Option<&str>,
    ) -> ConnectStream {
        self.status_callback = Some(url.into());
        self.status_callback_method = method.map(str::to_owned);
        self
    }

    /// Adds a `<Parameter name value>`.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> ConnectStream {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// The TwiML document.
    pub fn render(&self) -> Result<String, TwimlError> {
        if !self.url.starts_with("wss://") {
            return Err(TwimlError::NotWss);
        }
        if self.url.contains('?') {
            return Err(TwimlError::QueryInUrl);
        }
        let mut out = String::with_capacity(160 + self.url.len() + self.parameters.len() * 48);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream");
        attribute(&mut out, "url", &self.url)?;
        if let Some(name) = &self.name {
            attribute(&mut out, "name", name)?;
        }
        if let Some(callback) = &self.status_callback {
            attribute(&mut out, "statusCallback", callback)?;
        }
        if let Some(method) = &self.status_callback_method {
            attribute(&mut out, "statusCallbackMethod", method)?;
        }
        if self.parameters.is_empty() {
            out.push_str("/>");
        } else {
            out.push('>');
            for (name, value) in &self.parameters {
                out.push_str("<Parameter");
                attribute(&mut out, "name", name)?;
                attribute(&mut out, "value", value)?;
                out.push_str("/>");
            }
            out.push_str("</Stream>");
        }
        out.push_str("</Connect></Response>");
        Ok(out)
    }
}

/// Appends ` key="value"` with the value escaped for an XML attribute.
fn attribute(out: &mut String, key: &'static str, value: &str) -> Result<(), TwimlError> {
    out.push(' ');
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute-value normalisation would turn these into spaces.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {
                return Err(TwimlError::BadCharacter(key));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(())
}
