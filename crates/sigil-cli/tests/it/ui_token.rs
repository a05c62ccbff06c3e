//! Off loopback the UI needs a token: without one `sigil ui` refuses to start; with
//! one, every request lacking it gets 401. On loopback without a token, requests
//! addressed to another host name (DNS rebinding) are refused.

use ui_support::{assert_one_line, get, start_ui, ui_fails};

use crate::ui_support;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn store(dir: &std::path::Path) -> String {
    let path = dir.join("traces.db");
    sigil_store::Store::open(&path).unwrap();
    path.display().to_string()
}

#[test]
fn a_non_loopback_host_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let (code, err) = ui_fails(&["--store", &s, "--host", "0.0.0.0", "--port", "0"]);
    assert_eq!(code, 1);
    assert_one_line(&err, "refusing to listen on 0.0.0.0 without a token");
    let (code, err) = ui_fails(&[
        "--store", &s, "--host", "0.0.0.0", "--token", "short", "--port", "0",
    ]);
    assert_eq!(code, 1);
    assert_one_line(&err, "at least 16 characters");
}

#[test]
fn with_a_token_requests_without_it_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ui = start_ui(&["--store", &s, "--host", "0.0.0.0", "--token", TOKEN]);
    for path in [
        "/",
        "/app.js",
        "/api/traces",
        "/api/compile-runs",
        "/api/live",
        "/api/artifacts",
    ] {
        let (status, _, body) = get(ui.port, path, &[]);
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _, _) = get(
            ui.port,
            path,
            &[("Authorization", "Bearer wrong-token-0123456789")],
        );
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    let bearer = format!("Bearer {TOKEN}");
    let (status, _, body) = get(ui.port, "/api/traces", &[("Authorization", &bearer)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), "[]");

    // The browser way: /?token= sets a cookie and drops the token from the address.
    let (status, head, _) = get(ui.port, &format!("/?token={TOKEN}"), &[]);
    assert_eq!(status, 303);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let (status, head, body) = get(ui.port, "/", &[("Cookie", pair)]);
    assert_eq!(status, 200);
    assert!(body.contains("<title>Sigil</title>"));
    assert!(
        head.contains("content-security-policy: default-src 'self'; script-src 'self'"),
        "{head}"
    );
}

#[test]
fn a_generated_token_is_printed_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let mut child = ui_support::sigil()
        .args([
            "ui",
            "--store",
            &s,
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--generate-token",
        ])
        .into_command()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let port: u16 = first
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let token = second
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(';')
        .to_string();
    assert_eq!(token.len(), 32, "{second}");
    assert_eq!(get(port, "/api/traces", &[]).0, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get(port, "/api/traces", &[("Authorization", &bearer)]).0,
        200
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn loopback_without_a_token_answers_only_local_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let ui = start_ui(&["--store", &s]);
    assert_eq!(get(ui.port, "/api/traces", &[]).0, 200);
    // A second Host header line would be ambiguous; send the request by hand.
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", ui.port)).unwrap();
    c.write_all(
        b"GET /api/traces HTTP/1.1\r\nHost: evil.example:7777\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}
