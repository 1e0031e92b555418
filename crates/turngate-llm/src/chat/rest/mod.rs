//! The one HTTP client the chat providers share: JSON over HTTPS with bearer
//! auth, a timeout on every request, and the retry policy of
//! [`RetryPolicy`], all bounded by the caller's deadline.
//!
//! It retries only what is safe to retry generically (rate limits, server
//! errors, connections that never reached the server); every other error
//! body goes back to the provider, which knows what a conflict means for
//! its API. A request that is not idempotent and failed after it may have
//! reached the server comes back as [`Failure::Uncertain`], so the provider
//! can check what happened instead of sending it twice.

mod error_body;

#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::ChatError;
use super::retry::{RetryDecision, RetryHints, RetryPolicy, random};

pub(crate) use error_body::ApiError;

/// The environment variable naming the REST base URL.
pub const BASE_URL_VAR: &str = "TURNGATE_OPENAI_BASE_URL";
/// The environment variable holding the API key.
pub const API_KEY_VAR: &str = "OPENAI_API_KEY";
/// The base URL when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Where and how the chat providers reach the OpenAI REST API (or a
/// compatible server).
#[derive(Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// The API root including `/v1`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; `None` sends no header (local servers).
    pub api_key: Option<String>,
    /// The longest a single HTTP request may take.
    pub request_timeout: Duration,
    /// The longest to wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// When failed requests are retried.
    pub retry: RetryPolicy,
}

impl fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is a secret; say only whether there is one.
        f.debug_struct("RestConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl RestConfig {
    /// A configuration for `base_url` with no key and default timeouts.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }

    /// `TURNGATE_OPENAI_BASE_URL` (default `https://api.openai.com/v1`) and
    /// `OPENAI_API_KEY` from the environment.
    pub fn from_env() -> Self {
        let base = std::env::var(BASE_URL_VAR).unwrap_or_else(|_| DEFAULT_BASE_URL.to_owned());
        let mut config = Self::new(base);
        config.api_key = std::env::var(API_KEY_VAR).ok().filter(|key| !key.is_empty());
        config
    }

    /// The same configuration with `key` as the bearer token.
    #[must_use]
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
}

/// The HTTP methods the providers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    /// Only the Assistants provider deletes (trimming a thread).
    #[cfg_attr(not(feature = "openai-assistants"), allow(dead_code))]
    Delete,
}

/// Whether a request may be sent twice without changing the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads, deletes and cancels: safe to resend after any failure.
    Safe,
    /// Creates: resent only when it certainly did not reach the server.
    Unsafe,
}

/// A 2xx answer. (`openai-poll-after-ms` is not read: it is tuned for the
/// SDK's one-second polling, while our waits poll faster, bounded by the
/// request's deadline; see [`super::PollBackoff`].)
#[derive(Debug)]
pub(crate) struct Success {
    pub(crate) body: Vec<u8>,
}

/// A request that did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error answer this layer does not retry; the provider decides.
    Api { status: u16, error: ApiError },
    /// A non-idempotent request failed after it may have reached the server.
    Uncertain(String),
    /// Nothing more to do: already a caller-facing error.
    Fatal(ChatError),
}

impl Failure {
    /// The caller-facing error for a failure the provider does not handle.
    pub(crate) fn into_chat_error(self, provider: &'static str) -> ChatError {
        match self {
            Self::Fatal(error) => error,
            Self::Uncertain(message) => ChatError::Uncertain { provider, message },
            Self::Api { status, error } => match status {
                401 | 403 => ChatError::Auth { provider, status, message: error.message },
                _ => ChatError::Rejected {
                    provider,
                    status,
                    code: error.code,
                    message: error.message,
                },
            },
        }
    }
}

/// The shared client; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub(crate) struct RestClient {
    http: reqwest::Client,
    config: RestConfig,
    provider: &'static str,
    beta: Option<&'static str>,
}

impl fmt::Debug for RestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestClient")
            .field("config", &self.config)
            .field("provider", &self.provider)
            .field("beta", &self.beta)
            .finish_non_exhaustive()
    }
}

impl RestClient {
    /// A client for `provider` (named in errors), sending `OpenAI-Beta: beta`
    /// on every request when given.
    pub(crate) fn new(
        config: RestConfig,
        provider: &'static str,
        beta: Option<&'static str>,
    ) -> Result<Self, ChatError> {
        // reqwest is built without a default crypto provider so that the
        // build needs no cmake; ring is installed unless the application
        // already chose one.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: one is set.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("turngate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChatError::Config { provider, message: format!("HTTP client: {e}") })?;
        Ok(Self { http, config, provider, beta })
    }

