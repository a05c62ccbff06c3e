//! Metrics: how well a prediction answers an example.
//!
//! The text metrics follow DSPy's SQuAD-style ones (`dspy.evaluate.metrics`) exactly:
//! [`normalize_text`] applies Unicode NFD, lowercases, drops ASCII punctuation,
//! removes the articles `a`, `an`, `the` as whole words and collapses whitespace, with
//! Python's notions of "word character" and "whitespace".

use std::collections::HashMap;

use icu_normalizer::DecomposingNormalizerBorrowed;
use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
use serde_json::Value;

use crate::data::{Example, Prediction, value_to_string};

/// Why a metric could not score a prediction. The evaluator records it as a failed
/// example (like any other error, it counts against the error budget).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The example lacks the label the metric compares.
    #[error("metric `{metric}`: the example has no label `{field}`")]
    MissingLabel {
        /// The metric's name.
        metric: String,
        /// The label field.
        field: String,
    },
    /// The prediction lacks the field the metric compares.
    #[error("metric `{metric}`: the prediction has no field `{field}`")]
    MissingPrediction {
        /// The metric's name.
        metric: String,
        /// The output field.
        field: String,
    },
    /// The label is neither a string nor a list of strings.
    #[error("metric `{metric}`: label `{field}` is {got}, expected a string or a list of strings")]
    BadLabel {
        /// The metric's name.
        metric: String,
        /// The label field.
        field: String,
        /// What kind of value it holds.
        got: String,
    },
    /// Any other reason (for metrics written outside Sigil).
    #[error("metric `{metric}`: {message}")]
    Other {
        /// The metric's name.
        metric: String,
        /// Why it cannot score.
        message: String,
    },
}

/// Scores one prediction against its example; higher is better (usually in `[0, 1]`).
///
/// Implement [`Metric::score`]; built-in metrics also implement [`Metric::try_score`]
/// so the evaluator can report a missing field instead of silently scoring 0.
/// Closures `Fn(&Example, &Prediction) -> f64` are metrics; use [`metric_fn`] to name
/// one (and to spare the argument type annotations).
pub trait Metric: Send + Sync {
    /// The score of `prediction` for `example`.
    fn score(&self, example: &Example, prediction: &Prediction) -> f64;

    /// Like [`Metric::score`] but says why a prediction cannot be scored. The
    /// evaluator calls this one. The default never fails.
    fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<f64, MetricError> {
        Ok(self.score(example, prediction))
    }

    /// A short name for reports and progress bars.
    fn name(&self) -> String {
        "metric".to_string()
    }
}

impl<F> Metric for F
where
    F: Fn(&Example, &Prediction) -> f64 + Send + Sync,
{
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        self(example, prediction)
    }
}

/// A named closure metric; see [`metric_fn`].
pub struct FnMetric<F> {
    name: String,
    f: F,
}

/// Wraps a closure as a named metric: `metric_fn("len_ok", |ex, pred| ...)`.
pub fn metric_fn<F>(name: impl Into<String>, f: F) -> FnMetric<F>
where
    F: Fn(&Example, &Prediction) -> f64 + Send + Sync,
{
    FnMetric {
        name: name.into(),
        f,
    }
}

impl<F> Metric for FnMetric<F>
where
    F: Fn(&Example, &Prediction) -> f64 + Send + Sync,
{
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        (self.f)(example, prediction)
    }
    fn name(&self) -> String {
        self.name.clone()
    }
}

// ---------------------------------------------------------------------------
// Text normalisation and the SQuAD-style scores.

/// Python's `str.isspace()`: Rust's whitespace plus the four ASCII information
/// separators U+001C..U+001F, which Python splits on too.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `re` `\w` on `str` patterns: `_` or a character for which
/// `str.isalnum()` holds (general category L*, Nd, Nl or No).
fn is_py_word(c: char) -> bool {
    if c == '_' || c.is_ascii_alphanumeric() {
        return true;
    }
    if c.is_ascii() {
        return false;
    }
    let gc = CodePointMapData::<GeneralCategory>::new().get(c);
    GeneralCategoryGroup::Letter.contains(gc) || GeneralCategoryGroup::Number.contains(gc)
}

