//! The program file's shape, as serde reads it. Every table refuses unknown keys, so a
//! typo is an error naming the line, not a silently ignored setting. Values that are
//! checked after parsing keep their place in the file (`Spanned`), so those errors
//! name the line too.

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A whole program file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// The program's name, as traces and the store show it.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The prompt format: `chat` (DSPy's ChatAdapter, default) or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<Spanned<String>>,
    #[serde(default)]
    pub lm: LmSpec,
    /// The steps, run in order; each step's outputs are visible to later steps.
    #[serde(rename = "step", default)]
    pub steps: Vec<StepSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerSpec>,
}

/// Which LM the program calls, and how.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LmSpec {
    /// `local` (the embedded SmolLM2, default), `local:PATH.gguf`, `openai/MODEL`,
    /// `anthropic/MODEL`; an `openai/` model with `base_url` is any OpenAI-compatible server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (the key itself never goes in a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Ask a hosted LM for structured output (JSON schema) when the adapter allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_output: Option<bool>,
    /// The server is a llama.cpp server that takes GBNF grammars: the ChatAdapter's
    /// format and choices are enforced while it decodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<bool>,
    /// Cache responses on disk under `.sigil/cache` (default: on for compile, off otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Concurrent LM calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

/// One step of the pipeline.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's name: the predictor path optimizers and artifacts use.
    pub name: Spanned<String>,
    /// `predict` (default), `chain_of_thought`, `retrieve` or `react`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Spanned<String>>,
    /// The signature in string form (`question, context: list[str] -> answer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Where an input comes from when its name differs: `{ context = "passages" }`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub inputs: std::collections::BTreeMap<String, Spanned<String>>,
    /// Retrieve steps: the query field, the corpus (JSONL), index kind and k.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// Retrieve steps: the output field holding the passages (default `passages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// ReAct steps: at most this many tool calls (default 20, DSPy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iters: Option<usize>,
    /// ReAct steps: the MCP servers whose tools the agent may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<McpSpec>,
}

/// One MCP server of a ReAct step: a command Sigil starts (stdio) or a URL
/// (streamable HTTP).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpSpec {
    /// The command line, program first: `["uvx", "mcp-server-time"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Spanned<Vec<String>>>,
    /// A streamable-HTTP endpoint: `http://127.0.0.1:3001/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
    /// Only these of the server's tools (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Spanned<Vec<String>>>,
    /// Seconds one tool call may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// The examples: one file split by the program, or separate files.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// One JSONL or CSV file to split into train, val and test (with `split`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Spanned<String>>,
    /// The fields the program receives; every other field is a label.
    pub inputs: Spanned<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSpec>,
}

/// Sizes of the train, val and test sets drawn (shuffled with `seed`) from `data.path`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub train: usize,
    pub val: usize,
    pub test: usize,
    #[serde(default)]
    pub seed: u64,
}

/// How a prediction is scored.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// `exact_match`, `f1`, `contains` or `judge` (an LLM judge).
    pub kind: Spanned<String>,
    /// The output field compared with the label of the same name.
    pub field: Spanned<String>,
    /// Judge only: what counts as correct, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
    /// Judge only: a different LM for the judge (same forms as `lm.model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_model: Option<Spanned<String>>,
}

/// The optimizer and its budget.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `labeled_few_shot`, `bootstrap_few_shot`, `random_search`, `copro`, `mipro_v2`,
    /// `bootstrap_finetune` or `better_together`.
    pub kind: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Demos taken from the teacher's passing traces (bootstrap, random search, MIPROv2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bootstrapped_demos: Option<usize>,
    /// Demos taken straight from the trainset (LabeledFewShot's k, and the others' top-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labeled_demos: Option<usize>,
    /// Random search: candidate programs beyond the fixed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_candidates: Option<usize>,
    /// MIPROv2: `light`, `medium` or `heavy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<Spanned<String>>,
    /// COPRO: instructions proposed per round, and rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breadth: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Minimum metric score for a bootstrapped trace to become a demo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// BetterTogether: the stages in order, `p` (prompts) and `w` (weights), as
    /// DSPy writes them: `"p -> w -> p"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Spanned<String>>,
    /// BetterTogether: the prompt stage's optimizer (default `bootstrap_few_shot`),
    /// with this table's demo settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Spanned<String>>,
    /// BootstrapFinetune and BetterTogether: how the weights are trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<FinetuneSpec>,
}

/// How a weight stage trains: on the embedded model, a LoRA adapter on the CPU; on an
/// `openai/` model, a fine-tuning job on that server.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// LoRA: the rank and alpha of each update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f32>,
    /// LoRA: the adapted matrices, by GGUF name (`attn_q`, `attn_k`, `attn_v`,
    /// `attn_output`, `ffn_gate`, `ffn_up`, `ffn_down`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Spanned<Vec<String>>>,
    /// LoRA: longer examples are cut to this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seq_len: Option<usize>,
    /// One model for every predictor (default, as DSPy) or one per predictor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitask: Option<bool>,
    /// What the model learns from: `teacher` (default, as DSPy: the program's own runs
    /// that the metric accepts) or `labels` (the trainset's labels; one-predictor
    /// programs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Spanned<String>>,
    /// Leave the predictors' demos out of the training prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_demos: Option<bool>,
    /// Where adapters are written (default `.sigil/adapters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<String>,
}

/// Hard caps on the compile's spend; the run never exceeds them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_calls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_usd: Option<f64>,
}
