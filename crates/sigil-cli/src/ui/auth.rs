//! Who may read: the token check, the Host check that stops DNS rebinding on a
//! token-less loopback server, and the headers that keep the page's content inert.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

const COOKIE: &str = "sigil_ui_token";

/// A token must be long enough to resist guessing and safe in a URL and a cookie.
pub(crate) fn check_token(token: &str) -> Result<String, String> {
    if token.len() < 16 {
        return Err("--token must be at least 16 characters".into());
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err("--token may hold only letters, digits and - . _ ~".into());
    }
    Ok(token.to_string())
}

/// 32 random hex digits.
pub(crate) fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares without stopping at the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn query_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Whether the Host header names this machine (`localhost`, a loopback address).
fn host_is_local(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Lets a request through when it carries the token (or no token is set and the Host
/// is local). `/?token=...` with the right token sets a cookie and drops the token
/// from the address bar.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.token.as_deref() else {
        if !host_is_local(request.headers()) {
            return refuse(
                StatusCode::FORBIDDEN,
                "sigil ui: this server answers only requests addressed to localhost",
            );
        }
        return next.run(request).await;
    };
    let headers = request.headers();
    if bearer(headers).is_some_and(|t| same(t, expected))
        || cookie(headers).is_some_and(|t| same(t, expected))
    {
        return next.run(request).await;
    }
    if query_token(request.uri().query()).is_some_and(|t| same(t, expected)) {
        let cookie = format!("{COOKIE}={expected}; HttpOnly; SameSite=Strict; Path=/");
        let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
        return response;
    }
    refuse(
        StatusCode::UNAUTHORIZED,
        "sigil ui: a token is required: send `Authorization: Bearer TOKEN` or open /?token=TOKEN",
    )
}

/// Headers on every response: no inline scripts or styles, no framing, no sniffing.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        assert!(check_token("short").is_err());
        assert!(check_token("0123456789abcdef;x").is_err());
        assert!(check_token("0123456789abcdef").is_ok());
        let t = random_token();
        assert_eq!(t.len(), 32);
        assert!(check_token(&t).is_ok());
        assert_ne!(t, random_token());
    }

    #[test]
    fn token_sources() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; sigil_ui_token=xyz"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(cookie(&h), Some("xyz"));
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(query_token(Some("x=1&token=t1")), Some("t1"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn local_hosts() {
        for (host, local) in [
            ("localhost:7777", true),
            ("127.0.0.1:7777", true),
            ("[::1]:7777", true),
            ("evil.example:7777", false),
            ("10.0.0.2", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            assert_eq!(host_is_local(&h), local, "{host}");
        }
    }
}
