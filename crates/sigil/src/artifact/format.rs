//! The artifact's data model: one struct per TOML section, in file order.
//!
//! Field order here is the key order in the file, so a reviewer reads provenance
//! first and the long prompt text last. Every map is a sorted or insertion-ordered
//! collection built deterministically, so the same inputs give the same bytes.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::Example;
use crate::lm::{LmParams, Message, Role};
use crate::signature::{Field, FieldKind, FieldType, Signature};

use super::ArtifactError;

/// The format version this build writes. Older versions are migrated on load
/// (see `load::migrate`); newer ones are refused.
pub const FORMAT_VERSION: u32 = 1;

/// A compiled program as a file: prompts per predictor plus where they came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// The file format's version ([`FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// The Sigil version that wrote the file.
    pub sigil_version: String,
    /// The program's name (its `Module::name()`), for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_name: Option<String>,
    /// The adapter the prompts are rendered with (`chat`, `json`).
    pub adapter: String,
    /// The model and LM parameters used while compiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lm: Option<LmSection>,
    /// The optimizer, its seed and settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSection>,
    /// Hashes and sizes of the datasets.
    #[serde(default, skip_serializing_if = "DataSection::is_empty")]
    pub data: DataSection,
    /// Validation and test scores.
    #[serde(default, skip_serializing_if = "Scores::is_empty")]
    pub scores: Scores,
    /// What compiling cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSection>,
    /// Where the prompts came from when they were not compiled by Sigil (a DSPy file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<ImportSection>,
    /// The declarative program-file spec the CLI compiled, so `sigil promote` can
    /// rebuild the program; absent for programs written in Rust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<toml::Table>,
    /// Models fine-tuned for the predictors (BootstrapFinetune), each with what it was
    /// trained from and on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finetuned: Vec<FinetunedSection>,
    /// The prompts, one entry per predictor path.
    #[serde(default)]
    pub predictors: Vec<PredictorEntry>,
}

/// The model and the LM parameters used while compiling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmSection {
    /// The model id (`openai/gpt-4o-mini`).
    pub model: String,
    /// The LM parameters.
    #[serde(default)]
    pub params: LmParams,
}

/// The optimizer, its seed and its settings (a generic key/value table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSection {
    /// The optimizer's name.
    pub name: String,
    /// The compile seed.
    pub seed: u64,
    /// The optimizer's settings.
    #[serde(default)]
    pub settings: toml::Table,
}

/// Content hash and size of each dataset involved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The training set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainset: Option<DatasetInfo>,
    /// The validation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valset: Option<DatasetInfo>,
    /// The held-out test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testset: Option<DatasetInfo>,
}

impl DataSection {
    /// Whether no dataset is recorded.
    pub fn is_empty(&self) -> bool {
        self.trainset.is_none() && self.valset.is_none() && self.testset.is_none()
    }
}

/// A model fine-tuned for some of the predictors: which, from what, on what, how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetunedSection {
    /// The predictor paths that call it.
    pub paths: Vec<String>,
    /// The trainer (`openai`, `local-lora`).
    pub trainer: String,
    /// The model's id, to call it by.
    pub model_id: String,
    /// The model it was trained from.
    pub base_model: String,
    /// The base model file's SHA-256, when the base is a local file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_model_sha256: Option<String>,
    /// The adapter file, for trainers that write one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// The adapter file's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_sha256: Option<String>,
    /// The provider's job id, for trainers that run jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The training settings.
    pub settings: crate::optimize::TrainSettings,
    /// The training data: the SHA-256 of its JSONL and the number of examples.
    pub data: DatasetInfo,
    /// Loss per epoch, when the trainer reported it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss_curve: Vec<f64>,
}

/// A dataset's SHA-256 content hash ([`crate::data::Dataset::content_hash`]) and size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetInfo {
    /// The SHA-256 content hash, as hex.
    pub sha256: String,
    /// The number of examples.
    pub size: usize,
}

impl DatasetInfo {
    pub(crate) fn of(examples: &[Example]) -> Self {
        DatasetInfo {
            sha256: crate::data::Dataset::from(examples.to_vec()).content_hash(),
            size: examples.len(),
        }
    }
}

/// Validation scores from the optimizer and held-out test scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// The metric's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The uncompiled program's validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valset_baseline: Option<f64>,
    /// The compiled program's validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valset_compiled: Option<f64>,
    /// Held-out test scores, if the program was tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestScores>,
}

impl Scores {
    /// Whether no score is recorded.
    pub fn is_empty(&self) -> bool {
        self.metric.is_none()
            && self.valset_baseline.is_none()
            && self.valset_compiled.is_none()
            && self.test.is_none()
    }
}

