//! A file from a newer format version is refused with a clear error; the current
//! version loads.

use sigil::artifact::{Artifact, ArtifactError, FORMAT_VERSION};

#[test]
fn unknown_version() {
    let golden = include_str!("../golden/artifact/two_step.sigil.toml");
    assert!(Artifact::from_toml_str(golden, "golden").is_ok());
    let newer = golden.replace(
        "format_version = 1",
        &format!("format_version = {}", FORMAT_VERSION + 1),
    );
    let e = Artifact::from_toml_str(&newer, "next.sigil.toml").unwrap_err();
    assert!(
        matches!(e, ArtifactError::UnknownVersion { found: 2, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("next.sigil.toml") && msg.contains("format_version 2"),
        "{msg}"
    );
    assert!(msg.contains("upgrade"), "{msg}");

    let zero = golden.replace("format_version = 1", "format_version = 0");
    let e = Artifact::from_toml_str(&zero, "zero.sigil.toml").unwrap_err();
    assert!(e.to_string().contains("format_version = 0"), "{e}");
}
