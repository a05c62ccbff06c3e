//! Comparing two artifacts (`sigil diff`): provenance, scores side by side, and per
//! predictor the signature, instructions and demos that changed.

use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use super::format::{Artifact, PredictorEntry};
use super::render::{ShowOptions, field_line, header, pct};

/// A named value on each side (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// What differs (`model`, `scores.test.compiled`, a field name, ...).
    pub key: String,
    /// The value in A.
    pub a: Option<String>,
    /// The value in B.
    pub b: Option<String>,
}

impl FieldChange {
    fn new(key: impl Into<String>, a: Option<String>, b: Option<String>) -> Self {
        FieldChange {
            key: key.into(),
            a,
            b,
        }
    }
    /// Whether the two sides differ.
    pub fn changed(&self) -> bool {
        self.a != self.b
    }
}

/// How one predictor path differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PredictorDiff {
    /// The predictor path.
    pub path: String,
    /// Whether A has this predictor.
    pub in_a: bool,
    /// Whether B has this predictor.
    pub in_b: bool,
    /// Field lines that differ (by field name).
    pub fields: Vec<FieldChange>,
    /// Instructions on both sides when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<(String, String)>,
    /// Demos in A.
    pub demos_a: usize,
    /// Demos in B.
    pub demos_b: usize,
    /// Demos only in A / only in B (as JSON objects of their values).
    pub demos_removed: Vec<Value>,
    /// Demos only in B.
    pub demos_added: Vec<Value>,
}

impl PredictorDiff {
    /// Whether the predictor is the same on both sides.
    pub fn is_same(&self) -> bool {
        self.in_a
            && self.in_b
            && self.fields.is_empty()
            && self.instructions.is_none()
            && self.demos_removed.is_empty()
            && self.demos_added.is_empty()
            && self.demos_a == self.demos_b
    }
}

/// Everything that differs between artifact A and artifact B, plus both sides' scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArtifactDiff {
    /// The name given for A (its file).
    pub a: String,
    /// The name given for B.
    pub b: String,
    /// Provenance keys that differ.
    pub provenance: Vec<FieldChange>,
    /// Every score on both sides, changed or not.
    pub scores: Vec<FieldChange>,
    /// Every predictor path of either side.
    pub predictors: Vec<PredictorDiff>,
}

fn opt<T: ToString>(x: Option<T>) -> Option<String> {
    x.map(|v| v.to_string())
}

