//! Interop with Python DSPy's saved programs (`program.save("x.json")`, DSPy 3.x).
//!
//! DSPy's JSON maps each predictor's name to its state — `demos`, and `signature`
//! with `instructions` and one `{prefix, description}` per field (inputs then
//! outputs, in signature order; field names are not saved) — plus `metadata`. A
//! program that is itself a single `Predict` is saved flat, without a name.
//!
//! Names differ in one place: a DSPy 3.x `ChainOfThought` holds its `Predict` at
//! `<name>.predict`, while Sigil's `ChainOfThought` predictor takes the module's own
//! path, `<name>`. Import maps `x.predict` (and a top-level `predict`) to `x` (and
//! the top level) when the program has a predictor there and none at the longer
//! path; export writes `<path>.predict` for predictors whose first output is
//! `reasoning` (what `ChainOfThought` adds), or uses the names you give.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::ArtifactError;
use super::build::predictor_entry;
use super::check::Difference;
use super::format::{Artifact, FORMAT_VERSION, ImportSection, LmSection, PredictorEntry};
use crate::adapter::Adapter;
use crate::data::Example;
use crate::lm::LmParams;
use crate::module::{Module, join_path};
use crate::signature::{Field, Signature, infer_prefix};

/// The DSPy version whose file layout export writes into `metadata`.
const DSPY_VERSION: &str = "3.4.1";

/// Reads a DSPy JSON file into an artifact for `program` (see [`import_dspy`]).
pub fn import_dspy_file(
    path: impl AsRef<Path>,
    program: &dyn Module,
    adapter: &dyn Adapter,
) -> Result<Artifact, ArtifactError> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ArtifactError::Io {
        file: file.clone(),
        message: format!("cannot read: {e}"),
    })?;
    import_dspy(&text, &file, program, adapter)
}

