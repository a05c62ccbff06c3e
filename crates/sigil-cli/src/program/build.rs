//! From a checked program file to live parts: the pipeline, the LM context, the
//! datasets, the metric and the optimizer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use sigil::data::{Dataset, Example, Prediction};
use sigil::evaluate::{Contains, ExactMatch, F1, Metric, MetricError};
use sigil::lm::{CachedLm, Lm, LmConfig, LmParams, WithClientOptions, lm_from_config};
use sigil::module::{ChainOfThought, Ctx, Predict};
use sigil::optimize::{
    Auto, BootstrapFewShot, BootstrapFewShotWithRandomSearch, Budget, Copro, EngineConfig,
    LabeledFewShot, MiproV2, Optimizer,
};
use sigil::retrieve::Retriever;
use sigil::signature::Signature;

use super::ProgramFile;
use super::judge::JudgeMetric;
use super::pipeline::{Pipeline, Step, StepKind};
use super::spec::StepSpec;

/// Settings the command line can override.
#[derive(Clone, Debug, Default)]
pub struct LmOverrides {
    /// Replaces `lm.model`.
    pub model: Option<String>,
    /// Replaces `lm.base_url`.
    pub base_url: Option<String>,
    /// Cache responses on disk (None: the file's setting).
    pub cache: Option<bool>,
}

/// The LM a program runs on, and how it was configured (for provenance).
pub struct Built {
    pub ctx: Ctx,
    pub model_id: String,
    pub params: LmParams,
    /// The embedded model's file, when the LM is the embedded engine.
    pub local_model: Option<PathBuf>,
    /// The hosted LM's configuration, when it is hosted (a fine-tuned model id is
    /// called with the same endpoint and key).
    pub hosted: Option<LmConfig>,
}

/// Where the LM response cache lives.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(".sigil").join("cache")
}

/// Builds the LM and the context the program runs in.
pub async fn build_ctx(pf: &ProgramFile, o: &LmOverrides) -> anyhow::Result<Built> {
    let spec = &pf.spec.lm;
    let model = o
        .model
        .clone()
        .or_else(|| spec.model.as_ref().map(|m| m.get_ref().clone()))
        .unwrap_or_else(|| "local".into());
    let mut local_model = None;
    let mut hosted = None;
    let lm: Arc<dyn Lm> = if model == "local" || model.starts_with("local:") {
        let explicit = model.strip_prefix("local:").map(|p| pf.resolve(p));
        let local = sigil_local::LocalLm::from_default(
            explicit.as_deref(),
            sigil_local::LocalConfig::default(),
        )
        .await
        .context("loading the embedded model")?;
        local_model = Some(local.path().to_path_buf());
        Arc::new(local)
    } else {
        let mut c = LmConfig::new(model.clone());
        if let Some(url) = o.base_url.clone().or_else(|| spec.base_url.clone()) {
            c = c.base_url(url);
        }
        if let Some(var) = &spec.api_key_env {
            let key = std::env::var(var)
                .map_err(|_| anyhow!("lm.api_key_env names {var}, which is not set"))?;
            c = c.api_key(key);
        }
        if let Some(s) = spec.structured_output {
            c = c.structured_output(s);
        }
        if let Some(g) = spec.grammar {
            c = c.grammar(g);
        }
        if let Some(n) = spec.concurrency {
            c = c.max_concurrency(n);
        }
        hosted = Some(c.clone());
        lm_from_config(c).with_context(|| format!("the LM `{model}`"))?
    };
    let use_cache = o.cache.or(spec.cache).unwrap_or(false);
    let lm = if use_cache {
        let dir = cache_dir();
        let cached: Arc<dyn Lm> = Arc::new(
            CachedLm::in_dir(lm, &dir)
                .with_context(|| format!("opening the response cache {}", dir.display()))?,
        );
        cached
    } else {
        lm
    };
    let params = LmParams {
        temperature: spec.temperature,
        max_tokens: spec.max_tokens,
        top_p: spec.top_p,
        seed: spec.seed,
        ..Default::default()
    };
    let mut ctx = Ctx::from_arc(lm.clone()).with_params(params.clone());
    if let Some(name) = &pf.spec.adapter {
        // validate() refused any name that is not built in.
        let adapter = sigil::adapter::by_name(name.get_ref())
            .ok_or_else(|| anyhow::anyhow!("unknown adapter {:?}", name.get_ref()))?;
        ctx = ctx.with_adapter_arc(adapter);
    }
    Ok(Built {
        ctx,
        model_id: lm.model_id().to_string(),
        params,
        local_model,
        hosted,
    })
}

