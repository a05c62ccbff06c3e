//! End to end in real headless Chromium: a store filled by real programs and real
//! optimizer runs, `sigil ui` serving it, and `tests/ui/browse.mjs` (playwright-core)
//! clicking through traces -> span tree -> LM span -> compile runs -> artifacts, then
//! watching a compile run written by this test appear live. Screenshots go to
//! target/ui-screenshots/. Needs /usr/bin/chromium and `npm ci` in tests/ui
//! (scripts/ui-env.sh); fails loudly without them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::ui_support;

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn click_through_the_ui_in_headless_chromium() {
    let ui_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/ui-env.sh (apt-get install chromium)"
    );
    assert!(
        ui_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run scripts/ui-env.sh (npm ci in {})",
        ui_dir.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    let artifacts = dir.path().join("artifacts");
    ui_support::build_store(&store, &artifacts);
    let ui = ui_support::start_ui(&[
        "--store",
        store.to_str().unwrap(),
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]);
    let shots = ui_support::workspace_target().join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);

    let mut node = Command::new("node")
        .arg(ui_dir.join("browse.mjs"))
        .current_dir(&ui_dir)
        .env("SIGIL_UI_URL", &ui.url)
        .env("SIGIL_UI_SHOTS", &shots)
        .env("SIGIL_UI_CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node (tests/ui/browse.mjs)");
    let mut log = Vec::new();
    let mut failure = None;
    for line in BufReader::new(node.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("browse.mjs: {line}");
        if line == "LIVE-WAIT" {
            // Another writer, as a compile in another process would be: slow LM calls
            // so the page sees the run while it is still going.
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(ui_support::compile_random_search(
                &store,
                Duration::from_millis(150),
            ));
        }
        if let Some(f) = line.strip_prefix("FAIL ") {
            failure = Some(f.to_string());
        }
        log.push(line);
    }
    let status = node.wait().unwrap();
    assert!(
        failure.is_none(),
        "in Chromium: {}",
        failure.unwrap_or_default()
    );
    assert!(status.success(), "browse.mjs failed: {log:?}");
    assert_eq!(log.last().map(String::as_str), Some("STEP done"), "{log:?}");
    for shot in [
        "01-traces",
        "02-trace-lm-span",
        "08-react-trajectory",
        "03-compile-random-search",
        "03b-run-as-trace",
        "04-compile-copro",
        "04b-compile-finetune",
        "05-artifact-diff",
        "06-live-running",
        "07-live-finished",
    ] {
        let png = shots.join(format!("{shot}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5_000,
            "{shot}"
        );
    }
}
