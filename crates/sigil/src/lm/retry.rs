//! Retries with exponential backoff and full jitter, `Retry-After`, and the HTTP
//! transport the hosted clients share (concurrency limit, timeout, error mapping).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::sync::Semaphore;

use super::LmError;
use super::config::ApiKey;

/// How long to wait between retries.
///
/// The n-th retry waits a uniformly random time in `[0, min(max_delay, base_delay * 2^n))`
/// ("full jitter"), unless the server said how long with `Retry-After` (or
/// `retry-after-ms`): then that, capped at `max_retry_after`, plus up to 10% jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The upper bound of the first retry's wait; the bound doubles with each retry.
    pub base_delay: Duration,
    /// The largest bound, however many retries.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; longer requests are clamped to this.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// A backoff that waits almost nothing (for tests and local servers).
    pub fn immediate() -> Self {
        Backoff {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// The upper bound of the jittered wait before retry number `retry` (0-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait before retry number `retry` (0-based), honouring a server's `Retry-After`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let mut rng = rand::thread_rng();
        match retry_after {
            Some(wait) => {
                let wait = wait.min(self.max_retry_after);
                let jitter_ms = (wait.as_millis() / 10).min(u128::from(u32::MAX)) as u64;
                let extra = if jitter_ms == 0 {
                    0
                } else {
                    rng.gen_range(0..=jitter_ms)
                };
                wait.saturating_add(Duration::from_millis(extra))
            }
            None => {
                let ceiling = self.ceiling(retry).as_micros().min(u128::from(u64::MAX)) as u64;
                if ceiling == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_micros(rng.gen_range(0..ceiling))
                }
            }
        }
    }
}

/// Reads how long the server asked us to wait: `retry-after-ms` (milliseconds), or
/// `Retry-After` as delay-seconds or an HTTP-date (IMF-fixdate).
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let ms = header_str(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok());
    if let Some(ms) = ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        return Some(Duration::from_secs_f64(ms.min(1e12) / 1000.0));
    }
    let value = header_str(headers, "retry-after")?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) into seconds since the epoch.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let day: u32 = parts.next()?.parse().ok()?;
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
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || !(1..=31).contains(&day)
        || !(1..=9999).contains(&year)
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days
        .checked_mul(86_400)?
        .checked_add((h * 3600 + m * 60 + sec) as i64)?;
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Replaces every occurrence of the secret in `text`, then cuts it to `max` characters.
pub(crate) fn scrub(text: &str, secret: Option<&ApiKey>, max: usize) -> String {
    let mut out = match secret {
        Some(k) if !k.expose().is_empty() => text.replace(k.expose(), "[redacted]"),
        _ => text.to_string(),
    };
    if let Some((idx, _)) = out.char_indices().nth(max) {
        out.truncate(idx);
        out.push_str("...");
    }
    out
}

/// A readable message from a provider's error body: `error.message` when the body is
/// the usual JSON error object, else the body itself (scrubbed and cut short).
pub(crate) fn error_body_message(body: &[u8], secret: Option<&ApiKey>) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let err = v.get("error")?;
            match err {
                serde_json::Value::String(s) => Some(s.clone()),
                _ => err
                    .get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string),
            }
        });
    scrub(message.as_deref().unwrap_or(&text), secret, 1000)
}

/// A successful HTTP exchange.
pub(crate) struct HttpReply {
    pub body: Vec<u8>,
    pub retries: u32,
    pub latency: Duration,
}

/// What one attempt came to.
enum Attempt {
    Done(Vec<u8>),
    Retry {
        error: LmError,
        retry_after: Option<Duration>,
        rate_limited: bool,
    },
    Fail(LmError),
}

/// POSTs JSON with a concurrency limit, a timeout, and retries.
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    semaphore: Arc<Semaphore>,
    provider: String,
    timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
}

