//! Bad requests to the UI's API get a status and a one-line JSON error, never a
//! crash: malformed ids, unknown traces, bad filters, file names that try to leave
//! the artifacts folder.

use ui_support::{get, start_ui};

use crate::ui_support;

#[test]
fn bad_requests_get_clear_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    sigil_store::Store::open(&store).unwrap();
    std::fs::write(dir.path().join("secret.toml"), "outside = true").unwrap();
    let artifacts = dir.path().join("artifacts");
    std::fs::create_dir(&artifacts).unwrap();
    let ui = start_ui(&[
        "--store",
        store.to_str().unwrap(),
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    for (path, status, needle) in [
        ("/api/traces/not-a-trace", 400, "not a trace id"),
        (
            "/api/traces/0123456789abcdef0123456789abcdef",
            404,
            "no trace",
        ),
        (
            "/api/compile-runs/0123456789abcdef0123456789abcdef",
            404,
            "no compile run",
        ),
        ("/api/traces?status=weird", 400, "status must be"),
        ("/api/traces?limit=lots", 400, "limit must be"),
        ("/api/traces?kind=nope", 400, "unknown span kind"),
        (
            "/api/artifact?name=..%2Fsecret.toml",
            400,
            "not an artifact file name",
        ),
        ("/api/artifact?name=missing.toml", 404, "no artifact"),
    ] {
        let (got, _, body) = get(ui.port, path, &[]);
        assert_eq!(got, status, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = json["error"].as_str().unwrap();
        assert!(message.contains(needle), "{path}: {message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }
    // A broken artifact still shows, with the loader's reason.
    std::fs::write(artifacts.join("broken.toml"), "format_version = \"x\"").unwrap();
    let (got, _, body) = get(ui.port, "/api/artifact?name=broken.toml", &[]);
    assert_eq!(got, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        json["load_error"].as_str().unwrap().contains("broken.toml"),
        "{body}"
    );
    assert!(json["rendered"].is_null());
    // The server is still up.
    assert_eq!(get(ui.port, "/api/traces", &[]).0, 200);
}