fn provenance_rows(x: &Artifact) -> Vec<(&'static str, Option<String>)> {
    let ds = |d: &Option<super::DatasetInfo>| {
        d.as_ref()
            .map(|d| format!("{} examples, sha256 {}", d.size, &d.sha256))
    };
    vec![
        ("sigil_version", Some(x.sigil_version.clone())),
        ("adapter", Some(x.adapter.clone())),
        ("model", x.lm.as_ref().map(|l| l.model.clone())),
        (
            "lm params",
            x.lm.as_ref()
                .map(|l| serde_json::to_string(&l.params).unwrap_or_default()),
        ),
        ("optimizer", x.optimizer.as_ref().map(|o| o.name.clone())),
        ("seed", x.optimizer.as_ref().map(|o| o.seed.to_string())),
        (
            "settings",
            x.optimizer.as_ref().map(|o| {
                o.settings
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        ("trainset", ds(&x.data.trainset)),
        ("valset", ds(&x.data.valset)),
        ("testset", ds(&x.data.testset)),
        (
            "fine-tuned",
            (!x.finetuned.is_empty()).then(|| {
                x.finetuned
                    .iter()
                    .map(|f| {
                        let adapter = f
                            .adapter_sha256
                            .as_deref()
                            .map(|h| format!(", adapter sha256 {}", &h[..h.len().min(12)]))
                            .unwrap_or_default();
                        format!(
                            "[{}] {} ({} examples{adapter})",
                            f.paths.join(","),
                            f.model_id,
                            f.data.size
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
    ]
}

fn score_rows(x: &Artifact) -> Vec<(&'static str, Option<String>)> {
    let s = &x.scores;
    let t = s.test.as_ref();
    let ci = |c: [f64; 2]| format!("[{}, {}]", pct(c[0]), pct(c[1]));
    vec![
        ("metric", s.metric.clone()),
        ("valset baseline", s.valset_baseline.map(pct)),
        ("valset compiled", s.valset_compiled.map(pct)),
        ("test examples", opt(t.map(|t| t.examples))),
        (
            "test baseline",
            t.map(|t| format!("{} {}", pct(t.baseline), ci(t.baseline_ci95))),
        ),
        (
            "test compiled",
            t.map(|t| format!("{} {}", pct(t.compiled), ci(t.compiled_ci95))),
        ),
        (
            "test gain",
            t.map(|t| {
                format!(
                    "{:+.1} pts [{:+.1}, {:+.1}]",
                    100.0 * t.difference,
                    100.0 * t.difference_ci95[0],
                    100.0 * t.difference_ci95[1]
                )
            }),
        ),
    ]
}

fn demo_values(p: &PredictorEntry) -> Vec<Value> {
    p.demos
        .iter()
        .map(|d| match d.to_example() {
            Ok(ex) => Value::Object(
                ex.values()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            Err(e) => Value::String(format!("(unreadable demo: {e})")),
        })
        .collect()
}

fn predictor_diff(
    path: &str,
    a: Option<&PredictorEntry>,
    b: Option<&PredictorEntry>,
) -> PredictorDiff {
    let mut fields = Vec::new();
    let empty = Vec::new();
    let fa = a.map(|p| &p.fields).unwrap_or(&empty);
    let fb = b.map(|p| &p.fields).unwrap_or(&empty);
    let mut names: Vec<&str> = fa.iter().map(|f| f.name.as_str()).collect();
    for f in fb {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    if a.is_some() && b.is_some() {
        for name in names {
            let line = |fs: &Vec<super::FieldEntry>| {
                fs.iter().find(|f| f.name == name).map(|f| {
                    let role = match f.role {
                        crate::signature::FieldKind::Input => "input",
                        crate::signature::FieldKind::Output => "output",
                    };
                    format!("{role} {}", field_line(f))
                })
            };
            let c = FieldChange::new(name, line(fa), line(fb));
            if c.changed() {
                fields.push(c);
            }
        }
    }
    let instructions = match (a, b) {
        (Some(a), Some(b)) if a.instructions != b.instructions => {
            Some((a.instructions.clone(), b.instructions.clone()))
        }
        _ => None,
    };
    let da = a.map(demo_values).unwrap_or_default();
    let db = b.map(demo_values).unwrap_or_default();
    PredictorDiff {
        path: path.to_string(),
        in_a: a.is_some(),
        in_b: b.is_some(),
        fields,
        instructions,
        demos_a: da.len(),
        demos_b: db.len(),
        demos_removed: da.iter().filter(|d| !db.contains(d)).cloned().collect(),
        demos_added: db.iter().filter(|d| !da.contains(d)).cloned().collect(),
    }
}

impl ArtifactDiff {
    /// Compares `a` (labelled `a_name`) with `b`.
    pub fn new(a_name: &str, a: &Artifact, b_name: &str, b: &Artifact) -> Self {
        let zip = |ra: Vec<(&'static str, Option<String>)>,
                   rb: Vec<(&'static str, Option<String>)>| {
            ra.into_iter()
                .zip(rb)
                .map(|((k, x), (_, y))| FieldChange::new(k, x, y))
                .collect::<Vec<_>>()
        };
        let provenance = zip(provenance_rows(a), provenance_rows(b))
            .into_iter()
            .filter(FieldChange::changed)
            .collect();
        let scores = zip(score_rows(a), score_rows(b));
        let mut paths: Vec<&str> = a.predictors.iter().map(|p| p.path.as_str()).collect();
        for p in &b.predictors {
            if !paths.contains(&p.path.as_str()) {
                paths.push(&p.path);
            }
        }
        let predictors = paths
            .into_iter()
            .map(|p| predictor_diff(p, a.predictor(p), b.predictor(p)))
            .collect();
        ArtifactDiff {
            a: a_name.to_string(),
            b: b_name.to_string(),
            provenance,
            scores,
            predictors,
        }
    }

    /// True when no prompt differs (scores and provenance may still differ).
    pub fn prompts_identical(&self) -> bool {
        self.predictors.iter().all(PredictorDiff::is_same)
    }

    /// The diff as text for a terminal.
    pub fn to_text(&self, opts: ShowOptions) -> String {
        let mut out = String::new();
        let h = |t: &str| header(opts, t);
        let dash = || "-".to_string();
        let _ = writeln!(out, "{}", h(&format!("A: {}\nB: {}", self.a, self.b)));
        let width = self
            .scores
            .iter()
            .chain(&self.provenance)
            .map(|r| r.a.as_ref().map_or(1, |s| s.chars().count()))
            .max()
            .unwrap_or(1)
            .max(1);
        let row = |out: &mut String, r: &FieldChange| {
            let mark = if r.changed() { "*" } else { " " };
            let _ = writeln!(
                out,
                "{mark} {:<18} {:<width$}  {}",
                r.key,
                r.a.clone().unwrap_or_else(dash),
                r.b.clone().unwrap_or_else(dash)
            );
        };
        let _ = writeln!(
            out,
            "\n{}",
            h(&format!("{:<20} {:<width$}  B", "Scores", "A"))
        );
        for r in &self.scores {
            row(&mut out, r);
        }
        if !self.provenance.is_empty() {
            let _ = writeln!(out, "\n{}", h("Provenance (changed)"));
            for r in &self.provenance {
                row(&mut out, r);
            }
        }
        for p in &self.predictors {
            let name = if p.path.is_empty() {
                "(top level)"
            } else {
                &p.path
            };
            let _ = write!(out, "\n{}", h(&format!("Predictor {name}")));
            if !p.in_a || !p.in_b {
                let _ = writeln!(out, ": only in {}", if p.in_a { "A" } else { "B" });
                continue;
            }
            if p.is_same() {
                let _ = writeln!(out, ": identical");
                continue;
            }
            let _ = writeln!(out);
            for f in &p.fields {
                let _ = writeln!(out, "  field {}:", f.key);
                let _ = writeln!(out, "    A: {}", f.a.clone().unwrap_or_else(dash));
                let _ = writeln!(out, "    B: {}", f.b.clone().unwrap_or_else(dash));
            }
            if let Some((a, b)) = &p.instructions {
                let _ = writeln!(out, "  instructions:");
                for line in line_diff(a, b) {
                    let _ = writeln!(out, "    {line}");
                }
            }
            let _ = writeln!(out, "  demos: {} in A, {} in B", p.demos_a, p.demos_b);
            for d in &p.demos_removed {
                let _ = writeln!(out, "    - {d}");
            }
            for d in &p.demos_added {
                let _ = writeln!(out, "    + {d}");
            }
        }
        out
    }
}

/// A line diff (`- `, `+ `, `  ` prefixes) from the longest common subsequence.
pub(crate) fn line_diff(a: &str, b: &str) -> Vec<String> {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn line_diff_marks_changed_lines() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nx\nc"),
            ["  a", "- b", "+ x", "  c"]
        );
        assert_eq!(line_diff("", "new"), ["+ new"]);
    }
}
