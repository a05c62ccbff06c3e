//! `sigil ui` refuses what it cannot serve with one clear line and a non-zero exit:
//! a port in use, a missing, damaged or unreadable store.

use ui_support::{assert_one_line, ui_fails};

use crate::ui_support;

fn good_store(dir: &std::path::Path) -> String {
    let path = dir.join("traces.db");
    sigil_store::Store::open(&path).unwrap();
    path.display().to_string()
}

#[test]
fn a_port_in_use_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = good_store(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, err) = ui_fails(&["--store", &store, "--port", &port]);
    assert_eq!(code, 1);
    assert_one_line(&err, &format!("cannot listen on 127.0.0.1:{port}"));
    assert!(err.contains("--port"), "says what to do: {err}");
}

#[test]
fn a_damaged_store_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some bytes ".repeat(200),
    )
    .unwrap();
    let (code, err) = ui_fails(&["--store", junk.to_str().unwrap(), "--port", "0"]);
    assert_eq!(code, 1);
    assert_one_line(&err, "not a Sigil trace store");
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        b"this is not a database, just some bytes ".repeat(200),
        "left untouched"
    );
}

#[test]
fn a_missing_store_or_a_directory_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let (code, err) = ui_fails(&["--store", missing.to_str().unwrap(), "--port", "0"]);
    assert_eq!(code, 1);
    assert_one_line(&err, "no trace store at");
    assert!(!missing.exists(), "a missing store is not created");

    let (code, err) = ui_fails(&["--store", dir.path().to_str().unwrap(), "--port", "0"]);
    assert_eq!(code, 1);
    assert_one_line(&err, "is a directory");
}

#[test]
fn an_unreadable_store_is_one_line_and_exit_1() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let store = good_store(dir.path());
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = ui_support::sigil().args(["ui", "--store", &store, "--port", "0"]);
    // Root reads any file, so as root the server runs as `nobody`, for whom a
    // mode-000 file is unreadable.
    if std::fs::metadata("/proc/self").unwrap().uid() == 0 {
        cmd = cmd.configure(|c| {
            c.uid(65534).gid(65534);
        });
    }
    let out = cmd.run();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = out.stderr.as_str();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_one_line(err, "cannot read trace store");
    assert!(err.contains("ermission denied"), "{err}");
}
