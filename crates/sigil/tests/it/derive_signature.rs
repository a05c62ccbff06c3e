//! `#[derive(Signature)]`, `#[derive(SigilEnum)]` and `#[derive(SigilObject)]`.

use std::collections::HashMap;

use serde_json::json;
use sigil::signature::{Field, FieldType, SigilType, Signature, TypedSignature};
use sigil::{SigilEnum, SigilObject};

/// Answer questions with short factoid answers.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct BasicQA {
    #[input]
    question: String,
    #[output(desc = "often between 1 and 5 words")]
    answer: String,
}

#[test]
fn doc_comment_becomes_instructions() {
    let sig = BasicQA::signature();
    assert_eq!(
        sig.explicit_instructions(),
        Some("Answer questions with short factoid answers.")
    );
    assert_eq!(
        sig.instructions(),
        "Answer questions with short factoid answers."
    );
}

#[test]
fn equals_the_parsed_string_form() {
    let parsed = Signature::parse("question -> answer")
        .unwrap()
        .with_instructions("Answer questions with short factoid answers.")
        .with_field_desc("answer", "often between 1 and 5 words")
        .unwrap();
    assert_eq!(BasicQA::signature(), parsed);
}

/// Read the passage.
///
/// Then answer:
///     briefly, citing the passage.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct MultiLine {
    #[input]
    passage: String,
    #[output]
    answer: String,
}

#[test]
fn multi_line_docs_are_joined_and_dedented() {
    assert_eq!(
        MultiLine::signature().explicit_instructions(),
        Some("Read the passage.\n\nThen answer:\n    briefly, citing the passage.")
    );
}

#[derive(sigil::Signature)]
#[allow(dead_code)]
struct Undocumented {
    #[input]
    question: String,
    #[input]
    context: Vec<String>,
    #[output]
    answer: i64,
}

#[test]
fn no_doc_comment_keeps_default_instructions() {
    let sig = Undocumented::signature();
    assert_eq!(sig.explicit_instructions(), None);
    assert_eq!(
        sig.instructions(),
        "Given the fields `question`, `context`, produce the fields `answer`."
    );
    assert_eq!(
        sig,
        Signature::parse("question, context: list[str] -> answer: int").unwrap()
    );
}

/// Overridden below.
#[derive(sigil::Signature)]
#[doc(hidden)]
#[signature(instructions = "Explicit instructions win.")]
#[allow(dead_code)]
struct ExplicitInstructions {
    #[doc(alias = "alpha")]
    #[input]
    a: String,
    #[output]
    b: String,
}

#[test]
fn signature_attribute_overrides_doc() {
    assert_eq!(
        ExplicitInstructions::signature().explicit_instructions(),
        Some("Explicit instructions win.")
    );
}

#[derive(sigil::Signature)]
#[allow(dead_code)]
struct AllTypes {
    #[input]
    text: String,
    #[input]
    count: i64,
    #[input]
    small: u8,
    #[input]
    ratio: f64,
    #[input]
    flag: bool,
    #[input]
    tags: Vec<String>,
    #[input]
    scores: HashMap<String, f32>,
    #[input]
    maybe: Option<i32>,
    #[output]
    nested: Vec<Option<HashMap<String, Vec<bool>>>>,
    #[output]
    ordered: indexmap::IndexMap<String, usize>,
}

#[test]
fn every_builtin_type_maps() {
    let sig = AllTypes::signature();
    let types: Vec<(&str, &FieldType)> = sig
        .fields()
        .map(|(_, f)| (f.name.as_str(), &f.ty))
        .collect();
    assert_eq!(
        types,
        [
            ("text", &FieldType::Str),
            ("count", &FieldType::Int),
            ("small", &FieldType::Int),
            ("ratio", &FieldType::Float),
            ("flag", &FieldType::Bool),
            ("tags", &FieldType::list(FieldType::Str)),
            ("scores", &FieldType::dict(FieldType::Float)),
            ("maybe", &FieldType::optional(FieldType::Int)),
            (
                "nested",
                &FieldType::list(FieldType::optional(FieldType::dict(FieldType::list(
                    FieldType::Bool
                ))))
            ),
            ("ordered", &FieldType::dict(FieldType::Int)),
        ]
    );
    let parsed = Signature::parse(
        "text, count: int, small: int, ratio: float, flag: bool, tags: list[str], scores: dict[str, float], \
         maybe: optional[int] -> nested: list[optional[dict[str, list[bool]]]], ordered: dict[str, int]",
    )
    .unwrap();
    assert_eq!(sig, parsed);
    assert_eq!(sig.inputs().len(), 8);
    assert_eq!(sig.outputs().len(), 2);
}