/// Python's `string.punctuation`.
fn is_ascii_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// `re.sub(r"\b(a|an|the)\b", " ", text)`.
fn remove_articles(chars: &[char]) -> Vec<char> {
    const ARTICLES: [&[char]; 3] = [&['a'], &['a', 'n'], &['t', 'h', 'e']];
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let at_boundary = i == 0 || !is_py_word(chars[i - 1]);
        if at_boundary {
            // Python tries the alternatives in order and takes the first that matches.
            let hit = ARTICLES.iter().find(|w| {
                let end = i + w.len();
                end <= chars.len()
                    && chars[i..end] == ***w
                    && (end == chars.len() || !is_py_word(chars[end]))
            });
            if let Some(w) = hit {
                out.push(' ');
                i += w.len();
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// DSPy's `normalize_text`: NFD, lowercase, drop ASCII punctuation, drop the articles
/// a/an/the, collapse whitespace.
///
/// ```
/// use sigil::evaluate::normalize_text;
/// assert_eq!(normalize_text("The,  Eiffel  Tower!"), "eiffel tower");
/// ```
pub fn normalize_text(s: &str) -> String {
    let nfd = DecomposingNormalizerBorrowed::new_nfd().normalize(s);
    let lower = nfd.to_lowercase();
    let no_punct: Vec<char> = lower.chars().filter(|c| !is_ascii_punct(*c)).collect();
    let no_articles: String = remove_articles(&no_punct).into_iter().collect();
    let mut out = String::with_capacity(no_articles.len());
    for tok in no_articles.split(is_py_space).filter(|t| !t.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
}

/// The whitespace tokens of the normalised text.
fn normalized_tokens(s: &str) -> Vec<String> {
    normalize_text(s)
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// True when the normalised strings are equal (DSPy's `em_score`).
pub fn em_score(prediction: &str, ground_truth: &str) -> bool {
    normalize_text(prediction) == normalize_text(ground_truth)
}

fn token_overlap(pred: &[String], truth: &[String]) -> usize {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut same = 0;
    for t in pred {
        if let Some(n) = counts.get_mut(t.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            same += 1;
        }
    }
    same
}

fn f1_from_tokens(pred: &[String], truth: &[String]) -> f64 {
    let same = token_overlap(pred, truth);
    if same == 0 {
        // Both empty also scores 0, as in DSPy (unlike SQuAD 2.0).
        return 0.0;
    }
    let precision = same as f64 / pred.len() as f64;
    let recall = same as f64 / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Token-level F1 of the normalised strings (DSPy's `f1_score`).
pub fn f1_score(prediction: &str, ground_truth: &str) -> f64 {
    f1_from_tokens(
        &normalized_tokens(prediction),
        &normalized_tokens(ground_truth),
    )
}

/// Token-level precision of the normalised strings (DSPy's `precision_score`).
pub fn precision_score(prediction: &str, ground_truth: &str) -> f64 {
    let pred = normalized_tokens(prediction);
    let same = token_overlap(&pred, &normalized_tokens(ground_truth));
    if same == 0 {
        0.0
    } else {
        same as f64 / pred.len() as f64
    }
}

/// HotPotQA F1 (DSPy's `hotpot_f1_score`): 0 when either side normalises to `yes`,
/// `no` or `noanswer` and the two differ; token F1 otherwise.
pub fn hotpot_f1_score(prediction: &str, ground_truth: &str) -> f64 {
    let p = normalize_text(prediction);
    let g = normalize_text(ground_truth);
    let special = |s: &str| matches!(s, "yes" | "no" | "noanswer");
    if (special(&p) || special(&g)) && p != g {
        return 0.0;
    }
    let tok = |s: &str| {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    f1_from_tokens(&tok(&p), &tok(&g))
}

/// True when `prediction` exactly matches any answer after normalisation (DSPy's `EM`).
/// An empty answer list never matches.
pub fn exact_match_any<S: AsRef<str>>(prediction: &str, answers: &[S]) -> bool {
    let p = normalize_text(prediction);
    answers.iter().any(|a| normalize_text(a.as_ref()) == p)
}

/// The best F1 over the answers (DSPy's `F1`); 0 for an empty list.
pub fn f1_any<S: AsRef<str>>(prediction: &str, answers: &[S]) -> f64 {
    let p = normalized_tokens(prediction);
    answers
        .iter()
        .map(|a| f1_from_tokens(&p, &normalized_tokens(a.as_ref())))
        .fold(0.0, f64::max)
}

/// True when the normalised tokens of `answer` appear as a contiguous run in the
/// normalised tokens of `text` (so `cat` is not found in `concatenate`). An answer
/// that normalises to nothing is never contained.
pub fn contains_answer(text: &str, answer: &str) -> bool {
    let a = normalized_tokens(answer);
    if a.is_empty() {
        return false;
    }
    let t = normalized_tokens(text);
    t.windows(a.len()).any(|w| w == a.as_slice())
}

// ---------------------------------------------------------------------------
// Built-in field metrics.

/// Reads the acceptable answers from a label: a string (or number/bool) is one
/// answer, a JSON array is a list of them.
fn label_answers(metric: &str, example: &Example, field: &str) -> Result<Vec<String>, MetricError> {
    let missing = || MetricError::MissingLabel {
        metric: metric.to_string(),
        field: field.to_string(),
    };
    match example.get(field) {
        None | Some(Value::Null) => Err(missing()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(_) | Value::Bool(_) => Ok(value_to_string(v)),
                other => Err(MetricError::BadLabel {
                    metric: metric.to_string(),
                    field: field.to_string(),
                    got: format!("a list containing {}", json_kind(other)),
                }),
            })
            .collect(),
        Some(Value::Object(_)) => Err(MetricError::BadLabel {
            metric: metric.to_string(),
            field: field.to_string(),
            got: "an object".into(),
        }),
        Some(v) => Ok(vec![value_to_string(v)]),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn predicted(metric: &str, prediction: &Prediction, field: &str) -> Result<String, MetricError> {
    match prediction.get(field) {
        None | Some(Value::Null) => Err(MetricError::MissingPrediction {
            metric: metric.to_string(),
            field: field.to_string(),
        }),
        Some(v) => Ok(value_to_string(v)),
    }
}

/// Exact match after normalisation, like DSPy's `answer_exact_match`: 1.0 when the
/// predicted field matches the label (or any element when the label is a list).
///
/// With [`ExactMatch::frac`] below 1, it is 1.0 when the best token F1 reaches `frac`.
#[derive(Clone, Debug)]
pub struct ExactMatch {
    label: String,
    pred: String,
    frac: f64,
}

impl ExactMatch {
    /// Compares the example's label `field` with the prediction's `field`.
    pub fn new(field: impl Into<String>) -> Self {
        let field = field.into();
        ExactMatch {
            label: field.clone(),
            pred: field,
            frac: 1.0,
        }
    }
    /// Compares the example's `label` with the prediction's `pred`.
    pub fn fields(label: impl Into<String>, pred: impl Into<String>) -> Self {
        ExactMatch {
            label: label.into(),
            pred: pred.into(),
            frac: 1.0,
        }
    }
    /// Accepts a prediction whose best token F1 is at least `frac` (DSPy's `frac`).
    pub fn frac(mut self, frac: f64) -> Self {
        self.frac = frac;
        self
    }
}

impl Metric for ExactMatch {
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        self.try_score(example, prediction).unwrap_or(0.0)
    }
    fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<f64, MetricError> {
        let name = self.name();
        let answers = label_answers(&name, example, &self.label)?;
        let pred = predicted(&name, prediction, &self.pred)?;
        let ok = if self.frac >= 1.0 {
            exact_match_any(&pred, &answers)
        } else {
            f1_any(&pred, &answers) >= self.frac
        };
        Ok(if ok { 1.0 } else { 0.0 })
    }
    fn name(&self) -> String {
        "exact_match".to_string()
    }
}

/// SQuAD-style token F1 of the predicted field against the label (the best over a
/// list label), like DSPy's `F1`.
#[derive(Clone, Debug)]
pub struct F1 {
    label: String,
    pred: String,
}

impl F1 {
    /// Compares the example's label `field` with the prediction's `field`.
    pub fn new(field: impl Into<String>) -> Self {
        let field = field.into();
        F1 {
            label: field.clone(),
            pred: field,
        }
    }
    /// Compares the example's `label` with the prediction's `pred`.
    pub fn fields(label: impl Into<String>, pred: impl Into<String>) -> Self {
        F1 {
            label: label.into(),
            pred: pred.into(),
        }
    }
}

impl Metric for F1 {
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        self.try_score(example, prediction).unwrap_or(0.0)
    }
    fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<f64, MetricError> {
        let name = self.name();
        let answers = label_answers(&name, example, &self.label)?;
        let pred = predicted(&name, prediction, &self.pred)?;
        Ok(f1_any(&pred, &answers))
    }
    fn name(&self) -> String {
        "f1".to_string()
    }
}

/// 1.0 when the normalised label (any element of a list label) appears as a run of
/// whole tokens in the normalised predicted field; see [`contains_answer`].
#[derive(Clone, Debug)]
pub struct Contains {
    label: String,
    pred: String,
}

impl Contains {
    /// Compares the example's label `field` with the prediction's `field`.
    pub fn new(field: impl Into<String>) -> Self {
        let field = field.into();
        Contains {
            label: field.clone(),
            pred: field,
        }
    }
    /// Compares the example's `label` with the prediction's `pred`.
    pub fn fields(label: impl Into<String>, pred: impl Into<String>) -> Self {
        Contains {
            label: label.into(),
            pred: pred.into(),
        }
    }
}

impl Metric for Contains {
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        self.try_score(example, prediction).unwrap_or(0.0)
    }
    fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<f64, MetricError> {
        let name = self.name();
        let answers = label_answers(&name, example, &self.label)?;
        let pred = predicted(&name, prediction, &self.pred)?;
        Ok(if answers.iter().any(|a| contains_answer(&pred, a)) {
            1.0
        } else {
            0.0
        })
    }
    fn name(&self) -> String {
        "contains".to_string()
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
