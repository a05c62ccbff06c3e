//! Does an artifact fit a program? Every structural difference, listed.

use std::fmt;

use super::ArtifactError;
use super::build::render_placeholder;
use super::format::Artifact;
use crate::module::Module;
use crate::signature::{FieldKind, Signature};

/// One way an artifact and a program disagree.
#[derive(Clone, Debug, PartialEq)]
pub enum Difference {
    /// The program has a predictor the artifact does not mention.
    MissingPredictor {
        /// The predictor path.
        path: String,
    },
    /// The artifact has a predictor the program does not have.
    ExtraPredictor {
        /// The predictor path.
        path: String,
    },
    /// A field of the program's predictor is not in the artifact.
    MissingField {
        /// The predictor path.
        path: String,
        /// The field.
        field: String,
    },
    /// A field in the artifact is not in the program's predictor.
    ExtraField {
        /// The predictor path.
        path: String,
        /// The field.
        field: String,
    },
    /// The field is an input on one side and an output on the other.
    Role {
        /// The predictor path.
        path: String,
        /// The field.
        field: String,
        /// Its role in the artifact.
        artifact: FieldKind,
        /// Its role in the program.
        program: FieldKind,
    },
    /// The field's type differs.
    Type {
        /// The predictor path.
        path: String,
        /// The field.
        field: String,
        /// Its type in the artifact.
        artifact: String,
        /// Its type in the program.
        program: String,
    },
    /// The fields are the same but in another order (the prompt would differ).
    Order {
        /// The predictor path.
        path: String,
        /// The artifact's order.
        artifact: Vec<String>,
        /// The program's order.
        program: Vec<String>,
    },
    /// A predictor of a DSPy file that maps to no predictor of the program.
    UnmatchedDspyPredictor {
        /// The predictor's name in the file.
        name: String,
    },
    /// A DSPy file has another number of fields than the program's signature.
    FieldCount {
        /// The predictor path.
        path: String,
        /// Fields in the file.
        file: usize,
        /// The program's fields.
        program: Vec<String>,
    },
    /// The artifact's entry does not read back (only for unvalidated artifacts).
    Unreadable {
        /// The predictor path.
        path: String,
        /// Why it does not read back.
        reason: String,
    },
}

fn show_path(p: &str) -> String {
    if p.is_empty() {
        "the top-level predictor".into()
    } else {
        format!("predictor `{p}`")
    }
}

fn role(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Input => "input",
        FieldKind::Output => "output",
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingPredictor { path } => {
                write!(
                    f,
                    "{} is in the program but not in the artifact",
                    show_path(path)
                )
            }
            Difference::ExtraPredictor { path } => {
                write!(
                    f,
                    "{} is in the artifact but not in the program",
                    show_path(path)
                )
            }
            Difference::MissingField { path, field } => write!(
                f,
                "{}: field `{field}` is in the program but not in the artifact",
                show_path(path)
            ),
            Difference::ExtraField { path, field } => write!(
                f,
                "{}: field `{field}` is in the artifact but not in the program",
                show_path(path)
            ),
            Difference::Role {
                path,
                field,
                artifact,
                program,
            } => write!(
                f,
                "{}: field `{field}` is an {} in the artifact but an {} in the program",
                show_path(path),
                role(*artifact),
                role(*program)
            ),
            Difference::Type {
                path,
                field,
                artifact,
                program,
            } => write!(
                f,
                "{}: field `{field}` has type `{artifact}` in the artifact but `{program}` in the program",
                show_path(path)
            ),
            Difference::Order {
                path,
                artifact,
                program,
            } => write!(
                f,
                "{}: fields are ordered [{}] in the artifact but [{}] in the program",
                show_path(path),
                artifact.join(", "),
                program.join(", ")
            ),
            Difference::UnmatchedDspyPredictor { name } => write!(
                f,
                "the DSPy file's predictor `{name}` matches no predictor of the program"
            ),
            Difference::FieldCount {
                path,
                file,
                program,
            } => write!(
                f,
                "{}: the file has {file} field(s), the program's signature has {} ({})",
                show_path(path),
                program.len(),
                program.join(", ")
            ),
            Difference::Unreadable { path, reason } => {
                write!(f, "{}: {reason}", show_path(path))
            }
        }
    }
}

/// Every difference between the artifact's signatures and the program's.
pub(crate) fn differences(artifact: &Artifact, program: &dyn Module) -> Vec<Difference> {
    let program_preds = program.named_predictors();
    let mut out = Vec::new();
    for (path, _) in &program_preds {
        if artifact.predictor(path).is_none() {
            out.push(Difference::MissingPredictor { path: path.clone() });
        }
    }
    for entry in &artifact.predictors {
        let Some((_, predict)) = program_preds.iter().find(|(p, _)| *p == entry.path) else {
            out.push(Difference::ExtraPredictor {
                path: entry.path.clone(),
            });
            continue;
        };
        match entry.signature() {
            Ok(sig) => out.extend(signature_differences(
                &entry.path,
                &sig,
                predict.signature(),
            )),
            Err(reason) => out.push(Difference::Unreadable {
                path: entry.path.clone(),
                reason,
            }),
        }
    }
    out
}

