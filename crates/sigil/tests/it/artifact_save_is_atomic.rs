//! Saving replaces the file whole (temp file + rename): no temp file is left behind,
//! and a failed save leaves the old file as it was.

use sigil::artifact::Artifact;

#[test]
fn save_replaces_the_file_whole() {
    let golden = include_str!("../golden/artifact/two_step.sigil.toml");
    let artifact = Artifact::from_toml_str(golden, "golden").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prog.sigil.toml");
    std::fs::write(&path, "old contents").unwrap();
    artifact.save(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), golden);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["prog.sigil.toml"]);

    // Saving over a directory fails at the rename; nothing else changes.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), "x").unwrap();
    let e = artifact.save(&blocked).unwrap_err().to_string();
    assert!(e.contains("blocked") && e.contains("rename"), "{e}");
    assert_eq!(std::fs::read_to_string(blocked.join("keep")).unwrap(), "x");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["blocked", "prog.sigil.toml"]);
}
