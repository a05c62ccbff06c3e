//! Corrupt bytes (not UTF-8, or garbage) are a clear error naming the file and where.

use sigil::artifact::{Artifact, ArtifactError};

#[test]
fn corrupt_bytes() {
    let golden = include_bytes!("../golden/artifact/two_step.sigil.toml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.sigil.toml");

    let mut bytes = golden.to_vec();
    bytes[300] = 0xff;
    bytes[301] = 0xfe;
    std::fs::write(&path, &bytes).unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(
        matches!(e, ArtifactError::NotUtf8 { offset: 300, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("corrupt"), "{e}");

    let mut bytes = golden.to_vec();
    bytes.splice(200..200, b"\x00\x01 ]]] =".iter().copied());
    std::fs::write(&path, &bytes).unwrap();
    let e = Artifact::load(&path).unwrap_err();
    assert!(matches!(e, ArtifactError::Syntax { .. }), "{e:?}");
    assert!(e.to_string().contains("line "), "{e}");

    let e = Artifact::load(dir.path().join("missing.sigil.toml")).unwrap_err();
    assert!(matches!(e, ArtifactError::Io { .. }), "{e:?}");
}