/// Imports a DSPy saved program into an artifact for `program`: per predictor the
/// instructions, demos (with DSPy's `augmented` mark), and field prefixes and
/// descriptions, with prompts rendered by `adapter`.
///
/// The file must fit the program: every DSPy predictor must map to a predictor of the
/// program and back, with as many fields as the program's signature; otherwise the
/// error lists every difference. Types are checked as far as the file allows (a
/// wrong-typed value names its place, e.g. `generate.predict.signature.fields[1].prefix`).
///
/// The overlay ([`Artifact::overlay`]) carries instructions and demos; the prefixes
/// and descriptions are in [`Artifact::predictors`]' fields: apply them with
/// [`PredictorEntry::signature`] and `Predict::set_signature` when they differ from
/// the program's ([`Artifact::prompt_drift`] tells).
pub fn import_dspy(
    text: &str,
    file: &str,
    program: &dyn Module,
    adapter: &dyn Adapter,
) -> Result<Artifact, ArtifactError> {
    let bad = |message: String| ArtifactError::Dspy {
        file: file.to_string(),
        message,
    };
    let root: Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(root) = root else {
        return Err(bad(format!(
            "the top level should be an object, got {}",
            kind(&root)
        )));
    };
    // (DSPy name, state) pairs; a bare Predict is saved flat.
    let mut states: Vec<(String, &Map<String, Value>)> = Vec::new();
    if root.contains_key("signature") {
        states.push((String::new(), &root));
    } else {
        for (name, v) in &root {
            if name == "metadata" {
                continue;
            }
            let Value::Object(state) = v else {
                return Err(bad(format!(
                    "`{name}` should be a predictor's state (an object), got {}",
                    kind(v)
                )));
            };
            states.push((name.clone(), state));
        }
    }
    let dspy_version = root
        .get("metadata")
        .and_then(|m| m.get("dependency_versions"))
        .and_then(|d| d.get("dspy"))
        .and_then(Value::as_str)
        .map(str::to_string);

    let program_preds = program.named_predictors();
    let has = |p: &str| program_preds.iter().any(|(q, _)| q == p);
    let mut differences = Vec::new();
    let mut mapped: IndexMap<String, (String, &Map<String, Value>)> = IndexMap::new();
    for (name, state) in &states {
        let candidates = [
            Some(name.clone()),
            name.strip_suffix(".predict").map(str::to_string),
            (name == "predict").then(String::new),
        ];
        match candidates.into_iter().flatten().find(|c| has(c)) {
            Some(path) => {
                if let Some((other, _)) = mapped.get(&path) {
                    return Err(bad(format!(
                        "`{other}` and `{name}` both map to the program's predictor `{path}`"
                    )));
                }
                mapped.insert(path, (name.clone(), *state));
            }
            None => differences.push(Difference::UnmatchedDspyPredictor {
                name: if name.is_empty() {
                    "self".into()
                } else {
                    name.clone()
                },
            }),
        }
    }
    for (path, _) in &program_preds {
        if !mapped.contains_key(path) {
            differences.push(Difference::MissingPredictor { path: path.clone() });
        }
    }

    let mut predictors = Vec::new();
    let mut lm = None;
    for (path, predict) in &program_preds {
        let Some((name, state)) = mapped.get(path) else {
            continue;
        };
        let at = |rest: &str| {
            if name.is_empty() {
                rest.to_string()
            } else {
                format!("{name}.{rest}")
            }
        };
        let base = predict.signature();
        let sig_state = object(state.get("signature"), &at("signature")).map_err(&bad)?;
        let instructions =
            string(sig_state.get("instructions"), &at("signature.instructions")).map_err(&bad)?;
        let fields = array(sig_state.get("fields"), &at("signature.fields")).map_err(&bad)?;
        let names: Vec<&Field> = base.inputs().iter().chain(base.outputs()).collect();
        if fields.len() != names.len() {
            differences.push(Difference::FieldCount {
                path: path.clone(),
                file: fields.len(),
                program: names.iter().map(|f| f.name.clone()).collect(),
            });
            continue;
        }
        let edited = |f: &Field, i: usize| -> Result<Field, String> {
            let place = at(&format!("signature.fields[{i}]"));
            let saved = object(fields.get(i), &place)?;
            let prefix = string(saved.get("prefix"), &format!("{place}.prefix"))?;
            let desc = string(saved.get("description"), &format!("{place}.description"))?;
            let mut f = f.clone();
            // DSPy writes the defaults out; keep them implicit so the artifact stays clean.
            f.prefix = (prefix != infer_prefix(&f.name)).then(|| prefix.to_string());
            f.desc = (desc != format!("${{{}}}", f.name)).then(|| desc.to_string());
            Ok(f)
        };
        let n_in = base.inputs().len();
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (i, f) in names.iter().enumerate() {
            let f = edited(f, i).map_err(&bad)?;
            if i < n_in {
                inputs.push(f);
            } else {
                outputs.push(f);
            }
        }
        let signature = Signature::new(inputs, outputs)
            .map_err(|e| bad(format!("{}: {e}", at("signature"))))?
            .with_instructions(instructions);

        let (demos, augmented) =
            demos(state.get("demos"), &at("demos"), &signature).map_err(&bad)?;
        if lm.is_none()
            && let Some(Value::Object(l)) = state.get("lm")
            && let Some(model) = l.get("model").and_then(Value::as_str)
        {
            lm = Some(LmSection {
                model: model.to_string(),
                params: LmParams {
                    temperature: l.get("temperature").and_then(Value::as_f64),
                    max_tokens: l
                        .get("max_tokens")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok()),
                    ..Default::default()
                },
            });
        }
        predictors.push(predictor_entry(
            path, &signature, &demos, &augmented, adapter,
        )?);
    }
    if !differences.is_empty() {
        return Err(ArtifactError::Mismatch {
            program: format!("the program `{}` ({file})", program.name()),
            differences,
        });
    }
    let artifact = Artifact {
        format_version: FORMAT_VERSION,
        sigil_version: env!("CARGO_PKG_VERSION").to_string(),
        program_name: Some(program.name().to_string()),
        adapter: adapter.name().to_string(),
        lm,
        optimizer: None,
        data: Default::default(),
        scores: Default::default(),
        cost: None,
        imported_from: Some(ImportSection {
            format: "dspy-json".into(),
            version: dspy_version,
        }),
        program: None,
        finetuned: Vec::new(),
        predictors,
    };
    artifact.validate(file)?;
    Ok(artifact)
}

