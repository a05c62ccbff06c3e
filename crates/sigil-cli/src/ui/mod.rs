//! `sigil ui`: a small web UI over the trace store, served by axum.
//!
//! The server answers JSON questions (`/api/...`) by asking the [`sigil_store::Store`];
//! the page (`assets/`: one HTML file, one script, one style sheet, embedded in the
//! binary) draws traces, span trees, LM calls, compile runs and artifacts from those
//! answers. Every piece of LM text reaches the page as JSON and is inserted with
//! `textContent`, never as HTML, and the Content-Security-Policy forbids inline
//! scripts, so a completion holding `<script>` shows as text.
//!
//! Live updates: `/api/live` is a server-sent event stream that says "changed"
//! whenever another process commits to the store (SQLite's `data_version`, polled
//! once a second), and the page re-reads what it shows.
//!
//! Access: on a loopback address anyone on the machine may read; on any other address
//! a token is required (bearer header, or a cookie set by opening `/?token=...`).

mod api;
mod artifacts;
mod auth;
mod view;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use sigil_store::Store;

use crate::exit::Failure;

/// What `sigil ui` was asked to do.
#[derive(Clone, Debug)]
pub struct Settings {
    pub store: PathBuf,
    pub host: String,
    pub port: u16,
    pub token: Option<String>,
    pub generate_token: bool,
    pub artifacts: PathBuf,
}

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub artifacts: Arc<PathBuf>,
    pub token: Option<Arc<str>>,
}

fn fail(message: impl Into<String>) -> anyhow::Error {
    Failure::new(1, format!("sigil ui: {}", message.into())).into()
}

/// Checks the settings, opens the store, binds the port, then serves until Ctrl-C.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    let loopback = host_is_loopback(&settings.host)?;
    let token = match (&settings.token, settings.generate_token) {
        (Some(t), _) => Some(auth::check_token(t).map_err(fail)?),
        (None, true) => Some(auth::random_token()),
        (None, false) => None,
    };
    if !loopback && token.is_none() {
        return Err(fail(format!(
            "refusing to listen on {} without a token: anyone who can reach it could read every prompt and completion; pass --token SECRET or --generate-token, or use --host 127.0.0.1",
            settings.host
        )));
    }
    let store = open_store(&settings.store)?;
    let listener =
        std::net::TcpListener::bind((settings.host.as_str(), settings.port)).map_err(|e| {
            fail(format!(
                "cannot listen on {}:{}: {e}; pick another --port",
                settings.host, settings.port
            ))
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| fail(format!("cannot set up the listening socket: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| fail(format!("cannot read the listening address: {e}")))?;

    let state = AppState {
        store: Arc::new(store),
        artifacts: Arc::new(settings.artifacts.clone()),
        token: token.clone().map(Arc::from),
    };
    let app = router(state);
    crate::block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| fail(format!("cannot use the listening socket: {e}")))?;
        println!(
            "sigil ui: serving {} on {}",
            settings.store.display(),
            url(addr)
        );
        if let (Some(t), true) = (&token, settings.generate_token) {
            println!("sigil ui: token {t}; open {}?token={t}", url(addr));
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| fail(format!("the server stopped: {e}")))
    })
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// The routes, behind the token check and the security headers.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/runs.js", get(runs_script))
        .route("/app.css", get(style))
        // No icon: an empty answer keeps browsers from logging a 404 on every page.
        .route(
            "/favicon.ico",
            get(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .merge(api::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state)
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("assets/index.html"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn runs_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/runs.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
}

/// True when every address `host` names is a loopback address.
fn host_is_loopback(host: &str) -> anyhow::Result<bool> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip.is_loopback());
    }
    let addrs: Vec<SocketAddr> = (bare, 0)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve --host {host}: {e}")))?
        .collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

/// Opens an existing store; a missing, unreadable or damaged one is a one-line error.
fn open_store(path: &Path) -> anyhow::Result<Store> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "no trace store at {}: run a traced program first, or pass --store PATH",
                path.display()
            )));
        }
        Err(e) => {
            return Err(fail(format!(
                "cannot read trace store {}: {e}",
                path.display()
            )));
        }
        Ok(m) if m.is_dir() => {
            return Err(fail(format!(
                "trace store {} is a directory, not a SQLite file",
                path.display()
            )));
        }
        Ok(_) => {}
    }
    if let Err(e) = std::fs::File::open(path) {
        return Err(fail(format!(
            "cannot read trace store {}: {e}",
            path.display()
        )));
    }
    Store::open(path).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::host_is_loopback;

    #[test]
    fn loopback_hosts() {
        assert!(host_is_loopback("127.0.0.1").unwrap());
        assert!(host_is_loopback("::1").unwrap());
        assert!(host_is_loopback("[::1]").unwrap());
        assert!(host_is_loopback("localhost").unwrap());
        assert!(!host_is_loopback("0.0.0.0").unwrap());
        assert!(!host_is_loopback("192.168.1.10").unwrap());
    }
}