/// Classify the review.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct Described {
    /// The review text, verbatim.
    #[input]
    review: String,
    /// This doc is ignored: `desc` wins.
    #[input(desc = "where it was posted", prefix = "Posted On:")]
    venue: String,
    #[output(prefix = "Verdict:")]
    verdict: String,
    #[output(rename = "type")]
    kind: String,
    #[output]
    r#match: bool,
}

#[test]
fn descriptions_prefixes_and_names() {
    let sig = Described::signature();
    let review = sig.field("review").unwrap();
    assert_eq!(review.desc.as_deref(), Some("The review text, verbatim."));
    assert_eq!(review.prefix, None);
    assert_eq!(review.prefix_or_default(), "Review:");
    let venue = sig.field("venue").unwrap();
    assert_eq!(venue.desc.as_deref(), Some("where it was posted"));
    assert_eq!(venue.prefix.as_deref(), Some("Posted On:"));
    let verdict = sig.field("verdict").unwrap();
    assert_eq!(verdict.desc, None);
    assert_eq!(verdict.desc_or_default(), "${verdict}");
    assert_eq!(verdict.prefix.as_deref(), Some("Verdict:"));
    let names: Vec<&str> = sig.outputs().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["verdict", "type", "match"]);

    let with_prefix = |f: Field, prefix: &str| Field {
        prefix: Some(prefix.to_string()),
        ..f
    };
    let expected = Signature::new(
        vec![
            Field::new("review", FieldType::Str).with_desc("The review text, verbatim."),
            with_prefix(
                Field::new("venue", FieldType::Str).with_desc("where it was posted"),
                "Posted On:",
            ),
        ],
        vec![
            with_prefix(Field::new("verdict", FieldType::Str), "Verdict:"),
            Field::new("type", FieldType::Str),
            Field::new("match", FieldType::Bool),
        ],
    )
    .unwrap()
    .with_instructions("Classify the review.");
    assert_eq!(sig, expected);
}

#[derive(SigilEnum, serde::Deserialize)]
#[allow(dead_code)]
enum Sentiment {
    Positive,
    Negative,
    #[serde(rename = "meh")]
    Neutral,
}

#[derive(SigilEnum)]
#[sigil(rename_all = "snake_case")]
#[allow(dead_code)]
enum Urgency {
    NotUrgent,
    SomewhatUrgent,
    #[sigil(rename = "ASAP")]
    Immediate,
    #[sigil(skip)]
    Unknown,
}

#[derive(SigilEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum Topic {
    SportsNews,
    #[serde(skip_deserializing)]
    Internal,
    Politics,
}

/// Classify sentiment.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct Classify {
    #[input]
    sentence: String,
    #[output]
    sentiment: Sentiment,
    #[output]
    urgency: Option<Urgency>,
    #[output]
    topics: Vec<Topic>,
}

#[test]
fn enums_become_literal_choices() {
    assert_eq!(
        Sentiment::field_type(),
        FieldType::literal(["Positive", "Negative", "meh"])
    );
    assert_eq!(
        Urgency::field_type(),
        FieldType::literal(["not_urgent", "somewhat_urgent", "ASAP"])
    );
    assert_eq!(
        Topic::field_type(),
        FieldType::literal(["sports-news", "politics"])
    );

    let sig = Classify::signature();
    let parsed = Signature::parse(
        "sentence -> sentiment: enum[Positive, Negative, meh], urgency: optional[enum[not_urgent, somewhat_urgent, ASAP]], \
         topics: list[enum['sports-news', politics]]",
    )
    .unwrap()
    .with_instructions("Classify sentiment.");
    assert_eq!(sig, parsed);

    // The choices are exactly what serde reads back.
    let back: Sentiment = serde_json::from_value(json!("meh")).unwrap();
    assert!(matches!(back, Sentiment::Neutral));
}

#[derive(schemars::JsonSchema, SigilObject, serde::Deserialize)]
#[allow(dead_code)]
struct Citation {
    /// Where the fact came from.
    source: String,
    page: u32,
    quote: Option<String>,
}

#[derive(schemars::JsonSchema, SigilObject)]
#[allow(dead_code)]
struct Report {
    title: String,
    citations: Vec<Citation>,
    mood: Mood,
}

#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Mood {
    Calm,
    Urgent,
}

/// Write a cited report.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct WriteReport {
    #[input]
    topic: String,
    #[output(desc = "the main citation")]
    citation: Citation,
    #[output]
    report: Report,
    #[output]
    extra: Vec<Citation>,
}