fn demos(
    v: Option<&Value>,
    place: &str,
    signature: &Signature,
) -> Result<(Vec<Example>, Vec<bool>), String> {
    let items = match v {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(_) => array(v, place)?,
    };
    let mut out = Vec::new();
    let mut augmented = Vec::new();
    for (i, d) in items.iter().enumerate() {
        let here = format!("{place}[{i}]");
        let obj = object(Some(d), &here)?;
        let mut ex = Example::new();
        let mut aug = false;
        for (k, v) in obj {
            if k == "augmented" {
                aug = v.as_bool().ok_or_else(|| {
                    format!("{here}.augmented should be true or false, got {}", kind(v))
                })?;
                continue;
            }
            if signature.inputs().iter().any(|f| &f.name == k) {
                ex = ex.input(k.clone(), v.clone());
            } else {
                ex = ex.set(k.clone(), v.clone());
            }
        }
        out.push(ex);
        augmented.push(aug);
    }
    Ok((out, augmented))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(v: Option<&'a Value>, place: &str) -> Result<&'a Map<String, Value>, String> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(format!("{place} should be an object, got {}", kind(other))),
        None => Err(format!("{place} is missing")),
    }
}

fn array<'a>(v: Option<&'a Value>, place: &str) -> Result<&'a Vec<Value>, String> {
    match v {
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("{place} should be a list, got {}", kind(other))),
        None => Err(format!("{place} is missing")),
    }
}

fn string<'a>(v: Option<&'a Value>, place: &str) -> Result<&'a str, String> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{place} should be a string, got {}", kind(other))),
        None => Err(format!("{place} is missing")),
    }
}

/// The DSPy name of a predictor: `<path>.predict` when it looks like a
/// `ChainOfThought` (first output `reasoning`), else its path.
pub fn default_dspy_name(p: &PredictorEntry) -> String {
    let first_output = p
        .fields
        .iter()
        .find(|f| f.role == crate::signature::FieldKind::Output);
    if first_output.is_some_and(|f| f.name == "reasoning") {
        join_path(&p.path, "predict")
    } else {
        p.path.clone()
    }
}

/// The artifact as DSPy JSON that `program.load()` reads, naming predictors with
/// [`default_dspy_name`].
pub fn export_dspy(artifact: &Artifact) -> Result<Value, ArtifactError> {
    export_dspy_with_names(artifact, &default_dspy_name)
}

/// [`export_dspy`] with your own predictor names (the DSPy program's
/// `named_predictors()` names).
pub fn export_dspy_with_names(
    artifact: &Artifact,
    name_of: &dyn Fn(&PredictorEntry) -> String,
) -> Result<Value, ArtifactError> {
    let mut root = Map::new();
    for p in &artifact.predictors {
        let state = predictor_state(p)?;
        let name = name_of(p);
        if name.is_empty() {
            if artifact.predictors.len() != 1 {
                return Err(ArtifactError::Build(
                    "only a program of a single predictor can be saved without a predictor name"
                        .into(),
                ));
            }
            root.extend(state);
        } else if root.insert(name.clone(), Value::Object(state)).is_some() {
            return Err(ArtifactError::Build(format!(
                "two predictors get the DSPy name `{name}`"
            )));
        }
    }
    root.insert(
        "metadata".into(),
        json!({"dependency_versions": {"python": "3.11", "dspy": DSPY_VERSION, "cloudpickle": "3.1"}}),
    );
    Ok(Value::Object(root))
}

fn predictor_state(p: &PredictorEntry) -> Result<Map<String, Value>, ArtifactError> {
    let sig = p
        .signature()
        .map_err(|e| ArtifactError::Build(format!("predictor `{}`: {e}", p.path)))?;
    let examples = p
        .examples()
        .map_err(|e| ArtifactError::Build(format!("predictor `{}`: {e}", p.path)))?;
    let demos: Vec<Value> = examples
        .iter()
        .zip(&p.demos)
        .map(|(ex, d)| {
            let mut m: Map<String, Value> = ex
                .values()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if d.augmented {
                m.insert("augmented".into(), Value::Bool(true));
            }
            Value::Object(m)
        })
        .collect();
    let fields: Vec<Value> = sig
        .inputs()
        .iter()
        .chain(sig.outputs())
        .map(|f| json!({"prefix": f.prefix_or_default(), "description": f.desc_or_default()}))
        .collect();
    let mut m = Map::new();
    m.insert("traces".into(), json!([]));
    m.insert("train".into(), json!([]));
    m.insert("demos".into(), Value::Array(demos));
    m.insert(
        "signature".into(),
        json!({"instructions": p.instructions, "fields": fields}),
    );
    m.insert("lm".into(), Value::Null);
    Ok(m)
}
