use super::*;
use serde_json::json;

#[test]
fn normalisation_matches_dspy() {
    // Expected values produced by DSPy 3.4.1's `normalize_text`.
    let cases = [
        ("The,  Eiffel  Tower!", "eiffel tower"),
        ("  A cat and AN apple.  ", "cat and apple"),
        ("an", ""),
        ("The", ""),
        ("theater anthem banana", "theater anthem banana"),
        ("a-b", "ab"),
        ("Hello,\tWorld\n", "hello world"),
        ("a_b the_x", "ab thex"),
        ("café", "cafe\u{301}"),
        ("Café", "cafe\u{301}"),
        ("the\u{e9}", "thee\u{301}"),
        ("thé", "\u{301}"),
        ("¿Qué?", "¿que\u{301}"),
        ("x\u{1c}y", "x y"),
        ("x\u{a0}y\u{3000}z", "x y z"),
        ("«the» “a”", "« » “ ”"),
        ("a.n", ""),
        ("1,000", "1000"),
        ("ΑΣ", "ας"),
        ("A ⓐ B", "ⓐ b"),
        ("aⓐ", "ⓐ"),
        ("a\u{93e}", "\u{93e}"),
        ("", ""),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_text(input), want, "normalize_text({input:?})");
    }
}

/// 400 random strings over tricky characters (articles, ASCII and Unicode
/// punctuation, combining marks, Unicode spaces, special casings), each with the
/// output of DSPy 3.4.1's `normalize_text` (Python 3.11).
#[test]
fn normalisation_matches_dspy_fixture() {
    let cases: Vec<(String, String)> =
        serde_json::from_str(include_str!("testdata/normalize_dspy.json")).unwrap();
    assert_eq!(cases.len(), 400);
    for (input, want) in &cases {
        assert_eq!(&normalize_text(input), want, "normalize_text({input:?})");
    }
}

#[test]
fn exact_match_cases() {
    assert!(em_score("Paris", "paris"));
    assert!(exact_match_any(
        "The Eiffel Tower",
        &["Eiffel Tower", "Louvre"]
    ));
    assert!(exact_match_any("paris", &["Paris"]));
    assert!(!exact_match_any("paris", &["Paris, France"]));
    assert!(!exact_match_any::<&str>("paris", &[]));
}

#[test]
fn f1_cases() {
    assert!((f1_any("Eiffel Tower is in Paris", &["Paris"]) - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(f1_score("the Eiffel Tower", "Eiffel Tower"), 1.0);
    assert_eq!(f1_score("", ""), 0.0);
    assert_eq!(f1_score("a", "the"), 0.0);
    assert_eq!(f1_score("cat", "dog"), 0.0);
    // Repeated tokens count by multiplicity: common = min counts.
    let f = f1_score("cat cat dog", "cat dog dog bird");
    let (p, r) = (2.0 / 3.0, 2.0 / 4.0);
    assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-12);
    assert!((precision_score("eiffel tower in paris", "eiffel tower") - 0.5).abs() < 1e-12);
    assert_eq!(hotpot_f1_score("yes", "no"), 0.0);
    assert_eq!(hotpot_f1_score("Yes.", "yes"), 1.0);
    assert_eq!(hotpot_f1_score("no way", "no"), 0.0);
    assert!((f1_any("a b", &["x", "b c", "a b"]) - 1.0).abs() < 1e-12);
}

#[test]
fn contains_is_token_based() {
    assert!(contains_answer(
        "It is the Eiffel Tower, in Paris.",
        "eiffel tower"
    ));
    assert!(!contains_answer("concatenate", "cat"));
    assert!(!contains_answer("anything", "the"));
    assert!(contains_answer("Paris", "paris"));
}

fn ex(answer: Value) -> Example {
    Example::new().input("question", "q").set("answer", answer)
}
fn pred(answer: &str) -> Prediction {
    let mut p = Prediction::default();
    p.insert("answer", answer);
    p
}

#[test]
fn field_metrics() {
    let m = ExactMatch::new("answer");
    assert_eq!(m.score(&ex(json!("Paris")), &pred("paris.")), 1.0);
    assert_eq!(
        m.score(
            &ex(json!(["Eiffel Tower", "Louvre"])),
            &pred("The Eiffel Tower")
        ),
        1.0
    );
    assert_eq!(
        m.score(&ex(json!(["Louvre"])), &pred("The Eiffel Tower")),
        0.0
    );
    assert_eq!(m.score(&ex(json!(42)), &pred("42")), 1.0);
    assert_eq!(
        ExactMatch::new("answer")
            .frac(0.5)
            .score(&ex(json!("Eiffel Tower")), &pred("Tower")),
        1.0
    );
    assert_eq!(
        ExactMatch::new("answer")
            .frac(0.9)
            .score(&ex(json!("Eiffel Tower")), &pred("Tower")),
        0.0
    );
    assert!(
        (F1::new("answer").score(&ex(json!("Paris")), &pred("Paris France")) - 2.0 / 3.0).abs()
            < 1e-12
    );
    assert_eq!(
        Contains::new("answer").score(&ex(json!("Paris")), &pred("It is Paris.")),
        1.0
    );
    let mapped = ExactMatch::fields("gold", "answer");
    assert_eq!(
        mapped.score(&Example::new().set("gold", "x"), &pred("X")),
        1.0
    );
}

#[test]
fn field_metrics_report_missing_fields() {
    let m = ExactMatch::new("answer");
    assert!(matches!(
        m.try_score(&Example::new(), &pred("x")),
        Err(MetricError::MissingLabel { .. })
    ));
    assert!(matches!(
        m.try_score(&ex(json!("x")), &Prediction::default()),
        Err(MetricError::MissingPrediction { .. })
    ));
    assert!(matches!(
        m.try_score(&ex(json!({"a": 1})), &pred("x")),
        Err(MetricError::BadLabel { .. })
    ));
    assert_eq!(m.score(&Example::new(), &pred("x")), 0.0);
}

#[test]
fn closures_are_metrics() {
    fn takes(m: &dyn Metric) -> f64 {
        m.score(&Example::new(), &Prediction::default())
    }
    let c = |_: &Example, _: &Prediction| 0.25;
    assert_eq!(takes(&c), 0.25);
    let named = metric_fn("always_one", |_, _| 1.0);
    assert_eq!(takes(&named), 1.0);
    assert_eq!(named.name(), "always_one");
}