impl HttpTransport {
    pub(crate) fn new(
        provider: &str,
        timeout: Duration,
        max_concurrency: usize,
        max_retries: u32,
        backoff: Backoff,
    ) -> Result<Self, LmError> {
        if timeout.is_zero() {
            return Err(LmError::Config(
                "the request timeout must be greater than zero".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("sigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport {
            client,
            semaphore: Arc::new(Semaphore::new(
                max_concurrency.clamp(1, Semaphore::MAX_PERMITS),
            )),
            provider: provider.to_string(),
            timeout,
            max_retries,
            backoff,
        })
    }

    /// POSTs `body` (JSON bytes) to `url`, retrying transient failures.
    ///
    /// The concurrency permit is held for the whole call, backoff included, so a rate
    /// limited provider is not hammered by the other tasks meanwhile.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: Vec<u8>,
        secret: Option<&ApiKey>,
    ) -> Result<HttpReply, LmError> {
        let _permit = self
            .semaphore
            .acquire()
            .await
            .map_err(|_| LmError::Other(format!("{} client is shut down", self.provider)))?;
        let start = Instant::now();
        let mut retries = 0u32;
        loop {
            match self.attempt(url, headers, body.clone(), secret).await {
                Attempt::Done(body) => {
                    return Ok(HttpReply {
                        body,
                        retries,
                        latency: start.elapsed(),
                    });
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    error,
                    retry_after,
                    rate_limited,
                } => {
                    if retries >= self.max_retries {
                        return Err(if rate_limited {
                            LmError::RateLimited {
                                provider: self.provider.clone(),
                                attempts: retries + 1,
                            }
                        } else {
                            error
                        });
                    }
                    tokio::time::sleep(self.backoff.delay(retries, retry_after)).await;
                    retries += 1;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        headers: &HeaderMap,
        body: Vec<u8>,
        secret: Option<&ApiKey>,
    ) -> Attempt {
        let sent = self
            .client
            .post(url)
            .headers(headers.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return self.transport_error(&e, secret),
        };
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return self.transport_error(&e, secret),
        };
        if status.is_success() {
            return Attempt::Done(bytes.to_vec());
        }
        let code = status.as_u16();
        let body = error_body_message(&bytes, secret);
        let error = if is_context_overflow(code, &body) {
            LmError::ContextWindowExceeded {
                provider: self.provider.clone(),
                message: body,
            }
        } else {
            LmError::Http {
                provider: self.provider.clone(),
                status: code,
                body,
            }
        };
        if error.is_retryable() {
            Attempt::Retry {
                error,
                retry_after,
                rate_limited: code == 429,
            }
        } else {
            Attempt::Fail(error)
        }
    }

    fn transport_error(&self, e: &reqwest::Error, secret: Option<&ApiKey>) -> Attempt {
        if e.is_timeout() {
            return Attempt::Retry {
                error: LmError::Timeout {
                    provider: self.provider.clone(),
                    after: self.timeout,
                },
                retry_after: None,
                rate_limited: false,
            };
        }
        if e.is_builder() {
            return Attempt::Fail(LmError::Config(scrub(
                &format!("invalid request: {e}"),
                secret,
                500,
            )));
        }
        // Connection refused or reset, a body cut off mid-way: all worth another try.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Attempt::Retry {
            error: LmError::Connection {
                provider: self.provider.clone(),
                message: scrub(&message, secret, 500),
            },
            retry_after: None,
            rate_limited: false,
        }
    }
}

/// Whether an error answer says the prompt is longer than the model's context: OpenAI
/// (`context_length_exceeded`), llama.cpp's servers (`exceed_context_size_error`, "exceeds
/// the available context size", "Requested tokens ... exceed context window") and
/// Anthropic ("prompt is too long").
fn is_context_overflow(status: u16, body: &str) -> bool {
    if !(status == 400 || status == 413 || status == 500) {
        return false;
    }
    let b = body.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "maximum context length",
        "exceed_context_size",
        "exceeds the available context size",
        "exceed context window",
        "prompt is too long",
    ]
    .iter()
    .any(|p| b.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_parses() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 99999999999999 08:49:37 GMT"),
            None
        );
        assert_eq!(parse_http_date("Sun, 06 Nov -5 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37"), None);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            parse_retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        h.insert(
            "retry-after",
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert!(parse_retry_after(&h).is_some_and(|d| d > Duration::from_secs(86_400)));
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(parse_retry_after(&h), None);
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let b = Backoff {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(200), Duration::from_secs(1));
        for retry in 0..10 {
            assert!(b.delay(retry, None) < b.ceiling(retry));
        }
        let d = b.delay(0, Some(Duration::from_secs(2)));
        assert!(d >= Duration::from_secs(2) && d <= Duration::from_millis(2200));
        let capped = b.delay(0, Some(Duration::from_secs(10_000)));
        assert!(capped <= b.max_retry_after + b.max_retry_after / 10);
    }

    #[test]
    fn scrub_removes_secret_and_truncates() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(
            scrub("bad key sk-secret-123!", Some(&key), 100),
            "bad key [redacted]!"
        );
        assert_eq!(scrub("abcdef", None, 3), "abc...");
        let msg = error_body_message(br#"{"error":{"message":"nope sk-secret-123"}}"#, Some(&key));
        assert_eq!(msg, "nope [redacted]");
    }
}