/// Baseline and compiled program on the held-out test set, with 95% bootstrap CIs
/// and the paired CI of the difference (compiled - baseline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestScores {
    /// Test examples.
    pub examples: usize,
    /// The uncompiled program's mean score.
    pub baseline: f64,
    /// Its 95% bootstrap interval.
    pub baseline_ci95: [f64; 2],
    /// Examples it failed on.
    pub baseline_errors: usize,
    /// The compiled program's mean score.
    pub compiled: f64,
    /// Its 95% bootstrap interval.
    pub compiled_ci95: [f64; 2],
    /// Examples it failed on.
    pub compiled_errors: usize,
    /// Compiled minus baseline.
    pub difference: f64,
    /// The paired 95% bootstrap interval of the difference.
    pub difference_ci95: [f64; 2],
    /// Share of bootstrap resamples where the compiled program is better.
    pub prob_better: f64,
    /// Bootstrap resamples drawn.
    pub resamples: usize,
    /// The bootstrap's seed.
    pub bootstrap_seed: u64,
}

/// What compiling cost, counted so a rerun from a cache gives the same numbers:
/// requests include cache hits, and tokens are those the scored trials consumed
/// (a cached response carries its original usage). Money and wall time depend on
/// the cache and the clock, so they live in the `.run.toml` sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSection {
    /// Every LM request the optimizer made, answered by the provider or the cache.
    pub lm_requests: u64,
    /// Trials scored.
    pub trials: usize,
    /// LM calls of the scored trials.
    pub trial_lm_calls: u64,
    /// Input tokens of the scored trials.
    pub trial_input_tokens: u64,
    /// Output tokens of the scored trials.
    pub trial_output_tokens: u64,
    /// Why the run stopped early (`budget_exhausted`, `target_reached`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The origin of an imported artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSection {
    /// The source format (`dspy`).
    pub format: String,
    /// The source's version, when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One predictor: its signature, instructions, demos and the messages it renders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorEntry {
    /// The predictor path (`generate`, `hop2.refine`; empty for a bare predictor).
    pub path: String,
    /// The instructions.
    pub instructions: String,
    /// The signature's fields, inputs then outputs.
    #[serde(default)]
    pub fields: Vec<FieldEntry>,
    /// The demos.
    #[serde(default)]
    pub demos: Vec<DemoEntry>,
    /// The exact messages for a placeholder input (`{question}` for each input field).
    #[serde(default)]
    pub rendered: Vec<RenderedMessage>,
}

/// One signature field. `type` is the string form (`list[str]`, `enum[a, b]`); an
/// object type, or a type whose string form does not read back, also carries
/// `type_json` (the exact type as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldEntry {
    /// The field's name.
    pub name: String,
    /// Input or output.
    pub role: FieldKind,
    /// The type's string form.
    #[serde(rename = "type")]
    pub ty: String,
    /// The exact type as JSON, when the string form does not read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_json: Option<String>,
    /// The description; `None` for the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// The prefix; `None` for the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// One demo. Values TOML can hold are in `values`; values containing a JSON null
/// (which TOML has no word for) are in `json` as JSON text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoEntry {
    /// The keys that are inputs; every other key is a label or an output.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// DSPy's mark for a demo bootstrapped from the program's own trace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub augmented: bool,
    /// The keys in the demo's original order (only needed when `json` is used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// The values TOML can hold.
    #[serde(default)]
    pub values: toml::Table,
    /// The other values, as JSON text.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub json: IndexMap<String, String>,
}

/// One rendered chat message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderedMessage {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl From<&Message> for RenderedMessage {
    fn from(m: &Message) -> Self {
        RenderedMessage {
            role: m.role,
            content: m.content.clone(),
        }
    }
}

impl FieldEntry {
    pub(crate) fn from_field(role: FieldKind, f: &Field) -> Self {
        let ty = f.ty.sigil_name();
        let reads_back =
            !matches!(f.ty, FieldType::Object { .. }) && parse_type(&ty).is_some_and(|t| t == f.ty);
        FieldEntry {
            name: f.name.clone(),
            role,
            ty,
            type_json: (!reads_back)
                .then(|| serde_json::to_string(&f.ty).unwrap_or_else(|_| "null".to_string())),
            desc: f.desc.clone(),
            prefix: f.prefix.clone(),
        }
    }

    /// The field type, from `type_json` when present, else from the string form.
    pub fn field_type(&self) -> Result<FieldType, String> {
        if let Some(j) = &self.type_json {
            return serde_json::from_str(j).map_err(|e| format!("`type_json` is not a type: {e}"));
        }
        parse_type(&self.ty).ok_or_else(|| {
            format!(
                "`type = {:?}` is not a type (str, int, float, bool, list[T], dict[str, T], optional[T], enum[a, b])",
                self.ty
            )
        })
    }

    pub(crate) fn to_field(&self) -> Result<Field, String> {
        Ok(Field {
            name: self.name.clone(),
            ty: self.field_type()?,
            desc: self.desc.clone(),
            prefix: self.prefix.clone(),
        })
    }
}