    /// Sends one request, retrying per the policy until `deadline`.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
        deadline: Instant,
    ) -> Result<Success, Failure> {
        let url = format!("{}{path}", self.config.base_url);
        let body = body.map(serde_json::Value::to_string);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Failure::Fatal(self.timeout(method, path, started)));
            }
            let outcome = self.attempt(method, &url, body.as_deref(), remaining).await;
            let (retryable, hints, failure) = match outcome {
                Ok(success) => return Ok(success),
                Err(Attempt::Status { status, error, hints }) => {
                    let retryable = RetryPolicy::retryable_status(status, error.code.as_deref());
                    let failure = self.status_failure(status, error, hints);
                    (retryable, hints, failure)
                }
                Err(Attempt::Transport { sent, message }) => {
                    let timed_out = Instant::now() >= deadline;
                    let failure = if sent && idempotency == Idempotency::Unsafe {
                        return Err(Failure::Uncertain(format!(
                            "{method:?} {path}: {message}; the server may have applied it"
                        )));
                    } else if timed_out {
                        Failure::Fatal(self.timeout(method, path, started))
                    } else {
                        Failure::Fatal(ChatError::Unavailable {
                            provider: self.provider,
                            message: format!("{method:?} {path}: {message}"),
                        })
                    };
                    (!timed_out, RetryHints::default(), failure)
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.config.retry.decide(retryable, hints, attempt, random(), remaining) {
                RetryDecision::After(delay) => {
                    tracing::debug!(provider = self.provider, path, ?delay, attempt, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                RetryDecision::GiveUp => return Err(failure),
            }
        }
    }

    /// [`send`](Self::send), then the body decoded as JSON.
    pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
        deadline: Instant,
    ) -> Result<T, Failure> {
        let success = self.send(method, path, body, idempotency, deadline).await?;
        serde_json::from_slice(&success.body).map_err(|e| {
            Failure::Fatal(ChatError::Protocol {
                provider: self.provider,
                message: format!("{method:?} {path}: unexpected body: {e}"),
            })
        })
    }

    async fn attempt(
        &self,
        method: Method,
        url: &str,
        body: Option<&str>,
        remaining: Duration,
    ) -> Result<Success, Attempt> {
        let mut request = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
            Method::Delete => self.http.delete(url),
        };
        request = request.timeout(remaining.min(self.config.request_timeout));
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(beta) = self.beta {
            request = request.header("OpenAI-Beta", beta);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_owned());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Attempt::Transport { sent: !e.is_connect(), message: e.to_string() })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let hints = RetryHints::from_headers(
            header("retry-after-ms").as_deref(),
            header("retry-after").as_deref(),
            header("x-should-retry").as_deref(),
            SystemTime::now(),
        );
        let body = response
            .bytes()
            .await
            .map_err(|e| Attempt::Transport { sent: true, message: e.to_string() })?
            .to_vec();
        if (200..300).contains(&status) {
            Ok(Success { body })
        } else {
            Err(Attempt::Status { status, error: ApiError::parse(&body), hints })
        }
    }

    /// What a non-2xx status becomes if it is not (or no longer) retried.
    fn status_failure(&self, status: u16, error: ApiError, hints: RetryHints) -> Failure {
        let provider = self.provider;
        match status {
            429 if error.code.as_deref() == Some("insufficient_quota") => {
                Failure::Fatal(ChatError::Quota { provider, message: error.message })
            }
            429 => Failure::Fatal(ChatError::RateLimited {
                provider,
                retry_after: hints.after,
                message: error.message,
            }),
            401 | 403 => {
                Failure::Fatal(ChatError::Auth { provider, status, message: error.message })
            }
            s if s >= 500 => Failure::Fatal(ChatError::Unavailable {
                provider,
                message: format!("HTTP {s}: {}", error.message),
            }),
            _ => Failure::Api { status, error },
        }
    }

    fn timeout(&self, method: Method, path: &str, started: Instant) -> ChatError {
        ChatError::Timeout {
            provider: self.provider,
            waiting_for: format!("{method:?} {path} to be answered"),
            elapsed: started.elapsed(),
        }
    }
}

/// One attempt's failure, before the retry decision.
enum Attempt {
    Status { status: u16, error: ApiError, hints: RetryHints },
    Transport { sent: bool, message: String },
}