#[test]
fn structs_become_objects_with_their_schema() {
    let sig = WriteReport::signature();
    let FieldType::Object { name, schema } = &sig.field("citation").unwrap().ty else {
        panic!("citation is not an object: {:?}", sig.field("citation"));
    };
    assert_eq!(name, "Citation");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["title"], "Citation");
    assert_eq!(schema["properties"]["source"]["type"], "string");
    assert_eq!(
        schema["properties"]["source"]["description"],
        "Where the fact came from."
    );
    assert_eq!(schema["properties"]["page"]["type"], "integer");
    assert_eq!(
        schema["properties"]["quote"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(schema["required"], json!(["page", "source"]));
    assert!(schema.get("$schema").is_none());
    assert_eq!(
        sig.field("citation").unwrap().desc.as_deref(),
        Some("the main citation")
    );

    // Nested types are inlined: no `$ref`s left dangling when embedded elsewhere.
    let FieldType::Object { name, schema } = &sig.field("report").unwrap().ty else {
        panic!()
    };
    assert_eq!(name, "Report");
    assert!(!schema.to_string().contains("$ref"), "{schema}");
    assert!(schema.get("definitions").is_none());
    assert_eq!(
        schema["properties"]["citations"]["items"]["properties"]["page"]["type"],
        "integer"
    );
    assert_eq!(
        schema["properties"]["mood"]["enum"],
        json!(["calm", "urgent"])
    );

    assert_eq!(
        sig.field("extra").unwrap().ty,
        FieldType::list(Citation::field_type())
    );

    // The signature's output schema embeds the object schemas.
    let out = sig.output_schema();
    assert_eq!(
        out["properties"]["citation"]["properties"]["source"]["type"],
        "string"
    );
    assert_eq!(out["properties"]["extra"]["items"]["title"], "Citation");
    assert_eq!(
        sig.to_signature_string(),
        "topic -> citation: Citation, report: Report, extra: list[Citation]"
    );
}

#[derive(schemars::JsonSchema, SigilObject)]
#[allow(dead_code)]
struct Page<T> {
    items: Vec<T>,
    next: Option<String>,
}

/// A data-carrying enum is an object too (its schema is a `oneOf`).
#[derive(schemars::JsonSchema, SigilObject)]
#[allow(dead_code)]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

#[test]
fn generic_objects_and_data_enums() {
    let FieldType::Object { name, schema } = Page::<Citation>::field_type() else {
        panic!()
    };
    assert_eq!(name, "Page_for_Citation");
    assert_eq!(
        schema["properties"]["items"]["items"]["properties"]["page"]["type"],
        "integer"
    );
    let FieldType::Object { name, schema } = Shape::field_type() else {
        panic!()
    };
    assert_eq!(name, "Shape");
    assert_eq!(schema["oneOf"].as_array().unwrap().len(), 2);
}

#[derive(sigil::Signature)]
#[allow(dead_code)]
struct Generic<T> {
    #[input]
    items: Vec<T>,
    #[output]
    best: T,
}

#[derive(sigil::Signature)]
#[allow(dead_code)]
struct Borrowed<'a> {
    #[input]
    question: &'a str,
    #[output]
    answer: Box<str>,
}

#[test]
fn generic_and_borrowed_structs() {
    assert_eq!(
        Generic::<f64>::signature(),
        Signature::parse("items: list[float] -> best: float").unwrap()
    );
    assert_eq!(
        Generic::<Sentiment>::signature().outputs()[0].ty,
        Sentiment::field_type()
    );
    assert_eq!(
        Borrowed::signature(),
        Signature::parse("question -> answer").unwrap()
    );
}

/// Decide which tools to call.
#[derive(sigil::Signature)]
#[allow(dead_code)]
struct PickTools {
    #[input]
    question: String,
    #[input]
    tools: Vec<sigil::lm::ToolSpec>,
    #[output]
    tool_calls: sigil::tool::ToolCalls,
}

#[test]
fn tool_specs_and_tool_calls_are_dspy_tool_types() {
    let parsed = Signature::parse("question, tools: list[Tool] -> tool_calls: ToolCalls")
        .unwrap()
        .with_instructions("Decide which tools to call.");
    assert_eq!(PickTools::signature(), parsed);
}

#[test]
fn derived_signature_round_trips_through_json() {
    let sig = WriteReport::signature();
    let back: Signature = serde_json::from_value(serde_json::to_value(&sig).unwrap()).unwrap();
    assert_eq!(back, sig);
}

#[test]
fn compile_errors_point_at_the_problem() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/derive_signature_fail/*.rs");
}
