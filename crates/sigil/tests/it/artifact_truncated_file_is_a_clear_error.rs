//! A truncated artifact file is a clear error naming the file and the line, never a
//! partly loaded artifact.

use sigil::artifact::{Artifact, ArtifactError};

#[test]
fn truncated_file() {
    let golden = include_str!("../golden/artifact/two_step.sigil.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.sigil.toml");
    // Cut inside the multi-line instructions string.
    let cut = golden.find("If they do not say").unwrap();
    std::fs::write(&path, &golden[..cut]).unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(matches!(e, ArtifactError::Syntax { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("line "), "{msg}");

    // Cut at a section boundary: the TOML is valid, but the file is incomplete.
    let cut = golden.find("[[predictors.fields]]").unwrap();
    std::fs::write(&path, &golden[..cut]).unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(
        e.to_string()
            .contains("predictors[0] (path `write_query`): no output fields"),
        "{e}"
    );
    let cut = golden.find("[[predictors.rendered]]").unwrap();
    std::fs::write(&path, &golden[..cut]).unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(e.to_string().contains("no rendered messages"), "{e}");

    // An empty file.
    std::fs::write(&path, "").unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(matches!(e, ArtifactError::MissingVersion { .. }), "{e:?}");
}
