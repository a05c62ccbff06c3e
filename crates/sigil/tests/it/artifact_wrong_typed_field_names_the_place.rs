//! A hand-edited field of the wrong type is an error naming the line and the key.

use sigil::artifact::Artifact;

fn load_err(text: &str) -> String {
    Artifact::from_toml_str(text, "edited.sigil.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn wrong_typed_fields() {
    let golden = include_str!("../golden/artifact/two_step.sigil.toml");

    // A number where a string belongs.
    let edited = golden.replace("path = \"answer\"", "path = 3");
    let line = edited.lines().position(|l| l == "path = 3").unwrap() + 1;
    let e = load_err(&edited);
    assert!(e.contains(&format!("line {line}")), "{e}");
    assert!(e.contains("path") && e.contains("string"), "{e}");

    // A string where a number belongs.
    let edited = golden.replace("seed = 7", "seed = \"seven\"");
    let line = edited
        .lines()
        .position(|l| l.starts_with("seed ="))
        .unwrap()
        + 1;
    let e = load_err(&edited);
    assert!(
        e.contains(&format!("line {line}")) && e.contains("in [optimizer]: `seed = \"seven\"`"),
        "{e}"
    );

    // A key the format does not have (a typo).
    let edited = golden.replace("valset_baseline", "valset_basline");
    let e = load_err(&edited);
    assert!(e.contains("valset_basline"), "{e}");

    // A field type that does not parse names the predictor and the field.
    let edited = golden.replace("type = \"list[str]\"", "type = \"lst[str]\"");
    let e = load_err(&edited);
    assert!(
        e.contains("predictors[1] (path `answer`)") && e.contains("`context`"),
        "{e}"
    );
    assert!(e.contains("lst[str]"), "{e}");

    // A role that is neither input nor output.
    let edited = golden.replacen("role = \"input\"", "role = \"inptu\"", 1);
    let e = load_err(&edited);
    assert!(e.contains("inptu") && e.contains("line "), "{e}");
}
