//! `sigil alerts check` over a real store: exit 0 when quiet, 3 when a rule fires
//! (and the firing alerts are POSTed to --webhook), 1 with one line naming the file,
//! line and key when the rules file is malformed; --json prints the report.

use std::io::{Read, Write};
use std::net::TcpListener;

use trace_store_support::{fill, sigil, stderr, stdout};

use crate::trace_store_support;

fn rules(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn alerts_check_exit_codes_and_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("traces.db");
    fill(&db_path, 3, 1, 0); // program qa: 1 of 4 calls failed (25%)
    let db = db_path.to_str().unwrap();

    let quiet = rules(
        dir.path(),
        "quiet.toml",
        "[[rule]]\nname = \"qa errors\"\nkind = \"error_rate\"\nprogram = \"qa\"\nmax = 0.5\n",
    );
    let o = sigil(&["alerts", "check", "--rules", &quiet, "--store", db]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("1 of 4 traces failed"),
        "{}",
        stdout(&o)
    );

    let loud = rules(
        dir.path(),
        "loud.toml",
        "[[rule]]\nname = \"qa errors\"\nkind = \"error_rate\"\nprogram = \"qa\"\nmax = 0.1\n\n\
         [[rule]]\nkind = \"p95_latency\"\nmax_ms = 60000\n",
    );
    let o = sigil(&["alerts", "check", "--rules", &loud, "--store", db]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("FIRING   qa errors"),
        "{text}"
    );
    assert!(text.lines().nth(1).unwrap().starts_with("ok"), "{text}");
    assert!(
        stderr(&o).contains("1 alert firing: qa errors"),
        "{}",
        stderr(&o)
    );

    // --json: the report as data, same exit code.
    let o = sigil(&["alerts", "check", "--rules", &loud, "--store", db, "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["results"][0]["status"], "firing");
    assert_eq!(report["results"][0]["value"], 0.25);
    assert_eq!(report["results"][1]["status"], "ok");

    // --webhook: the firing alert is POSTed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read headers and the body (Content-Length).
        loop {
            let n = conn.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                    return text;
                }
            }
            if n == 0 {
                return text;
            }
        }
    });
    let o = sigil(&[
        "alerts",
        "check",
        "--rules",
        &loud,
        "--store",
        db,
        "--webhook",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /hook"), "{request}");
    assert!(request.contains("\"qa errors\""), "{request}");
    assert!(
        !request.contains("p95_latency"),
        "only firing alerts are sent: {request}"
    );

    // An unreachable webhook is reported, and the verdict stands.
    let o = sigil(&[
        "alerts",
        "check",
        "--rules",
        &loud,
        "--store",
        db,
        "--webhook",
        "http://127.0.0.1:9/x",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("could not post the alerts"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn malformed_rules_are_one_line_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("traces.db");
    fill(&db_path, 1, 0, 0);
    let db = db_path.to_str().unwrap();
    let one_line = |file: &str, want: &[&str]| {
        let o = sigil(&["alerts", "check", "--rules", file, "--store", db]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(file), "names the file: {err}");
        for w in want {
            assert!(err.contains(w), "`{w}` in: {err}");
        }
    };
    let bad_value = rules(
        dir.path(),
        "a.toml",
        "[[rule]]\nkind = \"error_rate\"\nmax = \n",
    );
    one_line(&bad_value, &["line 3", "key `max`"]);
    let unknown_key = rules(
        dir.path(),
        "b.toml",
        "[[rule]]\nkind = \"error_rate\"\nmaxx = 0.1\n",
    );
    one_line(&unknown_key, &["line ", "`maxx`"]);
    let json = rules(
        dir.path(),
        "c.json",
        "{\"rule\": [{\"kind\": \"error_rate\",\n \"max\": \"high\"}]}",
    );
    one_line(&json, &["line 2", "max"]);
    let out_of_range = rules(
        dir.path(),
        "d.toml",
        "[[rule]]\nname = \"r\"\nkind = \"error_rate\"\nmax = 5\n",
    );
    one_line(&out_of_range, &["rule `r`", "max must be"]);
    one_line(
        dir.path().join("missing.toml").to_str().unwrap(),
        &["cannot read rules file"],
    );
}