/// Reads a type written in the signature string form, by parsing a one-field signature.
fn parse_type(ty: &str) -> Option<FieldType> {
    let sig = Signature::parse(&format!("x: {ty} -> y")).ok()?;
    sig.inputs().first().map(|f| f.ty.clone())
}

impl PredictorEntry {
    /// The predictor's full signature: fields, descriptions, prefixes, instructions.
    pub fn signature(&self) -> Result<Signature, String> {
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            let field = f
                .to_field()
                .map_err(|e| format!("fields[{i}] (`{}`): {e}", f.name))?;
            match f.role {
                FieldKind::Input => inputs.push(field),
                FieldKind::Output => outputs.push(field),
            }
        }
        let sig = Signature::new(inputs, outputs).map_err(|e| e.to_string())?;
        Ok(sig.with_instructions(self.instructions.clone()))
    }

    /// The demos as examples.
    pub fn examples(&self) -> Result<Vec<Example>, String> {
        self.demos
            .iter()
            .enumerate()
            .map(|(i, d)| d.to_example().map_err(|e| format!("demos[{i}]: {e}")))
            .collect()
    }
}

impl DemoEntry {
    pub(crate) fn from_example(ex: &Example, augmented: bool) -> Self {
        let mut d = DemoEntry {
            inputs: ex.input_keys().to_vec(),
            augmented,
            ..Default::default()
        };
        // Sorted keys, so the bytes do not depend on whether `toml::Table` keeps
        // insertion order (its `preserve_order` feature) or sorts.
        let mut sorted_values: Vec<(&String, &Value)> = ex.values().iter().collect();
        sorted_values.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in sorted_values {
            match json_to_toml(v) {
                Some(t) => {
                    d.values.insert(k.clone(), t);
                }
                None => {
                    d.json.insert(k.clone(), v.to_string());
                }
            }
        }
        // `values` is a sorted table; keep the original order when it is not sorted or
        // when keys are split over two tables.
        let keys: Vec<&String> = ex.values().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if !d.json.is_empty() || keys != sorted {
            d.order = keys.into_iter().cloned().collect();
        }
        d
    }

    pub(crate) fn to_example(&self) -> Result<Example, String> {
        let mut values: IndexMap<String, Value> = IndexMap::new();
        for (k, v) in &self.values {
            values.insert(k.clone(), toml_to_json(v));
        }
        for (k, v) in &self.json {
            let parsed: Value = serde_json::from_str(v)
                .map_err(|e| format!("`json.{k}` is not valid JSON: {e}"))?;
            if values.insert(k.clone(), parsed).is_some() {
                return Err(format!("key `{k}` is in both `values` and `json`"));
            }
        }
        if !self.order.is_empty() {
            let mut ordered = IndexMap::new();
            for k in &self.order {
                let v = values
                    .shift_remove(k)
                    .ok_or_else(|| format!("`order` names `{k}`, which has no value"))?;
                ordered.insert(k.clone(), v);
            }
            if let Some(k) = values.keys().next() {
                return Err(format!("key `{k}` has a value but is not in `order`"));
            }
            values = ordered;
        }
        for k in &self.inputs {
            if !values.contains_key(k) {
                return Err(format!("input key `{k}` has no value"));
            }
        }
        let inputs: Vec<&str> = self.inputs.iter().map(String::as_str).collect();
        Ok(Example::from_pairs(values, &inputs))
    }
}

/// A JSON value as TOML, or `None` when it holds a null anywhere.
pub(crate) fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => {
            toml::Value::Array(items.iter().map(json_to_toml).collect::<Option<_>>()?)
        }
        Value::Object(map) => {
            let mut t = toml::Table::new();
            for (k, v) in map {
                t.insert(k.clone(), json_to_toml(v)?);
            }
            // A sorted table would reorder the object's keys; keep it as JSON text then.
            let keys: Vec<&String> = map.keys().collect();
            if !keys.is_sorted() {
                return None;
            }
            toml::Value::Table(t)
        }
    })
}

pub(crate) fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

impl Artifact {
    /// Checks everything a program would need: each predictor's signature and demos
    /// read back, and paths are unique. Errors name the predictor and the field.
    pub(crate) fn validate(&self, file: &str) -> Result<(), ArtifactError> {
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.predictors.iter().enumerate() {
            let at = |msg: String| ArtifactError::Invalid {
                file: file.to_string(),
                message: format!("predictors[{i}] (path `{}`): {msg}", p.path),
            };
            if !seen.insert(p.path.as_str()) {
                return Err(at("the path appears more than once".into()));
            }
            let sig = p.signature().map_err(at)?;
            if sig.outputs().is_empty() {
                return Err(at(
                    "no output fields (is the file cut short?); every predictor produces something"
                        .into(),
                ));
            }
            p.examples().map_err(at)?;
            if p.rendered.is_empty() {
                return Err(at("no rendered messages (is the file cut short?)".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