/// Field names, roles, types and order of `ours` (the artifact) against `theirs`.
pub(crate) fn signature_differences(
    path: &str,
    ours: &Signature,
    theirs: &Signature,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let path = path.to_string();
    let ours_fields: Vec<_> = ours.fields().collect();
    let theirs_fields: Vec<_> = theirs.fields().collect();
    for (kind, f) in &theirs_fields {
        match ours_fields.iter().find(|(_, g)| g.name == f.name) {
            None => out.push(Difference::MissingField {
                path: path.clone(),
                field: f.name.clone(),
            }),
            Some((our_kind, g)) => {
                if our_kind != kind {
                    out.push(Difference::Role {
                        path: path.clone(),
                        field: f.name.clone(),
                        artifact: *our_kind,
                        program: *kind,
                    });
                }
                if g.ty != f.ty {
                    out.push(Difference::Type {
                        path: path.clone(),
                        field: f.name.clone(),
                        artifact: g.ty.sigil_name(),
                        program: f.ty.sigil_name(),
                    });
                }
            }
        }
    }
    for (_, g) in &ours_fields {
        if !theirs_fields.iter().any(|(_, f)| f.name == g.name) {
            out.push(Difference::ExtraField {
                path: path.clone(),
                field: g.name.clone(),
            });
        }
    }
    if out.is_empty() {
        let names = |fs: &[(FieldKind, &crate::signature::Field)]| {
            fs.iter().map(|(_, f)| f.name.clone()).collect::<Vec<_>>()
        };
        let (a, b) = (names(&ours_fields), names(&theirs_fields));
        if a != b {
            out.push(Difference::Order {
                path,
                artifact: a,
                program: b,
            });
        }
    }
    out
}

impl Artifact {
    /// Checks the artifact fits `program`: the same predictor paths, and per
    /// predictor the same field names, roles (input/output), types and order.
    /// The error lists every difference, not just the first.
    pub fn check_against(&self, program: &dyn Module) -> Result<(), ArtifactError> {
        let differences = differences(self, program);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(ArtifactError::Mismatch {
                program: format!("the program `{}`", program.name()),
                differences,
            })
        }
    }

    /// Predictor paths whose prompt, as `program` renders it with this artifact's
    /// overlay, differs from the artifact's rendered messages: field descriptions or
    /// prefixes that differ between the program and the artifact (the overlay carries
    /// instructions and demos only). Empty when the program sends exactly the reviewed
    /// prompts. Predictors the program lacks are skipped (see `check_against`).
    pub fn prompt_drift(&self, program: &dyn Module) -> Result<Vec<String>, ArtifactError> {
        let adapter = crate::adapter::by_name(&self.adapter).ok_or_else(|| {
            ArtifactError::Build(format!(
                "cannot re-render prompts for adapter `{}` (only chat and json are built in)",
                self.adapter
            ))
        })?;
        let mut drifted = Vec::new();
        for (path, predict) in program.named_predictors() {
            let Some(entry) = self.predictor(&path) else {
                continue;
            };
            let demos = entry.examples().unwrap_or_default();
            let sig = predict
                .signature()
                .with_instructions(entry.instructions.clone());
            let fresh = render_placeholder(&sig, &demos, &*adapter).ok();
            if fresh.as_deref() != Some(entry.rendered.as_slice()) {
                drifted.push(path);
            }
        }
        Ok(drifted)
    }

    /// Predictor paths whose stored rendered messages are not what the artifact's own
    /// signature, instructions and demos render (a hand edit that did not re-render).
    /// `None` for an adapter that is not built in.
    pub fn stale_renders(&self) -> Option<Vec<String>> {
        let adapter = crate::adapter::by_name(&self.adapter)?;
        Some(
            self.predictors
                .iter()
                .filter(|p| {
                    let fresh = match (p.signature(), p.examples()) {
                        (Ok(sig), Ok(demos)) => render_placeholder(&sig, &demos, &*adapter).ok(),
                        _ => None,
                    };
                    fresh.as_deref() != Some(p.rendered.as_slice())
                })
                .map(|p| p.path.clone())
                .collect(),
        )
    }

    /// Renders every predictor's messages again from its signature and demos.
    pub fn rerender(&mut self) -> Result<(), ArtifactError> {
        let adapter = crate::adapter::by_name(&self.adapter).ok_or_else(|| {
            ArtifactError::Build(format!("adapter `{}` is not built in", self.adapter))
        })?;
        for p in &mut self.predictors {
            let sig = p.signature().map_err(ArtifactError::Build)?;
            let demos = p.examples().map_err(ArtifactError::Build)?;
            p.rendered = render_placeholder(&sig, &demos, &*adapter)
                .map_err(|e| ArtifactError::Build(format!("predictor `{}`: {e}", p.path)))?;
        }
        Ok(())
    }
}
