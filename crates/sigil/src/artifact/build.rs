//! Building an artifact from a program, an optimizer's result and its provenance.

use serde_json::Value;

use super::ArtifactError;
use super::format::{
    Artifact, CostSection, DataSection, DatasetInfo, DemoEntry, FORMAT_VERSION, FieldEntry,
    FinetunedSection, LmSection, OptimizerSection, PredictorEntry, RenderedMessage, Scores,
    TestScores,
};
use crate::adapter::Adapter;
use crate::data::Example;
use crate::lm::LmParams;
use crate::module::Module;
use crate::optimize::{Compiled, HeldOutReport, StopReason};
use crate::signature::{FieldKind, Signature};

/// Where a compiled program came from, beyond what [`Compiled`] itself records.
///
/// ```
/// use sigil::artifact::Provenance;
/// let p = Provenance::new("openai/gpt-4o-mini")
///     .setting("num_candidates", 8)
///     .setting("max_bootstrapped_demos", 4);
/// # let _ = p;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The model id the program was compiled against.
    pub model: String,
    /// The LM parameters used while compiling.
    pub lm_params: LmParams,
    /// The optimizer's settings, as a generic key/value table.
    pub optimizer_settings: toml::Table,
    /// The training set's hash and size.
    pub trainset: Option<DatasetInfo>,
    /// The validation set's hash and size.
    pub valset: Option<DatasetInfo>,
    /// The held-out test set's hash and size.
    pub testset: Option<DatasetInfo>,
    /// The metric's name.
    pub metric: Option<String>,
    /// Baseline vs compiled on the held-out test set.
    pub held_out: Option<HeldOutReport>,
    /// The declarative program-file spec (the CLI fills it; Rust programs leave it out).
    pub program: Option<toml::Table>,
}

impl Provenance {
    /// Provenance for `model`; everything else unset.
    pub fn new(model: impl Into<String>) -> Self {
        Provenance {
            model: model.into(),
            ..Default::default()
        }
    }
    /// Sets [`Provenance::lm_params`].
    pub fn lm_params(mut self, params: LmParams) -> Self {
        self.lm_params = params;
        self
    }
    /// Adds one optimizer setting (any TOML value: numbers, strings, bools, lists).
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<toml::Value>) -> Self {
        self.optimizer_settings.insert(key.into(), value.into());
        self
    }
    /// Records the training set's hash and size.
    pub fn trainset(mut self, examples: &[Example]) -> Self {
        self.trainset = Some(DatasetInfo::of(examples));
        self
    }
    /// Records the validation set's hash and size.
    pub fn valset(mut self, examples: &[Example]) -> Self {
        self.valset = Some(DatasetInfo::of(examples));
        self
    }
    /// Records the test set's hash and size.
    pub fn testset(mut self, examples: &[Example]) -> Self {
        self.testset = Some(DatasetInfo::of(examples));
        self
    }
    /// Sets the metric's name.
    pub fn metric(mut self, name: impl Into<String>) -> Self {
        self.metric = Some(name.into());
        self
    }
    /// The held-out report; also sets the metric name and test set size when unset.
    pub fn held_out(mut self, report: HeldOutReport) -> Self {
        if self.metric.is_none() {
            self.metric = Some(report.compiled.metric.clone());
        }
        self.held_out = Some(report);
        self
    }
    /// Sets [`Provenance::program`].
    pub fn program_spec(mut self, spec: toml::Table) -> Self {
        self.program = Some(spec);
        self
    }
}

impl Artifact {
    /// The artifact for `program` compiled into `compiled`, with prompts rendered by
    /// `adapter` (the one the program runs with).
    pub fn build(
        program: &dyn Module,
        compiled: &Compiled,
        adapter: &dyn Adapter,
        provenance: Provenance,
    ) -> Result<Artifact, ArtifactError> {
        let mut predictors = Vec::new();
        for (path, predict) in program.named_predictors() {
            let state = compiled.overlay.get(&path);
            let mut signature = predict.signature().clone();
            if let Some(i) = state.and_then(|s| s.instructions.as_ref()) {
                signature = signature.with_instructions(i.clone());
            }
            let demos = state
                .and_then(|s| s.demos.clone())
                .unwrap_or_else(|| predict.demos().to_vec());
            predictors.push(predictor_entry(&path, &signature, &demos, &[], adapter)?);
        }
        if let Some(extra) = compiled
            .overlay
            .predictors
            .keys()
            .find(|k| !predictors.iter().any(|p| &p.path == *k))
        {
            return Err(ArtifactError::Build(format!(
                "the compiled overlay names predictor `{extra}`, which the program does not have"
            )));
        }
        let trial_usage = compiled.trials.iter().fold((0u64, 0u64, 0u64), |acc, t| {
            (
                acc.0 + t.lm_calls,
                acc.1 + t.usage.input_tokens,
                acc.2 + t.usage.output_tokens,
            )
        });
        let test = provenance.held_out.as_ref().map(test_scores);
        Ok(Artifact {
            format_version: FORMAT_VERSION,
            sigil_version: env!("CARGO_PKG_VERSION").to_string(),
            program_name: Some(program.name().to_string()),
            adapter: adapter.name().to_string(),
            lm: Some(LmSection {
                model: provenance.model,
                params: provenance.lm_params,
            }),
            optimizer: Some(OptimizerSection {
                name: compiled.optimizer.clone(),
                seed: compiled.seed,
                settings: provenance.optimizer_settings,
            }),
            data: DataSection {
                trainset: provenance.trainset,
                valset: provenance.valset,
                testset: provenance.testset,
            },
            scores: Scores {
                metric: provenance.metric,
                valset_baseline: compiled.baseline_score,
                valset_compiled: compiled.score,
                test,
            },
            cost: Some(CostSection {
                lm_requests: compiled.spend.lm_calls + compiled.spend.cache_hits,
                trials: compiled.trials.len(),
                trial_lm_calls: trial_usage.0,
                trial_input_tokens: trial_usage.1,
                trial_output_tokens: trial_usage.2,
                stopped: compiled.stopped.as_ref().map(|s| match s {
                    StopReason::BudgetExhausted => "budget_exhausted".to_string(),
                    StopReason::TargetReached => "target_reached".to_string(),
                }),
            }),
            imported_from: None,
            program: provenance.program,
            finetuned: Vec::new(),
            predictors,
        })
    }
}