/// Builds the program's module tree. `retriever` opens the index a retrieve step names.
/// Opens the retriever a retrieve step names.
pub type RetrieverFor<'a> =
    &'a dyn Fn(&ProgramFile, &StepSpec) -> anyhow::Result<Arc<dyn Retriever>>;

/// The tools a react step's MCP servers give.
pub type ToolsFor<'a> = &'a dyn Fn(&StepSpec) -> Vec<sigil::tool::Tool>;

pub fn build_program(
    pf: &ProgramFile,
    retriever: RetrieverFor<'_>,
    tools: ToolsFor<'_>,
) -> anyhow::Result<Pipeline> {
    let mut steps = Vec::new();
    for s in &pf.spec.steps {
        let name = s.name.get_ref().clone();
        let kind = s
            .module
            .as_ref()
            .map(|m| m.get_ref().as_str())
            .unwrap_or("predict");
        if kind == "retrieve" {
            let query = s
                .query
                .as_ref()
                .map(|q| q.get_ref().clone())
                .unwrap_or_default();
            steps.push(Step {
                name: name.clone(),
                inputs: vec![],
                kind: StepKind::Retrieve {
                    retriever: retriever(pf, s).with_context(|| format!("step `{name}`"))?,
                    query,
                    output: s.output.clone().unwrap_or_else(|| "passages".into()),
                    k: s.k.unwrap_or(3),
                },
            });
            continue;
        }
        let sig_text = s
            .signature
            .as_ref()
            .map(|x| x.get_ref().as_str())
            .unwrap_or_default();
        let mut sig = Signature::parse(sig_text).with_context(|| format!("step `{name}`"))?;
        if let Some(i) = &s.instructions {
            sig = sig.with_instructions(i.clone());
        }
        let inputs = sig
            .inputs()
            .iter()
            .map(|f| {
                let src = s
                    .inputs
                    .get(&f.name)
                    .map(|x| x.get_ref().clone())
                    .unwrap_or_else(|| f.name.clone());
                (f.name.clone(), src)
            })
            .collect();
        let kind = if kind == "chain_of_thought" {
            StepKind::ChainOfThought(ChainOfThought::new(sig)?)
        } else if kind == "react" {
            let react = sigil::module::ReAct::new(sig, tools(s))
                .with_context(|| format!("step `{name}`"))?;
            StepKind::ReAct(Box::new(match s.max_iters {
                Some(n) => react.with_max_iters(n),
                None => react,
            }))
        } else {
            StepKind::Predict(Predict::new(sig))
        };
        steps.push(Step { name, inputs, kind });
    }
    let program = Pipeline {
        name: pf.spec.name.clone(),
        steps,
    };
    Ok(program)
}

/// The train, val and (optional) test sets.
pub struct DataSets {
    pub train: Dataset,
    pub val: Dataset,
    pub test: Option<Dataset>,
}

/// Loads a JSONL or CSV file of examples, with `inputs` marked.
pub fn load_examples(path: &Path, inputs: &[String]) -> anyhow::Result<Dataset> {
    let keys: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let ds = if is_csv {
        sigil::data::load_csv(path, &keys)
    } else {
        sigil::data::load_jsonl(path, &keys)
    };
    ds.with_context(|| format!("loading {}", path.display()))
}

/// Loads the datasets named in `[data]`.
pub fn load_data(pf: &ProgramFile) -> anyhow::Result<DataSets> {
    let Some(d) = &pf.spec.data else {
        bail!(
            "{}: the program file has no [data] table",
            pf.path.display()
        );
    };
    let inputs = d.inputs.get_ref();
    if let (Some(p), Some(split)) = (&d.path, &d.split) {
        let path = pf.resolve(p.get_ref());
        let all = load_examples(&path, inputs)?;
        let (train, val, test) = all
            .split3(split.train, split.val, split.test, split.seed)
            .with_context(|| format!("splitting {}", path.display()))?;
        return Ok(DataSets {
            train,
            val,
            test: (split.test > 0).then_some(test),
        });
    }
    let (Some(t), Some(v)) = (&d.train, &d.val) else {
        bail!(
            "{}: [data] needs `path` and `split`, or `train` and `val`",
            pf.path.display()
        );
    };
    let tp = pf.resolve(t.get_ref());
    let vp = pf.resolve(v.get_ref());
    let test = match &d.test {
        Some(x) => Some(load_examples(&pf.resolve(x.get_ref()), inputs)?),
        None => None,
    };
    Ok(DataSets {
        train: load_examples(&tp, inputs)?,
        val: load_examples(&vp, inputs)?,
        test,
    })
}

/// A shared metric usable where an owned `impl Metric` is asked for.
#[derive(Clone)]
pub struct SharedMetric(pub Arc<dyn Metric>);

impl Metric for SharedMetric {
    fn score(&self, e: &Example, p: &Prediction) -> f64 {
        self.0.score(e, p)
    }
    fn try_score(&self, e: &Example, p: &Prediction) -> Result<f64, MetricError> {
        self.0.try_score(e, p)
    }
    fn name(&self) -> String {
        self.0.name()
    }
}

/// The metric named in `[metric]`; a judge runs on `judge_ctx`.
pub fn build_metric(pf: &ProgramFile, judge_ctx: &Ctx) -> anyhow::Result<SharedMetric> {
    let Some(m) = &pf.spec.metric else {
        bail!(
            "{}: the program file has no [metric] table",
            pf.path.display()
        );
    };
    let field = m.field.get_ref();
    let metric: Arc<dyn Metric> = match m.kind.get_ref().as_str() {
        "exact_match" => Arc::new(ExactMatch::new(field)),
        "f1" => Arc::new(F1::new(field)),
        "contains" => Arc::new(Contains::new(field)),
        "judge" => Arc::new(JudgeMetric::new(
            field,
            m.criteria.as_deref(),
            judge_ctx.clone(),
        )?),
        other => bail!("unknown metric {other:?}"),
    };
    Ok(SharedMetric(metric))
}

/// The optimizer named in `[optimizer]`, on the shared engine `config`.
pub fn build_optimizer(
    pf: &ProgramFile,
    metric: SharedMetric,
    config: EngineConfig,
) -> anyhow::Result<Box<dyn Optimizer>> {
    let Some(o) = &pf.spec.optimizer else {
        bail!(
            "{}: the program file has no [optimizer] table",
            pf.path.display()
        );
    };
    let mut config = config.seed(o.seed.unwrap_or(0));
    if let Some(b) = &o.budget {
        let mut budget = Budget::unlimited();
        if let Some(n) = b.max_calls {
            budget = budget.max_calls(n);
        }
        if let Some(n) = b.max_tokens {
            budget = budget.max_tokens(n);
        }
        if let Some(n) = b.max_cost_usd {
            budget = budget.max_cost_usd(n);
        }
        config = config.budget(budget);
    }
    let boot = o.max_bootstrapped_demos;
    let labeled = o.max_labeled_demos;
    let opt: Box<dyn Optimizer> = match o.kind.get_ref().as_str() {
        "labeled_few_shot" => {
            Box::new(LabeledFewShot::new(labeled.unwrap_or(4)).seed(o.seed.unwrap_or(0)))
        }
        "bootstrap_few_shot" => {
            let x = BootstrapFewShot::new(metric).config(config);
            let x = set(x, boot, BootstrapFewShot::max_bootstrapped_demos);
            let x = set(x, labeled, BootstrapFewShot::max_labeled_demos);
            Box::new(set(x, o.threshold, BootstrapFewShot::metric_threshold))
        }
        "random_search" => {
            type R = BootstrapFewShotWithRandomSearch;
            let x = R::new(metric).config(config);
            let x = set(x, boot, R::max_bootstrapped_demos);
            let x = set(x, labeled, R::max_labeled_demos);
            let x = set(x, o.num_candidates, R::num_candidates);
            Box::new(set(x, o.threshold, R::metric_threshold))
        }
        "copro" => {
            let x = Copro::new(metric).config(config);
            let x = set(x, o.breadth, Copro::breadth);
            Box::new(set(x, o.depth, Copro::depth))
        }
        "mipro_v2" => {
            let auto = match o.auto.as_ref().map(|a| a.get_ref().as_str()) {
                Some("medium") => Some(Auto::Medium),
                Some("heavy") => Some(Auto::Heavy),
                Some("light") => Some(Auto::Light),
                _ => None,
            };
            let x = MiproV2::new(metric).config(config).auto(auto);
            let x = set(x, o.num_candidates, MiproV2::num_candidates);
            let x = set(x, boot, MiproV2::max_bootstrapped_demos);
            let x = set(x, labeled, MiproV2::max_labeled_demos);
            Box::new(set(x, o.threshold, MiproV2::metric_threshold))
        }
        other => bail!("unknown optimizer {other:?}"),
    };
    Ok(opt)
}

/// Applies a builder setting when the program file gives it.
fn set<B, V>(builder: B, value: Option<V>, apply: impl FnOnce(B, V) -> B) -> B {
    match value {
        Some(v) => apply(builder, v),
        None => builder,
    }
}