fn test_scores(r: &HeldOutReport) -> TestScores {
    TestScores {
        examples: r.difference.n,
        baseline: r.baseline.mean,
        baseline_ci95: [r.baseline.ci95.0, r.baseline.ci95.1],
        baseline_errors: r.baseline.errors,
        compiled: r.compiled.mean,
        compiled_ci95: [r.compiled.ci95.0, r.compiled.ci95.1],
        compiled_errors: r.compiled.errors,
        difference: r.difference.diff,
        difference_ci95: [r.difference.ci95.0, r.difference.ci95.1],
        prob_better: r.difference.prob_positive,
        resamples: r.difference.resamples,
        bootstrap_seed: r.difference.seed,
    }
}

/// The entry for one predictor; `augmented[i]` marks demo `i` as bootstrapped.
pub(crate) fn predictor_entry(
    path: &str,
    signature: &Signature,
    demos: &[Example],
    augmented: &[bool],
    adapter: &dyn Adapter,
) -> Result<PredictorEntry, ArtifactError> {
    let fields = signature
        .inputs()
        .iter()
        .map(|f| FieldEntry::from_field(FieldKind::Input, f))
        .chain(
            signature
                .outputs()
                .iter()
                .map(|f| FieldEntry::from_field(FieldKind::Output, f)),
        )
        .collect();
    let demos_out = demos
        .iter()
        .enumerate()
        .map(|(i, d)| DemoEntry::from_example(d, augmented.get(i).copied().unwrap_or(false)))
        .collect();
    Ok(PredictorEntry {
        path: path.to_string(),
        instructions: signature.instructions(),
        fields,
        demos: demos_out,
        rendered: render_placeholder(signature, demos, adapter)
            .map_err(|e| ArtifactError::Build(format!("predictor `{path}`: {e}")))?,
    })
}

/// The messages for a placeholder input: `{name}` for every input field.
pub(crate) fn render_placeholder(
    signature: &Signature,
    demos: &[Example],
    adapter: &dyn Adapter,
) -> Result<Vec<RenderedMessage>, crate::adapter::FormatError> {
    let mut inputs = Example::new();
    for f in signature.inputs() {
        inputs = inputs.input(f.name.clone(), Value::String(format!("{{{}}}", f.name)));
    }
    Ok(adapter
        .format(signature, demos, &inputs)?
        .iter()
        .map(RenderedMessage::from)
        .collect())
}

/// Hex SHA-256 of a file's bytes, streamed (the hashes an artifact records for the
/// files it names).
pub fn file_sha256(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

impl Artifact {
    /// Records the models a `BootstrapFinetune` run trained (`outcome`), with `trainer`
    /// and `settings`: per model its paths, ids, the hashes of a local base model and
    /// adapter file, the training data's hash and size, and the loss curve.
    pub fn with_finetuned(
        mut self,
        outcome: &crate::optimize::FinetuneOutcome,
        trainer: &str,
        settings: &crate::optimize::TrainSettings,
    ) -> Result<Artifact, ArtifactError> {
        use sha2::Digest;
        let io = |path: &std::path::Path, e: std::io::Error| ArtifactError::Io {
            file: path.display().to_string(),
            message: format!("cannot hash it: {e}"),
        };
        for (paths, model) in &outcome.models {
            let examples: Vec<&crate::optimize::FinetuneExample> = if outcome.models.len() == 1 {
                outcome.data.examples.iter().collect()
            } else {
                outcome
                    .data
                    .examples
                    .iter()
                    .filter(|e| paths.contains(&e.path))
                    .collect()
            };
            let mut hasher = sha2::Sha256::new();
            for e in &examples {
                hasher.update(e.jsonl_line().as_bytes());
                hasher.update(b"\n");
            }
            let base = std::path::Path::new(&model.base_model);
            let base_model_sha256 = match base.is_file() {
                true => Some(file_sha256(base).map_err(|e| io(base, e))?),
                false => None,
            };
            let adapter_sha256 = match &model.adapter {
                Some(a) => Some(file_sha256(a).map_err(|e| io(a, e))?),
                None => None,
            };
            self.finetuned.push(FinetunedSection {
                paths: paths.clone(),
                trainer: trainer.to_string(),
                model_id: model.model_id.clone(),
                base_model: model.base_model.clone(),
                base_model_sha256,
                adapter: model.adapter.as_ref().map(|a| a.display().to_string()),
                adapter_sha256,
                job_id: model.job_id.clone(),
                settings: settings.clone(),
                data: DatasetInfo {
                    sha256: hex::encode(hasher.finalize()),
                    size: examples.len(),
                },
                loss_curve: model.loss_curve.clone(),
            });
        }
        Ok(self)
    }
}
